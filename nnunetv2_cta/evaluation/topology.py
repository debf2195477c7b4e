"""Topology metrics: Betti numbers and their errors, centerline Dice (clDice).

Betti numbers of a 3D binary mask, as used by the TopCoW (Yang et al., 2023/2025, "Benchmarking the CoW
with the TopCoW challenge") and TopBrain challenges:

- ``b0``: connected components of the foreground, 26-connectivity;
- ``b2``: cavities, i.e. components of the background (6-connectivity, the dual of 26) that do not touch
  the outside of the image;
- ``b1``: independent loops (handles), from the Euler characteristic χ = b0 - b1 + b2. χ is that of the
  union of the closed voxel cubes (the cubical complex whose connectivity is 26 for the foreground and 6 for
  the background), counted as χ = V - E + F - C over the vertices, edges, faces and cubes it contains
  (:func:`euler_characteristic`); this equals :func:`skimage.measure.euler_number` with
  ``connectivity=3`` (tested) and is several times faster.

The Betti error of order k is ``|b_k(prediction) - b_k(ground truth)|``.

clDice (Shit et al., "clDice - a novel topology-preserving loss function for tubular structure
segmentation", CVPR 2021): with S_P, S_G the skeletons of prediction and ground truth and V_P, V_G the
masks, topology precision Tprec = |S_P ∩ V_G| / |S_P|, topology sensitivity Tsens = |S_G ∩ V_P| / |S_G|,
clDice = 2 Tprec Tsens / (Tprec + Tsens). Skeletons are voxel skeletons from
:func:`nnunetv2_cta.evaluation.centerline.skeletonize`. Conventions: both masks empty -> 1.0; exactly one
empty -> 0.0 (Tprec/Tsens of the empty side count as 0 unless both are empty).
"""

from __future__ import annotations

import cc3d
import numpy as np

from nnunetv2_cta._arrays import bounding_box
from nnunetv2_cta.evaluation._crop import as_mask, check_pair, padded
from nnunetv2_cta.evaluation.centerline import skeletonize


def euler_characteristic(mask: np.ndarray) -> int:
    """Euler characteristic of the union of the closed voxel cubes of a 3D mask (26-connected foreground).

    χ = V - E + F - C, with C the foreground voxels and V, E, F the lattice vertices, edges and faces that
    touch at least one foreground voxel. The mask must have a background border of one voxel (or touch
    nothing at the array border); :func:`betti_numbers` pads it.

    Example: one voxel has V, E, F, C = 8, 12, 6, 1, so χ = 1; a solid torus has χ = 0.
    """
    m = as_mask(mask, "mask")
    cubes = int(np.count_nonzero(m))
    faces = edges = 0
    vertices = 0
    a_z = m[:-1] | m[1:]  # faces normal to z: between two voxels along z
    faces += int(np.count_nonzero(a_z))
    b = a_z[:, :-1] | a_z[:, 1:]  # edges along x: four voxels around them in (z, y)
    edges += int(np.count_nonzero(b))
    vertices = int(np.count_nonzero(b[:, :, :-1] | b[:, :, 1:]))
    del a_z, b
    a_y = m[:, :-1] | m[:, 1:]
    faces += int(np.count_nonzero(a_y))
    edges += int(np.count_nonzero(a_y[:, :, :-1] | a_y[:, :, 1:]))  # edges along z
    del a_y
    a_x = m[:, :, :-1] | m[:, :, 1:]
    faces += int(np.count_nonzero(a_x))
    edges += int(np.count_nonzero(a_x[:-1] | a_x[1:]))  # edges along y
    return vertices - edges + faces - cubes


def betti_numbers(mask: np.ndarray) -> tuple[int, int, int]:
    """Betti numbers ``(b0, b1, b2)`` of a 3D mask (26-connected foreground, 6-connected background).

    Example: a solid torus (ring) has ``(1, 1, 0)``; a hollow sphere ``(1, 0, 1)``; two balls ``(2, 0, 0)``.
    """
    mask = as_mask(mask, "mask")
    box = bounding_box(mask)
    if box is None:
        return 0, 0, 0
    crop = padded(mask, box, 1)
    _, b0 = cc3d.connected_components(crop, connectivity=26, return_N=True)
    _, n_background = cc3d.connected_components(~crop, connectivity=6, return_N=True)
    b2 = int(n_background) - 1  # the padding ring makes the outside one component
    chi = euler_characteristic(crop)
    b1 = int(b0) + b2 - chi
    return int(b0), b1, b2


def betti0(mask: np.ndarray) -> int:
    """Number of 26-connected components of a 3D mask."""
    mask = as_mask(mask, "mask")
    return int(cc3d.connected_components(mask, connectivity=26, return_N=True)[1]) if mask.any() else 0


def betti_errors(gt: np.ndarray, pred: np.ndarray, *, orders: tuple[int, ...] = (0, 1, 2)) -> dict[str, int]:
    """Betti numbers of both masks and their absolute differences.

    Args:
        orders: which Betti numbers to report; ``(0,)`` needs one connected-component pass per mask only.

    Returns:
        ``betti{k}_ref``, ``betti{k}_pred`` and ``betti{k}_error`` for k in ``orders``.
    """
    gt_mask, pred_mask = check_pair(gt, pred)
    if tuple(orders) == (0,):
        ref, prd = (betti0(gt_mask), 0, 0), (betti0(pred_mask), 0, 0)
    else:
        ref, prd = betti_numbers(gt_mask), betti_numbers(pred_mask)
    out: dict[str, int] = {}
    for k in orders:
        out[f"betti{k}_ref"] = ref[k]
        out[f"betti{k}_pred"] = prd[k]
        out[f"betti{k}_error"] = abs(prd[k] - ref[k])
    return out


def cldice_scores(
    gt: np.ndarray,
    pred: np.ndarray,
    *,
    gt_skeleton: np.ndarray | None = None,
    pred_skeleton: np.ndarray | None = None,
) -> dict[str, float]:
    """clDice with its two halves: ``cl_precision`` (Tprec), ``cl_sensitivity`` (Tsens) and ``cldice``.

    Precomputed skeletons (same shape as the masks) may be passed to avoid recomputing them.
    """
    gt_mask, pred_mask = check_pair(gt, pred)
    gt_empty, pred_empty = not gt_mask.any(), not pred_mask.any()
    if gt_empty or pred_empty:
        value = 1.0 if gt_empty and pred_empty else 0.0
        return {"cl_precision": value, "cl_sensitivity": value, "cldice": value}
    s_gt = skeletonize(gt_mask) if gt_skeleton is None else as_mask(gt_skeleton, "ground-truth skeleton")
    s_pred = (
        skeletonize(pred_mask) if pred_skeleton is None else as_mask(pred_skeleton, "prediction skeleton")
    )
    n_sp, n_sg = int(np.count_nonzero(s_pred)), int(np.count_nonzero(s_gt))
    tprec = float(np.count_nonzero(s_pred & gt_mask)) / n_sp if n_sp else 0.0
    tsens = float(np.count_nonzero(s_gt & pred_mask)) / n_sg if n_sg else 0.0
    cl = 2.0 * tprec * tsens / (tprec + tsens) if tprec + tsens > 0 else 0.0
    return {"cl_precision": tprec, "cl_sensitivity": tsens, "cldice": cl}


def cldice(gt: np.ndarray, pred: np.ndarray) -> float:
    """Centerline Dice (Shit et al., CVPR 2021) of two 3D masks; see the module docstring."""
    return cldice_scores(gt, pred)["cldice"]
