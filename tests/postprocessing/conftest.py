"""Synthetic tubes in a CT-like volume for the repair tests (no phantom: exact, fast, hand-checkable)."""

from __future__ import annotations

import numpy as np
import pytest


def paint_tube(labels: np.ndarray, points_zyx: np.ndarray, radius_mm: float, label: int, spacing) -> None:
    """Paint the union of balls of ``radius_mm`` around a densely sampled polyline (voxel coords) in place."""
    spacing = np.asarray(spacing, float)
    grid = np.indices(labels.shape).reshape(3, -1).T * spacing
    inside = np.zeros(grid.shape[0], bool)
    for p in np.asarray(points_zyx, float) * spacing:
        inside |= ((grid - p) ** 2).sum(axis=1) <= radius_mm**2
    labels.reshape(-1)[inside] = label


def ct_from_labels(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """HU: soft tissue 40, vessels 400, bone 1000, Gaussian noise sigma 10; int16."""
    rng = np.random.default_rng(seed)
    hu = np.full(labels.shape, 40.0)
    hu[labels >= 2] = 400.0
    hu[labels == 1] = 1000.0
    return (hu + rng.normal(0, 10, labels.shape)).astype(np.int16)


def straight_tube(shape=(24, 24, 48), radius=2.5, label=3, spacing=(1.0, 1.0, 1.0)):
    labels = np.zeros(shape, np.uint8)
    x = np.linspace(0, shape[2] - 1, 4 * shape[2])
    pts = np.stack([np.full_like(x, shape[0] // 2), np.full_like(x, shape[1] // 2), x], axis=1)
    paint_tube(labels, pts, radius, label, spacing)
    return labels


def arc_tube(shape=(20, 44, 44), radius_arc=16.0, radius=2.0, label=4):
    """A half circle of ``radius_arc`` voxels in the y-x plane (1 mm voxels), centre (10, 4, 22)."""
    labels = np.zeros(shape, np.uint8)
    t = np.linspace(0, np.pi, 400)
    pts = np.stack([np.full_like(t, 10), 4 + radius_arc * np.sin(t), 22 + radius_arc * np.cos(t)], axis=1)
    paint_tube(labels, pts, radius, label, (1.0, 1.0, 1.0))
    return labels


@pytest.fixture
def tube_factory():
    return {"straight": straight_tube, "arc": arc_tube, "ct": ct_from_labels, "paint": paint_tube}
