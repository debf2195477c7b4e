from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.errors import GeometryError
from nnunetv2_cta.evaluation import betti_errors, betti_numbers, cldice, cldice_scores, dice


def _ring(shape=(9, 40, 40), centre=(4, 20, 20), radius=12.0, tube=2.5) -> np.ndarray:
    """Solid torus in the y-x plane: distance to the circle of `radius` at most `tube` voxels."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    rho = np.sqrt((y - centre[1]) ** 2 + (x - centre[2]) ** 2)
    return (rho - radius) ** 2 + (z - centre[0]) ** 2 <= tube**2


def test_betti_numbers_of_known_shapes(ball_mm):
    ring = _ring()
    assert betti_numbers(ring) == (1, 1, 0)

    hollow = ball_mm((20, 20, 20), (1, 1, 1), (10, 10, 10), 7) & ~ball_mm(
        (20, 20, 20), (1, 1, 1), (10, 10, 10), 4
    )
    assert betti_numbers(hollow) == (1, 0, 1)

    two = ball_mm((12, 12, 30), (1, 1, 1), (6, 6, 6), 4) | ball_mm((12, 12, 30), (1, 1, 1), (6, 6, 22), 4)
    assert betti_numbers(two) == (2, 0, 0)

    # figure eight: two rings sharing a stretch -> two independent loops
    eight = _ring(shape=(9, 40, 70), centre=(4, 20, 20)) | _ring(shape=(9, 40, 70), centre=(4, 20, 45))
    assert betti_numbers(eight) == (1, 2, 0)

    assert betti_numbers(np.zeros((4, 4, 4))) == (0, 0, 0)


def test_betti_uses_26_connectivity_for_the_foreground():
    diagonal = np.zeros((3, 3, 3), bool)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = diagonal[2, 2, 2] = True
    assert betti_numbers(diagonal)[0] == 1


def test_betti_errors_of_a_cut_ring_and_an_extra_blob():
    gt = _ring()
    pred = gt.copy()
    pred[:, 18:23, 30:] = False  # cut the ring once on its right side
    pred[0:2, 0:2, 0:2] = True  # and add a separate blob in a corner
    e = betti_errors(gt, pred)
    assert (e["betti0_ref"], e["betti1_ref"], e["betti2_ref"]) == (1, 1, 0)
    assert (e["betti0_pred"], e["betti1_pred"]) == (2, 0)
    assert (e["betti0_error"], e["betti1_error"], e["betti2_error"]) == (1, 1, 0)


def test_cldice_formula_with_given_skeletons():
    gt = np.zeros((1, 3, 10), bool)
    gt[0, :, 0:6] = True
    pred = np.zeros_like(gt)
    pred[0, :, 2:10] = True
    s_gt = np.zeros_like(gt)
    s_gt[0, 1, 0:6] = True  # 6 voxels, 4 of them (x 2..5) inside pred
    s_pred = np.zeros_like(gt)
    s_pred[0, 1, 2:10] = True  # 8 voxels, 4 of them (x 2..5) inside gt
    s = cldice_scores(gt, pred, gt_skeleton=s_gt, pred_skeleton=s_pred)
    tprec, tsens = 4 / 8, 4 / 6
    assert s["cl_precision"] == pytest.approx(tprec)
    assert s["cl_sensitivity"] == pytest.approx(tsens)
    assert s["cldice"] == pytest.approx(2 * tprec * tsens / (tprec + tsens))


def test_cldice_of_thinned_and_thickened_tube(tube_x):
    shape = (21, 21, 80)
    gt = tube_x(shape, (10, 10), 4, (10, 70))  # radius 4 voxels, x 10..69
    thin = tube_x(shape, (10, 10), 1, (10, 70))  # same centerline, radius 1
    # Dice by hand: disc r<=1 has 5 voxels, r<=4 has 49 voxels; same length -> 2*5/(5+49)
    assert dice(gt, thin) == pytest.approx(10 / 54)
    # the thin tube still contains the centreline and its skeleton lies inside gt: clDice is 1
    assert cldice(gt, thin) == pytest.approx(1.0)

    # a thickened (radius 6) tube that also runs 20 voxels too far on each side (x 0..79 instead of 10..69)
    thick = tube_x(shape, (10, 10), 6, (0, 80))
    s = cldice_scores(gt, thick)
    assert s["cl_sensitivity"] == pytest.approx(1.0)
    # 3D thinning stops about r - 2 voxels before a flat end (r = 4: 2 voxels, r = 6: 4 voxels), so the
    # skeleton spans x 4..75 = 72 voxels, of which the 60 with x in 10..69 lie inside gt
    assert s["cl_precision"] == pytest.approx(60 / 72, abs=0.03)
    assert s["cldice"] < 0.92


def test_cldice_empty_conventions():
    empty = np.zeros((5, 5, 5), bool)
    full = empty.copy()
    full[1:4, 1:4, 1:4] = True
    assert cldice(empty, empty) == 1.0
    assert cldice(full, empty) == 0.0
    assert cldice(empty, full) == 0.0


def test_topology_shape_mismatch():
    with pytest.raises(GeometryError, match="prediction shape"):
        betti_errors(np.zeros((3, 3, 3)), np.zeros((3, 4, 3)))
    with pytest.raises(GeometryError, match="prediction shape"):
        cldice(np.zeros((3, 3, 3)), np.zeros((3, 4, 3)))


@pytest.mark.parametrize("seed", range(4))
def test_euler_characteristic_matches_skimage(seed):
    from skimage.measure import euler_number

    from nnunetv2_cta.evaluation.topology import euler_characteristic

    rng = np.random.default_rng(seed)
    mask = np.pad(rng.random((9, 11, 13)) < 0.3 + 0.1 * seed, 1)
    assert euler_characteristic(mask) == euler_number(mask, connectivity=3)
