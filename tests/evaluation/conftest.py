"""Shapes for the evaluation tests, as fixtures (tests run with --import-mode=importlib)."""

from __future__ import annotations

import numpy as np
import pytest


def _tube_x(shape, centre_zy, radius_vox, x_range) -> np.ndarray:
    """Solid cylinder along x: voxels with (z-cz)^2 + (y-cy)^2 <= r^2 and x0 <= x < x1 (voxel units)."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cz, cy = centre_zy
    disc = (z - cz) ** 2 + (y - cy) ** 2 <= radius_vox**2
    along = (x >= x_range[0]) & (x < x_range[1])
    return disc & along


def _ball_mm(shape, spacing, centre_mm, radius_mm) -> np.ndarray:
    """Ball in physical space on a (possibly anisotropic) grid; centre in mm, (z, y, x) order."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cz, cy, cx = centre_mm
    sz, sy, sx = spacing
    return (z * sz - cz) ** 2 + (y * sy - cy) ** 2 + (x * sx - cx) ** 2 <= radius_mm**2


@pytest.fixture
def tube_x():
    return _tube_x


@pytest.fixture
def ball_mm():
    return _ball_mm
