"""All metrics of one case, per label or region.

A *region* is a named set of label values evaluated as one binary mask; the defaults follow the label scheme
of :mod:`nnunetv2_cta.labels`: ``bone`` (1), ``aorta`` (2), ``carotid`` (3), ``intracranial`` (4) and
``vessels`` (2, 3, 4). Every region gets the overlap metrics (:mod:`.overlap`), surface distances
(:mod:`.surface`) and Betti-0 (:mod:`.topology`). Regions made only of vessel labels also get Betti-1 and
Betti-2 (loops and cavities of bone are anatomy, not errors worth the cost of an Euler characteristic of the
whole skull), clDice, breaks and their total length, connected recall, ground-truth centerline length and
the V-score
(:mod:`.breaks`, :mod:`.vscore`). The centerline of a vessel region is the skeleton of the union of all
vessel regions restricted to that region (one thinning per side for the whole tree, and no artificial
centerline ends where a vessel crosses from one region into the next); its local radius is measured in the
union as well.

Every region also gets two flags, ``empty_reference`` and ``empty_prediction`` (1 when that side has no
voxel of the region, else 0), so an empty side is never mistaken for a result. Where a definition has no
value (an empty side) the documented convention of the metric's module is used and a WARNING names the case
and the region; an empty ground truth is legal (e.g. a scan without bone) and is reported the same way. The
exceptions are ``breaks`` and ``break_length_mm``: a break is a gap *between* predicted pieces of a
ground-truth vessel, so with an empty prediction or an empty ground truth there is nothing to count, and
both are left out of the region's metrics (not applicable) instead of a "0 breaks" that would read as
perfect. Every metric present is a finite number.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError
from nnunetv2_cta.evaluation.breaks import connected_recall, find_breaks
from nnunetv2_cta.evaluation.centerline import VesselPair
from nnunetv2_cta.evaluation.overlap import overlap_metrics
from nnunetv2_cta.evaluation.surface import surface_metrics
from nnunetv2_cta.evaluation.topology import betti_errors, cldice_scores
from nnunetv2_cta.evaluation.vscore import load_graph, vscore
from nnunetv2_cta.labels import LABELS, VESSEL_LABELS

logger = logging.getLogger(__name__)

#: Default regions: name -> label values evaluated together.
DEFAULT_REGIONS: dict[str, tuple[int, ...]] = {
    "bone": (1,),
    "aorta": (2,),
    "carotid": (3,),
    "intracranial": (4,),
    "vessels": tuple(VESSEL_LABELS),
}
DEFAULT_LABELS: tuple[int, ...] = tuple(LABELS.values())

#: Metrics computed for every region, and the extra ones of vessel regions (in output order).
BASE_METRICS: tuple[str, ...] = (
    "dice", "iou", "precision", "recall",
    "volume_ref_ml", "volume_pred_ml", "volume_difference_ml",
    "hd95_mm", "hd_mm", "assd_mm",
    "betti0_ref", "betti0_pred", "betti0_error",
    "tp", "fp", "fn", "n_ref", "n_pred", "empty_reference", "empty_prediction",
)  # fmt: skip
VESSEL_METRICS: tuple[str, ...] = (
    "betti1_ref", "betti1_pred", "betti1_error",
    "betti2_ref", "betti2_pred", "betti2_error",
    "cldice", "cl_precision", "cl_sensitivity",
    "breaks", "break_length_mm", "connected_recall", "centerline_length_ref_mm", "vscore",
)  # fmt: skip
#: Metrics left out (not applicable) when the prediction or the ground truth of a vessel region is empty.
NOT_APPLICABLE_WHEN_EMPTY: tuple[str, ...] = ("breaks", "break_length_mm")


def normalize_regions(
    regions: Mapping[str, Iterable[int]] | None, labels: Iterable[int] = DEFAULT_LABELS
) -> dict[str, tuple[int, ...]]:
    """Check a ``{name: label values}`` mapping against the declared labels and return it as tuples.

    Raises:
        ConfigurationError: no regions, an empty region, background (0) or an undeclared label in a region.
    """
    declared = {int(v) for v in labels}
    regions = DEFAULT_REGIONS if regions is None else regions
    if not regions:
        raise ConfigurationError("regions must name at least one region, got an empty mapping")
    out: dict[str, tuple[int, ...]] = {}
    for name, values in regions.items():
        values = tuple(sorted({int(v) for v in values}))
        if not values:
            raise ConfigurationError(f"region {name!r} must contain at least one label value, got none")
        if 0 in values:
            raise ConfigurationError(f"region {name!r} must not contain the background label 0, got {values}")
        undeclared = sorted(set(values) - declared)
        if undeclared:
            raise ConfigurationError(
                f"region {name!r} uses label values {undeclared} that are not among the declared labels "
                f"{sorted(declared)}"
            )
        out[str(name)] = values
    return out


def check_label_map(array: np.ndarray, allowed: Iterable[int], *, what: str) -> None:
    """Raise :class:`DatasetFormatError` if ``array`` is not an integer label map with values in ``allowed``.

    Counts the allowed values with one comparison pass each (no sort of the whole volume) and lists the
    offending values only when there are some.
    """
    if array.dtype.kind not in "biu":
        if array.dtype.kind != "f" or not np.all(np.mod(array, 1) == 0):
            raise DatasetFormatError(f"{what}: must be an integer label map, got dtype {array.dtype}")
    allowed = sorted({int(v) for v in allowed})
    n_allowed = sum(int(np.count_nonzero(array == v)) for v in allowed)
    if n_allowed != array.size:
        bad = np.unique(array[~np.isin(array, allowed)])
        shown = [int(v) if float(v).is_integer() else float(v) for v in bad[:10]]
        raise DatasetFormatError(f"{what}: label values {shown} are not among the declared labels {allowed}")


def _region_mask(array: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    mask = array == values[0]
    for v in values[1:]:
        mask |= array == v
    return mask


def evaluate_case(
    gt: np.ndarray,
    pred: np.ndarray,
    geometry,
    *,
    labels: Iterable[int] = DEFAULT_LABELS,
    regions: Mapping[str, Iterable[int]] | None = None,
    graph: dict | str | os.PathLike | None = None,
    pred_geometry=None,
    case: str = "case",
    vessel_labels: Iterable[int] = VESSEL_LABELS,
) -> dict:
    """Evaluate one predicted label map against its ground truth.

    Args:
        gt, pred: integer label maps ``[z, y, x]`` of one shape.
        geometry: :class:`nnunetv2_cta.io.Geometry` of the ground truth (spacing in mm, z, y, x).
        labels: every label value that may occur (background 0 included); other values are an error.
        regions: ``{name: label values}``; default :data:`DEFAULT_REGIONS`.
        graph: the case's vessel graph (dict from :func:`~.vscore.load_graph` or a path to the JSON) for the
            V-score weights; ``None``: weights from the label map.
        pred_geometry: geometry of the prediction; when given it must match ``geometry``.
        case: case name used in errors and warnings.
        vessel_labels: label values that are vessels; regions made only of them get the vessel metrics
            (default 2, 3, 4 of our scheme; e.g. all labels for a TopCoW multiclass map).

    Returns:
        ``{"metrics": {region: {metric: number}}, "breaks": {region: [Break.to_dict(), ...]}}``, with
        ``breaks`` for vessel regions only; ``metrics[region]`` has no ``"breaks"`` and ``"break_length_mm"``
        (not applicable) when either side of the region is empty (module docstring). Metric names: :data:`BASE_METRICS`, plus :data:`VESSEL_METRICS`
        for regions whose labels are all in ``vessel_labels``.

    Raises:
        GeometryError: shape or grid mismatch. DatasetFormatError: label values outside ``labels``.
        ConfigurationError: bad ``regions``.
    """
    spacing = tuple(geometry.spacing)
    labels = tuple(sorted({int(v) for v in labels} | {0}))
    regions = normalize_regions(regions, labels)
    vessel_set = {int(v) for v in vessel_labels}
    gt, pred = _checked_pair(gt, pred, geometry, pred_geometry, labels, case)
    if isinstance(graph, (str, os.PathLike)):
        graph = load_graph(graph)

    # one shared pair for the union of all vessel regions: skeletons and distances are computed once
    vessel_union = tuple(sorted({v for vals in regions.values() if set(vals) <= vessel_set for v in vals}))
    union_pair = None
    if vessel_union:
        union_pair = VesselPair(_region_mask(gt, vessel_union), _region_mask(pred, vessel_union), spacing)

    metrics: dict[str, dict[str, float | int]] = {}
    breaks: dict[str, list[dict]] = {}
    for name, values in regions.items():
        if union_pair is not None and values == vessel_union:
            pair = union_pair
        else:
            is_vessel = set(values) <= vessel_set
            gt_mask, pred_mask = _region_mask(gt, values), _region_mask(pred, values)
            pair = VesselPair(gt_mask, pred_mask, spacing, parent=union_pair if is_vessel else None)
            del gt_mask, pred_mask
        if pair.gt_empty or pair.pred_empty:
            _warn_empty_side(pair, case, name)
        m: dict[str, float | int] = {
            "empty_reference": int(pair.gt_empty),
            "empty_prediction": int(pair.pred_empty),
        }
        m.update(overlap_metrics(pair.gt, pair.pred, spacing))
        m.update(_surface(pair, spacing))
        is_vessel = set(values) <= vessel_set
        m.update(betti_errors(pair.gt, pair.pred, orders=(0, 1, 2) if is_vessel else (0,)))
        if is_vessel:
            m.update(
                cldice_scores(
                    pair.gt, pair.pred, gt_skeleton=pair.gt_skeleton, pred_skeleton=pair.pred_skeleton
                )
            )
            if pair.gt_empty or pair.pred_empty:  # no gap between predicted pieces: breaks not applicable
                found = []
            else:
                found = [  # indices are full-volume: the pair knows its offset
                    b.to_dict() for b in find_breaks(pair.gt, pair.pred, spacing, geometry, context=pair)
                ]
                m["breaks"] = len(found)
                m["break_length_mm"] = float(sum(b["length_mm"] for b in found))
            m["connected_recall"] = connected_recall(pair.gt, pair.pred, spacing, context=pair)
            m["centerline_length_ref_mm"] = pair.gt_graph.length_mm() if not pair.gt_empty else 0.0
            m["vscore"] = vscore(
                pair.gt, pair.pred, spacing, graph=graph, geometry=geometry, labels=values, context=pair
            )
            breaks[name] = found
        order = BASE_METRICS + VESSEL_METRICS
        metrics[name] = {k: _finite(m[k], case, name, k) for k in order if k in m}
    return {"metrics": metrics, "breaks": breaks}


def _checked_pair(gt, pred, geometry, pred_geometry, labels: tuple[int, ...], case: str):
    """``gt`` and ``pred`` as arrays after checking shape, grid and label values (errors name the case)."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.ndim != 3:
        raise GeometryError(f"case {case!r}: ground truth must be a 3D [z, y, x] array, got shape {gt.shape}")
    if pred.shape != gt.shape:
        raise GeometryError(f"case {case!r}: prediction shape {pred.shape} != ground-truth shape {gt.shape}")
    if pred_geometry is not None:
        diff = geometry.mismatch(pred_geometry)
        if diff is not None:
            raise GeometryError(f"case {case!r}: prediction {diff} (ground truth)")
    check_label_map(gt, labels, what=f"case {case!r} ground truth")
    check_label_map(pred, labels, what=f"case {case!r} prediction")
    return gt, pred


def _warn_empty_side(pair: VesselPair, case: str, name: str) -> None:
    which = (
        "ground truth and prediction are"
        if pair.gt_empty and pair.pred_empty
        else ("ground truth is" if pair.gt_empty else "prediction is")
    )
    logger.warning(
        "case %r, region %r: %s empty; using the documented empty-side values "
        "(Dice 1 if both empty else 0, HD95/ASSD 0 mm if both empty else the image diagonal; "
        "breaks not applicable)",
        case, name, which,
    )  # fmt: skip


def _surface(pair: VesselPair, spacing) -> dict[str, float]:
    from nnunetv2_cta.evaluation._crop import image_diagonal_mm

    if pair.gt_empty or pair.pred_empty:
        value = 0.0 if pair.gt_empty and pair.pred_empty else image_diagonal_mm(pair.full_shape, spacing)
        return {"hd95_mm": value, "hd_mm": value, "assd_mm": value}
    return surface_metrics(pair.gt, pair.pred, spacing)


def _finite(value, case: str, region: str, key: str):
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    if not math.isfinite(value):  # a bug, never an input problem: every convention above is finite
        raise RuntimeError(f"case {case!r}, region {region!r}: metric {key!r} is {value}")
    return value
