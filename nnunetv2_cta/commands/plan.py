"""``nnunetv2_cta plan``: fingerprint, plan with the CTA planner and preprocess a dataset."""

from __future__ import annotations

import argparse

NAME = "plan"
HELP = "fingerprint + CTA planner (bottleneck residual U-Net) + preprocessing of an nnU-Net raw dataset"
PRESET_NAMES = ("cpu", "M", "L", "XL")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d", "--dataset", required=True, help="dataset id (e.g. 501) or name DatasetXXX_Name"
    )
    parser.add_argument(
        "--preset",
        default="L",
        help=f"network/memory preset, one of {', '.join(PRESET_NAMES)} (cpu: tiny, for tests and CPU demos; "
        "M/L/XL: 8/24/40 GB GPU). Default: L",
    )
    parser.add_argument(
        "-c",
        "--configurations",
        nargs="+",
        default=["3d_fullres"],
        metavar="CONFIG",
        help="configurations to preprocess (default: 3d_fullres)",
    )
    parser.add_argument(
        "-np", "--num-processes", type=int, default=None, help="worker processes (default: CPUs, max 8)"
    )
    parser.add_argument("--verify", action="store_true", help="run nnU-Net's dataset integrity check first")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing plans file of this preset (and recompute the dataset fingerprint)",
    )
    parser.add_argument(
        "--no-cgpm",
        action="store_true",
        help="do not add the 3d_cgpm break-repair configuration to the plans",
    )
    parser.add_argument(
        "--cgpm-first-stage-trainer",
        default="nnUNetTrainerCTA",
        metavar="TRAINER",
        help="first-stage trainer whose out-of-fold predictions the CGPM trainer reads (default: "
        "nnUNetTrainerCTA; without them it trains from simulated breaks)",
    )
    parser.add_argument(
        "--target-spacing",
        type=float,
        nargs=3,
        metavar=("Z", "Y", "X"),
        help="target spacing in mm (array axis order), overriding the CTA spacing rule",
    )


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.planners.plan import default_num_processes, plan_dataset

    plans_file = plan_dataset(
        args.dataset,
        preset=args.preset,
        configurations=args.configurations,
        num_processes=args.num_processes or default_num_processes(),
        verify=args.verify,
        overwrite=args.overwrite,
        target_spacing=args.target_spacing,
        cgpm=not args.no_cgpm,
        cgpm_first_stage_trainer=args.cgpm_first_stage_trainer,
    )
    print(f"plans: {plans_file}")
    print(f"train: nnUNetv2_train {args.dataset} 3d_fullres 0 -tr nnUNetTrainerCTA -p {plans_file.stem}")
    return 0
