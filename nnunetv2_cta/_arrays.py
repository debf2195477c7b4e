"""Pure-numpy argument helpers shared by the inner rings (:mod:`~nnunetv2_cta.evaluation`,
:mod:`~nnunetv2_cta.reconstruction`); imports nothing of torch or nnunetv2.

Array convention: volumes are ``[z, y, x]``; spacing ``(sz, sy, sx)`` in mm in the same order.
"""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.errors import SpacingError


def as_spacing(spacing) -> tuple[float, float, float]:
    """Check a ``(z, y, x)`` spacing in mm and return it as three floats.

    Raises:
        SpacingError: not three positive finite numbers, e.g. ``as_spacing((1, 0, 1))``.
    """
    try:
        values = tuple(float(s) for s in spacing)
    except (TypeError, ValueError) as err:
        raise SpacingError(
            f"spacing must be three positive numbers (z, y, x) in mm, got {spacing!r}"
        ) from err
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise SpacingError(f"spacing must be three positive finite numbers (z, y, x) in mm, got {spacing!r}")
    return values  # type: ignore[return-value]


def bounding_box(mask: np.ndarray, pad=0) -> tuple[slice, slice, slice] | None:
    """Bounding box of the non-zero voxels of a 3D mask, widened by ``pad`` voxels (int or per axis).

    The box is clipped to the array, its bounds are Python ints; ``None`` when the mask is empty. Example: a mask with voxels at
    ``[2, 3, 4]`` and ``[5, 3, 6]`` gives ``(slice(2, 6), slice(3, 4), slice(4, 7))`` (``pad=0``).
    """
    pads = [int(p) for p in np.broadcast_to(np.asarray(pad, dtype=int), (3,))]
    box = []
    for axis in range(3):
        hits = np.flatnonzero(np.any(mask, axis=tuple(a for a in range(3) if a != axis)))
        if hits.size == 0:
            return None
        box.append(
            slice(max(int(hits[0]) - pads[axis], 0), min(int(hits[-1]) + 1 + pads[axis], mask.shape[axis]))
        )
    return tuple(box)  # type: ignore[return-value]
