"""repair_with_cgpm's input rules (checked before any model runs)."""

from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.cgpm.runner import repair_with_cgpm
from nnunetv2_cta.errors import GeometryError
from nnunetv2_cta.io import Geometry


def test_stage1_on_another_grid_names_both_shapes():
    ct = np.zeros((8, 10, 12), np.int16)
    with pytest.raises(
        GeometryError, match=r"stage-1 label map has shape \(8, 10, 11\) \(z, y, x\), the CT \(8, 10, 12\)"
    ):
        repair_with_cgpm(None, ct, Geometry((1.0, 1.0, 1.0)), np.zeros((8, 10, 11), np.uint8))


def test_no_vessel_passes_through_with_a_note():
    ct = np.zeros((8, 10, 12), np.int16)
    stage1 = np.zeros(ct.shape, np.uint8)
    stage1[2:4, 2:4, 2:4] = 1  # bone only
    result = repair_with_cgpm(None, ct, Geometry((1.0, 1.0, 1.0)), stage1)
    assert np.array_equal(result.labels, stage1) and result.labels is not stage1
    assert result.gaps == [] and result.num_patches == 0 and "no vessel" in result.note
