"""Soft skeleton and clDice (Shit et al., "clDice - a Novel Topology-Preserving Loss Function for Tubular
Structure Segmentation", CVPR 2021), reimplemented from the paper."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnunetv2_cta.errors import ConfigurationError


def _soft_erode(x: torch.Tensor) -> torch.Tensor:
    # min-pool along each axis separately (a 3-voxel cross), as in the paper's soft erosion
    if x.ndim == 5:
        return torch.minimum(
            torch.minimum(
                -F.max_pool3d(-x, (3, 1, 1), 1, (1, 0, 0)), -F.max_pool3d(-x, (1, 3, 1), 1, (0, 1, 0))
            ),
            -F.max_pool3d(-x, (1, 1, 3), 1, (0, 0, 1)),
        )
    return torch.minimum(-F.max_pool2d(-x, (3, 1), 1, (1, 0)), -F.max_pool2d(-x, (1, 3), 1, (0, 1)))


def _soft_dilate(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool3d(x, 3, 1, 1) if x.ndim == 5 else F.max_pool2d(x, 3, 1, 1)


def soft_skeleton(x: torch.Tensor, iterations: int = 5) -> torch.Tensor:
    """Differentiable soft skeleton of probability maps (Shit et al. 2021, Algorithm 1).

    ``skel = relu(x - open(x))``, then for each of ``iterations`` erosions ``x ← erode(x)``,
    ``skel += relu(delta - skel * delta)`` with ``delta = relu(x - open(x))``. ``iterations`` should be at
    least the largest vessel radius in voxels for thick vessels to reduce to a centerline.

    Args:
        x: probabilities ``(B, C, X, Y[, Z])`` in [0, 1].
        iterations: number of soft erosions, >= 1.

    Returns:
        soft skeleton with the shape of ``x``, values in [0, 1].
    """
    if x.ndim not in (4, 5):
        raise ConfigurationError(
            f"soft_skeleton expects a (B, C, X, Y[, Z]) tensor, got shape {tuple(x.shape)}"
        )
    if int(iterations) < 1:
        raise ConfigurationError(f"iterations must be >= 1, got {iterations!r}")
    skel = F.relu(x - _soft_dilate(_soft_erode(x)))
    for _ in range(int(iterations)):
        x = _soft_erode(x)
        delta = F.relu(x - _soft_dilate(_soft_erode(x)))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def soft_cldice_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    target_skeleton: torch.Tensor | None = None,
    *,
    iterations: int = 5,
    batch_dice: bool = False,
    smooth: float = 1e-5,
) -> torch.Tensor:
    """``1 - clDice`` per channel, averaged.

    ``Tprec = |S_P ∩ V_L| / |S_P|``, ``Tsens = |S_L ∩ V_P| / |S_L|``, ``clDice = 2 Tprec Tsens / (Tprec +
    Tsens)`` with soft sums (Shit et al. 2021, eq. 1-3). ``S_P`` is the soft skeleton of the prediction.
    ``S_L`` is ``target_skeleton`` when given (an exact skeleton computed in the data loader, cheaper and
    sharper than the paper's soft skeleton of the label) and the soft skeleton of ``target`` otherwise.
    Empty channels give Tprec = Tsens = 1 through ``smooth`` (loss 0, finite gradients).

    Args:
        probs: probabilities ``(B, C, *spatial)``.
        target: binary masks of the same shape.
        target_skeleton: optional binary skeleton of ``target``, same shape.
        iterations: soft-skeleton iterations (see :func:`soft_skeleton`).
        batch_dice: pool over the batch axis as well.
        smooth: keeps empty channels finite.

    Returns:
        scalar loss in [0, 1].
    """
    if probs.shape != target.shape:
        raise ConfigurationError(
            f"probs and target must have the same shape, got {tuple(probs.shape)} and {tuple(target.shape)}"
        )
    target = target.to(probs.dtype)
    skel_p = soft_skeleton(probs, iterations)
    skel_l = soft_skeleton(target, iterations) if target_skeleton is None else target_skeleton.to(probs.dtype)
    axes = [0, *range(2, probs.ndim)] if batch_dice else list(range(2, probs.ndim))
    tprec = ((skel_p * target).sum(axes) + smooth) / (skel_p.sum(axes) + smooth)
    tsens = ((skel_l * probs).sum(axes) + smooth) / (skel_l.sum(axes) + smooth)
    cl = 2 * tprec * tsens / torch.clip(tprec + tsens, min=1e-8)
    return 1 - cl.mean()
