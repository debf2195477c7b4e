"""Deprecated alias of :mod:`nnunetv2_cta.transforms.compose` (renamed in 0.2: three modules were called pipeline)."""

from nnunetv2_cta.transforms.compose import find_index, insert_before, unwrap

__all__ = ["find_index", "insert_before", "unwrap"]
