"""Bone removal for display: the CTA with the bone label replaced by soft tissue.

A classic display step of head-and-neck CTA (bone-subtracted MIP): with the skull, skull base and spine
gone, a maximum intensity projection shows the contrast-filled arteries only. The bone label is widened by
``margin_mm`` to catch the partial-volume rim (voxels just outside the cortex that are still brighter than
soft tissue), but voxels labelled as vessel are never touched, so a carotid in the carotid canal or a
vertebral artery in the transverse foramina keeps its HU.
"""

from __future__ import annotations

import logging

import edt
import numpy as np

from nnunetv2_cta._arrays import bounding_box
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import BONE, VESSEL_LABELS
from nnunetv2_cta.reconstruction._common import as_volume, check_same_shape, spacing_mm

logger = logging.getLogger(__name__)

#: Soft-tissue HU used when no body voxel is found to take the median of.
DEFAULT_FILL_HU = 40.0


def soft_tissue_hu(ct: np.ndarray, labels: np.ndarray, *, bone_label: int = BONE) -> float:
    """Median HU of body voxels that are neither bone nor vessel nor air (-300 < HU < 200), e.g. ~40.

    Every second voxel along each axis is used (1/8 of the volume): a median does not need them all.
    """
    sub = (slice(None, None, 2),) * 3
    c, lab = ct[sub], labels[sub]
    body = (lab != bone_label) & ~np.isin(lab, VESSEL_LABELS) & (c > -300) & (c < 200)
    if not body.any():
        logger.warning(
            "no soft-tissue voxels (-300..200 HU) found; filling bone with %.0f HU", DEFAULT_FILL_HU
        )
        return DEFAULT_FILL_HU
    return float(np.median(c[body]))


def bone_free_ct(
    ct: np.ndarray,
    labels: np.ndarray,
    spacing,
    *,
    bone_label: int = BONE,
    margin_mm: float = 1.0,
    fill_hu: float | None = None,
) -> np.ndarray:
    """A copy of ``ct`` with bone replaced by soft tissue (for bone-free MIPs and volume renderings).

    Args:
        ct: CT ``[z, y, x]`` in HU (any real dtype).
        labels: label map on the same grid (1 bone, 2-4 vessels, see :mod:`nnunetv2_cta.labels`).
        spacing: voxel size ``(z, y, x)`` in mm (or a :class:`~nnunetv2_cta.io.Geometry`).
        bone_label: the label value of bone.
        margin_mm: the bone label is dilated by this distance (mm, anisotropic spacing honoured) to remove
            the bright partial-volume rim around the cortex, and always at least to its 26-neighbours
            (partial volume reaches them whatever the voxel size); 0 turns the rim off.
        fill_hu: HU written in place of bone; ``None``: the median HU of non-bone, non-vessel body voxels
            (:func:`soft_tissue_hu`).

    Returns:
        ``int16`` when ``ct`` is ``int16``, else ``float32``, same shape. Inside the (dilated) bone every
        voxel becomes ``min(ct, fill_hu)``: bright bone takes the soft-tissue value, darker voxels (air in a
        sinus, fat) keep theirs, so no voxel of the bone label stays brighter than ``fill_hu``. Voxels
        labelled as vessel (2, 3, 4) are unchanged.

    Example:
        A 1000 HU slab labelled 1 next to a 400 HU tube labelled 3 in 40 HU tissue: the slab becomes 40 HU,
        the tube stays 400 HU.
    """
    ct = as_volume(ct, "ct")
    labels = as_volume(labels, "labels")
    check_same_shape(ct, labels, "ct", "labels")
    sp = spacing_mm(spacing)
    if not np.isfinite(margin_mm) or margin_mm < 0:
        raise ConfigurationError(f"margin_mm must be a non-negative number of mm, got {margin_mm!r}")
    if fill_hu is None:
        fill_hu = soft_tissue_hu(ct, labels, bone_label=bone_label)
    elif not np.isfinite(fill_hu):
        raise ConfigurationError(f"fill_hu must be a finite HU value or None, got {fill_hu!r}")
    out_dtype = np.int16 if ct.dtype == np.int16 else np.float32
    out = ct.astype(out_dtype, copy=True)
    bone = labels == bone_label
    if not bone.any():
        return out
    if margin_mm > 0:
        # distance (mm) of every voxel to the nearest bone voxel: computed on the bone's bounding box only
        # partial volume always reaches the 26-neighbours of a bone voxel: the rim is at least that wide
        reach = max(float(margin_mm), float(np.linalg.norm(sp)) * 1.001)
        pad = np.ceil(reach / sp).astype(int) + 1
        box = bounding_box(bone, pad)
        dist = edt.edt(~bone[box], anisotropy=tuple(float(s) for s in sp), black_border=False)
        remove = np.zeros_like(bone)
        remove[box] = dist <= reach
    else:
        remove = bone
    remove &= ~np.isin(labels, VESSEL_LABELS)
    fill = np.asarray(fill_hu).astype(out_dtype)
    out[remove] = np.minimum(out[remove], fill)
    return out
