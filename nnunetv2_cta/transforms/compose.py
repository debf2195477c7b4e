"""Helpers to extend nnU-Net's ``ComposeTransforms`` pipeline in place instead of copying it."""

from __future__ import annotations

from collections.abc import Callable

from batchgeneratorsv2.transforms.base.basic_transform import BasicTransform
from batchgeneratorsv2.transforms.utils.random import RandomTransform


def unwrap(transform: BasicTransform) -> BasicTransform:
    """The transform inside a ``RandomTransform`` wrapper (or the transform itself)."""
    return transform.transform if isinstance(transform, RandomTransform) else transform


def find_index(transforms: list[BasicTransform], cls: type | Callable[[BasicTransform], bool]) -> int | None:
    """Index of the first transform (looking inside ``RandomTransform``) that is a ``cls`` instance or for
    which the predicate ``cls`` is true; None when there is none."""
    test = (lambda t: isinstance(t, cls)) if isinstance(cls, type) else cls
    for i, t in enumerate(transforms):
        if test(unwrap(t)):
            return i
    return None


def insert_before(transforms: list[BasicTransform], cls: type, new: BasicTransform) -> int:
    """Insert ``new`` before the first ``cls`` transform, or append it when there is none; returns its index."""
    i = find_index(transforms, cls)
    i = len(transforms) if i is None else i
    transforms.insert(i, new)
    return i
