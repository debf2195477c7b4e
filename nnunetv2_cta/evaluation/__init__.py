"""Vessel segmentation metrics and folder evaluation (numpy/scipy only: no torch, no nnunetv2).

Per case and per region (:func:`evaluate_case`): Dice, IoU, precision, recall, volumes, HD95/ASSD in mm,
Betti-0/1/2 errors, clDice, breaks (gaps along the ground-truth centerline, with length in mm and location),
connected recall and the V-score. :func:`evaluate_folder` writes an nnU-Net style ``summary.json`` plus a CSV.
Each metric's definition and its empty-side convention are documented in its module.
"""

from nnunetv2_cta.evaluation.breaks import Break, connected_recall, find_breaks
from nnunetv2_cta.evaluation.case import DEFAULT_REGIONS, evaluate_case
from nnunetv2_cta.evaluation.centerline import SkeletonGraph, centerline_length, skeletonize
from nnunetv2_cta.evaluation.folder import evaluate_folder
from nnunetv2_cta.evaluation.overlap import dice, iou, overlap_metrics, precision, recall
from nnunetv2_cta.evaluation.surface import assd, hd95, surface_metrics
from nnunetv2_cta.evaluation.topology import betti_errors, betti_numbers, cldice, cldice_scores
from nnunetv2_cta.evaluation.vscore import load_graph, vscore, vscore_weights

__all__ = [
    "DEFAULT_REGIONS",
    "Break",
    "SkeletonGraph",
    "assd",
    "betti_errors",
    "betti_numbers",
    "centerline_length",
    "cldice",
    "cldice_scores",
    "connected_recall",
    "dice",
    "evaluate_case",
    "evaluate_folder",
    "find_breaks",
    "hd95",
    "iou",
    "load_graph",
    "overlap_metrics",
    "precision",
    "recall",
    "skeletonize",
    "surface_metrics",
    "vscore",
    "vscore_weights",
]
