"""``nnunetv2_cta repair``: fill breaks of first-stage vessel segmentations (CGPM model or gap bridging)."""

from __future__ import annotations

import argparse

from nnunetv2_cta.commands._options import add_checkpoint, add_device, add_folds, parse_folds

NAME = "repair"
HELP = (
    "repair breaks of stage-1 segmentations with a trained CGPM (-m) or the classic gap-bridging baseline "
    "(--baseline); writes repaired label maps and <case>_repairs.json"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--images", required=True, help="folder of CT images <case>_0000<ending> (HU)")
    parser.add_argument("-s", "--stage1", required=True, help="folder of stage-1 label maps <case><ending>")
    parser.add_argument("-o", "--output", required=True, help="output folder (created; must be writable)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "-m", "--model", default=None, help="trained CGPM: nnU-Net results folder <Trainer>__<Plans>__3d_cgpm"
    )
    which.add_argument("--baseline", action="store_true", help="non-learned gap bridging instead of a model")
    add_folds(parser)
    add_device(parser)
    add_checkpoint(parser)
    parser.add_argument("--max-gap-mm", type=float, default=20.0, help="baseline: longest bridge (mm)")
    parser.add_argument("--max-angle-deg", type=float, default=70.0, help="baseline: largest facing angle")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an output folder that already holds files (replacing same-named ones)",
    )


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.errors import ConfigurationError
    from nnunetv2_cta.io import check_output_folder

    folds = parse_folds(args.folds)
    if args.baseline and args.folds is not None:
        raise ConfigurationError(
            f"--folds {' '.join(args.folds)} is for a model (-m); --baseline has no folds"
        )
    check_output_folder(args.output)

    from nnunetv2_cta.postprocessing.repair import repair_folder

    kwargs = {}
    if args.baseline:
        kwargs = {"max_gap_mm": args.max_gap_mm, "max_angle_deg": args.max_angle_deg}
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
