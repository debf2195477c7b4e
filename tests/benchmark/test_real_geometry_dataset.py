"""The benchmark's real-geometry dataset: which files it takes, how the AVM angiogram becomes a mask, errors.

Uses small hand-made stand-ins for the real files (the real folder may be absent), so the expected masks are known
voxel by voxel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.benchmark.real_geometry import (
    AVM_MIN_ISLAND,
    AVM_THRESHOLD,
    REAL_DATA_ENV,
    default_real_data_dir,
    real_geometry_sources,
    vessel_mask,
    write_real_geometry_dataset,
)
from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.io import read_image
from nnunetv2_cta.labels import INTRACRANIAL


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


def test_no_real_data_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetFormatError, match=rf"no real vessel masks in .*empty.*{REAL_DATA_ENV}"):
        write_real_geometry_dataset(tmp_path / "out", tmp_path / "empty", dataset_id=974, name="RealGeometry")


def test_data_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(REAL_DATA_ENV, str(tmp_path))
    assert default_real_data_dir() == tmp_path
    monkeypatch.delenv(REAL_DATA_ENV)
    assert default_real_data_dir().parts[-3:] == ("shared", "data", "real")
