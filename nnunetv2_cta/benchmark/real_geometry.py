"""The benchmark's real-geometry dataset: real vessel trees rendered into CTAs, scored like the phantoms.

Every method of the benchmark is also scored on vessel geometry that is not the project's own phantom. The
cases are made from the real data beside the project (``../shared/data/real``, see its README; never shipped
with the package):

- ``topcow_ct_roi_*`` and ``topcow_mr_roi_*``: real Circle-of-Willis label maps (TopCoW challenge), every
  artery class merged into one lumen mask;
- ``avm_head_cta``: a real bone-free head CT angiogram (values 0..563, not HU) thresholded at
  :data:`AVM_THRESHOLD` (islands under :data:`AVM_MIN_ISLAND` voxels dropped): the whole intracranial tree
  with an arteriovenous malformation.

Each mask is rendered into a CTA on its own grid by
:func:`~nnunetv2_cta.phantom.real_geometry.render_from_vessel_mask` (lumen, wall and soft tissue in HU, noise;
seeded per case) and labelled intracranial. There is no bone and no neck: bone Dice is not defined and the
aorta/carotid regions are absent, so read the ``vessels`` and ``intracranial`` rows. These cases are
held-out only; the networks scored on them are the ones trained on the ``phantom_cta`` dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError

#: bone-free AVM angiogram value above which a voxel is lumen (its median non-zero value is about 177)
AVM_THRESHOLD = 150.0
#: connected islands of the thresholded AVM mask smaller than this (voxels) are dropped as noise
AVM_MIN_ISLAND = 50
#: environment variable naming the real data folder (default: ``../shared/data/real`` beside the repository)
REAL_DATA_ENV = "NNUNETV2_CTA_REAL_DATA"


def default_real_data_dir() -> Path:
    """``$NNUNETV2_CTA_REAL_DATA``, else ``../shared/data/real`` next to the repository of this package."""
    env = os.environ.get(REAL_DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def real_geometry_sources(data_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    """``[(case name, file)]`` of the real vessel masks found under ``data_dir`` (empty when none is there)."""
    data_dir = Path(data_dir)
    found = [
        (p.name.split(".")[0], p)
        for pattern in ("topcow/topcow_ct_roi_*.nii.gz", "topcow/topcow_mr_roi_*.nii.gz")
        for p in sorted(data_dir.glob(pattern))
    ]
    avm = data_dir / "avm_head_cta" / "AVM.nii.gz"
    if avm.is_file():
        found.append(("avm_head_cta", avm))
    return found


def vessel_mask(name: str, values: np.ndarray) -> np.ndarray:
    """The lumen mask of one source: label maps -> nonzero; the AVM angiogram -> thresholded, islands dropped."""
    if name != "avm_head_cta":
        return np.asarray(values) != 0
    import cc3d

    mask = np.asarray(values) > AVM_THRESHOLD
    return cc3d.dust(mask, threshold=AVM_MIN_ISLAND, connectivity=26)


def write_real_geometry_dataset(
    folder: str | os.PathLike, data_dir: str | os.PathLike, *, dataset_id: int, name: str, seed: int = 0
) -> list[str]:
    """Render every real vessel mask of ``data_dir`` into ``folder/imagesTs`` + ``labelsTs`` (nnU-Net layout).

    Returns:
        the case names written.

    Raises:
        DatasetFormatError: ``data_dir`` holds none of the expected files.
    """
    from nnunetv2_cta.io import read_image, write_image, write_json_atomic
    from nnunetv2_cta.labels import LABELS
    from nnunetv2_cta.phantom import render_from_vessel_mask

    sources = real_geometry_sources(data_dir)
    if not sources:
        raise DatasetFormatError(
            f"no real vessel masks in {str(data_dir)!r}: expected topcow/topcow_*_roi_*.nii.gz or "
            f"avm_head_cta/AVM.nii.gz (set {REAL_DATA_ENV} to the real data folder)"
        )
    folder = Path(folder)
    (folder / "imagesTs").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTs").mkdir(parents=True, exist_ok=True)
    for i, (case, path) in enumerate(sources):
        values, geometry = read_image(path)
        rendered = render_from_vessel_mask(vessel_mask(case, values), geometry, seed=seed + i)
        write_image(folder / "imagesTs" / f"{case}_0000.nii.gz", rendered.image, rendered.geometry)
        write_image(folder / "labelsTs" / f"{case}.nii.gz", rendered.labels, rendered.geometry)
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
