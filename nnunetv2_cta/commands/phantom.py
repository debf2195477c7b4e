"""``nnunetv2_cta phantom``: write a digital head-and-neck angiography phantom as an nnU-Net raw dataset."""

from __future__ import annotations

import argparse

NAME = "phantom"
HELP = "generate synthetic head-and-neck CTA / NCCT / 3D-DSA cases with exact labels as an nnU-Net dataset"


def _pathology_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality", default="cta", help="cta, ncct or dsa (default: cta)")
    parser.add_argument("--cases", type=int, default=20, help="number of training cases (default: 20)")
    parser.add_argument("--test-cases", type=int, default=5, help="number of test cases (default: 5)")
    parser.add_argument("-d", "--dataset-id", type=int, default=501, help="nnU-Net dataset id (default: 501)")
    parser.add_argument("-n", "--name", default="PhantomCTA", help="dataset name (default: PhantomCTA)")
    parser.add_argument("--preset", default="train", help="tiny, train or clinical (default: train)")
    parser.add_argument(
        "--spacing", type=float, default=None, help="isotropic voxel size in mm (default: from the preset)"
    )
    parser.add_argument(
        "--fov",
        type=float,
        nargs=3,
        metavar=("Z", "Y", "X"),
        default=None,
        help="field of view in mm (default: from the preset; CTA/NCCT neck-to-vertex, DSA head only)",
    )
    parser.add_argument(
        "--late-phase",
        action="store_true",
        default=None,
        help="CTA: veins as bright as arteries in every case (default: drawn per case, 20 %%)",
    )
    parser.add_argument(
        "--misregistration",
        type=float,
        default=None,
        metavar="MM",
        help="DSA: shift of the mask run in mm (default: drawn per case, 0.1-0.5)",
    )
    parser.add_argument(
        "--pathologies",
        type=_pathology_list,
        default=[],
        help="comma-separated: stenosis, occlusion, aneurysm, calcified_plaque, low_flow, stent, dental_fillings, coil",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base seed (default: 0); same seed and version give identical files",
    )
    parser.add_argument(
        "--regions", action="store_true", help="declare the overlapping 'vessels' region in dataset.json"
    )
    parser.add_argument(
        "-o", "--output", default=None, help="dataset folder (default: $nnUNet_raw/DatasetXXX_Name)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing dataset folder of the same name"
    )
    parser.add_argument(
        "--preview",
        action="store_true",
        help="also write MIP PNGs of the first case in every modality to <dataset>/previews",
    )
    parser.epilog = (
        "Writes imagesTr/labelsTr/imagesTs/labelsTs (NIfTI, int16 HU / uint8 labels 0 background, 1 bone, 2 aorta, "
        "3 carotid, 4 intracranial), graphsTr/graphsTs (vessel centreline graphs as JSON) and dataset.json."
    )


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.io import check_output_folder
    from nnunetv2_cta.phantom.writer import write_dataset

    if args.output is not None:
        check_output_folder(args.output, what="dataset folder")

    out = write_dataset(
        args.output,
        modality=args.modality,
        cases=args.cases,
        test_cases=args.test_cases,
        dataset_id=args.dataset_id,
        name=args.name,
        spacing=args.spacing,
        fov=tuple(args.fov) if args.fov else None,
        late_phase=args.late_phase,
        misregistration_mm=args.misregistration,
        preset=args.preset,
        pathologies=args.pathologies,
        seed=args.seed,
        regions=args.regions,
        overwrite=args.overwrite,
        progress=True,
        preview=args.preview,
    )
    print(out)
    return 0
