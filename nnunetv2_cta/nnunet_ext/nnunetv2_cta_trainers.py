"""Re-exports every nnunetv2_cta trainer class for nnU-Net's ``nnUNet_extTrainer`` lookup. Nothing else."""

from nnunetv2_cta.trainers import TRAINERS

globals().update(TRAINERS)
__all__ = sorted(TRAINERS)
