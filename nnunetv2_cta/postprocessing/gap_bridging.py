"""Classic (non-learned) gap bridging: the fallback without a trained CGPM and the baseline it must beat.

Steps, all on the vessel mask (labels 2, 3, 4 together, 26-connected):

1. **Endpoints.** Curve skeleton of the vessel mask (:func:`nnunetv2_cta.evaluation.skeletonize`, 3D thinning
   of Lee, Kashyap and Chu 1994); an endpoint is a skeleton voxel with exactly one 26-neighbour on the
   skeleton. Its outward **direction** is the unit vector from the mean of the skeleton voxels within
   ``tangent_mm`` along the skeleton to the endpoint itself; its **radius** is the median distance-to-wall
   (:mod:`edt`, mm) over those voxels, minus half a voxel (the wall lies between voxel centres); the tip
   itself lies at the cut face and is too thin.
2. **Pairs.** Endpoints of *different* components (or of one component when the way between them along
   the skeleton is more than ``loop_ratio`` times their distance: a cut inside a loop such as the Circle of
   Willis leaves the tree connected around the loop) whose distance is at most ``max_gap_mm`` and which face
   each other: the angle between each endpoint's direction and the line to the other endpoint is at most
   ``max_angle_deg``. Candidates are taken greedily, cheapest first (distance times ``1 + angle sum / π``),
   each endpoint at most once, and never between components already joined (no loops are created).
   An endpoint left without a partner is then paired with the nearest skeleton voxel of another component
   inside its cone (the side of a parent vessel, when a branch was cut off at its origin); this pass never
   closes loops.
3. **Path.** Minimal-cost 26-connected path between the two endpoints (:mod:`dijkstra3d`, mm-weighted steps)
   through a cost field from the CT: cost 1 inside the contrast band ``contrast_hu`` (default 150-600 HU),
   rising quadratically below it (soft tissue, fat, air) and linearly above it, and impassable
   (``1e4``) in bone (label 1 or ``>= bone_hu``). Without an image the cost is uniform (a straight path).
   A path that touches bone, or whose mean cost over the gap exceeds ``max_mean_cost`` (mostly soft tissue:
   no contrast there, e.g. a real occlusion), is **refused**.
4. **Raster.** Every path voxel paints a ball whose radius is interpolated linearly along the path between
   the two endpoint radii; only background voxels are painted (bone and vessels are never overwritten, and
   not voxels at or above ``bone_hu``). The piece takes its region's label: the label of the nearer
   endpoint along the path, so a bridge inside one region keeps that region's label.

Bridging across a real occlusion is what the refusal rules guard against; an occlusion filled with
contrast-like HU (e.g. a calcified stretch below ``bone_hu``) can still be bridged: the report lists every
bridge so a reader can check it.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import cc3d
import dijkstra3d
import edt
import numpy as np
from scipy.sparse import csgraph

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.evaluation.centerline import SkeletonGraph, skeletonize
from nnunetv2_cta.labels import BONE, VESSEL_LABELS
from nnunetv2_cta.postprocessing.repair_record import RepairedGap

logger = logging.getLogger(__name__)

_OFFSETS = np.array(
    [
        (dz, dy, dx)
        for dz in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dz, dy, dx) != (0, 0, 0)
    ],
    dtype=np.int64,
)
_OFFSET_TUPLES = tuple(map(tuple, _OFFSETS.tolist()))
IMPASSABLE = 1e4


@dataclass(frozen=True)
class Endpoint:
    """A skeleton endpoint: voxel index, outward unit direction (mm frame, z/y/x), radius (mm), component."""

    index: tuple[int, int, int]
    direction: np.ndarray
    radius_mm: float
    component: int
    label: int


def _spacing(geometry) -> np.ndarray:
    spacing = getattr(geometry, "spacing", geometry)
    arr = np.asarray(spacing, dtype=np.float64)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise GeometryError(f"spacing must be three positive numbers (z, y, x) in mm, got {spacing!r}")
    return arr


def hu_cost(
    image: np.ndarray,
    *,
    contrast_hu: tuple[float, float] = (150.0, 600.0),
    bone_hu: float = 700.0,
    soft_scale_hu: float = 100.0,
) -> np.ndarray:
    """Cost per voxel of a path through CT ``image`` (HU): 1 in the contrast band, more outside, 1e4 in bone.

    ``cost = 1 + ((lo - HU) / soft_scale_hu)²`` below the band (capped at 1000), ``1 + (HU - hi) / (bone_hu -
    hi)`` between the band and ``bone_hu``, and :data:`IMPASSABLE` at or above ``bone_hu``. float32, same shape.

    Example: with the defaults, 400 HU costs 1, 50 HU costs 2, -100 HU costs 7.25, 650 HU costs 1.5.
    """
    lo, hi = (float(v) for v in contrast_hu)
    hu = image.astype(np.float32, copy=False)
    cost = np.ones(hu.shape, np.float32)
    below = hu < lo
    cost[below] = np.minimum(1.0 + ((lo - hu[below]) / soft_scale_hu) ** 2, 1000.0)
    above = hu > hi
    cost[above] = 1.0 + (hu[above] - hi) / max(bone_hu - hi, 1e-6)
    cost[hu >= bone_hu] = IMPASSABLE
    return cost


def find_endpoints(
    vessel: np.ndarray,
    components: np.ndarray,
    labels: np.ndarray,
    spacing: np.ndarray,
    *,
    tangent_mm: float,
    skel: np.ndarray | None = None,
    dist: np.ndarray | None = None,
) -> list[Endpoint]:
    """Skeleton endpoints of ``vessel`` (bool ``[z, y, x]``) with direction and radius (step 1 of the module).

    ``skel`` (its skeleton) and ``dist`` (distance to the wall in mm) are computed when not given.
    """
    if skel is None:
        skel = skeletonize(vessel)
    tips = skeleton_tips(skel)
    if len(tips) == 0:
        return []
    if dist is None:
        dist = _wall_distance(vessel, spacing)
    points = set(map(tuple, np.argwhere(skel).tolist()))
    out: list[Endpoint] = []
    for tip in tips:
        pts = tangent_walk(points, tip, spacing, tangent_mm)
        direction = tip_direction(pts, spacing)
        if direction is None:
            continue
        key = tuple(int(v) for v in tip)
        out.append(
            Endpoint(
                index=key,  # type: ignore[arg-type]
                direction=direction,
                radius_mm=max(float(np.median(dist[tuple(pts.T)])) - 0.5 * float(spacing.min()), 0.0),
                component=int(components[key]),
                label=int(labels[key]),
            )
        )
    return out


def skeleton_tips(skel: np.ndarray) -> np.ndarray:
    """``(N, 3)`` int64 indices, C order, of the voxels of ``skel`` with exactly one 26-neighbour in it."""
    padded = np.pad(skel, 1)
    coords = np.argwhere(skel)
    neighbour_count = np.zeros(len(coords), np.int64)
    for off in _OFFSETS:
        neighbour_count += padded[tuple((coords + 1 + off).T)]
    return coords[neighbour_count == 1]


def tangent_walk(points: set, tip, spacing: np.ndarray, tangent_mm: float) -> np.ndarray:
    """Skeleton voxels within ``tangent_mm`` of ``tip`` (Euclidean, mm) reached from it along the skeleton.

    ``points`` holds the skeleton's voxels as ``(z, y, x)`` int tuples; the walk is breadth-first over
    26-neighbours and stops at voxels farther than ``tangent_mm`` from the tip. Returns ``(N, 3)`` int64
    indices in the order reached, the tip first.
    """
    tip = tuple(int(v) for v in tip)
    sp = tuple(float(v) for v in spacing)
    seen, queue, walk = {tip}, deque([tip]), [tip]
    while queue:
        cz, cy, cx = queue.popleft()
        for dz, dy, dx in _OFFSET_TUPLES:
            nb = (cz + dz, cy + dy, cx + dx)
            if nb in seen or nb not in points:
                continue
            seen.add(nb)
            if _within(nb[0] - tip[0], nb[1] - tip[1], nb[2] - tip[2], sp, tangent_mm):
                queue.append(nb)
                walk.append(nb)
    return np.array(walk, dtype=np.int64)


@lru_cache(maxsize=1 << 16)
def _within(dz: int, dy: int, dx: int, spacing: tuple[float, float, float], tangent_mm: float) -> bool:
    """Whether the step ``(dz, dy, dx)`` voxels is at most ``tangent_mm`` long (cached: walks repeat steps)."""
    return bool(np.linalg.norm(np.array((dz, dy, dx), dtype=np.int64) * np.array(spacing)) <= tangent_mm)


def tip_direction(walk: np.ndarray, spacing: np.ndarray) -> np.ndarray | None:
    """Outward unit direction (mm frame) of a tip: from the mean of ``walk[1:]`` to ``walk[0]`` (the tip).

    ``None`` when the walk holds the tip only or the mean falls on it.
    """
    if len(walk) < 2:
        return None
    vec = (walk[0] - walk[1:].mean(axis=0)) * spacing
    norm = np.linalg.norm(vec)
    return None if norm == 0 else vec / norm


def _wall_distance(vessel: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Distance (mm) of every vessel voxel to the nearest non-vessel voxel, ``edt`` with anisotropy."""
    return edt.edt(np.pad(vessel, 1), anisotropy=tuple(spacing), black_border=True)[1:-1, 1:-1, 1:-1]


def _angle(direction: np.ndarray, to_other: np.ndarray) -> float:
    n = np.linalg.norm(to_other)
    if n == 0:
        return 0.0
    return float(np.arccos(np.clip(direction @ (to_other / n), -1.0, 1.0)))


def _find(parent: dict[int, int], a: int) -> int:
    while parent.setdefault(a, a) != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def bridge_gaps(
    labels: np.ndarray,
    image: np.ndarray | None,
    geometry,
    *,
    max_gap_mm: float = 20.0,
    max_angle_deg: float = 70.0,
    tangent_mm: float | None = None,
    contrast_hu: tuple[float, float] = (150.0, 600.0),
    bone_hu: float = 700.0,
    max_mean_cost: float = 1.5,
    min_component_voxels: int = 4,
    loop_ratio: float = 5.0,
    cost: np.ndarray | None = None,
) -> tuple[np.ndarray, list[RepairedGap]]:
    """Reconnect interrupted vessels of a label map along minimal-cost paths (method in the module docstring).

    Args:
        labels: label map ``[z, y, x]`` in our scheme (0 background, 1 bone, 2-4 vessels); not modified.
        image: the CT ``[z, y, x]`` in HU on the same grid, or ``None`` for a uniform cost (straight bridges,
            only the bone label is avoided).
        geometry: :class:`nnunetv2_cta.io.Geometry` (world coordinates in the report) or a spacing
            ``(z, y, x)`` in mm.
        max_gap_mm: largest endpoint-to-endpoint distance bridged, mm.
        max_angle_deg: largest angle between an endpoint's outward direction and the line to its partner.
        tangent_mm: length of skeleton used for an endpoint's direction and radius (default 3x the largest
            voxel size, at least 6 mm).
        contrast_hu, bone_hu: see :func:`hu_cost`.
        max_mean_cost: a path whose mean cost over its new voxels exceeds this is refused (no contrast).
        min_component_voxels: components smaller than this are ignored (noise, not vessel pieces).
        loop_ratio: two points of one component may be bridged when the way between them along the
            skeleton exceeds ``loop_ratio`` times their distance (a cut inside a loop).
        cost: a cost field ``[z, y, x]`` (>= 1 where passable) to use instead of :func:`hu_cost` of the image,
            e.g. from a network's vessel probability (:mod:`nnunetv2_cta.cgpm.runner`); voxels at or above
            ``bone_hu`` in the image and bone-labelled voxels stay impassable.

    Returns:
        ``(repaired, gaps)``: a new label map (same dtype) and one :class:`RepairedGap` per bridge.

    Example:
        A straight tube of radius 3 mm cut over 8 mm, on 1 mm voxels in a 400 HU lumen, is rejoined by one
        bridge of about 8-14 mm (endpoint to endpoint, the skeleton tips retract a little from the cut faces).
    """
    _check_bridge_args(labels, image, max_gap_mm, max_mean_cost, max_angle_deg)
    if cost is not None and cost.shape != labels.shape:
        raise GeometryError(f"cost shape {cost.shape} != labels shape {labels.shape}")
    spacing = _spacing(geometry)
    if tangent_mm is None:
        tangent_mm = max(6.0, 3.0 * float(spacing.max()))
    world = geometry if hasattr(geometry, "index_to_world") else None

    out = labels.copy()
    vessel = np.isin(labels, VESSEL_LABELS)
    if not vessel.any():
        return out, []
    vessel = cc3d.dust(vessel, threshold=min_component_voxels, connectivity=26)
    components = cc3d.connected_components(vessel, connectivity=26)
    skel = skeletonize(vessel)
    dist = _wall_distance(vessel, spacing)
    ends = find_endpoints(vessel, components, labels, spacing, tangent_mm=tangent_mm, skel=skel, dist=dist)
    around_loop = _LoopCheck(skel, spacing, ends, loop_ratio=loop_ratio, max_gap_mm=max_gap_mm)

    max_angle = np.deg2rad(max_angle_deg)
    pos = np.array([e.index for e in ends], dtype=np.float64) * spacing if ends else np.zeros((0, 3))
    joiner = _Joiner(out, (image, vessel, spacing, world, contrast_hu, bone_hu, max_mean_cost, cost))
    for _, i, j in _candidate_pairs(ends, pos, around_loop, max_gap_mm, max_angle):
        if i in joiner.used or j in joiner.used:
            continue
        a, b = ends[i], ends[j]
        if a.component != b.component and joiner.root(a.component) == joiner.root(b.component):
            continue
        joiner.join(a, b, (i, j))

    # second pass: an endpoint facing the side of another component (a branch cut off at its origin)
    sides = _SkeletonSides(skel, components, labels, dist, spacing)
    for i, a in enumerate(ends):
        if i in joiner.used:
            continue
        target = sides.target(a, pos[i], joiner, max_gap_mm, max_angle)
        if target is not None:
            joiner.join(a, target, (i,))
    return out, joiner.gaps


def _check_bridge_args(
    labels: np.ndarray,
    image: np.ndarray | None,
    max_gap_mm: float,
    max_mean_cost: float,
    max_angle_deg: float,
) -> None:
    if labels.ndim != 3:
        raise GeometryError(f"labels must be a 3D [z, y, x] array, got shape {labels.shape}")
    if image is not None and image.shape != labels.shape:
        raise GeometryError(f"image shape {image.shape} != labels shape {labels.shape}")
    for name, value in (("max_gap_mm", max_gap_mm), ("max_mean_cost", max_mean_cost)):
        if not np.isfinite(value) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
    if not 0 < max_angle_deg <= 180:
        raise ConfigurationError(f"max_angle_deg must be in (0, 180], got {max_angle_deg!r}")


class _LoopCheck:
    """Is the way along the skeleton from endpoint ``i`` to some skeleton voxels long (a cut inside a loop)?

    ``around_loop(i, targets (K, 3), euclid (K,) mm)`` is true where the geodesic distance along the skeleton
    exceeds ``loop_ratio`` times ``euclid``; the geodesic distances from each endpoint are computed once, up
    to ``loop_ratio * max_gap_mm``.
    """

    def __init__(
        self,
        skel: np.ndarray,
        spacing: np.ndarray,
        ends: list[Endpoint],
        *,
        loop_ratio: float,
        max_gap_mm: float,
    ) -> None:
        graph = SkeletonGraph(skel, spacing)
        self.adjacency = graph.adjacency()
        self.linear_nodes = np.ravel_multi_index(graph.coords.T, skel.shape)
        self.shape = skel.shape
        self.ends = ends
        self.loop_ratio = loop_ratio
        self.max_gap_mm = max_gap_mm
        self.geodesic_cache: dict[int, np.ndarray] = {}

    def __call__(self, i: int, targets: np.ndarray, euclid: np.ndarray) -> np.ndarray:
        if i not in self.geodesic_cache:
            node = int(
                np.searchsorted(self.linear_nodes, np.ravel_multi_index(self.ends[i].index, self.shape))
            )
            self.geodesic_cache[i] = csgraph.dijkstra(
                self.adjacency, directed=False, indices=node, limit=self.loop_ratio * self.max_gap_mm
            )
        nodes = np.searchsorted(self.linear_nodes, np.ravel_multi_index(np.asarray(targets).T, self.shape))
        return self.geodesic_cache[i][nodes] > self.loop_ratio * euclid


def _candidate_pairs(
    ends: list[Endpoint], pos: np.ndarray, around_loop: _LoopCheck, max_gap_mm: float, max_angle: float
) -> list[tuple[float, int, int]]:
    """Endpoint pairs that may be bridged (step 2 of the module), as ``(cost, i, j)`` sorted cheapest first."""
    candidates = []
    for i in range(len(ends)):
        for j in range(i + 1, len(ends)):
            a, b = ends[i], ends[j]
            d = pos[j] - pos[i]
            dist_ab = float(np.linalg.norm(d))
            if dist_ab > max_gap_mm:
                continue
            if a.component == b.component and not around_loop(i, np.array([b.index]), np.array([dist_ab]))[0]:
                continue
            ang_a, ang_b = _angle(a.direction, d), _angle(b.direction, -d)
            if ang_a > max_angle or ang_b > max_angle:
                continue
            candidates.append((dist_ab * (1 + (ang_a + ang_b) / np.pi), i, j))
    candidates.sort()
    return candidates


class _Joiner:
    """The bridges painted into ``out`` so far: endpoints used, components joined (union-find), gaps made.

    ``bridge_args`` are the arguments of :func:`_bridge` after the two endpoints.
    """

    def __init__(self, out: np.ndarray, bridge_args: tuple) -> None:
        self.out = out
        self.bridge_args = bridge_args
        self.used: set[int] = set()
        self.parent: dict[int, int] = {}
        self.gaps: list[RepairedGap] = []

    def root(self, component: int) -> int:
        return _find(self.parent, component)

    def join(self, a: Endpoint, b: Endpoint, endpoints: tuple[int, ...]) -> None:
        """Bridge ``a`` to ``b`` unless refused; on success mark ``endpoints`` used and join the components."""
        gap = _bridge(self.out, a, b, *self.bridge_args)
        if gap is None:
            return
        self.used.update(endpoints)
        self.parent[self.root(a.component)] = self.root(b.component)
        self.gaps.append(gap)


class _SkeletonSides:
    """Skeleton voxels with their mm positions and components, to find the side an endpoint faces."""

    def __init__(
        self,
        skel: np.ndarray,
        components: np.ndarray,
        labels: np.ndarray,
        dist: np.ndarray,
        spacing: np.ndarray,
    ) -> None:
        self.coords = np.argwhere(skel)
        self.pos = self.coords * spacing
        self.comp = components[tuple(self.coords.T)]
        self.components = components
        self.labels = labels
        self.dist = dist

    def target(
        self, a: Endpoint, a_pos: np.ndarray, joiner: _Joiner, max_gap_mm: float, max_angle: float
    ) -> Endpoint | None:
        """The nearest skeleton voxel of another (not yet joined) component inside ``a``'s cone, or ``None``.

        It is returned as an :class:`Endpoint` facing ``a`` with the local wall distance as radius.
        """
        d = self.pos - a_pos
        dist_all = np.linalg.norm(d, axis=1)
        ok = (dist_all <= max_gap_mm) & (dist_all > 0)
        roots = np.array([joiner.root(int(c)) for c in range(int(self.components.max()) + 1)])
        ok &= roots[self.comp] != roots[a.component]
        if not ok.any():
            return None
        cos = (d[ok] @ a.direction) / dist_all[ok]
        ang = np.arccos(np.clip(cos, -1.0, 1.0))
        score = np.where(ang <= max_angle, dist_all[ok] * (1 + ang / np.pi), np.inf)
        k = int(np.argmin(score))
        if not np.isfinite(score[k]):
            return None
        idx = self.coords[np.flatnonzero(ok)[k]]
        key = tuple(int(v) for v in idx)
        return Endpoint(
            key,  # type: ignore[arg-type]
            -a.direction,
            float(self.dist[key]),
            int(self.components[key]),
            int(self.labels[key]),
        )


def _bridge(
    out: np.ndarray,
    a: Endpoint,
    b: Endpoint,
    image: np.ndarray | None,
    vessel: np.ndarray,
    spacing: np.ndarray,
    world,
    contrast_hu,
    bone_hu: float,
    max_mean_cost: float,
    cost_field: np.ndarray | None = None,
) -> RepairedGap | None:
    """Find, check and paint one bridge into ``out`` (in place); ``None`` when refused."""
    ia, ib = np.array(a.index), np.array(b.index)
    rmax = max(a.radius_mm, b.radius_mm)
    margin = np.ceil((rmax + 2.0 * spacing.max()) / spacing).astype(np.int64) + 2
    lo = np.maximum(np.minimum(ia, ib) - margin, 0)
    hi = np.minimum(np.maximum(ia, ib) + margin + 1, out.shape)
    box = tuple(slice(int(s), int(e)) for s, e in zip(lo, hi))
    lab = out[box]
    if cost_field is not None:
        cost = np.array(cost_field[box], dtype=np.float32)
        if image is not None:
            cost[image[box] >= bone_hu] = IMPASSABLE
    elif image is None:
        cost = np.ones(lab.shape, np.float32)
    else:
        cost = hu_cost(image[box], contrast_hu=contrast_hu, bone_hu=bone_hu)
    cost[lab == BONE] = IMPASSABLE
    path = dijkstra3d.dijkstra(
        cost,
        tuple(int(v) for v in ia - lo),
        tuple(int(v) for v in ib - lo),
        connectivity=26,
        anisotropy=tuple(float(s) for s in spacing),
    ).astype(np.int64)
    path_cost = cost[tuple(path.T)]
    if np.any(path_cost >= IMPASSABLE):
        logger.info("refused bridge %s-%s: path crosses bone", a.index, b.index)
        return None
    new = ~vessel[box][tuple(path.T)]
    if not new.any():
        return None
    if float(path_cost[new].mean()) > max_mean_cost:
        logger.info(
            "refused bridge %s-%s: mean cost %.1f (no contrast)", a.index, b.index, path_cost[new].mean()
        )
        return None

    # arc length along the path (mm) -> radius and label per path voxel
    steps = np.linalg.norm(np.diff(path, axis=0) * spacing, axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    total = arc[-1] if arc[-1] > 0 else 1.0
    t = arc / total
    radius = (1 - t) * a.radius_mm + t * b.radius_mm
    point_label = np.where(t <= 0.5, a.label, b.label)

    paintable = lab == 0
    if image is not None:
        paintable &= image[box] < bone_hu
    added = _paint_bridge(lab.shape, out.dtype, path, radius, point_label, spacing, paintable)
    n_added = int(np.count_nonzero(added))
    lab[added > 0] = added[added > 0]

    new_pts = path[new]
    centre = new_pts.mean(axis=0)
    central = new_pts[int(np.argmin(((new_pts - centre) ** 2).sum(axis=1)))] + lo
    index = tuple(int(v) for v in central)
    new_steps = new[1:] | new[:-1]
    length = float(steps[new_steps].sum())
    mid_label = int(point_label[int(np.argmin(np.abs(t - 0.5)))])
    return RepairedGap(
        index_zyx=index,  # type: ignore[arg-type]
        world_xyz=None if world is None else tuple(float(v) for v in world.index_to_world(index)),  # type: ignore[arg-type]
        length_mm=length,
        label=mid_label,
        num_voxels=n_added,
    )


def _paint_bridge(
    shape: tuple[int, ...],
    dtype,
    path: np.ndarray,
    radius: np.ndarray,
    point_label: np.ndarray,
    spacing: np.ndarray,
    paintable: np.ndarray,
) -> np.ndarray:
    """Labels a bridge adds in its box: a ball of ``radius`` (mm) around each ``path`` voxel, the path itself.

    Where balls overlap, a voxel takes the label of the path point whose ball it lies deepest inside;
    only ``paintable`` voxels keep a label.
    """
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    grid = np.stack([zz, yy, xx], axis=-1) * spacing.astype(np.float32)
    added = np.zeros(shape, dtype=dtype)
    best = np.full(shape, np.inf, np.float32)
    for p, r, lv in zip(path, radius, point_label):
        d = np.linalg.norm(grid - (p * spacing).astype(np.float32), axis=-1) - max(float(r), 0.0)
        take = (d <= 0) & (d < best)
        best[take] = d[take]
        added[take] = lv
    for p, lv in zip(path, point_label):  # the path itself always, so the bridge is connected
        if added[tuple(p)] == 0:
            added[tuple(p)] = lv
    added[~paintable] = 0
    return added
