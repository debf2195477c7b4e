"""``nnunetv2_cta repair``: fill breaks of first-stage vessel segmentations (CGPM model or gap bridging)."""

from __future__ import annotations

import argparse

NAME = "repair"
HELP = (
    "repair breaks of stage-1 segmentations with a trained CGPM (-m) or the classic gap-bridging baseline "
    "(--baseline); writes repaired label maps and <case>_repairs.json"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--images", required=True, help="folder of CT images <case>_0000<ending> (HU)")
    parser.add_argument("-s", "--stage1", required=True, help="folder of stage-1 label maps <case><ending>")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "-m", "--model", default=None, help="trained CGPM: nnU-Net results folder <Trainer>__<Plans>__3d_cgpm"
    )
    which.add_argument("--baseline", action="store_true", help="non-learned gap bridging instead of a model")
    parser.add_argument(
        "-f", "--folds", nargs="+", default=["0"], help="model folds to ensemble (default: 0)"
    )
    parser.add_argument(
        "-device", "--device", default="cpu", help="torch device for the model (default: cpu)"
    )
    parser.add_argument("-chk", "--checkpoint", default="checkpoint_final.pth", help="checkpoint file name")
    parser.add_argument("--max-gap-mm", type=float, default=20.0, help="baseline: longest bridge (mm)")
    parser.add_argument("--max-angle-deg", type=float, default=70.0, help="baseline: largest facing angle")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.postprocessing.repair import repair_folder

    kwargs = {}
    if args.baseline:
        kwargs = {"max_gap_mm": args.max_gap_mm, "max_angle_deg": args.max_angle_deg}
    folds = [f if f == "all" else int(f) for f in args.folds]
    results = repair_folder(
        args.images,
        args.stage1,
        args.output,
        args.model,
        baseline=args.baseline,
        folds=folds,
        device=args.device,
        checkpoint=args.checkpoint,
        overwrite=args.overwrite,
        progress=True,
        **kwargs,
    )
    total = sum(r["num_gaps"] for r in results)
    print(f"repaired {total} gap(s) in {len(results)} case(s) -> {args.output}")
    return 0
