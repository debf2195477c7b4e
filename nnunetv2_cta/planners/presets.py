"""Presets of the CTA planner: network width/depth and the memory budget that sizes the patch.

A preset is pure data (no torch, no nnunetv2) so the CLI can list presets instantly and tests can read it.

Network: dynamic_network_architectures' ``ResidualEncoderUNet`` with ``block=BottleneckD``. Each encoder block
is the paper's bottleneck residual ("BR") block: 1x1x1 (reduce) -> 3x3x3 -> 1x1x1 (expand) convolutions with
instance norm and LeakyReLU and an identity (or pooled 1x1x1) skip (Fu et al., "Rapid vessel segmentation and
reconstruction of head and neck angiograms using 3D convolutional neural networks", Nat. Commun. 11, 4829,
2020). As in ResNet, stage widths count the expanded channels and the 3x3x3 convolution runs at
``width / expansion`` channels. GPU presets use widths 32..512 with expansion 4 (ResNet's bottleneck ratio):
measured on a clinical head-and-neck fingerprint (benchmarks/results/planner.md), this gives patches of the
same voxel count as nnU-Net's ResEnc M/L/XL (128^3, 192^3, 192x256x256 at 0.5x0.45x0.45 mm) with 30-49 M
parameters instead of 102 M; widths 64..640 gave 2.5x smaller patches at L, and expansion 2 about 20 % smaller
ones. Large near-isotropic patches are the priority here: vessel continuity needs context.
The decoder is nnU-Net's plain one (one conv per stage): the paper's gains come from the encoder, and a
residual decoder would double the decoder's full-resolution feature maps for no measured benefit.

Memory budget: ``gpu_memory_gb`` scales the same feature-map reference values nnU-Net's ResEnc M/L/XL presets
use (680e6 / 2.1e9 / 3.6e9 feature-map elements for 8 / 24 / 40 GB), applied to the BR network's own
``compute_conv_feature_map_size``. These reference values were calibrated by nnU-Net on BasicBlockD networks;
they are not yet re-measured on a GPU for BR blocks (see the README's benchmark section).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nnunetv2_cta.errors import ConfigurationError


@dataclass(frozen=True)
class CTAPreset:
    """One planner preset.

    Attributes:
        name: preset token used in the plans name ``nnUNetCTAPlans_<name>``.
        gpu_memory_gb: memory target that scales ``reference_feature_map_elements``; ``None`` for a fixed patch.
        reference_feature_map_elements: feature-map elements (batch of 2) that fit ``reference_gb``.
        reference_gb: GPU memory the reference value corresponds to.
        fixed_patch_size: if set, the 3D patch in voxels (no memory-driven search), e.g. ``(48, 48, 48)``.
        base_features: width (expanded channels) of the first stage; doubles per stage up to ``max_features``.
        max_features: width cap.
        expansion: bottleneck expansion factor; the 3x3x3 conv runs at ``width // expansion`` channels.
        blocks_per_stage: number of BR blocks per encoder stage (truncated to the number of stages).
        max_stages: upper bound on encoder stages (including the full-resolution one).
        min_target_spacing_mm: the target-spacing rule never plans finer than this (mm).
        spacing_percentile: percentile of the dataset's spacings used as target spacing (see planner).
    """

    name: str
    gpu_memory_gb: float | None
    base_features: int
    max_features: int
    expansion: int
    blocks_per_stage: tuple[int, ...]
    max_stages: int
    min_target_spacing_mm: float
    spacing_percentile: float = 25.0
    reference_feature_map_elements: float = 680e6
    reference_gb: float = 8.0
    fixed_patch_size: tuple[int, int, int] | None = None

    @property
    def plans_name(self) -> str:
        return f"nnUNetCTAPlans_{self.name}"


# M: 8 GB; L and XL differ only in the memory budget (ResEnc M/L/XL reference values)
_GPU_BASE = CTAPreset(
    name="M",
    gpu_memory_gb=8,
    reference_feature_map_elements=680e6,
    reference_gb=8,
    base_features=32,
    max_features=512,
    expansion=4,
    blocks_per_stage=(1, 3, 4, 6, 6, 6, 6),
    max_stages=7,
    min_target_spacing_mm=0.4,
)

PRESETS: dict[str, CTAPreset] = {
    p.name: p
    for p in (
        # Tiny: tests and the CPU demo. 48^3 voxels, 4 stages, widths 16..128 (3x3x3 convs at 8..64 channels).
        CTAPreset(
            name="cpu",
            gpu_memory_gb=None,
            fixed_patch_size=(48, 48, 48),
            base_features=16,
            max_features=128,
            expansion=2,
            blocks_per_stage=(1, 1, 1, 1),
            max_stages=4,
            min_target_spacing_mm=1.0,
        ),
        _GPU_BASE,
        replace(_GPU_BASE, name="L", gpu_memory_gb=24, reference_feature_map_elements=2.1e9, reference_gb=24),
        replace(
            _GPU_BASE, name="XL", gpu_memory_gb=40, reference_feature_map_elements=3.6e9, reference_gb=40
        ),
    )
}


def get_preset(name: str) -> CTAPreset:
    """Look up a preset by name; the error lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigurationError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None
