"""Render an :class:`~nnunetv2_cta.phantom.anatomy.Anatomy` as CTA, non-contrast CT or 3D rotational DSA.

Pipeline (one anatomy, any modality): soft tissue per z-slab → bones (cortical shell, cancellous core)
→ air cavities → vessel layer (plaque/thrombus, then lumen; partial volume from the exact distance to the
centreline) → calcifications and metal → Gaussian PSF → correlated noise → metal streaks → int16 HU.

Labels follow :mod:`nnunetv2_cta.labels`: bone where a bone covers at least half a voxel; a vessel voxel
is one whose centre lies within ``max(r, h)`` of its segment's centreline (``r`` the lumen radius there,
``h`` half the voxel diagonal, so vessels thinner than a voxel stay 26-connected); veins and calcified
plaque are background. Distal-tree branches thinner than a quarter voxel (mean radius) are drawn in the
image (faint partial volume) but left out of the labels and the graph.

HU ranges drawn per case (uniform): CTA arterial lumen 250-550 (fading distally), veins 100-250 (late
phase: 85-100 % of arterial), cancellous bone 200-400, cortical 700-1800; NCCT blood 40-55, brain 30-35;
DSA lumen 1800-3200, bone 400-1800, soft tissue 0-60 with cupping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.labels import BONE
from nnunetv2_cta.phantom import shapes as G
from nnunetv2_cta.phantom.anatomy import Anatomy, Segment
from nnunetv2_cta.phantom.graph import GRAPH_FORMAT, GRAPH_VERSION
from nnunetv2_cta.phantom.presets import DSA_FOV_CENTER
from nnunetv2_cta.phantom.scanner import draw_scan_params, finish_image, grid_for, metal_streaks

logger = logging.getLogger(__name__)

MODALITIES: tuple[str, ...] = ("cta", "ncct", "dsa")
Modality = Literal["cta", "ncct", "dsa"]


@dataclass
class PhantomCase:
    """One rendered case.

    Attributes:
        image: int16 ``[z, y, x]`` HU (for DSA: the contrast ("fill") run, in DSA units on an HU-like scale).
        labels: uint8 ``[z, y, x]`` label map (0 background, 1 bone, 2 aorta, 3 carotid, 4 intracranial).
        geometry: the voxel grid (identity direction, spacing ``(z, y, x)`` mm).
        graph: vessel graph dict in the format of :mod:`~nnunetv2_cta.phantom.graph`.
        modality: ``"cta"``, ``"ncct"`` or ``"dsa"``.
        mask_image: DSA only: the mask (no contrast) run, int16, with the requested mis-registration.
        subtracted: DSA only: fill minus mask, int16.
        info: the HU values and options drawn for this case.
    """

    image: np.ndarray
    labels: np.ndarray
    geometry: Geometry
    graph: dict
    modality: str
    mask_image: np.ndarray | None = None
    subtracted: np.ndarray | None = None
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------
# drawing


def _pv(dist: np.ndarray, r: np.ndarray | float, s: float) -> np.ndarray:
    """Partial-volume fraction of a tube of radius ``r`` at distance ``dist`` (linear ramp one voxel wide),
    scaled down for tubes thinner than half a voxel so the integrated signal stays near pi r^2."""
    f = np.clip((r - dist) / s + 0.5, 0.0, 1.0)
    thin = np.minimum(
        1.0, 4.0 * s * np.square(r) / np.power(r + 0.5 * s, 3)
    )  # 1 at r = s / 2, ~ 32 r^2 / s^2 as r -> 0
    return (f * np.where(r < 0.5 * s, thin, 1.0)).astype(np.float32)


def _box_in(X, Y, Z, center, semi):
    """Slices of the block (z, y, x) that hold the ellipsoid's bounding box, or ``None``."""
    out = []
    for vec, c, r in (
        (Z.ravel(), center[2], semi[2]),
        (Y.ravel(), center[1], semi[1]),
        (X.ravel(), center[0], semi[0]),
    ):
        i0, i1 = np.searchsorted(vec, c - r - 2.0), np.searchsorted(vec, c + r + 2.0, side="right")
        if i1 <= i0:
            return None
        out.append(slice(i0, i1))
    return tuple(out)


class _SmoothField:
    """A smooth random field (unit variance at the coarse nodes) on the grid: Gaussian values on a coarse
    lattice ``scale_mm`` apart, interpolated linearly; x/y are interpolated once per coarse z-plane, z per
    slab, so the cost is one multiply-add per voxel."""

    def __init__(self, grid: G.Grid, rng: np.random.Generator, scale_mm: float = 14.0):
        s = grid.spacing[0]
        self.step = s / scale_mm
        cz, cy, cx = (int(np.ceil(n * self.step)) + 2 for n in grid.shape)
        coarse = rng.standard_normal((cz, cy, cx)).astype(np.float32)
        wy, wx = self._weights(grid.shape[1], cy), self._weights(grid.shape[2], cx)
        self.planes = np.stack([wy @ c @ wx.T for c in coarse])  # (cz, ny, nx)

    def _weights(self, n: int, c: int) -> np.ndarray:
        pos = np.arange(n) * self.step
        i0 = np.floor(pos).astype(int)
        w = (pos - i0).astype(np.float32)
        m = np.zeros((n, c), np.float32)
        m[np.arange(n), i0] = 1 - w
        m[np.arange(n), i0 + 1] = w
        return m

    def slab(self, z0: int, z1: int) -> np.ndarray:
        pos = np.arange(z0, z1) * self.step
        i0 = np.floor(pos).astype(int)
        w = (pos - i0).astype(np.float32)[:, None, None]
        return self.planes[i0] * (1 - w) + self.planes[i0 + 1] * w


def _background(
    anatomy: Anatomy,
    grid: G.Grid,
    p: dict,
    img: np.ndarray,
    slab: int = 32,
    field: _SmoothField | None = None,
) -> None:
    """Air, body outline with a subcutaneous fat layer, brain (grey/white matter, CSF rim, ventricles).

    Processed in z-slabs; each ellipsoid is evaluated only inside its own bounding box.
    """
    body, head = anatomy.body, anatomy.head
    z_sb = anatomy.levels["skull_base_mm"]
    bc, inner_a, outer_a = head["brain_center"], head["skull_inner"], head["skull_outer"]
    s = grid.spacing[0]
    full = (slice(0, grid.shape[0]), slice(0, grid.shape[1]), slice(0, grid.shape[2]))
    X, Y, Zall = grid.coords(full)
    shape2 = (grid.shape[1], grid.shape[2])
    gm, wm, csf = np.float32(p["brain"] + 3.0), np.float32(p["brain"] - 3.0), np.float32(p["csf"])
    for z0 in range(0, grid.shape[0], slab):
        z1 = min(z0 + slab, grid.shape[0])
        Z = Zall[z0:z1]
        sd_body = np.full((z1 - z0, *shape2), 1e4, np.float32)
        if Z.min() < z_sb + 12 + s:
            zf = Z[:, 0, 0].astype(np.float64)
            ax = np.interp(zf, body["z"], body["ax"]).astype(np.float32)[:, None, None]
            ay = np.interp(zf, body["z"], body["ay"]).astype(np.float32)[:, None, None]
            cy = np.interp(zf, body["z"], body["cy"]).astype(np.float32)[:, None, None]
            u, v = X / ax, (Y - cy) / ay
            sd_body[:] = np.maximum(
                (np.sqrt(u * u + v * v) - 1) * np.minimum(ax, ay), Z - np.float32(z_sb + 12)
            )
        for c, a in ((bc, outer_a + 7.0), (body["face_center"], body["face_semi"])):
            sub = _box_in(X, Y, Z, c, a)
            if sub is not None:
                blk = sd_body[sub]
                np.minimum(blk, G.sd_ellipsoid(X[..., sub[2]], Y[:, sub[1]], Z[sub[0]], c, a), out=blk)
        f_body = np.clip(0.5 - sd_body / s, 0, 1)
        tissue = np.where(sd_body > -6.0, np.float32(p["fat"]), np.float32(p["soft"]))
        sub = _box_in(X, Y, Z, bc, inner_a)
        if sub is not None:
            Xs, Ys, Zs = X[..., sub[2]], Y[:, sub[1]], Z[sub[0]]
            sd_in = G.sd_ellipsoid(Xs, Ys, Zs, bc, inner_a)
            floor = np.where(Ys < 14.0, np.float32(z_sb + 8.0), np.float32(z_sb + 1.0))
            brain = (sd_in < 0) & (Zs > floor)
            brain_hu = np.where(sd_in > -1.5, csf, np.where(sd_in > -5.0, gm, wm))
            for sg in (-1.0, 1.0):
                vent = G.sd_ellipsoid(Xs, Ys, Zs, (sg * 9.0, 8.0, z_sb + 62.0), (5.0, 22.0, 9.0)) < 0
                brain_hu = np.where(vent, csf, brain_hu)
            tissue[sub] = np.where(brain, brain_hu, tissue[sub])
        if field is not None:  # muscle/fat/grey-matter heterogeneity: soft tissue +-10 HU, brain +-2.5 HU
            amp = np.where(tissue < np.float32(p["brain"] + 4.0), np.float32(2.5), np.float32(10.0))
            tissue = tissue + amp * field.slab(z0, z1)
        img[z0:z1] = p["air"] + (tissue - np.float32(p["air"])) * f_body


def _draw_bones(
    anatomy: Anatomy, grid: G.Grid, p: dict, img: np.ndarray, labels: np.ndarray, chunk: int = 24
) -> None:
    """Composite every bone (processed in z-chunks of its box to bound memory) and set the bone label."""
    s = grid.spacing[0]
    for bone in anatomy.bones:
        sl = grid.box(bone.lo, bone.hi)
        if sl is None:
            continue
        if bone.kind == "tooth":
            shell, core = p["tooth"] * 1.15, p["tooth"] * 0.7
        elif bone.kind == "dense":
            shell, core = p["cortical"], 0.5 * (p["cortical"] + p["cancellous"])
        else:
            shell, core = p["cortical"], p["cancellous"]
        for z0 in range(sl[0].start, sl[0].stop, chunk):
            sub = (slice(z0, min(z0 + chunk, sl[0].stop)), sl[1], sl[2])
            X, Y, Z = grid.coords(sub)
            sd = bone.sdf(X, Y, Z)
            for pts, rad in bone.carve:  # canals and foramina: the vessel plus its gap is not bone
                np.maximum(sd, -G.sd_tube(X, Y, Z, pts, rad, margin=s), out=sd)
            f = np.clip(0.5 - sd / s, 0.0, 1.0)
            t = np.clip(
                (-sd - bone.cortical_mm) / max(s, 0.5) + 0.5, 0.0, 1.0
            )  # 0 in the shell, 1 deep inside
            hu = shell + (core - shell) * t
            block = img[sub]
            img[sub] = block + (hu - block) * f
            lab = labels[sub]
            lab[f >= 0.5] = BONE


def _draw_tube_findings(
    anatomy: Anatomy, grid: G.Grid, img: np.ndarray, labels: np.ndarray, kinds: tuple[str, ...], hu: dict
) -> None:
    s = grid.spacing[0]
    for f in anatomy.findings:
        if f.kind not in kinds:
            continue
        r = float(f.radii.max())
        sl = grid.box(f.points.min(0) - r - 2 * s, f.points.max(0) + r + 2 * s)
        if sl is None:
            continue
        X, Y, Z = grid.coords(sl)
        pts = f.points if len(f.points) > 1 else np.vstack([f.points, f.points + 1e-3])
        rad = f.radii if len(f.radii) > 1 else np.r_[f.radii, f.radii]
        sd = G.sd_tube(X, Y, Z, pts, rad)
        if f.kind == "stent":  # a thin wire mesh on the tube wall
            frac = np.clip(1.0 - np.abs(sd) / max(s, 0.3), 0, 1) * min(0.25 / s, 1.0)
            frac = frac * (np.sin(2.0 * (X + Y + Z)) > 0.2)
        else:
            frac = (
                _pv(np.maximum(sd + rad.mean(), 0), rad.mean(), s)
                if r < 0.5 * s
                else np.clip(0.5 - sd / s, 0, 1)
            )
        block = img[sl]
        img[sl] = block + (np.float32(hu[f.kind]) - block) * frac.astype(np.float32)
        if f.kind == "air":
            lab = labels[sl]
            lab[(frac >= 0.5) & (lab == BONE)] = 0


def _draw_vessels(
    segments: list[Segment],
    grid: G.Grid,
    p: dict,
    vf: np.ndarray,
    vhu: np.ndarray,
    labels: np.ndarray | None,
    labelled: set[str],
    *,
    artery_hu_scale: float = 1.0,
) -> None:
    """Max-composite every segment into the vessel layer (fraction ``vf`` 0..1, HU ``vhu``) and labels."""
    s = grid.spacing[0]
    h = grid.half_diagonal
    fade = p["fade"]
    # veins first, then plaque/thrombus walls, then arterial lumen (later writes win ties)
    order = [(seg, "lumen") for seg in segments if seg.kind == "vein"]
    order += [
        (seg, "wall") for seg in segments if seg.kind == "artery" and np.any(seg.outer > seg.radii + 1e-6)
    ]
    order += [(seg, "lumen") for seg in segments if seg.kind == "artery"]
    for seg, what in order:
        pts = seg.points
        rad = seg.outer if what == "wall" else seg.radii
        do_label = labels is not None and what == "lumen" and seg.name in labelled
        n = len(pts)
        if seg.kind == "artery":
            opac = seg.contrast * (1.0 - fade * min(seg.generation, 12) / 12.0)
            hu_pts = p["blood"] + (p["artery"] * artery_hu_scale - p["blood"]) * opac
        else:
            hu_pts = np.full(n, p["vein"])
        if what == "wall":
            hu_pts = np.full(n, p["plaque"] if seg.pathology != "occlusion" else p["blood"] + 15.0)
        for i in range(n - 1):
            a, b = pts[i], pts[i + 1]
            ra, rb = float(rad[i]), float(rad[i + 1])
            if ra <= 0 and rb <= 0:
                continue
            reach = max(ra, rb, h if do_label else 0.0) + s
            sl = grid.box(np.minimum(a, b) - reach, np.maximum(a, b) + reach)
            if sl is None:
                continue
            X, Y, Z = grid.coords(sl)
            dist, t = G.piece_distance(X, Y, Z, a, b)
            tc = np.clip(t, 0.0, 1.0)
            r = np.float32(ra) + tc * np.float32(rb - ra)
            f = _pv(dist, r, s)
            hu = np.float32(hu_pts[i]) + tc * np.float32(hu_pts[i + 1] - hu_pts[i])
            vfb = vf[sl]
            upd = (f > 0) & (f >= vfb)
            vfb[upd] = f[upd]
            vhb = vhu[sl]
            vhb[upd] = hu[upd]
            if do_label and ra > 0 and rb > 0:
                m = dist <= np.maximum(r, np.float32(h))
                # region borders: the half-space beyond the plane through the split point, normal to the
                # centreline there, belongs to the neighbouring segment (for every piece, not only the end
                # one, because a wide vessel's round caps reach back further than one piece)
                for flat, k, sign in ((seg.flat_start, 0, 1.0), (seg.flat_end, n - 1, -1.0)):
                    if flat:
                        q = pts[k]
                        nrm = pts[1] - pts[0] if k == 0 else pts[-1] - pts[-2]
                        nrm = (sign * nrm / np.linalg.norm(nrm)).astype(np.float32)
                        m &= (X - q[0]) * nrm[0] + (Y - q[1]) * nrm[1] + (Z - q[2]) * nrm[2] >= 0
                lab = labels[sl]
                lab[m] = seg.label


def _composite(
    img: np.ndarray, vhu: np.ndarray | None, vf: np.ndarray, *, hu_const: float = 0.0, slab: int = 32
) -> None:
    """``img = img + (vessel_hu - img) * fraction``, slab by slab (no full-size temporaries)."""
    for z0 in range(0, img.shape[0], slab):
        sl = slice(z0, z0 + slab)
        hu = np.float32(hu_const) if vhu is None else vhu[sl].astype(np.float32)
        img[sl] += (hu - img[sl]) * vf[sl].astype(np.float32)


def _labelled_segments(anatomy: Anatomy, grid: G.Grid) -> set[str]:
    """Names of arteries that go into the label map and the graph (thin distal branches dropped)."""
    thr = 0.25 * min(grid.spacing)
    keep: set[str] = set()
    dropped: set[str] = set()
    for seg in anatomy.arteries:  # parents come before children
        if seg.parent in dropped or (seg.distal and float(np.mean(seg.radii)) < thr):
            dropped.add(seg.name)
        elif np.any(seg.radii > 0):
            keep.add(seg.name)
    return keep


# ----------------------------------------------------------------------------------------------------------
# graph


def _case_graph(anatomy: Anatomy, grid: G.Grid, labelled: set[str], modality: str, p: dict) -> dict:
    s = min(grid.spacing)
    lo = np.array(grid.origin) - 0.5 * s
    hi = lo + np.array(grid.shape[::-1]) * np.array(grid.spacing[::-1])
    segs_out = []
    names_in: set[str] = set()
    for seg in anatomy.segments:
        if seg.kind == "artery" and seg.name not in labelled and seg.pathology != "coiled_aneurysm":
            continue
        pts, rad = G.subdivide(seg.points, seg.radii, s)
        inside = np.all((pts >= lo) & (pts <= hi), axis=1)
        if not inside.any():
            continue
        idx = np.flatnonzero(inside)
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        for k, run in enumerate(runs):
            if len(run) < 2:
                continue
            name = seg.name if k == 0 else f"{seg.name}_part{k + 1}"
            entry = {
                "name": name,
                "kind": seg.kind,
                "label": int(seg.label),
                "parent": seg.parent if k == 0 else None,  # a piece re-entering the field of view is cut off
                "generation": int(seg.generation),
                "points": np.round(pts[run], 4).tolist(),
                "radii": np.round(rad[run], 4).tolist(),
            }
            if seg.pathology:
                entry["pathology"] = seg.pathology
            if seg.connects_to:
                entry["connects_to"] = list(seg.connects_to)
            if seg.kind == "artery" and not np.any(seg.radii > 0):
                entry["labelled"] = False
            for key in ("stenosis_degree", "occlusion_mm", "dome_radius_mm"):
                if key in seg.info:
                    entry[key] = seg.info[key]
            segs_out.append(entry)
            names_in.add(name)
    for entry in segs_out:
        if entry["parent"] not in names_in:
            entry["parent"] = None
        if "connects_to" in entry:
            entry["connects_to"] = [c for c in entry["connects_to"] if c in names_in]
            if not entry["connects_to"]:
                del entry["connects_to"]
    return {
        "format": GRAPH_FORMAT,
        "version": GRAPH_VERSION,
        "units": "mm",
        "coordinates": "world ITK (x, y, z), LPS, same frame as the NIfTI origin/direction",
        "modality": modality,
        "seed": anatomy.seed,
        "preset": anatomy.preset,
        "spacing_mm": [float(v) for v in grid.spacing],
        "label_min_radius_mm": round(grid.half_diagonal, 6),
        "borders": {k: round(float(anatomy.levels[k]), 4) for k in ("aorta_top_mm", "skull_base_mm")},
        "variants": list(anatomy.variants),
        "pathologies": list(anatomy.pathologies),
        "findings": [
            {
                "kind": f.kind,
                "center": np.round(f.points.mean(0), 3).tolist(),
                "radius_mm": round(float(f.radii.max()), 3),
                **f.info,
            }
            for f in anatomy.findings
            if f.kind in ("calcification", "stent", "coil", "dental_filling")
        ],
        "segments": segs_out,
    }


# ----------------------------------------------------------------------------------------------------------
# public entry point


def render_case(
    anatomy: Anatomy,
    modality: Modality,
    *,
    spacing: float | None = None,
    seed: int | None = None,
    fov: tuple[float, float, float] | None = None,
    late_phase: bool | None = None,
    misregistration_mm: float | None = None,
) -> PhantomCase:
    """Render one anatomy as a CTA, non-contrast CT or 3D-DSA volume with exact labels and graph.

    Args:
        anatomy: from :func:`~nnunetv2_cta.phantom.anatomy.generate_anatomy`.
        modality: ``"cta"``, ``"ncct"`` or ``"dsa"``.
        spacing: isotropic voxel size in mm; default from the anatomy's preset (DSA has its own).
        seed: seed of the scan (HU values, noise); default ``anatomy.seed``.
        fov: field of view in mm ``(z, y, x)``; default from the preset.
        late_phase: CTA only: veins as bright as arteries (``None``: drawn, 20 % of scans).
        misregistration_mm: DSA only: shift of the mask run (``None``: drawn, 0.1-0.5 mm).

    Returns:
        a :class:`PhantomCase` (``image`` int16 HU ``[z, y, x]``, ``labels`` uint8, ``geometry``, ``graph``).

    Raises:
        ConfigurationError: unknown modality. SpacingError / GeometryError: bad spacing or field of view.
    """
    if modality not in MODALITIES:
        raise ConfigurationError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
    grid = grid_for(anatomy, modality, spacing, fov)
    seed = anatomy.seed if seed is None else int(seed)
    mod_idx = MODALITIES.index(modality)
    rng = np.random.default_rng([seed, 3, mod_idx])
    p = draw_scan_params(modality, rng, grid.spacing[0], late_phase)
    img = np.empty(grid.shape, np.float32)
    labels = np.zeros(grid.shape, np.uint8)
    _background(anatomy, grid, p, img, field=_SmoothField(grid, np.random.default_rng([seed, 6, mod_idx])))
    soft = {"lung": -850.0, "fat": p["fat"], "thyroid": p["thyroid"]}
    _draw_tube_findings(anatomy, grid, img, labels, tuple(soft), soft)
    _draw_bones(anatomy, grid, p, img, labels)
    _draw_tube_findings(anatomy, grid, img, labels, ("air",), {"air": p["air"] + 50.0})
    labelled = _labelled_segments(anatomy, grid)
    # the vessel layer in float16 (fraction 0..1 and HU): half the memory of float32 at clinical size
    vf = np.zeros(grid.shape, np.float16)
    vhu = np.zeros(grid.shape, np.float16)
    _draw_vessels(anatomy.segments, grid, p, vf, vhu, labels, labelled)
    base = img.copy() if modality == "dsa" else None
    _composite(img, vhu, vf)
    _draw_tube_findings(anatomy, grid, img, labels, tuple(_metal_hu(p)), _metal_hu(p))
    srng = np.random.default_rng([seed, 4, mod_idx])
    streaks = _streak_sources(anatomy, grid, modality, srng)
    info = {"modality": modality, **p}
    mask_image = subtracted = None
    if modality != "dsa":
        image = finish_image(img, grid, p, [seed, 7, mod_idx], streaks)
    else:
        streaks = streaks + metal_streaks(
            grid, [(np.array(DSA_FOV_CENTER) + srng.normal(0, 25, 3), 3.0) for _ in range(3)], srng
        )
        dsa = {"noise_corr_mm": (0.6, 0.6, 0.6), "cupping": p["cupping"]}
        image = finish_image(img, grid, p, [seed, 7, mod_idx], streaks, **dsa)
        del img
        base = _dsa_mask_volume(anatomy, grid, p, base, labels, vf, srng, misregistration_mm, info)
        mask_image = finish_image(base, grid, p, [seed, 8, mod_idx], streaks, **dsa)
        del base
        subtracted = np.clip(image.astype(np.int32) - mask_image.astype(np.int32), -32768, 32767).astype(
            np.int16
        )
    del vf, vhu
    geometry = Geometry(spacing=grid.spacing, origin=grid.origin)
    graph = _case_graph(anatomy, grid, labelled, modality, p)
    return PhantomCase(
        image=image,
        labels=labels,
        geometry=geometry,
        graph=graph,
        modality=modality,
        mask_image=mask_image,
        subtracted=subtracted,
        info=info,
    )


def _metal_hu(p: dict) -> dict[str, float]:
    """HU of the dense findings (calcification and metal) for the scan parameters ``p``."""
    return {"calcification": p["calc"], "stent": p["metal"], "coil": p["metal"], "dental_filling": p["metal"]}


def _streak_sources(anatomy: Anatomy, grid: G.Grid, modality: str, srng: np.random.Generator) -> list:
    """Streaks of one scan (see :func:`~nnunetv2_cta.phantom.scanner.apply_streaks`): around metal, across
    the shoulders (photon starvation, CT only) and the dark band between the petrous bones."""
    metal = [  # a stent's thin wires streak far less than a coil ball or an amalgam filling
        (f.points.mean(0), 0.8 if f.kind == "stent" else float(f.radii.max()))
        for f in anatomy.findings
        if f.kind in ("coil", "dental_filling", "stent")
    ]
    streaks = metal_streaks(grid, metal, srng)
    z_ao, z_sb = anatomy.levels["aorta_top_mm"], anatomy.levels["skull_base_mm"]
    if modality != "dsa":
        k = int(srng.integers(3, 7))
        amps = srng.choice([-1.0, 1.0], k) * srng.uniform(30, 80, k)
        streaks.append(
            (np.array([0.0, 10.0, z_ao + 12.0]), 15.0, srng.uniform(-0.12, 0.12, k), amps, 4.0, 0.0)
        )
    streaks.append(
        (
            np.array([0.0, 8.0, z_sb + 5.0]),
            3.0,
            srng.uniform(-0.2, 0.2, 2),
            -srng.uniform(40, 100, 2),
            3.0,
            0.0,
        )
    )
    return streaks


def _dsa_mask_volume(
    anatomy: Anatomy,
    grid: G.Grid,
    p: dict,
    base: np.ndarray,
    labels: np.ndarray,
    vf: np.ndarray,
    srng: np.random.Generator,
    misregistration_mm: float | None,
    info: dict,
) -> np.ndarray:
    """The DSA mask run before finishing: the same patient (``base``, changed in place) with blood instead
    of contrast in the vessels, metal drawn again (labels untouched), moved by the mis-registration, which
    is recorded in ``info``. Returns the moved volume (a new array when the shift is not 0)."""
    _composite(base, None, vf, hu_const=p["blood"])
    _draw_tube_findings(anatomy, grid, base, labels, tuple(_metal_hu(p)), _metal_hu(p))
    shift_mm = srng.uniform(0.1, 0.5) if misregistration_mm is None else float(misregistration_mm)
    direction = srng.normal(size=3)
    direction /= np.linalg.norm(direction)
    shift_vox = direction * shift_mm / grid.spacing[0]
    if shift_mm > 0:
        from scipy.ndimage import shift as nd_shift

        base = nd_shift(base, shift_vox, order=1, mode="nearest")
    info["misregistration_mm"] = round(float(shift_mm), 4)
    info["misregistration_vox_zyx"] = np.round(shift_vox, 4).tolist()
    return base
