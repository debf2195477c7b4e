"""Named centerline paths through the labelled vessel tree, found from the label map alone (no graph).

The paths feed the curved planar reformations (CPR) of the report: ``"right_carotid"`` and
``"left_carotid"`` (common carotid → internal carotid → into the intracranial ICA as far as it connects)
and ``"vertebrobasilar"`` (the dominant vertebral artery → V4 → basilar top), each ordered from proximal
(aorta side) to distal.

Method:

1. The vessel mask (labels 2, 3, 4) is cropped to its bounding box and, when the voxels are finer than
   ``grid_mm``, max-pooled by an integer factor per axis (pooling keeps thin vessels connected).
2. Cost field (Wink et al., "Fast delineation and visualization of vessels in 3-D angiographic images",
   IEEE TMI 2000, use minimal paths over a cost that favours the vessel centre): ``1 / d²`` inside the
   mask with ``d`` the distance to the vessel wall in mm (:mod:`edt`, anisotropic), impassable outside.
   Minimal paths are found with :mod:`dijkstra3d` (26-connected, steps weighted by their length in mm).
3. Seeds by anatomy, on the axial slice 35 % of the way from the top of the aorta label to the skull base
   (lowest intracranial voxel): the vessel cross-sections are split at the tree's midline (the median x of
   the intracranial label, else the middle of the slice's vessels; x → patient left, so x below the
   midline is the patient's RIGHT). On each side the widest section is the common carotid; the widest one
   behind it (posterior, y larger) is the vertebral artery. The dominant (wider) vertebral is followed.
4. Proximal end: the centre of the aorta (its deepest voxel) when the aorta is labelled, then the leading
   aortic stretch is cut to ``aorta_keep_mm``; otherwise the lowest voxel connected to the seed below it.
5. Distal end: from the seed, the geodesically nearest intracranial voxel above it (the ICA at the skull
   base, or V4). Carotids continue inside the intracranial label on their side through voxels at least
   0.6 times as wide as the artery just below the entry, to the geodesically farthest one within ``intracranial_mm`` (the ICA
   terminus, or on into M1). The vertebral continues, through voxels as wide, to the highest intracranial
   voxel near the midline within ``intracranial_mm`` (the basilar top).

A path that cannot be found is left out of the result and the reason is logged at INFO level; empty
labels or a head-only crop never raise.
"""

from __future__ import annotations

import logging

import dijkstra3d
import edt
import numpy as np
from scipy import ndimage

from nnunetv2_cta._arrays import bounding_box
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import AORTA, CAROTID, INTRACRANIAL, VESSEL_LABELS
from nnunetv2_cta.reconstruction._common import as_volume, spacing_mm

logger = logging.getLogger(__name__)

PATH_NAMES: tuple[str, ...] = ("right_carotid", "left_carotid", "vertebrobasilar")


class _Tree:
    """The pooled vessel crop with its cost field; coordinates are pooled crop indices ``[z, y, x]``."""

    def __init__(self, labels: np.ndarray, sp: np.ndarray, grid_mm: float):
        vessel = np.isin(labels, VESSEL_LABELS)
        box = bounding_box(vessel, 1)
        self.empty = box is None
        if self.empty:
            return
        self.factor = np.maximum(1, np.floor(grid_mm / sp + 1e-6)).astype(int)
        lab = np.where(vessel[box], labels[box], 0).astype(np.uint8)
        if np.any(self.factor > 1):
            pad = [(0, (-n) % f) for n, f in zip(lab.shape, self.factor)]
            lab = np.pad(lab, pad)
            shape = []
            for n, f in zip(lab.shape, self.factor):
                shape += [n // f, f]
            lab = lab.reshape(shape).max(axis=(1, 3, 5))
        self.offset = np.array([s.start for s in box])
        self.labels = lab
        self.mask = lab > 0
        self.sp = sp * self.factor
        self.dist = edt.edt(np.pad(self.mask, 1), anisotropy=tuple(self.sp), black_border=True)[
            1:-1, 1:-1, 1:-1
        ]
        self.cost = np.full(self.mask.shape, np.inf, np.float32)
        self.cost[self.mask] = 1.0 / np.maximum(self.dist[self.mask], 1e-3) ** 2
        self.step = float(np.min(self.sp))

    def to_full(self, path: np.ndarray) -> np.ndarray:
        return path * self.factor + (self.factor - 1) / 2.0 + self.offset

    def mm(self, idx) -> np.ndarray:
        return np.asarray(idx, dtype=np.float64) * self.sp

    def geodesic(self, source, allowed: np.ndarray) -> np.ndarray:
        """Length (mm) of the shortest 26-connected way from ``source`` inside ``allowed`` (inf: unreachable)."""
        passable = allowed & self.mask
        passable[tuple(source)] = True  # the source itself is always allowed
        return dijkstra3d.euclidean_distance_field(
            passable, tuple(int(v) for v in source), anisotropy=tuple(float(v) for v in self.sp)
        )

    def path(self, a, b) -> np.ndarray | None:
        a, b = tuple(int(v) for v in a), tuple(int(v) for v in b)
        if a == b:
            return np.array([a])
        p = dijkstra3d.dijkstra(self.cost, a, b, connectivity=26, anisotropy=tuple(self.sp))
        return None if len(p) == 0 else np.asarray(p, dtype=np.int64)


def _x_mid(tree: _Tree, z_seed: int) -> float:
    ic = np.argwhere(tree.labels == INTRACRANIAL)
    if len(ic):
        return float(np.median(ic[:, 2]))
    xs = np.flatnonzero(tree.mask[z_seed].any(axis=0))
    return float(xs[0] + xs[-1]) / 2.0


def _seed_sections(tree: _Tree, z: int, x_mid: float) -> dict[str, tuple[int, int, int]]:
    """Classify the vessel sections of axial slice ``z``: carotid/vertebral per side (keys like ``"R_CCA"``)."""
    comps, n = ndimage.label(tree.mask[z], structure=np.ones((3, 3)))
    sections = []
    for c in range(1, n + 1):
        yx = np.argwhere(comps == c)
        d = tree.dist[z][comps == c]
        centre = yx[int(np.argmax(d))]
        sections.append(
            {
                "yx": centre,
                "width": float(d.max()),
                "y_mm": float(yx[:, 0].mean() * tree.sp[1]),
                "dx_mm": float((yx[:, 1].mean() - x_mid) * tree.sp[2]),
            }
        )
    out: dict[str, tuple[int, int, int]] = {}
    for side, sign in (("R", -1.0), ("L", 1.0)):
        own = [s for s in sections if sign * s["dx_mm"] > 3.0]
        if not own:
            continue
        cca = max(own, key=lambda s: s["width"])
        out[f"{side}_CCA"] = (z, int(cca["yx"][0]), int(cca["yx"][1]))
        behind = [s for s in own if s is not cca and s["y_mm"] > cca["y_mm"] + 3.0]
        if behind:
            va = max(behind, key=lambda s: s["width"])
            out[f"{side}_VA"] = (z, int(va["yx"][0]), int(va["yx"][1]))
            out[f"{side}_VA_width"] = va["width"]  # type: ignore[assignment]
    return out


def _argmin_where(values: np.ndarray, where: np.ndarray):
    v = np.where(where, values, np.inf)
    i = int(np.argmin(v))
    return None if not np.isfinite(v.flat[i]) else np.unravel_index(i, v.shape)


def _join(*pieces: np.ndarray | None) -> np.ndarray | None:
    """Concatenate path pieces (each ending where the next begins), dropping repeated joints."""
    out: list[np.ndarray] = []
    for p in pieces:
        if p is None:
            return None
        if out and len(p) and np.array_equal(out[-1], p[0]):
            p = p[1:]
        out.extend(p)
    return np.array(out) if out else None


def _seed_slice(tree: _Tree, seed_fraction: float) -> int:
    """The pooled axial slice the seeds are taken from (step 3 of the module docstring)."""
    lab = tree.labels
    zs = {v: np.flatnonzero((lab == v).any(axis=(1, 2))) for v in VESSEL_LABELS}
    z_all = np.flatnonzero(tree.mask.any(axis=(1, 2)))
    z_low = int(zs[AORTA][-1]) if len(zs[AORTA]) else int(z_all[0])
    if len(zs[INTRACRANIAL]):
        z_high = int(zs[INTRACRANIAL][0])
    elif len(zs[CAROTID]):
        z_high = int(zs[CAROTID][-1])
    else:
        z_high = int(z_all[-1])
    if z_high <= z_low:  # e.g. a head crop: only intracranial vessels, seeds near its bottom
        z_low, z_high = int(z_all[0]), int(z_all[-1])
        return min(z_low + max(1, round(5.0 / tree.sp[0])), z_high)
    return round(z_low + seed_fraction * (z_high - z_low))


class _PathSearch:
    """The searches of one label map, on the pooled tree: seeds, proximal ends, entries, distal ends."""

    def __init__(self, tree: _Tree, seed_fraction: float, aorta_keep_mm: float, intracranial_mm: float):
        self.tree = tree
        self.aorta_keep_mm = aorta_keep_mm
        self.intracranial_mm = intracranial_mm
        lab = tree.labels
        self.z_seed = _seed_slice(tree, seed_fraction)
        self.x_mid = _x_mid(tree, self.z_seed)
        self.seeds = _seed_sections(tree, self.z_seed, self.x_mid)
        logger.debug("seed slice %d (pooled), midline x %.1f, seeds %s", self.z_seed, self.x_mid, self.seeds)
        self.zz = np.arange(lab.shape[0])[:, None, None]
        self.xx = np.arange(lab.shape[2])[None, None, :]
        self.above = np.broadcast_to(self.zz >= self.z_seed, lab.shape)
        self.below = np.broadcast_to(self.zz <= self.z_seed, lab.shape)
        self.intracranial = lab == INTRACRANIAL
        self.aorta_centre = None
        if (lab == AORTA).any():
            self.aorta_centre = np.unravel_index(
                int(np.argmax(np.where(lab == AORTA, tree.dist, -1))), lab.shape
            )

    def proximal(self, seed) -> np.ndarray | None:
        """From the aorta centre (cut to ``aorta_keep_mm`` of aorta) or the lowest reachable voxel to ``seed``."""
        tree, lab = self.tree, self.tree.labels
        if self.aorta_centre is not None:
            p = tree.path(self.aorta_centre, seed)
            if p is not None:
                is_aorta = lab[tuple(p.T)] == AORTA
                last = int(np.flatnonzero(is_aorta).max()) if is_aorta[: len(p) // 2 + 1].any() else -1
                if last >= 0:
                    # drop the aortic run up to aorta_keep_mm before the last aortic voxel
                    seg = np.r_[
                        0.0, np.cumsum(np.linalg.norm(np.diff(tree.mm(p[: last + 1]), axis=0), axis=1))
                    ]
                    start = int(np.searchsorted(seg, seg[-1] - self.aorta_keep_mm))
                    p = p[start:]
                return p
        geo = tree.geodesic(seed, self.below)
        low = np.isfinite(geo)
        if not low.any():
            return np.array([seed])
        z_min = int(np.argwhere(low)[:, 0].min())
        end = _argmin_where(geo, low & (self.zz == z_min))
        return tree.path(end, seed)

    def entry_of(self, seed):
        """The geodesically nearest intracranial voxel above ``seed`` (``None``: not reachable)."""
        return _argmin_where(self.tree.geodesic(seed, self.above), self.intracranial)

    def width_before(self, piece: np.ndarray | None) -> float:
        """Vessel radius (mm) just below the entry: the widest voxel of the last 10 mm of ``piece``."""
        if piece is None or len(piece) == 0:
            return 0.0
        n = max(1, round(10.0 / self.tree.step))
        return float(self.tree.dist[tuple(piece[-n:].T)].max())

    def carotid(self, side: str, sign: float, name: str) -> np.ndarray | None:
        """Common carotid seed → skull base → on along the same-side intracranial label (step 5)."""
        tree, shape = self.tree, self.tree.labels.shape
        seed = self.seeds.get(f"{side}_CCA")
        if seed is None:
            logger.info("%s: no vessel section on that side of the seed slice", name)
            return None
        entry = self.entry_of(seed)
        if entry is None:
            geo = tree.geodesic(seed, self.above)
            ok = np.isfinite(geo) & (tree.dist >= 0.5 * tree.dist[seed])
            if not ok.any():
                logger.info("%s: nothing reachable above the seed", name)
                return None
            top = int(np.argwhere(ok)[:, 0].max())
            end = _argmin_where(geo, ok & (self.zz == top))
            logger.info(
                "%s: the intracranial label is not reached; path ends at the highest wide voxel", name
            )
            path = _join(self.proximal(seed), tree.path(seed, end))
        else:
            side_mask = np.broadcast_to(sign * (self.xx - self.x_mid) * tree.sp[2] > 3.0, shape)
            neck = tree.path(seed, entry)
            thick = tree.dist >= 0.6 * self.width_before(neck)
            geo = tree.geodesic(entry, self.intracranial & side_mask & thick)
            ok = np.isfinite(geo) & (geo <= self.intracranial_mm)
            end = np.unravel_index(int(np.argmax(np.where(ok, geo, -1))), shape) if ok.any() else entry
            path = _join(self.proximal(seed), neck, tree.path(entry, end))
        if path is None or len(path) < 2:
            logger.info("%s: no connected path", name)
            return None
        return path

    def vertebrobasilar(self) -> np.ndarray | None:
        """The dominant vertebral seed → V4 → the highest midline (basilar) voxel within reach (step 5)."""
        tree, shape, seeds = self.tree, self.tree.labels.shape, self.seeds
        vas = [s for s in ("L", "R") if f"{s}_VA" in seeds]
        if not vas:
            logger.info("vertebrobasilar: no vertebral artery section found on the seed slice")
            return None
        side = max(vas, key=lambda s: seeds[f"{s}_VA_width"])  # type: ignore[arg-type,return-value]
        seed = seeds[f"{side}_VA"]
        entry = self.entry_of(seed)
        if entry is None:
            logger.info(
                "vertebrobasilar: the %s vertebral artery does not reach the intracranial label", side
            )
            return None
        neck = tree.path(seed, entry)
        geo = tree.geodesic(entry, self.intracranial & (tree.dist >= 0.6 * self.width_before(neck)))
        near_mid = np.broadcast_to(
            np.abs(self.xx - self.x_mid) * tree.sp[2] <= max(4.0, 1.5 * tree.sp[2]), shape
        )
        ok = np.isfinite(geo) & (geo <= self.intracranial_mm) & near_mid
        if ok.any():
            top = int(np.argwhere(ok)[:, 0].max())
            end = _argmin_where(geo, ok & (self.zz == top))
        else:
            logger.info("vertebrobasilar: no midline (basilar) voxel reached; path ends at V4")
            end = entry
        path = _join(self.proximal(seed), neck, tree.path(entry, end))
        return path if path is not None and len(path) >= 2 else None


def centerline_paths(
    labels: np.ndarray,
    spacing,
    *,
    grid_mm: float = 1.0,
    aorta_keep_mm: float = 5.0,
    intracranial_mm: float = 60.0,
    seed_fraction: float = 0.35,
) -> dict[str, np.ndarray]:
    """Named vessel centerline paths (method in the module docstring).

    Args:
        labels: label map ``[z, y, x]`` (0 background, 1 bone, 2 aorta, 3 carotid, 4 intracranial).
        spacing: ``(z, y, x)`` in mm or a Geometry.
        grid_mm: paths are searched on a grid pooled to about this voxel size (finer voxels are pooled by
            an integer factor per axis; coarser ones are used as they are).
        aorta_keep_mm: length of aorta kept at the proximal end of a path.
        intracranial_mm: how far (geodesic mm) a path may continue inside the intracranial label.
        seed_fraction: height of the seed slice between the aorta top and the skull base (0..1).

    Returns:
        ``{name: (N, 3) float64}`` voxel coordinates ``[z, y, x]`` of the full volume, proximal first,
        for the names in :data:`PATH_NAMES` that were found (possibly none).

    Example:
        On a phantom CTA (``render_case(generate_anatomy(3, preset="tiny"), "cta")``) all three paths are
        found and run within a voxel of the phantom's own centerlines of the named arteries.
    """
    labels = as_volume(labels, "labels")
    sp = spacing_mm(spacing)
    for name, value in (("grid_mm", grid_mm), ("intracranial_mm", intracranial_mm)):
        if not np.isfinite(value) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number of mm, got {value!r}")
    if not 0.0 < seed_fraction < 1.0:
        raise ConfigurationError(f"seed_fraction must be in (0, 1), got {seed_fraction!r}")
    tree = _Tree(labels, sp, grid_mm)
    if tree.empty:
        logger.info("centerline_paths: no vessel voxels, no paths")
        return {}
    search = _PathSearch(tree, seed_fraction, aorta_keep_mm, intracranial_mm)
    found = {
        "right_carotid": search.carotid("R", -1.0, "right_carotid"),
        "left_carotid": search.carotid("L", 1.0, "left_carotid"),
        "vertebrobasilar": search.vertebrobasilar(),
    }
    out = {}
    for name in PATH_NAMES:
        if found[name] is not None:
            full = tree.to_full(found[name].astype(np.float64))
            if len(full) >= 5:
                full = ndimage.gaussian_filter1d(full, 1.0, axis=0, mode="nearest")
            out[name] = full
    return out


def path_length_mm(path_zyx: np.ndarray, spacing) -> float:
    """Length in mm of a polyline given in voxel coordinates ``[z, y, x]``."""
    p = np.asarray(path_zyx, dtype=np.float64) * spacing_mm(spacing)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) if len(p) > 1 else 0.0
