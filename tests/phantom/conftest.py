"""Shared phantom cases for the tests (tiny preset, built once per session)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def standard_anatomy():
    from nnunetv2_cta.phantom import generate_anatomy

    return generate_anatomy(11, preset="tiny", variants=())


@pytest.fixture(scope="session")
def cta_case(standard_anatomy):
    from nnunetv2_cta.phantom import render_case

    return render_case(standard_anatomy, "cta", late_phase=False)


@pytest.fixture(scope="session")
def ncct_case(standard_anatomy):
    from nnunetv2_cta.phantom import render_case

    return render_case(standard_anatomy, "ncct")


@pytest.fixture(scope="session")
def dsa_case(standard_anatomy):
    from nnunetv2_cta.phantom import render_case

    return render_case(standard_anatomy, "dsa", misregistration_mm=0.0)


def world_coords(case, mask: np.ndarray) -> np.ndarray:
    """World (x, y, z) mm of the voxels of ``mask``."""
    idx = np.argwhere(mask)
    return case.geometry.index_to_world(idx)


def distance_to_graph(points: np.ndarray, segments: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point: the smallest ``distance - radius_at_closest_point`` over all graph pieces, and the
    distance and label of the piece that attains it (plain numpy, independent of the generator)."""
    best = np.full(len(points), np.inf)
    best_d = np.full(len(points), np.inf)
    best_label = np.zeros(len(points), int)
    for seg in segments:
        p = np.asarray(seg["points"], float)
        r = np.asarray(seg["radii"], float)
        a, b = p[:-1], p[1:]
        ab = b - a
        ll = np.maximum((ab * ab).sum(1), 1e-12)
        for k0 in range(0, len(points), 2000):
            q = points[k0 : k0 + 2000, None, :]
            t = np.clip(((q - a) * ab).sum(-1) / ll, 0, 1)
            d = np.linalg.norm(q - (a + t[..., None] * ab), axis=-1)
            rr = r[:-1] + t * (r[1:] - r[:-1])
            margin = np.where(rr > 0, d - rr, np.inf)
            j = margin.argmin(1)
            m = margin[np.arange(len(j)), j]
            upd = m < best[k0 : k0 + 2000]
            best[k0 : k0 + 2000][upd] = m[upd]
            best_d[k0 : k0 + 2000][upd] = d[np.arange(len(j)), j][upd]
            best_label[k0 : k0 + 2000][upd] = seg["label"]
    return best, best_d, best_label


@pytest.fixture(scope="session")
def geo_tools():
    """The helpers above as a fixture (test modules cannot import conftest under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(world_coords=world_coords, distance_to_graph=distance_to_graph)
