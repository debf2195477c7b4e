"""Learning curves of stage-1 trainers on a 2-core CPU: held-out Dice / clDice per region vs iterations and minutes.

How the CPU recipe (``nnunetv2_cta.trainers.cpu``) was found and how it compares with other trainers. Four steps,
each resumable (a finished step is skipped):

1. ``train``: trains one trainer on a planned dataset (``--fold all``, the default: every training case; or one
   fold 0-4 of nnU-Net's 5-fold split, to score its validation cases with ``curve``) and keeps a checkpoint
   after each epoch listed in ``--checkpoint-epochs``. ``--set key=value`` overrides class attributes of the
   trainer for a probe; the probe is trained as a subclass named ``<Trainer>_<tag>`` (its own results folder)
   and its checkpoints are re-labelled with the parent's class name so that nnU-Net's predictor can rebuild it.
2. ``curve``: runs every kept checkpoint through :class:`~nnunetv2_cta.inference.model.StageModel` (the runner
   ``predict`` uses: nnU-Net preprocessing and sliding window, our export and region decoding; no mirroring,
   tile step 0.5) on held-out cases, applies ``predict``'s clean-up with its defaults, and scores both the
   cleaned and the raw stage-1 label maps with :func:`~nnunetv2_cta.evaluation.evaluate_case`.
   One JSON line per (checkpoint, case) in ``<out>/curve_<name>.jsonl``.
3. ``report``: Markdown table (mean and min..max over cases) and learning-curve PNGs from the JSON lines.
4. ``choose``: the selection rule of ``nnunetv2_cta choose`` (Dice within 0.01 of the best, then fewest breaks,
   then clDice; only when better case by case) among the trainers' last checkpoints, on the raw stage-1 labels.

Example (the committed run; see benchmarks/results/cpu_recipe.md)::

    python benchmarks/cpu_recipe.py train -d 601 -tr nnUNetTrainerCTA_cpu --checkpoint-epochs 9 19 29 39 49
    python benchmarks/cpu_recipe.py curve -d 601 -tr nnUNetTrainerCTA_cpu --cases $nnUNet_raw/Dataset602_CTAheldout \\
        --out benchmarks/results/cpu_recipe
    python benchmarks/cpu_recipe.py report --out benchmarks/results/cpu_recipe
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

PLANS = "nnUNetCTAPlans_cpu"
REGIONS = ("vessels", "aorta", "carotid", "intracranial", "bone")


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _dataset_name(dataset_id: int) -> str:
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    return maybe_convert_to_dataset_name(dataset_id)


def _fold(text: str) -> int | str:
    """``"all"`` or a fold number 0-4 of nnU-Net's 5-fold split; anything else is an error."""
    if text == "all":
        return text
    if text not in {"0", "1", "2", "3", "4"}:
        raise SystemExit(f"--fold must be 'all' or 0-4, got {text!r}")
    return int(text)


def model_dir(dataset_id: int, trainer: str, plans: str = PLANS) -> Path:
    return Path(os.environ["nnUNet_results"]) / _dataset_name(dataset_id) / f"{trainer}__{plans}__3d_fullres"


def train(args) -> None:
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json

    from nnunetv2_cta.environment import ensure_ext_trainer_in_environ
    from nnunetv2_cta.trainers import get_trainer_class

    ensure_ext_trainer_in_environ()
    base = get_trainer_class(args.trainer)
    overrides = {k: _parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
    if "checkpoint_epochs" in overrides or not hasattr(base, "checkpoint_epochs"):
        raise SystemExit("checkpoint epochs are set with --checkpoint-epochs on a CPURecipe trainer")
    overrides["checkpoint_epochs"] = tuple(args.checkpoint_epochs)
    name = f"{args.trainer}_{args.tag}" if args.tag else args.trainer
    cls = type(name, (base,), overrides)
    fold = _fold(args.fold)
    folder = model_dir(args.dataset, name, args.plans) / f"fold_{fold}"
    if (folder / "checkpoint_final.pth").is_file():
        print(f"{name}: already trained ({folder})")
        return
    pre = Path(os.environ["nnUNet_preprocessed"]) / _dataset_name(args.dataset)
    plans = load_json(str(pre / f"{args.plans}.json"))
    dataset_json = load_json(str(pre / "dataset.json"))
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use (taskset pins it)
    latest = folder / "checkpoint_latest.pth"
    plans["continue_training"] = latest.is_file()  # nnU-Net 2.8's trainer reads (and removes) this key
    trainer = cls(plans, "3d_fullres", fold, dataset_json, torch.device("cpu"))
    if latest.is_file():
        trainer.load_checkpoint(str(latest))
    t0 = time.perf_counter()
    trainer.run_training()
    print(f"{name}: trained in {time.perf_counter() - t0:.0f} s -> {folder}")
    _relabel(folder, args.trainer)


def _relabel(folder: Path, parent: str) -> None:
    """Name ``parent`` as the trainer of every checkpoint in ``folder`` (a probe is rebuilt as its parent)."""
    import torch

    for ckpt in folder.glob("checkpoint_*.pth"):
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state["trainer_name"] != parent:
            state["trainer_name"] = parent
            torch.save(state, ckpt)


def _checkpoints(folder: Path) -> list[tuple[str, int]]:
    """(file name, epochs done) of every kept checkpoint, final last."""
    import torch

    out = []
    for path in sorted(folder.glob("checkpoint_epoch*.pth"), key=lambda p: int(p.stem.removeprefix("checkpoint_epoch"))):
        out.append((path.name, int(path.stem.removeprefix("checkpoint_epoch")) + 1))
    if (folder / "checkpoint_final.pth").is_file():
        final = torch.load(folder / "checkpoint_final.pth", map_location="cpu", weights_only=False)
        out.append(("checkpoint_final.pth", int(final["current_epoch"])))
    return out


KEPT = ("dice", "cldice", "precision", "recall", "breaks", "betti0_error")


def _scores(result: dict) -> dict:
    return {r: {k: v for k, v in result["metrics"][r].items() if k in KEPT} for r in REGIONS if r in result["metrics"]}


def curve(args) -> None:
    import torch

    from nnunetv2_cta.evaluation import evaluate_case
    from nnunetv2_cta.inference.model import StageModel
    from nnunetv2_cta.io import read_image
    from nnunetv2_cta.postprocessing.cleanup import clean_labels

    name = f"{args.trainer}_{args.tag}" if args.tag else args.trainer
    folder = model_dir(args.dataset, name, args.plans)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = out / f"curve_{name}.jsonl"
    done = set()
    if lines.is_file():
        done = {(r["checkpoint"], r["case"]) for r in map(json.loads, lines.read_text().splitlines())}
    cases_root = Path(args.cases)
    images = sorted(cases_root.glob("imagesTs/*_0000.nii.gz"))[: args.max_cases]
    fold = _fold(args.fold)
    _relabel(folder / f"fold_{fold}", args.trainer)
    ckpts = _checkpoints(folder / f"fold_{fold}")
    if args.final_only:
        ckpts = [c for c in ckpts if c[0] == "checkpoint_final.pth"]
    if not ckpts:
        wanted = "checkpoint_final.pth" if args.final_only else "checkpoint_epoch*.pth or checkpoint_final.pth"
        raise SystemExit(f"{name}: no {wanted} in {folder / f'fold_{fold}'} (train it first)")
    t0 = time.perf_counter()
    model = StageModel(folder, folds=[fold], checkpoint=ckpts[0][0], mirroring=False, tile_step_size=args.tile_step)
    print(f"StageModel ready in {time.perf_counter() - t0:.1f} s", flush=True)
    for ckpt, epochs in ckpts:
        state = torch.load(folder / f"fold_{fold}" / ckpt, map_location="cpu", weights_only=False)
        model.predictor.list_of_parameters = [state["network_weights"]]
        log = state["logging"]
        start = log["epoch_start_timestamps"][0]
        minutes = (log["epoch_end_timestamps"][epochs - 1] - start) / 60
        for image in images:
            case = image.name.removesuffix("_0000.nii.gz")
            if (ckpt, case) in done:
                continue
            ct, geometry = read_image(image)
            gt, _ = read_image(cases_root / "labelsTs" / f"{case}.nii.gz")
            t0 = time.perf_counter()
            raw, _ = model.predict(ct, geometry)
            cleaned, _ = clean_labels(raw, geometry.spacing)  # predict's defaults: what users get
            graph = cases_root / "graphsTs" / f"{case}_graph.json"
            graph = graph if graph.is_file() else None
            metrics, metrics_raw = (
                _scores(evaluate_case(gt, labels, geometry, graph=graph, case=case)) for labels in (cleaned, raw)
            )
            record = {
                "trainer": name,
                "checkpoint": ckpt,
                "epochs": epochs,
                "iterations": epochs * args.iterations_per_epoch,
                "train_minutes": round(minutes, 2),
                "case": case,
                "predict_s": round(time.perf_counter() - t0, 1),
                "metrics": metrics,
                "metrics_stage1_raw": metrics_raw,
            }
            with lines.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(name, ckpt, case, {r: round(m["dice"], 3) for r, m in metrics.items()}, flush=True)


def _final(rows: list[dict], trainer: str) -> dict[str, dict]:
    """case -> record of the trainer's last checkpoint."""
    mine = [r for r in rows if r["trainer"] == trainer]
    last = max(r["epochs"] for r in mine)
    return {r["case"]: r for r in mine if r["epochs"] == last}


def _paired(rows: list[dict], pair: list[str]) -> list[str]:
    """Per-case differences ``a - b`` of the two trainers' last checkpoints on the cases both scored."""
    a, b = (_final(rows, t) for t in pair)
    cases = sorted(set(a) & set(b))
    out = ["", f"Paired, {pair[0]} minus {pair[1]} on the same {len(cases)} cases (last checkpoints): "
           "mean difference, min..max, cases where the first is better.", "",
           "| metric | mean diff | min..max | first better |", "|---|---|---|---|"]
    keys = [(r, "dice") for r in REGIONS] + [("vessels", "cldice"), ("vessels", "breaks"), ("vessels", "betti0_error")]
    for region, key in keys:
        d = np.array([a[c]["metrics"][region].get(key, np.nan) - b[c]["metrics"][region].get(key, np.nan) for c in cases], float)
        d = d[np.isfinite(d)]
        if not d.size:
            continue
        lower_better = key in ("breaks", "betti0_error")
        better = int((d < 0).sum() if lower_better else (d > 0).sum())
        out.append(f"| {region} {key} | {d.mean():+.3f} | {d.min():+.3f}..{d.max():+.3f} | {better} of {d.size} |")
    return out


def _raw_table(rows: list[dict]) -> list[str]:
    """Mean Dice of the raw stage-1 output (before predict's clean-up) at each trainer's last checkpoint."""
    out = ["", "Raw stage 1 (before clean-up), last checkpoints, mean Dice:", "",
           "| trainer | " + " | ".join(REGIONS) + " | vessels clDice |", "|---" * (len(REGIONS) + 2) + "|"]
    for trainer in sorted({r["trainer"] for r in rows}):
        recs = [r for r in _final(rows, trainer).values() if "metrics_stage1_raw" in r]
        if recs:
            m = {k: np.mean([r["metrics_stage1_raw"][k]["dice"] for r in recs]) for k in REGIONS}
            cl = np.mean([r["metrics_stage1_raw"]["vessels"]["cldice"] for r in recs])
            out.append(f"| {trainer} | " + " | ".join(f"{m[k]:.3f}" for k in REGIONS) + f" | {cl:.3f} |")
    return out


def report(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    rows = [json.loads(line) for p in sorted(out.glob(f"{args.prefix}*.jsonl")) for line in p.read_text().splitlines()]
    by = {}
    for r in rows:
        by.setdefault((r["trainer"], r["epochs"]), []).append(r)
    md = ["| trainer | iterations | train min | cases | " + " | ".join(f"{r} Dice" for r in REGIONS)
          + " | vessels clDice | breaks / case | Betti-0 err |", "|---" * (7 + len(REGIONS)) + "|"]
    curves: dict[str, list] = {}
    def stat(rs, region, key):
        v = np.array([r["metrics"][region][key] for r in rs if key in r["metrics"].get(region, {})], float)
        return f"{v.mean():.3f} ({v.min():.2f}–{v.max():.2f})" if v.size else "n/a"

    for (trainer, _epochs), rs in sorted(by.items()):
        md.append(
            f"| {trainer} | {rs[0]['iterations']} | {rs[0]['train_minutes']:.1f} | {len(rs)} | "
            + " | ".join(stat(rs, r, "dice") for r in REGIONS)
            + f" | {stat(rs, 'vessels', 'cldice')} | {stat(rs, 'vessels', 'breaks')} | {stat(rs, 'vessels', 'betti0_error')} |"
        )
        curves.setdefault(trainer, []).append(
            (rs[0]["iterations"], rs[0]["train_minutes"], {r: np.mean([x["metrics"][r]["dice"] for x in rs]) for r in REGIONS},
             np.mean([x["metrics"]["vessels"]["cldice"] for x in rs]))
        )
    md += _paired(rows, args.compare) if args.compare else []
    md += _raw_table(rows)
    (out / f"{args.prefix}table.md").write_text("\n".join(md) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for trainer, pts in curves.items():
        pts.sort()
        for region, style in zip(("vessels", "carotid", "intracranial"), ("-", "--", ":"), strict=True):
            axes[0].plot([p[0] for p in pts], [p[2][region] for p in pts], style, marker="o", label=f"{trainer} {region}")
        axes[1].plot([p[1] for p in pts], [p[3] for p in pts], marker="o", label=f"{trainer} vessels clDice")
    axes[0].set_xlabel("training iterations")
    axes[0].set_ylabel("held-out Dice")
    axes[1].set_xlabel("training minutes (2-core CPU)")
    axes[1].set_ylabel("held-out clDice (vessels)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / f"{args.prefix}curves.png", dpi=110)
    print((out / f"{args.prefix}table.md").read_text())


def choose(args) -> None:
    """The selection rule of ``nnunetv2_cta choose`` among the trainers' last checkpoints, on the vessels region of
    the raw stage-1 labels (what the benchmark scores): writes ``<out>/<prefix>choice.json`` and prints why."""
    from nnunetv2_cta.evaluation.selection import choose_candidate, format_selection

    out = Path(args.out)
    rows = [json.loads(line) for p in sorted(out.glob(f"{args.prefix}*.jsonl")) for line in p.read_text().splitlines()]
    trainers = list(dict.fromkeys(r["trainer"] for r in rows))
    if len(trainers) < 2:
        raise SystemExit(f"choose needs curves of at least 2 trainers in {str(out)!r} ({args.prefix}*.jsonl), got {trainers}")
    finals = {t: _final(rows, t) for t in trainers}
    cases = sorted(set.intersection(*(set(f) for f in finals.values())))
    table = {
        t: {c: {k: finals[t][c]["metrics_stage1_raw"]["vessels"][k] for k in ("dice", "cldice", "breaks")} for c in cases}
        for t in trainers
    }
    selection = choose_candidate(table)
    (out / f"{args.prefix}choice.json").write_text(
        json.dumps({"cases": cases, "scores": table} | selection.to_dict(), indent=1) + "\n"
    )
    print(format_selection(selection))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    for step in ("train", "curve"):
        p = sub.add_parser(step)
        p.add_argument("-d", "--dataset", type=int, required=True)
        p.add_argument("-tr", "--trainer", required=True)
        p.add_argument("-p", "--plans", default=PLANS)
        p.add_argument("--tag", default="", help="probe name (trained as <trainer>_<tag>)")
        p.add_argument("--fold", default="all", help="nnU-Net fold: 'all' (every training case) or 0-4")
    sub.choices["train"].add_argument("--set", action="append", default=[], metavar="ATTR=VALUE")
    sub.choices["train"].add_argument("--checkpoint-epochs", type=int, nargs="*", default=[])
    c = sub.choices["curve"]
    c.add_argument("--cases", required=True, help="raw dataset folder with imagesTs/labelsTs(/graphsTs)")
    c.add_argument("--out", required=True)
    c.add_argument("--max-cases", type=int, default=8)
    c.add_argument("--tile-step", type=float, default=0.5)
    c.add_argument("--iterations-per-epoch", type=int, default=50)
    c.add_argument("--final-only", action="store_true", help="score only checkpoint_final.pth")
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    r.add_argument("--prefix", default="curve_", help="reads <out>/<prefix>*.jsonl, writes <prefix>table.md/curves.png")
    r.add_argument("--compare", nargs=2, metavar=("A", "B"), help="paired per-case differences A - B")
    ch = sub.add_parser("choose", help="the selection rule among the trainers of <out> (raw stage-1 vessels)")
    ch.add_argument("--out", required=True)
    ch.add_argument("--prefix", default="curve_")
    args = parser.parse_args()
    {"train": train, "curve": curve, "report": report, "choose": choose}[args.step](args)


if __name__ == "__main__":
    main()
