"""Centerlines: voxel skeletons and the graph along them, with lengths in mm.

The skeleton is the 3D thinning of :func:`skimage.morphology.skeletonize` (Lee, Kashyap and Chu, 1994),
run on the bounding box of the mask only. Skeleton voxels are joined to their 26-neighbours; the edge
between two voxels is as long as the distance between their centres in mm (anisotropic spacing honoured).

Length along a skeleton: voxel skeletons contain small triangles at corners and junctions (a voxel
touching two neighbours that also touch each other), so summing all edges would count some steps twice.
:class:`SkeletonGraph` therefore keeps the minimum spanning forest of the 26-neighbour graph (the long
diagonal of each triangle goes; a real loop of the vessel loses only one of its steps) and gives every
voxel the length ``ℓ = ½ Σ (its spanning-forest edges)``. A straight run of n voxels with step s then has
``Σℓ = (n - 1) s``, and an interior stretch of k voxels has ``Σℓ = k s`` exactly. A voxel with no neighbour
(the skeleton of a tiny blob) gets the geometric mean of the spacing, so that it is not length-less.
"""

from __future__ import annotations

from functools import cached_property

import cc3d
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from skimage.morphology import skeletonize as _skimage_skeletonize

from nnunetv2_cta._arrays import as_spacing, bounding_box
from nnunetv2_cta.evaluation._crop import as_mask, padded

#: The 13 offsets of one half of the 26-neighbourhood (the other half is their negation).
HALF_NEIGHBOURHOOD: np.ndarray = np.array(
    [(dz, dy, dx) for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dz, dy, dx) > (0, 0, 0)],
    dtype=np.int64,
)


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Voxel skeleton (curve skeleton by 3D thinning) of a 3D mask, same shape, ``bool``.

    Every 26-connected component is thinned in its own bounding box (padded by one voxel). The thinning
    decides each voxel from its 26-neighbourhood, which holds voxels of its own component only, so the
    result equals thinning the whole volume at once, but the cost follows the structures: the scan of
    each thinning pass covers one component's box instead of the whole image, which matters when a small
    false-positive blob far away would otherwise make the box of a thick vessel tree the whole volume.
    """
    mask = as_mask(mask, "mask")
    out = np.zeros(mask.shape, dtype=bool)
    box = bounding_box(mask)
    if box is None:
        return out
    crop = padded(mask, box, 1)
    labels, n = cc3d.connected_components(crop, connectivity=26, return_N=True)
    if n == 1:
        out[box] = _skimage_skeletonize(crop).astype(bool, copy=False)[1:-1, 1:-1, 1:-1]
        return out
    result = np.zeros(crop.shape, dtype=bool)
    for label, sub in enumerate(cc3d.statistics(labels)["bounding_boxes"][1:], start=1):
        result[sub] |= skeletonize_component(labels[sub] == label)
    out[box] = result[1:-1, 1:-1, 1:-1]
    return out


def skeletonize_component(piece: np.ndarray) -> np.ndarray:
    """Skeleton of one 26-connected component given in its bounding box (``bool [z, y, x]``), same shape.

    What :func:`skeletonize` does to each component, for callers that already hold the components (e.g.
    from :func:`cc3d.connected_components` and :func:`cc3d.statistics`). A piece of one or two voxels is
    its own skeleton.
    """
    if piece.size == 1 or np.count_nonzero(piece) <= 2:
        return piece.copy()
    pad = np.zeros(tuple(k + 2 for k in piece.shape), dtype=bool)
    pad[1:-1, 1:-1, 1:-1] = piece
    return _skimage_skeletonize(pad).astype(bool, copy=False)[1:-1, 1:-1, 1:-1]


class SkeletonGraph:
    """The 26-neighbour graph of a voxel skeleton, its spanning forest and per-voxel lengths in mm.

    Args:
        skeleton: 3D boolean skeleton ``[z, y, x]``.
        spacing: ``(z, y, x)`` in mm.

    Attributes:
        coords: ``(N, 3)`` int64 voxel indices of the skeleton voxels (C order).
        edges: ``(E, 2)`` node pairs of every 26-neighbour pair, each pair once.
        edge_length: ``(E,)`` length of each edge in mm.
    """

    def __init__(self, skeleton: np.ndarray, spacing) -> None:
        skeleton = as_mask(skeleton, "skeleton")
        self.shape = skeleton.shape
        self.spacing = as_spacing(spacing)
        self.coords = np.argwhere(skeleton)
        linear = (
            np.ravel_multi_index(self.coords.T, self.shape) if len(self.coords) else np.zeros(0, np.int64)
        )
        edges, lengths = [], []
        step_mm = np.asarray(self.spacing)
        for offset in HALF_NEIGHBOURHOOD:
            target = self.coords + offset
            inside = np.all((target >= 0) & (target < np.asarray(self.shape)), axis=1)
            src = np.flatnonzero(inside)
            if src.size == 0:
                continue
            target_linear = np.ravel_multi_index(target[src].T, self.shape)
            pos = np.searchsorted(linear, target_linear)
            pos = np.minimum(pos, linear.size - 1)
            hit = linear[pos] == target_linear
            edges.append(np.stack([src[hit], pos[hit]], axis=1))
            lengths.append(np.full(int(hit.sum()), float(np.linalg.norm(offset * step_mm))))
        self.edges = np.concatenate(edges) if edges else np.zeros((0, 2), np.int64)
        self.edge_length = np.concatenate(lengths) if lengths else np.zeros(0)

    @property
    def num_nodes(self) -> int:
        return len(self.coords)

    def adjacency(self, mask: np.ndarray | None = None) -> sparse.csr_matrix:
        """Symmetric adjacency (edge lengths in mm) of all edges, or of edges between nodes in ``mask``."""
        e, w = self.edges, self.edge_length
        if mask is not None:
            keep = mask[e[:, 0]] & mask[e[:, 1]]
            e, w = e[keep], w[keep]
        n = self.num_nodes
        a = sparse.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
        return (a + a.T).tocsr()

    @cached_property
    def forest(self) -> sparse.csr_matrix:
        """Minimum spanning forest of the skeleton graph, symmetric, edge lengths in mm."""
        n = self.num_nodes
        if n == 0 or len(self.edges) == 0:
            return sparse.csr_matrix((n, n))
        # scipy drops explicit zeros; all edge lengths are > 0
        upper = sparse.coo_matrix(
            (self.edge_length, (self.edges[:, 0], self.edges[:, 1])), shape=(n, n)
        ).tocsr()
        mst = csgraph.minimum_spanning_tree(upper)
        return (mst + mst.T).tocsr()

    @cached_property
    def voxel_length(self) -> np.ndarray:
        """``(N,)`` centerline length in mm carried by each skeleton voxel (see the module docstring)."""
        n = self.num_nodes
        if n == 0:
            return np.zeros(0)
        lengths = 0.5 * np.asarray(self.forest.sum(axis=1)).ravel()
        lengths[lengths == 0] = float(np.prod(self.spacing)) ** (1.0 / 3.0)
        return lengths

    @cached_property
    def components(self) -> np.ndarray:
        """``(N,)`` component id of every skeleton voxel (26-connectivity)."""
        if self.num_nodes == 0:
            return np.zeros(0, np.int64)
        _, labels = csgraph.connected_components(self.forest, directed=False)
        return labels

    def length_mm(self, node_mask: np.ndarray | None = None) -> float:
        """Total centerline length in mm, of all voxels or of those where ``node_mask`` is true."""
        lengths = self.voxel_length
        return float(lengths.sum() if node_mask is None else lengths[node_mask].sum())

    def geodesic_from(self, sources: np.ndarray) -> np.ndarray:
        """``(N,)`` distance in mm along the spanning forest from the nearest of ``sources`` (node ids).

        Nodes in components without a source get ``inf``.
        """
        if self.num_nodes == 0:
            return np.zeros(0)
        return csgraph.dijkstra(self.forest, directed=False, indices=np.asarray(sources), min_only=True)


def centerline_length(mask: np.ndarray, spacing) -> float:
    """Length in mm of the skeleton of a 3D mask (see the module docstring for the definition)."""
    return SkeletonGraph(skeletonize(mask), spacing).length_mm()


class VesselPair:
    """Cropped ground truth and prediction of one structure with lazily computed, shared intermediates.

    :func:`~nnunetv2_cta.evaluation.evaluate_case` builds one per region and hands it to clDice, breaks,
    connected recall and the V-score, so skeletons and distance transforms are computed once. Every array
    here lives on the crop (bounding box of gt ∪ pred, padded by ``pad`` voxels); :attr:`offset` maps crop
    indices back to the full volume.

    With a ``parent`` (the pair of a union of regions that contains this one, e.g. all vessel labels), the
    skeletons are the parent's skeletons restricted to this region and the distance map is the parent's, so
    the expensive thinning runs once per side for all vessel regions, and a region's centerline has no
    artificial ends where the tree crosses into a neighbouring region.

    Args:
        gt_mask, pred_mask: 3D masks ``[z, y, x]`` of one shape.
        spacing: ``(z, y, x)`` in mm.
        pad: background margin around the crop, in voxels.
        parent: pair of a superset of both masks, same spacing and ``pad``.
    """

    def __init__(
        self,
        gt_mask: np.ndarray,
        pred_mask: np.ndarray,
        spacing,
        *,
        pad: int = 1,
        parent: VesselPair | None = None,
    ) -> None:
        from nnunetv2_cta.evaluation._crop import check_pair, crop_pair

        gt_mask, pred_mask = check_pair(gt_mask, pred_mask)
        self.spacing = as_spacing(spacing)
        self.full_shape = tuple(gt_mask.shape)
        crop = crop_pair(gt_mask, pred_mask, pad=pad)
        if crop is None:
            self.gt = np.zeros((0, 0, 0), bool)
            self.pred = np.zeros((0, 0, 0), bool)
            self.offset = (0, 0, 0)
        else:
            self.gt, self.pred, self.offset = crop.gt, crop.pred, crop.offset
        self.gt_empty = not self.gt.any()
        self.pred_empty = not self.pred.any()
        self._parent_box = None
        if parent is not None and crop is not None:
            start = np.asarray(self.offset) - np.asarray(parent.offset)
            stop = start + np.asarray(self.gt.shape)
            if np.all(start >= 0) and np.all(stop <= np.asarray(parent.gt.shape)):
                self._parent = parent
                self._parent_box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop))

    def _from_parent(self, name: str) -> np.ndarray | None:
        if self._parent_box is None:
            return None
        return getattr(self._parent, name)[self._parent_box]

    @cached_property
    def gt_skeleton(self) -> np.ndarray:
        inherited = self._from_parent("gt_skeleton")
        if inherited is not None:
            return inherited & self.gt
        return skeletonize(self.gt) if not self.gt_empty else np.zeros(self.gt.shape, bool)

    @cached_property
    def pred_skeleton(self) -> np.ndarray:
        inherited = self._from_parent("pred_skeleton")
        if inherited is not None:
            return inherited & self.pred
        return skeletonize(self.pred) if not self.pred_empty else np.zeros(self.pred.shape, bool)

    @cached_property
    def gt_graph(self) -> SkeletonGraph:
        return SkeletonGraph(self.gt_skeleton, self.spacing)

    @cached_property
    def gt_distance(self) -> np.ndarray:
        """Distance in mm from each ground-truth voxel to the background (float32, 0 outside).

        With a parent pair: the distance to the parent's background (the vessel continues across region
        borders, so this is the better local radius).
        """
        import edt

        inherited = self._from_parent("gt_distance")
        if inherited is not None:
            return inherited

        return edt.edt(self.gt, anisotropy=self.spacing, black_border=False, parallel=1)

    @cached_property
    def gt_radius(self) -> np.ndarray:
        """``(N,)`` local vessel radius in mm at each ground-truth skeleton voxel (distance to the wall)."""
        graph = self.gt_graph
        if graph.num_nodes == 0:
            return np.zeros(0)
        return self.gt_distance[tuple(graph.coords.T)].astype(np.float64)

    def to_full_index(self, index_zyx: np.ndarray) -> np.ndarray:
        """Crop indices ``(..., 3)`` -> full-volume indices."""
        return np.asarray(index_zyx) + np.asarray(self.offset)
