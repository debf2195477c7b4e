"""Deprecated alias of :mod:`nnunetv2_cta.postprocessing.repair_record` (renamed in 0.2: it sat beside
gap_bridging.py)."""

from nnunetv2_cta.postprocessing.repair_record import (
    FORMAT,
    VERSION,
    RepairedGap,
    load_repaired_gaps,
    save_repaired_gaps,
)

__all__ = ["FORMAT", "VERSION", "RepairedGap", "load_repaired_gaps", "save_repaired_gaps"]
