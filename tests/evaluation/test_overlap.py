from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.errors import GeometryError, SpacingError
from nnunetv2_cta.evaluation import dice, iou, overlap_metrics, precision, recall


def _pair():
    # gt: 4x5x6 block = 120 voxels; pred: shifted by 2 along x -> overlap 4x5x4 = 80, pred 120 voxels
    gt = np.zeros((6, 7, 12), bool)
    pred = np.zeros_like(gt)
    gt[1:5, 1:6, 2:8] = True
    pred[1:5, 1:6, 4:10] = True
    return gt, pred


def test_overlap_values_by_hand():
    gt, pred = _pair()
    m = overlap_metrics(gt, pred, (2.0, 1.0, 0.5))
    assert (m["tp"], m["fp"], m["fn"], m["n_ref"], m["n_pred"]) == (80, 40, 40, 120, 120)
    assert m["dice"] == pytest.approx(160 / 240)
    assert m["iou"] == pytest.approx(80 / 160)
    assert m["precision"] == pytest.approx(80 / 120)
    assert m["recall"] == pytest.approx(80 / 120)
    assert m["volume_ref_ml"] == pytest.approx(120 * 1.0 / 1000)  # voxel = 2*1*0.5 mm^3 = 1 mm^3
    assert m["volume_difference_ml"] == 0.0
    assert dice(gt, pred) == pytest.approx(m["dice"])
    assert iou(gt, pred) == pytest.approx(0.5)


def test_precision_and_recall_differ_when_prediction_is_larger():
    gt, _ = _pair()
    pred = np.zeros_like(gt)
    pred[0:6, 1:6, 2:8] = True  # 6x5x6 = 180 voxels containing gt (120)
    assert precision(gt, pred) == pytest.approx(120 / 180)
    assert recall(gt, pred) == 1.0
    m = overlap_metrics(gt, pred, (1.0, 1.0, 1.0))
    assert m["volume_difference_ml"] == pytest.approx(0.060)


@pytest.mark.parametrize(
    "gt_on, pred_on, expected",
    [
        (False, False, {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}),
        (True, False, {"dice": 0.0, "iou": 0.0, "precision": 0.0, "recall": 0.0}),
        (False, True, {"dice": 0.0, "iou": 0.0, "precision": 0.0, "recall": 0.0}),
    ],
)
def test_empty_side_conventions(gt_on, pred_on, expected):
    gt = np.zeros((3, 3, 3), bool)
    pred = np.zeros_like(gt)
    gt[1, 1, 1] = gt_on
    pred[1, 1, 1] = pred_on
    m = overlap_metrics(gt, pred, (1, 1, 1))
    for key, value in expected.items():
        assert m[key] == value, key


def test_shape_mismatch_is_an_error():
    with pytest.raises(
        GeometryError, match=r"prediction shape \(3, 3, 4\) != ground-truth shape \(3, 3, 3\)"
    ):
        dice(np.zeros((3, 3, 3)), np.zeros((3, 3, 4)))


def test_not_3d_is_an_error():
    with pytest.raises(GeometryError, match="must be a 3D"):
        dice(np.zeros((3, 3)), np.zeros((3, 3)))


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.0, 0.0, 1.0), (1.0, float("nan"), 1.0), "abc"])
def test_bad_spacing_is_an_error(spacing):
    with pytest.raises(SpacingError, match="spacing must be three positive"):
        overlap_metrics(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), spacing)
