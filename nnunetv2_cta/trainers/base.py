"""Base trainer of nnunetv2_cta: nnU-Net's trainer with the schedule and mirroring set by class attributes.

nnU-Net fixes the trainer constructor ``(plans, configuration, fold, dataset_json, device)``, so every knob of
our trainers is a class attribute, and a variant is a subclass that changes attributes or overrides one hook.
Class names are permanent public identifiers: they name nnU-Net's results folders.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerCTA_Base(nnUNetTrainer):
    """nnU-Net's default training with a class-attribute schedule; the parent of all nnunetv2_cta trainers.

    Attributes:
        num_epochs_default: epochs (nnU-Net: 1000).
        num_iterations_per_epoch_default: training iterations per epoch (nnU-Net: 250).
        num_val_iterations_default: validation iterations per epoch (nnU-Net: 50).
        mirroring: mirror axes for augmentation and test-time augmentation. ``True`` keeps nnU-Net's choice
            (all axes); ``False`` disables mirroring, which datasets with left/right-specific labels need.
            Our label scheme (bone, aorta, carotid, intracranial) is not left/right specific.
    """

    num_epochs_default: ClassVar[int] = 1000
    num_iterations_per_epoch_default: ClassVar[int] = 250
    num_val_iterations_default: ClassVar[int] = 50
    mirroring: ClassVar[bool] = True

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 - nnU-Net's fixed signature
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.num_epochs_default
        self.num_iterations_per_epoch = self.num_iterations_per_epoch_default
        self.num_val_iterations_per_epoch = self.num_val_iterations_default
        cta = plans.get("cta")
        if cta is None:
            self.print_to_log_file(
                f"note: plans {plans.get('plans_name')!r} were not made by the CTA planner (no 'cta' key)",
                also_print_to_console=False,
            )

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        rotation, dummy_2d, initial_patch_size, mirror_axes = (
            super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        )
        if not self.mirroring:
            mirror_axes = None
            self.inference_allowed_mirroring_axes = None
        return rotation, dummy_2d, initial_patch_size, mirror_axes


class nnUNetTrainerCTA_Base_tiny(nnUNetTrainerCTA_Base):
    """CPU tests and smoke runs: 2 epochs x 4 iterations, 2 validation iterations, no mirroring."""

    num_epochs_default = 2
    num_iterations_per_epoch_default = 4
    num_val_iterations_default = 2
    mirroring = False


class nnUNetTrainerCTA_Base_demo(nnUNetTrainerCTA_Base):
    """``nnunetv2_cta demo --quick`` on a CPU: 20 epochs x 25 iterations, no mirroring (8x cheaper inference)."""

    num_epochs_default = 20
    num_iterations_per_epoch_default = 25
    num_val_iterations_default = 3
    mirroring = False


class nnUNetTrainerCTA_Base_demo_full(nnUNetTrainerCTA_Base_demo):
    """``nnunetv2_cta demo`` (full) on a CPU: 40 epochs x 50 iterations, no mirroring."""

    num_epochs_default = 40
    num_iterations_per_epoch_default = 50
    num_val_iterations_default = 5
