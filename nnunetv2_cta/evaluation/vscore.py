"""V-score: recall weighted toward clinically important (proximal, large) vessel positions.

Source: Fu F. et al., "Rapid vessel segmentation and reconstruction of head and neck angiograms using 3D
convolutional neural networks", Nature Communications 11, 4829 (2020), doi:10.1038/s41467-020-18606-2,
equation 3: a weighted recall

    V = Σ_v w(v) · [v ∈ P] · [v ∈ G]  /  Σ_v w(v) · [v ∈ G]

over the voxels v of the ground truth G and the prediction P, where the weight w grows with the clinical
importance of the position. The paper does not give weights that can be computed from a label map, so the
weights here are this project's concrete definition (the numbers of the paper are therefore not
reproduced exactly, only the idea):

    w(v) = ½ · (ρ(c) + π(c)),   c = the centerline point nearest to v (Euclidean, mm)

with ``ρ`` the *relative radius* and ``π`` the *proximity*, both in [0, 1]:

- **from the label map alone** (default): c runs over the voxel skeleton of G; ``ρ(c) = r(c) / r_max`` with
  r(c) the distance from c to the vessel wall (exact EDT, mm) and r_max its maximum over the skeleton;
  ``π(c) = 1 - d(c) / d_max`` with d(c) the distance along the centerline (mm) from the root of c's
  connected piece, the root being its widest centerline voxel (the aorta in a complete tree), and d_max the
  largest such distance in that piece (π = 1 on a piece of a single voxel);
- **from the phantom's vessel graph** (``graph`` given, format in ``graph_format``; arteries whose label is
  in the region only, points with radius > 0): c runs over the graph's polyline points;
  ``ρ = radius / r_max`` and ``π = 1 - generation / (g_max + 1)`` with g_max the largest generation present.

So the ascending aorta weighs about 1, a distal cortical branch about 0.1; a prediction that misses only small
distal branches gets a V-score above its recall, one that misses a proximal trunk gets one below it. Empty
ground truth: V = 1.0 if the prediction is empty too, else 0.0 (as for recall).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from nnunetv2_cta._arrays import as_spacing
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.evaluation.centerline import VesselPair

logger = logging.getLogger(__name__)

GRAPH_FORMAT = "nnunetv2_cta.vessel_graph"


def load_graph(path: str | os.PathLike) -> dict:
    """Read a vessel graph JSON (``<case>_graph.json``) with plain :mod:`json`, checking its header.

    Raises:
        DatasetFormatError: unreadable file, wrong ``format`` or missing ``segments``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetFormatError(f"cannot read vessel graph {str(path)!r}: {err}") from err
    if not isinstance(data, dict) or data.get("format") != GRAPH_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise DatasetFormatError(f"{str(path)!r}: 'format' must be {GRAPH_FORMAT!r}, got {got!r}")
    if not isinstance(data.get("segments"), list):
        raise DatasetFormatError(f"{str(path)!r}: 'segments' must be a list")
    return data


def _graph_points(graph: dict, labels: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World points (M, 3), radii (M,) and generations (M,) of the usable artery points of a graph."""
    points, radii, generations = [], [], []
    for seg in graph.get("segments", []):
        if seg.get("kind", "artery") != "artery":
            continue
        if labels is not None and int(seg.get("label", 0)) not in labels:
            continue
        pts = np.asarray(seg.get("points", []), dtype=np.float64).reshape(-1, 3)
        rad = np.asarray(seg.get("radii", []), dtype=np.float64).ravel()
        if rad.size != len(pts):
            raise DatasetFormatError(
                f"vessel graph segment {seg.get('name')!r}: {len(pts)} points but {rad.size} radii"
            )
        keep = rad > 0
        points.append(pts[keep])
        radii.append(rad[keep])
        generations.append(np.full(int(keep.sum()), float(seg.get("generation", 0))))
    if not points:
        return np.zeros((0, 3)), np.zeros(0), np.zeros(0)
    return np.concatenate(points), np.concatenate(radii), np.concatenate(generations)


def _centerline_weights(pair: VesselPair) -> tuple[np.ndarray, np.ndarray]:
    """Skeleton points in mm (crop frame) and their weights ½(ρ + π), label-map definition."""
    graph = pair.gt_graph
    radius = pair.gt_radius
    comps = graph.components
    n_comp = int(comps.max()) + 1
    order = np.lexsort((radius, comps))  # by component, then radius: the last of each component is its root
    last = np.r_[np.flatnonzero(np.diff(comps[order])), order.size - 1]
    roots = order[last]
    dist = graph.geodesic_from(roots)
    d_max = np.zeros(n_comp)
    np.maximum.at(d_max, comps, dist)
    proximity = np.where(d_max[comps] > 0, 1.0 - dist / np.where(d_max[comps] > 0, d_max[comps], 1.0), 1.0)
    rho = radius / radius.max() if radius.max() > 0 else np.ones_like(radius)
    weights = 0.5 * (rho + proximity)
    return graph.coords * np.asarray(pair.spacing), weights


def _voxel_weights(
    pair: VesselPair,
    *,
    graph: dict | None = None,
    geometry=None,
    labels: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Weights of the ground-truth voxels of the crop, in ``np.nonzero(pair.gt)`` order."""
    gt_index = np.argwhere(pair.gt)
    if graph is not None:
        if geometry is None:
            raise ConfigurationError("a vessel graph needs the image geometry (world coordinates)")
        points, radii, generations = _graph_points(graph, labels)
        if len(points):
            rho = radii / radii.max()
            proximity = 1.0 - generations / (generations.max() + 1.0)
            weights = 0.5 * (rho + proximity)
            query = geometry.index_to_world(pair.to_full_index(gt_index))
            _, nearest = cKDTree(points).query(query, k=1)
            return weights[nearest]
        logger.warning(
            "vessel graph has no artery points with radius > 0 for labels %s; using weights from the label map",
            labels,
        )
    if not len(pair.gt_graph.coords):  # a blob whose thinning leaves no centerline: all voxels weigh alike
        logger.warning("ground truth has no centerline voxel; V-score uses equal weights (it equals recall)")
        return np.ones(len(gt_index))
    points_mm, weights = _centerline_weights(pair)
    _, nearest = cKDTree(points_mm).query(gt_index * np.asarray(pair.spacing), k=1)
    return weights[nearest]


def vscore(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    spacing,
    *,
    graph: dict | None = None,
    geometry=None,
    labels: tuple[int, ...] | None = None,
    context: VesselPair | None = None,
) -> float:
    """Weighted recall Σ w·[P∩G] / Σ w·[G] with the weights of the module docstring.

    Args:
        gt_mask, pred_mask: 3D masks ``[z, y, x]`` of one shape.
        spacing: voxel size ``(z, y, x)`` in mm.
        graph: a vessel graph dict (:func:`load_graph`) to take radius and generation from; needs ``geometry``.
        geometry: :class:`nnunetv2_cta.io.Geometry` of the volume (world coordinates of the graph).
        labels: label values of the region, to pick the graph's segments (``None``: all arteries).
        context: precomputed :class:`.centerline.VesselPair` of the same masks.

    Returns:
        V in [0, 1].
    """
    spacing = as_spacing(spacing)
    pair = context if context is not None else VesselPair(gt_mask, pred_mask, spacing)
    if pair.gt_empty or pair.pred_empty:
        return 1.0 if pair.gt_empty and pair.pred_empty else 0.0
    weights = _voxel_weights(pair, graph=graph, geometry=geometry, labels=labels)
    hit = pair.pred[pair.gt]  # same nonzero order as np.argwhere(pair.gt)
    total = float(weights.sum())
    return float(weights[hit].sum()) / total if total > 0 else 0.0


def vscore_weights(
    gt_mask: np.ndarray,
    spacing,
    *,
    graph: dict | None = None,
    geometry=None,
    labels: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Full-size float32 map ``[z, y, x]`` of the V-score weight of every ground-truth voxel (0 elsewhere).

    Meant for inspection and figures; allocates a float32 array of the full volume.
    """
    spacing = as_spacing(spacing)
    gt_mask = np.asarray(gt_mask) != 0
    pair = VesselPair(gt_mask, np.zeros_like(gt_mask), spacing)
    out = np.zeros(gt_mask.shape, dtype=np.float32)
    if pair.gt_empty:
        return out
    weights = _voxel_weights(pair, graph=graph, geometry=geometry, labels=labels)
    idx = pair.to_full_index(np.argwhere(pair.gt))
    out[tuple(idx.T)] = weights
    return out
