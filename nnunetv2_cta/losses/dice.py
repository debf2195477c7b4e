"""Soft Dice with per-voxel weights (the centerline-weighted Dice of the CTA trainer)."""

from __future__ import annotations

import torch

from nnunetv2_cta.errors import ConfigurationError


def _sum_axes(ndim: int, batch_dice: bool) -> list[int]:
    spatial = list(range(2, ndim))
    return [0, *spatial] if batch_dice else spatial


def weighted_soft_dice(
    probs: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    batch_dice: bool = False,
    smooth: float = 1e-5,
) -> torch.Tensor:
    """Per-channel soft Dice coefficient with optional per-voxel weights.

    ``dice_c = (2 Σ w p g + smooth) / (Σ w p + Σ w g + smooth)``, the sums running over the spatial axes
    (and the batch axis when ``batch_dice``). With ``weights=None`` this is the ordinary soft Dice.

    Args:
        probs: probabilities ``(B, C, *spatial)`` in [0, 1] (softmax or sigmoid outputs).
        target: binary targets of the same shape (one-hot labels or region masks), any real dtype.
        weights: per-voxel weights ``(B, 1, *spatial)`` (shared by all channels) or ``(B, C, *spatial)``;
            must be >= 0.
        batch_dice: pool the sums over the batch (nnU-Net's ``batch_dice``).
        smooth: added to numerator and denominator; keeps empty channels finite (an empty target and an
            empty prediction give Dice 1).

    Returns:
        ``(C,)`` if ``batch_dice`` else ``(B, C)`` Dice coefficients (not losses).

    Example:
        >>> p = torch.tensor([0.5, 1.0, 0.0, 0.0]).view(1, 1, 4)
        >>> g = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 4)
        >>> w = torch.tensor([1.0, 3.0, 1.0, 1.0]).view(1, 1, 4)
        >>> round(float(weighted_soft_dice(p, g, w, smooth=0)), 4)  # 2*3.5 / (3.5 + 4)
        0.9333
    """
    if probs.shape != target.shape:
        raise ConfigurationError(
            f"probs and target must have the same shape, got {tuple(probs.shape)} and {tuple(target.shape)}"
        )
    target = target.to(probs.dtype)
    axes = _sum_axes(probs.ndim, batch_dice)
    if weights is None:
        tp = (probs * target).sum(axes)
        sum_p = probs.sum(axes)
        sum_g = target.sum(axes)
    else:
        if (
            weights.ndim != probs.ndim
            or weights.shape[0] != probs.shape[0]
            or weights.shape[2:] != probs.shape[2:]
        ):
            raise ConfigurationError(
                f"weights must have shape (B, 1 or C, *spatial) matching probs {tuple(probs.shape)}, got {tuple(weights.shape)}"
            )
        weights = weights.to(probs.dtype)
        wp = weights * probs
        tp = (wp * target).sum(axes)
        sum_p = wp.sum(axes)
        sum_g = (weights * target).sum(axes)
    return (2 * tp + smooth) / torch.clip(sum_p + sum_g + smooth, min=1e-8)
