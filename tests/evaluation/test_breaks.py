from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.errors import GeometryError
from nnunetv2_cta.evaluation import betti_errors, connected_recall, find_breaks
from nnunetv2_cta.evaluation.centerline import SkeletonGraph, skeletonize
from nnunetv2_cta.io import Geometry

SHAPE = (17, 17, 90)
SPACING = (0.8, 0.8, 0.5)  # z, y, x: anisotropic, x is the finest axis


@pytest.fixture
def tube(tube_x):
    return tube_x(SHAPE, (8, 8), 3, (5, 85))


def test_straight_tube_cut_once(tube):
    pred = tube.copy()
    pred[..., 30:34] = False  # 4 missing x-columns of 0.5 mm
    geometry = Geometry(SPACING, origin=(-10.0, 20.0, 5.0), direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1))
    (brk,) = find_breaks(tube, pred, SPACING, geometry)
    assert brk.length_mm == pytest.approx(4 * 0.5)
    assert brk.num_voxels == 4 and brk.sides == 2
    assert brk.index_zyx[:2] == (8, 8) and 30 <= brk.index_zyx[2] <= 33
    # world (ITK x, y, z) = origin + direction @ (x*sx, y*sy, z*sz); direction flips x and y
    x = brk.index_zyx[2]
    assert brk.world_xyz == pytest.approx((-10.0 - x * 0.5, 20.0 - 8 * 0.8, 5.0 + 8 * 0.8))
    assert brk.to_dict()["index_zyx"] == list(brk.index_zyx)


def test_straight_tube_cut_twice(tube):
    pred = tube.copy()
    pred[..., 30:34] = False
    pred[..., 60:63] = False
    breaks = find_breaks(tube, pred, SPACING)
    assert [b.length_mm for b in breaks] == pytest.approx([2.0, 1.5])
    assert [b.index_zyx[2] for b in breaks] == [31, 61]
    assert all(b.world_xyz is None for b in breaks)


def test_tube_along_the_coarse_axis(tube_x):
    # tube along z at 2.5 mm slices: transpose a tube along x
    gt = np.ascontiguousarray(tube_x((15, 15, 40), (7, 7), 3, (2, 38)).transpose(2, 1, 0))
    spacing = (2.5, 0.7, 0.7)
    pred = gt.copy()
    pred[17:19] = False  # two missing slices
    (brk,) = find_breaks(gt, pred, spacing)
    assert brk.length_mm == pytest.approx(2 * 2.5)
    assert brk.index_zyx == (17, 7, 7)


def test_single_slice_cut_is_found(tube):
    pred = tube.copy()
    pred[..., 44] = False
    (brk,) = find_breaks(tube, pred, SPACING)
    assert brk.length_mm == pytest.approx(0.5) and brk.num_voxels == 1


def test_jitter_is_not_a_break(tube):
    pred = tube.copy()
    pred[8, 8, 40] = False  # a hole exactly on the centerline
    pred[7:10, 7:10, 50] = False  # a 3x3 dent through the centre
    # and a stretch where the prediction is shifted sideways by four voxels (still continuous)
    pred[..., 60:70] = np.roll(tube[..., 60:70], 4, axis=1)  # radius 3: overlaps its neighbours
    assert not pred[8, 8, 60:70].any()  # the centerline is uncovered there
    assert find_breaks(tube, pred, SPACING) == []


def test_missing_tip_is_not_a_break_but_lowers_connected_recall(tube):
    pred = tube.copy()
    pred[..., 65:] = False
    assert find_breaks(tube, pred, SPACING) == []
    graph = SkeletonGraph(skeletonize(tube), SPACING)
    x = graph.coords[:, 2]
    expected = graph.length_mm(x < 65) / graph.length_mm()
    assert connected_recall(tube, pred, SPACING) == pytest.approx(expected)
    # by hand: the skeleton runs x = 7..82 (thinning stops 2 voxels before each end), 0.5 mm per step;
    # inside the prediction: x 7..64 = 57 steps + half a step, of 75 steps
    assert connected_recall(tube, pred, SPACING) == pytest.approx(57.5 / 75, abs=0.01)


def test_ring_cut_once_is_one_break():
    shape = (9, 40, 40)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    rho = np.sqrt((y - 20) ** 2 + (x - 20) ** 2)
    ring = (rho - 12) ** 2 + (z - 4) ** 2 <= 2.5**2
    pred = ring.copy()
    pred[:, 18:23, 28:] = False  # cut the right side of the ring
    breaks = find_breaks(ring, pred, (1.0, 1.0, 1.0))
    assert len(breaks) == 1
    assert breaks[0].index_zyx[1] in range(18, 23) and breaks[0].index_zyx[2] >= 28
    # the ring is still one component, but has lost its loop
    e = betti_errors(ring, pred)
    assert (e["betti0_error"], e["betti1_error"]) == (0, 1)


def _tree(tube_x):
    shape = (21, 50, 80)
    main = tube_x(shape, (10, 8), 3, (5, 75))  # along x at y = 8
    branch = np.ascontiguousarray(tube_x((21, 80, 50), (10, 40), 2, (8, 46)).transpose(0, 2, 1))  # along y
    return main, main | branch


def test_side_branch_removed_and_detached(tube_x):
    main, tree = _tree(tube_x)
    spacing = (1.0, 1.0, 1.0)
    graph = SkeletonGraph(skeletonize(tree), spacing)
    on_branch = graph.coords[:, 1] > 12  # skeleton voxels of the branch, beyond the main tube's wall
    fraction_main = graph.length_mm(~on_branch) / graph.length_mm()
    # by hand: main skeleton x 7..72 -> about 66 mm (65 steps, two of them diagonal around the junction);
    # the branch's skeleton leaves the main one at y = 9 and ends at y = 44 -> 35 mm, of which the 3.5 mm
    # up to y = 12 count as "main" here: (66 + 3.5) / (66 + 35)
    assert fraction_main == pytest.approx(69.5 / 101, abs=0.01)

    # branch deleted: no break, no Betti-0 change, connected recall = main fraction
    assert find_breaks(tree, main, spacing) == []
    assert betti_errors(tree, main)["betti0_error"] == 0
    assert connected_recall(tree, main, spacing) == pytest.approx(fraction_main, abs=0.02)

    # branch detached at its root (y 12..15 removed): one break, one extra component
    detached = tree.copy()
    detached[:, 12:16, 30:50] = False
    detached |= main
    breaks = find_breaks(tree, detached, spacing)
    assert len(breaks) == 1 and breaks[0].sides == 2
    assert 12 <= breaks[0].index_zyx[1] <= 15 and breaks[0].index_zyx[2] == 40
    e = betti_errors(tree, detached)
    assert (e["betti0_ref"], e["betti0_pred"], e["betti0_error"]) == (1, 2, 1)
    # the branch's centerline still counts for recall but not for connected recall
    assert connected_recall(tree, detached, spacing) == pytest.approx(fraction_main, abs=0.02)


def test_gap_at_a_junction_is_one_break_with_three_sides(tube_x):
    _, tree = _tree(tube_x)
    pred = tree.copy()
    pred[:, :, 36:45] = False  # removes the main tube around the junction and the root of the branch
    pred[:, 13:, 36:45] = tree[:, 13:, 36:45]  # ... but keeps the branch beyond y = 13
    (brk,) = find_breaks(tree, pred, (1.0, 1.0, 1.0))
    assert brk.sides == 3


def test_prediction_without_centerline_coverage_has_no_break(tube):
    assert find_breaks(tube, np.zeros_like(tube), SPACING) == []
    assert connected_recall(tube, np.zeros_like(tube), SPACING) == 0.0
    assert connected_recall(np.zeros_like(tube), np.zeros_like(tube), SPACING) == 1.0
    assert find_breaks(np.zeros_like(tube), tube, SPACING) == []


def test_breaks_bad_input(tube):
    with pytest.raises(GeometryError, match="geometry spacing"):
        find_breaks(tube, tube, SPACING, Geometry((1.0, 1.0, 1.0)))
    with pytest.raises(GeometryError, match="prediction shape"):
        find_breaks(tube, tube[:-1], SPACING)


def test_skeleton_per_component_equals_whole_volume_thinning():
    from scipy import ndimage
    from skimage.morphology import skeletonize as skimage_skeletonize

    rng = np.random.default_rng(3)
    blobs = ndimage.gaussian_filter(rng.random((24, 30, 36)), 2) > 0.52  # many components of many shapes
    assert ndimage.label(blobs, np.ones((3, 3, 3)))[1] > 3
    whole = skimage_skeletonize(np.pad(blobs, 1))[1:-1, 1:-1, 1:-1].astype(bool)
    np.testing.assert_array_equal(skeletonize(blobs), whole)
