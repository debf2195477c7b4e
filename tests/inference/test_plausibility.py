"""Plausibility flags of a predicted case (nnunetv2_cta.inference.plausibility), values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.inference.plausibility import check_plausibility

# a model trained at 1.25 mm on 264 x 160 x 160 voxels: field of view 330 x 200 x 200 mm
PLANS = {
    "original_median_spacing_after_transp": [1.25, 1.25, 1.25],
    "original_median_shape_after_transp": [264, 160, 160],
}


def _labels(shape, vessel_voxels: int, value: int = 3) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels.reshape(-1)[:vessel_voxels] = value
    return labels


def test_plausible_case_is_ok():
    # 200 x 100 x 100 voxels at (1.5, 2, 2) mm = 300 x 200 x 200 mm; 12,500 voxels x 6 mm3 = 75 mL of vessel
    labels = _labels((200, 100, 100), 12_500, value=2)
    result = check_plausibility(labels, (1.5, 2.0, 2.0), plans=PLANS, dataset_json={"name": "Hospital"})
    assert result == {"status": "ok", "flags": [], "vessel_ml": 75.0}


@pytest.mark.parametrize(
    ("voxels", "flag"),
    [
        (0, "no vessel found: the vessel region is empty"),
        (1_000, "vessel volume 1.0 mL is outside the plausible 2-400 mL"),  # 1,000 x 1 mm3
        (401_000, "vessel volume 401.0 mL is outside the plausible 2-400 mL"),
    ],
)
def test_vessel_volume_flags(voxels, flag):
    result = check_plausibility(_labels((100, 100, 100), voxels, value=4), (1.0, 1.0, 1.0))
    assert result["status"] == "flagged" and len(result["flags"]) == 1 and result["flags"][0].startswith(flag)


def test_domain_flags_spacing_and_field_of_view():
    # 0.5 mm spacing (< 1.25 / 2 = 0.625) on a head-only crop: 200 x 200 x 200 voxels = 100 mm along z (< 330 / 2)
    labels = _labels((200, 200, 200), 80_000)  # 80,000 x 0.125 mm3 = 10 mL: plausible for a head
    result = check_plausibility(labels, (0.5, 0.5, 0.5), plans=PLANS)
    assert result["vessel_ml"] == 10.0
    assert [f.split(" is ")[0] for f in result["flags"]] == [
        "voxel spacing (0.5, 0.5, 0.5) mm",
        "field of view (100, 100, 100) mm (z, y, x)",
    ]
    # exactly a factor 2 is still in the domain: 2.5 mm spacing, 132 x 80 x 80 voxels = 330 x 200 x 200 mm
    assert check_plausibility(_labels((132, 80, 80), 10_000), (2.5, 2.5, 2.5), plans=PLANS)["flags"] == []


def test_phantom_trained_model_says_so():
    labels = _labels((100, 100, 100), 50_000)
    result = check_plausibility(
        labels, (1.0, 1.0, 1.0), dataset_json={"phantom": {"generator": "nnunetv2_cta"}}
    )
    assert result["flags"] == [
        "the model was trained on synthetic phantom data only: its output on a real scan is not validated"
    ]
