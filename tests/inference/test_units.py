"""Parts of ``predict`` without a model: lean export, clean-up, input discovery."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError
from nnunetv2_cta.inference.inputs import find_inputs, load_input
from nnunetv2_cta.inference.model import logits_to_labels
from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.postprocessing.cleanup import clean_labels


# ---- lean export ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("slab", [1, 3, 16])
def test_export_equals_torch_trilinear_then_argmax(slab):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 6, 7, generator=g)
    shape = (11, 13, 9)  # up in z and y, up in x: every axis resampled
    ref = F.interpolate(logits[None], size=shape, mode="trilinear", align_corners=False)[0].argmax(0)
    out = logits_to_labels(logits, shape, slab=slab)
    assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(out, ref.numpy())


def test_export_downsampling_matches_torch():
    logits = torch.randn(2, 9, 8, 8, generator=torch.Generator().manual_seed(1))
    ref = F.interpolate(logits[None], size=(4, 3, 5), mode="trilinear", align_corners=False)[0].argmax(0)
    np.testing.assert_array_equal(logits_to_labels(logits, (4, 3, 5), slab=2), ref.numpy())


def test_export_regions_rule_by_hand():
    # channels: region "bone" -> 1, region "vessels" -> 3, region "aorta" -> 2 (later channels overwrite)
    logits = torch.full((3, 1, 1, 4), -1.0)
    logits[0, 0, 0, 1] = 2.0  # bone only -> 1
    logits[1, 0, 0, 2] = 0.5  # vessels only -> 3
    logits[1, 0, 0, 3] = 0.5  # vessels and aorta -> 2
    logits[2, 0, 0, 3] = 0.1
    out = logits_to_labels(logits, (1, 1, 4), regions_class_order=(1, 3, 2))
    assert out.ravel().tolist() == [0, 1, 3, 2]


# channels of our region training: bone, vessels, aorta, carotid, intracranial (nnunetv2_cta.labels)
OUR_REGIONS = [(1,), (2, 3, 4), (2,), (3,), (4,)]
OUR_ORDER = (1, 3, 2, 3, 4)


def test_export_regions_keep_every_vessel_region():
    """Hand-made logits, one voxel per column; nnU-Net's overwrite rule would give [0, 1, 3, 3, 3, 3, 0, 3]."""
    columns = [
        # bone, vessels, aorta, carotid, intracranial -> expected label
        ((-4.0, -4.0, -4.0, -4.0, -4.0), 0),  # nothing
        ((3.0, -2.0, -4.0, -4.0, -4.0), 1),  # bone only
        ((-4.0, 2.0, 3.0, 1.0, -4.0), 2),  # aorta and carotid both > 0.5, aorta more probable -> aorta
        ((-4.0, 2.0, 1.0, 3.0, -4.0), 3),  # both > 0.5, carotid more probable -> carotid
        ((-4.0, 1.0, -3.0, -2.0, -0.5), 4),  # vessel, no sub-region > 0.5: the most probable (intracranial)
        ((2.0, 0.5, -3.0, 0.2, -1.0), 3),  # bone and vessel: vessel wins, carotid
        ((-4.0, -1.0, 4.0, -4.0, -4.0), 0),  # aorta channel alone, vessels < 0.5: not a vessel
        ((-4.0, 0.1, -0.1, -0.1, -0.2), 2),  # ties broken by the first channel (aorta)
    ]
    logits = torch.tensor([c for c, _ in columns]).T.reshape(5, 1, 1, len(columns))
    out = logits_to_labels(logits, (1, 1, len(columns)), regions=OUR_REGIONS, regions_class_order=OUR_ORDER)
    assert out.ravel().tolist() == [label for _, label in columns]


def test_stock_nnunet_region_rule_loses_regions_ours_keeps_them():
    """What stock nnUNetv2_predict does with our dataset.json (the README states this limit): the same logits
    through nnU-Net's own LabelManager give carotid where aorta wins, and carotid for a vessel voxel whose
    sub-regions all stay below 0.5."""
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    from nnunetv2_cta.labels import REGION_LABELS, REGIONS_CLASS_ORDER

    columns = [(-4.0, 2.0, 3.0, 1.0, -4.0), (-4.0, 1.0, -3.0, -2.0, -0.5), (-4.0, 2.0, -3.0, -2.0, 3.0)]
    logits = torch.tensor(columns).T.reshape(5, 1, 1, 3)
    stock = LabelManager(REGION_LABELS, list(REGIONS_CLASS_ORDER)).convert_logits_to_segmentation(logits)
    assert np.asarray(stock).ravel().tolist() == [3, 3, 4]
    ours = logits_to_labels(logits, (1, 1, 3), regions=OUR_REGIONS, regions_class_order=OUR_ORDER)
    assert ours.ravel().tolist() == [2, 4, 4]


def test_export_regions_decoding_survives_interpolation():
    # aorta dominates the left half, carotid the right half; both exceed 0.5 everywhere inside the vessel
    logits = torch.full((5, 2, 2, 2), -5.0)
    logits[1] = 4.0
    logits[2, :, :, 0], logits[3, :, :, 0] = 3.0, 1.0
    logits[2, :, :, 1], logits[3, :, :, 1] = 1.0, 3.0
    out = logits_to_labels(logits, (4, 4, 4), regions=OUR_REGIONS, regions_class_order=OUR_ORDER, slab=3)
    # trilinear along x at half-pixel centres: x = 0, 1 -> left weights >= 0.5 (aorta), x = 2, 3 -> carotid
    assert (out[:, :, :2] == 2).all() and (out[:, :, 2:] == 3).all()


def test_export_bad_input():
    with pytest.raises(GeometryError, match=r"logits must be \(C, z, y, x\), got shape \(2, 3\)"):
        logits_to_labels(torch.zeros(2, 3), (1, 1, 1))
    with pytest.raises(GeometryError, match="three positive sizes"):
        logits_to_labels(torch.zeros(2, 1, 1, 1), (0, 1, 1))
    with pytest.raises(ConfigurationError, match="regions_class_order has 2 entries for 3 logit channels"):
        logits_to_labels(torch.zeros(3, 1, 1, 1), (1, 1, 1), regions_class_order=(1, 2))
    with pytest.raises(ConfigurationError, match=r"regions_class_order has 2 entries for 3 regions"):
        logits_to_labels(
            torch.zeros(2, 1, 1, 1), (1, 1, 1), regions=[(1,), (2,), (3,)], regions_class_order=(1, 2)
        )


# ---- clean-up ------------------------------------------------------------------------------------------
def test_cleanup_drops_compact_specks_keeps_thin_branches():
    labels = np.zeros((20, 20, 20), dtype=np.uint8)
    labels[2, 2, 2:10] = 4  # thin branch: 8 voxels = 8 mm3 < 10 but 8 mm long -> stays
    labels[10:12, 10:12, 10:12] = 3  # compact speck: 8 mm3, 2 mm -> removed
    labels[15:18, 2:5, 2:5] = 2  # 27 mm3 >= 10 -> stays, though only 3 mm long
    labels[2:5, 15:18, 15:18] = 1  # bone speck 27 mm3 < 50 -> removed
    labels[14:18, 14:18, 14:18] = 1  # bone 64 mm3 -> stays
    cleaned, report = clean_labels(labels, (1.0, 1.0, 1.0))
    assert report.to_dict() == {
        "vessel_specks_removed": 1,
        "vessel_voxels_removed": 8,
        "bone_specks_removed": 1,
        "bone_voxels_removed": 27,
    }
    assert np.count_nonzero(cleaned == 4) == 8 and np.count_nonzero(cleaned == 2) == 27
    assert np.count_nonzero(cleaned == 3) == 0 and np.count_nonzero(cleaned == 1) == 64
    assert labels[10, 10, 10] == 3  # input untouched


def test_cleanup_counts_voxel_size_in_mm():
    # the same 2x2x2 speck at 2 mm voxels is 64 mm3 and 4 mm long: it stays
    labels = np.zeros((8, 8, 8), dtype=np.uint8)
    labels[2:4, 2:4, 2:4] = 3
    cleaned, report = clean_labels(labels, (2.0, 2.0, 2.0))
    assert report.vessel_specks == 0 and np.array_equal(cleaned, labels)


def test_cleanup_bad_input():
    with pytest.raises(GeometryError, match=r"3D \[z, y, x\] array, got shape \(4, 4\)"):
        clean_labels(np.zeros((4, 4), np.uint8), (1, 1, 1))
    with pytest.raises(
        GeometryError, match=r"spacing must be three positive mm values .* got \[1.0, 0.0, 1.0\]"
    ):
        clean_labels(np.zeros((4, 4, 4), np.uint8), (1, 0, 1))
    with pytest.raises(ConfigurationError, match="min_vessel_mm3 must be a finite number >= 0, got -1"):
        clean_labels(np.zeros((4, 4, 4), np.uint8), (1, 1, 1), min_vessel_mm3=-1)


# ---- inputs --------------------------------------------------------------------------------------------
def _ct(path, value_range=(-1000.0, 400.0)):
    arr = np.linspace(*value_range, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    return write_image(path, arr, Geometry(spacing=(2.0, 1.0, 1.0)))


def test_find_inputs_file_folder_and_channel_suffix(tmp_path):
    _ct(tmp_path / "a_0000.nii.gz")
    _ct(tmp_path / "b.mha")
    (tmp_path / "notes.txt").write_text("not an image")
    cases = find_inputs(tmp_path)
    assert [(c.case, c.path.name) for c in cases] == [("a", "a_0000.nii.gz"), ("b", "b.mha")]
    assert [c.case for c in find_inputs(tmp_path / "b.mha")] == ["b"]
    ct, geometry = load_input(cases[0])
    assert ct.dtype == np.float32 and ct.shape == (4, 5, 6)
    np.testing.assert_allclose(geometry.spacing, (2.0, 1.0, 1.0))


def test_find_inputs_bad_input(tmp_path):
    with pytest.raises(DatasetFormatError, match="does not exist"):
        find_inputs(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(DatasetFormatError, match="is not a NIfTI/MHA/NRRD volume"):
        find_inputs(tmp_path / "x.txt")
    with pytest.raises(DatasetFormatError, match="holds no NIfTI/MHA/NRRD volume and no DICOM CT series"):
        find_inputs(tmp_path)
    _ct(tmp_path / "c_0001.nii.gz")  # alone, "_0001" is part of the case id (patient_2024.mha is a case)
    assert [c.case for c in find_inputs(tmp_path)] == ["c_0001"]
    _ct(tmp_path / "c_0000.nii.gz")  # beside c_0000 it is a second channel: that case fails when loaded
    (multi,) = find_inputs(tmp_path)
    with pytest.raises(DatasetFormatError, match="channel 0001 is not 0000"):
        load_input(multi)
    (tmp_path / "c_0001.nii.gz").unlink()
    (tmp_path / "c_0000.nii.gz").unlink()
    _ct(tmp_path / "d.nii.gz")
    _ct(tmp_path / "d_0000.nii.gz")
    with pytest.raises(DatasetFormatError, match="both give case 'd'"):
        find_inputs(tmp_path)


def test_load_input_rejects_non_ct(tmp_path):
    _ct(tmp_path / "norm.nii.gz", value_range=(0.0, 1.0))
    (case,) = find_inputs(tmp_path / "norm.nii.gz")
    with pytest.raises(
        DatasetFormatError, match=r"'norm' .* does not look like CT in HU: values 0.0\.\.1\.0"
    ):
        load_input(case)


def test_vessel_probability_and_export_values_by_hand():
    from types import SimpleNamespace

    from nnunetv2_cta.inference.model import StageModel

    regions = SimpleNamespace(
        has_regions=True,
        foreground_regions=[(1,), (2, 3, 4), (2,), (3,), (4,)],
        foreground_labels=[1, 2, 3, 4],
    )
    fake = SimpleNamespace(label_manager=regions, model_dir="m")
    logits = torch.zeros(5, 1, 1, 2)
    logits[1, 0, 0] = torch.tensor([0.0, 2.0])  # the all-vessels region
    p = StageModel.vessel_probability(fake, logits)
    np.testing.assert_allclose(p[0, 0, 0].numpy(), [0.5, 1 / (1 + np.exp(-2))], rtol=1e-6)
    softmax = SimpleNamespace(has_regions=False, foreground_labels=[1, 2, 3, 4])
    fake = SimpleNamespace(label_manager=softmax, model_dir="m")
    # 5 classes with equal logits: each 0.2, vessels (2, 3, 4) together 0.6
    np.testing.assert_allclose(
        StageModel.vessel_probability(fake, torch.zeros(5, 1, 1, 1)).numpy(), [[[[0.6]]]]
    )

    # export: model grid (1, 2, 2, 2) -> cropped shape (1, 2, 4) placed into (3, 2, 4) at z = 1; transpose back
    fake = SimpleNamespace(
        predictor=SimpleNamespace(plans_manager=SimpleNamespace(transpose_backward=[0, 1, 2]))
    )
    values = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]])
    props = {
        "shape_after_cropping_and_before_resampling": (1, 2, 4),
        "shape_before_cropping": (3, 2, 4),
        "bbox_used_for_cropping": [[1, 2], [0, 2], [0, 4]],
    }
    out = StageModel.export_values(fake, values, props, fill=-1.0)
    assert out.dtype == np.float32 and out.shape == (3, 2, 4)
    assert (out[0] == -1).all() and (out[2] == -1).all()
    # z: the one output slice sits halfway between the two input slices -> their mean; x: 2 -> 4 half-pixel
    # linear (0, 1) -> (0, 0.25, 0.75, 1), shifted by the mean of the slices (+2) and rows (+0 / +2)
    np.testing.assert_allclose(out[1], [[2.0, 2.25, 2.75, 3.0], [4.0, 4.25, 4.75, 5.0]], rtol=1e-6)
