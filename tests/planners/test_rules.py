"""Target-spacing rule, CT channel normalisation and preset look-up, with hand-computed values."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.planners.cta_planner import cta_target_spacing, resolve_channel_normalization
from nnunetv2_cta.planners.plan import _data_owner
from nnunetv2_cta.planners.presets import PRESETS, get_preset

# four cases; z spacings 0.6, 1.0, 1.25, 2.0 and in-plane 0.3, 0.4, 0.5, 0.8 (sorted per axis)
SPACINGS = np.array([[1.0, 0.4, 0.4], [0.6, 0.3, 0.3], [2.0, 0.8, 0.8], [1.25, 0.5, 0.5]])


def test_target_spacing_uses_25th_percentile_not_median():
    # numpy linear percentile at 25 % of 4 values: position 0.75 between the 1st and 2nd smallest
    # z: 0.6 + 0.75 * (1.0 - 0.6) = 0.9 ; in-plane: 0.3 + 0.75 * (0.4 - 0.3) = 0.375 -> floored to 0.4 mm
    target = cta_target_spacing(SPACINGS, PRESETS["L"])
    np.testing.assert_allclose(target, [0.9, 0.4, 0.4])
    # nnU-Net's median would give z 1.125 and in-plane 0.45: coarser on every axis
    assert np.all(target < np.median(SPACINGS, axis=0))


def test_target_spacing_floor_of_cpu_preset():
    np.testing.assert_allclose(cta_target_spacing(SPACINGS, PRESETS["cpu"]), [1.0, 1.0, 1.0])
    coarse = SPACINGS * 2  # z 1.8 -> 2.0 ...: percentile 1.8, above the floor
    np.testing.assert_allclose(cta_target_spacing(coarse, PRESETS["cpu"]), [1.8, 1.0, 1.0])


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.array([[1.0, 0.0, 1.0]]), np.array([1.0, 1.0, 1.0])])
def test_target_spacing_rejects_bad_spacings(bad):
    with pytest.raises(DatasetFormatError, match="spacings must be"):
        cta_target_spacing(bad, PRESETS["L"])


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ({"0": "CT"}, ["CTNormalization"]),
        ({"0": "ct"}, ["CTNormalization"]),
        ({"0": "CT", "1": "mask"}, ["CTNormalization", "ZScoreNormalization"]),
        ({"0": "noNorm", "1": "CT"}, ["NoNormalization", "CTNormalization"]),
    ],
)
def test_channel_normalisation_exact_ct(channels, expected, caplog):
    with caplog.at_level(logging.WARNING):
        assert resolve_channel_normalization(channels) == expected
    assert not caplog.records


@pytest.mark.parametrize(
    "name", ["CTA", "cta", "NCCT", "CT angiography", "CTA_arterial", "computed tomography"]
)
def test_ct_like_channel_names_get_ct_normalisation_with_warning(name, caplog):
    with caplog.at_level(logging.WARNING):
        assert resolve_channel_normalization({"0": name}) == ["CTNormalization"]
    assert any(name in r.getMessage() and "z-score" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("channels", [{"0": "MRI"}, {"0": "T1", "1": "T2"}, {"0": "TOF"}, {"0": "ACT"}])
def test_dataset_without_ct_channel_is_refused(channels):
    with pytest.raises(DatasetFormatError, match="no CT channel"):
        resolve_channel_normalization(channels)


def test_unknown_preset_names_value_and_choices():
    with pytest.raises(ConfigurationError, match=r"unknown preset 'XXL'.*\['L', 'M', 'XL', 'cpu'\]"):
        get_preset("XXL")
    assert get_preset("cpu").plans_name == "nnUNetCTAPlans_cpu"


def test_cascaded_configuration_preprocesses_its_parents_data():
    configs = {
        "3d_fullres": {"data_identifier": "nnUNetCTAPlans_cpu_3d_fullres"},
        "3d_cgpm": {"inherits_from": "3d_fullres", "previous_stage": "3d_fullres"},
        "3d_other": {"inherits_from": "3d_cgpm", "data_identifier": "own"},
    }
    assert _data_owner(configs, "3d_cgpm") == "3d_fullres"
    assert _data_owner(configs, "3d_fullres") == "3d_fullres"
    assert _data_owner(configs, "3d_other") == "3d_other"
