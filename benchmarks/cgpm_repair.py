"""Break repair benchmark: stage 1 alone vs + gap bridging vs + CGPM, on data the CGPM never saw.

Three test sets, each written as JSON lines (one row per case and method) into ``--out``, then one table:

- ``heldout``: held-out phantoms (nnU-Net raw folder, ``imagesTs``/``labelsTs``/``graphsTs``) with the trained
  first stage's **own predictions** (made here through ``StageModel`` and cached in ``OUT/stage1_<dataset>``).
  Every method is followed by ``predict``'s clean-up, as in ``nnunetv2_cta predict``. A dataset made with
  ``--pathologies occlusion`` also counts bridges across the true occlusion.
- ``cuts``: the same phantoms' ground truth cut ``--breaks`` times by ``simulate_breaks`` (known breaks).
- ``topcow``: real Circle-of-Willis label maps (``topcow_ct_roi_*.nii.gz``, 0.42-0.55 mm) merged into one
  vessel mask, rendered into a CTA by ``render_from_vessel_mask`` and cut the same way (real geometry).

Metrics (vessels = labels 2-4): breaks per case and Dice/clDice from ``evaluate_case``; the voxels each repair
**added** to stage 1 and their precision (share on ground-truth vessel), added voxels on ground-truth bone,
occlusions bridged (added voxels within 2 mm of the middle third of the occluded centerline), repair seconds
per case.

    python benchmarks/cgpm_repair.py heldout --data RAW/Dataset602_CTAheldout --stage1-model M --cgpm C --out OUT
    python benchmarks/cgpm_repair.py cuts --data RAW/Dataset602_CTAheldout --cgpm C --out OUT
    python benchmarks/cgpm_repair.py topcow --data ../shared/data/real/topcow --cgpm C --out OUT
    python benchmarks/cgpm_repair.py report --out OUT
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from nnunetv2_cta.evaluation import evaluate_case
from nnunetv2_cta.io import Geometry, read_image, write_image
from nnunetv2_cta.labels import BONE, VESSEL_LABELS
from nnunetv2_cta.postprocessing.cleanup import clean_labels
from nnunetv2_cta.postprocessing.gap_bridging import bridge_gaps
from nnunetv2_cta.transforms.break_simulation import simulate_breaks

METHODS = ("stage1", "baseline", "cgpm")


def occluded_points(graph: dict | None, geometry: Geometry) -> list[np.ndarray]:
    """Voxel indices (z, y, x) of each occluded centerline stretch of a phantom graph (radius 0)."""
    out = []
    for seg in (graph or {}).get("segments", []):
        if seg.get("pathology") != "occlusion":
            continue
        pts = np.asarray(seg["points"], float)[np.asarray(seg["radii"], float) == 0]
        if len(pts):
            out.append(geometry.world_to_index(pts))
    return out


def bridged_occlusions(
    added: np.ndarray, occlusions: list[np.ndarray], spacing, radius_mm: float = 2.0
) -> int:
    """Occlusions with an added voxel within ``radius_mm`` of the middle third of their occluded centerline
    (a repair that only thickens a stump next to the occlusion does not count; one that crosses it does)."""
    if not occlusions or not added.any():
        return 0
    idx = np.argwhere(added) * np.asarray(spacing)
    count = 0
    for pts in occlusions:
        n = len(pts)
        middle = pts[n // 3 : n - n // 3] if n >= 3 else pts
        d = np.linalg.norm(idx[:, None, :] - (middle * np.asarray(spacing))[None], axis=2)
        count += bool((d <= radius_mm).any())
    return count


def score(gt, stage1, out, geometry, graph, occlusions, seconds: float) -> dict:
    res = evaluate_case(gt, out, geometry, regions={"vessels": VESSEL_LABELS}, graph=graph)
    m = res["metrics"]["vessels"]
    added = np.isin(out, VESSEL_LABELS) & ~np.isin(stage1, VESSEL_LABELS)
    n_added = int(added.sum())
    return {
        "breaks": len(res["breaks"]["vessels"]),
        "dice": m["dice"],
        "cldice": m["cldice"],
        "added_voxels": n_added,
        "added_on_vessel": int((added & np.isin(gt, VESSEL_LABELS)).sum()),
        "added_on_bone": int((added & (gt == BONE)).sum()),
        "occlusions": len(occlusions),
        "occlusions_bridged": bridged_occlusions(added, occlusions, geometry.spacing),
        "seconds": round(seconds, 2),
    }


def repair_all(
    ct,
    geometry,
    stage1,
    cgpm,
    cleanup: bool,
    sites: str = "facing",
    max_mean_cost: float = 1.5,
    path_cost: float | None = 1.5,
    path_hu: bool = True,
) -> dict[str, tuple[np.ndarray, float]]:
    from nnunetv2_cta.cgpm.runner import repair_with_cgpm

    outs = {"stage1": (stage1, 0.0)}
    t = time.perf_counter()
    outs["baseline"] = (bridge_gaps(stage1, ct, geometry)[0], time.perf_counter() - t)
    if cgpm is not None:
        t = time.perf_counter()
        outs["cgpm"] = (
            repair_with_cgpm(
                cgpm,
                ct,
                geometry,
                stage1,
                sites=sites,
                max_mean_cost=max_mean_cost,
                path_cost=path_cost,
                path_hu=path_hu,
            ).labels,
            time.perf_counter() - t,
        )
    if cleanup:
        outs = {k: (clean_labels(v, geometry.spacing)[0], s) for k, (v, s) in outs.items()}
    return outs


def phantom_cases(data: Path):
    for image in sorted((data / "imagesTs").glob("*_0000.nii.gz")):
        case = image.name[: -len("_0000.nii.gz")]
        graph_path = data / "graphsTs" / f"{case}_graph.json"
        graph = json.loads(graph_path.read_text()) if graph_path.is_file() else None
        yield case, image, data / "labelsTs" / f"{case}.nii.gz", graph


def run(args) -> None:
    from nnunetv2_cta.inference.model import StageModel

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cgpm = StageModel(args.cgpm, mirroring=False) if args.cgpm else None
    rows_path = out / f"{args.set}_{Path(args.data).name}.jsonl"
    done = set()
    if rows_path.is_file():
        done = {json.loads(line)["case"] for line in rows_path.read_text().splitlines() if line.strip()}
    stage1_model = None
    sources = (
        list(phantom_cases(Path(args.data)))
        if args.set != "topcow"
        else [
            (p.name.split(".")[0], p, None, None)
            for p in sorted(Path(args.data).glob("topcow_ct_roi_*.nii.gz"))
        ]
    )
    for i, (case, image, labels, graph) in enumerate(sources[: args.max_cases]):
        if case in done:
            continue
        stage1_seconds = None
        if args.set == "topcow":
            from nnunetv2_cta.phantom import render_from_vessel_mask

            mask, geometry = read_image(image)
            rendered = render_from_vessel_mask(mask > 0, geometry, seed=i)
            gt, ct, geometry = rendered.labels, rendered.image, rendered.geometry
        else:
            ct, geometry = read_image(image)
            gt, _ = read_image(labels)
        occlusions = occluded_points(graph, geometry)
        if args.set == "heldout":
            cache = out / f"stage1_{Path(args.data).name}" / f"{case}.nii.gz"
            if cache.is_file():
                stage1 = read_image(cache)[0]
            else:
                stage1_model = stage1_model or StageModel(args.stage1_model, folds=["all"], mirroring=False)
                t = time.perf_counter()
                stage1, _ = stage1_model.predict(ct, geometry)
                stage1_seconds = time.perf_counter() - t
                write_image(cache, stage1, geometry)
        else:
            vessel = np.isin(gt, VESSEL_LABELS)
            broken, _ = simulate_breaks(
                vessel,
                np.random.default_rng(i),
                args.breaks,
                spacing=geometry.spacing,
                min_length_mm=min(geometry.spacing),
            )
            stage1 = gt.copy()
            stage1[vessel & ~broken] = 0
        outs = repair_all(
            ct,
            geometry,
            stage1.astype(np.uint8),
            cgpm,
            cleanup=args.set == "heldout",
            sites=args.sites,
            max_mean_cost=args.max_mean_cost,
            path_cost=None if args.path_cost <= 0 else args.path_cost,
            path_hu=args.path_hu,
        )
        base = outs["stage1"][0]
        row = {"case": case, "stage1_seconds": stage1_seconds}
        for name, (labels_out, seconds) in outs.items():
            row[name] = score(gt, base, labels_out, geometry, graph, occlusions, seconds)
        with rows_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            case,
            {
                k: (v["breaks"], round(v["dice"], 4), v["added_voxels"])
                for k, v in row.items()
                if k in METHODS
            },
            flush=True,
        )


def report(args) -> None:
    out = Path(args.out)
    lines = [
        f"Machine: {platform.node()}, {os.cpu_count()} CPUs. Rows: {sorted(p.name for p in out.glob('*.jsonl'))}",
        "",
    ]
    for path in sorted(out.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not rows:
            continue
        lines += [
            f"## {path.stem} ({len(rows)} cases)",
            "",
            "| method | breaks/case | removed | Dice | clDice | added voxels | precision of added | on bone | occlusions bridged | s/case |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        b0 = sum(r["stage1"]["breaks"] for r in rows)
        for name in METHODS:
            if name not in rows[0]:
                continue
            rs = [r[name] for r in rows]
            breaks = sum(r["breaks"] for r in rs)
            added = sum(r["added_voxels"] for r in rs)
            prec = sum(r["added_on_vessel"] for r in rs) / added if added else float("nan")
            lines.append(
                f"| {name} | {breaks / len(rs):.2f} | {(b0 - breaks) / b0 if b0 else float('nan'):.0%} "
                f"| {np.mean([r['dice'] for r in rs]):.4f} | {np.mean([r['cldice'] for r in rs]):.4f} | {added} "
                f"| {prec:.2f} | {sum(r['added_on_bone'] for r in rs)} "
                f"| {sum(r['occlusions_bridged'] for r in rs)} / {sum(r['occlusions'] for r in rs)} "
                f"| {np.mean([r['seconds'] for r in rs]):.1f} |"
            )
        lines.append("")
    (out / "table.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set", choices=("heldout", "cuts", "topcow", "report"))
    ap.add_argument("--data", help="raw dataset folder (heldout, cuts) or folder of topcow_ct_roi_*.nii.gz")
    ap.add_argument("--stage1-model", help="first-stage results folder (heldout; predictions are cached)")
    ap.add_argument("--cgpm", help="trained CGPM results folder (without it: stage 1 and gap bridging only)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--breaks", type=int, default=3, help="cuts per case (cuts, topcow)")
    ap.add_argument("--max-cases", type=int, default=None)
    ap.add_argument("--sites", choices=("facing", "all"), default="facing", help="CGPM candidate sites")
    ap.add_argument(
        "--no-path-hu",
        dest="path_hu",
        action="store_false",
        help="CGPM paths: cost 1/p only, not min(1/p, HU cost)",
    )
    ap.add_argument("--max-mean-cost", type=float, default=1.5, help="CGPM merge contrast rule")
    ap.add_argument(
        "--path-cost", type=float, default=1.5, help="CGPM probability paths: max mean 1/p (0: off)"
    )
    args = ap.parse_args()
    if args.set == "report":
        report(args)
        return
    if not args.data:
        ap.error(f"{args.set} needs --data")
    if args.set == "heldout" and not args.stage1_model:
        ap.error("heldout needs --stage1-model")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cpus")
    run(args)


if __name__ == "__main__":
    main()
