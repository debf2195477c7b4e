"""What an anatomy is made of: named centreline segments, bones as signed distances, findings.

Pure data: the region builders (:mod:`.neck_arteries`, :mod:`.vertebrobasilar`, :mod:`.intracranial`,
:mod:`.veins`, :mod:`.bone_shapes`, :mod:`.pathologies`) fill these in, the renderers read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

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

    ``sdf(X, Y, Z)`` takes broadcastable float32 coordinate vectors (see :class:`shapes.Grid`).
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
