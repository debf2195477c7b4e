"""Rendering a given vessel mask (real vessel shapes) into synthetic CTA / NCCT / DSA, and the preview PNG."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.io import Geometry


def _tube_mask() -> np.ndarray:
    m = np.zeros((24, 32, 32), np.uint8)
    zz, yy, xx = np.mgrid[:24, :32, :32]
    m[(yy - 16) ** 2 + (xx - 12) ** 2 <= 9] = 1  # a 3-voxel-radius vertical tube
    m[(zz - 12) ** 2 + (yy - 16) ** 2 <= 1] = 2  # a thin horizontal branch, other class id
    return m


@pytest.mark.parametrize(("modality", "lo", "hi"), [("cta", 250, 550), ("ncct", 40, 55), ("dsa", 1800, 3200)])
def test_lumen_hu_and_labels(modality, lo, hi):
    from nnunetv2_cta.phantom import render_from_vessel_mask

    mask = _tube_mask()
    case = render_from_vessel_mask(
        mask, Geometry(spacing=(0.6, 0.5, 0.5)), modality=modality, seed=2, label=3
    )
    np.testing.assert_array_equal(case.labels, np.where(mask > 0, 3, 0))
    assert case.image.dtype == np.int16 and case.image.shape == mask.shape
    centre = case.image[4:20, 16, 12].astype(float)  # the axis of the thick tube
    assert lo - 40 < np.median(centre) < hi + 40
    far = ~ndimage.binary_dilation(mask > 0, iterations=4)
    assert abs(np.median(case.image[far]) - case.info["brain"]) < 10
    assert case.graph["segments"] == []


def test_bad_masks():
    from nnunetv2_cta.phantom import render_from_vessel_mask

    g = Geometry(spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ConfigurationError, match="no vessel voxel"):
        render_from_vessel_mask(np.zeros((4, 4, 4)), g)
    with pytest.raises(GeometryError, match=r"3D \[z, y, x\] array"):
        render_from_vessel_mask(np.ones((4, 4)), g)
    with pytest.raises(ConfigurationError, match="label must be one of the vessel labels"):
        render_from_vessel_mask(np.ones((4, 4, 4)), g, label=1)
    with pytest.raises(ConfigurationError, match="modality must be one of"):
        render_from_vessel_mask(np.ones((4, 4, 4)), g, modality="mr")


def test_real_topcow_geometry(real_data):
    from nnunetv2_cta.io import read_image
    from nnunetv2_cta.phantom import render_from_vessel_mask

    mask, geo = read_image(real_data / "topcow" / "topcow_ct_roi_003.nii.gz")
    case = render_from_vessel_mask(mask, geo, modality="cta", seed=0)
    assert case.geometry == geo
    vessel = case.labels == 4
    assert vessel.sum() == (mask > 0).sum()
    # vessels stand out against brain tissue as in a real CTA
    assert np.median(case.image[vessel]) - np.median(case.image[~vessel]) > 150


def test_preview_png(cta_case, dsa_case, tmp_path):
    from nnunetv2_cta.phantom import save_preview_png

    for case in (cta_case, dsa_case):
        path = save_preview_png(case, tmp_path / f"{case.modality}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 5000
