from __future__ import annotations

import logging

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError
from nnunetv2_cta.evaluation import DEFAULT_REGIONS, evaluate_case
from nnunetv2_cta.io import Geometry

GEOMETRY = Geometry((1.0, 0.8, 0.8), origin=(1.0, 2.0, 3.0))


@pytest.fixture
def label_map(tube_x):
    """Bone block, aorta tube (2) continued by a carotid tube (3) along x, intracranial tube (4) beside it."""
    shape = (20, 24, 70)
    lab = np.zeros(shape, np.uint8)
    lab[1:4, 2:20, 5:60] = 1
    vessel = tube_x(shape, (10, 10), 3, (5, 65))
    lab[vessel & (np.arange(70) < 30)] = 2
    lab[vessel & (np.arange(70) >= 30)] = 3
    lab[tube_x(shape, (15, 19), 2, (10, 50))] = 4
    return lab


def test_perfect_prediction_scores_perfectly(label_map):
    out = evaluate_case(label_map, label_map.copy(), GEOMETRY)
    assert set(out["metrics"]) == set(DEFAULT_REGIONS)
    assert set(out["breaks"]) == {"aorta", "carotid", "intracranial", "vessels"}
    for region, m in out["metrics"].items():
        assert m["dice"] == 1.0 and m["hd95_mm"] == 0.0 and m["betti0_error"] == 0, region
        if region != "bone":
            assert (
                m["cldice"] == 1.0
                and m["breaks"] == 0
                and m["vscore"] == 1.0
                and m["connected_recall"] == 1.0
            )
    assert "cldice" not in out["metrics"]["bone"]  # vessel metrics only for vessel regions
    assert "betti1_error" not in out["metrics"]["bone"] and "betti0_error" in out["metrics"]["bone"]


def test_a_cut_is_reported_per_region_with_world_location(label_map):
    pred = label_map.copy()
    pred[:, :, 40:42][pred[:, :, 40:42] == 3] = 0  # cut the carotid tube: 2 columns of 0.8 mm
    out = evaluate_case(label_map, pred, GEOMETRY, case="c1")
    m = out["metrics"]
    assert m["carotid"]["breaks"] == 1 and m["vessels"]["breaks"] == 1 and m["aorta"]["breaks"] == 0
    assert m["carotid"]["break_length_mm"] == pytest.approx(1.6)
    (brk,) = out["breaks"]["vessels"]
    assert brk["index_zyx"][:2] == [10, 10] and brk["index_zyx"][2] in (40, 41)
    assert brk["world_xyz"] == pytest.approx(list(GEOMETRY.index_to_world(brk["index_zyx"])))
    assert m["vessels"]["betti0_error"] == 1
    assert m["vessels"]["dice"] < 1.0


def test_custom_regions_and_labels(label_map):
    out = evaluate_case(label_map, label_map, GEOMETRY, regions={"neck": [3], "all": [1, 2, 3, 4]})
    assert set(out["metrics"]) == {"neck", "all"}
    assert "cldice" in out["metrics"]["neck"] and "cldice" not in out["metrics"]["all"]


def test_empty_ground_truth_gives_documented_values_and_a_warning(label_map, caplog):
    gt = label_map.copy()
    gt[gt == 4] = 0
    pred = label_map.copy()
    with caplog.at_level(logging.WARNING, logger="nnunetv2_cta.evaluation.case"):
        out = evaluate_case(gt, pred, GEOMETRY, case="c7")
    m = out["metrics"]["intracranial"]
    diagonal = np.sqrt((20 * 1.0) ** 2 + (24 * 0.8) ** 2 + (70 * 0.8) ** 2)
    assert m["dice"] == 0.0 and m["recall"] == 0.0 and m["vscore"] == 0.0
    assert m["hd95_mm"] == pytest.approx(diagonal)
    assert "case 'c7', region 'intracranial': ground truth is empty" in caplog.text


def test_shape_mismatch(label_map):
    with pytest.raises(GeometryError, match=r"case 'c2': prediction shape \(20, 24, 69\) != ground-truth"):
        evaluate_case(label_map, label_map[..., :-1], GEOMETRY, case="c2")


@pytest.mark.parametrize(
    "other, what",
    [
        (Geometry((1.0, 0.8, 0.7), origin=(1.0, 2.0, 3.0)), "spacing"),
        (Geometry((1.0, 0.8, 0.8), origin=(1.0, 2.0, 4.0)), "origin"),
        (
            Geometry((1.0, 0.8, 0.8), origin=(1.0, 2.0, 3.0), direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1)),
            "direction",
        ),
    ],
)
def test_grid_mismatch(label_map, other, what):
    with pytest.raises(GeometryError, match=rf"case 'c3': prediction {what} .* \(ground truth\)"):
        evaluate_case(label_map, label_map, GEOMETRY, pred_geometry=other, case="c3")


def test_label_values_outside_the_declared_set(label_map):
    pred = label_map.copy()
    pred[0, 0, 0] = 7
    with pytest.raises(DatasetFormatError, match=r"case 'c4' prediction: label values \[7\] are not among"):
        evaluate_case(label_map, pred, GEOMETRY, case="c4")
    with pytest.raises(
        DatasetFormatError, match=r"ground truth: label values \[3, 4\] are not among .*\[0, 1, 2\]"
    ):
        evaluate_case(label_map, label_map, GEOMETRY, labels=[0, 1, 2], regions={"bone": [1]})


def test_non_integer_label_map(label_map):
    with pytest.raises(DatasetFormatError, match="must be an integer label map, got dtype float32"):
        evaluate_case(label_map.astype(np.float32) + 0.5, label_map, GEOMETRY)


@pytest.mark.parametrize(
    "regions, match",
    [
        ({}, "at least one region"),
        ({"x": []}, "region 'x' must contain at least one label"),
        ({"x": [0, 2]}, "must not contain the background"),
        ({"x": [9]}, r"region 'x' uses label values \[9\]"),
    ],
)
def test_bad_regions(label_map, regions, match):
    with pytest.raises(ConfigurationError, match=match):
        evaluate_case(label_map, label_map, GEOMETRY, regions=regions)
