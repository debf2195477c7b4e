"""Breaks (gaps) in a predicted vessel tree, and connected recall.

**Break.** Take the ground-truth centerline (voxel skeleton, :mod:`.centerline`). A centerline voxel is
*covered* when the prediction contains it. A maximal run of uncovered centerline voxels (26-connected along
the skeleton) is a *gap candidate*. It is a **break** when

1. it touches the covered centerline on at least two sides, i.e. its covered 26-neighbours on the skeleton
   belong to at least two different pieces of covered centerline inside the run's neighbourhood box
   (so a cut in a loop counts as well), and
2. the prediction does not connect those sides inside the same box (26-connectivity).

The *neighbourhood box* is the bounding box of the run and its covered neighbours, grown on every side by
the largest ground-truth vessel radius along the run plus one voxel.

Consequences, all deliberate:

- consecutive uncovered centerline voxels form one break, however long; a run at a junction that touches
  three covered branches is still one break (``sides`` = 3);
- a missing distal end (uncovered up to the tip of a branch) touches the covered tree on one side only and
  is **not** a break; it lowers recall, centerline sensitivity and connected recall instead. A branch that is
  missing entirely is not a break either;
- **jitter tolerance**: a ground-truth centerline voxel can fall just outside a prediction that is thinner or
  slightly shifted while the predicted vessel continues. Rule 2 discards such runs, because the prediction
  still connects both sides around them. This is the documented tolerance; it needs no distance threshold,
  so a real cut only one slice thick is still found (a fixed tolerance of one voxel would hide it). A
  prediction that is displaced but continuous over a long stretch is likewise not a break;
- two sides joined by the prediction only through another vessel that passes through the box would hide
  the break; with a box of one vessel radius this needs two vessels touching.

The **length** of a break is the centerline length (mm) carried by its uncovered voxels, each voxel
carrying half of its spanning-forest edges (:class:`.centerline.SkeletonGraph`). For a straight vessel cut
by k missing slices of thickness s this is exactly k·s, the length of the missing piece. The **location**
is the run's voxel nearest to the run's centroid, as a full-volume index (z, y, x) and, when a
:class:`~nnunetv2_cta.io.Geometry` is given, in world coordinates (mm, ITK x, y, z).

**Connected recall**: the fraction of ground-truth centerline length (mm) that lies inside one connected
piece of the prediction: for every 26-connected component of the ground truth, the centerline length
covered by the single prediction component (26-connected) that covers most of it, summed and divided by
the total centerline length. For a ground truth that is one connected tree this is the fraction of its
centerline inside the prediction's main component (the "largest connected vessel component" of the issue,
with "largest" measured by covered centerline rather than by voxels, so a big false-positive blob does not
take its place); a ground truth of several pieces (e.g. a region of interest that cuts the tree) scores 1.0
when predicted perfectly. A tree broken into pieces keeps its voxel recall but loses connected recall.
Empty ground truth: 1.0 if the prediction is empty too, else 0.0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cc3d
import numpy as np
from scipy.sparse import csgraph

from nnunetv2_cta._arrays import as_spacing
from nnunetv2_cta.errors import GeometryError
from nnunetv2_cta.evaluation.centerline import VesselPair


@dataclass(frozen=True)
class Break:
    """One gap in the predicted vessel.

    Attributes:
        index_zyx: voxel index (z, y, x) in the full volume of the gap's central centerline voxel.
        world_xyz: the same point in world mm (ITK x, y, z), or ``None`` when no geometry was given.
        length_mm: centerline length of the gap in mm.
        num_voxels: number of uncovered centerline voxels in the gap.
        sides: number of separate covered centerline pieces the gap touches (2 for a simple cut).
    """

    index_zyx: tuple[int, int, int]
    world_xyz: tuple[float, float, float] | None
    length_mm: float
    num_voxels: int
    sides: int

    def to_dict(self) -> dict:
        out = asdict(self)
        out["index_zyx"] = list(self.index_zyx)
        out["world_xyz"] = None if self.world_xyz is None else list(self.world_xyz)
        return out


def _pair(gt_mask, pred_mask, spacing, context: VesselPair | None) -> VesselPair:
    if context is not None:
        return context
    return VesselPair(gt_mask, pred_mask, spacing)


def find_breaks(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    spacing,
    geometry=None,
    *,
    context: VesselPair | None = None,
) -> list[Break]:
    """Find the gaps of ``pred_mask`` along the centerline of ``gt_mask`` (definition in the module docstring).

    Args:
        gt_mask, pred_mask: 3D masks ``[z, y, x]`` of one shape (non-zero = vessel).
        spacing: voxel size ``(z, y, x)`` in mm.
        geometry: optional :class:`nnunetv2_cta.io.Geometry` of the volume, for world coordinates; its
            spacing must equal ``spacing``.
        context: precomputed :class:`.centerline.VesselPair` of the same masks (used by ``evaluate_case``).

    Returns:
        The breaks, sorted by their index (z, y, x).

    Example:
        A straight tube along x at spacing (1, 1, 0.5) mm with 4 x-columns of the prediction removed gives
        one break with ``length_mm == 2.0``.
    """
    spacing = as_spacing(spacing)
    if geometry is not None and not np.allclose(geometry.spacing, spacing, rtol=1e-5, atol=1e-6):
        raise GeometryError(f"geometry spacing {geometry.spacing} != spacing {spacing}")
    pair = _pair(gt_mask, pred_mask, spacing, context)
    if pair.gt_empty:
        return []
    graph = pair.gt_graph
    if graph.num_nodes == 0:
        return []
    coords = graph.coords
    covered = pair.pred[tuple(coords.T)]
    uncovered = ~covered
    if not uncovered.any() or not covered.any():
        return []

    # runs of uncovered centerline voxels
    _, run_of_node = csgraph.connected_components(graph.adjacency(uncovered), directed=False)
    edges = graph.edges
    crossing = covered[edges[:, 0]] != covered[edges[:, 1]]
    border = edges[crossing]
    first_covered = covered[border[:, 0]]
    unc_end = np.where(first_covered, border[:, 1], border[:, 0])
    cov_end = np.where(first_covered, border[:, 0], border[:, 1])
    if unc_end.size == 0:
        return []
    border_run = run_of_node[unc_end]

    # covered centerline as a crop-sized mask, for the side count
    covered_skeleton = np.zeros(pair.gt.shape, dtype=bool)
    covered_skeleton[tuple(coords[covered].T)] = True
    radius = pair.gt_radius
    spacing_arr = np.asarray(spacing)
    shape = np.asarray(pair.gt.shape)

    uncovered_nodes = np.flatnonzero(uncovered)
    order = np.argsort(run_of_node[uncovered_nodes], kind="stable")
    sorted_nodes = uncovered_nodes[order]
    sorted_runs = run_of_node[sorted_nodes]
    run_ids, starts = np.unique(sorted_runs, return_index=True)
    run_members = dict(zip(run_ids.tolist(), np.split(sorted_nodes, starts[1:])))

    breaks: list[Break] = []
    for run_id in np.unique(border_run).tolist():
        members = run_members[run_id]
        neighbours = np.unique(cov_end[border_run == run_id])
        pts = np.concatenate([coords[members], coords[neighbours]])
        margin = np.ceil(radius[members].max() / spacing_arr).astype(np.int64) + 1
        lo = np.maximum(pts.min(axis=0) - margin, 0)
        hi = np.minimum(pts.max(axis=0) + margin + 1, shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        local = tuple((coords[neighbours] - lo).T)

        side_labels = cc3d.connected_components(covered_skeleton[box], connectivity=26)[local]
        sides = int(np.unique(side_labels[side_labels > 0]).size)
        if sides < 2:
            continue  # a missing tip or a run that hangs off one piece: not a break
        pred_labels = cc3d.connected_components(pair.pred[box], connectivity=26)[local]
        if np.unique(pred_labels).size < 2:
            continue  # the prediction joins the sides around the run: jitter, not a break

        member_mm = coords[members] * spacing_arr
        centre = member_mm.mean(axis=0)
        central = members[int(np.argmin(((member_mm - centre) ** 2).sum(axis=1)))]
        index = tuple(int(v) for v in pair.to_full_index(coords[central]))
        world = None
        if geometry is not None:
            world = tuple(float(v) for v in geometry.index_to_world(index))
        breaks.append(
            Break(
                index_zyx=index,  # type: ignore[arg-type]
                world_xyz=world,  # type: ignore[arg-type]
                length_mm=float(graph.voxel_length[members].sum()),
                num_voxels=int(members.size),
                sides=sides,
            )
        )
    return sorted(breaks, key=lambda b: b.index_zyx)


def connected_recall(
    gt_mask: np.ndarray,
    pred_mask: np.ndarray,
    spacing,
    *,
    context: VesselPair | None = None,
) -> float:
    """Fraction of ground-truth centerline length inside one connected piece of the prediction.

    Definition in the module docstring.

    Args:
        gt_mask, pred_mask: 3D masks ``[z, y, x]`` of one shape.
        spacing: voxel size ``(z, y, x)`` in mm.
        context: precomputed :class:`.centerline.VesselPair` of the same masks.

    Returns:
        A value in [0, 1]; 1.0 when both masks are empty, 0.0 when only one is.
    """
    spacing = as_spacing(spacing)
    pair = _pair(gt_mask, pred_mask, spacing, context)
    if pair.gt_empty or pair.pred_empty:
        return 1.0 if pair.gt_empty and pair.pred_empty else 0.0
    graph = pair.gt_graph
    total = graph.length_mm()
    if total <= 0:
        return 0.0
    nodes = tuple(graph.coords.T)
    gt_comp = cc3d.connected_components(pair.gt, connectivity=26)[nodes].astype(np.int64)
    pred_labels, n_pred = cc3d.connected_components(pair.pred, connectivity=26, return_N=True)
    pred_comp = pred_labels[nodes].astype(np.int64)
    del pred_labels
    inside = pred_comp > 0
    if not inside.any():
        return 0.0
    keys = gt_comp[inside] * (int(n_pred) + 1) + pred_comp[inside]
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    covered = np.bincount(inverse, weights=graph.voxel_length[inside])
    best = np.zeros(int(gt_comp.max()) + 1)
    np.maximum.at(best, unique_keys // (int(n_pred) + 1), covered)
    value = float(best.sum() / total)
    return 1.0 if abs(value - 1.0) < 1e-9 else value  # summation order makes a perfect score 1 ± 1 ulp
