"""NCCT-CTA registration round trip and 3D-DSA labels, on small synthetic heads with known truth.

The digital phantom (``nnunetv2_cta.phantom``) had no ``render_case`` yet when these were written; they
use the small analytic head of this folder's conftest instead.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.conversion.dsa import convert_dsa, dsa_labels, otsu_threshold
from nnunetv2_cta.conversion.ncct_cta import (
    _to_sitk,
    convert_ncct_cta,
    dice,
    register_cta_to_ncct,
    register_pair,
)
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.io import Geometry, read_image, write_image

FAST = {"iterations": 200, "shrink": (2, 1), "sampling": 1.0}


def _moved_cta(helpers, angle_deg=6.0, shift_mm=(4.0, -3.0, 2.0)):
    """NCCT of the head on its grid, and a CTA of the same head rotated about z and shifted."""
    import SimpleITK as sitk

    ncct, truth = helpers.head_phantom(contrast=False)
    cta_src, _ = helpers.head_phantom(contrast=True)
    geometry = Geometry(spacing=(2.0, 2.0, 2.0))
    moved = sitk.Euler3DTransform()
    moved.SetCenter([39.0, 39.0, 23.0])
    moved.SetRotation(0.0, 0.0, np.radians(angle_deg))
    moved.SetTranslation(shift_mm)
    ref = _to_sitk(np.zeros_like(truth), geometry)
    cta = sitk.GetArrayFromImage(
        sitk.Resample(_to_sitk(cta_src, geometry), ref, moved, sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    )
    cta_labels = sitk.GetArrayFromImage(
        sitk.Resample(_to_sitk(truth, geometry), ref, moved, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    )
    return ncct, truth, cta, cta_labels, geometry


def test_registration_round_trip_recovers_bone_and_vessel(helpers):
    ncct, truth, cta, cta_labels, geometry = _moved_cta(helpers)
    labels, report = register_pair(ncct, geometry, cta, geometry, cta_labels, bone_hu=500, **FAST)
    assert report["bone_dice_before"] < 0.6  # the motion is real
    assert report["bone_dice"] > 0.9
    assert dice(labels == 4, truth == 4) > 0.85  # a 3.2-mm-radius tube on 2-mm voxels
    assert dice(labels == 1, truth == 1) > 0.85


def test_convert_ncct_cta_rejects_and_verifies(helpers, tmp_path, verify):
    ncct, _, cta, cta_labels, geometry = _moved_cta(helpers)
    for case in ("good", "bad"):
        write_image(tmp_path / "ncct" / f"{case}_0000.nii.gz", ncct.astype(np.int16), geometry)
        write_image(tmp_path / "cta_labels" / f"{case}.nii.gz", cta_labels, geometry)
    write_image(tmp_path / "cta" / "good_0000.nii.gz", cta.astype(np.int16), geometry)
    # 'bad': a wrong series paired (a CTA without any bone, e.g. a bone-subtracted reconstruction)
    write_image(
        tmp_path / "cta" / "bad_0000.nii.gz", np.where(cta >= 500, 40, cta).astype(np.int16), geometry
    )
    out = tmp_path / "Dataset937_NCCT"
    summary = convert_ncct_cta(
        tmp_path / "ncct",
        tmp_path / "cta",
        tmp_path / "cta_labels",
        dataset_id=937,
        name="NCCT",
        output=out,
        min_bone_dice=0.9,
        **FAST,
    )
    assert summary.written == ["good"]
    assert summary.skipped[0].case == "bad"
    assert summary.skipped[0].reason.startswith("registration rejected: bone Dice")
    dj = json.loads((out / "dataset.json").read_text())
    assert dj["cta_conversion"]["cases"]["good"]["bone_dice"] > 0.9
    verify(out)
    with pytest.raises(ConfigurationError, match="min_bone_dice must be in"):
        convert_ncct_cta(
            tmp_path / "ncct",
            tmp_path / "cta",
            tmp_path / "cta_labels",
            dataset_id=938,
            name="X",
            output=tmp_path / "Dataset938_X",
            min_bone_dice=2,
        )


def test_registration_is_the_same_at_any_thread_count_and_restores_it(helpers):
    """Issue 16, fault 9: the registration differed run to run (SimpleITK reads seed 0 as the wall clock)
    and with the thread count (multi-threaded metric sums); the flaky test above failed 1 run in 2."""
    import SimpleITK as sitk

    ncct, _, cta, _, geometry = _moved_cta(helpers)
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    results = []
    try:
        for threads in (4, 1, 4):
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
            tf = register_cta_to_ncct(ncct, geometry, cta, geometry, starts=1, **FAST)
            results.append(tf.GetParameters())
            assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == threads  # restored
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)
    assert results[0] == results[1] == results[2]  # bit for bit


def test_diverged_affine_falls_back_to_rigid(helpers, caplog):
    """Sampling seed 15 sends the affine stage of this easy pair into a bad minimum (bone Dice 0.37 after
    affine, 0.93 after rigid; 1 seed in 30 did this). With one start it is caught by the common metric."""
    ncct, _, cta, cta_labels, geometry = _moved_cta(helpers)
    with caplog.at_level("WARNING", logger="nnunetv2_cta.conversion.ncct_cta"):
        _, report = register_pair(ncct, geometry, cta, geometry, cta_labels, seed=15, starts=1, **FAST)
    assert "affine registration diverged" in caplog.text
    assert report["transform"]["type"] == "Euler3DTransform"
    assert report["bone_dice"] > 0.9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": 0}, "seed must be an integer >= 1, got 0"),
        ({"seed": 1.5}, "seed must be an integer >= 1, got 1.5"),
        ({"starts": 0}, "starts must be an integer >= 1, got 0"),
        ({"sampling": 0.0}, r"sampling must be in \(0, 1\], got 0.0"),
        ({"iterations": 0}, "iterations must be >= 1, got 0"),
    ],
)
def test_registration_rejects_bad_settings(kwargs, message):
    volume = np.zeros((4, 4, 4), np.float32)
    geometry = Geometry(spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ConfigurationError, match=message):
        register_cta_to_ncct(volume, geometry, volume, geometry, **kwargs)


# ------------------------------------------------------------------------------------------------ DSA
def _dsa(helpers, seed=0):
    rng = np.random.default_rng(seed)
    image, truth = helpers.head_phantom(contrast=False)
    mask = image + rng.normal(0, 15, image.shape)
    fill = image + rng.normal(0, 15, image.shape)
    fill[truth == 4] += 560  # contrast in the vessel
    specks = [(3, 10, 10), (20, 30, 8), (12, 5, 33)]  # motion artefacts: single bright voxels
    for p in specks:
        fill[p] += 600
    return fill.astype(np.float32), mask.astype(np.float32), truth, specks


def test_dsa_labels_against_truth(helpers):
    fill, mask, truth, specks = _dsa(helpers)
    labels, report = dsa_labels(fill, fill - mask, (2.0, 2.0, 2.0), min_vessel_mm3=10.0)
    assert dice(labels == 4, truth == 4) > 0.95
    assert dice(labels == 1, truth == 1) > 0.9
    assert report["vessel_components_removed"] == len(specks)
    assert all(labels[p] != 4 for p in specks)
    assert 3 * 15 * np.sqrt(2) < report["vessel_threshold"] < 560  # above 3 noise sigmas, below the contrast


def test_otsu_on_two_levels_and_bad_input():
    values = np.r_[np.zeros(100), np.full(50, 10.0)]
    assert 0 < otsu_threshold(values) <= 10
    with pytest.raises(DatasetFormatError, match="the volume is constant"):
        otsu_threshold(np.ones(10))
    with pytest.raises(DatasetFormatError, match="no positive voxel"):
        dsa_labels(np.ones((4, 4, 4)), np.zeros((4, 4, 4)), (1, 1, 1))
    with pytest.raises(ConfigurationError, match=r"vessel_label must be one of \(2, 3, 4\), got 1"):
        dsa_labels(np.ones((4, 4, 4)), np.ones((4, 4, 4)), (1, 1, 1), vessel_label=1)


def test_convert_dsa_from_mask_runs(helpers, tmp_path, verify):
    fill, mask, truth, _ = _dsa(helpers)
    geometry = Geometry(spacing=(2.0, 2.0, 2.0))
    write_image(tmp_path / "fill" / "run1.nii.gz", fill, geometry)
    write_image(tmp_path / "mask" / "run1.nii.gz", mask, geometry)
    write_image(tmp_path / "fill" / "run2.nii.gz", fill, geometry)  # no mask run: skipped
    out = tmp_path / "Dataset939_DSA"
    summary = convert_dsa(
        tmp_path / "fill", tmp_path / "mask", dataset_id=939, name="DSA", output=out, second_is_mask=True
    )
    assert summary.written == ["run1"] and "no mask volume" in summary.skipped[0].reason
    labels, _ = read_image(out / "labelsTr" / "run1.nii.gz")
    assert dice(labels == 4, truth == 4) > 0.95
    verify(out)
