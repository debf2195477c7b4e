"""Round trips of the NCCT-CTA and 3D-DSA converters on the digital phantom, against its exact labels.

NCCT-CTA: one anatomy rendered as CTA and as NCCT (same seed, "tiny" preset, 3-mm voxels); the CTA image
and labels are moved by a known rigid motion (rotation of ~7 degrees about a tilted axis, shift
(4, -3, 5) mm) with SimpleITK (linear for the image, nearest for the labels), and the converter registers
them back. 3 mm is coarse but enough: the registration recovers the motion to well under a voxel.

DSA: the phantom's fill + subtracted (or mask) volumes through ``dsa_labels`` / ``convert_dsa`` with the
converter's defaults (Otsu thresholds). At the tiny preset's 2.5-mm DSA grid the truth labels of the thin
intracranial arteries are a voxel wider than their partial-volume lumen (the phantom labels every voxel
within ``max(r, half the voxel diagonal)`` of a centreline), so the vessel Dice is capped near 0.7 by the
grid, not by the converter; 1.5 mm (113^3 voxels, still ~2 s to render) is the coarsest grid that
measures the converter. Bounds below are the measured figures (benchmarks/results/conversion.md,
"Phantom round trips") less a margin for ITK's run-to-run jitter.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.conversion.dsa import convert_dsa, dsa_labels
from nnunetv2_cta.conversion.ncct_cta import convert_ncct_cta, dice, register_pair, resample_onto
from nnunetv2_cta.io import read_image, write_image
from nnunetv2_cta.labels import BONE, VESSEL_LABELS
from nnunetv2_cta.phantom import generate_anatomy, render_case

SEED = 5
ROTATION_DEG = (2.0, -3.0, 6.0)  # about x, y, z: 7.0 degrees in all
SHIFT_MM = (4.0, -3.0, 5.0)  # ITK (x, y, z)


def _motion(geometry, shape):
    """The known rigid motion, about the centre of the volume (maps output points to input points)."""
    import SimpleITK as sitk

    centre = geometry.index_to_world(tuple((n - 1) / 2 for n in shape))
    tf = sitk.Euler3DTransform()
    tf.SetCenter([float(c) for c in centre])
    tf.SetRotation(*np.radians(ROTATION_DEG))
    tf.SetTranslation(SHIFT_MM)
    return tf


@pytest.fixture(scope="module")
def phantom_pair():
    """NCCT and moved CTA (+ labels) of one tiny phantom anatomy, and the motion applied to the CTA."""
    anatomy = generate_anatomy(SEED, preset="tiny", variants=())
    cta = render_case(anatomy, "cta")
    ncct = render_case(anatomy, "ncct")
    assert np.array_equal(cta.labels, ncct.labels)  # same anatomy, same grid: one truth for both
    g, shape = cta.geometry, cta.image.shape
    motion = _motion(g, shape)
    moved = resample_onto(cta.image.astype(np.float32), g, shape, g, motion, nearest=False, default=-1000)
    moved_labels = resample_onto(cta.labels, g, shape, g, motion, nearest=True, default=0)
    return {
        "ncct": ncct.image,
        "truth": ncct.labels,
        "geometry": g,
        "cta": np.round(moved).astype(np.int16),
        "cta_labels": moved_labels,
        "motion": motion,
    }


def _vessels(labels: np.ndarray) -> np.ndarray:
    return np.isin(labels, VESSEL_LABELS)


def test_ncct_cta_registration_recovers_phantom_motion(phantom_pair, monkeypatch):
    from nnunetv2_cta.conversion import ncct_cta

    found = []  # keep the transform register_pair uses (its report has the parameters, not the centre)
    real = ncct_cta.register_cta_to_ncct
    monkeypatch.setattr(
        ncct_cta, "register_cta_to_ncct", lambda *a, **k: found.append(real(*a, **k)) or found[-1]
    )
    p = phantom_pair
    truth, g = p["truth"], p["geometry"]
    labels, report = register_pair(p["ncct"], g, p["cta"], g, p["cta_labels"])
    # the motion is real: before registration the bone labels overlap by less than half
    assert dice(p["cta_labels"] == BONE, truth == BONE) < 0.6
    # measured 0.974 (label bone) and 0.96 (vessels 2-4 as one mask)
    assert dice(labels == BONE, truth == BONE) > 0.9
    assert dice(_vessels(labels), _vessels(truth)) > 0.9
    for label in VESSEL_LABELS:  # each region lands on its own truth (measured 0.94-0.98)
        assert dice(labels == label, truth == label) > 0.85
    # the converter's own quality figure (HU-thresholded bone): measured 0.43 -> 0.86
    assert report["bone_dice_before"] < 0.6
    assert report["bone_dice"] > report["bone_dice_before"] + 0.3
    assert report["bone_dice"] > 0.75  # the default acceptance threshold of convert_ncct_cta
    # the transform found undoes the applied motion: motion(found(x)) == x within 1.5 mm over the head
    assert len(found) == 1
    corners = [(x, y, z) for x in (-70.0, 70.0) for y in (-80.0, 90.0) for z in (60.0, 300.0)]
    errors = [
        float(np.linalg.norm(np.subtract(p["motion"].TransformPoint(found[0].TransformPoint(c)), c)))
        for c in corners
    ]
    assert max(errors) < 1.5, errors


def test_convert_ncct_cta_on_phantom_writes_a_verified_dataset(phantom_pair, tmp_path, nnunet_dirs, verify):
    p = phantom_pair
    g = p["geometry"]
    write_image(tmp_path / "ncct" / "phantom005_0000.nii.gz", p["ncct"], g)
    write_image(tmp_path / "cta" / "phantom005_0000.nii.gz", p["cta"], g)
    write_image(tmp_path / "cta_labels" / "phantom005.nii.gz", p["cta_labels"], g)
    summary = convert_ncct_cta(
        tmp_path / "ncct", tmp_path / "cta", tmp_path / "cta_labels", dataset_id=941, name="PhantomNCCT"
    )
    out = nnunet_dirs["nnUNet_raw"] / "Dataset941_PhantomNCCT"  # default target: $nnUNet_raw
    assert summary.written == ["phantom005"] and not summary.skipped
    note = json.loads((out / "dataset.json").read_text())["cta_conversion"]["cases"]["phantom005"]
    assert note["bone_dice"] > 0.75 and note["bone_dice_before"] < 0.6
    labels, labels_geometry = read_image(out / "labelsTr" / "phantom005.nii.gz")
    image, _ = read_image(out / "imagesTr" / "phantom005_0000.nii.gz")
    assert np.array_equal(image, p["ncct"])  # the NCCT itself is the image, untouched
    assert labels_geometry.spacing == g.spacing and labels_geometry.origin == g.origin
    assert dice(labels == BONE, p["truth"] == BONE) > 0.9
    assert dice(_vessels(labels), _vessels(p["truth"])) > 0.9
    verify(out)


# ------------------------------------------------------------------------------------------------ DSA
@pytest.fixture(scope="module")
def dsa_cases():
    """The phantom's 3D-DSA of one anatomy at the tiny preset's 2.5 mm and at 1.5 mm (same FOV, 170 mm)."""
    anatomy = generate_anatomy(SEED, preset="tiny", variants=())
    return {spacing: render_case(anatomy, "dsa", spacing=spacing) for spacing in (2.5, 1.5)}


@pytest.mark.parametrize(
    ("spacing", "min_vessel", "min_bone"),
    [
        (2.5, 0.6, 0.78),  # measured 0.64 / 0.85 (vessel Dice capped by the grid, see the module docstring)
        (1.5, 0.78, 0.75),  # measured 0.83 / 0.82
    ],
)
def test_dsa_labels_against_phantom_truth(dsa_cases, spacing, min_vessel, min_bone):
    case = dsa_cases[spacing]
    fill = case.image.astype(np.float32)
    labels, report = dsa_labels(fill, case.subtracted.astype(np.float32), case.geometry.spacing)
    assert set(np.unique(labels)) == {0, BONE, 4}
    vessel_dice = dice(labels == 4, _vessels(case.labels))
    bone_dice = dice(labels == BONE, case.labels == BONE)
    assert vessel_dice > min_vessel, vessel_dice
    assert bone_dice > min_bone, bone_dice
    # the Otsu vessel threshold lies between the subtraction noise and the arterial contrast
    assert 5 * float(np.std(case.subtracted[case.labels == 0])) < report["vessel_threshold"]
    assert report["vessel_threshold"] < 0.5 * case.info["artery"]
    # the mask-volume variant (subtracted = fill - mask) gives the same labels
    from_mask, _ = dsa_labels(fill, fill - case.mask_image, case.geometry.spacing)
    assert np.array_equal(from_mask, labels)


def test_dsa_bone_threshold_below_cancellous_bone_recovers_the_skull(dsa_cases):
    """The automatic (two-level Otsu) bone threshold lands above the phantom's cancellous bone (DSA
    400-700): the diploe is missed (bone Dice 0.82). A threshold under it recovers the skull."""
    case = dsa_cases[1.5]
    fill = case.image.astype(np.float32)
    auto, auto_report = dsa_labels(fill, case.subtracted.astype(np.float32), case.geometry.spacing)
    fixed, _ = dsa_labels(fill, case.subtracted.astype(np.float32), case.geometry.spacing, bone_threshold=400)
    assert auto_report["bone_threshold"] > case.info["cancellous"]
    assert dice(fixed == BONE, case.labels == BONE) > 0.9
    assert dice(fixed == BONE, case.labels == BONE) > dice(auto == BONE, case.labels == BONE) + 0.05
    assert np.array_equal(fixed == 4, auto == 4)  # vessels do not depend on the bone threshold


def test_convert_dsa_from_phantom_mask_runs(dsa_cases, tmp_path, verify):
    case = dsa_cases[1.5]
    g = case.geometry
    write_image(tmp_path / "fill" / "dsa005.nii.gz", case.image, g)
    write_image(tmp_path / "mask" / "dsa005.nii.gz", case.mask_image, g)
    write_image(tmp_path / "sub" / "dsa005.nii.gz", case.subtracted, g)
    out_mask = tmp_path / "Dataset942_PhantomDSA"
    summary = convert_dsa(
        tmp_path / "fill",
        tmp_path / "mask",
        dataset_id=942,
        name="PhantomDSA",
        output=out_mask,
        second_is_mask=True,
    )
    assert summary.written == ["dsa005"]
    out_sub = tmp_path / "Dataset943_PhantomDSASub"
    convert_dsa(tmp_path / "fill", tmp_path / "sub", dataset_id=943, name="PhantomDSASub", output=out_sub)
    from_mask, _ = read_image(out_mask / "labelsTr" / "dsa005.nii.gz")
    from_sub, _ = read_image(out_sub / "labelsTr" / "dsa005.nii.gz")
    assert np.array_equal(from_mask, from_sub)
    assert dice(from_mask == 4, _vessels(case.labels)) > 0.78
    note = json.loads((out_mask / "dataset.json").read_text())["cta_conversion"]["cases"]["dsa005"]
    assert note["vessel_components_kept"] >= 1 and note["vessel_threshold"] > 0
    verify(out_mask)
