"""``nnunetv2_cta export dicom``: a predict case as DICOM-SEG, derived CT series and secondary captures."""

from __future__ import annotations

import argparse

NAME = "export"
HELP = (
    "write a predict output case for PACS: DICOM-SEG of the label map, the bone-free CTA as a derived CT "
    "series and the MIP/VR/CPR images as secondary captures, all referencing the source DICOM series"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    dicom = sub.add_parser("dicom", help=HELP, description=HELP)
    dicom.add_argument("source", help="folder of the DICOM CT series the case was predicted from")
    dicom.add_argument("predictions", help="the -o folder of nnunetv2_cta predict")
    dicom.add_argument(
        "-o", "--output", required=True, help="folder to create (seg.dcm, bone_free/, images/)"
    )
    dicom.add_argument("--case", default=None, help="case id (needed when the predict folder has several)")
    dicom.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.export import export_dicom

    result = export_dicom(
        args.source, args.predictions, args.output, case=args.case, overwrite=args.overwrite
    )
    print(
        f"{result['case']}: DICOM-SEG ({', '.join(result['seg']['segments'])}), "
        f"{len(result['bone_free'])} bone-free CT slices, {len(result['images'])} secondary captures "
        f"-> {args.output}"
    )
    return 0
