"""``nnunetv2_cta demo``: the whole chain on a small phantom dataset, on a bare machine without a GPU."""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = (
    "phantom CTA -> CTA planner -> nnU-Net training (stage 1 + CGPM) -> predict (repair, bone-free CTA, "
    "MIP/VR/CPR, HTML report) -> vessel metrics, on the CPU"
)
TABLE_METRICS = ("dice", "recall", "cldice", "breaks", "connected_recall", "vscore", "hd95_mm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--out", default="nnunetv2_cta_demo", help="output folder (default: ./nnunetv2_cta_demo)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small run: 8 phantom CTAs at 1.25 mm, 1,000 stage-1 iterations of the CPU recipe, then 400 of the "
        "CGPM; about 13 minutes on 2 CPU cores. Without it: 20 cases, the full 3,000-iteration recipe and the "
        "1,500-iteration CGPM (about 50 minutes)",
    )
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("-np", "--num-processes", type=int, default=2, help="worker processes (default 2)")


def format_table(summary: dict, metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    """Mean metrics per region as a fixed-width text table (missing values shown as '-')."""
    header = f"{'region':<14}" + "".join(f"{m:>18}" for m in metrics)
    rows = [header, "-" * len(header)]
    for region, values in summary["mean"].items():
        cells = "".join(
            f"{values[m]:>18.3f}" if isinstance(values.get(m), (int, float)) else f"{'-':>18}"
            for m in metrics
        )
        rows.append(f"{region:<14}{cells}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nnunetv2_cta.commands.predict import print_case
    from nnunetv2_cta.demo import run_demo

    summary = run_demo(
        args.out,
        quick=args.quick,
        seed=args.seed,
        overwrite=args.overwrite,
        num_processes=args.num_processes,
        on_case=print_case,  # one line per predicted test case, as in ``predict``
    )
    out = Path(args.out).resolve()
    print()
    print(f"stage 1 alone, mean over {summary['num_cases']} held-out phantom case(s):")
    print(format_table(summary["stage1"]))
    print()
    print(f"final (stage 1 + {summary['repair_method']} repair + clean-up):")
    print(format_table(summary))
    print()
    print("timings (s): " + ", ".join(f"{k} {v}" for k, v in summary["timings_s"].items()))
    print(f"metrics: {out / 'summary.json'} (+ .csv; stage 1: summary_stage1.json)")
    print(f"label maps and bone-free CTAs: {out / 'predict'}")
    for report in summary["reports"]:
        print(f"report: {report}")
    return 0
