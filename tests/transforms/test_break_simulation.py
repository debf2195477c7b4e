"""Break simulation: the requested number and length of gaps, checked with the evaluation's break counter."""

from __future__ import annotations

import cc3d
import numpy as np
import pytest
import torch

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.evaluation import centerline_length, find_breaks
from nnunetv2_cta.transforms.break_simulation import BreakSimulationTransform, break_weights, simulate_breaks


def _tube(labels, start, end, radius, value=1):
    """Paint a straight tube between two voxel points (1 mm voxels) in place."""
    grid = np.indices(labels.shape).reshape(3, -1).T.astype(float)
    a, b = np.asarray(start, float), np.asarray(end, float)
    t = np.clip(((grid - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    d = np.linalg.norm(grid - (a + t[:, None] * (b - a)), axis=1)
    labels.reshape(-1)[d <= radius] = value


def _tree():
    """A trunk along x (radius 3) splitting at x=40 into two branches (radius 2), 1 mm voxels."""
    m = np.zeros((20, 50, 80), np.uint8)
    _tube(m, (10, 25, 2), (10, 25, 40), 3.0)
    _tube(m, (10, 25, 40), (10, 8, 77), 2.0)
    _tube(m, (10, 25, 40), (10, 42, 77), 2.0)
    return m > 0


@pytest.mark.parametrize("n_breaks, seed", [(1, 0), (3, 1), (3, 2)])
def test_cuts_give_requested_breaks_and_lengths(n_breaks, seed):
    mask = np.zeros((16, 16, 120), bool)
    _tube(mask, (8, 8, 2), (8, 8, 117), 2.5)
    broken, events = simulate_breaks(mask, np.random.default_rng(seed), n_breaks)
    assert len(events) == n_breaks and {e.kind for e in events} == {"cut"}
    breaks = find_breaks(mask, broken, (1, 1, 1))
    assert len(breaks) == n_breaks
    assert not (broken & ~mask).any()
    for event, found in zip(sorted(events, key=lambda e: e.index_zyx[2]), breaks):
        # diameter here is 2r = 2 x (wall distance 3 - 0.5) = 5 mm: 1-4 diameters = 5-20 mm
        assert 5.0 <= event.length_mm <= 20.0
        # the gap is every centerline voxel within L/2 of the centre, 2*floor(L/2)+1 voxels of 1 mm: L +- 1
        assert found.length_mm == 2 * np.floor(event.length_mm / 2) + 1
        assert abs(found.index_zyx[2] - event.index_zyx[2]) <= 1


def test_cuts_in_a_tree_avoid_junctions():
    mask = _tree()
    broken, events = simulate_breaks(mask, np.random.default_rng(3), 2, length_diameters=(1.0, 2.0))
    breaks = find_breaks(mask, broken, (1, 1, 1))
    assert len(events) == 2 and len(breaks) == 2
    assert all(b.sides == 2 for b in breaks)
    assert cc3d.connected_components(broken, connectivity=26, return_N=True)[1] == 3


def test_drop_and_thin_are_not_breaks():
    mask = _tree()
    length = centerline_length(mask, (1, 1, 1))
    dropped, events = simulate_breaks(mask, np.random.default_rng(0), 0, n_drop=1)
    assert [e.kind for e in events] == ["drop"]
    assert find_breaks(mask, dropped, (1, 1, 1)) == []
    assert cc3d.connected_components(dropped, connectivity=26, return_N=True)[1] == 1
    # a distal branch (37 mm to the junction) loses up to max_branch_mm=30 mm of centerline
    assert 10.0 < length - centerline_length(dropped, (1, 1, 1)) < 32.0

    thinned, events = simulate_breaks(mask, np.random.default_rng(0), 0, n_thin=1, thin_keep=(0.4, 0.4))
    assert [e.kind for e in events] == ["thin"]
    assert find_breaks(mask, thinned, (1, 1, 1)) == []
    assert cc3d.connected_components(thinned, connectivity=26, return_N=True)[1] == 1
    lost = mask.sum() - thinned.sum()
    assert 0 < lost < 0.5 * mask.sum()


def test_fade_ramp():
    mask = np.zeros((16, 16, 80), bool)
    _tube(mask, (8, 8, 2), (8, 8, 77), 2.5)
    weights, events = break_weights(mask, np.random.default_rng(4), 0, n_fade=1, fade_min=(0.2, 0.2))
    assert [e.kind for e in events] == ["fade"]
    assert weights.min() == pytest.approx(0.2, abs=0.05)
    assert np.all(weights[~mask] == 1.0)
    faded = weights < 1
    # a V-shaped ramp: below 0.5 on the inner ~5/8 of the stretch only, so a binary cut is shorter than L
    assert 0 < (weights < 0.5).sum() < faded.sum()
    broken = mask & (weights >= 0.5)
    (gap,) = find_breaks(mask, broken, (1, 1, 1))
    assert gap.length_mm < events[0].length_mm


def test_neighbouring_vessel_untouched():
    mask = np.zeros((16, 30, 80), bool)
    _tube(mask, (8, 10, 2), (8, 10, 77), 2.5)
    other = np.zeros_like(mask)
    _tube(other, (8, 17, 2), (8, 17, 77), 2.5)  # 7 mm apart: walls 2 mm apart
    both = mask | other
    for seed in range(3):
        broken, _ = simulate_breaks(both, np.random.default_rng(seed), 2)
        lost = both & ~broken
        # every removed voxel belongs to one tube's cross-sections: nearest centre line decides
        y = np.indices(both.shape)[1]
        for piece in (lost & (y <= 13), lost & (y >= 14)):
            if piece.any():
                assert piece.sum() > 30  # whole cross-sections, not slivers


def test_no_room_makes_fewer_events():
    mask = np.zeros((16, 16, 30), bool)
    _tube(mask, (8, 8, 2), (8, 8, 27), 2.5)
    broken, events = simulate_breaks(mask, np.random.default_rng(0), 10, length_diameters=(2.0, 2.0))
    assert 1 <= len(events) < 10
    assert len(find_breaks(mask, broken, (1, 1, 1))) == len(events)


def test_transform_changes_only_vessel_channels():
    labels = np.zeros((20, 50, 80), np.uint8)
    labels[_tree()] = 3
    labels[:, :, :2] = 1
    img = torch.zeros(5, *labels.shape)
    img[0] = torch.randn(labels.shape)
    for i, lab in enumerate((1, 2, 3, 4)):
        img[1 + i] = torch.from_numpy(labels == lab).float()
    t = BreakSimulationTransform([-3, -2, -1], p_per_sample=1.0, n_breaks=(2, 2), n_drop=(0, 0))
    np.random.seed(0)
    out = t(image=img.clone())["image"]
    assert torch.equal(out[:2], img[:2])
    assert out[3].sum() < img[3].sum()
    vessel_before = img[3].numpy() > 0.5
    assert len(find_breaks(vessel_before, out[3].numpy() > 0.5, (1, 1, 1))) >= 1
    off = BreakSimulationTransform([-3, -2, -1], p_per_sample=0.0)
    assert torch.equal(off(image=img.clone())["image"], img)


def test_bad_input():
    rng = np.random.default_rng(0)
    mask = np.ones((4, 4, 4), bool)
    with pytest.raises(ConfigurationError, match="n_breaks must be a non-negative int, got -1"):
        simulate_breaks(mask, rng, -1)
    with pytest.raises(ConfigurationError, match=r"length_diameters must satisfy .*got \(4, 1\)"):
        simulate_breaks(mask, rng, 1, length_diameters=(4, 1))
    with pytest.raises(GeometryError, match="3D"):
        simulate_breaks(mask[0], rng, 1)
    with pytest.raises(GeometryError, match="spacing"):
        simulate_breaks(mask, rng, 1, spacing=(1, 0, 1))
    with pytest.raises(ConfigurationError, match="vessel_channels must name at least one channel"):
        BreakSimulationTransform([])
    with pytest.raises(ConfigurationError, match=r"p_per_sample must be in \[0, 1\], got 2"):
        BreakSimulationTransform([-1], p_per_sample=2)
