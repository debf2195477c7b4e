from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from nnunetv2_cta.errors import GeometryError, SpacingError
from nnunetv2_cta.evaluation import assd, hd95, surface_metrics


def _analytic(radius: float, shift: float) -> tuple[float, float]:
    """HD95 and ASSD of two balls of `radius` whose centres are `shift` apart (continuous surfaces).

    A point of sphere A at polar cosine u (uniform on [-1, 1] for uniform area) lies at distance
    f(u) = |sqrt(R^2 + d^2 - 2 R d u) - R| from sphere B. f is d at both poles and 0 at u = d / 2R; the set
    f > t has measure 2 - 2t/d out of 2, so the 95th percentile is t = 0.95 d. ASSD is the mean of f.
    """
    f = lambda u: abs(np.sqrt(radius**2 + shift**2 - 2 * radius * shift * u) - radius)  # noqa: E731
    mean = integrate.quad(f, -1, 1, points=[shift / (2 * radius)])[0] / 2
    return 0.95 * shift, mean


@pytest.mark.parametrize(
    "spacing, shift_axis, shift",
    [((0.5, 0.5, 0.5), 2, 4.0), ((1.5, 0.6, 0.6), 0, 4.5), ((1.5, 0.6, 0.6), 2, 4.2)],
)
def test_shifted_balls_against_analytic_values(ball_mm, spacing, shift_axis, shift):
    radius = 10.0
    extent = (45.0, 32.0, 40.0)
    shape = tuple(round(e / s) for e, s in zip(extent, spacing))
    centre = np.array([16.0, 16.0, 16.0])
    moved = centre.copy()
    moved[shift_axis] += shift
    a = ball_mm(shape, spacing, tuple(centre), radius)
    b = ball_mm(shape, spacing, tuple(moved), radius)
    m = surface_metrics(a, b, spacing)
    hd95_expected, assd_expected = _analytic(radius, shift)
    tol = 0.5 * max(spacing)  # voxelised surfaces are off by up to half a voxel
    assert m["hd95_mm"] == pytest.approx(hd95_expected, abs=tol)
    assert m["assd_mm"] == pytest.approx(assd_expected, abs=tol)
    assert m["hd_mm"] == pytest.approx(shift, abs=tol)
    assert hd95(a, b, spacing) == m["hd95_mm"] and assd(a, b, spacing) == m["assd_mm"]


def test_identical_masks_have_zero_distance(ball_mm):
    a = ball_mm((20, 20, 20), (1, 1, 1), (10, 10, 10), 6)
    assert surface_metrics(a, a, (1, 1, 1)) == {"hd95_mm": 0.0, "hd_mm": 0.0, "assd_mm": 0.0}


def test_distance_between_two_distant_cubes_honours_spacing():
    gt = np.zeros((4, 4, 30), bool)
    pred = np.zeros_like(gt)
    gt[1:3, 1:3, 2:4] = True
    pred[1:3, 1:3, 22:24] = True  # every surface voxel of one cube is 19 or 20 x-steps from the other's
    m = surface_metrics(gt, pred, (1.0, 1.0, 0.25))
    assert m["hd_mm"] == pytest.approx(20 * 0.25)
    assert m["hd95_mm"] == pytest.approx(20 * 0.25)
    assert m["assd_mm"] == pytest.approx(19.5 * 0.25)


def test_empty_side_conventions():
    spacing = (2.0, 1.0, 1.0)
    empty = np.zeros((10, 20, 30), bool)
    some = empty.copy()
    some[4:6, 4:6, 4:6] = True
    diagonal = np.sqrt(20.0**2 + 20.0**2 + 30.0**2)
    assert surface_metrics(empty, empty, spacing) == {"hd95_mm": 0.0, "hd_mm": 0.0, "assd_mm": 0.0}
    for a, b in ((empty, some), (some, empty)):
        m = surface_metrics(a, b, spacing)
        assert m["hd95_mm"] == pytest.approx(diagonal) and m["assd_mm"] == pytest.approx(diagonal)


def test_surface_bad_input():
    with pytest.raises(GeometryError, match="prediction shape"):
        hd95(np.zeros((3, 3, 3)), np.zeros((3, 3, 2)), (1, 1, 1))
    with pytest.raises(SpacingError, match="spacing"):
        hd95(np.ones((3, 3, 3)), np.ones((3, 3, 3)), (1, -1, 1))


def test_kd_tree_and_edt_paths_agree(ball_mm, monkeypatch):
    from nnunetv2_cta.evaluation import surface as surface_module

    spacing = (1.5, 0.6, 0.6)
    a = ball_mm((30, 50, 60), spacing, (20.0, 15.0, 15.0), 8.0)
    b = ball_mm((30, 50, 60), spacing, (22.0, 16.0, 19.0), 6.0)
    monkeypatch.setattr(surface_module, "KD_TREE_RATIO", 10**9)  # always the k-d tree
    kd = surface_module.directed_surface_distances(a, b, spacing)
    monkeypatch.setattr(surface_module, "KD_TREE_RATIO", 0)  # always the EDT
    dt = surface_module.directed_surface_distances(a, b, spacing)
    for x, y in zip(kd, dt):
        np.testing.assert_allclose(x, y, rtol=1e-6)
