"""Deprecated alias of :mod:`nnunetv2_cta.reconstruction.break_search` (renamed in 0.2: two modules were called
breaks)."""

from nnunetv2_cta.reconstruction.break_search import suspected_breaks

__all__ = ["suspected_breaks"]
