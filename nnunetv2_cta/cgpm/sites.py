"""Where the repair stage looks: the ends of the first stage's vessel tree, and the patches that cover them.

A break leaves two facing **vessel ends** (or an end and a vessel wall); so does a faded stretch and a dropped
segment. The repair network therefore runs only on patches centred on the dangling ends of the first stage's
vessel skeleton, not on a second pass over the whole volume:

- **ends**: skeleton voxels of the vessel mask with at most one 26-neighbour on the skeleton (a lone voxel is
  a fragment, an end on both sides). Ends within ``border`` voxels of the volume's edge are where the field
  of view cuts the tree, not breaks, and are left out.
- **facing ends** (optional, ``facing_ends``): an end is kept only when another piece of vessel lies in the
  box of ``radius`` voxels around it (a separate 26-connected component inside that box, so a break in a
  loop counts too). A vessel tip with nothing near it is a true end or a miss the repair cannot bridge.
- **patches**: greedy cover, in the order of the ends (z, y, x): an end already inside the central half of a
  chosen patch (``|offset| <= patch / 4`` on every axis) is covered, else a new patch is centred on it,
  shifted inside the volume where it would stick out. Facing ends closer than half a patch share one.

Example (a straight vessel along x with a two-voxel gap: four ends; with patches of 16 the facing ends at
x = 7 and 10 share the second patch, centred on x = 7):
    >>> import numpy as np
    >>> m = np.zeros((9, 9, 30), bool); m[4, 4, 1:8] = m[4, 4, 10:25] = True
    >>> [int(e[2]) for e in vessel_ends(m, border=1)]
    [1, 7, 10, 24]
    >>> [box[2] for box in patch_boxes(vessel_ends(m, border=1), m.shape, (8, 8, 16))]
    [slice(0, 16, None), slice(0, 16, None), slice(14, 30, None)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from nnunetv2_cta.errors import GeometryError
from nnunetv2_cta.evaluation.centerline import skeletonize


def vessel_ends(vessel: np.ndarray, border: int = 2) -> np.ndarray:
    """``(N, 3)`` indices of the dangling ends of the skeleton of ``vessel`` (module docstring), in C order."""
    vessel = np.asarray(vessel, dtype=bool)
    if vessel.ndim != 3:
        raise GeometryError(f"vessel mask must be 3D (z, y, x), got shape {vessel.shape}")
    skeleton = skeletonize(vessel)
    if not skeleton.any():
        return np.zeros((0, 3), dtype=np.int64)
    neighbours = (
        ndimage.convolve(skeleton.astype(np.uint8), np.ones((3, 3, 3), np.uint8), mode="constant") - 1
    )
    ends = np.argwhere(skeleton & (neighbours <= 1))
    inside = np.all((ends >= border) & (ends < np.array(vessel.shape) - border), axis=1)
    return ends[inside]


def facing_ends(vessel: np.ndarray, ends: np.ndarray, radius: int) -> np.ndarray:
    """The ``ends`` that face another piece of ``vessel`` within ``radius`` voxels (module docstring)."""
    import cc3d

    vessel = np.asarray(vessel, dtype=bool)
    keep = []
    for end in np.asarray(ends, dtype=np.int64).reshape(-1, 3):
        box = tuple(slice(max(int(c) - radius, 0), int(c) + radius + 1) for c in end)
        pieces = cc3d.connected_components(vessel[box], connectivity=26)
        own = pieces[tuple(int(c) - b.start for c, b in zip(end, box))]
        keep.append(bool(np.any((pieces > 0) & (pieces != own))))
    return np.asarray(ends, dtype=np.int64).reshape(-1, 3)[np.asarray(keep, dtype=bool)]


def patch_boxes(
    ends: np.ndarray, shape: Sequence[int], patch: Sequence[int]
) -> list[tuple[slice, slice, slice]]:
    """Patches of size ``patch`` inside a volume of ``shape`` that cover ``ends`` (module docstring)."""
    if len(shape) != 3 or len(patch) != 3 or min(patch) < 1:
        raise GeometryError(
            f"need a 3D shape and patch size, got {tuple(int(s) for s in shape)} and {tuple(int(p) for p in patch)}"
        )
    shape = np.asarray(shape, dtype=np.int64)
    patch = np.minimum(np.asarray(patch, dtype=np.int64), shape)
    centres: list[np.ndarray] = []
    for end in np.asarray(ends, dtype=np.int64).reshape(-1, 3):
        if any(np.all(np.abs(end - c) <= patch // 4) for c in centres):
            continue
        centres.append(end)
    boxes = []
    for c in centres:
        lo = np.clip(c - patch // 2, 0, shape - patch)
        boxes.append(tuple(slice(int(a), int(a + p)) for a, p in zip(lo, patch)))
    return boxes
