"""The CTA experiment planner: a bottleneck-residual U-Net self-configured from nnU-Net's dataset fingerprint.

What differs from nnU-Net's default / ResEnc planners, and why:

* **Network**: ``ResidualEncoderUNet(block=BottleneckD)``, the paper's BR blocks (see :mod:`.presets`).
* **Target spacing** (thin vessels): nnU-Net takes the per-axis *median* spacing, so a cohort mixing 0.5 mm and
  0.9 mm scans is resampled to about 0.7 mm and 1 mm vessels lose a third of their voxels. We take a lower
  percentile per axis (``preset.spacing_percentile``, 25 by default), never finer than
  ``preset.min_target_spacing_mm`` (0.4 mm on GPU presets, 1.0 mm for the ``cpu`` preset so CPU work stays
  small). ``overwrite_target_spacing`` still wins. The rule is written to the plans under ``"cta"``.
* **Patch shape**: start from a patch isotropic *in millimetres* holding 256^3 voxels (the paper trained on
  256^3 patches), clip to the median image, then, while the feature-map estimate exceeds the memory budget,
  shrink the axis with the largest physical extent. nnU-Net shrinks the axis that is largest relative to the
  median image, which on tall head-and-neck scans keeps long thin patches; vessel continuity needs context in
  every direction. The ``cpu`` preset uses a fixed 48^3 patch.
* **No 3d_lowres cascade**: downsampling a thin-vessel problem loses the vessels it is meant to find; the second
  stage of this project is the CGPM repair model instead.
* **CT normalisation**: nnU-Net gives CT normalisation only to a channel named exactly "CT" and silently
  z-scores any other name. Channels named like CT ("CTA", "NCCT", "ct angiography") get ``CTNormalization``
  with a WARNING; a dataset with no CT-like channel is refused (:func:`resolve_channel_normalization`).
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

import numpy as np
from dynamic_network_architectures.architectures.unet import ResidualEncoderUNet
from dynamic_network_architectures.building_blocks.helper import (
    convert_dim_to_conv_op,
    get_matching_instancenorm,
)
from dynamic_network_architectures.building_blocks.residual import BottleneckD
from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

from nnunetv2_cta import __version__
from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.planners.presets import PRESETS, CTAPreset

logger = logging.getLogger(__name__)

_CT_NAME = re.compile(
    r"^(nc|non[-_ ]?contrast[-_ ]?)?ct(a|p)?([-_ ].*)?$|computed tomography|angiograph", re.IGNORECASE
)
_NNUNET_2D_TO_3D_REFERENCE = 135e6 / 680e6  # ResEnc M: 2D reference / 3D reference


def _dotted(obj: type) -> str:
    return f"{obj.__module__}.{obj.__name__}"


def resolve_channel_normalization(channel_names: dict[str, str]) -> list[str]:
    """Normalisation scheme per channel for a CTA dataset, refusing datasets without a CT channel.

    Args:
        channel_names: dataset.json ``channel_names``, e.g. ``{"0": "CT"}``.

    Returns:
        nnU-Net normalisation class names in channel order. A channel named exactly "CT" (any case) keeps
        ``CTNormalization``; a CT-like name ("CTA", "NCCT", "CT angiography") is given ``CTNormalization`` with a
        WARNING instead of nnU-Net's silent z-scoring; other channels keep nnU-Net's choice.

    Raises:
        DatasetFormatError: no channel is CT-like.

    Example:
        >>> resolve_channel_normalization({"0": "CTA"})
        ['CTNormalization']
    """
    from nnunetv2.preprocessing.normalization.map_channel_name_to_normalization import (
        get_normalization_scheme,
    )

    schemes = []
    for key in sorted(channel_names, key=int):
        name = str(channel_names[key])
        if name.casefold() == "ct":
            schemes.append("CTNormalization")
        elif _CT_NAME.search(name.strip()):
            logger.warning(
                "channel %s is named %r, not 'CT': nnU-Net would z-score it; the CTA planner uses "
                "CTNormalization (rename it to 'CT' in dataset.json to silence this warning)",
                key,
                name,
            )
            schemes.append("CTNormalization")
        else:
            schemes.append(get_normalization_scheme(name).__name__)
    if "CTNormalization" not in schemes:
        raise DatasetFormatError(
            f"dataset.json channel_names {channel_names!r} has no CT channel; the CTA planner expects one channel "
            "named 'CT' (HU intensities)"
        )
    return schemes


def network_from_architecture(architecture: dict, input_channels: int, output_channels: int):
    """Build (without weight init) the network a plans configuration's ``architecture`` entry describes."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    return get_network_from_plans(
        architecture["network_class_name"],
        architecture["arch_kwargs"],
        architecture["_kw_requires_import"],
        input_channels,
        output_channels,
        allow_init=False,
    )


def cta_target_spacing(spacings: np.ndarray, preset: CTAPreset) -> np.ndarray:
    """Target spacing (mm, array axis order) from per-case spacings ``(n_cases, 3)`` by the CTA rule.

    ``max(percentile(spacings, preset.spacing_percentile, axis=0), preset.min_target_spacing_mm)``.

    Example: spacings 0.5 and 0.9 mm in equal numbers give 0.5 mm at the 25th percentile, where nnU-Net's
    median gives 0.7 mm.
    """
    spacings = np.asarray(spacings, dtype=np.float64)
    if spacings.ndim != 2 or spacings.shape[0] == 0 or np.any(spacings <= 0):
        raise DatasetFormatError(
            f"spacings must be a non-empty (n_cases, ndim) array of positive mm, got {spacings!r}"
        )
    target = np.percentile(spacings, preset.spacing_percentile, axis=0)
    return np.maximum(target, preset.min_target_spacing_mm)


class nnUNetCTAPlanner(ExperimentPlanner):
    """Experiment planner for head-and-neck CTA; subclasses fix the preset (``nnUNetCTAPlanner_cpu`` ...).

    Use through ``nnunetv2_cta plan -d ID --preset L`` or nnU-Net's Python API::

        plan_experiment_dataset(ID, experiment_planner_class=nnUNetCTAPlanner_L)
    """

    preset: ClassVar[CTAPreset] = PRESETS["L"]

    def __init__(
        self,
        dataset_name_or_id: str | int,
        gpu_memory_target_in_gb: float | None = None,
        preprocessor_name: str = "DefaultPreprocessor",
        plans_name: str | None = None,
        overwrite_target_spacing: list[float] | tuple[float, ...] | None = None,
        suppress_transpose: bool = False,
    ):
        preset = self.preset
        memory = (
            gpu_memory_target_in_gb if gpu_memory_target_in_gb is not None else (preset.gpu_memory_gb or 8.0)
        )
        super().__init__(
            dataset_name_or_id,
            memory,
            preprocessor_name,
            plans_name or preset.plans_name,
            overwrite_target_spacing,
            suppress_transpose,
        )
        self.UNet_class = ResidualEncoderUNet
        self.UNet_reference_val_3d = preset.reference_feature_map_elements
        self.UNet_reference_val_2d = preset.reference_feature_map_elements * _NNUNET_2D_TO_3D_REFERENCE
        self.UNet_reference_val_corresp_GB = preset.reference_gb
        self.UNet_base_num_features = preset.base_features
        self.UNet_max_features_3d = self.UNet_max_features_2d = preset.max_features
        self.UNet_blocks_per_stage_encoder = preset.blocks_per_stage
        self.max_dataset_covered = 1.0  # as nnU-Net's ResEnc presets: batch size follows memory only
        self.lowres_creation_threshold = 0.0  # never plan a 3d_lowres cascade (see module docstring)

    # ------------------------------------------------------------------ rules
    def determine_fullres_target_spacing(self) -> np.ndarray:
        if self.overwrite_target_spacing is not None:
            return np.array(self.overwrite_target_spacing)
        return cta_target_spacing(np.vstack(self.dataset_fingerprint["spacings"]), self.preset)

    def determine_normalization_scheme_and_whether_mask_is_used_for_norm(
        self,
    ) -> tuple[list[str], list[bool]]:
        _, use_mask = super().determine_normalization_scheme_and_whether_mask_is_used_for_norm()
        schemes = resolve_channel_normalization(self.dataset_json["channel_names"])
        return schemes, [m and s != "CTNormalization" for s, m in zip(schemes, use_mask)]

    # --------------------------------------------------------------- network
    def _architecture(
        self, spacing: np.ndarray, patch_size: np.ndarray
    ) -> tuple[dict, np.ndarray, np.ndarray]:
        """Network kwargs for a patch; returns (architecture dict, adjusted patch size, divisibility)."""
        preset = self.preset
        _, strides, kernels, patch, divisible_by = get_pool_and_conv_props(
            spacing, patch_size, self.UNet_featuremap_min_edge_length, preset.max_stages - 1
        )
        n_stages = len(strides)
        widths = [min(preset.max_features, preset.base_features * 2**i) for i in range(n_stages)]
        blocks = list(preset.blocks_per_stage[:n_stages])
        blocks += [preset.blocks_per_stage[-1]] * (n_stages - len(blocks))
        conv_op = convert_dim_to_conv_op(len(spacing))
        norm = get_matching_instancenorm(conv_op)
        arch = {
            "network_class_name": _dotted(ResidualEncoderUNet),
            "arch_kwargs": {
                "n_stages": n_stages,
                "features_per_stage": widths,
                "conv_op": _dotted(conv_op),
                "kernel_sizes": kernels,
                "strides": strides,
                "n_blocks_per_stage": blocks,
                "n_conv_per_stage_decoder": [1] * (n_stages - 1),
                "conv_bias": True,
                "norm_op": _dotted(norm),
                "norm_op_kwargs": {"eps": 1e-5, "affine": True},
                "dropout_op": None,
                "dropout_op_kwargs": None,
                "nonlin": "torch.nn.LeakyReLU",
                "nonlin_kwargs": {"inplace": True},
                "block": _dotted(BottleneckD),
                "bottleneck_channels": [max(4, w // preset.expansion) for w in widths],
                "stem_channels": max(8, widths[0] // 2),
            },
            "_kw_requires_import": ("conv_op", "norm_op", "dropout_op", "nonlin", "block"),
        }
        return arch, np.asarray(patch), np.asarray(divisible_by)

    def _estimate(self, arch: dict, patch: np.ndarray, cache: dict) -> float:
        """Feature-map elements of the network for one patch (nnU-Net's memory proxy), cached per topology.

        Computed directly rather than with ``ExperimentPlanner.static_estimate_VRAM_usage``, which calls
        ``torch.set_num_threads(nnUNet_n_proc_DA)`` and crashes when that variable is 0.
        """
        key = f"{tuple(int(p) for p in patch)}_{arch['arch_kwargs']['strides']}"
        if key not in cache:
            net = network_from_architecture(
                arch, len(self.dataset_json["channel_names"]), len(self.dataset_json["labels"])
            )
            cache[key] = float(net.compute_conv_feature_map_size(tuple(int(p) for p in patch)))
        return cache[key]

    def get_plans_for_configuration(
        self,
        spacing: np.ndarray | tuple[float, ...] | list[float],
        median_shape: np.ndarray | tuple[int, ...],
        data_identifier: str,
        approximate_n_voxels_dataset: float,
        _cache: dict,
    ) -> dict:
        spacing = np.asarray(spacing, dtype=np.float64)
        ndim = len(spacing)
        median_shape = np.asarray(median_shape[:ndim], dtype=np.float64)
        preset = self.preset
        if preset.fixed_patch_size is not None:
            arch, patch, _ = self._architecture(spacing, np.asarray(preset.fixed_patch_size[-ndim:]))
            batch_size = self.UNet_min_batch_size
        else:
            # isotropic in mm, 256^3 (3D) / 2048^2 (2D) voxels, clipped to the median image
            voxels = 256**3 if ndim == 3 else 2048**2
            inv = 1.0 / spacing
            patch = np.minimum(np.round(inv * (voxels / np.prod(inv)) ** (1 / ndim)), median_shape)
            arch, patch, divisible_by = self._architecture(spacing, patch)
            reference = (self.UNet_reference_val_3d if ndim == 3 else self.UNet_reference_val_2d) * (
                self.UNet_vram_target_GB / self.UNet_reference_val_corresp_GB
            )
            estimate = self._estimate(arch, patch, _cache)
            while estimate > reference:
                extent = patch * spacing
                # shrink the physically longest axis; ties -> the axis with more voxels
                axis = int(np.lexsort((patch, extent))[-1])
                if patch[axis] - divisible_by[axis] < self.UNet_featuremap_min_edge_length * 2:
                    break
                patch = patch.copy()
                patch[axis] -= divisible_by[axis]
                arch, patch, divisible_by = self._architecture(spacing, patch)
                estimate = self._estimate(arch, patch, _cache)
            ref_bs = (
                self.UNet_reference_val_corresp_bs_3d if ndim == 3 else self.UNet_reference_val_corresp_bs_2d
            )
            batch_size = round(reference / estimate * ref_bs)
            cap = round(
                approximate_n_voxels_dataset * self.max_dataset_covered / np.prod(patch, dtype=np.float64)
            )
            batch_size = max(min(batch_size, cap), self.UNet_min_batch_size)

        resampling_data, data_kwargs, resampling_seg, seg_kwargs = self.determine_resampling()
        resampling_probs, probs_kwargs = self.determine_segmentation_softmax_export_fn()
        schemes, use_mask = self.determine_normalization_scheme_and_whether_mask_is_used_for_norm()
        return {
            "data_identifier": data_identifier,
            "preprocessor_name": self.preprocessor_name,
            "batch_size": int(batch_size),
            "patch_size": tuple(int(p) for p in patch),
            "median_image_size_in_voxels": median_shape,
            "spacing": spacing,  # ndarray: nnU-Net's plan_experiment does arithmetic on it before export
            "normalization_schemes": schemes,
            "use_mask_for_norm": use_mask,
            "resampling_fn_data": resampling_data.__name__,
            "resampling_fn_seg": resampling_seg.__name__,
            "resampling_fn_data_kwargs": data_kwargs,
            "resampling_fn_seg_kwargs": seg_kwargs,
            "resampling_fn_probabilities": resampling_probs.__name__,
            "resampling_fn_probabilities_kwargs": probs_kwargs,
            "architecture": arch,
        }

    def save_plans(self, plans: dict) -> None:
        preset = self.preset
        plans["cta"] = {
            "planner": type(self).__name__,
            "preset": preset.name,
            "nnunetv2_cta_version": __version__,
            "block": "BottleneckD (1x1x1 -> 3x3x3 -> 1x1x1, LeakyReLU)",
            "target_spacing_rule": {
                "percentile": preset.spacing_percentile,
                "min_target_spacing_mm": preset.min_target_spacing_mm,
                "overwritten": self.overwrite_target_spacing is not None,
            },
        }
        super().save_plans(plans)


def _make_preset_planner(preset: CTAPreset) -> type[nnUNetCTAPlanner]:
    return type(
        f"nnUNetCTAPlanner_{preset.name}", (nnUNetCTAPlanner,), {"preset": preset, "__module__": __name__}
    )


nnUNetCTAPlanner_cpu = _make_preset_planner(PRESETS["cpu"])
nnUNetCTAPlanner_M = _make_preset_planner(PRESETS["M"])
nnUNetCTAPlanner_L = _make_preset_planner(PRESETS["L"])
nnUNetCTAPlanner_XL = _make_preset_planner(PRESETS["XL"])

#: preset name -> planner class
PLANNERS: dict[str, type[nnUNetCTAPlanner]] = {
    c.preset.name: c
    for c in (nnUNetCTAPlanner_cpu, nnUNetCTAPlanner_M, nnUNetCTAPlanner_L, nnUNetCTAPlanner_XL)
}
