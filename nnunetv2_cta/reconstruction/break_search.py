"""Suspected remaining breaks: vessel ends of different pieces that face each other across a short gap.

After repair a label map may still hold interruptions (a stenosis the network lost, a vessel through bone
the repair refused to bridge). This lists them for the technologist without changing anything:

1. Endpoints of the vessel skeleton with their outward directions
   (:func:`nnunetv2_cta.postprocessing.gap_bridging.find_endpoints`: 3D thinning of Lee, Kashyap and Chu
   1994; an endpoint has one skeleton neighbour; its direction points from the skeleton within
   ``tangent_mm`` to the tip).
2. Pairs of endpoints of *different* 26-connected components at most ``max_gap_mm`` apart whose directions
   both point at the other end within ``max_angle_deg``; taken greedily, shortest (angle-weighted) first,
   each endpoint once. Ends of one component (a bifurcation, a loop) are never paired.

Each break is reported at the midpoint of its two ends.

Cost: the work follows the vessels, not the volume. After one pass that finds the vessel voxels and
their bounding box, the components are labelled in that box only, and each component is thinned and
searched for ends in its own bounding box (thinning decides a voxel from its 26-neighbourhood, which holds
voxels of its own component only, so this is exactly what thinning the whole mask gives); candidate pairs
come from a k-d tree instead of all pairs of ends.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cc3d
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from nnunetv2_cta._arrays import bounding_box
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import LABEL_NAMES, VESSEL_LABELS
from nnunetv2_cta.reconstruction._common import as_volume, spacing_mm

if TYPE_CHECKING:
    from nnunetv2_cta.postprocessing.gap_bridging import Endpoint

logger = logging.getLogger(__name__)


def _angle(direction: np.ndarray, to_other: np.ndarray) -> float:
    n = np.linalg.norm(to_other)
    return 0.0 if n == 0 else float(np.arccos(np.clip(direction @ (to_other / n), -1.0, 1.0)))


def suspected_breaks(
    labels: np.ndarray,
    spacing,
    *,
    max_gap_mm: float = 15.0,
    max_angle_deg: float = 60.0,
    geometry=None,
    min_component_voxels: int = 4,
    tangent_mm: float | None = None,
) -> list[dict]:
    """Pairs of facing vessel ends of different components (method in the module docstring).

    Args:
        labels: label map ``[z, y, x]`` (vessels 2, 3, 4).
        spacing: ``(z, y, x)`` in mm, or a :class:`~nnunetv2_cta.io.Geometry` (then also used for world
            coordinates).
        max_gap_mm: largest end-to-end distance reported, mm.
        max_angle_deg: largest angle between an end's outward direction and the line to the other end.
        geometry: a Geometry for world coordinates when ``spacing`` is a plain tuple.
        min_component_voxels: smaller vessel pieces are ignored (noise).
        tangent_mm: skeleton length used for an end's direction (default 3x the largest voxel, >= 6 mm).

    Returns:
        One dict per break, shortest first: ``{"position_mm": [x, y, z] world mm (ITK/LPS; without a
        geometry index * spacing), "index_zyx": [z, y, x] midpoint voxel, "gap_mm": float, "region": name
        ("carotid", or "aorta/carotid" when the two ends differ), "ends_zyx": [[z, y, x], [z, y, x]]}``.
    """
    labels = as_volume(labels, "labels")
    if geometry is None and hasattr(spacing, "index_to_world"):
        geometry = spacing
    sp = spacing_mm(spacing)
    if not np.isfinite(max_gap_mm) or max_gap_mm <= 0:
        raise ConfigurationError(f"max_gap_mm must be a positive number of mm, got {max_gap_mm!r}")
    if not 0 < max_angle_deg <= 180:
        raise ConfigurationError(f"max_angle_deg must be in (0, 180], got {max_angle_deg!r}")
    if isinstance(min_component_voxels, bool) or not isinstance(min_component_voxels, (int, np.integer)):
        raise ConfigurationError(f"min_component_voxels must be an integer, got {min_component_voxels!r}")
    if tangent_mm is None:
        tangent_mm = max(6.0, 3.0 * float(sp.max()))
    ends = _vessel_ends(labels, sp, min_component_voxels, tangent_mm)
    pos = np.array([e.index for e in ends], dtype=np.float64) * sp if ends else np.zeros((0, 3))
    max_angle = np.deg2rad(max_angle_deg)
    candidates = []
    # the tree only shortlists pairs (its radius a hair wider); the test of each pair is the one below
    for i, j in cKDTree(pos).query_pairs(max_gap_mm * (1 + 1e-9), output_type="ndarray").tolist():
        a, b = ends[i], ends[j]
        if a.component == b.component:
            continue
        d = pos[j] - pos[i]
        gap = float(np.linalg.norm(d))
        if gap > max_gap_mm:
            continue
        ang_a, ang_b = _angle(a.direction, d), _angle(b.direction, -d)
        if ang_a > max_angle or ang_b > max_angle:
            continue
        candidates.append((gap * (1 + (ang_a + ang_b) / np.pi), gap, i, j))
    candidates.sort()
    used: set[int] = set()
    out = []
    for _, gap, i, j in candidates:
        if i in used or j in used:
            continue
        used.update((i, j))
        a, b = ends[i], ends[j]
        mid = (np.array(a.index) + np.array(b.index)) / 2.0
        if geometry is not None:
            world = geometry.index_to_world(mid)
        else:
            world = (mid * sp)[::-1]
        names = sorted(
            {LABEL_NAMES.get(a.label, str(a.label)), LABEL_NAMES.get(b.label, str(b.label))},
            key=lambda s: list(LABEL_NAMES.values()).index(s) if s in LABEL_NAMES.values() else 99,
        )
        out.append(
            {
                "position_mm": [round(float(v), 2) for v in world],
                "index_zyx": [round(v) for v in mid],
                "gap_mm": round(gap, 2),
                "region": "/".join(names),
                "ends_zyx": [list(a.index), list(b.index)],
            }
        )
    out.sort(key=lambda r: r["gap_mm"])
    if out:
        logger.info("%d suspected break(s) of at most %.1f mm", len(out), max_gap_mm)
    return out


def _vessel_mask(labels: np.ndarray) -> np.ndarray:
    """``bool`` mask of the vessel labels: for unsigned maps one subtraction and one comparison (the vessel
    labels are one run, 2-4; values below it wrap around to large ones), several times faster than isin.
    """
    lo, hi = min(VESSEL_LABELS), max(VESSEL_LABELS)
    if labels.dtype.kind == "u" and set(VESSEL_LABELS) == set(range(lo, hi + 1)):
        return (labels - labels.dtype.type(lo)) <= hi - lo
    return np.isin(labels, VESSEL_LABELS)


def _vessel_ends(labels: np.ndarray, sp: np.ndarray, min_voxels: int, tangent_mm: float) -> list[Endpoint]:
    """Skeleton ends of the vessel components of at least ``min_voxels`` voxels, C order of their index.

    The same ends, directions and order as :func:`~nnunetv2_cta.postprocessing.gap_bridging.find_endpoints`
    on the whole (dusted) vessel mask, computed per component in its bounding box; no radius (``nan``, not
    needed here). Empty when fewer than two components are left.
    """
    from nnunetv2_cta.evaluation.centerline import skeletonize_component
    from nnunetv2_cta.postprocessing.gap_bridging import Endpoint, skeleton_tips, tangent_walk, tip_direction

    vessel = _vessel_mask(labels)
    box = bounding_box(vessel)
    if box is None:
        return []
    components = cc3d.connected_components(vessel[box], connectivity=26)
    del vessel
    pieces = []  # (label, its bounding box, its voxels there) of the components kept
    for k, sub in enumerate(ndimage.find_objects(components), start=1):
        piece = components[sub] == k
        if np.count_nonzero(piece) >= min_voxels:
            pieces.append((k, sub, piece))
    del components
    if len(pieces) < 2:
        return []
    ends = []
    for k, sub, piece in pieces:
        skel = skeletonize_component(piece)
        origin = np.array([b.start + s.start for b, s in zip(box, sub)], dtype=np.int64)
        points = set(map(tuple, np.argwhere(skel).tolist()))
        for tip in skeleton_tips(skel):
            # whole-volume indices before any arithmetic: the direction is then bit for bit find_endpoints'
            walk = tangent_walk(points, tip, sp, tangent_mm) + origin
            direction = tip_direction(walk, sp)
            if direction is None:
                continue
            index = tuple(int(v) for v in walk[0])
            ends.append(Endpoint(index, direction, float("nan"), k, int(labels[index])))
    ends.sort(key=lambda e: e.index)
    return ends
