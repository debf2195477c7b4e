"""Break simulation: vessel interruptions of the kinds a first-stage network makes, for training the CGPM.

The CGPM (the paper's "connected growth prediction model", a second 3D CNN that receives the CT and the
first-stage segmentation) must learn to fill gaps. Real out-of-fold first-stage predictions contain few
breaks, so the first-stage input is additionally corrupted with:

- **cut**: the vessel is removed over a stretch of its centerline ``L = U(length_diameters) x 2r`` long
  (r: local lumen radius), away from junctions and tips, so each cut is exactly one break in the sense of
  :func:`nnunetv2_cta.evaluation.find_breaks` (two sides, centerline gap of about ``L``);
- **drop**: a distal branch is removed from its tip back to its junction (at most ``max_branch_mm``);
- **thin**: the outer part of a distal branch is peeled off, leaving a thinner core (``thin_keep`` of r);
- **fade**: the probability is multiplied by a V-shaped ramp along a stretch (minimum ``fade_min`` at its
  centre), like weak contrast; on a binary input, the part below 0.5 becomes a shorter cut.

Each voxel belongs to its nearest centerline voxel (Euclidean, mm), so a cut removes whole cross-sections
of the one vessel cut and never touches a neighbouring vessel. Pure numpy/scipy in
:func:`break_weights` / :func:`simulate_breaks`; :class:`BreakSimulationTransform` applies them to the
previous-stage one-hot channels inside nnU-Net's (batchgeneratorsv2) pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from batchgeneratorsv2.transforms.base.basic_transform import ImageOnlyTransform
from scipy import ndimage
from scipy.sparse import csgraph

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.evaluation.centerline import SkeletonGraph, skeletonize

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatedBreak:
    """One simulated interruption: its kind, central centerline voxel ``(z, y, x)`` and length in mm."""

    kind: str
    index_zyx: tuple[int, int, int]
    length_mm: float


def _check_range(name: str, value, lo: float, hi: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a pair (low, high), got {value!r}") from None
    if not (lo <= a <= b <= hi):
        raise ConfigurationError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}")
    return a, b


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigurationError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def break_weights(
    mask: np.ndarray,
    rng: np.random.Generator,
    n_breaks: int,
    *,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    length_diameters: tuple[float, float] = (1.0, 4.0),
    n_drop: int = 0,
    n_thin: int = 0,
    n_fade: int = 0,
    fade_min: tuple[float, float] = (0.0, 0.4),
    thin_keep: tuple[float, float] = (0.3, 0.6),
    max_branch_mm: float = 30.0,
    min_length_mm: float = 0.0,
) -> tuple[np.ndarray, list[SimulatedBreak]]:
    """Per-voxel multiplicative weights in [0, 1] that break the vessels of ``mask`` (kinds in the module doc).

    Args:
        mask: vessel mask ``[z, y, x]`` (non-zero = vessel).
        rng: numpy random generator (all randomness comes from it).
        n_breaks: number of cuts; n_drop / n_thin / n_fade: number of the other kinds.
        spacing: voxel size ``(z, y, x)`` in mm.
        length_diameters: cut (and fade) length range in local vessel diameters.
        fade_min: range of the weight at the centre of a fade.
        thin_keep: range of the fraction of the local radius kept by a thinning.
        max_branch_mm: longest distal stretch dropped or thinned.
        min_length_mm: lower bound of a cut's length in mm (e.g. one voxel, so a cut of a thin vessel is
            still at least one cross-section).

    Returns:
        ``(weights, events)``: float32 weights of ``mask``'s shape (1 outside the events) and the events
        made. Fewer events than requested are made (with a log message) when the tree has no room for them.
    """
    mask = np.asarray(mask) != 0
    if mask.ndim != 3:
        raise GeometryError(f"mask must be a 3D [z, y, x] array, got shape {mask.shape}")
    spacing_arr = np.asarray(spacing, dtype=np.float64)
    if spacing_arr.shape != (3,) or np.any(~np.isfinite(spacing_arr)) or np.any(spacing_arr <= 0):
        raise GeometryError(f"spacing must be three positive numbers (z, y, x) in mm, got {spacing!r}")
    n_breaks, n_drop, n_thin, n_fade = (
        _count(k, v)
        for k, v in (("n_breaks", n_breaks), ("n_drop", n_drop), ("n_thin", n_thin), ("n_fade", n_fade))
    )
    length_diameters = _check_range("length_diameters", length_diameters, 0.0, np.inf)
    fade_min = _check_range("fade_min", fade_min, 0.0, 1.0)
    thin_keep = _check_range("thin_keep", thin_keep, 0.0, 1.0)

    weights = np.ones(mask.shape, np.float32)
    events: list[SimulatedBreak] = []
    if not mask.any() or n_breaks + n_drop + n_thin + n_fade == 0:
        return weights, events

    skel = skeletonize(mask)
    graph = SkeletonGraph(skel, spacing_arr)
    if graph.num_nodes < 3:
        return weights, events
    tree = _VesselTree(mask, skel, graph, spacing_arr)
    breaker = _Breaker(
        tree,
        rng,
        weights,
        events,
        length_diameters=length_diameters,
        fade_min=fade_min,
        thin_keep=thin_keep,
        max_branch_mm=max_branch_mm,
        min_length_mm=min_length_mm,
    )
    for kind, n in (("drop", n_drop), ("thin", n_thin), ("cut", n_breaks), ("fade", n_fade)):
        made = sum(breaker.place(kind) for _ in range(n))
        if made < n:
            logger.debug("made %d of %d %s events (no room left in the tree)", made, n, kind)
    return weights, events


class _VesselTree:
    """What :func:`break_weights` needs to know about a vessel mask and its skeleton graph.

    Attributes:
        graph, adjacency, degree: the skeleton graph (mm-weighted edges) and each node's degree.
        wall: distance (mm) of every voxel to the vessel wall; node_wall / radius: at each skeleton node.
        vox: indices ``(N, 3)`` of the vessel voxels; owner: nearest skeleton node of each (Euclidean, mm).
        special: nodes that are junctions or tips; to_special: distance (mm, along the skeleton) to them.
        tips: nodes of degree 1.
    """

    def __init__(self, mask: np.ndarray, skel: np.ndarray, graph: SkeletonGraph, spacing: np.ndarray):
        self.skel = skel
        self.graph = graph
        self.spacing = spacing
        self.adjacency = graph.adjacency()
        self.degree = np.diff(self.adjacency.indptr)
        self.wall = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
        self.node_wall = self.wall[tuple(graph.coords.T)]
        self.radius = np.maximum(self.node_wall - 0.5 * spacing.min(), 0.5 * spacing.min())

        # owner: nearest skeleton node of every vessel voxel
        idx = ndimage.distance_transform_edt(
            ~skel, sampling=spacing, return_distances=False, return_indices=True
        )
        linear_nodes = np.ravel_multi_index(graph.coords.T, mask.shape)
        self.vox = np.argwhere(mask)
        nearest = idx[(slice(None), *self.vox.T)]
        self.owner = np.searchsorted(linear_nodes, np.ravel_multi_index(nearest, mask.shape))
        del idx

        self.special = np.flatnonzero(self.degree != 2)
        self.to_special = (
            csgraph.dijkstra(self.adjacency, directed=False, indices=self.special, min_only=True)
            if self.special.size
            else np.full(graph.num_nodes, np.inf)
        )
        self.tips = np.flatnonzero(self.degree == 1)

    def stretch(self, centre: int, half: float) -> np.ndarray:
        """Distance (mm, along the skeleton) of every node from ``centre``, ``inf`` beyond ``half``."""
        return csgraph.dijkstra(self.adjacency, directed=False, indices=centre, limit=half)


class _Breaker:
    """Places the events of :func:`break_weights` one at a time, writing into ``weights`` and ``events``."""

    def __init__(
        self,
        tree: _VesselTree,
        rng: np.random.Generator,
        weights: np.ndarray,
        events: list[SimulatedBreak],
        *,
        length_diameters: tuple[float, float],
        fade_min: tuple[float, float],
        thin_keep: tuple[float, float],
        max_branch_mm: float,
        min_length_mm: float,
    ) -> None:
        self.tree = tree
        self.rng = rng
        self.weights = weights
        self.events = events
        self.length_diameters = length_diameters
        self.fade_min = fade_min
        self.thin_keep = thin_keep
        self.max_branch_mm = max_branch_mm
        self.min_length_mm = min_length_mm
        self.used = np.zeros(tree.graph.num_nodes, bool)

    def place(self, kind: str) -> bool:
        """Try (up to 50 draws) to make one event of ``kind``; ``False`` when there is no room."""
        for _ in range(50):
            placed = self._stretch_event(kind) if kind in ("cut", "fade") else self._branch_event(kind)
            if placed is not None:
                return placed
        return False

    def _stretch_event(self, kind: str) -> bool | None:
        """A cut or fade around a random node of degree 2; ``None``: this draw found no room, try again."""
        tree, rng = self.tree, self.rng
        c = int(rng.integers(tree.graph.num_nodes))
        if tree.degree[c] != 2:
            return None
        length = max(float(rng.uniform(*self.length_diameters)) * 2 * tree.radius[c], self.min_length_mm)
        half = length / 2
        margin = 2 * tree.radius[c] + tree.spacing.max()
        if tree.to_special[c] <= half + margin:
            return None
        d = tree.stretch(c, half + margin)
        if self.used[np.isfinite(d)].any():
            return None
        nodes = np.flatnonzero(d <= half)
        self.used[np.isfinite(d)] = True
        sel = np.isin(tree.owner, nodes)
        if kind == "cut":
            self.weights[tuple(tree.vox[sel].T)] = 0.0
        else:
            low = float(rng.uniform(*self.fade_min))
            ramp = low + (1 - low) * np.clip(d[tree.owner[sel]] / max(half, 1e-6), 0, 1)
            target = tuple(tree.vox[sel].T)
            self.weights[target] = np.minimum(self.weights[target], ramp.astype(np.float32))
        self._record(kind, c, length)
        return True

    def _branch_event(self, kind: str) -> bool | None:
        """A drop or thinning of a distal branch from a free tip; ``False``: no free tip left, ``None``: retry."""
        tree, used = self.tree, self.used
        free = tree.tips[~used[tree.tips]]
        if free.size == 0:
            return False
        t = int(free[self.rng.integers(free.size)])
        d = tree.stretch(t, self.max_branch_mm)
        others = np.setdiff1d(tree.special, [t])
        reach = (
            float(np.min(d[others])) if others.size and np.isfinite(d[others]).any() else self.max_branch_mm
        )
        limit = min(reach - 2 * tree.radius[t] - tree.spacing.max(), self.max_branch_mm)
        if limit <= tree.spacing.max():
            used[t] = True
            return None
        nodes = np.flatnonzero(d <= limit)
        if used[nodes].any():
            used[t] = True
            return None
        used[nodes] = True
        sel = np.isin(tree.owner, nodes)
        target = tree.vox[sel]
        if kind == "drop":
            self.weights[tuple(target.T)] = 0.0
        else:
            keep = float(self.rng.uniform(*self.thin_keep))
            peel = tree.wall[tuple(target.T)] < (1 - keep) * tree.node_wall[tree.owner[sel]]
            peel &= ~tree.skel[tuple(target.T)]
            self.weights[tuple(target[peel].T)] = 0.0
        self._record(kind, t, limit)
        return True

    def _record(self, kind: str, node: int, length_mm: float) -> None:
        index = tuple(int(v) for v in self.tree.graph.coords[node])
        self.events.append(SimulatedBreak(kind, index, float(length_mm)))  # type: ignore[arg-type]


def simulate_breaks(
    mask: np.ndarray, rng: np.random.Generator, n_breaks: int, **kwargs
) -> tuple[np.ndarray, list[SimulatedBreak]]:
    """A broken copy of the vessel ``mask``: ``mask & (weights >= 0.5)`` with :func:`break_weights`.

    Args and keywords as :func:`break_weights`. Returns ``(broken_mask bool [z, y, x], events)``.

    Example:
        A straight tube of radius 2 mm (1 mm voxels) with ``n_breaks=1, length_diameters=(2, 2)`` loses 8 mm
        of centerline; ``find_breaks(mask, broken, (1, 1, 1))`` finds one break of about 8 mm.
    """
    weights, events = break_weights(mask, rng, n_breaks, **kwargs)
    return (np.asarray(mask) != 0) & (weights >= 0.5), events


class BreakSimulationTransform(ImageOnlyTransform):
    """batchgeneratorsv2 transform: break the vessels of the previous-stage one-hot channels of ``image``.

    nnU-Net's cascade pipeline moves the previous stage's segmentation into ``image`` as one-hot channels
    (``MoveSegAsOneHotToDataTransform``, appended last). Insert this transform right after it: the union of
    ``vessel_channels`` is the vessel mask, :func:`break_weights` draws the events and every vessel channel
    is multiplied by the weights (cuts, drops and thinning set 0, fades scale the probability down).

    Args:
        vessel_channels: indices into ``image`` (channels first, e.g. ``[-3, -2, -1]``) of the vessel labels.
        p_per_sample: probability that a sample is corrupted at all.
        n_breaks, n_drop, n_thin, n_fade: inclusive ranges ``(low, high)`` of each event count per sample.
        spacing: voxel size of the patch ``(z, y, x)`` in mm (the configuration's spacing).
        length_diameters: cut and fade length in local vessel diameters (default 1-4).

    Example:
        >>> import torch
        >>> img = torch.zeros(2, 16, 16, 40); img[1, 6:11, 6:11, 2:38] = 1
        >>> t = BreakSimulationTransform([-1], p_per_sample=1.0, n_breaks=(1, 1))
        >>> before = float(img[1].sum())
        >>> float(t(image=img)["image"][1].sum()) < before
        True
    """

    def __init__(
        self,
        vessel_channels: Sequence[int],
        *,
        p_per_sample: float = 0.5,
        n_breaks: tuple[int, int] = (1, 3),
        n_drop: tuple[int, int] = (0, 1),
        n_thin: tuple[int, int] = (0, 1),
        n_fade: tuple[int, int] = (0, 1),
        spacing: Sequence[float] = (1.0, 1.0, 1.0),
        length_diameters: tuple[float, float] = (1.0, 4.0),
    ) -> None:
        if not vessel_channels:
            raise ConfigurationError(
                f"vessel_channels must name at least one channel, got {vessel_channels!r}"
            )
        if not 0.0 <= float(p_per_sample) <= 1.0:
            raise ConfigurationError(f"p_per_sample must be in [0, 1], got {p_per_sample!r}")
        super().__init__()
        self.vessel_channels = [int(c) for c in vessel_channels]
        self.p_per_sample = float(p_per_sample)
        self.counts = {
            name: tuple(int(v) for v in _check_range(name, value, 0, 1000))
            for name, value in (
                ("n_breaks", n_breaks),
                ("n_drop", n_drop),
                ("n_thin", n_thin),
                ("n_fade", n_fade),
            )
        }
        self.spacing = tuple(float(s) for s in spacing)
        self.length_diameters = _check_range("length_diameters", length_diameters, 0.0, np.inf)

    def get_parameters(self, **data_dict) -> dict:
        return {
            "apply": bool(np.random.uniform() < self.p_per_sample),
            "seed": int(np.random.randint(0, 2**31 - 1)),
        }

    def _apply_to_image(self, img, **params):
        if not params["apply"]:
            return img
        import torch

        mask = (img[self.vessel_channels] > 0.5).any(dim=0).numpy()
        if not mask.any():
            return img
        rng = np.random.default_rng(params["seed"])
        counts = {k: int(rng.integers(lo, hi + 1)) for k, (lo, hi) in self.counts.items()}
        weights, _ = break_weights(
            mask,
            rng,
            counts["n_breaks"],
            n_drop=counts["n_drop"],
            n_thin=counts["n_thin"],
            n_fade=counts["n_fade"],
            spacing=self.spacing,
            length_diameters=self.length_diameters,
            min_length_mm=min(self.spacing),
        )
        w = torch.from_numpy(weights).to(img.dtype)
        for c in self.vessel_channels:
            img[c] = img[c] * w
        return img

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vessel_channels={self.vessel_channels}, p_per_sample={self.p_per_sample}, "
            f"counts={self.counts}, spacing={self.spacing}, length_diameters={self.length_diameters})"
        )
