"""Seeded head-and-neck anatomy: arterial and venous centreline graph, bones, soft tissue, pathologies.

World frame: millimetres, ITK ``(x, y, z)``, LPS (x to the patient's left, y posterior, z superior). World
z = 0 is just below the top of the aortic arch; the skull base (inferior surface of the clivus/petrous
plate, the level of the foramen magnum) lies near z = 185 and the vertex near z = 320.

Region borders used for the labels (documented in the case's graph JSON as ``borders``):

* aorta (2) | carotid (3): the horizontal plane ``z = borders["aorta_top_mm"]``, 1.5 mm above the highest
  point of the arch lumen; every supra-aortic trunk is split where its centreline crosses it.
* carotid (3) | intracranial (4): the horizontal plane ``z = borders["skull_base_mm"]`` at the skull base:
  the internal carotid is split where it enters the carotid canal, the vertebral artery inside the foramen
  magnum. External carotid branches stay ``carotid`` wherever they run (they never enter the skull).

Each artery that crosses a border is split into two segments there; the two halves meet with flat ends on
a plane perpendicular to the centreline, so the label border is exact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import AORTA, CAROTID, INTRACRANIAL
from nnunetv2_cta.phantom import _geom as G
from nnunetv2_cta.phantom.presets import get_preset

logger = logging.getLogger(__name__)

#: pathology names accepted by :func:`generate_anatomy`.
PATHOLOGIES: tuple[str, ...] = (
    "stenosis",
    "occlusion",
    "aneurysm",
    "calcified_plaque",
    "low_flow",
    "stent",
    "dental_fillings",
    "coil",
)
#: anatomical variant names accepted by :func:`generate_anatomy`.
VARIANTS: tuple[str, ...] = (
    "va_from_aorta",
    "no_acom",
    "no_l_pcom",
    "no_r_pcom",
    "no_l_a1",
    "no_r_a1",
    "fetal_l_pca",
    "fetal_r_pca",
)
#: probability of each variant when ``variants=None`` (drawn from the seed).
VARIANT_PROBABILITY: dict[str, float] = {
    "va_from_aorta": 0.06,
    "no_acom": 0.08,
    "no_l_pcom": 0.2,
    "no_r_pcom": 0.2,
    "no_l_a1": 0.04,
    "no_r_a1": 0.04,
    "fetal_l_pca": 0.1,
    "fetal_r_pca": 0.1,
}


@dataclass
class Segment:
    """One named centreline piece of the vessel graph.

    Attributes:
        points: ``(n, 3)`` world mm (x, y, z).
        radii: ``(n,)`` patent lumen radius in mm (0 where occluded).
        outer: ``(n,)`` outer radius in mm of lumen plus plaque/thrombus (equal to ``radii`` when healthy).
        contrast: ``(n,)`` relative opacification 0..1 (distal fading, low flow, delayed collateral filling).
        patho: ``(n,)`` bool, points that belong to ``pathology``.
        distal: part of a random distal tree (may be dropped when thinner than the grid can show).
        flat_start / flat_end: the end lies on a region border (flat cap, see module docstring).
    """

    name: str
    kind: str
    label: int
    parent: str | None
    generation: int
    points: np.ndarray
    radii: np.ndarray
    outer: np.ndarray | None = None
    contrast: np.ndarray | None = None
    patho: np.ndarray | None = None
    pathology: str | None = None
    connects_to: list[str] = field(default_factory=list)
    distal: bool = False
    flat_start: bool = False
    flat_end: bool = False
    system: str = ""
    parent_index: int = 0
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.points)
        if self.outer is None:
            self.outer = self.radii.copy()
        if self.contrast is None:
            self.contrast = np.ones(n)
        if self.patho is None:
            self.patho = np.zeros(n, dtype=bool)

    def sliced(self, sl: slice, **changes) -> Segment:
        seg = Segment(
            name=self.name,
            kind=self.kind,
            label=self.label,
            parent=self.parent,
            generation=self.generation,
            points=self.points[sl].copy(),
            radii=self.radii[sl].copy(),
            outer=self.outer[sl].copy(),
            contrast=self.contrast[sl].copy(),
            patho=self.patho[sl].copy(),
            pathology=self.pathology,
            connects_to=list(self.connects_to),
            distal=self.distal,
            flat_start=self.flat_start,
            flat_end=self.flat_end,
            system=self.system,
            parent_index=self.parent_index,
            info=dict(self.info),
        )
        for k, v in changes.items():
            setattr(seg, k, v)
        if not seg.patho.any():
            seg.pathology = None
        return seg


@dataclass
class BoneObject:
    """A bone given by a signed distance function (mm, negative inside) inside a world box.

    ``sdf(X, Y, Z)`` takes broadcastable float32 coordinate vectors (see :class:`_geom.Grid`).
    ``kind``: ``"bone"`` (cortical shell over cancellous core), ``"dense"`` (petrous/skull base: mostly
    cortical) or ``"tooth"``. ``carve``: vessel tubes ``(points, radii)`` removed from the bone, so canals
    and foramina fit their vessel with the given gap.
    """

    name: str
    lo: np.ndarray
    hi: np.ndarray
    sdf: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    kind: str = "bone"
    cortical_mm: float = 1.5
    carve: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


@dataclass
class Finding:
    """A non-label object: calcification, metal (stent, dental filling, coil) or an air cavity.

    ``points``/``radii`` describe a tube (a sphere is a two-point tube of equal radii at one point).
    """

    kind: str
    points: np.ndarray
    radii: np.ndarray
    info: dict = field(default_factory=dict)


@dataclass
class Anatomy:
    """Everything the renderers need, in world mm. Produced by :func:`generate_anatomy`."""

    seed: int
    preset: str
    variants: tuple[str, ...]
    pathologies: tuple[str, ...]
    segments: list[Segment]
    bones: list[BoneObject]
    findings: list[Finding]
    levels: dict[str, float]
    head: dict[str, np.ndarray]
    body: dict[str, np.ndarray]

    def segment(self, name: str) -> Segment:
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def arteries(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "artery"]

    @property
    def veins(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "vein"]


# ----------------------------------------------------------------------------------------------------------
# construction helpers


class _Builder:
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
        seg = self.segments[name]
        ok = seg.points[:, 2] >= zmin
        d = np.linalg.norm(seg.points - np.asarray(target, dtype=float), axis=1)
        d[~ok] = np.inf
        return seg.points[int(np.argmin(d))].copy()


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / (np.linalg.norm(v) + 1e-12)


def _rotate_away(d: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Unit vector at ``angle`` (rad) from ``d`` in a random plane."""
    ref = _unit(rng.normal(size=3))
    perp = _unit(np.cross(d, ref))
    return _unit(np.cos(angle) * d + np.sin(angle) * perp)


def _grow_tree(
    b: _Builder,
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
    queue = [(root_parent, np.asarray(start, float), _unit(direction), radius)]
    count = 0
    while queue and count < max_segments:
        parent, p0, d, r = queue.pop(0)
        length = float(np.clip(r * rng.uniform(12.0, 24.0), 4.0, 28.0))
        step = float(np.clip(0.6 * r, 0.35, 1.0))
        pts = [p0]
        for _ in range(int(length / step)):
            d = _unit(d + rng.normal(0.0, 0.12, 3))
            q = pts[-1] + step * d
            if not allowed(q, r):
                n = outward(pts[-1])
                d = _unit(d - (d @ n) * n - 0.3 * n)
                q = pts[-1] + step * d
                for _ in range(4):
                    if allowed(q, r):
                        break
                    d = _unit(d + rng.normal(0.0, 0.8, 3))
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
        end_dir = _unit(pts_a[-1] - pts_a[-2])
        for rc, ang in ((r1, rng.uniform(0.1, 0.4)), (r2, rng.uniform(0.6, 1.2))):
            if rc >= min_radius:
                queue.append((name, pts_a[-1], _rotate_away(end_dir, ang, rng), rc))


# ----------------------------------------------------------------------------------------------------------
# the generator


def _choose_variants(rng: np.random.Generator, variants: Sequence[str] | None) -> tuple[str, ...]:
    if variants is None:
        chosen = [v for v in VARIANTS if rng.uniform() < VARIANT_PROBABILITY[v]]
    else:
        if isinstance(variants, str):
            raise ConfigurationError(f"variants must be a sequence of names, got the string {variants!r}")
        bad = [v for v in variants if v not in VARIANTS]
        if bad:
            raise ConfigurationError(f"unknown anatomical variant(s) {bad!r}; valid: {list(VARIANTS)}")
        chosen = list(dict.fromkeys(variants))
    # combinations that would cut a territory off entirely are resolved in favour of the first named
    for side in ("l", "r"):
        if f"fetal_{side}_pca" in chosen and f"no_{side}_pcom" in chosen:
            chosen.remove(f"no_{side}_pcom")
    if "no_acom" in chosen and ("no_l_a1" in chosen or "no_r_a1" in chosen):
        chosen.remove("no_acom")
    if "no_l_a1" in chosen and "no_r_a1" in chosen:
        chosen.remove("no_r_a1")
    return tuple(v for v in VARIANTS if v in chosen)


def _check_pathologies(pathologies: Sequence[str]) -> tuple[str, ...]:
    if isinstance(pathologies, str):
        pathologies = [p for p in pathologies.split(",") if p]
    bad = [p for p in pathologies if p not in PATHOLOGIES]
    if bad:
        raise ConfigurationError(f"unknown pathology name(s) {bad!r}; valid: {list(PATHOLOGIES)}")
    return tuple(p for p in PATHOLOGIES if p in pathologies)


def generate_anatomy(
    seed: int,
    *,
    preset: str = "train",
    pathologies: Sequence[str] = (),
    variants: Sequence[str] | None = None,
) -> Anatomy:
    """Generate one head-and-neck anatomy from a seed.

    Args:
        seed: any non-negative int; the same seed, preset and arguments give the same anatomy.
        preset: ``"tiny"``, ``"train"`` or ``"clinical"`` (sets how finely distal trees branch, see
            :mod:`~nnunetv2_cta.phantom.presets`).
        pathologies: names from :data:`PATHOLOGIES` to place (one of each, site drawn from the seed).
        variants: names from :data:`VARIANTS`; ``None`` draws them from the seed with
            :data:`VARIANT_PROBABILITY`, ``()`` gives the textbook anatomy.

    Returns:
        an :class:`Anatomy` in world mm.

    Example:
        >>> anatomy = generate_anatomy(3, preset="tiny", variants=())
        >>> anatomy.segment("L_ICA_intracranial").label
        4
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative int, got {seed!r}")
    pre = get_preset(preset)
    pathos = _check_pathologies(pathologies)
    rng = np.random.default_rng([int(seed), 1])
    chosen = _choose_variants(rng, variants)
    b = _Builder(rng)

    # ---- levels and head -------------------------------------------------------------------------------
    z_arch = 40.0 + rng.uniform(-3, 3)
    z_sb = 185.0 + rng.uniform(-4, 4)
    z_bif = z_sb - 57.0 + rng.uniform(-8, 8)
    z_cow = z_sb + 28.0 + rng.uniform(-2, 2)
    vert_z = {
        name: z_sb - 9.0 - 16.0 * k
        for k, name in enumerate(("C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4"))
    }
    g = rng.uniform(0.95, 1.05)
    brain_c = np.array([0.0, 12.0, z_sb + 47.0])
    brain_a = np.array([66.0, 84.0, 76.0]) * g
    skull_t = rng.uniform(5.5, 8.0)
    inner_a = brain_a + 1.0
    outer_a = inner_a + skull_t
    head = {"brain_center": brain_c, "brain_semi": brain_a, "skull_inner": inner_a, "skull_outer": outer_a}
    tort = rng.uniform(0.3, 1.0)  # tortuosity scale of this patient
    rs = rng.uniform(0.9, 1.1)  # radius scale
    dominant = rng.choice([-1.0, 1.0])

    # ---- aorta and supra-aortic trunks -----------------------------------------------------------------
    ra = 13.5 * rs
    b.add(
        "aorta",
        [(-14, -26, -8), (-14, -25, 22), (-5, -11, z_arch), (8, 9, z_arch - 3), (20, 26, 24), (22, 30, -8)],
        [ra, ra, ra * 0.92, ra * 0.88, ra * 0.85, ra * 0.85],
        label=AORTA,
        step=2.0,
        jitter=1.0,
    )
    arch = b.segments["aorta"]
    z_ao = float(np.max(arch.points[:, 2] + arch.radii)) + 1.5
    top = arch.points[:, 2] > z_arch - 8

    def arch_origin(x: float) -> np.ndarray:
        d = np.abs(arch.points[:, 0] - x)
        d[~top] = np.inf
        return arch.points[int(np.argmin(d))].copy()

    b.add(
        "BCT",
        [arch_origin(-10), (-15, -16, z_ao + 6), (-18, -13, z_ao + 20)],
        [6.5 * rs, 6.3 * rs, 6.0 * rs],
        parent="aorta",
    )
    bct_end = b.segments["BCT"].points[-1]
    b.add(
        "R_SUB",
        [bct_end, (-30, -8, z_ao + 25), (-52, -2, z_ao + 26), (-78, 2, z_ao + 20), (-118, 8, z_ao + 10)],
        [4.6 * rs, 4.4 * rs, 4.2 * rs, 4.0 * rs, 4.0 * rs],
        parent="BCT",
        tort=tort,
    )
    b.add(
        "R_CCA",
        [bct_end, (-22, -9, z_ao + 40), (-27, -5, z_bif - 20), (-28, -4, z_bif)],
        [3.8 * rs, 3.6 * rs, 3.5 * rs, 3.5 * rs],
        parent="BCT",
        tort=tort,
        jitter=1.0,
    )
    b.add(
        "L_CCA",
        [arch_origin(2), (5, -12, z_ao + 10), (19, -9, z_ao + 45), (27, -5, z_bif - 20), (28, -4, z_bif)],
        [3.8 * rs, 3.7 * rs, 3.6 * rs, 3.5 * rs, 3.5 * rs],
        parent="aorta",
        tort=tort,
        jitter=1.0,
    )
    b.add(
        "L_SUB",
        [
            arch_origin(11),
            (16, 8, z_ao + 8),
            (27, 6, z_ao + 20),
            (48, 2, z_ao + 26),
            (78, 4, z_ao + 20),
            (118, 8, z_ao + 10),
        ],
        [4.8 * rs, 4.6 * rs, 4.4 * rs, 4.2 * rs, 4.0 * rs, 4.0 * rs],
        parent="aorta",
        tort=tort,
    )

    # ---- vertebral arteries and basilar -----------------------------------------------------------------
    conf = np.array([0.0, 8.0, z_sb + 16.0])
    for side, sg in (("R", -1.0), ("L", 1.0)):
        rva = (2.0 if sg == dominant else 1.6) * rs
        if side == "L" and "va_from_aorta" in chosen:
            start, parent = arch_origin(6), "aorta"
            first = [(8, 4, z_ao + 12)]
        else:
            start, parent = b.point_near(f"{side}_SUB", (sg * 34, 2, z_ao + 25)), f"{side}_SUB"
            first = [(sg * 33, 5, z_ao + 38)]
        c6, c1 = vert_z["C6"], vert_z["C1"]
        ctrl = [
            start,
            *first,
            (sg * 27, 10, c6 - 8),
            (sg * 24, 12, c6),
            (sg * 23.5, 12, vert_z["C4"]),
            (sg * 24, 12, vert_z["C2"]),
            (sg * 27, 12, c1 - 4),
            (sg * 28, 14, c1 + 1),
            (sg * 28, 25, c1),
            (sg * 18, 30, c1 + 1.5),
            (sg * 10, 25, z_sb - 4),
            (sg * 6, 17, z_sb + 4),
            (sg * 2.5, 11, z_sb + 11),
            conf,
        ]
        rad = [rva] * (len(ctrl) - 1) + [rva * 0.9]
        b.add(f"{side}_VA", ctrl, rad, parent=parent, tort=0.3 * tort, step=0.8)
    tip = np.array([0.0, 2.0, z_cow - 3.0])
    b.add(
        "BA",
        [conf, (0, 5, z_sb + 22), tip],
        [1.8 * rs, 1.7 * rs, 1.6 * rs],
        parent="R_VA",
        label=INTRACRANIAL,
        system="vb",
    )
    b.segments["BA"].connects_to = []
    b.segments["L_VA"].connects_to = ["BA"]

    # ---- carotid bifurcation, ICA with siphon, ECA and branches -----------------------------------------
    for side, sg in (("R", -1.0), ("L", 1.0)):
        bif = b.segments[f"{side}_CCA"].points[-1]
        ctrl = [
            bif,
            (sg * 29, -6, z_bif + 6),
            (sg * 30, -4, z_bif + 20),
            (sg * 30, -2, z_sb - 25),
            (sg * 28, 2, z_sb - 9),
            (sg * 26, 6, z_sb - 2),
            (sg * 25, 6, z_sb + 3),
            (sg * 20, -3, z_sb + 4.5),
            (sg * 17, -8, z_sb + 7),
            (sg * 16, -10, z_sb + 12),
            (sg * 16, -17, z_sb + 17),
            (sg * 15, -18, z_sb + 22),
            (sg * 14, -11, z_sb + 25),
            (sg * 14, -5, z_cow),
        ]
        rad = np.array([3.5, 4.2, 3.0, 2.8, 2.7, 2.6, 2.5, 2.4, 2.3, 2.3, 2.2, 2.1, 2.1, 2.0]) * rs
        b.add(f"{side}_ICA", ctrl, rad, parent=f"{side}_CCA", tort=0.0, step=0.6, system=f"{side}c")
        eca = b.add(
            f"{side}_ECA",
            [
                bif,
                (sg * 25, -13, z_bif + 8),
                (sg * 29, -15, z_bif + 22),
                (sg * 36, -11, z_sb - 20),
                (sg * 44, -6, z_sb - 8),
            ],
            np.array([2.6, 2.4, 2.2, 2.0, 1.8]) * rs,
            parent=f"{side}_CCA",
            tort=0.6 * tort,
        )
        p = eca.points
        sta = [p[-1], (sg * 58, 0, z_sb + 2)]
        for dz, dy in ((15, 0), (35, -4), (58, -8)):
            d = np.array([sg * 1.0, (dy - 12) / 70.0, (z_sb + dz - brain_c[2]) / 70.0])
            sta.append(G.ellipsoid_point(brain_c, outer_a, d, 3.5))
        b.add(f"{side}_STA", sta, np.array([1.7, 1.5, 1.3, 1.1, 0.9]) * rs, parent=f"{side}_ECA", tort=tort)
        b.add(
            f"{side}_STHA",
            [
                b.point_near(f"{side}_ECA", (sg * 25, -13, z_bif + 4)),
                (sg * 20, -22, z_bif - 5),
                (sg * 15, -24, z_bif - 25),
            ],
            [1.1 * rs, 0.95 * rs, 0.8 * rs],
            parent=f"{side}_ECA",
            tort=tort,
        )
        b.add(
            f"{side}_LING",
            [
                b.point_near(f"{side}_ECA", (sg * 27, -14, z_bif + 14)),
                (sg * 18, -27, z_bif + 16),
                (sg * 10, -45, z_bif + 22),
            ],
            [1.2 * rs, 1.0 * rs, 0.9 * rs],
            parent=f"{side}_ECA",
            tort=tort,
        )
        b.add(
            f"{side}_FAC",
            [
                b.point_near(f"{side}_ECA", (sg * 29, -15, z_bif + 22)),
                (sg * 36, -30, z_sb - 65),
                (sg * 45, -46, z_sb - 60),
                (sg * 38, -64, z_sb - 40),
                (sg * 28, -72, z_sb - 18),
            ],
            np.array([1.3, 1.2, 1.1, 0.95, 0.8]) * rs,
            parent=f"{side}_ECA",
            tort=tort,
        )
        occ = [
            b.point_near(f"{side}_ECA", (sg * 33, -12, z_sb - 30)),
            (sg * 40, 4, z_sb - 24),
            (sg * 44, 30, z_sb - 12),
        ]
        for dz in (5, 30):
            d = np.array([sg * 0.45, 1.0, (z_sb + dz - brain_c[2]) / 80.0])
            occ.append(G.ellipsoid_point(brain_c, outer_a, d, 3.5))
        b.add(f"{side}_OCC", occ, np.array([1.3, 1.2, 1.1, 1.0, 0.8]) * rs, parent=f"{side}_ECA", tort=tort)
        b.add(
            f"{side}_MAX",
            [
                b.point_near(f"{side}_ECA", (sg * 42, -7, z_sb - 10)),
                (sg * 34, -20, z_sb - 12),
                (sg * 24, -36, z_sb - 14),
            ],
            [1.3 * rs, 1.1 * rs, 0.9 * rs],
            parent=f"{side}_ECA",
            tort=tort,
        )

    # ---- Circle of Willis -------------------------------------------------------------------------------
    a1_x = 3.5 if "no_acom" in chosen else 2.2
    for side, sg in (("R", -1.0), ("L", 1.0)):
        s = side.lower()
        ica = b.segments[f"{side}_ICA"]
        term = ica.points[-1]
        b.add(
            f"{side}_M1",
            [term, (sg * 25, -6, z_cow + 1), (sg * 38, -5, z_cow + 3), (sg * 46, -2, z_cow + 6)],
            [1.6 * rs, 1.5 * rs, 1.4 * rs, 1.3 * rs],
            parent=f"{side}_ICA",
            label=INTRACRANIAL,
            system=f"{side}c",
            tort=0.4 * tort,
        )
        if f"no_{s}_a1" not in chosen:
            b.add(
                f"{side}_A1",
                [term, (sg * 8, -12, z_cow + 2), (sg * a1_x, -18, z_cow + 4)],
                [1.15 * rs, 1.05 * rs, 1.0 * rs],
                parent=f"{side}_ICA",
                label=INTRACRANIAL,
                system=f"{side}c",
            )
    if "no_acom" not in chosen:
        if "no_r_a1" in chosen:
            acom_par, acom_other = "L_A1", None
        elif "no_l_a1" in chosen:
            acom_par, acom_other = "R_A1", None
        else:
            acom_par, acom_other = "R_A1", "L_A1"
        b.add(
            "ACom",
            [(-a1_x, -18, z_cow + 4), (0, -18.5, z_cow + 4), (a1_x, -18, z_cow + 4)],
            [0.8 * rs, 0.75 * rs, 0.8 * rs],
            parent=acom_par,
            label=INTRACRANIAL,
            system="c",
        )
        if acom_par == "L_A1":
            acom = b.segments["ACom"]
            acom.points, acom.radii = acom.points[::-1].copy(), acom.radii[::-1].copy()
            acom.outer, acom.contrast, acom.patho = (
                acom.outer[::-1].copy(),
                acom.contrast.copy(),
                acom.patho.copy(),
            )
        if acom_other:
            b.segments["ACom"].connects_to = [acom_other]
    for side, sg in (("R", -1.0), ("L", 1.0)):
        s = side.lower()
        if f"no_{s}_a1" in chosen:
            parent, start = "ACom", (sg * a1_x, -18, z_cow + 4)
        else:
            parent, start = f"{side}_A1", b.segments[f"{side}_A1"].points[-1]
        b.add(
            f"{side}_A2",
            [
                start,
                (sg * 3.5, -26, z_cow + 15),
                (sg * 4.5, -30, z_cow + 30),
                (sg * 4.5, -22, z_cow + 48),
                (sg * 4.5, 0, z_cow + 58),
                (sg * 4.5, 25, z_cow + 56),
                (sg * 4.5, 45, z_cow + 45),
            ],
            np.array([1.0, 1.0, 0.95, 0.9, 0.85, 0.8, 0.7]) * rs,
            parent=parent,
            label=INTRACRANIAL,
            system=f"{side}c",
            tort=0.3 * tort,
        )
        junction = np.array([sg * 11.0, 10.0, z_cow - 2.0])
        fetal = f"fetal_{s}_pca" in chosen
        if f"no_{s}_pcom" not in chosen:
            ica = b.segments[f"{side}_ICA"]
            pstart = b.point_near(f"{side}_ICA", (sg * 14, -8, z_cow - 2), zmin=z_sb + 20)
            rp = (1.3 if fetal else 0.7) * rs
            b.add(
                f"{side}_PCom",
                [pstart, (sg * 13.5, 0, z_cow - 2.5), junction],
                [rp, rp, rp],
                parent=f"{side}_ICA",
                label=INTRACRANIAL,
                system=f"{side}c",
            )
        if not fetal:
            b.add(
                f"{side}_P1",
                [tip, (sg * 6, 5, z_cow - 3), junction],
                [1.2 * rs, 1.15 * rs, 1.1 * rs],
                parent="BA",
                label=INTRACRANIAL,
                system="vb",
            )
            if f"no_{s}_pcom" not in chosen:
                b.segments[f"{side}_PCom"].connects_to = [f"{side}_P1"]
        p2_parent = f"{side}_PCom" if fetal else f"{side}_P1"
        b.add(
            f"{side}_P2",
            [
                junction,
                (sg * 20, 22, z_cow),
                (sg * 24, 40, z_cow + 4),
                (sg * 18, 60, z_cow + 8),
                (sg * 12, 75, z_cow + 12),
            ],
            np.array([1.1, 1.05, 1.0, 0.9, 0.8]) * rs,
            parent=p2_parent,
            label=INTRACRANIAL,
            system=f"{side}c" if fetal else "vb",
            tort=1.2 * tort,
        )
        b.add(
            f"{side}_SCA",
            [
                b.point_near("BA", (0, 2.5, z_cow - 6)),
                (sg * 8, 8, z_cow - 7),
                (sg * 18, 22, z_cow - 7),
                (sg * 22, 40, z_cow - 10),
            ],
            [0.8 * rs, 0.75 * rs, 0.7 * rs, 0.65 * rs],
            parent="BA",
            label=INTRACRANIAL,
            system="vb",
            tort=0.4 * tort,
        )

    # ---- veins (label 0) --------------------------------------------------------------------------------
    for side, sg in (("R", -1.0), ("L", 1.0)):
        riv = rng.uniform(5.0, 7.0) * (1.1 if sg == dominant else 0.9)
        b.add(
            f"{side}_IJV",
            [
                (sg * 40, 8, -8),
                (sg * 38, 6, 60),
                (sg * 37, 5, 110),
                (sg * 36, 4, z_sb - 20),
                (sg * 36, 8, z_sb - 6),
                (sg * 35, 18, z_sb + 2),
            ],
            [riv, riv, riv, 0.85 * riv, 0.75 * riv, 4.5],
            kind="vein",
            tort=0.5,
        )
        sig = [b.segments[f"{side}_IJV"].points[-1], (sg * 41, 30, z_sb + 8)]
        for d in ((sg * 0.75, 0.55, -0.35), (sg * 0.5, 0.85, -0.25), (sg * 0.22, 1.0, -0.2)):
            sig.append(G.ellipsoid_point(brain_c, inner_a, d, -1.5 - 4.0))
        sig.append(G.ellipsoid_point(brain_c, inner_a, (0.0, 1.0, -0.15), -1.5 - 4.5))
        b.add(f"{side}_TS", sig, [4.5, 4.3, 4.0, 4.0, 4.2, 4.5], kind="vein")
    torcula = b.segments["R_TS"].points[-1]
    sss = [torcula]
    for ang in np.linspace(-0.1, np.pi * 0.93, 9)[1:]:
        d = (0.0, np.cos(ang), np.sin(ang) + 0.05)
        r_here = 4.0 - 1.5 * ang / np.pi
        sss.append(G.ellipsoid_point(brain_c, inner_a, d, -(r_here + 1.0)))
    b.add("SSS", sss, np.linspace(4.5, 2.5, len(sss)), kind="vein")
    b.add("StS", [torcula, (0, 50, z_sb + 58), (0, 30, z_sb + 52)], [3.0, 2.6, 2.4], kind="vein")
    for side, sg in (("R", -1.0), ("L", 1.0)):
        ica = b.segments[f"{side}_ICA"]
        sel = (ica.points[:, 2] > z_sb + 9) & (ica.points[:, 2] < z_sb + 23) & (ica.points[:, 1] < -5)
        idx = np.flatnonzero(sel)
        if len(idx) > 3:
            ctrl = ica.points[idx[:: max(len(idx) // 4, 1)]]
            b.add(f"{side}_CS", ctrl + np.array([sg * 1.0, 0, 0]), [4.2] * len(ctrl), kind="vein")

    # ---- distal trees -----------------------------------------------------------------------------------
    floor_sup = z_sb + 10.0

    def inside_brain(q: np.ndarray, margin: float) -> bool:
        u = (q - brain_c) / (inner_a - margin)
        return float(u @ u) < 1.0

    def outward(q: np.ndarray) -> np.ndarray:
        return _unit((q - brain_c) / inner_a**2)

    def make_allowed(sg: float, cerebellar: bool):
        def allowed(q: np.ndarray, r: float) -> bool:
            if not inside_brain(q, 3.0 + r) or sg * q[0] < 2.5 + r:
                return False
            if cerebellar:
                return z_sb + 4 < q[2] < z_cow - 8 and q[1] > 12
            if q[2] < floor_sup or (q[1] > 18 and q[2] < z_cow + 2):
                return False
            return True

        return allowed

    roots = []
    for side, sg in (("R", -1.0), ("L", 1.0)):
        m1 = b.segments[f"{side}_M1"]
        roots += [
            (f"{side}_M1", f"{side}_MCAsup", m1.points[-1], (sg * 0.4, -0.3, 1.0), 1.05, f"{side}c", False),
            (f"{side}_M1", f"{side}_MCAinf", m1.points[-1], (sg * 0.6, 0.5, 0.2), 0.95, f"{side}c", False),
        ]
        a2 = b.segments[f"{side}_A2"]
        roots += [
            (f"{side}_A2", f"{side}_ACAd", a2.points[-1], (sg * 0.4, 0.6, -0.4), 0.7, f"{side}c", False),
            (
                f"{side}_A2",
                f"{side}_FPA",
                b.point_near(f"{side}_A2", (0, -28, z_cow + 25)),
                (sg * 0.3, -1.0, 0.3),
                0.55,
                f"{side}c",
                False,
            ),
            (
                f"{side}_A2",
                f"{side}_CMA",
                b.point_near(f"{side}_A2", (0, -24, z_cow + 45)),
                (sg * 0.4, -0.3, 1.0),
                0.65,
                f"{side}c",
                False,
            ),
        ]
        p2 = b.segments[f"{side}_P2"]
        roots.append(
            (f"{side}_P2", f"{side}_PCAd", p2.points[-1], (sg * 0.2, 1.0, 0.2), 0.75, p2.system, False)
        )
        sca = b.segments[f"{side}_SCA"]
        roots.append((f"{side}_SCA", f"{side}_SCAd", sca.points[-1], (sg * 0.5, 1.0, -0.3), 0.6, "vb", True))
    max_seg = {"tiny": 3, "train": 60, "clinical": 160}.get(pre.name, 60)
    for parent, prefix, start, direc, r0, system, cereb in roots:
        sg = -1.0 if prefix.startswith("R_") else 1.0
        others = [
            s.points
            for s in b.segments.values()
            if s.kind == "artery" and s.system and s.system != system and s.label == INTRACRANIAL
        ]
        others_a = np.concatenate(others) if others else None
        _grow_tree(
            b,
            parent,
            prefix,
            start,
            direc,
            r0 * rs,
            allowed=make_allowed(sg, cereb),
            outward=outward,
            min_radius=pre.min_radius,
            max_segments=max_seg,
            others=others_a,
            system=system,
        )

    # ---- cortical veins: unlabelled, as bright as arteries in a late phase ------------------------------
    sss_seg = b.segments["SSS"]
    for k, frac in enumerate((0.3, 0.45, 0.6, 0.75)):
        for side, sg in (("R", -1.0), ("L", 1.0)):
            start = sss_seg.points[int(frac * (len(sss_seg.points) - 1))]
            direc = (sg * 1.0, rng.uniform(-0.4, 0.4), -0.6)

            def vein_allowed(q: np.ndarray, r: float, sg: float = sg) -> bool:
                return inside_brain(q, 0.5 + r) and sg * q[0] > 1.0 + r and q[2] > z_cow

            _grow_tree(
                b,
                "SSS",
                f"{side}_CV{k}",
                start + np.array([sg * 3.0, 0.0, -3.0]),
                direc,
                rng.uniform(1.1, 1.7),
                allowed=vein_allowed,
                outward=outward,
                min_radius=max(pre.min_radius, 0.6),
                max_segments={"tiny": 1, "train": 5, "clinical": 9}.get(pre.name, 5),
                others=None,
                system="veins",
                kind="vein",
            )

    # ---- pathologies ------------------------------------------------------------------------------------
    findings: list[Finding] = []
    prng = np.random.default_rng([int(seed), 2])
    _apply_pathologies(b, pathos, prng, findings, z_sb=z_sb, z_bif=z_bif)

    # ---- contrast fading along the tree -----------------------------------------------------------------
    for seg in b.segments.values():
        if seg.kind == "artery":
            seg.contrast = seg.contrast * (1.0 - 0.02 * min(seg.generation, 15))

    # ---- region split -----------------------------------------------------------------------------------
    segments = _split_regions(list(b.segments.values()), z_ao=z_ao, z_sb=z_sb)

    levels = {
        "aorta_top_mm": z_ao,
        "skull_base_mm": z_sb,
        "bifurcation_mm": z_bif,
        "cow_mm": z_cow,
        "arch_mm": z_arch,
    }
    levels.update({f"vertebra_{k}_mm": v for k, v in vert_z.items()})
    body = {
        "z": np.array([-10.0, 55.0, 85.0, z_sb - 40, z_sb + 12]),
        "ax": np.array([160.0, 150.0, 62.0, 56.0, 56.0]),
        "ay": np.array([105.0, 98.0, 60.0, 56.0, 56.0]),
        "cy": np.array([8.0, 8.0, 10.0, 14.0, 16.0]),
        "face_center": np.array([0.0, -38.0, z_sb - 12.0]),
        "face_semi": np.array([50.0, 48.0, 58.0]),
        "airway": np.array(
            [
                [0, -8, z_arch + 22],
                [0, -14, z_bif - 15],
                [0, -4, z_bif + 20],
                [0, 2, z_sb - 20],
                [0, -4, z_sb - 10],
                [0, -30, z_sb - 8],
                [0, -55, z_sb - 4],
            ],
            float,
        ),
        "airway_r": np.array([8.0, 9.0, 7.0, 7.0, 7.0, 6.0, 6.0]),
    }
    bones = _make_bones(segments, rng, levels=levels, head=head, vert_z=vert_z, body=body)
    findings += _air_cavities(body, z_sb)
    findings += _soft_organs(segments, levels)
    if "dental_fillings" in pathos:
        findings += _dental_fillings(prng, z_sb)
    anatomy = Anatomy(
        seed=int(seed),
        preset=pre.name,
        variants=chosen,
        pathologies=pathos,
        segments=segments,
        bones=bones,
        findings=findings,
        levels=levels,
        head=head,
        body=body,
    )
    logger.debug(
        "anatomy seed %d: %d segments, variants %s, pathologies %s", seed, len(segments), chosen, pathos
    )
    return anatomy


# ----------------------------------------------------------------------------------------------------------
# pathologies


def _arc(points: np.ndarray) -> np.ndarray:
    return np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]


def _descendants(segments: dict[str, Segment], name: str) -> list[Segment]:
    out, frontier = [], [name]
    while frontier:
        cur = frontier.pop()
        for s in segments.values():
            if s.parent == cur:
                out.append(s)
                frontier.append(s.name)
    return out


def _apply_pathologies(
    b: _Builder, pathos, rng: np.random.Generator, findings: list[Finding], *, z_sb: float, z_bif: float
) -> None:
    segs = b.segments
    side = "L" if rng.uniform() < 0.5 else "R"
    used: set[str] = set()

    def pick(names: list[str]) -> Segment:
        free = [n for n in names if n in segs and n not in used] or [n for n in names if n in segs]
        name = free[int(rng.integers(len(free)))]
        used.add(name)
        return segs[name]

    if "stenosis" in pathos:
        host = pick([f"{side}_ICA", f"{side}_ICA", f"{side}_M1", "BA", "R_VA", "L_VA"])
        s = _arc(host.points)
        if host.name.endswith("ICA"):
            c = rng.uniform(6, 14)
        else:
            c = rng.uniform(0.35, 0.65) * s[-1]
        half = rng.uniform(3.0, 6.0)
        degree = rng.uniform(0.5, 0.9)
        w = np.clip(1 - np.abs(s - c) / half, 0, 1)
        w = np.sin(0.5 * np.pi * w) ** 2
        host.radii = host.radii * (1 - degree * w)
        host.patho |= w > 0.05
        host.pathology = "stenosis"
        host.info["stenosis_degree"] = round(float(degree), 3)
        if "stent" in pathos:
            sel = np.abs(s - c) < half + 4
            findings.append(
                Finding("stent", host.points[sel], host.outer[sel] + 0.15, {"segment": host.name})
            )
    elif "stent" in pathos:
        host = segs[f"{side}_ICA"]
        s = _arc(host.points)
        sel = (s > 3) & (s < 25)
        findings.append(Finding("stent", host.points[sel], host.outer[sel] + 0.15, {"segment": host.name}))
    if "occlusion" in pathos:
        other = "R" if side == "L" else "L"
        host = pick([f"{other}_ICA", f"{other}_M1", f"{other}_VA"])
        s = _arc(host.points)
        if host.name.endswith("ICA"):
            a, e = 12.0, 12.0 + rng.uniform(15, 40)
        elif host.name.endswith("VA"):
            a = rng.uniform(0.3, 0.4) * s[-1]
            e = a + rng.uniform(15, 30)
        else:
            a = 0.3 * s[-1]
            e = 0.7 * s[-1]
        occl = (s >= a) & (s <= e)
        host.radii = np.where(occl, 0.0, host.radii)
        host.patho |= occl
        host.pathology = "occlusion"
        distal_pts = s > e
        host.contrast = np.where(distal_pts, 0.6, np.where(occl, 0.0, host.contrast))
        host.info["occlusion_mm"] = [round(float(a), 2), round(float(e), 2)]
        for d in _descendants(segs, host.name):
            d.contrast = d.contrast * 0.6
    if "low_flow" in pathos:
        host = pick(["R_P2", "L_P2", "R_VA", "L_VA"])
        n = len(host.points)
        host.contrast = host.contrast * np.linspace(1.0, 0.3, n)
        host.patho |= True
        host.pathology = "low_flow"
        for d in _descendants(segs, host.name):
            d.contrast = d.contrast * 0.3
    if "aneurysm" in pathos or "coil" in pathos:
        sites = [("ACom", 0.5), (f"{side}_M1", 1.0), ("BA", 1.0), (f"{side}_ICA", None)]
        sites = [x for x in sites if x[0] in segs]
        host_name, frac = sites[int(rng.integers(len(sites)))]
        host = segs[host_name]
        if frac is None:  # ICA at the PCom origin / terminus
            idx = len(host.points) - 8
        else:
            idx = min(int(frac * (len(host.points) - 1)), len(host.points) - 1)
        p0 = host.points[idx]
        tangent = _unit(host.points[min(idx + 1, len(host.points) - 1)] - host.points[max(idx - 1, 0)])
        d = _unit(np.cross(tangent, _unit(rng.normal(size=3))))
        if d[2] < 0:
            d = -d
        dome = rng.uniform(3.0 if "coil" in pathos else 2.0, 6.0)
        hr = float(host.radii[idx])
        neck = min(0.65 * dome, 1.3 * hr)
        tc = 0.6 * hr + dome
        t = np.arange(0.0, tc + 0.97 * dome, 0.25)
        prof = np.sqrt(np.clip(dome**2 - (t - tc) ** 2, 0, None))
        prof = np.where(t < tc, np.maximum(prof, neck), prof)
        prof = np.maximum(prof, 0.2)
        pts = p0 + t[:, None] * d
        coil = "coil" in pathos
        seg = Segment(
            name="aneurysm",
            kind="artery",
            label=INTRACRANIAL,  # every aneurysm site (ACom, M1, basilar tip, ICA terminus) is intracranial
            parent=host.name,
            generation=host.generation + 1,
            points=pts,
            radii=np.where(t > hr, 0.0, prof) if coil else prof,
            outer=prof,
            patho=np.ones(len(t), bool),
            pathology="coiled_aneurysm" if coil else "aneurysm",
            system=host.system,
            parent_index=idx,
            info={"dome_radius_mm": round(float(dome), 3)},
        )
        segs["aneurysm"] = seg
        if coil:
            findings.append(
                Finding("coil", p0[None] + tc * d, np.array([0.85 * dome]), {"segment": "aneurysm"})
            )
    if "calcified_plaque" in pathos:
        for sname, lo, hi in ((f"{side}_ICA", 0.0, 12.0), ("L_ICA" if side == "R" else "R_ICA", 0.0, 8.0)):
            host = segs[sname]
            s = _arc(host.points)
            sel = np.flatnonzero((s >= lo) & (s <= hi))
            if len(sel) < 3:
                continue
            tangent = _unit(host.points[sel[-1]] - host.points[sel[0]])
            d = _unit(np.cross(tangent, _unit(rng.normal(size=3))))
            rc = rng.uniform(0.8, 1.6)
            off = host.outer[sel] + rc + 0.05
            findings.append(
                Finding(
                    "calcification",
                    host.points[sel] + off[:, None] * d,
                    np.full(len(sel), rc),
                    {"segment": sname},
                )
            )
        host = segs[f"{side}_ICA"]
        sel = np.flatnonzero((host.points[:, 2] > z_sb + 12) & (host.points[:, 2] < z_sb + 20))
        if len(sel) > 3:
            d = (
                np.array([0.0, 0.0, 1.0])
                if abs(host.points[sel[-1], 2] - host.points[sel[0], 2]) < 3
                else np.array([1.0, 0, 0])
            )
            off = host.outer[sel] + 0.75
            findings.append(
                Finding(
                    "calcification",
                    host.points[sel] + off[:, None] * d,
                    np.full(len(sel), 0.7),
                    {"segment": host.name},
                )
            )


def _dental_fillings(rng: np.random.Generator, z_sb: float) -> list[Finding]:
    out = []
    for _ in range(int(rng.integers(2, 5))):
        ang = rng.uniform(-1.2, 1.2)
        upper = rng.uniform() < 0.5
        x = 28 * np.sin(ang)
        y = -62 + 24 * (1 - np.cos(ang))
        z = z_sb - (44.0 if upper else 50.0)
        out.append(Finding("dental_filling", np.array([[x, y, z]]), np.array([rng.uniform(2.0, 3.2)])))
    return out


def _soft_organs(segments: list[Segment], levels: dict) -> list[Finding]:
    """Fat sheaths around the neck vessels, thyroid lobes and lung apices (soft-tissue context)."""
    out = []
    z_sb, z_ao, z_bif = levels["skull_base_mm"], levels["aorta_top_mm"], levels["bifurcation_mm"]
    for s in segments:
        base = s.name.split("_")[1] if "_" in s.name else s.name
        if base in ("CCA", "ICA", "ECA", "IJV") and s.label in (0, CAROTID):
            sel = (s.points[:, 2] > z_ao + 15) & (s.points[:, 2] < z_sb - 5)
            if sel.sum() > 3:
                out.append(Finding("fat", s.points[sel], np.maximum(s.outer[sel], s.radii[sel]) + 2.5))
    for sg in (-1.0, 1.0):
        out.append(
            Finding(
                "thyroid",
                np.array([[sg * 16, -20, z_bif - 48], [sg * 17, -19, z_bif - 22]]),
                np.array([7.0, 6.0]),
            )
        )
        out.append(
            Finding("lung", np.array([[sg * 62, 12, -30.0], [sg * 58, 12, z_ao - 6]]), np.array([30.0, 27.0]))
        )
    return out


def _air_cavities(body: dict, z_sb: float) -> list[Finding]:
    out = [Finding("air", body["airway"], body["airway_r"])]
    for sg in (-1.0, 1.0):
        out.append(
            Finding(
                "air", np.array([[sg * 27, -46, z_sb - 22], [sg * 27, -44, z_sb - 8]]), np.array([10.0, 10.0])
            )
        )
    out.append(Finding("air", np.array([[0, -14, z_sb + 13], [0, -14, z_sb + 17]]), np.array([4.0, 4.0])))
    return out


# ----------------------------------------------------------------------------------------------------------
# region split


def _split_one(
    seg: Segment, z_plane: float, names: tuple[str, str], labels: tuple[int, int]
) -> list[Segment]:
    z = seg.points[:, 2]
    above = np.flatnonzero((z[:-1] < z_plane) & (z[1:] >= z_plane))
    if len(above) == 0:
        seg.name, seg.label = (names[1], labels[1]) if z[0] >= z_plane else (names[0], labels[0])
        return [seg]
    i = int(above[0])
    t = (z_plane - z[i]) / (z[i + 1] - z[i])
    p = seg.points[i] + t * (seg.points[i + 1] - seg.points[i])

    def interp(arr):
        return arr[i] + t * (arr[i + 1] - arr[i])

    ins = {
        "points": np.vstack([seg.points[: i + 1], p[None]]),
        "radii": np.r_[seg.radii[: i + 1], interp(seg.radii)],
        "outer": np.r_[seg.outer[: i + 1], interp(seg.outer)],
        "contrast": np.r_[seg.contrast[: i + 1], interp(seg.contrast)],
        "patho": np.r_[seg.patho[: i + 1], seg.patho[i]],
    }
    lower = seg.sliced(slice(0, i + 1), name=names[0], label=labels[0], flat_end=True, connects_to=[])
    for k, v in ins.items():
        setattr(lower, k, v)
    lower.pathology = seg.pathology if lower.patho.any() else None
    upper = seg.sliced(
        slice(i + 1, None),
        name=names[1],
        label=labels[1],
        flat_start=True,
        parent=names[0],
        parent_index=len(lower.points) - 1,
        generation=seg.generation,
    )
    upper.points = np.vstack([p[None], upper.points])
    upper.radii = np.r_[interp(seg.radii), upper.radii]
    upper.outer = np.r_[interp(seg.outer), upper.outer]
    upper.contrast = np.r_[interp(seg.contrast), upper.contrast]
    upper.patho = np.r_[seg.patho[i], upper.patho]
    upper.pathology = seg.pathology if upper.patho.any() else None
    upper.info["split_from"] = seg.name
    lower.info["split_from"] = seg.name
    upper.info["split_index"] = i + 1
    return [lower, upper]


def _split_regions(segments: list[Segment], *, z_ao: float, z_sb: float) -> list[Segment]:
    """Split arteries at the aorta and skull-base planes and re-point children to the right half."""
    rules = {
        "BCT": (z_ao, ("BCT_origin", "BCT"), (AORTA, CAROTID)),
        "L_CCA": (z_ao, ("L_CCA_origin", "L_CCA"), (AORTA, CAROTID)),
        "L_SUB": (z_ao, ("L_SUB_origin", "L_SUB"), (AORTA, CAROTID)),
        "R_ICA": (z_sb, ("R_ICA_cervical", "R_ICA_intracranial"), (CAROTID, INTRACRANIAL)),
        "L_ICA": (z_sb, ("L_ICA_cervical", "L_ICA_intracranial"), (CAROTID, INTRACRANIAL)),
        "R_VA": (z_sb, ("R_VA_extracranial", "R_VA_V4"), (CAROTID, INTRACRANIAL)),
        "L_VA": (z_sb, ("L_VA_extracranial", "L_VA_V4"), (CAROTID, INTRACRANIAL)),
    }
    out: list[Segment] = []
    halves: dict[str, list[Segment]] = {}
    for seg in segments:
        if seg.kind == "artery" and seg.name in rules:
            if seg.name == "L_VA" and seg.parent == "aorta":
                first = _split_one(seg, z_ao, ("L_VA_origin", "L_VA"), (AORTA, CAROTID))
                parts = first[:-1] + _split_one(first[-1], *rules["L_VA"])
            else:
                parts = _split_one(seg, *rules[seg.name])
            halves[seg.name] = parts
            out += parts
        else:
            out.append(seg)
    for seg in out:
        if seg.parent in halves and seg.info.get("split_from") != seg.parent:
            # re-point the child to the half that holds its branch point
            best = min(
                halves[seg.parent],
                key=lambda part: np.min(np.linalg.norm(part.points - seg.points[0], axis=1)),
            )
            seg.parent = best.name
            seg.parent_index = int(np.argmin(np.linalg.norm(best.points - seg.points[0], axis=1)))
    # BA starts at the vertebral confluence: its parent is the right V4, it also joins the left V4
    for seg in out:
        if seg.name == "L_VA_V4":
            seg.connects_to = ["BA"]
    return out


# ----------------------------------------------------------------------------------------------------------
# bones


def _pieces_near(
    segments: list[Segment], lo: np.ndarray, hi: np.ndarray, gap: float, kinds=("artery", "vein")
):
    """Vessel tubes (points, radii + gap) with any part inside the world box, for carving canals."""
    out = []
    for s in segments:
        if s.kind not in kinds:
            continue
        g = gap if s.kind == "artery" else 0.6
        r = np.maximum(s.outer, s.radii) + g
        inside = np.all((s.points >= lo - r[:, None]) & (s.points <= hi + r[:, None]), axis=1)
        if not inside.any():
            continue
        idx = np.flatnonzero(inside)
        a, e = max(idx.min() - 1, 0), min(idx.max() + 2, len(s.points))
        out.append((s.points[a:e], r[a:e]))
    return out


def _make_bones(segments: list[Segment], rng, *, levels, head, vert_z, body) -> list[BoneObject]:
    z_sb = levels["skull_base_mm"]
    bc, inner_a, outer_a = head["brain_center"], head["skull_inner"], head["skull_outer"]
    bones: list[BoneObject] = []

    def vault(X, Y, Z):
        shell = np.maximum(G.sd_ellipsoid(X, Y, Z, bc, outer_a), -G.sd_ellipsoid(X, Y, Z, bc, inner_a))
        return np.maximum(shell, np.float32(z_sb - 6.0) - Z)

    lo = bc - outer_a - 1
    lo[2] = z_sb - 8
    bones.append(BoneObject("skull_vault", lo, bc + outer_a + 1, vault, "bone", cortical_mm=1.8))

    def base(X, Y, Z):
        # cranial floor: a 4 mm plate (anterior/middle fossa top at z_sb + 8, posterior fossa at z_sb + 1)
        ant = np.maximum(np.abs(Z - np.float32(z_sb + 6.0)) - np.float32(2.0), Y - np.float32(14.0))
        post = np.maximum(np.abs(Z - np.float32(z_sb - 1.0)) - np.float32(2.0), np.float32(14.0) - Y)
        plate = np.maximum(np.minimum(ant, post), G.sd_ellipsoid(X, Y, Z, bc, outer_a))
        fm = G.sd_zcylinder(X, Y, Z, (0.0, 24.0), (15.0, 16.0), z_sb - 20, z_sb + 20)
        plate = np.maximum(plate, -fm)
        parts = [plate]
        for sg in (-1.0, 1.0):
            parts.append(
                G.sd_tube(
                    X,
                    Y,
                    Z,
                    np.array([[sg * 50, 22, z_sb + 2], [sg * 18, -6, z_sb + 6.5]]),
                    np.array([8.0, 5.5]),
                )
            )
            parts.append(
                G.sd_tube(
                    X,
                    Y,
                    Z,
                    np.array([[sg * 18, -21, z_sb + 23], [sg * 18, -21, z_sb + 23.1]]),
                    np.array([2.6, 2.6]),
                )
            )
        parts.append(
            G.sd_tube(X, Y, Z, np.array([[0, -7, z_sb + 24], [0, 10, z_sb + 1]]), np.array([5.0, 5.0]))
        )
        sph = G.sd_box(X, Y, Z, (0.0, -14.0, z_sb + 15.0), (13.2, 9.0, 6.0))
        parts.append(sph)
        out = parts[0]
        for p in parts[1:]:
            out = np.minimum(out, p)
        return out

    lo_b = np.array([-outer_a[0] - 2, -40.0, z_sb - 8])
    hi_b = np.array([outer_a[0] + 2, bc[1] + outer_a[1] + 2, z_sb + 30])
    bones.append(
        BoneObject(
            "skull_base",
            lo_b,
            hi_b,
            base,
            "dense",
            cortical_mm=2.5,
            carve=_pieces_near(segments, lo_b, hi_b, 0.2),
        )
    )

    # vertebrae: body, neural arch, spinous process, transverse processes with foramina around the VA
    va = {
        sg: next(
            s
            for s in segments
            if s.name.startswith("R_VA" if sg < 0 else "L_VA") and "extracranial" in s.name
        )
        for sg in (-1.0, 1.0)
    }
    for name, zc in vert_z.items():
        ring_levels = name in ("C1", "C2", "C3", "C4", "C5", "C6")
        vpos = {}
        for sg, seg in va.items():
            k = int(np.argmin(np.abs(seg.points[:, 2] - zc)))
            vpos[sg] = (seg.points[k], float(seg.radii[k]))

        def vert(X, Y, Z, zc=zc, name=name, ring=ring_levels, vpos=vpos):
            h = 5.5 if name != "C1" else 4.0
            parts = []
            if name != "C1":
                parts.append(
                    G.sd_zcylinder(
                        X,
                        Y,
                        Z,
                        (0.0, 20.0),
                        (10.0 if name[0] == "C" else 13.0, 8.0 if name[0] == "C" else 10.0),
                        zc - h,
                        zc + h,
                    )
                )
            else:
                parts.append(
                    G.sd_tube(
                        X, Y, Z, np.array([[-9, 10, zc], [0, 8, zc], [9, 10, zc]]), np.array([3.0, 3.0, 3.0])
                    )
                )
            if name == "C2":
                parts.append(G.sd_zcylinder(X, Y, Z, (0.0, 18.0), (5.0, 5.0), zc, zc + 18))
            arch = np.maximum(
                G.sd_zcylinder(X, Y, Z, (0.0, 37.0), (13.0, 12.0), zc - 4, zc + 4),
                -G.sd_zcylinder(X, Y, Z, (0.0, 36.0), (8.5, 8.5), zc - 10, zc + 10),
            )
            arch = np.maximum(arch, np.float32(28.0) - Y)
            parts.append(arch)
            parts.append(G.sd_box(X, Y, Z, (0.0, 55.0, zc - 2), (2.5, 8.0, 3.0)))
            for sg in (-1.0, 1.0):
                p, rv = vpos[sg]
                if ring:
                    ring_sd = np.maximum(
                        G.sd_zcylinder(X, Y, Z, (p[0], p[1]), (rv + 3.4, rv + 3.4), zc - 3.5, zc + 3.5),
                        -G.sd_zcylinder(X, Y, Z, (p[0], p[1]), (rv + 0.2, rv + 0.2), zc - 9, zc + 9),
                    )
                    parts.append(ring_sd)
                    parts.append(
                        G.sd_tube(
                            X,
                            Y,
                            Z,
                            np.array([[sg * 8, 22, zc], [p[0] - sg * (rv + 1.5), p[1], zc]]),
                            np.array([2.8, 2.8]),
                        )
                    )
                    parts.append(
                        G.sd_tube(
                            X,
                            Y,
                            Z,
                            np.array([[p[0], p[1] + rv + 1.5, zc], [sg * 11, 32, zc]]),
                            np.array([2.5, 2.5]),
                        )
                    )
                else:
                    parts.append(
                        G.sd_tube(
                            X, Y, Z, np.array([[sg * 8, 22, zc], [sg * 30, 20, zc + 1]]), np.array([3.0, 3.0])
                        )
                    )
            out = parts[0]
            for q in parts[1:]:
                out = np.minimum(out, q)
            return out

        lo_v = np.array([-36.0, 5.0, zc - 7])
        hi_v = np.array([36.0, 64.0, zc + (20 if name == "C2" else 7)])
        bones.append(
            BoneObject(
                f"vertebra_{name}",
                lo_v,
                hi_v,
                vert,
                "bone",
                cortical_mm=1.0,
                carve=_pieces_near(segments, lo_v, hi_v, 0.2),
            )
        )

    # mandible, maxilla with teeth, hyoid, clavicles, manubrium
    z0 = z_sb
    mand_pts = np.array(
        [
            [-50, 8, z0 - 2],
            [-48, 2, z0 - 25],
            [-46, -8, z0 - 55],
            [-35, -40, z0 - 62],
            [-15, -62, z0 - 64],
            [0, -68, z0 - 64],
            [15, -62, z0 - 64],
            [35, -40, z0 - 62],
            [46, -8, z0 - 55],
            [48, 2, z0 - 25],
            [50, 8, z0 - 2],
        ],
        float,
    )
    mand_r = np.array([4.0, 4.5, 5.5, 6.5, 7.0, 7.0, 7.0, 6.5, 5.5, 4.5, 4.0])
    mand_p, mand_rr = G.smooth_path(mand_pts, mand_r, step=2.0)
    bones.append(
        BoneObject(
            "mandible",
            mand_p.min(0) - 8,
            mand_p.max(0) + 8,
            lambda X, Y, Z: G.sd_tube(X, Y, Z, mand_p, mand_rr),
            "bone",
            cortical_mm=2.0,
            carve=[],
        )
    )
    ang = np.linspace(-1.25, 1.25, 11)
    maxilla_pts = np.stack([30 * np.sin(ang), -62 + 26 * (1 - np.cos(ang)), np.full_like(ang, z0 - 36)], 1)
    bones.append(
        BoneObject(
            "maxilla",
            maxilla_pts.min(0) - 10,
            maxilla_pts.max(0) + 10,
            lambda X, Y, Z: np.minimum(
                G.sd_tube(X, Y, Z, maxilla_pts, np.full(11, 5.5)),
                G.sd_box(X, Y, Z, (0, -44, z0 - 33), (18, 16, 2.0)),
            ),
            "bone",
            cortical_mm=1.5,
        )
    )
    teeth = []
    for zt in (z0 - 44.0, z0 - 51.0):
        for a in np.linspace(-1.15, 1.15, 10):
            teeth.append(
                np.array(
                    [
                        [28 * np.sin(a), -62 + 24 * (1 - np.cos(a)), zt - 3.5],
                        [28 * np.sin(a), -62 + 24 * (1 - np.cos(a)), zt + 3.5],
                    ]
                )
            )

    def teeth_sd(X, Y, Z, teeth=teeth):
        out = None
        for t in teeth:
            sd = G.sd_tube(X, Y, Z, t, np.array([2.6, 2.6]))
            out = sd if out is None else np.minimum(out, sd)
        return out

    allt = np.concatenate(teeth)
    bones.append(BoneObject("teeth", allt.min(0) - 4, allt.max(0) + 4, teeth_sd, "tooth", cortical_mm=1.0))
    hy = np.array(
        [
            [-18, -20, levels["bifurcation_mm"] - 8],
            [-10, -32, levels["bifurcation_mm"] - 10],
            [0, -35, levels["bifurcation_mm"] - 10],
            [10, -32, levels["bifurcation_mm"] - 10],
            [18, -20, levels["bifurcation_mm"] - 8],
        ],
        float,
    )
    bones.append(
        BoneObject(
            "hyoid",
            hy.min(0) - 4,
            hy.max(0) + 4,
            lambda X, Y, Z: G.sd_tube(X, Y, Z, hy, np.full(5, 2.2)),
            "bone",
            cortical_mm=0.8,
        )
    )
    z_ao = levels["aorta_top_mm"]
    for sg in (-1.0, 1.0):
        cl = np.array(
            [
                [sg * 14, -46, z_ao + 4],
                [sg * 45, -38, z_ao + 10],
                [sg * 80, -24, z_ao + 14],
                [sg * 130, -6, z_ao + 16],
            ],
            float,
        )
        clp, clr = G.smooth_path(cl, [6.5, 6.0, 6.0, 7.0], step=2.0)
        bones.append(
            BoneObject(
                f"clavicle_{'R' if sg < 0 else 'L'}",
                clp.min(0) - 9,
                clp.max(0) + 9,
                lambda X, Y, Z, clp=clp, clr=clr: G.sd_tube(X, Y, Z, clp, clr),
                "bone",
                cortical_mm=1.5,
                carve=[],
            )
        )
    bones.append(
        BoneObject(
            "manubrium",
            np.array([-24.0, -62, -10]),
            np.array([24.0, -36, z_ao + 8]),
            lambda X, Y, Z: G.sd_box(X, Y, Z, (0, -50, z_ao - 18), (20, 6, 22)),
            "bone",
            cortical_mm=1.2,
        )
    )
    return bones
