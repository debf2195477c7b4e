"""suspected_breaks (per-component crops, k-d tree shortlist) against a straightforward whole-volume reference."""

from __future__ import annotations

from collections import deque

import cc3d
import numpy as np
import pytest
from scipy import ndimage

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.evaluation.centerline import skeletonize
from nnunetv2_cta.labels import LABEL_NAMES, VESSEL_LABELS
from nnunetv2_cta.reconstruction import suspected_breaks

NEIGHBOURS = [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)]


def _reference(labels, spacing, max_gap_mm=15.0, max_angle_deg=60.0, min_component_voxels=4):
    """The method of the module docstring, done plainly: whole volume, every pair of ends."""
    sp = np.asarray(spacing, dtype=np.float64)
    vessel = cc3d.dust(np.isin(labels, VESSEL_LABELS), threshold=min_component_voxels, connectivity=26)
    components = cc3d.connected_components(vessel, connectivity=26)
    skel = skeletonize(vessel)
    tangent_mm = max(6.0, 3.0 * float(sp.max()))
    inside = {tuple(p) for p in np.argwhere(skel).tolist()}
    ends = []  # (index, direction, component, label), C order
    for tip in sorted(inside):
        if sum((tip[0] + a, tip[1] + b, tip[2] + c) in inside for a, b, c in NEIGHBOURS) != 1:
            continue
        seen, queue, walk = {tip}, deque([tip]), [tip]
        while queue:
            cur = queue.popleft()
            for off in NEIGHBOURS:
                nb = tuple(int(v) for v in np.add(cur, off))
                if nb in seen or nb not in inside:
                    continue
                seen.add(nb)
                if np.linalg.norm((np.array(nb) - np.array(tip)) * sp) <= tangent_mm:
                    queue.append(nb)
                    walk.append(nb)
        pts = np.array(walk, dtype=np.int64)
        vec = (pts[0] - pts[1:].mean(axis=0)) * sp if len(pts) > 1 else np.zeros(3)
        if np.linalg.norm(vec) > 0:
            ends.append((tip, vec / np.linalg.norm(vec), components[tip], int(labels[tip])))

    def angle(direction, to_other):
        return float(np.arccos(np.clip(direction @ (to_other / np.linalg.norm(to_other)), -1.0, 1.0)))

    candidates = []
    for i, (pi, di, ci, _) in enumerate(ends):
        for j, (pj, dj, cj, _) in enumerate(ends[i + 1 :], start=i + 1):
            d = (np.array(pj) - np.array(pi)) * sp
            gap = float(np.linalg.norm(d))
            if ci == cj or gap > max_gap_mm:
                continue
            ang_i, ang_j = angle(di, d), angle(dj, -d)
            if max(ang_i, ang_j) <= np.deg2rad(max_angle_deg):
                candidates.append((gap * (1 + (ang_i + ang_j) / np.pi), gap, i, j))
    used, out = set(), []
    order = list(LABEL_NAMES.values())
    for _, gap, i, j in sorted(candidates):
        if i in used or j in used:
            continue
        used.update((i, j))
        (a, _, _, la), (b, _, _, lb) = ends[i], ends[j]
        mid = (np.array(a) + np.array(b)) / 2.0
        names = sorted({LABEL_NAMES[la], LABEL_NAMES[lb]}, key=order.index)
        out.append(
            {
                "position_mm": [round(float(v), 2) for v in (mid * sp)[::-1]],
                "index_zyx": [round(v) for v in mid],
                "gap_mm": round(gap, 2),
                "region": "/".join(names),
                "ends_zyx": [list(a), list(b)],
            }
        )
    return sorted(out, key=lambda r: r["gap_mm"])


def _line(labels, start, stop, label):
    """Paint the one-voxel line from ``start`` to ``stop`` (inclusive, along one axis)."""
    (z0, y0, x0), (z1, y1, x1) = start, stop
    labels[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1] = label


def _scene():
    """One-voxel lines (their own skeleton: ends and directions known), 1 mm voxels, three planes y 4/24/44.

    y 4:  a carotid line along z cut from z 12 to z 18 (ends facing, 6 mm), with a 3-voxel speck in the cut
          (z 14-16: dust by default); a z-line ending at (12, 4, 24) going up and an x-line ending at
          (16, 4, 26) going -x: 4.47 mm apart but the x-line's end turns 63.4 degrees away from the other.
    y 24: a carotid line cut from z 10 to z 27 (17 mm, beyond 15); an intracranial ring in the z-x plane
          open at its bottom between x 27 and x 33 (two ends of one component facing each other, 6 mm).
    y 44: an aorta end at (12, 44, 10) going up faces a carotid end 4 mm above and an intracranial end at
          (17, 44, 13), 5.83 mm off at 31 degrees: the shorter pair wins, the other end stays unpaired.
    """
    labels = np.zeros((40, 48, 42), np.uint8)
    _line(labels, (2, 4, 4), (12, 4, 4), 3)
    _line(labels, (18, 4, 4), (34, 4, 4), 3)
    _line(labels, (14, 4, 4), (16, 4, 4), 3)  # speck of 3 voxels
    _line(labels, (2, 4, 24), (12, 4, 24), 3)
    _line(labels, (16, 4, 26), (16, 4, 38), 3)
    _line(labels, (2, 24, 4), (10, 24, 4), 3)
    _line(labels, (27, 24, 4), (36, 24, 4), 3)
    _line(labels, (30, 24, 20), (30, 24, 40), 4)  # ring: top
    _line(labels, (14, 24, 20), (30, 24, 20), 4)
    _line(labels, (14, 24, 40), (30, 24, 40), 4)
    _line(labels, (14, 24, 20), (14, 24, 27), 4)
    _line(labels, (14, 24, 33), (14, 24, 40), 4)
    _line(labels, (2, 44, 10), (12, 44, 10), 2)
    _line(labels, (16, 44, 10), (30, 44, 10), 3)
    _line(labels, (17, 44, 13), (30, 44, 13), 4)
    return labels


def _brk(a, b, gap, region):
    mid = (np.array(a) + np.array(b)) / 2.0
    return {
        "position_mm": [float(v) for v in mid[::-1]],
        "index_zyx": [round(v) for v in mid],
        "gap_mm": gap,
        "region": region,
        "ends_zyx": [list(a), list(b)],
    }


AORTA_CAROTID = _brk((12, 44, 10), (16, 44, 10), 4.0, "aorta/carotid")
CUT = _brk((12, 4, 4), (18, 4, 4), 6.0, "carotid")
SPECK = [_brk((12, 4, 4), (14, 4, 4), 2.0, "carotid"), _brk((16, 4, 4), (18, 4, 4), 2.0, "carotid")]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [AORTA_CAROTID, CUT]),
        # the speck kept: it splits the cut into two 2 mm gaps, taken in C order of their ends
        ({"min_component_voxels": 3}, [*SPECK, AORTA_CAROTID]),
        ({"max_angle_deg": 70.0}, [AORTA_CAROTID, _brk((12, 4, 24), (16, 4, 26), 4.47, "carotid"), CUT]),
        ({"max_gap_mm": 17.0}, [AORTA_CAROTID, CUT, _brk((10, 24, 4), (27, 24, 4), 17.0, "carotid")]),
        ({"max_gap_mm": 5.0}, [AORTA_CAROTID]),
    ],
)
def test_breaks_by_hand(kwargs, expected):
    labels = _scene()
    found = suspected_breaks(labels, (1.0, 1.0, 1.0), **kwargs)
    assert found == expected
    assert found == _reference(labels, (1.0, 1.0, 1.0), **kwargs)


def _blobs(seed: int) -> np.ndarray:
    """Smoothed noise cut into many vessel pieces of mixed labels and thickness (many ends, thick crops)."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((36, 44, 40)), sigma=(2.0, 1.5, 1.5))
    labels = np.zeros(field.shape, np.uint8)
    labels[field > 0.12] = rng.choice(np.array(VESSEL_LABELS, np.uint8), size=int((field > 0.12).sum()))
    labels[field > 0.3] = 3
    labels[(field < -0.3)] = 1  # bone: not a vessel
    return labels


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.5, 0.7, 0.6)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_breaks_match_the_reference_on_noise(seed, spacing, dtype):
    labels = _blobs(seed).astype(dtype)
    expected = _reference(labels, spacing, max_gap_mm=12.0)
    assert len(expected) >= 3  # non-trivial: several pairs are found
    assert suspected_breaks(labels, spacing, max_gap_mm=12.0) == expected


@pytest.mark.parametrize("value", [2.5, "4", True, None])
def test_breaks_min_component_voxels_must_be_an_integer(value):
    with pytest.raises(ConfigurationError, match=rf"min_component_voxels must be an integer, got {value!r}"):
        suspected_breaks(_scene(), (1.0, 1.0, 1.0), min_component_voxels=value)
