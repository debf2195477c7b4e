"""The M/L/XL presets on a clinical-size head-and-neck fingerprint (no images needed beyond one stub file)."""

from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.planners.synthetic import clinical_head_neck_cohort, write_fingerprint_dataset

DATASET_ID = 951


@pytest.fixture(scope="module")
def clinical_dataset(nnunet_dirs):
    """One stub image and the fingerprint of 10 head-neck CTAs (~0.5-0.7 mm, 600x512x512)."""
    spacings, shapes = clinical_head_neck_cohort(10, seed=0)
    write_fingerprint_dataset(DATASET_ID, "ClinicalFingerprint", spacings, shapes)
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
    from nnunetv2_cta.planners.cta_planner import network_from_architecture
    from nnunetv2_cta.planners.presets import PRESETS

    for name, plans in planned.items():
        cfg = plans["configurations"]["3d_fullres"]
        net = network_from_architecture(cfg["architecture"], 1, 5)
        estimate = net.compute_conv_feature_map_size(tuple(cfg["patch_size"]))
        assert estimate <= PRESETS[name].reference_feature_map_elements
        # and the patch is the largest that fits: one more step on its longest axis would exceed the budget
        assert estimate > 0.5 * PRESETS[name].reference_feature_map_elements


def test_fingerprint_dataset_rejects_mismatched_cohort():
    with pytest.raises(DatasetFormatError, match="equally long and non-empty, got 2 and 1"):
        write_fingerprint_dataset(958, "Bad", [[1, 1, 1], [1, 1, 1]], [[8, 8, 8]])
