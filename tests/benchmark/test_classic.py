"""The classic method on phantom cases: measured quality floors, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.benchmark.classic import classic_segment, classic_segment_folder
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.labels import VESSEL_LABELS
from nnunetv2_cta.phantom import generate_anatomy, render_case


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.fixture(scope="module")
def anatomy():
    return generate_anatomy(5, preset="tiny")


def test_classic_on_phantom_cta(anatomy):
    # measured (seeds 5 and 6, tiny preset): bone Dice 0.898 / 0.912, all-vessel Dice 0.378 / 0.537
    case = render_case(anatomy, "cta")
    seg = classic_segment(case.image, case.geometry.spacing, "cta")
    gt_vessels = np.isin(case.labels, VESSEL_LABELS)
    assert _dice(seg == 1, case.labels == 1) > 0.85
    vessel_dice = _dice(np.isin(seg, VESSEL_LABELS), gt_vessels)
    # chance: a random mask of the true vessel volume has Dice = vessel fraction (about 0.01 here)
    chance = gt_vessels.mean()
    assert chance < 0.02
    assert vessel_dice > 0.3
    # region rule: the aorta label sits low, intracranial high
    z_aorta = np.nonzero(seg == 2)[0]
    z_intra = np.nonzero(seg == 4)[0]
    assert z_aorta.size and z_intra.size and z_aorta.max() < z_intra.min()


def test_classic_finds_no_vessels_in_non_contrast_ct_but_finds_bone(anatomy):
    case = render_case(anatomy, "ncct")
    seg = classic_segment(case.image, case.geometry.spacing, "ncct")
    assert _dice(seg == 1, case.labels == 1) > 0.85
    assert _dice(np.isin(seg, VESSEL_LABELS), np.isin(case.labels, VESSEL_LABELS)) < 0.05


def test_classic_on_dsa_bone(anatomy):
    case = render_case(anatomy, "dsa")
    seg = classic_segment(case.image, case.geometry.spacing, "dsa")
    assert _dice(seg == 1, case.labels == 1) > 0.85


def test_classic_bad_input(tmp_path):
    image = np.zeros((20, 20, 20), np.int16)
    with pytest.raises(
        ConfigurationError, match="modality must be one of \\['cta', 'dsa', 'ncct'\\], got 'mri'"
    ):
        classic_segment(image, (1.0, 1.0, 1.0), "mri")
    with pytest.raises(ConfigurationError, match="must be a 3D"):
        classic_segment(image[0], (1.0, 1.0, 1.0))
    with pytest.raises(ConfigurationError, match="spacing must be three positive mm values"):
        classic_segment(image, (1.0, 0.0, 1.0))
    with pytest.raises(DatasetFormatError, match="has no <case>_0000 volume files"):
        classic_segment_folder(tmp_path, tmp_path / "out")
