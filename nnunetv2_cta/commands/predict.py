"""``nnunetv2_cta predict``: CTA -> label map, bone-free CTA, MIP/VR/CPR images and a QC report per case."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from nnunetv2_cta.commands._options import add_checkpoint, add_device, add_folds, add_parts, parse_folds

if TYPE_CHECKING:
    from nnunetv2_cta.inference.record import CaseResult

NAME = "predict"
HELP = (
    "segment bone and arteries with a trained model, repair breaks (CGPM or gap bridging), and write the "
    "bone-free CTA, MIP/VR/CPR images and an HTML report per case"
)

EPILOG = """\
examples:
  nnunetv2_cta predict -i scans/ -o out/ -m $nnUNet_results/Dataset501_CTA/nnUNetTrainerCTA__nnUNetCTAPlans_L__3d_fullres \\
      --cgpm $nnUNet_results/Dataset501_CTA/nnUNetTrainerCTA_CGPM__nnUNetCTAPlans_L__3d_cgpm --device cuda
  # a cohort over 4 GPUs / cluster jobs (SLURM array task k = 0..3):
  CUDA_VISIBLE_DEVICES=$k nnunetv2_cta predict -i scans/ -o out/ -m MODEL -device cuda -num_parts 4 -part_id $k
nnU-Net's spellings -device, -f, -chk, -num_parts, -part_id and ours (--device, --num-parts, ...) both work.
Cases that already have out/cases/<case>/record.json are skipped (an interrupted run resumes); --overwrite redoes them.
Exit status: 0 when every case succeeded, 1 when any case failed (listed in out/predict_summary*.json),
2 for unusable options, inputs, models or output folder (checked before any case is computed).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "-i",
        "--input",
        required=True,
        help="a NIfTI/MHA/NRRD file, a folder of them (<case>.nii.gz or <case>_0000.nii.gz), or a DICOM folder",
    )
    parser.add_argument("-o", "--output", required=True, help="output folder (created; must be writable)")
    parser.add_argument(
        "-m",
        "--model",
        required=True,
        help="stage-1 model: nnU-Net results folder <Trainer>__<Plans>__<config>",
    )
    parser.add_argument("--cgpm", default=None, help="CGPM repair model folder <Trainer>__<Plans>__3d_cgpm")
    parser.add_argument(
        "--repair",
        choices=("auto", "cgpm", "baseline", "none"),
        default="auto",
        help="auto (default): the CGPM when --cgpm is given, else classic gap bridging; none: no repair "
        "(cannot be combined with --cgpm)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="no test-time mirroring, 0.75 tile step (~3x fewer tiles); use with a model on the cpu plans preset",
    )
    add_device(parser)
    add_folds(parser)
    add_checkpoint(parser)
    parser.add_argument("--no-reconstructions", action="store_true", help="label maps and records only")
    parser.add_argument(
        "--keep-stage1", action="store_true", help="also write the stage-1 label map (OUT/stage1)"
    )
    parser.add_argument(
        "--min-vessel-mm3", type=float, default=10.0, help="clean-up: speck volume limit (mm^3)"
    )
    parser.add_argument(
        "--min-branch-mm", type=float, default=4.0, help="clean-up: pieces this long always stay"
    )
    add_parts(parser)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo cases that already have OUT/cases/<case>/record.json (without it they are skipped)",
    )


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.errors import ConfigurationError
    from nnunetv2_cta.io import check_output_folder

    folds = parse_folds(args.folds)
    if args.repair in ("none", "baseline") and args.cgpm is not None:
        raise ConfigurationError(
            f"--repair {args.repair} does not use a CGPM model, but --cgpm {args.cgpm!r} was given; "
            "drop one of them"
        )
    check_output_folder(args.output)

    from nnunetv2_cta.inference import PredictSettings, predict

    settings = PredictSettings(
        device=args.device,
        fast=args.fast,
        folds=folds,
        checkpoint=args.checkpoint,
        repair=args.repair,
        reconstructions=not args.no_reconstructions,
        keep_stage1=args.keep_stage1,
        min_vessel_mm3=args.min_vessel_mm3,
        min_branch_mm=args.min_branch_mm,
    )
    summary = predict(
        args.input,
        args.output,
        args.model,
        cgpm_dir=args.cgpm,
        settings=settings,
        num_parts=args.num_parts,
        part_id=args.part_id,
        overwrite=args.overwrite,
        progress=True,
        on_case=print_case,
    )
    done = sum(c["status"] == "ok" for c in summary["cases"])
    skipped = sum(c["status"] == "skipped" for c in summary["cases"])
    print(f"{done} case(s) done, {skipped} skipped, {summary['failed']} failed -> {args.output}")
    return 1 if summary["failed"] else 0


def print_case(result: CaseResult) -> None:
    """Print one line per predicted or failed case (nothing for a skipped one), with the flags to check.

    ``predict``'s ``on_case`` callback in this command and in ``demo``, e.g.::

        c1: FLAGGED in 41.2 s; vessels 512.0 mL; 2 gap(s) repaired (cgpm); 1 suspected break(s) -> out/cases/c1/report.html
          check this case: vessel volume 512.0 mL is outside the plausible 2-400 mL of a head-and-neck CTA
    """
    if result.status == "failed":
        print(f"{result.case}: FAILED: {result.error}", flush=True)
        return
    case = result.predicted
    if result.status != "ok" or case is None:
        return
    line = (
        f"{case.case}: {'FLAGGED' if case.flags else 'ok'} in {case.timings_s['total']:.1f} s; vessels "
        f"{case.volumes_ml['vessels']:.1f} mL; {len(case.repaired_gaps)} gap(s) repaired "
        f"({case.repair_method}); {len(case.suspected_breaks)} suspected break(s)"
    )
    if case.outputs.get("report"):
        line += f" -> {result.record_path.parent / case.outputs['report']}"
    line += "".join(f"\n  check this case: {flag}" for flag in case.flags)
    print(line, flush=True)
