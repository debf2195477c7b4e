"""Training cost of the CTA trainers against plain nnU-Net, and a same-budget training comparison.

Modes:

- ``overhead`` (default): seconds per training iteration (data loading + augmentation + train step, nnU-Net's
  single-threaded loader so everything is counted) of each trainer on the same plans, trainers interleaved
  round by round so load changes on a shared machine hit all of them alike; plus the cost of the
  centerline targets alone on 48^3 and 128^3 label patches (the on-the-fly vs precompute decision).
- ``compare``: trains each trainer for the same number of iterations on a tiny CTA phantom dataset, predicts
  held-out phantom cases and evaluates them with :func:`nnunetv2_cta.evaluation.evaluate_case`.

The baseline "plain" is ``nnUNetTrainerCTA_Base``: nnU-Net's ``nnUNetTrainer`` with only the schedule set by
class attributes (its loss, augmentation and everything else are nnU-Net's).

Usage::

    OMP_NUM_THREADS=2 python benchmarks/trainer_overhead.py overhead --iterations 30
    OMP_NUM_THREADS=2 python benchmarks/trainer_overhead.py compare --iterations 120 --train-cases 8 --test-cases 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

TRAINERS = (
    "nnUNetTrainerCTA_Base",
    "nnUNetTrainerCTA",
    "nnUNetTrainerCTA_NoCenterline",
    "nnUNetTrainerCTA_SkeletonRecall",
    "nnUNetTrainerCTA_clDice",
)


def machine_info(device: str) -> str:
    import torch

    info = f"{platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}"
    info += f", load average {os.getloadavg()[0]:.1f}"
    if device == "cuda" and torch.cuda.is_available():
        info += f", GPU {torch.cuda.get_device_name(0)}"
    return info


def setup_dataset(
    root: Path, dataset_id: int, train_cases: int, test_cases: int, preset: str
) -> tuple[Path, str]:
    """Write a regions CTA phantom dataset and plan it with the given planner preset (once per root)."""
    from nnunetv2_cta.phantom import write_dataset
    from nnunetv2_cta.planners.plan import plan_dataset
    from nnunetv2_cta.planners.presets import get_preset

    raw = Path(os.environ["nnUNet_raw"])
    existing = sorted(raw.glob(f"Dataset{dataset_id:03d}_*"))
    folder = existing[0] if existing else None
    if folder is None:
        folder = write_dataset(
            cases=train_cases,
            test_cases=test_cases,
            dataset_id=dataset_id,
            name="PhantomBench",
            preset="tiny",
            regions=True,
        )
    plans_name = get_preset(preset).plans_name
    if not (Path(os.environ["nnUNet_preprocessed"]) / folder.name / f"{plans_name}.json").exists():
        plan_dataset(dataset_id, preset=preset, num_processes=1)
    return folder, plans_name


def make_trainer(name: str, folder: Path, plans_name: str, device: str, **schedule):
    import torch

    from nnunetv2_cta.trainers import get_trainer_class

    cls = get_trainer_class(name)
    if schedule:
        cls = type(name, (cls,), dict(schedule))  # same name: results folders and logs stay readable
    pre = Path(os.environ["nnUNet_preprocessed"]) / folder.name
    plans = json.loads((pre / f"{plans_name}.json").read_text())
    plans["continue_training"] = False
    dj = json.loads((pre / "dataset.json").read_text())
    trainer = cls(plans, "3d_fullres", 0, dj, torch.device(device))
    trainer.initialize()
    return trainer


def target_costs(repeats: int = 3) -> list[str]:
    """Seconds per sample of the centerline targets on phantom label patches (48^3 and 128^3)."""
    import numpy as np
    import torch

    from nnunetv2_cta.io import read_image
    from nnunetv2_cta.transforms import CenterlineTargetTransform

    labels_dir = next(Path(os.environ["nnUNet_raw"]).glob("Dataset*_PhantomBench")) / "labelsTr"
    labels, _ = read_image(sorted(labels_dir.iterdir())[0])
    big = np.repeat(np.repeat(np.repeat(labels, 2, 0), 2, 1), 2, 2)  # ~1.5 mm voxels: vessels twice as thick
    lines = []
    for size, source in ((48, labels), (128, big)):
        z0 = max(0, source.shape[0] // 2 - size // 2)
        patch = np.zeros((size,) * 3, np.int16)
        crop = source[z0 : z0 + size, :size, :size]
        patch[: crop.shape[0], : crop.shape[1], : crop.shape[2]] = crop
        seg = torch.from_numpy(patch)[None]
        for kind in ("skeleton", "weight"):
            t = CenterlineTargetTransform(
                kind, vessel_labels=(2, 3, 4), skeleton_dilation=1 if kind == "skeleton" else 0
            )
            times = []
            for _ in range(repeats):
                start = time.process_time()
                t(segmentation=seg.clone())
                times.append(time.process_time() - start)
            vessel_fraction = float(np.isin(patch, (2, 3, 4)).mean())
            lines.append(
                f"| {size}^3 | {kind} | {statistics.median(times):.3f} | {100 * vessel_fraction:.1f} % |"
            )
    return lines


def overhead(args) -> None:
    import numpy as np
    import torch

    folder, plans_name = setup_dataset(args.workdir, args.dataset_id, 5, 1, args.preset)
    trainers = {name: make_trainer(name, folder, plans_name, args.device) for name in args.trainers}
    loaders = {}
    for name, trainer in trainers.items():
        loaders[name] = trainer.get_dataloaders()[0]
        trainer.on_train_epoch_start()
    times = {name: {"data": [], "step": [], "cpu": []} for name in trainers}
    torch.manual_seed(0)
    np.random.seed(0)
    rounds = max(1, args.iterations // args.per_round)
    for r in range(rounds + 1):
        for name, trainer in trainers.items():
            for _ in range(args.per_round):
                c0, t0 = time.process_time(), time.perf_counter()
                batch = next(loaders[name])
                t1 = time.perf_counter()
                trainer.train_step(batch)
                if args.device == "cuda":
                    torch.cuda.synchronize()
                t2, c2 = time.perf_counter(), time.process_time()
                if r > 0:  # round 0 is warm-up
                    times[name]["data"].append(t1 - t0)
                    times[name]["step"].append(t2 - t1)
                    times[name]["cpu"].append(c2 - c0)
    base = None
    print(f"machine: {machine_info(args.device)}")
    print(f"plans {plans_name}, patch {trainers[args.trainers[0]].configuration_manager.patch_size}, "
          f"batch {trainers[args.trainers[0]].configuration_manager.batch_size}, device {args.device}, "
          f"{rounds * args.per_round} timed iterations per trainer (median seconds)")  # fmt: skip
    print(
        "| trainer | wall: data + augmentation | wall: train step | wall: total | CPU s (all threads) | CPU vs plain |"
    )
    print("|---|---|---|---|---|---|")
    for name in trainers:
        d, s = statistics.median(times[name]["data"]), statistics.median(times[name]["step"])
        total = statistics.median([a + b for a, b in zip(times[name]["data"], times[name]["step"])])
        cpu = statistics.median(times[name]["cpu"])
        base = cpu if base is None else base
        print(f"| {name} | {d:.3f} | {s:.3f} | {total:.3f} | {cpu:.3f} | {100 * (cpu / base - 1):+.0f} % |")
    print("\ncenterline target per sample (median CPU seconds, one thread):")
    print("| patch | target | seconds | vessel voxels |")
    print("|---|---|---|---|")
    for line in target_costs():
        print(line)


def _row(name: str, train_s: float, metrics: list[dict]) -> str:
    import numpy as np

    def mean(region: str, key: str) -> str:
        values = [m[region][key] for m in metrics if m.get(region, {}).get(key) is not None]
        values = [float(v) for v in values if np.isfinite(float(v))]
        return f"{np.mean(values):.3f}" if values else "n/a"

    return (
        f"| {name} | {train_s:.0f} | {mean('vessels', 'dice')} | {mean('vessels', 'precision')} | {mean('intracranial', 'dice')} | "
        f"{mean('vessels', 'cldice')} | {mean('vessels', 'breaks')} | {mean('vessels', 'vscore')} | "
        f"{mean('bone', 'dice')} |"
    )


def compare(args) -> None:
    import numpy as np
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from nnunetv2_cta.evaluation import evaluate_case
    from nnunetv2_cta.io import read_image

    folder, plans_name = setup_dataset(
        args.workdir, args.dataset_id, args.train_cases, args.test_cases, args.preset
    )
    epochs = max(1, args.iterations // args.per_epoch)
    schedule = {
        "num_epochs_default": epochs,
        "num_iterations_per_epoch_default": args.per_epoch,
        "num_val_iterations_default": 1,
        "mirroring": False,
    }
    images = sorted((folder / "imagesTs").iterdir())
    rows, all_metrics = {}, {}
    print(f"machine: {machine_info(args.device)}")
    for name in args.trainers:
        torch.manual_seed(0)
        np.random.seed(0)
        trainer = make_trainer(name, folder, plans_name, args.device, **schedule)
        start = time.perf_counter()
        trainer.run_training()
        train_s = time.perf_counter() - start
        trainer.set_deep_supervision_enabled(False)
        trainer.network.eval()
        predictor = nnUNetPredictor(use_mirroring=False, device=torch.device(args.device), allow_tqdm=False)
        predictor.manual_initialization(
            trainer.network, trainer.plans_manager, trainer.configuration_manager,
            [trainer.network.state_dict()], trainer.dataset_json, name, None,
        )  # fmt: skip
        out = args.workdir / "predictions" / name
        out.mkdir(parents=True, exist_ok=True)
        cases = [p.name[: -len("_0000.nii.gz")] for p in images]
        predictor.predict_from_files(
            [[str(p)] for p in images], [str(out / c) for c in cases], overwrite=True,
            num_processes_preprocessing=1, num_processes_segmentation_export=1,
        )  # fmt: skip
        metrics = []
        for case in cases:
            gt, geometry = read_image(folder / "labelsTs" / f"{case}.nii.gz")
            pred, _ = read_image(out / f"{case}.nii.gz")
            graph = folder / "graphsTs" / f"{case}_graph.json"
            metrics.append(
                evaluate_case(gt, pred, geometry, graph=graph if graph.exists() else None, case=case)[
                    "metrics"
                ]
            )
        all_metrics[name] = metrics
        rows[name] = _row(name, train_s, metrics)
        print(rows[name], flush=True)
    print(f"\n{args.train_cases} training / {len(images)} held-out tiny phantom cases, {epochs * args.per_epoch} "
          f"iterations per trainer, plans {plans_name}, means over held-out cases")  # fmt: skip
    print(
        "| trainer | train s | Dice vessels | precision vessels | Dice intracranial | clDice vessels | breaks vessels | V-score vessels | Dice bone |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows.values():
        print(row)
    (args.workdir / "compare.json").write_text(json.dumps(all_metrics, indent=1, default=float))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("overhead", "compare"), default="overhead")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="nnU-Net folders (default: a new temp dir)"
    )
    parser.add_argument("--dataset-id", type=int, default=990)
    parser.add_argument("--preset", default="cpu", help="planner preset (cpu, M, L, XL)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--trainers", nargs="+", default=list(TRAINERS))
    parser.add_argument(
        "--iterations", type=int, default=30, help="timed (overhead) or trained (compare) iterations"
    )
    parser.add_argument("--per-round", type=int, default=5, help="overhead: iterations per trainer per round")
    parser.add_argument("--per-epoch", type=int, default=20, help="compare: iterations per epoch")
    parser.add_argument("--train-cases", type=int, default=8)
    parser.add_argument("--test-cases", type=int, default=4)
    args = parser.parse_args(argv)
    args.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="trainer_bench_"))
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):  # before nnunetv2 is imported
        (args.workdir / var).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(args.workdir / var)
    os.environ.setdefault("nnUNet_n_proc_DA", "0")
    os.environ.setdefault("nnUNet_def_n_proc", "1")
    os.environ.setdefault("nnUNet_compile", "false")
    overhead(args) if args.mode == "overhead" else compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
