"""Shared fixtures of the reconstruction tests: a tiny phantom CTA and synthetic tubes."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_cta():
    """A ``tiny`` preset phantom CTA (3 mm voxels, 110x64x64): image HU, labels, geometry, graph."""
    from nnunetv2_cta.phantom import generate_anatomy, render_case

    return render_case(generate_anatomy(3, preset="tiny"), "cta")


def tube(shape, spacing, centre_of_z, radius_mm: float, *, label: int = 3, lumen_hu: float = 400.0):
    """Volume and labels of a tube whose centre at slice z is ``centre_of_z(z_mm) -> (y_mm, x_mm)``.

    Voxels whose centre lies within ``radius_mm`` (measured in the axial plane) of the centre are lumen.
    Background 40 HU.
    """
    sz, sy, sx = spacing
    z, y, x = np.indices(shape, dtype=np.float64)
    cy, cx = centre_of_z(z * sz)
    inside = (y * sy - cy) ** 2 + (x * sx - cx) ** 2 <= radius_mm**2
    labels = np.where(inside, label, 0).astype(np.uint8)
    image = np.where(inside, lumen_hu, 40.0).astype(np.float32)
    return image, labels


@pytest.fixture
def make_tube():
    return tube
