"""The tools every region builder uses: the segment collection, the per-patient numbers, random trees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnunetv2_cta.labels import CAROTID, INTRACRANIAL
from nnunetv2_cta.phantom import shapes as G
from nnunetv2_cta.phantom.anatomy.parts import Segment

#: the two sides as (name prefix, sign of world x): x runs to the patient's left.
SIDES: tuple[tuple[str, float], ...] = (("R", -1.0), ("L", 1.0))


@dataclass(frozen=True)
class Patient:
    """The numbers drawn once per anatomy that every region builder reads (world mm, LPS).

    Attributes:
        z_arch / z_sb / z_bif / z_cow: heights of the aortic arch top, the skull base, the carotid
            bifurcation and the Circle of Willis.
        vert_z: centre height of each vertebra (``"C1"`` .. ``"T4"``).
        brain_c / brain_a: centre and semi-axes of the brain ellipsoid; ``inner_a`` / ``outer_a`` the
            semi-axes of the inner and outer skull table (same centre).
        tort: tortuosity scale (mm) of this patient's neck arteries.
        rs: radius scale of every named artery.
        dominant: side of the dominant vertebral artery and jugular vein (-1 right, +1 left).
        variants: the anatomical variants present (names from ``VARIANTS``).
    """

    z_arch: float
    z_sb: float
    z_bif: float
    z_cow: float
    vert_z: dict[str, float]
    brain_c: np.ndarray
    brain_a: np.ndarray
    inner_a: np.ndarray
    outer_a: np.ndarray
    tort: float
    rs: float
    dominant: float
    variants: tuple[str, ...]

    def inside_brain(self, q: np.ndarray, margin: float) -> bool:
        """Whether world point ``q`` lies inside the inner skull table shrunk by ``margin`` mm."""
        u = (q - self.brain_c) / (self.inner_a - margin)
        return float(u @ u) < 1.0

    def outward(self, q: np.ndarray) -> np.ndarray:
        """Unit normal of the brain ellipsoid's level surface through ``q`` (pointing outward)."""
        return unit((q - self.brain_c) / self.inner_a**2)


class SegmentBuilder:
    """The segments of one anatomy by name, in the order they were added, and the RNG that shapes them.

    The order of :meth:`add` calls is part of the output: every call draws from the shared RNG, so the
    same seed gives the same anatomy only while builders add the same segments in the same order.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.segments: dict[str, Segment] = {}

    def add(
        self,
        name: str,
        ctrl,
        radii,
        *,
        parent: str | None = None,
        kind: str = "artery",
        label: int = CAROTID,
        tort: float = 0.0,
        jitter: float = 0.0,
        step: float | None = None,
        system: str = "",
        generation: int | None = None,
        distal: bool = False,
    ) -> Segment:
        """Add the smooth path through ``ctrl`` (world mm) with radii ``radii`` (mm, one per control point).

        ``tort``/``jitter``/``step`` go to :func:`shapes.smooth_path`; a vein (``kind="vein"``) gets label 0;
        a child starts at generation ``parent + 1`` and remembers the parent point nearest its start.
        """
        ctrl = [np.asarray(c, dtype=float) for c in ctrl]
        pts, rad = G.smooth_path(ctrl, radii, self.rng, tortuosity=tort, step=step, jitter=jitter)
        gen = 0
        pidx = 0
        if parent is not None:
            par = self.segments[parent]
            gen = par.generation + 1 if generation is None else generation
            pidx = int(np.argmin(np.linalg.norm(par.points - pts[0], axis=1)))
        seg = Segment(
            name=name,
            kind=kind,
            label=label if kind == "artery" else 0,
            parent=parent,
            generation=gen,
            points=pts,
            radii=rad,
            system=system,
            parent_index=pidx,
            distal=distal,
        )
        self.segments[name] = seg
        return seg

    def point_near(self, name: str, target, *, zmin: float = -1e9) -> np.ndarray:
        """The point of segment ``name`` nearest ``target`` among those at height ``>= zmin`` (a copy)."""
        seg = self.segments[name]
        ok = seg.points[:, 2] >= zmin
        d = np.linalg.norm(seg.points - np.asarray(target, dtype=float), axis=1)
        d[~ok] = np.inf
        return seg.points[int(np.argmin(d))].copy()


def unit(v) -> np.ndarray:
    """``v`` scaled to length 1 (a zero vector stays near zero)."""
    v = np.asarray(v, dtype=float)
    return v / (np.linalg.norm(v) + 1e-12)


def rotate_away(d: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Unit vector at ``angle`` (rad) from ``d`` in a random plane."""
    ref = unit(rng.normal(size=3))
    perp = unit(np.cross(d, ref))
    return unit(np.cos(angle) * d + np.sin(angle) * perp)


def grow_tree(
    b: SegmentBuilder,
    root_parent: str,
    prefix: str,
    start: np.ndarray,
    direction,
    radius: float,
    *,
    allowed: Callable[[np.ndarray, float], bool],
    outward: Callable[[np.ndarray], np.ndarray],
    min_radius: float,
    max_segments: int,
    others: np.ndarray | None,
    system: str,
    kind: str = "artery",
) -> None:
    """Grow a random binary arterial (or venous, ``kind="vein"``) tree (Murray's law r^3 = r1^3 + r2^3, Murray 1926) from ``start``.

    Branches creep along the brain surface (a branch that would leave ``allowed`` is turned tangential
    to the surface) and stop where they would come within ``radius + 6 mm`` of another vascular system
    (``others``, points of the trees that must stay separate in the label map).
    """
    from scipy.spatial import cKDTree

    rng = b.rng
    tree = cKDTree(others) if others is not None and len(others) else None
    queue = [(root_parent, np.asarray(start, float), unit(direction), radius)]
    count = 0
    while queue and count < max_segments:
        parent, p0, d, r = queue.pop(0)
        length = float(np.clip(r * rng.uniform(12.0, 24.0), 4.0, 28.0))
        step = float(np.clip(0.6 * r, 0.35, 1.0))
        pts = [p0]
        for _ in range(int(length / step)):
            d = unit(d + rng.normal(0.0, 0.12, 3))
            q = pts[-1] + step * d
            if not allowed(q, r):
                n = outward(pts[-1])
                d = unit(d - (d @ n) * n - 0.3 * n)
                q = pts[-1] + step * d
                for _ in range(4):
                    if allowed(q, r):
                        break
                    d = unit(d + rng.normal(0.0, 0.8, 3))
                    q = pts[-1] + step * d
                else:
                    break
            if tree is not None and tree.query(q)[0] < r + 6.0:
                break
            pts.append(q)
        if len(pts) < 5:
            continue
        pts_a = np.asarray(pts)
        rad = np.linspace(r, 0.93 * r, len(pts_a))
        name = f"{prefix}_{count:03d}"
        par = b.segments[parent]
        pidx = int(np.argmin(np.linalg.norm(par.points - p0, axis=1)))
        b.segments[name] = Segment(
            name=name,
            kind=kind,
            label=INTRACRANIAL if kind == "artery" else 0,
            parent=parent,
            generation=par.generation + 1,
            points=pts_a,
            radii=rad,
            system=system,
            parent_index=pidx,
            distal=kind == "artery",
        )
        count += 1
        alpha = rng.uniform(0.35, 0.95)
        r1 = 0.97 * r * (1.0 + alpha**3) ** (-1.0 / 3.0)
        r2 = alpha * r1
        end_dir = unit(pts_a[-1] - pts_a[-2])
        for rc, ang in ((r1, rng.uniform(0.1, 0.4)), (r2, rng.uniform(0.6, 1.2))):
            if rc >= min_radius:
                queue.append((name, pts_a[-1], rotate_away(end_dir, ang, rng), rc))
