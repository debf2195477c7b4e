"""Raw dataset writer and the nifti-pairs converter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.conversion.common import RawDatasetWriter, parse_label_mapping
from nnunetv2_cta.conversion.nifti_pairs import convert_nifti_pairs, remove_label_noise
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError, OutputExistsError
from nnunetv2_cta.io import Geometry, read_image


def test_remove_label_noise_hand_example():
    labels = np.zeros((8, 8, 8), dtype=np.uint8)
    labels[1:4, 1:4, 1:4] = 3  # 27 voxels
    labels[6, 6, 6] = 3  # lone voxel
    labels[6, 0:2, 0] = 4  # 2 voxels of another label
    out, report = remove_label_noise(labels, (1.0, 1.0, 1.0), 2.0)
    assert report == {"removed_components": {3: 1}, "removed_voxels": {3: 1}}
    assert out[6, 6, 6] == 0 and out[2, 2, 2] == 3 and (out == 4).sum() == 2
    # at 2 mm isotropic a voxel is 8 mm³: a 10 mm³ threshold removes the 2-voxel (16 mm³)? no, keeps it
    out, report = remove_label_noise(labels, (2.0, 2.0, 2.0), 10.0)
    assert report["removed_voxels"] == {3: 1}
    with pytest.raises(ConfigurationError, match="min_component_mm3 must be >= 0, got -1"):
        remove_label_noise(labels, (1, 1, 1), -1)


@pytest.mark.parametrize(
    ("text", "match"),
    [("1:2,x:3", "must look like 'FROM:TO'"), ("1:7", r"targets must be in \[0, 1, 2, 3, 4\], got \[7\]")],
)
def test_parse_label_mapping_rejects(text, match):
    with pytest.raises(ConfigurationError, match=match):
        parse_label_mapping(text)


def _pairs(tmp_path, helpers):
    image, labels = helpers.head_phantom()
    foreign = np.where(labels == 1, 7, np.where(labels == 4, 9, 0)).astype(np.uint8)
    noisy = foreign.copy()
    noisy[2, 2, 2] = 9  # a mis-click island far from the vessel
    img_dir, lab_dir = tmp_path / "images", tmp_path / "labels"
    helpers.write_case(img_dir, "caseA_0000.nii.gz", image)
    helpers.write_case(lab_dir, "caseA.nii.gz", noisy)
    helpers.write_case(img_dir, "caseB.mha", image[::-1].copy())
    helpers.write_case(lab_dir, "caseB.nrrd", foreign[::-1].copy())
    helpers.write_case(img_dir, "caseC_0000.nii.gz", image)
    helpers.write_case(lab_dir, "caseC.nii.gz", foreign, spacing=(2.0, 2.0, 2.5))  # grid mismatch
    helpers.write_case(img_dir, "caseD_0000.nii.gz", image)  # no label
    helpers.write_case(img_dir, "caseE_0000.nii.gz", np.full(image.shape, 5.0, np.float32))
    helpers.write_case(lab_dir, "caseE.nii.gz", foreign)  # constant image
    bad_nan = image.copy()
    bad_nan[0, 0, 0] = np.nan
    helpers.write_case(img_dir, "caseF_0000.mha", bad_nan)  # SimpleITK turns NaN in NIfTI into 0
    helpers.write_case(lab_dir, "caseF.nii.gz", foreign)
    helpers.write_case(img_dir, "caseG_0000.nii.gz", image)
    helpers.write_case(
        lab_dir, "caseG.nii.gz", np.where(foreign == 9, 5, foreign).astype(np.uint8)
    )  # unmapped 5
    return img_dir, lab_dir, labels


def test_nifti_pairs_dataset_skips_and_verifies(tmp_path, helpers, nnunet_dirs, verify):
    img_dir, lab_dir, truth = _pairs(tmp_path, helpers)
    summary = convert_nifti_pairs(
        img_dir, lab_dir, dataset_id=930, name="Pairs", label_mapping={7: 1, 9: 4}, min_component_mm3=10.0
    )
    target = nnunet_dirs["nnUNet_raw"] / "Dataset930_Pairs"
    assert summary.output == target and summary.written == ["caseA", "caseB"]
    reasons = {s.case: s.reason for s in summary.skipped}
    assert "spacing" in reasons["caseC"]
    assert reasons["caseD"] == "no label map with the same case name"
    assert "constant" in reasons["caseE"]
    assert "NaN" in reasons["caseF"]
    assert "[5] have no entry in the mapping" in reasons["caseG"]
    labels, _ = read_image(target / "labelsTr" / "caseA.nii.gz")
    np.testing.assert_array_equal(labels, truth)  # mapped, island removed
    dj = json.loads((target / "dataset.json").read_text())
    assert dj["channel_names"] == {"0": "CT"} and dj["numTraining"] == 2
    assert dj["cta_conversion"]["cases"]["caseA"]["label_noise_removed"]["removed_voxels"] == {"4": 1}
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp_")]
    verify(target)
    # the id is used now, also under another name
    with pytest.raises(OutputExistsError, match="dataset id 930 is already used by 'Dataset930_Pairs'"):
        convert_nifti_pairs(img_dir, lab_dir, dataset_id=930, name="Other", label_mapping={7: 1, 9: 4})
    summary = convert_nifti_pairs(
        img_dir,
        lab_dir,
        dataset_id=930,
        name="Other",
        label_mapping={7: 1, 9: 4},
        overwrite=True,
        rename=True,
    )
    assert sorted(p.name for p in target.parent.glob("Dataset930_*")) == ["Dataset930_Other"]
    assert summary.written == ["case_000", "case_001"]


def test_strict_failure_leaves_no_folder(tmp_path, helpers, nnunet_dirs):
    img_dir, lab_dir, _ = _pairs(tmp_path, helpers)
    with pytest.raises(GeometryError, match="caseC label map: spacing"):
        convert_nifti_pairs(
            img_dir, lab_dir, dataset_id=931, name="Strict", label_mapping={7: 1, 9: 4}, strict=True
        )
    assert not list(nnunet_dirs["nnUNet_raw"].glob("*931*"))
    assert not list(nnunet_dirs["nnUNet_raw"].glob(".tmp_*"))
    with pytest.raises(DatasetFormatError, match=r"label values \[7, 9\] are not in the scheme"):
        convert_nifti_pairs(img_dir, lab_dir, dataset_id=931, name="Strict", strict=True)


def test_writer_rejects_bad_ids_and_empty_datasets(tmp_path):
    with pytest.raises(ConfigurationError, match=r"dataset id must be an integer in 1\.\.999, got 1000"):
        RawDatasetWriter(1000, "X", output=tmp_path / "x")
    with pytest.raises(ConfigurationError, match="dataset name must be letters"):
        RawDatasetWriter(932, "bad name", output=tmp_path / "x")
    with pytest.raises(DatasetFormatError, match="no case could be converted"):
        with RawDatasetWriter(932, "Empty", output=tmp_path / "Dataset932_Empty") as w:
            w.skip("a", "why not")
            w.finish()
    assert list(tmp_path.iterdir()) == []
    image = np.zeros((4, 4, 4), np.int16)
    image[1] = 100
    with RawDatasetWriter(932, "Two", output=tmp_path / "Dataset932_Two") as w:
        with pytest.raises(DatasetFormatError, match="expected a 3D volume"):
            w.add_case("flat", image[:1], Geometry((1, 1, 1)), np.zeros((1, 4, 4), np.uint8))
        with pytest.raises(DatasetFormatError, match="non-integer values"):
            w.add_case("soft", image, Geometry((1, 1, 1)), np.full((4, 4, 4), 0.5))
