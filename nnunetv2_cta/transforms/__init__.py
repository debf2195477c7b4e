"""batchgeneratorsv2 transforms of the CTA trainers and the numpy targets they compute.

- :class:`CenterlineTargetTransform` — appends a centerline weight map or skeleton as a segmentation channel.
- :class:`RandomOcclusionTransform` — a random box filled with a random value (metal, artefacts).
- :mod:`~nnunetv2_cta.transforms.targets` — :func:`vessel_skeleton`, :func:`centerline_weight_map` (numpy).
- :mod:`~nnunetv2_cta.transforms.compose` — :func:`insert_before` to extend nnU-Net's pipeline.
"""

from __future__ import annotations

from nnunetv2_cta.transforms.centerline import CenterlineTargetTransform
from nnunetv2_cta.transforms.compose import find_index, insert_before
from nnunetv2_cta.transforms.occlusion import RandomOcclusionTransform
from nnunetv2_cta.transforms.targets import centerline_weight_map, vessel_skeleton

__all__ = [
    "CenterlineTargetTransform",
    "RandomOcclusionTransform",
    "centerline_weight_map",
    "find_index",
    "insert_before",
    "vessel_skeleton",
]
