"""Render a real vessel geometry (a binary vessel label map) into a synthetic CTA, NCCT or 3D-DSA.

Algorithms can then be tested on real vessel shapes (TopCoW Circle-of-Willis labels, a thresholded real
angiogram) with the same HU physics as the phantom: partial volume at the lumen border from the exact
signed distance to the mask surface (``edt``, anisotropic spacing), brain-like soft tissue, Gaussian PSF,
correlated noise. The label map is the mask itself (one vessel label); no centreline graph is invented
(``graph["segments"]`` is empty).
"""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.labels import INTRACRANIAL, VESSEL_LABELS
from nnunetv2_cta.phantom import shapes as G
from nnunetv2_cta.phantom.graph import GRAPH_FORMAT, GRAPH_VERSION
from nnunetv2_cta.phantom.modalities import MODALITIES, PhantomCase
from nnunetv2_cta.phantom.scanner import draw_scan_params, finish_image


def render_from_vessel_mask(
    mask: np.ndarray,
    geometry: Geometry,
    *,
    modality: str = "cta",
    seed: int = 0,
    label: int = INTRACRANIAL,
) -> PhantomCase:
    """Synthesise an angiogram around a real vessel mask.

    Args:
        mask: ``[z, y, x]`` array; nonzero voxels are vessel lumen (multi-class maps such as TopCoW's are
            merged).
        geometry: the mask's grid; ``spacing`` (z, y, x) mm is used for the partial-volume distances.
        modality: ``"cta"``, ``"ncct"`` or ``"dsa"``.
        seed: seed of the HU values and the noise.
        label: the vessel label written for every mask voxel (2, 3 or 4).

    Returns:
        a :class:`~nnunetv2_cta.phantom.modalities.PhantomCase` on the same grid (image int16 HU, labels
        uint8 with ``label`` on the mask, empty graph).

    Example:
        >>> m = np.zeros((20, 20, 20), np.uint8); m[5:15, 9:11, 9:11] = 1
        >>> render_from_vessel_mask(m, Geometry(spacing=(0.5, 0.5, 0.5))).labels.max()
        4
    """
    import edt

    if modality not in MODALITIES:
        raise ConfigurationError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
    if label not in VESSEL_LABELS:
        raise ConfigurationError(
            f"label must be one of the vessel labels {list(VESSEL_LABELS)}, got {label!r}"
        )
    mask = np.asarray(mask)
    if mask.ndim != 3 or min(mask.shape) < 2:
        raise GeometryError(
            f"mask must be a 3D [z, y, x] array with at least 2 voxels per axis, got shape {mask.shape}"
        )
    vessel = mask != 0
    if not vessel.any():
        raise ConfigurationError("mask holds no vessel voxel (all zero)")
    spacing = tuple(float(s) for s in geometry.spacing)
    # signed distance to the lumen surface (mm): voxel centres are 0.5 voxel inside/outside the border
    inside = edt.edt(vessel, anisotropy=spacing, black_border=False).astype(np.float32)
    outside = edt.edt(~vessel, anisotropy=spacing, black_border=False).astype(np.float32)
    s_eff = float(np.mean(spacing))
    sd = np.where(vessel, -(inside - 0.5 * s_eff), outside - 0.5 * s_eff)
    frac = np.clip(0.5 - sd / s_eff, 0.0, 1.0)
    rng = np.random.default_rng([int(seed), 5, MODALITIES.index(modality)])
    p = draw_scan_params(modality, rng, min(spacing), late_phase=False)
    brain = np.float32(p["brain"]) + rng.normal(0, 1.0, size=1).astype(np.float32)
    hu_vessel = np.float32(p["artery"])
    img = brain + (hu_vessel - brain) * frac
    # finish_image works on an isotropic grid description; use the finest spacing for PSF and noise
    grid = G.Grid(origin=tuple(geometry.origin), spacing=(min(spacing),) * 3, shape=mask.shape)
    image = finish_image(img.astype(np.float32), grid, p, [int(seed), 9, MODALITIES.index(modality)], [])
    labels = np.where(vessel, np.uint8(label), np.uint8(0))
    graph = {
        "format": GRAPH_FORMAT,
        "version": GRAPH_VERSION,
        "units": "mm",
        "coordinates": "world ITK (x, y, z), LPS, same frame as the NIfTI origin/direction",
        "modality": modality,
        "source": "vessel_mask",
        "segments": [],
    }
    info = {"modality": modality, "source": "vessel_mask", **p}
    return PhantomCase(
        image=image, labels=labels, geometry=geometry, graph=graph, modality=modality, info=info
    )
