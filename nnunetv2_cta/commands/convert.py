"""``nnunetv2_cta convert <source> ...``: turn DICOM, label pairs, TopCoW, NCCT-CTA pairs or 3D-DSA into data.

Sources (each calls one function of :mod:`nnunetv2_cta.conversion`):

* ``dicom``: DICOM folder -> ``series_<hash>.nii.gz`` + JSON sidecar (:func:`~.dicom.convert_dicom`)
* ``nifti-pairs``: images + label maps -> raw dataset (:func:`~.nifti_pairs.convert_nifti_pairs`)
* ``split-regions``: images + vessel masks -> aorta/carotid/intracranial dataset
  (:func:`~.regions.convert_split_regions`)
* ``topcow``: TopCoW folder -> raw dataset (:func:`~.topcow.convert_topcow`)
* ``ncct-cta``: NCCT + CTA + CTA labels -> NCCT dataset (:func:`~.ncct_cta.convert_ncct_cta`)
* ``dsa``: 3D-DSA fill + subtracted/mask -> raw dataset (:func:`~.dsa.convert_dsa`)

Dataset sources write ``$nnUNet_raw/DatasetXXX_<name>`` (or ``--output``), refuse a used id without
``--overwrite``, and print a summary with every skipped case and its reason.
"""

from __future__ import annotations

import argparse

NAME = "convert"
HELP = "convert DICOM / label pairs / TopCoW / NCCT-CTA pairs / 3D-DSA into an nnU-Net raw dataset"


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--dataset-id", type=int, required=True, help="nnU-Net dataset id (1..999)")
    p.add_argument("-n", "--name", required=True, help="dataset name (DatasetXXX_<name>)")
    p.add_argument(
        "-o", "--output", default=None, help="explicit dataset folder (default $nnUNet_raw/DatasetXXX_<name>)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the dataset folder(s) already using this dataset id (only once the new one is complete)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first bad case instead of skipping it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for add in (_add_dicom, _add_nifti_pairs, _add_split_regions, _add_topcow, _add_ncct_cta, _add_dsa):
        add(sub)


def _add_dicom(sub) -> None:
    p = sub.add_parser("dicom", help="DICOM series -> NIfTI in HU + JSON sidecar")
    p.add_argument("input", help="folder with DICOM files (searched recursively)")
    p.add_argument("output", help="output folder for series_<hash>.nii.gz and .json")
    p.add_argument(
        "--select",
        default="all",
        help="'all', 'largest', 'thinnest', a series_<hash> id or a SeriesInstanceUID (default: all)",
    )
    p.add_argument(
        "--modality", action="append", default=None, help="accepted Modality (repeatable; default CT)"
    )
    p.add_argument("--uneven", choices=("resample", "error"), default="resample", help="uneven slice spacing")
    p.add_argument(
        "--allow-gaps", action="store_true", help="interpolate across missing slices instead of failing"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing series_<hash>.nii.gz/.json files of the chosen series",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_nifti_pairs(sub) -> None:
    p = sub.add_parser("nifti-pairs", help="images + label maps -> raw dataset")
    p.add_argument("images", help="folder of images (<case>.nii.gz or <case>_0000.nii.gz; NIfTI/MHA/NRRD)")
    p.add_argument("labels", help="folder of label maps (<case>.<ending>)")
    _dataset_args(p)
    p.add_argument("--map-labels", default=None, help="map foreign values onto ours, e.g. '1:2,2:3,3:4,9:0'")
    p.add_argument(
        "--min-component-mm3", type=float, default=0.0, help="remove label islands below this volume"
    )
    p.add_argument("--regions", action="store_true", help="declare the overlapping vessel region")
    p.add_argument("--rename", action="store_true", help="name cases case_000.. instead of by file name")


def _add_split_regions(sub) -> None:
    p = sub.add_parser("split-regions", help="images + vessel masks -> aorta/carotid/intracranial labels")
    p.add_argument("images", help="folder of CT images in HU")
    p.add_argument("masks", help="folder of vessel masks (binary, or label maps with --vessel-values)")
    _dataset_args(p)
    p.add_argument("--vessel-values", type=int, nargs="+", default=None, help="mask values that are vessels")
    p.add_argument("--bone-value", type=int, default=None, help="mask value that is bone (kept as label 1)")
    p.add_argument(
        "--arch-plane-mm", type=float, default=None, help="manual aorta/carotid plane (world z, mm)"
    )
    p.add_argument(
        "--skull-base-mm", type=float, default=None, help="manual carotid/intracranial plane (world z, mm)"
    )
    p.add_argument(
        "--arch-margin-mm", type=float, default=5.0, help="aorta label reaches this far above the arch roof"
    )
    p.add_argument(
        "--aorta-min-radius-mm", type=float, default=8.0, help="lumen radius only the aorta reaches"
    )
    p.add_argument("--no-regions", action="store_true", help="plain labels without the vessel region")


def _add_topcow(sub) -> None:
    p = sub.add_parser("topcow", help="TopCoW challenge folder -> raw dataset")
    p.add_argument("root", help="TopCoW folder (imagesTr / cow_seg_labelsTr, searched recursively)")
    _dataset_args(p)
    p.add_argument(
        "--modality", choices=("ct", "mr"), default="ct", help="which TopCoW modality (default ct)"
    )
    p.add_argument(
        "--keep-cow-classes", action="store_true", help="keep the 13 CoW classes (1..13) instead of 4"
    )


def _add_ncct_cta(sub) -> None:
    p = sub.add_parser("ncct-cta", help="NCCT + CTA + CTA labels -> NCCT dataset (registration)")
    p.add_argument("ncct", help="folder of NCCT images")
    p.add_argument("cta", help="folder of CTA images (same case names)")
    p.add_argument("cta_labels", help="folder of CTA label maps (same case names)")
    _dataset_args(p)
    p.add_argument("--min-bone-dice", type=float, default=0.75, help="reject a case below this bone Dice")
    p.add_argument("--bone-hu", type=float, default=500.0, help="bone threshold for the quality figure (HU)")
    p.add_argument("--iterations", type=int, default=200, help="optimiser iterations per level and stage")
    p.add_argument("--shrink", type=int, nargs="+", default=[4, 2, 1], help="pyramid shrink factors")
    p.add_argument("--sampling", type=float, default=0.1, help="fraction of voxels sampled by the metric")
    p.add_argument("--regions", action="store_true", help="declare the overlapping vessel region")


def _add_dsa(sub) -> None:
    p = sub.add_parser("dsa", help="3D-DSA fill + subtracted (or mask) volumes -> raw dataset")
    p.add_argument("fill", help="folder of fill volumes")
    p.add_argument("second", help="folder of subtracted volumes (or mask volumes with --mask-volumes)")
    _dataset_args(p)
    p.add_argument(
        "--mask-volumes", action="store_true", help="the second folder holds mask runs, not subtractions"
    )
    p.add_argument("--vessel-threshold", type=float, default=None, help="default: Otsu of the subtraction")
    p.add_argument(
        "--bone-threshold", type=float, default=None, help="default: two-level Otsu of the fill volume"
    )
    p.add_argument(
        "--min-vessel-mm3", type=float, default=10.0, help="drop vessel components below this volume"
    )
    p.add_argument("--min-bone-mm3", type=float, default=50.0, help="drop bone components below this volume")
    p.add_argument(
        "--vessel-label", type=int, choices=(2, 3, 4), default=4, help="label value of the vessels"
    )


def _dataset_kwargs(args: argparse.Namespace) -> dict:
    return {
        "dataset_id": args.dataset_id,
        "name": args.name,
        "output": args.output,
        "overwrite": args.overwrite,
        "strict": args.strict,
        "progress": not args.no_progress,
    }


def run(args: argparse.Namespace) -> int:
    source = args.source
    if source == "dicom":
        from nnunetv2_cta.conversion.dicom import convert_dicom

        summary = convert_dicom(
            args.input,
            args.output,
            select=args.select,
            modalities=tuple(args.modality or ("CT",)),
            uneven=args.uneven,
            allow_gaps=args.allow_gaps,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    elif source == "nifti-pairs":
        from nnunetv2_cta.conversion.common import parse_label_mapping
        from nnunetv2_cta.conversion.nifti_pairs import convert_nifti_pairs

        summary = convert_nifti_pairs(
            args.images,
            args.labels,
            label_mapping=parse_label_mapping(args.map_labels),
            min_component_mm3=args.min_component_mm3,
            regions=args.regions,
            rename=args.rename,
            **_dataset_kwargs(args),
        )
    elif source == "split-regions":
        from nnunetv2_cta.conversion.regions import convert_split_regions

        summary = convert_split_regions(
            args.images,
            args.masks,
            vessel_values=args.vessel_values,
            bone_value=args.bone_value,
            arch_plane_mm=args.arch_plane_mm,
            skull_base_mm=args.skull_base_mm,
            arch_margin_mm=args.arch_margin_mm,
            aorta_min_radius_mm=args.aorta_min_radius_mm,
            regions=not args.no_regions,
            **_dataset_kwargs(args),
        )
    elif source == "topcow":
        from nnunetv2_cta.conversion.topcow import convert_topcow

        summary = convert_topcow(
            args.root, modality=args.modality, keep_cow_classes=args.keep_cow_classes, **_dataset_kwargs(args)
        )
    elif source == "ncct-cta":
        from nnunetv2_cta.conversion.ncct_cta import convert_ncct_cta

        summary = convert_ncct_cta(
            args.ncct,
            args.cta,
            args.cta_labels,
            min_bone_dice=args.min_bone_dice,
            bone_hu=args.bone_hu,
            iterations=args.iterations,
            shrink=tuple(args.shrink),
            sampling=args.sampling,
            regions=args.regions,
            **_dataset_kwargs(args),
        )
    elif source == "dsa":
        from nnunetv2_cta.conversion.dsa import convert_dsa

        summary = convert_dsa(
            args.fill,
            args.second,
            second_is_mask=args.mask_volumes,
            vessel_threshold=args.vessel_threshold,
            bone_threshold=args.bone_threshold,
            min_vessel_mm3=args.min_vessel_mm3,
            min_bone_mm3=args.min_bone_mm3,
            vessel_label=args.vessel_label,
            **_dataset_kwargs(args),
        )
    else:  # pragma: no cover - argparse restricts the choices
        raise SystemExit(f"unknown source {source!r}")
    for line in summary.lines():
        print(line)
    return 0
