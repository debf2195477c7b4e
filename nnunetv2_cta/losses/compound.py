"""The compound loss of the CTA trainers: (weighted) soft Dice + CE/BCE + optional topology term."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.losses.cldice import soft_cldice_loss
from nnunetv2_cta.losses.dice import weighted_soft_dice
from nnunetv2_cta.losses.skeleton_recall import skeleton_recall_loss

ExtraTarget = Literal["weight", "skeleton"]
Topology = Literal["skeleton_recall", "cldice"]


class CTALoss(nn.Module):
    """Dice + cross-entropy (softmax) or Dice + BCE (regions), optionally centerline-weighted, optionally plus
    a topology term, for one output resolution (wrap it for deep supervision).

    Target layout: nnU-Net's data loader passes only the segmentation, so the extra per-voxel target rides
    as the LAST channel of it (appended by :mod:`nnunetv2_cta.transforms`):

    - softmax: ``target`` is ``(B, 1, *spatial)`` labels, or ``(B, 2, *spatial)`` = labels + extra;
    - regions: ``target`` is ``(B, C, *spatial)`` binary region masks, or ``(B, C + 1, *spatial)``.

    When the extra channel is absent (nnU-Net's validation pipeline does not append it), the Dice is
    unweighted and the topology term uses no exact skeleton (skeleton recall then contributes 0, clDice uses
    the soft skeleton of the label): the validation loss is a monitoring number only; nnU-Net's pseudo-Dice
    is computed separately and is unaffected.

    The extra channel is either a per-voxel Dice ``"weight"`` map (centerline weighting, shared by all
    channels) or a binary ``"skeleton"`` of the union of all vessel labels; each vessel channel's skeleton is
    that skeleton masked with the channel's own target, so one skeleton serves classes and overlapping regions.

    Args:
        regions: sigmoid outputs, one per region (nnU-Net region training) instead of softmax over labels.
        extra_target: what the extra channel holds, or None if the pipeline appends none.
        topology: ``"skeleton_recall"`` (Kirchhoff et al. 2024; needs ``extra_target="skeleton"``),
            ``"cldice"`` (Shit et al. 2021) or None.
        vessel_channels: output channel indices the topology term scores (vessel classes or regions).
        dice_weight, ce_weight, topology_weight: term weights, >= 0.
        channel_weights: weight of each output channel in the Dice mean (and the BCE mean for regions),
            length = number of output channels (the softmax background entry is ignored); None = equal.
        ce_class_weights: per-class CE weights (softmax) or BCE ``pos_weight`` per region, e.g. from
            :func:`nnunetv2_cta.losses.attenuated_class_weights`.
        batch_dice: pool Dice sums over the batch.
        smooth: Dice / recall smoothing.
        cldice_iterations: soft-skeleton iterations for clDice.

    Example:
        >>> loss = CTALoss(regions=False, extra_target="weight")
        >>> logits = torch.zeros(1, 3, 4, 4, 4, requires_grad=True)
        >>> target = torch.cat([torch.randint(0, 3, (1, 1, 4, 4, 4)).float(), torch.ones(1, 1, 4, 4, 4)], 1)
        >>> loss(logits, target).backward()
    """

    def __init__(
        self,
        *,
        regions: bool,
        extra_target: ExtraTarget | None = None,
        topology: Topology | None = None,
        vessel_channels: Sequence[int] = (),
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
        topology_weight: float = 1.0,
        channel_weights: Sequence[float] | None = None,
        ce_class_weights: torch.Tensor | Sequence[float] | None = None,
        batch_dice: bool = False,
        smooth: float = 1e-5,
        cldice_iterations: int = 5,
    ) -> None:
        super().__init__()
        if extra_target not in (None, "weight", "skeleton"):
            raise ConfigurationError(
                f"extra_target must be None, 'weight' or 'skeleton', got {extra_target!r}"
            )
        if topology not in (None, "skeleton_recall", "cldice"):
            raise ConfigurationError(
                f"topology must be None, 'skeleton_recall' or 'cldice', got {topology!r}"
            )
        if topology == "skeleton_recall" and extra_target != "skeleton":
            raise ConfigurationError(
                f"topology 'skeleton_recall' needs extra_target='skeleton', got {extra_target!r}"
            )
        if topology is not None and len(vessel_channels) == 0:
            raise ConfigurationError(
                f"topology {topology!r} needs at least one vessel channel, got {vessel_channels!r}"
            )
        for name, value in (
            ("dice_weight", dice_weight),
            ("ce_weight", ce_weight),
            ("topology_weight", topology_weight),
        ):
            if not value >= 0:
                raise ConfigurationError(f"{name} must be >= 0, got {value!r}")
        if channel_weights is not None and any(not w >= 0 for w in channel_weights):
            raise ConfigurationError(f"channel_weights must all be >= 0, got {channel_weights!r}")
        self.regions = bool(regions)
        self.extra_target = extra_target
        self.topology = topology
        self.vessel_channels = [int(c) for c in vessel_channels]
        self.dice_weight, self.ce_weight, self.topology_weight = (
            float(dice_weight),
            float(ce_weight),
            float(topology_weight),
        )
        self.channel_weights = None if channel_weights is None else [float(w) for w in channel_weights]
        self.batch_dice = bool(batch_dice)
        self.smooth = float(smooth)
        self.cldice_iterations = int(cldice_iterations)
        cw = None if ce_class_weights is None else torch.as_tensor(ce_class_weights, dtype=torch.float32)
        self.register_buffer("ce_class_weights", cw, persistent=False)

    def split_target(
        self, logits: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Split ``target`` into (labels or region masks, extra channel or None); see the class docstring."""
        n_base = logits.shape[1] if self.regions else 1
        if (
            target.ndim != logits.ndim
            or target.shape[0] != logits.shape[0]
            or target.shape[2:] != logits.shape[2:]
        ):
            raise ConfigurationError(
                f"target must be (B, T, *spatial) matching logits {tuple(logits.shape)}, got {tuple(target.shape)}"
            )
        if target.shape[1] == n_base:
            return target, None
        if self.extra_target is not None and target.shape[1] == n_base + 1:
            return target[:, :n_base], target[:, n_base:]
        expected = f"{n_base}" + ("" if self.extra_target is None else f" or {n_base + 1}")
        raise ConfigurationError(
            f"target must have {expected} channels for {logits.shape[1]} output channels "
            f"({'regions' if self.regions else 'softmax'}, extra_target={self.extra_target!r}), got {target.shape[1]}"
        )

    def _channel_mean(self, values: torch.Tensor, channels: list[int]) -> torch.Tensor:
        # values: (..., len(channels)); weighted mean over channels, plain mean over the rest
        if values.ndim > 1:
            values = values.mean(0)
        if self.channel_weights is None:
            return values.mean()
        if len(self.channel_weights) <= max(channels):
            raise ConfigurationError(
                f"channel_weights needs an entry per output channel (>= {max(channels) + 1}), got {self.channel_weights!r}"
            )
        w = torch.tensor(
            [self.channel_weights[c] for c in channels], dtype=values.dtype, device=values.device
        )
        if float(w.sum()) <= 0:
            raise ConfigurationError(
                f"channel_weights of the scored channels {channels} sum to 0: {self.channel_weights!r}"
            )
        return (values * w).sum() / w.sum()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss for logits ``(B, C, *spatial)`` and ``target`` as in the class docstring; returns a scalar."""
        logits = logits.float()
        base, extra = self.split_target(logits, target)
        if self.regions:
            probs = torch.sigmoid(logits)
            masks = base.to(probs.dtype)
            dice_channels = list(range(logits.shape[1]))
            pos_weight = None
            if self.ce_class_weights is not None:
                pos_weight = self.ce_class_weights.to(logits.device).view(-1, *([1] * (logits.ndim - 2)))
            bce = F.binary_cross_entropy_with_logits(logits, masks, pos_weight=pos_weight, reduction="none")
            ce = self._channel_mean(bce.transpose(0, 1).flatten(1).mean(1), dice_channels)
        else:
            labels = base[:, 0].long()
            probs = torch.softmax(logits, 1)
            masks = torch.zeros_like(probs).scatter_(1, labels[:, None], 1.0)
            dice_channels = list(range(1, logits.shape[1]))
            weight = None if self.ce_class_weights is None else self.ce_class_weights.to(logits.device)
            ce = F.cross_entropy(logits, labels, weight=weight)
        weights = extra if self.extra_target == "weight" else None
        dice = weighted_soft_dice(
            probs[:, dice_channels],
            masks[:, dice_channels],
            weights,
            batch_dice=self.batch_dice,
            smooth=self.smooth,
        )
        loss = self.dice_weight * (1 - self._channel_mean(dice, dice_channels)) + self.ce_weight * ce
        if self.topology is not None and self.topology_weight > 0:
            vc = self.vessel_channels
            skel = (
                None
                if (extra is None or self.extra_target != "skeleton")
                else extra.to(probs.dtype) * masks[:, vc]
            )
            if self.topology == "skeleton_recall":
                if skel is not None:
                    topo = skeleton_recall_loss(
                        probs[:, vc], skel, batch_dice=self.batch_dice, smooth=self.smooth
                    )
                    loss = loss + self.topology_weight * topo
            else:
                topo = soft_cldice_loss(
                    probs[:, vc],
                    masks[:, vc],
                    skel,
                    iterations=self.cldice_iterations,
                    batch_dice=self.batch_dice,
                    smooth=self.smooth,
                )
                loss = loss + self.topology_weight * topo
        return loss
