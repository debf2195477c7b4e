from __future__ import annotations

import time

import numpy as np
import pytest
from matplotlib import image as mpimg

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.reconstruction import mip_image, render_mips, render_vr
from nnunetv2_cta.reconstruction.vr import PALETTE, depth_and_region


def _point_volume():
    """Spacing (z 2 mm, y 0.5 mm, x 1 mm), 10x40x20 voxels = 20 mm in every direction; one 600 HU voxel
    near the head (z 9), the patient's right (x 2) and anterior (y 3)."""
    vol = np.full((10, 40, 20), -100.0, np.float32)
    vol[9, 3, 2] = 600.0
    return vol, (2.0, 0.5, 1.0)


@pytest.mark.parametrize(
    ("view", "shape", "pixel"),
    # square pixels of the smaller of the two in-plane voxel sizes; 20 mm x 20 mm in every view
    [("anterior", (20, 20), 1.0), ("lateral", (40, 40), 0.5), ("axial", (40, 40), 0.5)],
)
def test_mip_aspect_from_anisotropic_spacing(view, shape, pixel):
    vol, spacing = _point_volume()
    image, pixel_mm = mip_image(vol, spacing, view)
    assert image.shape == shape
    assert pixel_mm == pixel


def test_mip_orientation_radiological():
    vol, spacing = _point_volume()
    ant, _ = mip_image(vol, spacing, "anterior")  # rows z (head up), cols x (patient's right on the left)
    r, c = np.unravel_index(np.argmax(ant), ant.shape)
    assert r < 2 and c == 2  # z 9 of 10 -> top 2 mm-rows; x 2 -> column 2 (1 mm pixels)
    lat, _ = mip_image(vol, spacing, "lateral")  # cols y: anterior on the image left
    r, c = np.unravel_index(np.argmax(lat), lat.shape)
    assert r < 4 and c == 3
    axial, _ = mip_image(vol, spacing, "axial")  # rows y (anterior up), cols x (right on the left)
    r, c = np.unravel_index(np.argmax(axial), axial.shape)
    assert r == 3 and c in (4, 5)  # x 2 at 1 mm -> 0.5 mm pixels 4..5


def test_render_mips_writes_windowed_pngs(tmp_path):
    vol, spacing = _point_volume()
    vol[0, 0, 0] = 250.0  # middle of the default window (-100, 600)
    paths = render_mips(vol, spacing, tmp_path / "mips", "c1", min_side_px=0)
    assert set(paths) == {"anterior", "lateral", "axial"}
    assert paths["anterior"].name == "c1_mip_anterior.png"
    png = mpimg.imread(paths["anterior"])
    assert png.shape[:2] == (20, 20)
    assert png[..., 0].min() == 0.0 and png[..., 0].max() == 1.0
    assert abs(png[19, 0, 0] - 0.5) < 0.01  # z 0 -> bottom row, x 0 -> left column: 250 HU -> mid grey
    assert not list((tmp_path / "mips").glob(".tmp_*"))
    # a small image is enlarged by a whole factor: 20 px -> ceil(384 / 20) = 20 -> 400 px, pixels replicated
    big = mpimg.imread(render_mips(vol, spacing, tmp_path / "big", "c1", views=("anterior",))["anterior"])
    assert big.shape[:2] == (400, 400)
    np.testing.assert_array_equal(big, np.repeat(np.repeat(png, 20, axis=0), 20, axis=1))
    auto = render_mips(vol, spacing, tmp_path, "c2", window="auto", views=("axial",))
    assert list(auto) == ["axial"]


def test_mip_bad_input(tmp_path):
    vol, spacing = _point_volume()
    with pytest.raises(ConfigurationError, match=r"MIP view must be one of .*got 'coronal'"):
        render_mips(vol, spacing, tmp_path, "c", views=("coronal",))
    with pytest.raises(
        ConfigurationError, match=r"window must be two finite numbers with lo < hi, got \(5, 5\)"
    ):
        render_mips(vol, spacing, tmp_path, "c", window=(5, 5))
    with pytest.raises(GeometryError, match=r"volume must be a 3D \[z, y, x\] array, got shape \(40, 20\)"):
        render_mips(vol[0], spacing, tmp_path, "c")


def _two_tubes():
    """An aorta-labelled tube (2) on the patient's right (x small) near the viewer (y 8) and an
    intracranial tube (4) on the left (x large) behind it (y 30), both along z; 1 mm voxels."""
    labels = np.zeros((40, 40, 40), np.uint8)
    _, y, x = np.indices(labels.shape)
    labels[((y - 8) ** 2 + (x - 10) ** 2 <= 9)] = 2
    labels[((y - 30) ** 2 + (x - 28) ** 2 <= 9)] = 4
    return labels


def test_vr_depth_region_and_orientation():
    labels = _two_tubes()
    depth, region, pixel = depth_and_region(labels, (1.0, 1.0, 1.0), "anterior")
    assert pixel == 1.0
    rows, cols = np.nonzero(region == 2)
    assert cols.mean() < region.shape[1] / 2  # patient's right on the image left
    near = np.nanmedian(depth[region == 2])
    far = np.nanmedian(depth[region == 4])
    # the crop starts 2 voxels before y 5 (front of the aorta tube); the front of tube 4 is at y 27
    assert far - near == pytest.approx(22.0, abs=1.0)
    # the front surface of a round tube is nearest at its axis: depth grows toward its edges
    r = rows[0]
    line = depth[r][region[r] == 2]
    assert line[len(line) // 2] < line[0] and line[len(line) // 2] < line[-1]


def test_render_vr_colours_legend_and_speed(tmp_path):
    labels = _two_tubes()
    t0 = time.perf_counter()
    path = render_vr(labels, (1.0, 1.0, 1.0), tmp_path / "vr.png", title="two tubes")
    assert time.perf_counter() - t0 < 10
    rgb = mpimg.imread(path)[..., :3]
    red = (rgb[..., 0] > 0.5) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)
    blue = (rgb[..., 2] > 0.6) & (rgb[..., 0] < 0.4)
    assert red.sum() > 100 and blue.sum() > 100
    # shading: the lit tube is not one flat colour
    assert np.ptp(rgb[red][:, 0]) > 0.2
    assert PALETTE[3] != PALETTE[2]


def test_render_vr_empty_and_bad_input(tmp_path, caplog):
    empty = np.zeros((8, 8, 8), np.uint8)
    path = render_vr(empty, (1, 1, 1), tmp_path / "empty.png")
    assert path.is_file()
    assert "no voxel of labels" in caplog.text
    with pytest.raises(ConfigurationError, match=r"VR view must be one of .*got 'top'"):
        render_vr(empty, (1, 1, 1), tmp_path / "x.png", view="top")
    with pytest.raises(ConfigurationError, match=r"labels_to_show must name at least one label, got \(\)"):
        render_vr(empty, (1, 1, 1), tmp_path / "x.png", labels_to_show=())
