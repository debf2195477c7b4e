"""Run the CGPM on one case: patches around the first stage's vessel ends, then the bridge-only merge.

1. **Model grid.** The CGPM sees what it saw in training: the CT on its configuration's grid plus the first
   stage's label map as one-hot channels. ``predict`` hands over stage 1's own preprocessed CT and its
   prediction decoded on that grid (:class:`~nnunetv2_cta.inference.model.ModelGrid`), so nothing is
   preprocessed twice; otherwise (``repair`` on files) the CT and the stage-1 map are preprocessed together.
2. **Sites.** Patches centred on the dangling ends of the first stage's vessel skeleton
   (:mod:`nnunetv2_cta.cgpm.sites`); the network runs on those patches only
   (:meth:`~nnunetv2_cta.inference.model.StageModel.patch_logits`), not on a second full-volume pass.
3. **Merge.** The patch logits are exported to the image grid like stage 1's, and only bridges between
   first-stage vessel pieces, with contrast and off bone, are added (:func:`nnunetv2_cta.cgpm.merge.merge_cgpm`).
4. **Paths through the CGPM's vessel probability.** Where the network's own output does not join two pieces,
   facing vessel ends are joined along the minimal-cost path of
   :func:`~nnunetv2_cta.postprocessing.gap_bridging.bridge_gaps` with the cost ``1 / p`` of the CGPM's vessel
   probability ``p`` instead of the CT's HU (the network tells a faint artery from soft tissue, a vein or bone
   better than a HU band does); a path whose mean cost over its new voxels exceeds ``path_cost`` (mean
   probability below about ``1 / path_cost``) is refused, and so is any path through bone (CT ``>= bone_hu``
   or labelled bone). ``path_cost=None`` leaves this step out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from nnunetv2_cta.cgpm.merge import merge_cgpm
from nnunetv2_cta.cgpm.sites import facing_ends, patch_boxes, vessel_ends
from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.labels import VESSEL_LABELS
from nnunetv2_cta.postprocessing.repair_record import RepairedGap

logger = logging.getLogger(__name__)

SITES = ("facing", "all")


@dataclass
class CGPMResult:
    """What the CGPM did to one case.

    Attributes:
        labels: the repaired label map (image grid).
        gaps: the bridges it added.
        num_ends: dangling vessel ends found in the first stage (candidate break sites).
        num_patches: patches the network ran on.
        seconds: time of ``cgpm_sites``, ``cgpm_network``, ``cgpm_export``, ``cgpm_merge``, ``cgpm_paths``
            (and ``cgpm_preprocess`` when it preprocessed).
        note: why nothing was done, when nothing was.
    """

    labels: np.ndarray
    gaps: list[RepairedGap] = field(default_factory=list)
    num_ends: int = 0
    num_patches: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    note: str | None = None


def repair_with_cgpm(
    cgpm,
    ct: np.ndarray,
    geometry: Geometry,
    stage1: np.ndarray,
    *,
    stage1_grid=None,
    bone_hu: float = 700.0,
    sites: str = "facing",
    max_mean_cost: float = 1.5,
    path_cost: float | None = 1.5,
    path_hu: bool = True,
) -> CGPMResult:
    """Repair ``stage1`` (label map on the CT's grid) with the CGPM ``cgpm`` (a ``StageModel``).

    Args:
        cgpm: the loaded CGPM model.
        ct: the CT ``[z, y, x]`` in HU.
        geometry: its geometry.
        stage1: the first stage's label map on the same grid.
        stage1_grid: stage 1's :class:`~nnunetv2_cta.inference.model.ModelGrid` with ``labels`` set
            (``StageModel.predict(keep=True)``); used when the CGPM's grid is stage 1's.
        bone_hu: CT value at and above which nothing is added.
        sites: ``"facing"``: patches only around vessel ends that face another vessel piece within a
            quarter patch (:func:`~nnunetv2_cta.cgpm.sites.facing_ends`); ``"all"``: around every end.
        max_mean_cost: contrast rule of the merge (:func:`~nnunetv2_cta.cgpm.merge.merge_cgpm`).
        path_cost: largest mean ``1 / p`` along a path of step 4 (``None``: no paths).
        path_hu: a voxel's path cost is the lower of ``1 / p`` and the CT's HU cost
            (:func:`~nnunetv2_cta.postprocessing.gap_bridging.hu_cost`): a path the HU band or the network vouches for.

    Raises:
        GeometryError: ``stage1`` is not on the CT's grid (both shapes named).
    """
    import torch
    from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot

    if stage1.shape != ct.shape:
        raise GeometryError(
            f"stage-1 label map has shape {tuple(stage1.shape)} (z, y, x), the CT {tuple(ct.shape)}: they must "
            "share one grid"
        )
    seconds: dict[str, float] = {}
    if not np.isin(stage1, VESSEL_LABELS).any():
        return CGPMResult(stage1.copy(), note="stage 1 found no vessel: nothing to repair")
    t0 = time.perf_counter()
    if stage1_grid is not None and stage1_grid.labels is not None and _same_grid(cgpm, stage1_grid):
        onehot = convert_labelmap_to_one_hot(
            np.asarray(stage1_grid.labels), cgpm.label_manager.foreground_labels, np.float32
        )
        data = torch.cat((stage1_grid.data[:1].float(), torch.from_numpy(onehot)))
        props, previous = stage1_grid.props, stage1_grid.labels
    else:
        if stage1_grid is not None:
            logger.info(
                "CGPM: stage 1's grid differs from the CGPM's configuration; preprocessing the CT again"
            )
        grid = cgpm.preprocess(ct, geometry, previous=stage1)
        data, props, previous = grid.data, grid.props, grid.previous
        seconds["cgpm_preprocess"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if sites not in SITES:
        raise ConfigurationError(f"sites must be one of {SITES}, got {sites!r}")
    vessel = np.isin(previous, VESSEL_LABELS)
    patch = [int(p) for p in cgpm.predictor.configuration_manager.patch_size]
    ends = vessel_ends(vessel)
    if sites == "facing":
        ends = facing_ends(vessel, ends, radius=min(patch) // 4)
    boxes = patch_boxes(ends, previous.shape, patch)
    seconds["cgpm_sites"] = time.perf_counter() - t0
    if not boxes:
        return CGPMResult(stage1.copy(), num_ends=len(ends), seconds=seconds, note="no dangling vessel end")
    t0 = time.perf_counter()
    logits, _ = cgpm.patch_logits(data, boxes)
    seconds["cgpm_network"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prediction = cgpm.export(logits, props)
    probability = None
    if path_cost is not None:
        probability = cgpm.export_values(cgpm.vessel_probability(logits), props)
    del logits
    seconds["cgpm_export"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels, gaps = merge_cgpm(stage1, prediction, ct, geometry, bone_hu=bone_hu, max_mean_cost=max_mean_cost)
    seconds["cgpm_merge"] = time.perf_counter() - t0
    if probability is not None:
        from nnunetv2_cta.postprocessing.gap_bridging import IMPASSABLE, bridge_gaps, hu_cost

        t0 = time.perf_counter()
        cost = np.minimum(1.0 / np.maximum(probability, 1.0 / IMPASSABLE), IMPASSABLE).astype(np.float32)
        if path_hu:
            cost = np.minimum(cost, hu_cost(ct, bone_hu=bone_hu))
        del probability
        labels, paths = bridge_gaps(labels, ct, geometry, bone_hu=bone_hu, max_mean_cost=path_cost, cost=cost)
        gaps = gaps + paths
        seconds["cgpm_paths"] = time.perf_counter() - t0
    logger.info("CGPM: %d vessel end(s), %d patch(es), %d bridge(s)", len(ends), len(boxes), len(gaps))
    return CGPMResult(labels, gaps, len(ends), len(boxes), {k: round(v, 3) for k, v in seconds.items()})


def _same_grid(cgpm, grid) -> bool:
    """True when the CGPM's configuration preprocesses like the stage that made ``grid`` (spacing, normalisation)."""
    cm = cgpm.predictor.configuration_manager
    made = grid.props.get("model_grid") or {}
    return made.get("spacing") == [float(s) for s in cm.spacing] and made.get("normalization") == list(
        cm.normalization_schemes
    )
