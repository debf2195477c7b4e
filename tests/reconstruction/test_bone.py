from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, GeometryError, SpacingError
from nnunetv2_cta.reconstruction import bone_free_ct


def _scene():
    """Soft tissue 30 HU; a 1000 HU bone slab (label 1) at x 10..13; a 400 HU artery (label 3) touching
    it at x 14..15; a 600 HU bright rim voxel column at x 9 (unlabelled partial volume); a vein (600 HU,
    label 0) far away at x 25; air (-1000 HU) inside the bone label at one voxel."""
    shape = (12, 12, 30)
    ct = np.full(shape, 30, np.int16)
    labels = np.zeros(shape, np.uint8)
    ct[:, :, 10:14] = 1000
    labels[:, :, 10:14] = 1
    ct[:, :, 14:16] = 400
    labels[:, :, 14:16] = 3
    ct[:, :, 9] = 600
    ct[:, :, 25] = 600
    ct[5, 5, 11] = -1000
    return ct, labels


def test_contract_bone_gone_vessels_kept():
    ct, labels = _scene()
    out = bone_free_ct(ct, labels, (1.0, 1.0, 1.0))
    assert out.dtype == np.int16 and out.shape == ct.shape
    bone = labels == 1
    assert out[bone].max() <= 300
    # median of the non-bone, non-vessel body voxels (-300..200 HU) is the tissue value 30
    assert out[0, 0, 12] == 30
    assert out[5, 5, 11] == -1000  # air inside the bone label stays air
    np.testing.assert_array_equal(out[labels == 3], ct[labels == 3])  # artery untouched next to bone
    assert np.all(out[:, :, 9] == 30)  # the bright rim (1 mm from bone) is removed
    assert np.all(out[:, :, 25] == 600)  # a bright vessel far from bone is kept
    assert np.all(out[:, :, 0:8] == ct[:, :, 0:8])


def test_fill_hu_and_float_input():
    ct, labels = _scene()
    out = bone_free_ct(ct.astype(np.float64), labels, (1.0, 1.0, 1.0), fill_hu=55.0, margin_mm=0.0)
    assert out.dtype == np.float32
    assert out[0, 0, 12] == 55.0
    assert out[0, 0, 9] == 600.0  # margin 0: the rim stays


@pytest.mark.parametrize(
    ("margin", "removed_x", "kept_x", "removed_z", "kept_z"),
    [
        # spacing (z 3 mm, y 1 mm, x 1 mm): the rim reaches at least the 26-neighbours (|(3,1,1)| = 3.32 mm)
        (1.0, [1, 2, 3], [4], [1], [2]),
        (5.0, [1, 2, 3, 4, 5], [6], [1], [2]),
        (6.5, [1, 6], [7], [1, 2], [3]),
    ],
)
def test_margin_is_in_mm_with_anisotropic_spacing(margin, removed_x, kept_x, removed_z, kept_z):
    shape = (12, 5, 24)
    ct = np.full(shape, 500, np.int16)  # bright everywhere: every rim voxel inside the margin changes
    labels = np.zeros(shape, np.uint8)
    labels[5, 2, 8] = 1
    ct[0, 0, 0] = 40  # median source
    out = bone_free_ct(ct, labels, (3.0, 1.0, 1.0), margin_mm=margin, fill_hu=40)
    for d in removed_x:
        assert out[5, 2, 8 + d] == 40, d
    for d in kept_x:
        assert out[5, 2, 8 + d] == 500, d
    for d in removed_z:
        assert out[5 + d, 2, 8] == 40, d
    for d in kept_z:
        assert out[5 + d, 2, 8] == 500, d


def test_no_bone_returns_copy():
    ct = np.full((4, 4, 4), 100, np.int16)
    out = bone_free_ct(ct, np.zeros_like(ct, dtype=np.uint8), (1, 1, 1))
    np.testing.assert_array_equal(out, ct)
    assert out is not ct


def test_bad_input():
    ct, labels = _scene()
    with pytest.raises(GeometryError, match=r"labels shape \(12, 12, 29\) != ct shape"):
        bone_free_ct(ct, labels[:, :, :29], (1, 1, 1))
    with pytest.raises(GeometryError, match=r"ct must be a 3D \[z, y, x\] array, got shape \(12, 30\)"):
        bone_free_ct(ct[0], labels, (1, 1, 1))
    with pytest.raises(SpacingError, match=r"spacing must be three positive.*got \(1, 0, 1\)"):
        bone_free_ct(ct, labels, (1, 0, 1))
    with pytest.raises(ConfigurationError, match=r"margin_mm must be a non-negative number of mm, got -1"):
        bone_free_ct(ct, labels, (1, 1, 1), margin_mm=-1)
