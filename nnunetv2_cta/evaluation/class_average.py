"""Class-average Dice and merged Dice by the rules of the TopCoW challenge.

TopCoW 2023/2024 (``CoWBenchmark/TopCoW_Eval_Metrics``, ``topcow24_eval/metrics/seg_metrics/cls_avg_dice.py``
and ``generate_cls_avg_dict.py``) scores a multi-class case as follows; this module implements the same rules
so that our figures can be set beside the published ones:

- the classes of a case are the foreground values present in the ground truth **or** the prediction (their
  union); a class present in neither is left out of the average, it is not counted as 1;
- a class present on one side only has Dice 0 (a missed or a hallucinated class);
- otherwise Dice is 2|G∩P| / (|G| + |P|) counted in voxels (no spacing: TopCoW's SimpleITK overlap filter
  ignores it);
- the class average is the plain mean over those classes; a case with no foreground class on either side
  scores 0 (TopCoW's "no labels" case), unlike our per-region Dice, which is 1 when both sides are empty;
- the merged Dice binarises both maps (TopCoW: every value > 0; here: every value in ``merged``, by default
  all classes) and is 0 when either merged mask is empty, again 0 when both are.

Example:
    >>> import numpy as np
    >>> gt = np.array([[[1, 1, 2, 2, 0]]]); pred = np.array([[[1, 1, 1, 3, 0]]])
    >>> r = class_average_dice(gt, pred, classes=(1, 2, 3))
    >>> r["per_class"], round(r["dice"], 4), r["merged_dice"]
    ({'1': 0.8, '2': 0.0, '3': 0.0}, 0.2667, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def _mask(array: np.ndarray, values: Iterable[int]) -> np.ndarray:
    return np.isin(array, np.asarray(sorted({int(v) for v in values}), dtype=array.dtype))


def _dice_or_zero(gt: np.ndarray, pred: np.ndarray) -> float:
    n_gt, n_pred = int(np.count_nonzero(gt)), int(np.count_nonzero(pred))
    if n_gt == 0 or n_pred == 0:
        return 0.0
    return 2.0 * int(np.count_nonzero(gt & pred)) / (n_gt + n_pred)


def class_average_dice(
    gt: np.ndarray,
    pred: np.ndarray,
    classes: Iterable[int],
    *,
    merged: Iterable[int] | None = None,
) -> dict:
    """TopCoW's class-average Dice and merged Dice of one case (rules in the module docstring).

    Args:
        gt, pred: integer label maps of one shape (any layout; only voxel counts are used).
        classes: the foreground label values that may take part (0 is ignored); a class takes part in this
            case when it is present in ``gt`` or ``pred``.
        merged: label values merged into one binary mask for ``merged_dice``; default all of ``classes``.

    Returns:
        ``{"dice": class average, "per_class": {"<value>": Dice}, "classes": [values that took part],
        "merged_dice": Dice of the merged masks}``.
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred must have one shape, got {gt.shape} and {pred.shape}")
    classes = sorted({int(v) for v in classes} - {0})
    per_class: dict[str, float] = {}
    for value in classes:
        g, p = gt == value, pred == value
        if not g.any() and not p.any():
            continue  # absent on both sides: not part of this case's average
        per_class[str(value)] = _dice_or_zero(g, p)
    average = float(np.mean(list(per_class.values()))) if per_class else 0.0
    merged_values = classes if merged is None else sorted({int(v) for v in merged} - {0})
    merged_dice = (
        _dice_or_zero(_mask(gt, merged_values), _mask(pred, merged_values)) if merged_values else 0.0
    )
    return {
        "dice": average,
        "per_class": per_class,
        "classes": [int(k) for k in per_class],
        "merged_dice": merged_dice,
    }
