"""Candidate break sites: vessel ends of the first stage and the patches that cover them."""

from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.cgpm.sites import patch_boxes, vessel_ends
from nnunetv2_cta.errors import GeometryError


def _ends(mask, border=2):
    return [tuple(int(v) for v in e) for e in vessel_ends(mask, border=border)]


def test_ends_of_a_broken_t_junction():
    m = np.zeros((12, 30, 30), bool)
    m[6, 15, 3:13] = True  # left arm, cut at x = 13..16
    m[6, 15, 17:27] = True  # right arm
    m[6, 16:27, 22] = True  # a branch down from the right arm
    ends = _ends(m)
    # the left arm's two ends, the right arm's two ends; the branch's tip; the junction is not an end
    assert (6, 15, 3) in ends and (6, 15, 12) in ends and (6, 15, 17) in ends
    assert (6, 26, 22) in ends
    assert not any(e[1] == 15 and e[2] == 22 for e in ends)


def test_ends_at_the_border_are_field_of_view_cuts():
    m = np.zeros((9, 9, 20), bool)
    m[4, 4, 0:10] = True  # leaves the volume at x = 0
    assert _ends(m, border=2) == [(4, 4, 9)]
    assert _ends(m, border=0) == [(4, 4, 0), (4, 4, 9)]


def test_lone_voxel_and_empty():
    m = np.zeros((9, 9, 9), bool)
    assert vessel_ends(m).shape == (0, 3)
    m[4, 4, 4] = True
    assert _ends(m) == [(4, 4, 4)]  # a fragment is an end on both sides


def test_patch_cover_and_clipping():
    ends = np.array([(10, 10, 10), (12, 11, 13), (10, 10, 30), (39, 39, 39)])
    boxes = patch_boxes(ends, (40, 40, 40), (16, 16, 16))
    # (12, 11, 13) lies within 16 // 4 = 4 of the first centre on every axis: covered
    assert boxes == [
        (slice(2, 18), slice(2, 18), slice(2, 18)),
        (slice(2, 18), slice(2, 18), slice(22, 38)),
        (slice(24, 40), slice(24, 40), slice(24, 40)),  # shifted inside the volume
    ]
    # a patch larger than the volume is cut to it
    assert patch_boxes(np.array([(1, 1, 1)]), (4, 40, 40), (16, 16, 16)) == [
        (slice(0, 4), slice(0, 16), slice(0, 16))
    ]
    assert patch_boxes(np.zeros((0, 3)), (8, 8, 8), (4, 4, 4)) == []


def test_sites_bad_input():
    with pytest.raises(GeometryError, match=r"vessel mask must be 3D \(z, y, x\), got shape \(4, 4\)"):
        vessel_ends(np.ones((4, 4), bool))
    with pytest.raises(GeometryError, match=r"need a 3D shape and patch size, got \(8, 8\) and \(4, 4\)"):
        patch_boxes(np.zeros((0, 3)), (8, 8), (4, 4))
