"""Physics of the rendered modalities: HU per label, NCCT invisibility, DSA runs, pathologies, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from nnunetv2_cta.errors import ConfigurationError, GeometryError, SpacingError
from nnunetv2_cta.labels import AORTA, BONE, CAROTID, VESSEL_LABELS


def _core(mask: np.ndarray) -> np.ndarray:
    return ndimage.binary_erosion(mask, np.ones((3, 3, 3), bool))


def test_cta_hu_ranges(cta_case):
    img, lab, p = cta_case.image.astype(float), cta_case.labels, cta_case.info
    assert cta_case.image.dtype == np.int16 and lab.dtype == np.uint8
    assert 250 <= p["artery"] <= 550 and 100 <= p["vein"] <= 250
    aorta = img[_core(lab == AORTA)]
    assert aorta.size > 50
    assert abs(np.median(aorta) - p["artery"]) < 40
    bone = img[lab == BONE]
    # cancellous bone overlaps contrast; cortical is brighter
    assert 150 < np.percentile(bone, 25) < 700
    assert np.percentile(bone, 99) > 700
    # soft tissue of the neck and brain
    brain = img[(lab == 0) & (img > 0) & (img < 80)]
    assert 20 < np.median(brain) < 70


def test_ncct_vessels_are_nearly_invisible(ncct_case):
    img, lab = ncct_case.image.astype(float), ncct_case.labels
    vessel = _core(np.isin(lab, (AORTA, CAROTID)))
    ring = ndimage.binary_dilation(vessel, np.ones((3, 3, 3), bool), iterations=2) & (lab == 0)
    ring &= (img > -50) & (img < 150)  # soft tissue around the vessel, not air or fat
    contrast = np.median(img[vessel]) - np.median(img[ring])
    assert abs(contrast) < 30, contrast
    assert 40 <= ncct_case.info["blood"] <= 55 and 30 <= ncct_case.info["brain"] <= 35


def test_dsa_fill_mask_and_subtraction(dsa_case):
    lab = dsa_case.labels
    assert dsa_case.geometry.spacing == (2.5, 2.5, 2.5)
    vessel = np.isin(lab, VESSEL_LABELS)
    assert dsa_case.mask_image.shape == dsa_case.image.shape == dsa_case.subtracted.shape
    np.testing.assert_array_equal(
        dsa_case.subtracted, dsa_case.image.astype(np.int32) - dsa_case.mask_image.astype(np.int32)
    )
    geo = dsa_case.geometry
    pts = np.concatenate(
        [
            np.asarray(s["points"])
            for s in dsa_case.graph["segments"]
            if s["name"] in ("L_ICA_intracranial", "R_ICA_intracranial", "BA")
        ]
    )
    idx = np.rint((pts - np.asarray(geo.origin)) / np.asarray(geo.spacing[::-1]))[:, ::-1].astype(int)
    centre = tuple(idx.T)
    assert np.all(vessel[centre])
    assert np.median(dsa_case.image[centre]) > 1000
    assert np.median(dsa_case.subtracted[centre]) > 1000
    assert np.median(dsa_case.mask_image[centre]) < 500
    # bone cancels in the subtraction (no mis-registration requested)
    bone_core = _core(lab == BONE)
    assert abs(np.median(dsa_case.subtracted[bone_core])) < 60


def test_determinism(standard_anatomy):
    from nnunetv2_cta.phantom import generate_anatomy, render_case

    a = render_case(standard_anatomy, "cta")
    b = render_case(generate_anatomy(11, preset="tiny", variants=()), "cta")
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.graph == b.graph
    c = render_case(standard_anatomy, "cta", seed=12)
    assert not np.array_equal(a.image, c.image)


def test_pathologies_in_labels_and_graph():
    from nnunetv2_cta.phantom import generate_anatomy, render_case

    anatomy = generate_anatomy(
        5, preset="tiny", variants=(), pathologies=["occlusion", "aneurysm", "stenosis", "calcified_plaque"]
    )
    case = render_case(anatomy, "cta", spacing=2.0)
    segs = {s["name"]: s for s in case.graph["segments"]}
    occluded = [s for s in segs.values() if s.get("pathology") == "occlusion"]
    assert len(occluded) >= 1
    r = np.concatenate([np.asarray(s["radii"]) for s in occluded])
    assert np.any(r == 0)
    assert segs["aneurysm"]["pathology"] == "aneurysm"
    dome = max(segs["aneurysm"]["radii"])
    assert dome == pytest.approx(segs["aneurysm"]["dome_radius_mm"], rel=0.02)
    sten = [s for s in segs.values() if s.get("pathology") == "stenosis"]
    assert sten and 0.5 <= sten[0]["stenosis_degree"] <= 0.9
    # the occluded stretch is not labelled: graph points with radius 0 fall on non-vessel voxels (mostly)
    geo = case.geometry
    for s in occluded:
        p = np.asarray(s["points"])[np.asarray(s["radii"]) == 0]
        idx = np.rint((p - np.asarray(geo.origin)) / np.asarray(geo.spacing[::-1]))[:, ::-1].astype(int)
        ok = np.all((idx >= 0) & (idx < np.asarray(case.labels.shape)), axis=1)
        mid = idx[ok][len(idx[ok]) // 4 : 3 * len(idx[ok]) // 4]
        if len(mid):
            assert np.mean(np.isin(case.labels[tuple(mid.T)], VESSEL_LABELS)) < 0.5
    assert any(f["kind"] == "calcification" for f in case.graph["findings"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"modality": "mri"}, ConfigurationError, "modality must be one of"),
        ({"modality": "cta", "spacing": 0.0}, SpacingError, "spacing must be a positive"),
        ({"modality": "cta", "spacing": -1.0}, SpacingError, "got -1.0"),
        ({"modality": "cta", "fov": (10.0, 10.0, 10.0)}, GeometryError, "impossible field of view"),
        ({"modality": "cta", "fov": (100.0, -5.0, 100.0)}, GeometryError, "field of view must be"),
    ],
)
def test_render_bad_input(standard_anatomy, kwargs, error, match):
    from nnunetv2_cta.phantom import render_case

    with pytest.raises(error, match=match):
        render_case(standard_anatomy, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pathologies": ["stenosis", "tumour"]}, r"unknown pathology name\(s\) \['tumour'\]"),
        ({"variants": ["no_acom", "double_aorta"]}, "unknown anatomical variant"),
        ({"preset": "huge"}, "preset must be one of"),
    ],
)
def test_anatomy_bad_input(kwargs, match):
    from nnunetv2_cta.phantom import generate_anatomy

    with pytest.raises(ConfigurationError, match=match):
        generate_anatomy(1, **kwargs)


def test_anatomy_bad_seed():
    from nnunetv2_cta.phantom import generate_anatomy

    with pytest.raises(ConfigurationError, match="seed must be a non-negative int, got -3"):
        generate_anatomy(-3)


def _centre_values(case, names):
    geo = case.geometry
    pts = np.concatenate([np.asarray(s["points"]) for s in case.graph["segments"] if s["name"] in names])
    idx = np.rint((pts - np.asarray(geo.origin)) / np.asarray(geo.spacing[::-1]))[:, ::-1].astype(int)
    ok = np.all((idx >= 0) & (idx < np.asarray(case.image.shape)), axis=1)
    return case.image[tuple(idx[ok].T)].astype(float), case.labels[tuple(idx[ok].T)]


@pytest.mark.parametrize("late", [False, True])
def test_veins_are_background_and_bright_in_late_phase(standard_anatomy, late):
    from nnunetv2_cta.phantom import render_case

    case = render_case(standard_anatomy, "cta", late_phase=late)
    hu, lab = _centre_values(case, ("R_IJV", "L_IJV"))
    # veins are background; only where an artery crosses a jugular vein may its label cover the vein axis
    assert np.mean(lab == 0) > 0.95
    p = case.info
    assert abs(np.median(hu) - p["vein"]) < 30
    if late:
        assert p["vein"] >= 0.85 * p["artery"]
    else:
        assert 100 <= p["vein"] <= 250


def test_tiny_grid_fits_a_48_cube_patch(cta_case, dsa_case):
    assert cta_case.image.shape == (110, 64, 64)
    assert min(dsa_case.image.shape) >= 64


def test_aneurysm_is_an_intracranial_sphere_on_its_host():
    from nnunetv2_cta.labels import INTRACRANIAL
    from nnunetv2_cta.phantom import generate_anatomy, render_case

    for seed in (21, 4):
        anatomy = generate_anatomy(seed, preset="tiny", pathologies=["aneurysm"])
        seg = anatomy.segment("aneurysm")
        host = anatomy.segment(seg.parent)
        assert seg.label == INTRACRANIAL and host.label == INTRACRANIAL
        assert np.min(np.linalg.norm(host.points - seg.points[0], axis=1)) < 1e-6
        case = render_case(anatomy, "cta", spacing=2.0)
        g = case.geometry
        dome = seg.points[int(np.argmax(seg.radii))]
        idx = np.rint((dome - np.asarray(g.origin)) / np.asarray(g.spacing[::-1]))[::-1].astype(int)
        assert case.labels[tuple(idx)] == INTRACRANIAL
        assert next(s for s in case.graph["segments"] if s["name"] == "aneurysm")["label"] == INTRACRANIAL
