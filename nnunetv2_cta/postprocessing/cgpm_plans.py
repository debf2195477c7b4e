"""Deprecated alias of :mod:`nnunetv2_cta.cgpm.plans` (moved in 0.2; kept for existing scripts)."""

from nnunetv2_cta.cgpm.plans import CGPM_CONFIGURATION, add_cgpm_configuration

__all__ = ["CGPM_CONFIGURATION", "add_cgpm_configuration"]
