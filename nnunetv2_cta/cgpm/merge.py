"""Merge the CGPM's prediction into the first stage: only bridges between first-stage vessel pieces are added.

Rules (the first CGPM issue's "must not erase correct vessels, must not grow into bone or veins, keep the
label scheme"): only voxels that are background in stage 1, below ``bone_hu`` in the CT, vessel in the
prediction, and that belong to a connected piece of such voxels touching at least two different stage-1
vessel components (a bridge) are added, with the prediction's label; a piece longer than ``max_bridge_mm``
or without contrast (mean HU cost as in the gap-bridging baseline) is refused, so an untrained or flooding
model adds nothing and an occlusion (no contrast) is not bridged. Stage-1 voxels are never changed. A
bridge inside a loop (one component on both sides) is therefore not added; the baseline handles that case.
"""

from __future__ import annotations

import logging

import cc3d
import numpy as np
from scipy import ndimage

from nnunetv2_cta.evaluation.centerline import SkeletonGraph, skeletonize
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.labels import VESSEL_LABELS
from nnunetv2_cta.postprocessing.gap_bridging import hu_cost
from nnunetv2_cta.postprocessing.repair_record import RepairedGap

logger = logging.getLogger(__name__)


def merge_cgpm(
    stage1: np.ndarray,
    prediction: np.ndarray,
    image: np.ndarray | None,
    geometry: Geometry,
    *,
    bone_hu: float = 700.0,
    max_bridge_mm: float = 30.0,
    max_mean_cost: float = 1.5,
) -> tuple[np.ndarray, list[RepairedGap]]:
    """Add the CGPM's bridges to ``stage1`` (rules in the module docstring); returns ``(labels, gaps)``.

    A candidate piece is also refused when its bounding box diagonal exceeds ``max_bridge_mm`` (a bridge is
    short; a flood is not) or, with an image, when its mean :func:`~.gap_bridging.hu_cost` exceeds
    ``max_mean_cost`` (mostly no contrast), the same test as the baseline's.
    """
    vessel1 = np.isin(stage1, VESSEL_LABELS)
    comp1 = cc3d.connected_components(vessel1, connectivity=26)
    cand = (stage1 == 0) & np.isin(prediction, VESSEL_LABELS)
    if image is not None:
        cand &= image < bone_hu
    out = stage1.copy()
    gaps: list[RepairedGap] = []
    if not cand.any():
        return out, gaps
    pieces = cc3d.connected_components(cand, connectivity=26)
    stats = cc3d.statistics(pieces)
    for k, box in enumerate(stats["bounding_boxes"][1:], start=1):
        if box is None:
            continue
        lo = [max(s.start - 1, 0) for s in box]
        hi = [min(s.stop + 1, n) for s, n in zip(box, stage1.shape)]
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        piece = pieces[sl] == k
        grown = ndimage.binary_dilation(piece, structure=np.ones((3, 3, 3), bool))  # 26-neighbours
        touched = np.unique(comp1[sl][grown & vessel1[sl]])
        touched = touched[touched > 0]
        if touched.size < 2:
            continue
        extent = np.linalg.norm(np.array([s.stop - s.start for s in box]) * np.asarray(geometry.spacing))
        if extent > max_bridge_mm:
            logger.debug(
                "refused CGPM piece of %d voxels: extent %.1f mm > %.1f mm",
                piece.sum(),
                extent,
                max_bridge_mm,
            )
            continue
        if image is not None and float(hu_cost(image[sl][piece], bone_hu=bone_hu).mean()) > max_mean_cost:
            logger.debug("refused CGPM piece of %d voxels: no contrast", piece.sum())
            continue
        values = prediction[sl][piece]
        label = int(np.bincount(values, minlength=max(VESSEL_LABELS) + 1)[list(VESSEL_LABELS)].argmax())
        label = VESSEL_LABELS[label]
        out[sl][piece] = prediction[sl][piece]
        coords = np.argwhere(piece) + np.array(lo)
        centre = coords.mean(axis=0)
        central = tuple(int(v) for v in coords[int(np.argmin(((coords - centre) ** 2).sum(axis=1)))])
        gaps.append(
            RepairedGap(
                index_zyx=central,  # type: ignore[arg-type]
                world_xyz=tuple(float(v) for v in geometry.index_to_world(central)),  # type: ignore[arg-type]
                length_mm=_piece_length(pieces == k, vessel1, box, geometry.spacing),
                label=label,
                num_voxels=int(piece.sum()),
            )
        )
    return out, gaps


def _piece_length(
    piece: np.ndarray, vessel: np.ndarray, box: tuple[slice, ...], spacing, margin: int = 8
) -> float:
    """Centerline length (mm) inside ``piece`` of the skeleton of ``piece | vessel`` around ``box`` (the gap
    it fills; ``margin`` voxels of context keep the skeleton's shortened ends out of the piece)."""
    wide = tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(box, piece.shape))
    piece = piece[wide]
    graph = SkeletonGraph(skeletonize(piece | vessel[wide]), spacing)
    if graph.num_nodes == 0:
        return 0.0
    return graph.length_mm(piece[tuple(graph.coords.T)])
