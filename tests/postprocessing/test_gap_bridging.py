"""Gap bridging baseline on synthetic tubes with known cuts (1 mm voxels unless said otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError
from nnunetv2_cta.evaluation import find_breaks
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.postprocessing.gap_bridging import bridge_gaps, hu_cost
from nnunetv2_cta.postprocessing.repair_record import RepairedGap, load_repaired_gaps, save_repaired_gaps


def _breaks(gt, labels, spacing):
    return len(find_breaks(gt >= 2, labels >= 2, spacing))


def test_hu_cost_hand_values():
    hu = np.array([[[400, 50, -100, 650, 700, 150]]], np.int16)
    np.testing.assert_allclose(hu_cost(hu)[0, 0], [1.0, 2.0, 7.25, 1.5, 1e4, 1.0])


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.0, 1.0, 0.5)])
def test_straight_gap_reconnected(tube_factory, spacing):
    gt = tube_factory["straight"](spacing=spacing)
    image = tube_factory["ct"](gt)
    cut = gt.copy()
    cut[:, :, 20:28] = 0  # 8 columns: 8 mm at 1 mm, 4 mm at 0.5 mm
    assert _breaks(gt, cut, spacing) == 1
    geometry = Geometry(spacing=spacing, origin=(10.0, 20.0, 30.0))
    repaired, gaps = bridge_gaps(cut, image, geometry)
    assert _breaks(gt, repaired, spacing) == 0
    assert len(gaps) == 1
    (gap,) = gaps
    # the path runs along the axis; steps touching a new voxel: 19->20 ... 27->28 = 9 steps of sx
    assert gap.length_mm == pytest.approx(9 * spacing[2])
    assert gap.index_zyx[0] == 12 and gap.index_zyx[1] == 12 and gap.index_zyx[2] in (23, 24)
    x, y, z = gap.world_xyz
    assert (y, z) == (20.0 + 12 * spacing[1], 30.0 + 12 * spacing[0])
    assert x == pytest.approx(10.0 + gap.index_zyx[2] * spacing[2])
    assert gap.label == 3 and gap.region == "carotid"
    assert set(np.unique(repaired)) == {0, 3}
    # only the gap changed, and the bridge stays about as thick as the tube (radius 2.5 mm)
    changed = repaired != cut
    assert not changed[:, :, :20].any() and not changed[:, :, 28:].any()
    assert 0.6 < changed.sum() / (gt != cut).sum() <= 1.3
    assert gap.num_voxels == int(changed.sum())


def test_curved_gap_reconnected(tube_factory):
    gt = tube_factory["arc"]()
    image = tube_factory["ct"](gt, seed=1)
    cut = gt.copy()
    cut[:, 14:, 18:26] = 0  # the top of the half circle (y = 20 at x = 22)
    assert _breaks(gt, cut, (1, 1, 1)) == 1
    repaired, gaps = bridge_gaps(cut, image, (1.0, 1.0, 1.0))
    assert len(gaps) == 1 and gaps[0].label == 4
    assert _breaks(gt, repaired, (1, 1, 1)) == 0
    added = (repaired != cut) & (repaired > 0)
    # the bridge follows the contrast of the curved lumen: most added voxels lie in the true vessel
    assert (added & (gt > 0)).sum() / added.sum() > 0.8


def test_cut_inside_a_loop_is_bridged(tube_factory):
    """A ring stays one component when cut once; the way around (~70 mm) is > 5x the gap."""
    labels = np.zeros((16, 36, 36), np.uint8)
    t = np.linspace(0, 2 * np.pi, 600)
    ring = np.stack([np.full_like(t, 8), 18 + 12 * np.sin(t), 18 + 12 * np.cos(t)], axis=1)
    tube_factory["paint"](labels, ring, 2.0, 4, (1, 1, 1))
    cut = labels.copy()
    cut[:, 14:23, 26:] = 0
    assert _breaks(labels, cut, (1, 1, 1)) == 1
    repaired, gaps = bridge_gaps(cut, tube_factory["ct"](labels), (1.0, 1.0, 1.0))
    assert len(gaps) == 1
    assert _breaks(labels, repaired, (1, 1, 1)) == 0


def test_distinct_vessels_not_bridged(tube_factory):
    paint = tube_factory["paint"]
    labels = np.zeros((20, 40, 56), np.uint8)
    x = np.linspace(0, 20, 80)
    # far apart: a tube ending at x=20 (y=6) and one starting at x=28 (y=32): 27 mm > max_gap_mm
    paint(labels, np.stack([np.full_like(x, 10), np.full_like(x, 6), x], 1), 2.0, 3, (1, 1, 1))
    paint(labels, np.stack([np.full_like(x, 10), np.full_like(x, 32), x + 28], 1), 2.0, 3, (1, 1, 1))
    # near but side by side: two parallel tips 9 mm apart both pointing +x (angle 90 deg to each other)
    paint(labels, np.stack([np.full_like(x, 10), np.full_like(x, 15), x], 1), 2.0, 4, (1, 1, 1))
    paint(labels, np.stack([np.full_like(x, 10), np.full_like(x, 24), x], 1), 2.0, 4, (1, 1, 1))
    image = tube_factory["ct"](labels)
    repaired, gaps = bridge_gaps(labels, image, (1.0, 1.0, 1.0))
    assert gaps == []
    np.testing.assert_array_equal(repaired, labels)


def test_intact_tree_unchanged(tube_factory):
    gt = tube_factory["straight"]()
    repaired, gaps = bridge_gaps(gt, tube_factory["ct"](gt), (1.0, 1.0, 1.0))
    assert gaps == [] and np.array_equal(repaired, gt)


@pytest.mark.parametrize("filling", ["bone", "soft_tissue"])
def test_no_bridge_through_bone_or_without_contrast(tube_factory, filling):
    gt = tube_factory["straight"]()
    cut = gt.copy()
    cut[:, :, 20:28] = 0
    if filling == "bone":
        cut[:, :, 21:27] = 1  # a bone plate across the whole volume between the two ends
        image = tube_factory["ct"](cut)
    else:
        image = tube_factory["ct"](cut)  # the gap has soft-tissue HU: an occlusion, not a missed lumen
    repaired, gaps = bridge_gaps(cut, image, (1.0, 1.0, 1.0))
    assert gaps == []
    np.testing.assert_array_equal(repaired, cut)


def test_bone_label_blocks_bridge_without_image(tube_factory):
    gt = tube_factory["straight"]()
    cut = gt.copy()
    cut[:, :, 20:28] = 0
    cut[:, :, 23] = 1
    assert bridge_gaps(cut, None, (1.0, 1.0, 1.0))[1] == []
    cut[:, :, 23] = 0
    repaired, gaps = bridge_gaps(cut, None, (1.0, 1.0, 1.0))  # uniform cost: a straight bridge
    assert len(gaps) == 1 and _breaks(gt, repaired, (1, 1, 1)) == 0


def test_bridge_across_region_border_keeps_labels(tube_factory):
    gt = tube_factory["straight"]()
    gt[(gt > 0) & (np.indices(gt.shape)[2] >= 24)] = 4  # carotid (x < 24) -> intracranial
    cut = gt.copy()
    cut[:, :, 18:30] = 0
    repaired, gaps = bridge_gaps(cut, tube_factory["ct"](gt), (1.0, 1.0, 1.0))
    assert len(gaps) == 1
    added = repaired != cut
    x = np.indices(gt.shape)[2]
    assert set(np.unique(repaired[added & (x <= 21)])) == {3}
    assert set(np.unique(repaired[added & (x >= 26)])) == {4}
    assert set(np.unique(repaired)) == {0, 3, 4}


def test_bad_input():
    labels = np.zeros((8, 8, 8), np.uint8)
    with pytest.raises(GeometryError, match="image shape"):
        bridge_gaps(labels, np.zeros((8, 8, 9)), (1, 1, 1))
    with pytest.raises(GeometryError, match="3D"):
        bridge_gaps(labels[0], None, (1, 1, 1))
    with pytest.raises(ConfigurationError, match="max_gap_mm must be a positive number, got 0"):
        bridge_gaps(labels, None, (1, 1, 1), max_gap_mm=0)
    with pytest.raises(ConfigurationError, match=r"max_angle_deg must be in \(0, 180\], got 200"):
        bridge_gaps(labels, None, (1, 1, 1), max_angle_deg=200)
    with pytest.raises(GeometryError, match="spacing"):
        bridge_gaps(labels, None, (1, -1, 1))


def test_repair_record_round_trip(tmp_path):
    gaps = [RepairedGap((1, 2, 3), (4.0, 5.0, 6.5), 7.25, 4, 11), RepairedGap((0, 0, 0), None, 1.0, 2, 1)]
    path = save_repaired_gaps(tmp_path / "c_repairs.json", "c", "baseline", gaps)
    case, method, back = load_repaired_gaps(path)
    assert (case, method, back) == ("c", "baseline", gaps)
    assert '"region": "intracranial"' in path.read_text()
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(
        DatasetFormatError, match=r"format must be 'nnunetv2_cta\.repaired_gaps', got 'other'"
    ):
        load_repaired_gaps(tmp_path / "bad.json")


def test_cost_field_replaces_the_hu_band(tube_factory):
    """A cost field (e.g. 1 / the CGPM's vessel probability) decides instead of the CT's HU; bone still blocks."""
    gt = tube_factory["straight"]()
    cut = gt.copy()
    cut[:, :, 20:28] = 0
    image = tube_factory["ct"](cut)  # soft tissue in the gap: the HU band alone refuses it
    assert bridge_gaps(cut, image, (1.0, 1.0, 1.0))[1] == []
    sure = np.ones(gt.shape, np.float32)  # the network is sure everywhere: cost 1
    repaired, gaps = bridge_gaps(cut, image, (1.0, 1.0, 1.0), cost=sure)
    assert len(gaps) == 1 and _breaks(gt, repaired, (1, 1, 1)) == 0
    doubtful = np.full(gt.shape, 2.0, np.float32)  # p = 0.5 everywhere: mean cost 2 > 1.5
    assert bridge_gaps(cut, image, (1.0, 1.0, 1.0), cost=doubtful)[1] == []
    assert len(bridge_gaps(cut, image, (1.0, 1.0, 1.0), cost=doubtful, max_mean_cost=2.0)[1]) == 1
    bony = image.copy()
    bony[:, :, 23] = 900  # a plate at or above bone_hu across the gap: impassable whatever the cost field says
    assert bridge_gaps(cut, bony, (1.0, 1.0, 1.0), cost=sure)[1] == []
    with pytest.raises(GeometryError, match=r"cost shape \(24, 24, 47\) != labels shape \(24, 24, 48\)"):
        bridge_gaps(cut, image, (1.0, 1.0, 1.0), cost=sure[:, :, :47])
