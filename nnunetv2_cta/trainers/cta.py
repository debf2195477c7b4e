"""The CTA trainers: centerline-weighted Dice, region training, the paper's augmentations, and the two
published topology losses as comparisons.

Every knob is a class attribute (nnU-Net fixes the constructor); each variant changes attributes only.
What :class:`nnUNetTrainerCTA` changes in nnU-Net's trainer, and through which hook:

- ``_build_loss``: :class:`nnunetv2_cta.losses.CTALoss` (weighted soft Dice + CE, or + BCE for regions)
  wrapped in the parent's deep-supervision weights;
- ``get_training_transforms``: the parent's pipeline with three edits: a random occlusion box before the
  Gaussian noise, the Gaussian-noise probability raised, and :class:`CenterlineTargetTransform` inserted
  right before ``DownsampleSegForDSTransform`` (after ``ConvertSegmentationToRegionsTransform``), so the
  extra target is computed from the augmented full-resolution segmentation and downsampled with it;
- ``configure_rotation_dummyDA_mirroring_and_inital_patch_size``: rotation ±25° (paper) instead of ±30°.

Translation needs no transform: nnU-Net samples patches at random positions, which is a random translation
of the anatomy in the patch. Mirroring follows the base class's ``mirroring`` attribute (on: our labels are
not left/right specific; set it False for left/right-labelled datasets).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

import numpy as np
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.utils.deep_supervision_downsampling import DownsampleSegForDSTransform
from batchgeneratorsv2.transforms.utils.random import RandomTransform
from nnunetv2.training.data_augmentation.compute_initial_patch_size import get_patch_size
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import VESSEL_LABELS
from nnunetv2_cta.losses import CTALoss, attenuated_class_weights
from nnunetv2_cta.trainers.base import (
    nnUNetTrainerCTA_Base,
    nnUNetTrainerCTA_Base_demo,
    nnUNetTrainerCTA_Base_demo_full,
    nnUNetTrainerCTA_Base_tiny,
)
from nnunetv2_cta.transforms import (
    CenterlineTargetTransform,
    RandomOcclusionTransform,
    find_index,
    insert_before,
)


class nnUNetTrainerCTA(nnUNetTrainerCTA_Base):
    """Our default: centerline-weighted soft Dice + CE/BCE, labels or regions, paper augmentations.

    Attributes:
        centerline_target: extra target the pipeline appends: ``"weight"`` (centerline weight map),
            ``"skeleton"`` or None.
        topology_loss: None, ``"skeleton_recall"`` or ``"cldice"``; ``topology_weight`` its weight.
        centerline_alpha, centerline_beta, centerline_r_ref: weight-map parameters
            (:mod:`nnunetv2_cta.transforms.targets`).
        skeleton_dilation: dilations of the skeleton target ("tubed" skeleton).
        region_loss_weights: label or region name -> weight in the Dice mean (and BCE for regions), e.g.
            ``{"intracranial": 2.0}``; unnamed channels weigh 1.
        ce_class_weight_power: None, or the exponent of the attenuated inverse-frequency CE/BCE weights
            (1/3 = cube root), counted on the training split's preprocessed segmentations.
        rotation_degrees: rotation range ± in degrees (3D patches that are not pseudo-2D).
        occlusion_probability, noise_probability: per-sample probabilities of the occlusion box and of
            Gaussian noise (nnU-Net: 0.1).
        vessel_labels: label values that are vessels (the skeleton / weight map is built from their union).
    """

    centerline_target: ClassVar[str | None] = "weight"
    topology_loss: ClassVar[str | None] = None
    topology_weight: ClassVar[float] = 1.0
    centerline_alpha: ClassVar[float] = 16.0
    centerline_beta: ClassVar[float] = 0.5
    centerline_r_ref: ClassVar[float] = 2.0
    skeleton_dilation: ClassVar[int] = 0
    region_loss_weights: ClassVar[MappingProxyType] = MappingProxyType({})
    ce_class_weight_power: ClassVar[float | None] = None
    rotation_degrees: ClassVar[float] = 25.0
    occlusion_probability: ClassVar[float] = 0.2
    noise_probability: ClassVar[float] = 0.15
    vessel_labels: ClassVar[tuple[int, ...]] = VESSEL_LABELS

    # ---- labels / regions -------------------------------------------------------------------------------
    def output_channel_names(self) -> list[str]:
        """Name of each network output channel: label names (softmax) or region names (regions)."""
        labels = self.dataset_json["labels"]
        if self.label_manager.has_regions:
            return [k for k, v in labels.items() if k != "ignore" and set(np.atleast_1d(v).tolist()) != {0}]
        by_value = {int(v): k for k, v in labels.items() if k != "ignore"}
        return [by_value[v] for v in self.label_manager.all_labels]

    def vessel_output_channels(self) -> list[int]:
        """Output channels that are vessels: vessel labels, or regions made only of vessel labels.

        Raises ConfigurationError for an ignore label (unsupported), a dataset without vessel labels, a region
        mixing vessel and non-vessel labels, or a label that no region exports (``regions_class_order``).
        """
        lm = self.label_manager
        vessels = set(self.vessel_labels)
        if lm.has_ignore_label:
            raise ConfigurationError(
                f"{type(self).__name__} does not support an ignore label, got {lm.ignore_label!r}"
            )
        if not vessels & set(lm.all_labels):
            raise ConfigurationError(
                f"dataset labels {self.dataset_json['labels']!r} contain no vessel label {sorted(vessels)}"
            )
        if not lm.has_regions:
            return [c for c, v in enumerate(lm.all_labels) if v in vessels]
        exported = set(self.dataset_json.get("regions_class_order", []))
        missing = sorted(int(v) for v in set(lm.all_labels) - {0} - exported)
        if missing:
            raise ConfigurationError(
                f"labels {missing} belong to a region but no region exports them: regions_class_order "
                f"{self.dataset_json.get('regions_class_order')!r} must contain every label of {lm.foreground_regions!r}"
            )
        channels = []
        for c, region in enumerate(lm.foreground_regions):
            values = set(np.atleast_1d(region).tolist())
            if values <= vessels:
                channels.append(c)
            elif values & vessels:
                raise ConfigurationError(
                    f"region {region!r} mixes vessel labels {sorted(vessels)} with other labels"
                )
        return channels

    # ---- augmentation ----------------------------------------------------------------------------------
    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        rotation, dummy_2d, initial, mirror_axes = (
            super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        )
        if not dummy_2d and len(self.configuration_manager.patch_size) == 3:
            a = float(np.deg2rad(self.rotation_degrees))
            rotation = (-a, a)
            initial = get_patch_size(
                self.configuration_manager.patch_size, rotation, rotation, rotation, (0.85, 1.25)
            )
        return rotation, dummy_2d, initial, mirror_axes

    def centerline_transform(self) -> CenterlineTargetTransform | None:
        """The transform appending ``centerline_target`` (None when the loss needs no extra target)."""
        if self.centerline_target is None:
            return None
        vc = self.vessel_output_channels()
        where = (
            {"vessel_channels": vc}
            if self.label_manager.has_regions
            else {"vessel_labels": [v for v in self.label_manager.all_labels if v in self.vessel_labels]}
        )
        return CenterlineTargetTransform(
            self.centerline_target,
            skeleton_dilation=self.skeleton_dilation,
            alpha=self.centerline_alpha,
            beta=self.centerline_beta,
            r_ref=self.centerline_r_ref,
            **where,
        )

    def get_training_transforms(
        self, patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes, *args, **kwargs
    ):
        pipeline = super().get_training_transforms(
            patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes, *args, **kwargs
        )
        transforms = pipeline.transforms
        i = find_index(transforms, GaussianNoiseTransform)
        if i is not None:
            transforms[i].apply_probability = self.noise_probability
        if self.occlusion_probability > 0:
            occlusion = RandomTransform(
                RandomOcclusionTransform(), apply_probability=self.occlusion_probability
            )
            insert_before(transforms, GaussianNoiseTransform, occlusion)
        target = self.centerline_transform()
        if target is not None:
            insert_before(transforms, DownsampleSegForDSTransform, target)
        return pipeline

    # ---- loss ------------------------------------------------------------------------------------------
    def class_voxel_counts(self) -> np.ndarray:
        """Voxels per output channel over the training split: per label (softmax) or ``[negatives,
        positives]`` per region (regions, shape ``(C, 2)``)."""
        from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

        tr_keys, _ = self.do_split()
        dataset = infer_dataset_class(self.preprocessed_dataset_folder)(
            self.preprocessed_dataset_folder, tr_keys
        )
        lm = self.label_manager
        regions = lm.foreground_regions if lm.has_regions else None
        counts = np.zeros((len(regions), 2) if regions else len(lm.all_labels), np.float64)
        for key in tr_keys:
            seg = np.asarray(dataset.load_case(key)[1])[0]
            if regions:
                for c, region in enumerate(regions):
                    pos = np.isin(seg, np.atleast_1d(region)).sum()
                    counts[c] += ((seg >= 0).sum() - pos, pos)
            else:
                counts += np.bincount(seg[seg >= 0].ravel().astype(np.int64), minlength=len(counts))[
                    : len(counts)
                ]
        return counts

    def ce_weights(self):
        """Attenuated CE weights (softmax) or BCE ``pos_weight`` per region; None when switched off."""
        if self.ce_class_weight_power is None:
            return None
        counts = self.class_voxel_counts()
        if counts.ndim == 1:
            weights = attenuated_class_weights(counts, self.ce_class_weight_power)
        else:
            pairs = [attenuated_class_weights(c, self.ce_class_weight_power) for c in counts]
            weights = np.array([float(w[1] / w[0]) for w in pairs], np.float32)
        self.print_to_log_file(
            f"attenuated CE class weights (power {self.ce_class_weight_power}): {np.asarray(weights)}"
        )
        return weights

    def _build_loss(self):
        names = self.output_channel_names()
        unknown = sorted(set(self.region_loss_weights) - set(names))
        if unknown:
            raise ConfigurationError(f"region_loss_weights names {unknown} are not output channels {names}")
        loss = CTALoss(
            regions=self.label_manager.has_regions,
            extra_target=self.centerline_target,
            topology=self.topology_loss,
            vessel_channels=self.vessel_output_channels(),
            topology_weight=self.topology_weight,
            channel_weights=[float(self.region_loss_weights.get(n, 1.0)) for n in names],
            ce_class_weights=self.ce_weights(),
            batch_dice=self.configuration_manager.batch_dice,
        )
        parent = super()._build_loss()  # only for its deep-supervision weights
        return (
            DeepSupervisionWrapper(loss, parent.weight_factors)
            if isinstance(parent, DeepSupervisionWrapper)
            else loss
        )


class nnUNetTrainerCTA_NoCenterline(nnUNetTrainerCTA):
    """Ablation: everything of nnUNetTrainerCTA except the centerline weighting (plain soft Dice + CE/BCE)."""

    centerline_target = None


class nnUNetTrainerCTA_SkeletonRecall(nnUNetTrainerCTA):
    """Comparison: plain Dice + CE/BCE + skeleton recall (Kirchhoff et al., ECCV 2024) on a tubed skeleton;
    works with regions too (the published trainer refuses them)."""

    centerline_target = "skeleton"
    topology_loss = "skeleton_recall"
    skeleton_dilation = 1


class nnUNetTrainerCTA_clDice(nnUNetTrainerCTA):
    """Comparison: plain Dice + CE/BCE + clDice (Shit et al., CVPR 2021); the label skeleton is exact (from the
    data pipeline), the prediction's is the paper's soft skeleton."""

    centerline_target = "skeleton"
    topology_loss = "cldice"


class nnUNetTrainerCTA_NCCT(nnUNetTrainerCTA):
    """nnUNetTrainerCTA for non-contrast CT: centerline weight ``alpha`` 1 instead of 16.

    Chosen by the selection rule of ``nnunetv2_cta choose`` among alpha 16, 4 and 1 on the validation cases of
    nnU-Net's fold 0 of the benchmark's 24 NCCT training phantoms (benchmarks/results/ncct_centerline_weight/):
    with unenhanced vessels barely above the noise, alpha 16 made the network fire on noise all over the brain
    (validation vessels Dice 0.335, alpha 1 0.611). Chosen at the CPU budget; not validated on real NCCT.
    """

    centerline_alpha = 1.0


# short schedules for CPU tests and demos: the tiny base class supplies the schedule attributes via the MRO
class nnUNetTrainerCTA_tiny(nnUNetTrainerCTA, nnUNetTrainerCTA_Base_tiny):
    """nnUNetTrainerCTA with the schedule of nnUNetTrainerCTA_Base_tiny."""


class nnUNetTrainerCTA_NoCenterline_tiny(nnUNetTrainerCTA_NoCenterline, nnUNetTrainerCTA_Base_tiny):
    """nnUNetTrainerCTA_NoCenterline with the schedule of nnUNetTrainerCTA_Base_tiny."""


class nnUNetTrainerCTA_SkeletonRecall_tiny(nnUNetTrainerCTA_SkeletonRecall, nnUNetTrainerCTA_Base_tiny):
    """nnUNetTrainerCTA_SkeletonRecall with the schedule of nnUNetTrainerCTA_Base_tiny."""


class nnUNetTrainerCTA_clDice_tiny(nnUNetTrainerCTA_clDice, nnUNetTrainerCTA_Base_tiny):
    """nnUNetTrainerCTA_clDice with the schedule of nnUNetTrainerCTA_Base_tiny."""


class nnUNetTrainerCTA_demo(nnUNetTrainerCTA, nnUNetTrainerCTA_Base_demo):
    """nnUNetTrainerCTA with the CPU demo schedule of nnUNetTrainerCTA_Base_demo."""


class nnUNetTrainerCTA_demo_full(nnUNetTrainerCTA, nnUNetTrainerCTA_Base_demo_full):
    """nnUNetTrainerCTA with the longer CPU demo schedule of nnUNetTrainerCTA_Base_demo_full."""


CTA_TRAINERS: tuple[type, ...] = (
    nnUNetTrainerCTA,
    nnUNetTrainerCTA_NoCenterline,
    nnUNetTrainerCTA_SkeletonRecall,
    nnUNetTrainerCTA_clDice,
    nnUNetTrainerCTA_NCCT,
    nnUNetTrainerCTA_tiny,
    nnUNetTrainerCTA_NoCenterline_tiny,
    nnUNetTrainerCTA_SkeletonRecall_tiny,
    nnUNetTrainerCTA_clDice_tiny,
    nnUNetTrainerCTA_demo,
    nnUNetTrainerCTA_demo_full,
)
