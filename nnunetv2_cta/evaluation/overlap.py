"""Overlap metrics: Dice, IoU, precision, recall and volumes.

Inputs are 3D boolean masks (any non-zero value counts as foreground) of one shape, indexed ``[z, y, x]``.

Empty-side conventions (no metric ever returns NaN):

- Dice and IoU of an empty prediction against an empty ground truth are 1.0 (nothing to find, nothing
  found); if exactly one side is empty they are 0.0.
- Precision (positive predictive value) of an empty prediction is 1.0 when the ground truth is empty too,
  else 0.0; recall (sensitivity) against an empty ground truth is 1.0 when the prediction is empty too,
  else 0.0. An empty side is scored as a failure unless both are empty.

:func:`nnunetv2_cta.evaluation.evaluate_case` logs a WARNING whenever one of these conventions is used.
"""

from __future__ import annotations

import numpy as np

from nnunetv2_cta._arrays import as_spacing
from nnunetv2_cta.evaluation._crop import check_pair


def confusion(gt: np.ndarray, pred: np.ndarray) -> dict[str, int]:
    """Voxel counts ``tp``, ``fp``, ``fn``, ``n_ref`` (= tp + fn) and ``n_pred`` (= tp + fp)."""
    gt_mask, pred_mask = check_pair(gt, pred)
    n_ref = int(np.count_nonzero(gt_mask))
    n_pred = int(np.count_nonzero(pred_mask))
    tp = int(np.count_nonzero(gt_mask & pred_mask)) if n_ref and n_pred else 0
    return {"tp": tp, "fp": n_pred - tp, "fn": n_ref - tp, "n_ref": n_ref, "n_pred": n_pred}


def _ratio(num: int, den: int, *, empty: float) -> float:
    return float(num) / float(den) if den else empty


def dice(gt: np.ndarray, pred: np.ndarray) -> float:
    """Dice similarity coefficient 2|G∩P| / (|G| + |P|); 1.0 when both masks are empty.

    Example:
        >>> import numpy as np
        >>> g = np.zeros((1, 1, 4), bool); g[..., :2] = True
        >>> p = np.zeros((1, 1, 4), bool); p[..., 1:] = True
        >>> round(dice(g, p), 3)  # 2*1 / (2 + 3)
        0.4
    """
    c = confusion(gt, pred)
    return _ratio(2 * c["tp"], c["n_ref"] + c["n_pred"], empty=1.0)


def iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """Intersection over union |G∩P| / |G∪P|; 1.0 when both masks are empty."""
    c = confusion(gt, pred)
    return _ratio(c["tp"], c["tp"] + c["fp"] + c["fn"], empty=1.0)


def precision(gt: np.ndarray, pred: np.ndarray) -> float:
    """|G∩P| / |P|; for an empty prediction 1.0 if the ground truth is empty, else 0.0."""
    c = confusion(gt, pred)
    return _ratio(c["tp"], c["n_pred"], empty=1.0 if c["n_ref"] == 0 else 0.0)


def recall(gt: np.ndarray, pred: np.ndarray) -> float:
    """Sensitivity |G∩P| / |G|; against an empty ground truth 1.0 if the prediction is empty, else 0.0."""
    c = confusion(gt, pred)
    return _ratio(c["tp"], c["n_ref"], empty=1.0 if c["n_pred"] == 0 else 0.0)


def overlap_metrics(gt: np.ndarray, pred: np.ndarray, spacing) -> dict[str, float | int]:
    """All overlap metrics of one mask pair in one pass.

    Args:
        gt, pred: 3D masks ``[z, y, x]`` of one shape.
        spacing: voxel size ``(z, y, x)`` in mm, used for the volumes.

    Returns:
        ``tp, fp, fn, n_ref, n_pred`` (voxels), ``dice, iou, precision, recall`` (0..1, conventions in the
        module docstring), ``volume_ref_ml, volume_pred_ml`` and ``volume_difference_ml`` (pred - ref, mL).
    """
    spacing = as_spacing(spacing)
    c = confusion(gt, pred)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    ref_empty, pred_empty = c["n_ref"] == 0, c["n_pred"] == 0
    out: dict[str, float | int] = dict(c)
    out["dice"] = _ratio(2 * c["tp"], c["n_ref"] + c["n_pred"], empty=1.0)
    out["iou"] = _ratio(c["tp"], c["tp"] + c["fp"] + c["fn"], empty=1.0)
    out["precision"] = _ratio(c["tp"], c["n_pred"], empty=1.0 if ref_empty else 0.0)
    out["recall"] = _ratio(c["tp"], c["n_ref"], empty=1.0 if pred_empty else 0.0)
    out["volume_ref_ml"] = c["n_ref"] * voxel_ml
    out["volume_pred_ml"] = c["n_pred"] * voxel_ml
    out["volume_difference_ml"] = (c["n_pred"] - c["n_ref"]) * voxel_ml
    return out
