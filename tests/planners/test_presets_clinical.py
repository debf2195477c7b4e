"""The M/L/XL presets on a clinical-size head-and-neck fingerprint (no images needed beyond one stub file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.labels import dataset_json

DATASET_ID = 951
NAME = f"Dataset{DATASET_ID:03d}_ClinicalFingerprint"


@pytest.fixture(scope="module")
def clinical_dataset(nnunet_dirs):
    """A raw dataset of one stub image and a fingerprint of 10 head-neck CTAs (~0.5-0.7 mm, 600x512x512)."""
    raw = nnunet_dirs["nnUNet_raw"] / NAME
    write_image(raw / "imagesTr" / "c_000_0000.nii.gz", np.zeros((8, 8, 8), np.int16), Geometry((1, 1, 1)))
    write_image(raw / "labelsTr" / "c_000.nii.gz", np.zeros((8, 8, 8), np.uint8), Geometry((1, 1, 1)))
    dj = dataset_json(10, name="ClinicalFingerprint")
    (raw / "dataset.json").write_text(json.dumps(dj))
    rng = np.random.default_rng(0)
    spacings = [[float(rng.choice([0.5, 0.625, 0.7])), 0.45, 0.45] for _ in range(10)]
    shapes = [[int(rng.integers(560, 700)), 512, 512] for _ in range(10)]
    fingerprint = {
        "spacings": spacings,
        "shapes_after_crop": shapes,
        "median_relative_size_after_cropping": 1.0,
        "foreground_intensity_properties_per_channel": {
            "0": {
                "max": 1800.0,
                "mean": 350.0,
                "median": 320.0,
                "min": -100.0,
                "percentile_00_5": 0.0,
                "percentile_99_5": 1500.0,
                "std": 200.0,
            }
        },
    }
    pre = nnunet_dirs["nnUNet_preprocessed"] / NAME
    pre.mkdir(parents=True, exist_ok=True)
    (pre / "dataset_fingerprint.json").write_text(json.dumps(fingerprint))
    return spacings


@pytest.fixture(scope="module")
def planned(clinical_dataset):
    from nnunetv2_cta.planners.cta_planner import PLANNERS

    return {name: PLANNERS[name](DATASET_ID).plan_experiment() for name in ("M", "L", "XL")}


def test_clinical_plans_use_bottleneck_blocks_and_cta_rule(planned, clinical_dataset):
    for name, plans in planned.items():
        assert plans["plans_name"] == f"nnUNetCTAPlans_{name}"
        assert plans["cta"]["preset"] == name
        assert "3d_lowres" not in plans["configurations"]
        cfg = plans["configurations"]["3d_fullres"]
        arch = cfg["architecture"]["arch_kwargs"]
        assert arch["block"] == "dynamic_network_architectures.building_blocks.residual.BottleneckD"
        assert arch["bottleneck_channels"] == [w // 4 for w in arch["features_per_stage"]]
        assert cfg["normalization_schemes"] == ["CTNormalization"]
        # 25th percentile of the z spacings, in-plane 0.45 (above the 0.4 mm floor); transposed z first
        expected_z = np.percentile([s[0] for s in clinical_dataset], 25)
        np.testing.assert_allclose(sorted(cfg["spacing"]), sorted([expected_z, 0.45, 0.45]), atol=1e-6)


def test_patches_grow_with_memory_and_stay_near_isotropic_in_mm(planned):
    voxels = {}
    for name, plans in planned.items():
        cfg = plans["configurations"]["3d_fullres"]
        patch, spacing = np.array(cfg["patch_size"]), np.array(cfg["spacing"])
        extent = patch * spacing
        assert extent.max() / extent.min() < 1.6, (name, patch, spacing)
        voxels[name] = int(np.prod(patch)) * cfg["batch_size"]
    assert voxels["M"] < voxels["L"] <= voxels["XL"]


def test_feature_map_estimate_within_budget(planned):
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    from nnunetv2_cta.planners.presets import PRESETS

    for name, plans in planned.items():
        cfg = plans["configurations"]["3d_fullres"]
        arch = cfg["architecture"]
        net = get_network_from_plans(
            arch["network_class_name"],
            arch["arch_kwargs"],
            arch["_kw_requires_import"],
            1,
            5,
            allow_init=False,
        )
        estimate = net.compute_conv_feature_map_size(tuple(cfg["patch_size"]))
        assert estimate <= PRESETS[name].reference_feature_map_elements
        # and the patch is the largest that fits: one more step on its longest axis would exceed the budget
        assert estimate > 0.5 * PRESETS[name].reference_feature_map_elements
