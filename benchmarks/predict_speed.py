"""Time and peak memory of ``nnunetv2_cta predict`` vs stock ``nnUNetv2_predict`` on a clinical-size CTA.

Same model for both: the ``cpu`` plans preset (the ``--fast`` pairing: coarse spacing, small network) trained
for 8 iterations on five ``train``-preset phantom cases (weights do not change time or memory). The input is
one phantom CTA at 0.5 mm, 900 x 512 x 512 voxels by default (the issue's size). Each predictor runs in its
own process under ``/usr/bin/time -v`` (peak resident memory of the whole process); ours also records its
split timings and per-step peaks in ``record.json``.

    python benchmarks/predict_speed.py --work /tmp/predict_bench [--slices 900] [--stock-timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run_timed(cmd: list[str], env: dict, timeout: float) -> dict:
    """Run under /usr/bin/time -v; wall seconds, peak RSS (GiB), exit code, tail of the output."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            ["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"wall_s": round(time.perf_counter() - t0, 1), "peak_gb": None, "rc": "timeout"}
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return {
        "wall_s": round(wall, 1),
        "peak_gb": round(int(m.group(1)) / 2**20, 2) if m else None,
        "rc": proc.returncode,
        "tail": (proc.stdout + proc.stderr)[-1500:],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--slices", type=int, default=900, help="slices of the 0.5 mm clinical case")
    ap.add_argument("--stock-timeout", type=float, default=1800.0)
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument(
        "--only-stock", action="store_true", help="skip our runs (rows from an earlier run are lost)"
    )
    ap.add_argument("--labels-only", action="store_true", help="skip our full run (reconstructions, repair)")
    ap.add_argument(
        "--keep-stock", action="store_true", help="compare with an earlier run's out_stock, do not rerun"
    )
    ap.add_argument(
        "--model",
        default=None,
        help="trained stage-1 folder <Trainer>__<Plans>__<config> (default: train an 8-iteration cpu-preset model)",
    )
    ap.add_argument(
        "--cgpm", default=None, help="trained CGPM folder for the full run (default: gap bridging)"
    )
    args = ap.parse_args()

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        env[var] = str(work / var)
        os.environ[var] = env[var]
        Path(env[var]).mkdir(exist_ok=True)
    env.update(nnUNet_n_proc_DA="1", nnUNet_def_n_proc="2", nnUNet_compile="false")
    os.environ.update(nnUNet_n_proc_DA="1", nnUNet_def_n_proc="2", nnUNet_compile="false")
    from nnunetv2_cta.environment import cpu_model, ensure_ext_trainer_in_environ, ext_trainer_value

    ensure_ext_trainer_in_environ()
    env["nnUNet_extTrainer"] = ext_trainer_value(env.get("nnUNet_extTrainer", ""))

    import numpy as np

    from nnunetv2_cta.io import write_image
    from nnunetv2_cta.phantom import generate_anatomy, render_case, write_dataset
    from nnunetv2_cta.planners.plan import plan_dataset

    dataset = "Dataset880_PredictBench"
    model = work / "nnUNet_results" / dataset / "nnUNetTrainerCTA_Base_tiny__nnUNetCTAPlans_cpu__3d_fullres"
    if args.model:  # stock nnUNetv2_predict finds it through nnUNet_results = the folder above its dataset
        model = Path(args.model).resolve()
        dataset = model.parent.name
        env["nnUNet_results"] = os.environ["nnUNet_results"] = str(model.parent.parent)
    elif not (model / "fold_0" / "checkpoint_final.pth").is_file():
        write_dataset(
            work / "nnUNet_raw" / dataset,
            cases=5,
            test_cases=0,
            dataset_id=880,
            name="PredictBench",
            preset="train",
            regions=True,
            overwrite=True,
        )
        plan_dataset(880, preset="cpu", num_processes=2, overwrite=True)
        import torch
        from nnunetv2.run.run_training import run_training

        run_training(
            "880",
            "3d_fullres",
            0,
            trainer_class_name="nnUNetTrainerCTA_Base_tiny",
            plans_identifier="nnUNetCTAPlans_cpu",
            device=torch.device("cpu"),
        )
    inputs = work / "input"
    image = (
        inputs / "clinical_0000.nii.gz"
    )  # the dataset's file ending: stock nnUNetv2_predict ignores others
    if not image.is_file():
        t0 = time.perf_counter()
        case = render_case(
            generate_anatomy(4242, preset="clinical"), "cta", fov=(args.slices * 0.5, 256.0, 256.0)
        )
        write_image(image, case.image, case.geometry)
        print(f"clinical phantom {case.image.shape} in {time.perf_counter() - t0:.0f} s")
        del case
    shape = None
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(image))
    reader.ReadImageInformation()
    shape = reader.GetSize()[::-1]

    bin_dir = Path(sys.executable).parent
    rows = {}
    # labels only: the same settings as the stock call (tile step 0.5, no mirroring) so the stage-1 outputs agree;
    # the full run is the recommended CPU use (--fast: 0.75 tile step) with repair and reconstructions
    runs = (
        ("ours_labels_only", ["--repair", "none", "--keep-stage1", "--no-reconstructions"]),
        (
            "ours_full",
            [
                "--fast",
                *(["--cgpm", str(Path(args.cgpm).resolve())] if args.cgpm else ["--repair", "baseline"]),
            ],
        ),
    )
    runs = () if args.only_stock else runs[:1] if args.labels_only else runs
    for name, extra in runs:
        out = work / f"out_{name}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [
            str(bin_dir / "nnunetv2_cta"),
            "predict",
            "-i",
            str(inputs),
            "-o",
            str(out),
            "-m",
            str(model),
            *extra,
        ]
        rows[name] = run_timed(cmd, env, 3600)
        rec = out / "cases" / "clinical" / "record.json"
        if rec.is_file():
            record = json.loads(rec.read_text())
            rows[name]["split_s"] = record["timings_s"]
            rows[name]["split_peak_gb"] = record["peak_rss_gb"]
        print(name, json.dumps({k: v for k, v in rows[name].items() if k != "tail"}), flush=True)
    out = work / "out_stock"
    if not args.skip_stock and not args.keep_stock:
        shutil.rmtree(out, ignore_errors=True)
        trainer, plans, configuration = model.name.split("__")
        cmd = [str(bin_dir / "nnUNetv2_predict"), "-i", str(inputs), "-o", str(out), "-d", dataset[7:10]]
        cmd += [
            "-c",
            configuration,
            "-tr",
            trainer,
            "-p",
            plans,
            "-f",
            "0",
            "-device",
            "cpu",
            "--disable_tta",
        ]
        cmd += ["-npp", "1", "-nps", "1"]
        rows["stock_nnUNetv2_predict"] = run_timed(cmd, env, args.stock_timeout)
        if not (out / "clinical.nii.gz").is_file():
            rows["stock_nnUNetv2_predict"]["rc"] = f"no output ({rows['stock_nnUNetv2_predict']['rc']})"
        print("stock", json.dumps({k: v for k, v in rows["stock_nnUNetv2_predict"].items() if k != "tail"}))
    stock, ours = out / "clinical.nii.gz", work / "out_ours_labels_only" / "stage1" / "clinical.nii.gz"
    if ours.is_file() and stock.is_file():
        from nnunetv2_cta.io import read_image

        a, _ = read_image(ours)
        b, _ = read_image(stock)
        rows["agreement_voxel_fraction"] = float(np.mean(a == b))
    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "input_shape_zyx": list(shape),
        "spacing_mm": 0.5,
        "model": str(model),
        "cgpm": args.cgpm,
    }
    (work / "predict_speed.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    print(json.dumps(machine))


if __name__ == "__main__":
    main()
