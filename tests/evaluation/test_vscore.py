from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.evaluation import evaluate_case, load_graph, recall, vscore, vscore_weights
from nnunetv2_cta.io import Geometry


def _cone(shape=(21, 21, 80), r0=6.0, r1=1.5, x0=5, x1=75) -> np.ndarray:
    """Tapered tube along x: radius r0 at x0 (the proximal, wide end) down to r1 at x1."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    t = np.clip((x - x0) / (x1 - x0), 0, 1)
    radius = r0 + (r1 - r0) * t
    return ((z - 10) ** 2 + (y - 10) ** 2 <= radius**2) & (x >= x0) & (x < x1)


def test_weights_from_the_label_map_favour_the_wide_proximal_end():
    spacing = (0.5, 0.5, 0.5)
    gt = _cone()
    wide = gt.copy()
    wide[..., 40:] = False  # prediction = proximal part only
    narrow = gt & ~wide  # prediction = distal part only
    v_wide, v_narrow = vscore(gt, wide, spacing), vscore(gt, narrow, spacing)
    r_wide, r_narrow = recall(gt, wide), recall(gt, narrow)
    # weighted recall is additive over a partition of the ground truth, like recall
    assert v_wide + v_narrow == pytest.approx(1.0)
    assert r_wide + r_narrow == pytest.approx(1.0)
    # proximal and wide counts more than its voxel share, distal and thin less
    assert v_wide > r_wide + 0.03
    assert v_narrow < r_narrow - 0.03

    w = vscore_weights(gt, spacing)
    assert w.shape == gt.shape and np.all(w[~gt] == 0)
    inside = w[gt]
    assert inside.min() > 0 and inside.max() <= 1.0
    # along the axis the weight falls from the wide end to the thin end
    axis_w = w[10, 10, 12:70]
    assert axis_w[0] > 0.95 and axis_w[-1] < 0.3 and np.all(np.diff(axis_w) <= 1e-6)


def _two_tubes():
    shape = (12, 34, 40)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    a = ((z - 6) ** 2 + (y - 8) ** 2 <= 9) & (x >= 2) & (x < 38)  # radius 3, generation 0
    b = ((z - 6) ** 2 + (y - 26) ** 2 <= 1) & (x >= 2) & (x < 38)  # radius 1, generation 1
    return a, b


def _graph(origin):
    ox, oy, oz = origin
    xs = np.arange(0, 40, 0.5)

    def line(y):
        return [[ox + x, oy + y, oz + 6.0] for x in xs]

    return {
        "format": "nnunetv2_cta.vessel_graph",
        "version": 1,
        "units": "mm",
        "segments": [
            {"name": "A", "kind": "artery", "label": 2, "parent": None, "generation": 0,
             "points": line(8.0), "radii": [3.0] * len(xs)},
            {"name": "B", "kind": "artery", "label": 3, "parent": "A", "generation": 1,
             "points": line(26.0), "radii": [1.0] * len(xs)},
            {"name": "V", "kind": "vein", "label": 0, "parent": None, "generation": 0,
             "points": line(17.0), "radii": [9.0] * len(xs)},
        ],
    }  # fmt: skip


def test_weights_from_a_vessel_graph_by_hand(tmp_path):
    a, b = _two_tubes()
    origin = (10.0, -5.0, 2.0)
    geometry = Geometry((1.0, 1.0, 1.0), origin=origin)
    path = tmp_path / "case_graph.json"
    path.write_text(json.dumps(_graph(origin)))
    graph = load_graph(path)
    gt = a | b
    # weights: A = (3/3 + (1 - 0/2)) / 2 = 1, B = (1/3 + (1 - 1/2)) / 2 = 5/12; the vein is ignored
    n_a, n_b = int(a.sum()), int(b.sum())
    expected = n_a / (n_a + 5 / 12 * n_b)
    v = vscore(gt, a, geometry.spacing, graph=graph, geometry=geometry)
    assert v == pytest.approx(expected)
    assert recall(gt, a) == pytest.approx(n_a / (n_a + n_b))
    assert v != pytest.approx(recall(gt, a), abs=0.01)
    w = vscore_weights(gt, geometry.spacing, graph=graph, geometry=geometry)
    assert np.allclose(w[a], 1.0) and np.allclose(w[b], 5 / 12)

    # through evaluate_case: region "vessels" uses both arteries, region "carotid" only B (label 3)
    lab = np.zeros(gt.shape, np.uint8)
    lab[a], lab[b] = 2, 3
    pred = lab.copy()
    pred[b] = 0
    out = evaluate_case(lab, pred, geometry, graph=path, regions={"vessels": [2, 3, 4], "carotid": [3]})
    assert out["metrics"]["vessels"]["vscore"] == pytest.approx(expected)
    assert out["metrics"]["carotid"]["vscore"] == 0.0


def test_graph_without_usable_points_falls_back_with_a_warning(caplog):
    a, b = _two_tubes()
    geometry = Geometry((1.0, 1.0, 1.0))
    graph = {"format": "nnunetv2_cta.vessel_graph", "segments": []}
    v = vscore(a | b, a, geometry.spacing, graph=graph, geometry=geometry)
    assert v == pytest.approx(vscore(a | b, a, geometry.spacing))
    assert "using weights from the label map" in caplog.text


def test_graph_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else", "segments": []}')
    with pytest.raises(
        DatasetFormatError, match=r"'format' must be 'nnunetv2_cta.vessel_graph', got 'something else'"
    ):
        load_graph(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DatasetFormatError, match="cannot read vessel graph"):
        load_graph(broken)
    with pytest.raises(DatasetFormatError, match="cannot read vessel graph"):
        load_graph(tmp_path / "absent.json")
    a, b = _two_tubes()
    graph = _graph((0.0, 0.0, 0.0))
    graph["segments"][0]["radii"] = [1.0]
    with pytest.raises(DatasetFormatError, match=r"segment 'A': 80 points but 1 radii"):
        vscore(a | b, a, (1, 1, 1), graph=graph, geometry=Geometry((1, 1, 1)))
    with pytest.raises(ConfigurationError, match="needs the image geometry"):
        vscore(a | b, a, (1, 1, 1), graph=_graph((0, 0, 0)))


def test_vscore_empty_conventions():
    empty = np.zeros((5, 5, 5), bool)
    full = empty.copy()
    full[1:4, 1:4, 1:4] = True
    assert vscore(empty, empty, (1, 1, 1)) == 1.0
    assert vscore(full, empty, (1, 1, 1)) == 0.0
    assert vscore(empty, full, (1, 1, 1)) == 0.0
