"""batchgeneratorsv2 transforms that append a centerline target to the segmentation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from batchgeneratorsv2.transforms.base.basic_transform import SegOnlyTransform

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.transforms.targets import centerline_weight_map, vessel_skeleton


class CenterlineTargetTransform(SegOnlyTransform):
    """Append one channel computed from the union of the vessel labels: a weight map or a skeleton.

    nnU-Net 2.8's loader passes only ``image`` and ``segmentation`` to the loss, so the extra target travels
    as the last segmentation channel and is split off by :class:`nnunetv2_cta.losses.CTALoss`. Insert this
    transform after the spatial augmentation and after ``ConvertSegmentationToRegionsTransform`` (which keeps
    only the region channels), immediately before ``DownsampleSegForDSTransform``, so the target is computed
    from the full-resolution, augmented segmentation and downsampled with it.

    Args:
        kind: ``"weight"`` appends :func:`~nnunetv2_cta.transforms.targets.centerline_weight_map` (the
            segmentation becomes float32; labels 0..255 stay exact); ``"skeleton"`` appends
            :func:`~nnunetv2_cta.transforms.targets.vessel_skeleton` in the segmentation's dtype.
        vessel_labels: label values forming the vessel mask, read from channel 0 (softmax training).
        vessel_channels: channel indices whose union is the vessel mask (region training: binary region
            channels). Give exactly one of ``vessel_labels`` / ``vessel_channels``.
        skeleton_dilation: dilations of the skeleton ("tubed" skeleton, Kirchhoff et al. 2024).
        alpha, beta, r_ref: weight-map parameters (see :mod:`nnunetv2_cta.transforms.targets`).

    Example:
        >>> seg = torch.zeros(1, 8, 8, 8, dtype=torch.int16); seg[0, 4, 4, :] = 3
        >>> out = CenterlineTargetTransform("skeleton", vessel_labels=(2, 3, 4))(segmentation=seg)
        >>> tuple(out["segmentation"].shape), int(out["segmentation"][1].sum())
        ((2, 8, 8, 8), 8)
    """

    def __init__(
        self,
        kind: Literal["weight", "skeleton"],
        *,
        vessel_labels: Sequence[int] | None = None,
        vessel_channels: Sequence[int] | None = None,
        skeleton_dilation: int = 0,
        alpha: float = 16.0,
        beta: float = 0.5,
        r_ref: float = 2.0,
    ) -> None:
        super().__init__()
        if kind not in ("weight", "skeleton"):
            raise ConfigurationError(f"kind must be 'weight' or 'skeleton', got {kind!r}")
        if (vessel_labels is None) == (vessel_channels is None):
            raise ConfigurationError(
                f"give exactly one of vessel_labels / vessel_channels, got {vessel_labels!r} / {vessel_channels!r}"
            )
        chosen = vessel_labels if vessel_labels is not None else vessel_channels
        if len(chosen) == 0:
            raise ConfigurationError(f"the vessel labels/channels must not be empty, got {chosen!r}")
        if int(skeleton_dilation) < 0:
            raise ConfigurationError(f"skeleton_dilation must be >= 0, got {skeleton_dilation!r}")
        self.kind = kind
        self.vessel_labels = None if vessel_labels is None else [int(v) for v in vessel_labels]
        self.vessel_channels = None if vessel_channels is None else [int(c) for c in vessel_channels]
        self.skeleton_dilation = int(skeleton_dilation)
        self.alpha, self.beta, self.r_ref = float(alpha), float(beta), float(r_ref)

    def vessel_mask(self, segmentation: torch.Tensor) -> np.ndarray:
        """Union of the vessel labels (channel 0) or of the vessel channels, as a bool numpy array."""
        if self.vessel_labels is not None:
            labels = torch.tensor(self.vessel_labels, dtype=segmentation.dtype)
            return torch.isin(segmentation[0], labels).numpy()
        if max(self.vessel_channels) >= segmentation.shape[0]:
            raise ConfigurationError(
                f"vessel_channels {self.vessel_channels} out of range for a segmentation with {segmentation.shape[0]} channels"
            )
        return segmentation[self.vessel_channels].bool().any(0).numpy()

    def _apply_to_segmentation(self, segmentation: torch.Tensor, **params) -> torch.Tensor:
        mask = self.vessel_mask(segmentation)
        if self.kind == "weight":
            extra = torch.from_numpy(
                centerline_weight_map(mask, alpha=self.alpha, beta=self.beta, r_ref=self.r_ref)
            )
            return torch.cat([segmentation.float(), extra[None]], 0)
        extra = torch.from_numpy(vessel_skeleton(mask, dilate=self.skeleton_dilation))
        return torch.cat([segmentation, extra[None].to(segmentation.dtype)], 0)
