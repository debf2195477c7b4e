"""The CPU-training preset (1.25 mm): exact designed tree counts and label radius on several seeds (slow)."""

from __future__ import annotations

import cc3d
import numpy as np
import pytest

from nnunetv2_cta.labels import VESSEL_LABELS


def _design(segments, label):
    names = [s["name"] for s in segments if s["label"] == label]
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            n = parent[n]
        return n

    for s in segments:
        if s["label"] == label:
            for other in [s.get("parent"), *s.get("connects_to", [])]:
                if other in parent:
                    parent[find(s["name"])] = find(other)
    return len({find(n) for n in names})


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 9, 13, 25])
def test_train_preset_trees_and_radius(seed, geo_tools):
    from nnunetv2_cta.phantom import generate_anatomy, render_case

    case = render_case(generate_anatomy(seed, preset="train"), "cta")
    assert case.image.shape == (264, 160, 160)
    arteries = [s for s in case.graph["segments"] if s["kind"] == "artery"]
    for lab in VESSEL_LABELS:  # at 1.25 mm no two designed trees touch: counts are exact
        n = cc3d.connected_components(case.labels == lab, connectivity=26, return_N=True)[1]
        assert n == _design(arteries, lab), (seed, lab, case.graph["variants"])
    vessel = np.argwhere(np.isin(case.labels, VESSEL_LABELS))
    sample = vessel[np.random.default_rng(seed).choice(len(vessel), 3000, replace=False)]
    margin, _, _ = geo_tools.distance_to_graph(case.geometry.index_to_world(sample), arteries)
    assert margin.max() <= case.graph["label_min_radius_mm"] + 1e-3
