"""Time and peak memory of ``nnunetv2_cta predict`` vs stock ``nnUNetv2_predict`` on one clinical-size CTA, in one run.

Both run the same model with the same settings (the model's fold, no test-time mirroring, tile step 0.5), each
in its own process under ``/usr/bin/time -v`` (wall clock, peak resident memory of the whole process). Ours runs
``--repair none --no-reconstructions --keep-stage1`` (stage 1, clean-up, label map and stage-1 map written) and
``--repair none`` (the same plus the bone-free CTA, MIP/VR/CPR images and the HTML report; not with
``--labels-only``); their ``record.json`` / ``predict_summary.json`` give the split timings, per-step peaks, tile counts and start-up.
Label agreement: our stage-1 map and our final (cleaned) map against stock's output, voxel by voxel.

    python benchmarks/predict_speed.py --work /tmp/predict_bench --model MODEL_FOLDER \
        [--input FOLDER_WITH_clinical_0000.nii.gz | --slices 700] [--device cuda]

Without ``--model`` an 8-iteration ``cpu``-preset model is trained first (weights do not change time or memory).
Results: ``WORK/predict_speed.json`` and a markdown table ``WORK/predict_speed.md``.
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
    ap.add_argument("--slices", type=int, default=700, help="slices of the 0.5 mm clinical case")
    ap.add_argument(
        "--input", default=None, help="folder holding clinical_0000.nii.gz (default: WORK/input, made)"
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both predictors)")
    ap.add_argument(
        "--full", action="store_true", help="also time our full pipeline (--fast, repair, images)"
    )
    ap.add_argument("--stock-timeout", type=float, default=1800.0)
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument(
        "--only-stock", action="store_true", help="skip our runs (rows from an earlier run are lost)"
    )
    ap.add_argument(
        "--labels-only", action="store_true", help="skip our runs that write the bone-free CTA and images"
    )
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
    inputs = Path(args.input).resolve() if args.input else work / "input"
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

    fold = next(
        p.name.removeprefix("fold_")
        for p in sorted(model.glob("fold_*"))
        if (p / "checkpoint_final.pth").is_file()
    )
    rows = run_all(args, model, dataset, inputs, work, env, fold)
    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "input_shape_zyx": list(shape),
        "spacing_mm": 0.5,
        "model": str(model),
        "fold": fold,
        "device": args.device,
        "cgpm": args.cgpm,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_before": os.getloadavg(),
    }
    (work / "predict_speed.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    (work / "predict_speed.md").write_text(markdown(rows, machine))
    print((work / "predict_speed.md").read_text())


def run_all(args, model: Path, dataset: str, inputs: Path, work: Path, env: dict, fold: str) -> dict:
    """Our labels-only and bone-free runs (and the full run with ``--full``), then stock, then the label agreement."""
    bin_dir = Path(sys.executable).parent
    rows = {}
    # labels only: the same settings as the stock call (tile step 0.5, no mirroring) so the stage-1 outputs agree;
    # the full run is the recommended CPU use (--fast: 0.75 tile step) with repair and reconstructions
    runs = [("ours_labels_only", ["--repair", "none", "--keep-stage1", "--no-reconstructions"])]
    if not args.labels_only:
        # the issue-19 measure: the same settings, plus the bone-free CTA, MIP/VR/CPR images and the report
        runs.append(("ours_bone_free", ["--repair", "none"]))
    if args.full:
        repair = ["--cgpm", str(Path(args.cgpm).resolve())] if args.cgpm else ["--repair", "baseline"]
        runs.append(("ours_full", ["--fast", *repair]))
    if args.only_stock:
        runs = []
    for name, extra in runs:
        out = work / f"out_{name}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [str(bin_dir / "nnunetv2_cta"), "predict", "-i", str(inputs), "-o", str(out), "-m", str(model)]
        cmd += ["-f", fold, "--device", args.device, *extra]
        rows[name] = run_timed(cmd, env, 3600)
        rec = out / "cases" / "clinical" / "record.json"
        if rec.is_file():
            record = json.loads(rec.read_text())
            rows[name]["split_s"] = record["timings_s"]
            rows[name]["split_peak_gb"] = record["peak_rss_gb"]
            rows[name]["inference"] = record.get("inference")
            summary = json.loads((out / "predict_summary.json").read_text())
            rows[name]["startup_s"] = summary.get("startup_s")
            rows[name]["first_tile_s"] = summary.get("first_tile_s")
        print(name, json.dumps({k: v for k, v in rows[name].items() if k != "tail"}), flush=True)
    out = work / "out_stock"
    if not args.skip_stock and not args.keep_stock:
        shutil.rmtree(out, ignore_errors=True)
        trainer, plans, configuration = model.name.split("__")
        cmd = [str(bin_dir / "nnUNetv2_predict"), "-i", str(inputs), "-o", str(out), "-d", dataset[7:10]]
        cmd += ["-c", configuration, "-tr", trainer, "-p", plans, "-f", fold, "-device", args.device]
        cmd += ["--disable_tta", "-npp", "1", "-nps", "1"]
        rows["stock_nnUNetv2_predict"] = run_timed(cmd, env, args.stock_timeout)
        if not (out / "clinical.nii.gz").is_file():
            rows["stock_nnUNetv2_predict"]["rc"] = f"no output ({rows['stock_nnUNetv2_predict']['rc']})"
        print("stock", json.dumps({k: v for k, v in rows["stock_nnUNetv2_predict"].items() if k != "tail"}))
    rows["agreement"] = agreement(out / "clinical.nii.gz", work / "out_ours_labels_only")
    return rows


def agreement(stock: Path, ours_out: Path) -> dict:
    """Voxels where our stage-1 map and our cleaned map differ from stock's output (count and fraction)."""
    import numpy as np

    from nnunetv2_cta.io import read_image

    if not stock.is_file():
        return {}
    reference, _ = read_image(stock)
    result = {"voxels": int(reference.size)}
    for name, path in (("stage1", "stage1"), ("cleaned", "labels")):
        file = ours_out / path / "clinical.nii.gz"
        if file.is_file():
            ours, _ = read_image(file)
            mask = ours != reference
            differ = int(mask.sum())
            result[f"{name}_differing_voxels"] = differ
            result[f"{name}_agreement"] = 1.0 - differ / reference.size
            pairs, counts = np.unique(np.stack([ours[mask], reference[mask]], 1), axis=0, return_counts=True)
            result[f"{name}_pairs_ours_stock"] = {f"{a}->{b}": int(c) for (a, b), c in zip(pairs, counts)}
    return result


def markdown(rows: dict, machine: dict) -> str:
    """The results table (wall, peak, our split) and the agreement, as recorded in benchmarks/results."""
    steps = ("read", "preprocess", "network", "export", "cleanup", "outputs", "write_wait")
    steps += ("recon_bone_free", "recon_mips", "recon_vr", "recon_paths", "recon_cprs")
    head = (
        "| run | wall s | peak GB | start-up s | first tile s | "
        + " | ".join(steps)
        + " | tiles run / total |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, row in rows.items():
        if not isinstance(row, dict) or "wall_s" not in row:
            continue
        split = row.get("split_s", {})
        tiles = (row.get("inference") or {}).get("tiles") or {}
        cells = [name, row["wall_s"], row["peak_gb"], row.get("startup_s", ""), row.get("first_tile_s") or ""]
        cells += [split.get(s, "") for s in steps]
        cells.append(f"{tiles['run']} / {tiles['total']}" if tiles else "")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    stock = rows.get("stock_nnUNetv2_predict", {})
    for name in ("ours_labels_only", "ours_bone_free"):
        ours = rows.get(name, {})
        if ours.get("wall_s") and stock.get("wall_s"):
            lines.append(
                f"\nspeed-up of {name} (stock wall / our wall): {stock['wall_s'] / ours['wall_s']:.2f}x"
            )
    lines.append(f"\nagreement: {json.dumps(rows.get('agreement', {}))}")
    lines.append(f"\nmachine: {json.dumps(machine)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
