"""Per-voxel training targets derived from a vessel mask: skeleton and centerline weight map (numpy).

Units are voxels of the array passed in (the nnU-Net patch after spatial augmentation); the arrays are
indexed ``[z, y, x]`` like the rest of the project, though nothing here depends on the axis order.

Centerline weight map (used by the centerline-weighted soft Dice of ``nnUNetTrainerCTA``)::

    w(v) = 1 + alpha * (r_ref / rho(v))**2 * exp(-d(v)**2 / (2 * (beta * rho(v))**2))

- ``d(v)``: Euclidean distance (voxels) from ``v`` to its nearest ground-truth centerline (skeleton) voxel
  ``s(v)`` (nearest in the taxicab metric, which is what scipy's fast feature transform finds; it is the
  Euclidean-nearest one for a straight vessel and off by at most a voxel or two near branch points);
- ``rho(v) = max(edt(s(v)) - 0.5, 0.5)``: the local vessel radius at that centerline voxel, from the
  distance transform of the mask (distance to the nearest background voxel centre, minus half a voxel to
  reach the wall), so a one-voxel-wide line has radius 0.5;
- ``beta`` sets the width of the bump as a fraction of the local radius (0.5: the weight falls to
  ``exp(-2)`` of its peak at the vessel wall);
- ``(r_ref / rho)**2`` is the calibre normalisation: the bump's integral over a vessel cross-section is
  ``M = 2 * pi * beta**2 * alpha * r_ref**2`` per unit centerline length (100.5 voxels with the defaults),
  the same for every radius. A break (a missed segment of length L) therefore costs ``(M + pi rho**2) L`` of
  weight, where a plain Dice charges ``pi rho**2 L`` (100 times less for a 1-voxel branch than for a
  10-voxel trunk). The constant 1 keeps every voxel, background included, in play; breaks cost about the
  same in thin and thick vessels while ``pi rho**2 << M``, i.e. ``rho << beta * r_ref * sqrt(2 * alpha)``
  (5.7 voxels with the defaults ``alpha=16, beta=0.5, r_ref=2``), which covers the thin arteries where breaks
  happen; the aorta keeps its ordinary (large) Dice share.

Far from every centerline (``d >> beta * rho``) the weight is 1; its maximum is
``1 + alpha * (r_ref / 0.5)**2`` (257 with the defaults) on the centerline of a one-voxel vessel.
"""

from __future__ import annotations

import edt
import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from nnunetv2_cta.errors import ConfigurationError

_BALL1 = ndi.generate_binary_structure(3, 1)


def _check_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3):
        raise ConfigurationError(f"mask must be a 2D or 3D array, got shape {mask.shape!r}")
    return mask.astype(bool, copy=False)


def vessel_skeleton(mask: np.ndarray, *, dilate: int = 0) -> np.ndarray:
    """Binary centerline of ``mask`` (skimage ``skeletonize``, Lee's 3D thinning), optionally "tubed".

    Args:
        mask: 2D or 3D binary vessel mask.
        dilate: number of dilations with the 6-connected (radius-1) structuring element, kept inside the
            mask; Kirchhoff et al. (ECCV 2024) dilate the skeleton ("tubed skeleton") so that it survives
            the nearest-neighbour downsampling of deep supervision. 0 = thin skeleton.

    Returns:
        bool array of the mask's shape; empty where the mask is empty.
    """
    mask = _check_mask(mask)
    if int(dilate) < 0:
        raise ConfigurationError(f"dilate must be >= 0, got {dilate!r}")
    if not mask.any():
        return np.zeros(mask.shape, bool)
    skel = skeletonize(mask).astype(bool)
    if dilate:
        structure = _BALL1 if mask.ndim == 3 else ndi.generate_binary_structure(2, 1)
        skel = ndi.binary_dilation(skel, structure, iterations=int(dilate), mask=mask)
    return skel


def centerline_weight_map(
    mask: np.ndarray,
    *,
    alpha: float = 16.0,
    beta: float = 0.5,
    r_ref: float = 2.0,
    skeleton: np.ndarray | None = None,
) -> np.ndarray:
    """Centerline weight map of a vessel mask (formula and parameters in the module docstring).

    Args:
        mask: 2D or 3D binary vessel mask (union of all vessel labels of the patch).
        alpha: peak height of the bump for a vessel of radius ``r_ref``, >= 0.
        beta: bump width as a fraction of the local radius, > 0.
        r_ref: reference radius in voxels, > 0.
        skeleton: precomputed skeleton of ``mask`` (else computed with :func:`vessel_skeleton`).

    Returns:
        float32 weights >= 1 of the mask's shape; all ones when the mask is empty.
    """
    mask = _check_mask(mask)
    if not alpha >= 0:
        raise ConfigurationError(f"alpha must be >= 0, got {alpha!r}")
    if not beta > 0:
        raise ConfigurationError(f"beta must be > 0, got {beta!r}")
    if not r_ref > 0:
        raise ConfigurationError(f"r_ref must be > 0, got {r_ref!r}")
    if skeleton is not None and np.shape(skeleton) != mask.shape:
        raise ConfigurationError(f"skeleton shape {np.shape(skeleton)} must equal mask shape {mask.shape}")
    out = np.ones(mask.shape, np.float32)
    if not mask.any() or alpha == 0:
        return out
    radius = edt.edt(mask, parallel=1)
    # the bump is below 3.4e-4 of its peak beyond 4 beta rho: work in the mask's bounding box plus that margin
    margin = int(np.ceil(4 * beta * max(float(radius.max()) - 0.5, 0.5))) + 1
    nz = np.nonzero(mask)
    box = tuple(slice(max(int(i.min()) - margin, 0), int(i.max()) + margin + 1) for i in nz)
    skel = vessel_skeleton(mask[box]) if skeleton is None else np.asarray(skeleton, bool)[box]
    if not skel.any():
        return out
    # nearest centerline voxel by the taxicab feature transform (8x faster than scipy's Euclidean one with
    # indices on 128^3, measured), then the exact Euclidean distance to that voxel
    idx = ndi.distance_transform_cdt(~skel, metric="taxicab", return_indices=True)[1]
    dist2 = np.zeros(skel.shape, np.float32)
    for axis in range(skel.ndim):
        coords = np.arange(skel.shape[axis], dtype=np.float32).reshape(
            [-1 if a == axis else 1 for a in range(skel.ndim)]
        )
        dist2 += (idx[axis] - coords) ** 2
    rho = np.maximum(radius[box][tuple(idx)] - 0.5, 0.5)
    out[box] = 1.0 + alpha * (r_ref / rho) ** 2 * np.exp(-dist2 / (2.0 * (beta * rho) ** 2))
    return out
