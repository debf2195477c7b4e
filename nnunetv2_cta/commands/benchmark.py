"""``nnunetv2_cta benchmark``: CTA vs NCCT vs 3D-DSA, our trainers vs stock nnU-Net vs a classic method."""

from __future__ import annotations

import argparse

NAME = "benchmark"
HELP = (
    "run (or resume) the benchmark of nnunetv2_cta.benchmark.definition on phantom data or your dataset and "
    "write results tables and plots"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--budget",
        required=True,
        help="tiny (smoke test, minutes), cpu-small (about an hour on 2 CPU cores), cpu (the CPU recipe, ten "
        "networks: about 4 hours on 2 cores, resumable across sessions) or gpu (CUDA GPU)",
    )
    parser.add_argument(
        "--work",
        required=True,
        help="work folder; re-running with the same folder resumes and skips finished steps",
    )
    parser.add_argument(
        "--methods", nargs="+", default=None, help="only these methods (default: all of the budget)"
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=None,
        help="only these datasets (phantom_cta, phantom_ncct, phantom_dsa, real_geometry: real vessel trees from "
        "$NNUNETV2_CTA_REAL_DATA, default ../shared/data/real, scored with phantom_cta's networks)",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        help="your nnU-Net dataset (id or DatasetXXX_Name in $nnUNet_raw, our label scheme, with imagesTs/labelsTs) "
        "instead of the phantoms",
    )
    parser.add_argument(
        "--no-train", action="store_true", help="never train; a missing trained model is an error"
    )
    parser.add_argument("--results", default=None, help="results folder (default: <work>/results)")
    parser.add_argument(
        "-np", "--num-processes", type=int, default=2, help="evaluation worker processes (default 2)"
    )


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.benchmark.runner import run_benchmark

    result = run_benchmark(
        args.work,
        args.budget,
        methods=args.methods,
        datasets=args.datasets,
        dataset=args.dataset,
        no_train=args.no_train,
        results_dir=args.results,
        num_processes=args.num_processes,
        progress=True,
    )
    print()
    print(open(result["files"]["md"]).read())
    print(f"results: {result['files']['md']} (+ results.csv, results.json, machine.json, plots)")
    return 0
