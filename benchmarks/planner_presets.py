"""Planner benchmark: CPU seconds per training iteration (``cpu`` preset vs nnU-Net's default plans on the same
phantom data) and parameters / feature-map memory of our M/L/XL networks vs nnU-Net's ResEnc M/L/XL on a
clinical head-and-neck fingerprint.

Usage::

    python benchmarks/planner_presets.py [--work DIR] [--iters-cpu 20] [--iters-default 4] [--out results.md]

It creates its own nnU-Net folders under ``--work`` (default: a temporary folder). Timings are medians of the
timed iterations after two warm-up iterations; data loading (nnU-Net's single-threaded loader and augmentation,
``nnUNet_n_proc_DA=0``) is reported separately from the network step. Compare the ratio, not absolute seconds: the
machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

DATASET_TIMING = 961
DATASET_CLINICAL = 962


def _machine() -> str:
    import torch

    from nnunetv2_cta.environment import cpu_model

    cpu = cpu_model()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), Python {platform.python_version()}"


def _setup(work: Path) -> None:
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (work / var).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(work / var)
    os.environ["nnUNet_def_n_proc"] = "1"


def time_iterations(plans_identifier: str, n_iters: int) -> dict:
    """Median seconds of data loading and of ``train_step`` for plain nnUNetTrainer on the given plans."""
    import torch
    from nnunetv2.run.run_training import get_trainer_from_args

    # in-process data loading; nnU-Net's planners crash with nnUNet_n_proc_DA=0, so it is unset again below
    os.environ["nnUNet_n_proc_DA"] = "0"
    trainer = get_trainer_from_args(
        str(DATASET_TIMING), "3d_fullres", 0, "nnUNetTrainer", plans_identifier, device=torch.device("cpu")
    )
    trainer.on_train_start()
    load, step = [], []
    for i in range(n_iters + 2):
        t0 = time.perf_counter()
        batch = next(trainer.dataloader_train)
        t1 = time.perf_counter()
        trainer.train_step(batch)
        t2 = time.perf_counter()
        if i >= 2:
            load.append(t1 - t0)
            step.append(t2 - t1)
    del os.environ["nnUNet_n_proc_DA"]
    cfg = trainer.configuration_manager
    n_params = sum(p.numel() for p in trainer.network.parameters())
    return {
        "plans": plans_identifier,
        "patch": list(cfg.patch_size),
        "batch": cfg.batch_size,
        "spacing_mm": [round(s, 3) for s in cfg.spacing],
        "params_M": round(n_params / 1e6, 2),
        "load_s": round(statistics.median(load), 3),
        "step_s": round(statistics.median(step), 3),
        "iter_s": round(statistics.median(a + b for a, b in zip(load, step)), 3),
        "n": n_iters,
    }


def timing_benchmark(work: Path, iters_cpu: int, iters_default: int) -> list[dict]:
    from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        plan_experiment_dataset,
        preprocess_dataset,
    )

    from nnunetv2_cta.phantom import write_dataset
    from nnunetv2_cta.planners.plan import plan_dataset

    raw = Path(os.environ["nnUNet_raw"]) / f"Dataset{DATASET_TIMING:03d}_PlannerBench"
    if not raw.exists():
        write_dataset(
            raw,
            modality="cta",
            cases=5,
            test_cases=0,
            dataset_id=DATASET_TIMING,
            name="PlannerBench",
            preset="train",
            seed=1,
            progress=True,
        )
    pre = Path(os.environ["nnUNet_preprocessed"]) / raw.name
    if not (pre / "nnUNetCTAPlans_cpu.json").exists():
        plan_dataset(DATASET_TIMING, preset="cpu", num_processes=2)
    if not (pre / "nnUNetPlans.json").exists():
        plan_experiment_dataset(DATASET_TIMING, ExperimentPlanner)
        preprocess_dataset(DATASET_TIMING, "nnUNetPlans", ("3d_fullres",), num_processes=[2])
    rows = []
    for plans, n in (("nnUNetCTAPlans_cpu", iters_cpu), ("nnUNetPlans", iters_default)):
        rows.append(time_iterations(plans, n))
        print(
            json.dumps(rows[-1]), flush=True
        )  # a long run keeps what it measured even if a later step fails
    return rows


def network_benchmark() -> list[dict]:
    from nnunetv2.experiment_planning.experiment_planners.residual_unets.residual_encoder_unet_planners import (
        nnUNetPlannerResEncL,
        nnUNetPlannerResEncM,
        nnUNetPlannerResEncXL,
    )

    from nnunetv2_cta.planners.cta_planner import PLANNERS, network_from_architecture
    from nnunetv2_cta.planners.synthetic import clinical_head_neck_cohort, write_fingerprint_dataset

    write_fingerprint_dataset(DATASET_CLINICAL, "ClinicalFingerprint", *clinical_head_neck_cohort(10, seed=0))
    rows = []
    planners = [("ours " + k, PLANNERS[k]) for k in ("M", "L", "XL")]
    planners += [
        ("ResEnc M", nnUNetPlannerResEncM),
        ("ResEnc L", nnUNetPlannerResEncL),
        ("ResEnc XL", nnUNetPlannerResEncXL),
    ]
    for label, planner_class in planners:
        planner = planner_class(DATASET_CLINICAL)
        plans = planner.plan_experiment()
        cfg = plans["configurations"]["3d_fullres"]
        net = network_from_architecture(cfg["architecture"], 1, 5)
        elements = float(net.compute_conv_feature_map_size(tuple(cfg["patch_size"])))
        rows.append(
            {
                "network": label,
                "patch": list(cfg["patch_size"]),
                "patch_mm": [round(p * s, 1) for p, s in zip(cfg["patch_size"], cfg["spacing"])],
                "batch": cfg["batch_size"],
                "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 1),
                "feature_map_elements_G": round(elements / 1e9, 3),
                # nnU-Net's proxy: elements of one sample's conv outputs; x batch x 2 bytes (fp16 activations)
                "activation_GB_fp16_batch": round(elements * cfg["batch_size"] * 2 / 1e9, 2),
            }
        )
    return rows


def to_markdown(timing: list[dict], networks: list[dict], machine: str) -> str:
    lines = [f"Machine: {machine}", ""]
    if timing:
        lines += [
            "| plans | patch | batch | spacing (mm) | params (M) | data load (s) | train_step (s) | iteration (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in timing:
            lines.append(
                f"| {r['plans']} | {r['patch']} | {r['batch']} | {r['spacing_mm']} | {r['params_M']} | "
                f"{r['load_s']} | {r['step_s']} | {r['iter_s']} (median of {r['n']}) |"
            )
        if len(timing) == 2:
            lines += [
                "",
                f"Ratio default / cpu preset per iteration: {timing[1]['iter_s'] / timing[0]['iter_s']:.1f}x",
            ]
        lines.append("")
    lines += [
        "| network | patch (voxels) | patch (mm) | batch | params (M) | feature-map elements (G) | "
        "activations est. (GB, fp16 x batch) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in networks:
        lines.append(
            f"| {r['network']} | {r['patch']} | {r['patch_mm']} | {r['batch']} | {r['params_M']} | "
            f"{r['feature_map_elements_G']} | {r['activation_GB_fp16_batch']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=None, help="work folder (default: a temporary folder)")
    parser.add_argument("--iters-cpu", type=int, default=20)
    parser.add_argument("--iters-default", type=int, default=4)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--out", default=None, help="also write the Markdown table to this file")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="planner_bench_"))
    _setup(work)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    timing = [] if args.skip_timing else timing_benchmark(work, args.iters_cpu, args.iters_default)
    networks = network_benchmark()
    table = to_markdown(timing, networks, _machine())
    print(table)
    print(json.dumps({"timing": timing, "networks": networks}, indent=1))
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
