"""The label scheme shared by every modality, and the dataset.json that declares it to nnU-Net.

| value | name | meaning |
|---|---|---|
| 0 | background | everything else, including veins and soft tissue |
| 1 | bone | skull, skull base, mandible, vertebrae, clavicles (calcified plaque is not bone) |
| 2 | aorta | aortic arch and the origins of the supra-aortic trunks |
| 3 | carotid | neck arteries between the aortic region and the skull base (CCA/ICA/ECA, vertebral, subclavian) |
| 4 | intracranial | arteries above the skull base (petrous ICA onward, V4, basilar, Circle of Willis, branches) |

Region-based training (nnU-Net "regions") adds an overlapping ``vessels`` region = aorta + carotid +
intracranial so the network learns one connected tree across the region borders. nnU-Net converts region
outputs back to labels by writing, for each region in order, ``regions_class_order[i]`` wherever that
region's probability exceeds 0.5; later regions overwrite earlier ones. Our order is bone, vessels, aorta,
carotid, intracranial with class order ``(1, 3, 2, 3, 4)``: a voxel that is "vessel" but none of the
three vessel regions is written as carotid (the middle region); vessels overwrite bone where both fire,
because contrast-filled lumen next to bone is the case that matters.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError

BACKGROUND, BONE, AORTA, CAROTID, INTRACRANIAL = 0, 1, 2, 3, 4

#: name -> value, in label order.
LABELS: dict[str, int] = {
    "background": BACKGROUND,
    "bone": BONE,
    "aorta": AORTA,
    "carotid": CAROTID,
    "intracranial": INTRACRANIAL,
}
LABEL_NAMES: dict[int, str] = {v: k for k, v in LABELS.items()}
VESSEL_LABELS: tuple[int, ...] = (AORTA, CAROTID, INTRACRANIAL)

#: Region-based label declaration (dataset.json ``labels``) and its ``regions_class_order``.
REGION_LABELS: dict[str, int | list[int]] = {
    "background": BACKGROUND,
    "bone": BONE,
    "vessels": list(VESSEL_LABELS),
    "aorta": AORTA,
    "carotid": CAROTID,
    "intracranial": INTRACRANIAL,
}
REGIONS_CLASS_ORDER: tuple[int, ...] = (BONE, CAROTID, AORTA, CAROTID, INTRACRANIAL)

#: nnU-Net applies CT normalisation only to a channel named exactly this.
CT_CHANNEL_NAME = "CT"


def dataset_json(
    num_training: int,
    *,
    name: str,
    description: str = "",
    regions: bool = False,
    file_ending: str = ".nii.gz",
    extra: dict | None = None,
) -> dict:
    """Build an nnU-Net v2 dataset.json for our label scheme and one CT channel.

    Args:
        num_training: number of training cases (``imagesTr``), must be >= 1.
        name: dataset name written to the ``name`` field.
        regions: declare the overlapping ``vessels`` region (see module docstring).
        file_ending: ending of every image and label file, e.g. ``".nii.gz"``.
        extra: additional keys (e.g. ``{"cta": {...}}`` provenance); must not override nnU-Net keys.

    Example:
        >>> dataset_json(3, name="PhantomCTA")["labels"]["intracranial"]
        4
    """
    if int(num_training) < 1:
        raise DatasetFormatError(f"num_training must be >= 1, got {num_training!r}")
    out: dict = {
        "name": name,
        "description": description,
        "channel_names": {"0": CT_CHANNEL_NAME},
        "labels": dict(REGION_LABELS if regions else LABELS),
        "numTraining": int(num_training),
        "file_ending": file_ending,
    }
    if regions:
        out["regions_class_order"] = list(REGIONS_CLASS_ORDER)
    for key, value in (extra or {}).items():
        if key in out:
            raise DatasetFormatError(f"extra key {key!r} would override the nnU-Net field of that name")
        out[key] = value
    return out


def check_label_values(
    labels: np.ndarray, allowed: Iterable[int] = LABELS.values(), *, what: str = "label map"
) -> None:
    """Raise :class:`DatasetFormatError` if ``labels`` holds values outside ``allowed``, naming them."""
    allowed_set = {int(a) for a in allowed}
    present = {int(v) for v in np.unique(labels)}
    bad = sorted(present - allowed_set)
    if bad:
        raise DatasetFormatError(f"{what}: label values {bad} are not in the scheme {sorted(allowed_set)}")
