"""Segmentation losses for vessel trees: pure torch, no nnU-Net import.

Public API:

- :func:`weighted_soft_dice` — soft Dice with per-voxel weights (centerline-weighted Dice when the weights
  come from :func:`nnunetv2_cta.transforms.targets.centerline_weight_map`).
- :func:`skeleton_recall_loss` — Kirchhoff et al., ECCV 2024.
- :func:`soft_skeleton`, :func:`soft_cldice_loss` — Shit et al., CVPR 2021.
- :func:`attenuated_class_weights` — cube-root attenuated inverse-frequency class weights for CE/BCE.
- :class:`CTALoss` — the compound loss the CTA trainers use (Dice + CE/BCE + optional topology term) for
  softmax or region (sigmoid) outputs, with the extra target channel split off the segmentation.
"""

from __future__ import annotations

from nnunetv2_cta.losses.class_weights import attenuated_class_weights
from nnunetv2_cta.losses.cldice import soft_cldice_loss, soft_skeleton
from nnunetv2_cta.losses.compound import CTALoss
from nnunetv2_cta.losses.dice import weighted_soft_dice
from nnunetv2_cta.losses.skeleton_recall import skeleton_recall_loss

__all__ = [
    "CTALoss",
    "attenuated_class_weights",
    "skeleton_recall_loss",
    "soft_cldice_loss",
    "soft_skeleton",
    "weighted_soft_dice",
]
