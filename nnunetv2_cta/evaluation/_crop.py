"""Shared helpers: argument checks and cropping to the bounding box of ground truth ∪ prediction.

Every expensive operation of :mod:`nnunetv2_cta.evaluation` (skeletons, distance transforms, Euler numbers)
runs on a crop around the structures instead of the whole volume: a head-and-neck vessel tree fills a few
per cent of a 512x512x600 scan, so this is what makes a clinical-size case take seconds. Crops are padded
with a ring of background voxels, so objects touching the image border still have a surface there and the
background outside an object is one connected component.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnunetv2_cta._arrays import bounding_box
from nnunetv2_cta.errors import GeometryError


def as_mask(array: np.ndarray, what: str) -> np.ndarray:
    """A 3D boolean view of ``array`` (non-zero = foreground)."""
    array = np.asarray(array)
    if array.ndim != 3:
        raise GeometryError(f"{what} must be a 3D [z, y, x] array, got shape {array.shape}")
    return array if array.dtype == bool else array != 0


def check_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of ``gt`` and ``pred`` after checking that they have one 3D shape."""
    gt_mask, pred_mask = as_mask(gt, "ground truth"), as_mask(pred, "prediction")
    if gt_mask.shape != pred_mask.shape:
        raise GeometryError(f"prediction shape {pred_mask.shape} != ground-truth shape {gt_mask.shape}")
    return gt_mask, pred_mask


def padded(mask: np.ndarray, box: tuple[slice, slice, slice], pad: int = 1) -> np.ndarray:
    """``mask[box]`` with ``pad`` background voxels on every side, ``bool`` (faster than ``np.pad``).

    Returns ``mask`` itself (no copy) when it already is such a crop; callers must not modify the result.
    """
    if pad == 1 and all(b.start == 1 and b.stop == n - 1 for b, n in zip(box, mask.shape)):
        return mask.astype(bool, copy=False)  # already a tight crop with a background border: no copy
    sub = mask[box]
    out = np.zeros(tuple(n + 2 * pad for n in sub.shape), dtype=bool)
    out[pad : pad + sub.shape[0], pad : pad + sub.shape[1], pad : pad + sub.shape[2]] = sub
    return out


def interior(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels whose six face neighbours are all foreground (outside the array = background)."""
    inner = mask.copy()
    inner[0], inner[-1] = False, False
    inner[:, 0], inner[:, -1] = False, False
    inner[:, :, 0], inner[:, :, -1] = False, False
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    inner[:, :, 1:] &= mask[:, :, :-1]
    inner[:, :, :-1] &= mask[:, :, 1:]
    return inner


@dataclass(frozen=True)
class Crop:
    """A padded crop of a pair of masks.

    Attributes:
        gt, pred: the cropped boolean masks, each with ``pad`` background voxels on every side.
        offset: index (z, y, x) in the full volume of crop voxel ``[0, 0, 0]`` (may be negative: padding).
        full_shape: shape of the full volume.
    """

    gt: np.ndarray
    pred: np.ndarray
    offset: tuple[int, int, int]
    full_shape: tuple[int, int, int]

    def to_full_index(self, index_zyx: np.ndarray) -> np.ndarray:
        """Crop indices ``(..., 3)`` -> full-volume indices."""
        return np.asarray(index_zyx) + np.asarray(self.offset)


def crop_pair(gt_mask: np.ndarray, pred_mask: np.ndarray, *, pad: int = 1) -> Crop | None:
    """Crop both masks to the bounding box of ``gt | pred`` and pad them with ``pad`` background voxels.

    Returns ``None`` when both masks are empty.
    """
    union_box = _union_box(gt_mask, pred_mask)
    if union_box is None:
        return None
    gt_c = padded(gt_mask, union_box, pad)
    pred_c = padded(pred_mask, union_box, pad)
    offset = tuple(int(s.start) - pad for s in union_box)
    return Crop(gt=gt_c, pred=pred_c, offset=offset, full_shape=tuple(gt_mask.shape))  # type: ignore[arg-type]


def _union_box(a: np.ndarray, b: np.ndarray) -> tuple[slice, slice, slice] | None:
    box_a, box_b = bounding_box(a), bounding_box(b)
    if box_a is None:
        return box_b
    if box_b is None:
        return box_a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(box_a, box_b))  # type: ignore[return-value]


def image_diagonal_mm(shape: tuple[int, ...], spacing: tuple[float, float, float]) -> float:
    """Length in mm of the diagonal of a volume of ``shape`` voxels: the largest distance inside it."""
    return float(np.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing))))
