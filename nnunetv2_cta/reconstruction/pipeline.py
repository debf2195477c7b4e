"""Deprecated alias of :mod:`nnunetv2_cta.reconstruction.reconstruct` (renamed in 0.2)."""

from nnunetv2_cta.reconstruction.reconstruct import CPR_TITLES, MIN_CPR_MM, reconstruct_case

__all__ = ["CPR_TITLES", "MIN_CPR_MM", "reconstruct_case"]
