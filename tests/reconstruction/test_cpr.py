from __future__ import annotations

import numpy as np
import pytest
from matplotlib import image as mpimg

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.reconstruction import render_cpr, straightened_cpr


def _band_width_mm(row: np.ndarray, step: float, threshold: float = 220.0) -> tuple[float, float]:
    """Width (mm) of the bright run through the middle column and its centre offset (mm) from the middle."""
    mid = len(row) // 2
    bright = row > threshold
    if not bright[mid]:
        return 0.0, np.inf
    lo = mid
    while lo > 0 and bright[lo - 1]:
        lo -= 1
    hi = mid
    while hi < len(row) - 1 and bright[hi + 1]:
        hi += 1
    return (hi - lo + 1) * step, ((lo + hi) / 2 - mid) * step


def test_straight_tube_band_of_known_width(make_tube):
    # tube of radius 4 mm along z at (y 12 mm, x 10 mm); anisotropic voxels z 2 mm, y 0.5 mm, x 0.5 mm
    spacing = (2.0, 0.5, 0.5)
    image, _ = make_tube((30, 48, 40), spacing, lambda z: (12.0, 10.0), 4.0)
    path = np.array([[2.0, 24.0, 20.0], [27.0, 24.0, 20.0]])  # voxel coordinates of the axis
    lateral, rotated, step = straightened_cpr(image, path, spacing, width_mm=30.0)
    assert step == 0.5  # the smallest voxel size
    assert lateral.shape == (101, 61)  # 50 mm of path at 0.5 mm (+1), 30 mm wide (+1)
    for img in (lateral, rotated):
        for row in img[5:-5]:
            width, offset = _band_width_mm(row, step)
            # lumen diameter 8 mm: 8 mm +- one pixel (sampling at pixel centres, trilinear edge at 220 HU)
            assert width == pytest.approx(8.0, abs=step + 1e-9)
            assert abs(offset) <= step


def test_curved_tube_stays_a_continuous_central_band(make_tube):
    # an S-shaped tube in the y-z plane: y = 20 + 8 sin(z / 15); radius 3 mm, 1 mm voxels.
    # The axial cross-section of a tilted tube is longer in y, so the lumen is painted with the radius
    # measured perpendicular to the axis: r_axial = 3 / cos(tilt).
    spacing = (1.0, 1.0, 1.0)
    shape = (90, 40, 30)
    z = np.arange(shape[0], dtype=np.float64)
    cy = 20 + 8 * np.sin(z / 15)
    slope = 8 / 15 * np.cos(z / 15)
    image = np.full(shape, 40.0, np.float32)
    _, yy, xx = np.indices(shape)
    for k in range(shape[0]):
        r_ax = 3.0 * np.sqrt(1 + slope[k] ** 2)
        inside = ((yy[k] - cy[k]) / r_ax) ** 2 + ((xx[k] - 15) / 3.0) ** 2 <= 1
        image[k][inside] = 400
    path = np.stack([z, cy, np.full_like(z, 15.0)], axis=1)[3:-3]
    lateral, rotated, step = straightened_cpr(image, path, spacing, width_mm=24.0)
    assert step == 1.0
    for img in (lateral, rotated):
        widths = [_band_width_mm(row, step) for row in img[3:-3]]
        assert all(w >= 5.0 and w <= 7.0 for w, _ in widths), widths  # 6 mm +- one pixel
        assert all(abs(o) <= 1.0 for _, o in widths)


def test_lateral_direction_is_patient_x(make_tube):
    # a marker 6 mm to the patient's LEFT (x larger) of a vertical tube appears right of the centre
    spacing = (1.0, 1.0, 1.0)
    image, _ = make_tube((40, 30, 30), spacing, lambda z: (15.0, 15.0), 2.0)
    image[:, 15, 21] = 900
    lateral, _, _ = straightened_cpr(image, [[2, 15, 15], [37, 15, 15]], spacing, width_mm=20.0)
    row = lateral[len(lateral) // 2]
    assert np.argmax(row) - len(row) // 2 == 6


def test_render_cpr_png(tmp_path, make_tube):
    spacing = (1.0, 1.0, 1.0)
    image, _ = make_tube((40, 30, 30), spacing, lambda z: (15.0, 15.0), 3.0)
    out = render_cpr(image, [[2, 15, 15], [37, 15, 15]], spacing, tmp_path / "cpr.png", title="tube <1>")
    assert out == tmp_path / "cpr.png"
    png = mpimg.imread(out)
    assert png.shape[0] > 300 and png.shape[1] > 100


def test_cpr_bad_input(tmp_path, make_tube):
    image, _ = make_tube((20, 20, 20), (1, 1, 1), lambda z: (10.0, 10.0), 3.0)
    with pytest.raises(GeometryError, match=r"path must have at least 2 points, got 1"):
        straightened_cpr(image, [[1, 2, 3]], (1, 1, 1))
    with pytest.raises(GeometryError, match=r"path must be an \(N, 3\) array.*got shape \(2, 2\)"):
        straightened_cpr(image, [[1, 2], [3, 4]], (1, 1, 1))
    with pytest.raises(GeometryError, match=r"path must have a positive length"):
        straightened_cpr(image, [[1, 2, 3], [1, 2, 3]], (1, 1, 1))
    with pytest.raises(ConfigurationError, match=r"width_mm must be a positive number of mm, got -5"):
        straightened_cpr(image, [[1, 2, 3], [5, 2, 3]], (1, 1, 1), width_mm=-5)
    with pytest.raises(GeometryError, match=r"volume must be a 3D"):
        render_cpr(image[0], [[1, 2, 3], [5, 2, 3]], (1, 1, 1), tmp_path / "x.png")
