from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.reconstruction import centerline_paths, path_length_mm, suspected_breaks

# The arteries each path must follow in the phantom (any of them; the tail may enter a neighbour of the
# intracranial ICA at 3 mm voxels, so those are allowed too).
EXPECTED = {
    "right_carotid": [
        "BCT_origin",
        "BCT",
        "R_CCA",
        "R_ICA_cervical",
        "R_ICA_intracranial",
        "R_PCom",
        "R_M1",
        "R_A1",
    ],
    "left_carotid": [
        "L_CCA_origin",
        "L_CCA",
        "L_ICA_cervical",
        "L_ICA_intracranial",
        "L_PCom",
        "L_M1",
        "L_A1",
    ],
    "vertebrobasilar": [
        "L_SUB_origin",
        "L_SUB",
        "L_VA_extracranial",
        "L_VA_V4",
        "R_SUB",
        "R_VA_extracranial",
        "R_VA_V4",
        "BCT",
        "BA",
        "R_SCA",
        "L_SCA",
        "R_P1",
        "L_P1",
    ],
}
MUST_VISIT = {
    "right_carotid": ["R_CCA", "R_ICA_cervical", "R_ICA_intracranial"],
    "left_carotid": ["L_CCA", "L_ICA_cervical", "L_ICA_intracranial"],
}


def _graph_voxels(case, names):
    """Centerline points of the named phantom segments as voxel coordinates [z, y, x] (identity direction)."""
    g = case.geometry
    segs = {s["name"]: np.asarray(s["points"], dtype=np.float64) for s in case.graph["segments"]}
    pts = np.concatenate([segs[n] for n in names if n in segs])
    return ((pts - np.asarray(g.origin)) / np.asarray(g.spacing[::-1]))[:, ::-1]


def _distances(path, ref):
    return np.linalg.norm(path[:, None, :] - ref[None, :, :], axis=2).min(axis=1)


def test_phantom_paths_follow_the_named_arteries(tiny_cta):
    paths = centerline_paths(tiny_cta.labels, tiny_cta.geometry.spacing)
    assert set(paths) == {"right_carotid", "left_carotid", "vertebrobasilar"}
    for name, path in paths.items():
        assert path.ndim == 2 and path.shape[1] == 3 and len(path) > 20
        assert path[0, 0] < path[-1, 0]  # proximal (aorta side, low z) first
        d = _distances(path, _graph_voxels(tiny_cta, EXPECTED[name]))
        assert d.mean() < 2.0, (name, d.mean())  # voxels (3 mm)
        assert path_length_mm(path, tiny_cta.geometry.spacing) > 150.0
    for name, segments in MUST_VISIT.items():
        for seg in segments:  # every stretch of CCA -> ICA is visited (within a voxel)
            ref = _graph_voxels(tiny_cta, [seg])
            assert _distances(ref, paths[name]).min() < 1.0, (name, seg)
    # the carotid paths really are on their side: x below the midline is the patient's right
    assert paths["right_carotid"][:, 2].mean() < paths["left_carotid"][:, 2].mean()


def test_paths_on_odd_input(tiny_cta, caplog):
    labels = tiny_cta.labels
    assert centerline_paths(np.zeros((10, 10, 10), np.uint8), (1, 1, 1)) == {}
    # head crop: only the intracranial arteries (no aorta, no neck) - must not raise
    head = np.where(labels == 4, labels, 0)
    out = centerline_paths(head, tiny_cta.geometry.spacing)
    assert set(out) <= {"right_carotid", "left_carotid", "vertebrobasilar"}
    # the right neck arteries removed (x below the volume's middle, below the skull base): no right carotid
    one_side = labels.copy()
    z_skull = int(np.argwhere(labels == 4)[:, 0].min())
    right = one_side[:z_skull, :, : labels.shape[2] // 2 - 2]
    right[np.isin(right, (2, 3))] = 0
    out = centerline_paths(one_side, tiny_cta.geometry.spacing)
    assert "right_carotid" not in out and "left_carotid" in out


def test_paths_bad_input():
    with pytest.raises(GeometryError, match=r"labels must be a 3D \[z, y, x\] array, got shape \(4, 4\)"):
        centerline_paths(np.zeros((4, 4), np.uint8), (1, 1, 1))
    with pytest.raises(ConfigurationError, match=r"grid_mm must be a positive number of mm, got 0"):
        centerline_paths(np.zeros((4, 4, 4), np.uint8), (1, 1, 1), grid_mm=0)


def _cut_tube():
    """Vertical carotid-labelled tube, radius 2.5 mm, 1 mm voxels, cut between z 36 and z 43 (8 slices)."""
    labels = np.zeros((80, 24, 24), np.uint8)
    _, y, x = np.indices(labels.shape)
    labels[(y - 12) ** 2 + (x - 12) ** 2 <= 2.5**2] = 3
    labels[36:44] = 0
    return labels


def test_breaks_find_a_cut():
    labels = _cut_tube()
    found = suspected_breaks(labels, (1.0, 1.0, 1.0))
    assert len(found) == 1
    b = found[0]
    # the skeleton tips sit at or up to a radius inside the cut faces (z 35 and z 44: 9 mm apart)
    assert 9.0 <= b["gap_mm"] <= 9.0 + 2 * 2.5
    assert b["index_zyx"][0] == pytest.approx(39.5, abs=1.5)
    assert b["index_zyx"][1:] == [12, 12]
    assert b["region"] == "carotid"
    # without a geometry: [x, y, z] = index * spacing
    assert b["position_mm"][:2] == [12.0, 12.0]
    # with one: world coordinates (origin + index * spacing for the identity direction)
    geo = Geometry(spacing=(1.0, 1.0, 1.0), origin=(-10.0, 5.0, 100.0))
    w = suspected_breaks(labels, geo)[0]
    assert w["position_mm"][:2] == [2.0, 17.0]
    assert w["position_mm"][2] == pytest.approx(100.0 + b["index_zyx"][0], abs=0.6)
    # longer than max_gap_mm: not reported
    assert suspected_breaks(labels, (1.0, 1.0, 1.0), max_gap_mm=8.0) == []


def test_breaks_ignore_bifurcations_and_side_by_side_ends():
    labels = np.zeros((60, 40, 40), np.uint8)
    _, y, x = np.indices(labels.shape)
    labels[:, :, :][(y - 20) ** 2 + (x - 12) ** 2 <= 4] = 3  # trunk
    for k in range(30, 60):  # a branch leaving the trunk at z 30, running to x 12 + (k - 30) * 0.6
        cx = 12 + (k - 30) * 0.6
        labels[k][(y[0] - 20) ** 2 + (x[0] - cx) ** 2 <= 4] = 3
    assert suspected_breaks(labels, (1.0, 1.0, 1.0)) == []  # one component: a bifurcation is no break
    # two parallel tubes side by side, 10 mm apart, ending at the same height: their ends point the same
    # way (up), not at each other
    par = np.zeros((40, 30, 40), np.uint8)
    _, y, x = np.indices(par.shape)
    par[:30][((y - 15) ** 2 + (x - 10) ** 2 <= 4)[:30]] = 3
    par[:30][((y - 15) ** 2 + (x - 20) ** 2 <= 4)[:30]] = 4
    assert suspected_breaks(par, (1.0, 1.0, 1.0), max_gap_mm=15.0) == []


def test_breaks_empty_and_bad_input():
    assert suspected_breaks(np.zeros((5, 5, 5), np.uint8), (1, 1, 1)) == []
    with pytest.raises(ConfigurationError, match=r"max_gap_mm must be a positive number of mm, got -1"):
        suspected_breaks(_cut_tube(), (1, 1, 1), max_gap_mm=-1)
    with pytest.raises(GeometryError, match=r"labels must be a 3D"):
        suspected_breaks(np.zeros((5, 5), np.uint8), (1, 1, 1))
