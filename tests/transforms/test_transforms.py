"""Centerline targets (hand-computed weights), the target transform, occlusion and pipeline insertion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.utils.deep_supervision_downsampling import DownsampleSegForDSTransform
from batchgeneratorsv2.transforms.utils.random import RandomTransform
from batchgeneratorsv2.transforms.utils.remove_label import RemoveLabelTansform

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.transforms import (
    CenterlineTargetTransform,
    RandomOcclusionTransform,
    centerline_weight_map,
    find_index,
    insert_before,
    vessel_skeleton,
)


def _bar(width: int, shape=(9, 9, 20)) -> np.ndarray:
    """A bar along the last axis with a width x width cross-section centred at (4, 4)."""
    m = np.zeros(shape, bool)
    lo = 4 - width // 2
    m[lo : lo + width, lo : lo + width, :] = True
    return m


def test_weight_map_of_one_voxel_line_hand_values():
    w = centerline_weight_map(_bar(1))
    # edt 1 -> rho 0.5; centre 1 + 16 (2 / 0.5)^2 = 257; face neighbour d = 1: 1 + 256 exp(-1 / (2 * 0.25^2))
    assert w[4, 4, 10] == pytest.approx(257.0)
    assert w[3, 4, 10] == pytest.approx(1 + 256 * math.exp(-8), rel=1e-5)
    assert w[3, 3, 10] == pytest.approx(1 + 256 * math.exp(-16), rel=1e-4)
    assert w[0, 0, 10] == pytest.approx(1.0)


def test_weight_map_of_thick_bar_hand_values():
    m = _bar(3)
    skel = vessel_skeleton(m)
    assert skel[4, 4, 4:16].all() and skel.sum() == skel[4, 4].sum()  # the centre line only
    w = centerline_weight_map(m)
    # edt at the centre is 2 -> rho 1.5; peak 1 + 16 (2 / 1.5)^2; sigma = 0.75
    peak = 16 * (2 / 1.5) ** 2
    assert w[4, 4, 10] == pytest.approx(1 + peak, rel=1e-5)
    assert w[3, 4, 10] == pytest.approx(1 + peak * math.exp(-1 / (2 * 0.75**2)), rel=1e-5)
    assert w[3, 3, 10] == pytest.approx(1 + peak * math.exp(-2 / (2 * 0.75**2)), rel=1e-5)


def test_weight_map_and_skeleton_of_empty_mask():
    empty = np.zeros((6, 6, 6), bool)
    assert np.array_equal(centerline_weight_map(empty), np.ones((6, 6, 6), np.float32))
    assert not vessel_skeleton(empty).any()


def test_tubed_skeleton_stays_inside_mask():
    m = _bar(3)
    tubed = vessel_skeleton(m, dilate=1)
    assert tubed[4, 4, 10] and tubed[3, 4, 10] and not tubed[3, 3, 10]  # 6-connected dilation
    assert not (tubed & ~m).any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": -1.0}, "alpha must be >= 0"),
        ({"beta": 0.0}, "beta must be > 0"),
        ({"r_ref": 0.0}, "r_ref must be > 0"),
        ({"skeleton": np.zeros((2, 2, 2), bool)}, "skeleton shape"),
    ],
)
def test_weight_map_bad_input(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        centerline_weight_map(_bar(1), **kwargs)


def test_skeleton_bad_input():
    with pytest.raises(ConfigurationError, match="2D or 3D"):
        vessel_skeleton(np.zeros(5, bool))
    with pytest.raises(ConfigurationError, match="dilate must be >= 0"):
        vessel_skeleton(_bar(1), dilate=-1)


def test_target_transform_label_mode_weight_and_skeleton():
    seg = torch.zeros(1, 9, 9, 20, dtype=torch.int16)
    seg[0][torch.from_numpy(_bar(1))] = 4
    seg[0, 0] = 1  # bone is not a vessel
    out = CenterlineTargetTransform("weight", vessel_labels=(2, 3, 4))(segmentation=seg.clone())[
        "segmentation"
    ]
    assert out.dtype == torch.float32 and out.shape == (2, 9, 9, 20)
    assert torch.equal(out[0], seg[0].float())
    assert float(out[1, 4, 4, 10]) == pytest.approx(257.0)
    assert float(out[1, 0, 0, 0]) == pytest.approx(1.0)
    skel = CenterlineTargetTransform("skeleton", vessel_labels=(2, 3, 4))(segmentation=seg.clone())[
        "segmentation"
    ]
    assert skel.dtype == torch.int16 and int(skel[1].sum()) == int((seg[0] == 4).sum())


def test_target_transform_region_mode_uses_union_of_channels():
    regions = torch.zeros(3, 9, 9, 20, dtype=torch.bool)
    regions[0, :, :, :2] = True  # bone region, not a vessel
    regions[1][torch.from_numpy(_bar(1))] = True  # "vessels"
    regions[2, 4, 4, :10] = True  # a vessel sub-region inside it
    out = CenterlineTargetTransform("skeleton", vessel_channels=[1, 2])(segmentation=regions.clone())[
        "segmentation"
    ]
    assert out.dtype == torch.bool and out.shape == (4, 9, 9, 20)
    assert torch.equal(out[:3], regions)
    assert torch.equal(out[3], regions[1])


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("radius",), {"vessel_labels": [2]}, "kind must be"),
        (("weight",), {}, "exactly one of"),
        (("weight",), {"vessel_labels": [2], "vessel_channels": [0]}, "exactly one of"),
        (("weight",), {"vessel_labels": []}, "must not be empty"),
        (("skeleton",), {"vessel_labels": [2], "skeleton_dilation": -1}, "skeleton_dilation must be >= 0"),
    ],
)
def test_target_transform_bad_configuration(args, kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        CenterlineTargetTransform(*args, **kwargs)


def test_target_transform_channel_out_of_range():
    t = CenterlineTargetTransform("weight", vessel_channels=[5])
    with pytest.raises(ConfigurationError, match="out of range"):
        t(segmentation=torch.zeros(2, 4, 4, 4, dtype=torch.bool))


def test_occlusion_box_size_value_and_labels_untouched():
    torch.manual_seed(0)
    np.random.seed(0)
    img = torch.linspace(-1, 3, 1000).view(1, 10, 10, 10).clone()
    seg = torch.ones(1, 10, 10, 10, dtype=torch.int16)
    out = RandomOcclusionTransform(size_fraction=(0.3, 0.3), value_range=None)(
        image=img.clone(), segmentation=seg
    )
    changed = out["image"] != img
    assert (
        int(changed.sum()) <= 27 and int(changed.sum()) >= 20
    )  # a 3x3x3 box (a few voxels may equal the fill)
    fill = out["image"][changed].unique()
    assert fill.numel() == 1 and -1 <= float(fill) <= 3
    assert torch.equal(out["segmentation"], seg)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"size_fraction": (0.0, 0.2)}, "size_fraction must satisfy"),
        ({"size_fraction": (0.5, 0.2)}, "size_fraction must satisfy"),
        ({"value_range": (2.0, 1.0)}, "value_range must be"),
    ],
)
def test_occlusion_bad_configuration(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        RandomOcclusionTransform(**kwargs)


def test_insert_before_looks_inside_random_transform_and_appends_when_absent():
    noise = RandomTransform(GaussianNoiseTransform(), apply_probability=0.1)
    ts = [RemoveLabelTansform(-1, 0), noise, DownsampleSegForDSTransform([[1, 1, 1]])]
    marker = RandomOcclusionTransform()
    assert insert_before(ts, GaussianNoiseTransform, marker) == 1
    assert ts[1] is marker and ts[2] is noise
    assert find_index(ts, DownsampleSegForDSTransform) == 3
    assert find_index(ts, lambda t: isinstance(t, RandomOcclusionTransform)) == 1
    other = RandomOcclusionTransform()
    assert insert_before(ts, CenterlineTargetTransform, other) == 4 and ts[-1] is other
