"""The vessel graph JSON reader/writer: round trip with hand values, plain-list mode, every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.phantom.graph import GRAPH_FORMAT, load_vessel_graph, save_vessel_graph

GRAPH = {
    "format": GRAPH_FORMAT,
    "version": 1,
    "segments": [
        {
            "name": "R_ICA_cervical",
            "label": 3,
            "points": [[1.5, -2.0, 3.25], [1.5, -2.0, 4.75]],
            "radii": [2.5, 2.25],
        },
        {"name": "BA", "label": 4, "points": [[0.0, 2.0, 210.0]], "radii": [1.6]},
    ],
}


def test_round_trip_gives_arrays_in_mm(tmp_path):
    path = save_vessel_graph(GRAPH, tmp_path / "sub" / "case_graph.json")
    assert path.read_text() == json.dumps(GRAPH, separators=(",", ":"))  # compact, key order kept
    g = load_vessel_graph(path)
    ica = g["segments"][0]
    assert ica["points"].shape == (2, 3) and ica["points"].dtype == np.float64
    np.testing.assert_array_equal(ica["points"][1], [1.5, -2.0, 4.75])
    np.testing.assert_array_equal(ica["radii"], [2.5, 2.25])
    assert g["segments"][1]["points"].shape == (1, 3)


def test_plain_lists_when_arrays_is_false(tmp_path):
    path = save_vessel_graph(GRAPH, tmp_path / "g.json")
    g = load_vessel_graph(path, arrays=False)
    assert g == GRAPH


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "cannot read vessel graph"),
        ("[1, 2]", r"'format' must be 'nnunetv2_cta.vessel_graph', got 'list'"),
        ('{"format": "other"}', r"'format' must be 'nnunetv2_cta.vessel_graph', got 'other'"),
        (json.dumps({"format": GRAPH_FORMAT}), "'segments' must be a list"),
        (json.dumps({"format": GRAPH_FORMAT, "segments": {"A": 1}}), "'segments' must be a list"),
        (
            json.dumps({"format": GRAPH_FORMAT, "segments": [{"name": "A", "radii": [1]}]}),
            "segment 'A' needs 'points'",
        ),
        (
            json.dumps(
                {"format": GRAPH_FORMAT, "segments": [{"name": "A", "points": [[0, 1]], "radii": [1]}]}
            ),
            "segment 'A' needs 'points'",
        ),
        (
            json.dumps(
                {"format": GRAPH_FORMAT, "segments": [{"name": "A", "points": [[0, 1, 2]] * 3, "radii": [1]}]}
            ),
            "segment 'A': 3 points but 1 radii",
        ),
        (json.dumps({"format": GRAPH_FORMAT, "segments": [7]}), "segment 0 needs 'points'"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, content, match):
    path = tmp_path / "bad_graph.json"
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=match):
        load_vessel_graph(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"cannot read vessel graph .*absent\.json"):
        load_vessel_graph(tmp_path / "absent.json")
