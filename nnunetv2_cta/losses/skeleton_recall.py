"""Skeleton recall loss (Kirchhoff et al., "Skeleton Recall Loss for Connectivity Conserving and Resource
Efficient Segmentation of Thin Tubular Structures", ECCV 2024), reimplemented from the paper."""

from __future__ import annotations

import torch

from nnunetv2_cta.errors import ConfigurationError


def skeleton_recall_loss(
    probs: torch.Tensor,
    skeleton: torch.Tensor,
    *,
    batch_dice: bool = False,
    smooth: float = 1e-5,
) -> torch.Tensor:
    """``1 - soft recall`` of the ground-truth (tubed) skeleton, per channel, averaged.

    ``recall_c = (Σ p_c S_c + smooth) / (Σ S_c + smooth)``. The paper computes the skeleton of each class on
    the fly in the data loader and dilates it slightly ("tubed" skeleton); here ``skeleton`` already holds,
    per channel, the skeleton voxels that belong to that channel's target (see
    :class:`nnunetv2_cta.losses.CTALoss`, which masks one shared skeleton with each channel's target). A
    channel without skeleton voxels contributes recall 1 (loss 0) and a zero gradient.

    Args:
        probs: probabilities ``(B, C, *spatial)`` of the channels to score.
        skeleton: binary skeleton ``(B, C, *spatial)``.
        batch_dice: pool over the batch axis as well.
        smooth: keeps empty skeletons finite.

    Returns:
        scalar loss in [0, 1].
    """
    if probs.shape != skeleton.shape:
        raise ConfigurationError(
            f"probs and skeleton must have the same shape, got {tuple(probs.shape)} and {tuple(skeleton.shape)}"
        )
    skeleton = skeleton.to(probs.dtype)
    axes = [0, *range(2, probs.ndim)] if batch_dice else list(range(2, probs.ndim))
    recall = ((probs * skeleton).sum(axes) + smooth) / ((skeleton.sum(axes)) + smooth)
    return 1 - recall.mean()
