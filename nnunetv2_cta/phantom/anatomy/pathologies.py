"""Pathologies placed on the built vessel tree: stenosis, occlusion, low flow, aneurysm (coiled or not),
calcified plaque, stent, dental fillings.

One of each requested pathology; sites and sizes come from the pathology RNG (seed key ``[seed, 2]``),
which draws in a fixed order, so adding a pathology never moves the vessels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import INTRACRANIAL
from nnunetv2_cta.phantom.anatomy.builder import unit
from nnunetv2_cta.phantom.anatomy.parts import PATHOLOGIES, Finding, Segment


def check_pathologies(pathologies: Sequence[str] | str) -> tuple[str, ...]:
    """Validate pathology names (a sequence, or one comma-separated string) against :data:`PATHOLOGIES`.

    Returns:
        the names in the canonical order of :data:`PATHOLOGIES`, each once.

    Raises:
        ConfigurationError: an unknown name (the message lists the valid ones).

    Example:
        >>> check_pathologies("aneurysm,stenosis")
        ('stenosis', 'aneurysm')
    """
    if isinstance(pathologies, str):
        pathologies = [p for p in pathologies.split(",") if p]
    bad = [p for p in pathologies if p not in PATHOLOGIES]
    if bad:
        raise ConfigurationError(f"unknown pathology name(s) {bad!r}; valid: {list(PATHOLOGIES)}")
    return tuple(p for p in PATHOLOGIES if p in pathologies)


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


class _Sites:
    """The segments by name, the pathology RNG and the hosts already used (each pathology its own)."""

    def __init__(self, segs: dict[str, Segment], rng: np.random.Generator):
        self.segs = segs
        self.rng = rng
        self.used: set[str] = set()

    def pick(self, names: list[str]) -> Segment:
        """A random present, unused host among ``names`` (a used one when all are used)."""
        segs = self.segs
        free = [n for n in names if n in segs and n not in self.used] or [n for n in names if n in segs]
        name = free[int(self.rng.integers(len(free)))]
        self.used.add(name)
        return segs[name]


def apply_pathologies(
    segs: dict[str, Segment],
    pathos: Sequence[str],
    rng: np.random.Generator,
    findings: list[Finding],
    *,
    z_sb: float,
) -> None:
    """Change the hosts in ``segs`` in place and append calcifications, stents and coils to ``findings``.

    Args:
        segs: the segments by name, before the region split (``"R_ICA"`` is still one segment).
        pathos: checked names (see :func:`check_pathologies`).
        rng: the pathology RNG.
        findings: list to extend.
        z_sb: skull-base height in mm (the siphon calcification sits 12-20 mm above it).
    """
    sites = _Sites(segs, rng)
    side = "L" if rng.uniform() < 0.5 else "R"
    if "stenosis" in pathos:
        _stenosis(sites, side, "stent" in pathos, findings)
    elif "stent" in pathos:
        host = segs[f"{side}_ICA"]
        s = _arc(host.points)
        sel = (s > 3) & (s < 25)
        findings.append(Finding("stent", host.points[sel], host.outer[sel] + 0.15, {"segment": host.name}))
    if "occlusion" in pathos:
        _occlusion(sites, "R" if side == "L" else "L")
    if "low_flow" in pathos:
        host = sites.pick(["R_P2", "L_P2", "R_VA", "L_VA"])
        n = len(host.points)
        host.contrast = host.contrast * np.linspace(1.0, 0.3, n)
        host.patho |= True
        host.pathology = "low_flow"
        for d in _descendants(segs, host.name):
            d.contrast = d.contrast * 0.3
    if "aneurysm" in pathos or "coil" in pathos:
        _aneurysm(sites, side, "coil" in pathos, findings)
    if "calcified_plaque" in pathos:
        _calcified_plaque(sites, side, findings, z_sb)


def _stenosis(sites: _Sites, side: str, stent: bool, findings: list[Finding]) -> None:
    """A smooth (sin²) narrowing by 50-90 % over 6-12 mm; with ``stent``, a stent across it."""
    rng = sites.rng
    host = sites.pick([f"{side}_ICA", f"{side}_ICA", f"{side}_M1", "BA", "R_VA", "L_VA"])
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
    if stent:
        sel = np.abs(s - c) < half + 4
        findings.append(Finding("stent", host.points[sel], host.outer[sel] + 0.15, {"segment": host.name}))


def _occlusion(sites: _Sites, other: str) -> None:
    """A stretch with no lumen on the side opposite the other pathologies; distal filling at 60 %."""
    rng = sites.rng
    host = sites.pick([f"{other}_ICA", f"{other}_M1", f"{other}_VA"])
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
    for d in _descendants(sites.segs, host.name):
        d.contrast = d.contrast * 0.6


def _aneurysm(sites: _Sites, side: str, coil: bool, findings: list[Finding]) -> None:
    """A saccular aneurysm (dome 2-6 mm, 3-6 mm when coiled) as a child segment ``"aneurysm"``; a coiled
    one keeps only its neck as lumen and gets a coil ball."""
    rng, segs = sites.rng, sites.segs
    candidates = [("ACom", 0.5), (f"{side}_M1", 1.0), ("BA", 1.0), (f"{side}_ICA", None)]
    candidates = [x for x in candidates if x[0] in segs]
    host_name, frac = candidates[int(rng.integers(len(candidates)))]
    host = segs[host_name]
    if frac is None:  # ICA at the PCom origin / terminus
        idx = len(host.points) - 8
    else:
        idx = min(int(frac * (len(host.points) - 1)), len(host.points) - 1)
    p0 = host.points[idx]
    tangent = unit(host.points[min(idx + 1, len(host.points) - 1)] - host.points[max(idx - 1, 0)])
    d = unit(np.cross(tangent, unit(rng.normal(size=3))))
    if d[2] < 0:
        d = -d
    dome = rng.uniform(3.0 if coil else 2.0, 6.0)
    hr = float(host.radii[idx])
    neck = min(0.65 * dome, 1.3 * hr)
    tc = 0.6 * hr + dome
    t = np.arange(0.0, tc + 0.97 * dome, 0.25)
    prof = np.sqrt(np.clip(dome**2 - (t - tc) ** 2, 0, None))
    prof = np.where(t < tc, np.maximum(prof, neck), prof)
    prof = np.maximum(prof, 0.2)
    pts = p0 + t[:, None] * d
    segs["aneurysm"] = Segment(
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
    if coil:
        findings.append(Finding("coil", p0[None] + tc * d, np.array([0.85 * dome]), {"segment": "aneurysm"}))


def _calcified_plaque(sites: _Sites, side: str, findings: list[Finding], z_sb: float) -> None:
    """Calcified plaque beside both carotid bulbs (first 12 / 8 mm of the ICAs) and in one siphon."""
    rng, segs = sites.rng, sites.segs
    for sname, lo, hi in ((f"{side}_ICA", 0.0, 12.0), ("L_ICA" if side == "R" else "R_ICA", 0.0, 8.0)):
        host = segs[sname]
        s = _arc(host.points)
        sel = np.flatnonzero((s >= lo) & (s <= hi))
        if len(sel) < 3:
            continue
        tangent = unit(host.points[sel[-1]] - host.points[sel[0]])
        d = unit(np.cross(tangent, unit(rng.normal(size=3))))
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


def dental_fillings(rng: np.random.Generator, z_sb: float) -> list[Finding]:
    """Two to four amalgam fillings (metal spheres, 2-3.2 mm) on the upper or lower tooth row."""
    out = []
    for _ in range(int(rng.integers(2, 5))):
        ang = rng.uniform(-1.2, 1.2)
        upper = rng.uniform() < 0.5
        x = 28 * np.sin(ang)
        y = -62 + 24 * (1 - np.cos(ang))
        z = z_sb - (44.0 if upper else 50.0)
        out.append(Finding("dental_filling", np.array([[x, y, z]]), np.array([rng.uniform(2.0, 3.2)])))
    return out
