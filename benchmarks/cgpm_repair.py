"""Break repair benchmark on held-out phantom cases: stage 1 alone vs + gap bridging vs + CGPM.

No trained first stage is used: stage 1 is SIMULATED by cutting the ground truth with
``simulate_breaks`` (cuts of 1-4 diameters, seeded). Metrics on the ``vessels`` region (labels 2-4) from
``nnunetv2_cta.evaluation.evaluate_case`` with the phantom's vessel graph for the V-score; "bone" counts
repaired voxels placed on ground-truth bone (false bridges into bone).

    python benchmarks/cgpm_repair.py --cases 4 --breaks 3 [--model RESULTS/<Trainer>__<Plans>__3d_cgpm]
    python benchmarks/cgpm_repair.py --topcow ../shared/data/real/topcow --breaks 3 [--model ...]

``--topcow DIR``: instead of phantom anatomy, the real Circle-of-Willis label maps ``topcow_ct_roi_*.nii.gz``
(TopCoW challenge test fixtures, 0.42-0.55 mm) are merged into one vessel mask (label 4), rendered into a CTA
by ``render_from_vessel_mask`` and cut the same way (real vessel geometry, synthetic image); no V-score
(no graph).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from nnunetv2_cta.evaluation import evaluate_case
from nnunetv2_cta.io import write_image
from nnunetv2_cta.phantom import generate_anatomy, render_case
from nnunetv2_cta.postprocessing.gap_bridging import bridge_gaps
from nnunetv2_cta.transforms.break_simulation import simulate_breaks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=4)
    ap.add_argument("--breaks", type=int, default=3)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--model", default=None, help="trained CGPM results folder (optional)")
    ap.add_argument("--topcow", default=None, help="folder with topcow_ct_roi_*.nii.gz (real CoW label maps)")
    args = ap.parse_args()
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    rows: dict[str, list[dict]] = {"stage1": [], "baseline": [], "cgpm": []}
    timing = {"baseline": 0.0, "cgpm": 0.0}
    tmp = Path(tempfile.mkdtemp(prefix="cgpm_bench_"))
    sources = list(range(args.cases))
    if args.topcow:
        sources = sorted(Path(args.topcow).glob("topcow_ct_roi_*.nii.gz"))
        if not sources:
            raise SystemExit(f"no topcow_ct_roi_*.nii.gz in {args.topcow}")
    for i, source in enumerate(sources):
        if args.topcow:
            from nnunetv2_cta.io import read_image
            from nnunetv2_cta.phantom import render_from_vessel_mask

            mask, geometry = read_image(source)
            case = render_from_vessel_mask(mask > 0, geometry, seed=i)
            print(f"{source.name}: {mask.shape} voxels at {np.round(geometry.spacing, 2).tolist()} mm")
        else:
            case = render_case(generate_anatomy(args.seed * 1000 + i, preset=args.preset), "cta")
        gt, ct, g = case.labels, case.image, case.geometry
        vessel = gt >= 2
        broken, events = simulate_breaks(
            vessel, np.random.default_rng(i), args.breaks, spacing=g.spacing, min_length_mm=min(g.spacing)
        )
        stage1 = gt.copy()
        stage1[vessel & ~broken] = 0
        outs = {"stage1": stage1}
        t = time.perf_counter()
        outs["baseline"], _ = bridge_gaps(stage1, ct, g)
        timing["baseline"] += time.perf_counter() - t
        if args.model:
            from nnunetv2_cta.postprocessing.repair import repair_folder

            name = f"bench_{i:03d}"
            write_image(tmp / f"img{i}" / f"{name}_0000.nii.gz", ct, g)
            write_image(tmp / f"seg{i}" / f"{name}.nii.gz", stage1, g)
            t = time.perf_counter()
            repair_folder(tmp / f"img{i}", tmp / f"seg{i}", tmp / f"out{i}", args.model)
            timing["cgpm"] += time.perf_counter() - t
            from nnunetv2_cta.io import read_image

            outs["cgpm"] = read_image(tmp / f"out{i}" / f"{name}.nii.gz")[0]
        for key, pred in outs.items():
            graph = case.graph if case.graph and case.graph.get("segments") else None
            res = evaluate_case(gt, pred, g, regions={"vessels": (2, 3, 4)}, graph=graph, case=f"c{i}")
            m = res["metrics"]["vessels"]
            added = (pred != stage1) & (pred > 0)
            rows[key].append(
                {
                    "breaks": len(res["breaks"]["vessels"]),
                    "dice": m["dice"],
                    "cldice": m["cldice"],
                    "vscore": m.get("vscore", float("nan")),
                    "bone": int((added & (gt == 1)).sum()),
                }
            )
        print(
            f"case {i}: {len(events)} cuts made; breaks stage1/baseline = "
            f"{rows['stage1'][-1]['breaks']}/{rows['baseline'][-1]['breaks']}"
            + (f"/cgpm {rows['cgpm'][-1]['breaks']}" if args.model else "")
        )
    print("\n| method | breaks/case | Dice | clDice | V-score | repaired voxels on GT bone | time/case (s) |")
    print("|---|---|---|---|---|---|---|")
    for key, rs in rows.items():
        if not rs:
            continue
        mean = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        tt = timing.get(key, 0.0) / len(rs)
        print(
            f"| {key} | {mean['breaks']:.2f} | {mean['dice']:.4f} | {mean['cldice']:.4f} | {mean['vscore']:.4f} "
            f"| {sum(r['bone'] for r in rs)} | {tt:.2f} |"
        )


if __name__ == "__main__":
    main()
