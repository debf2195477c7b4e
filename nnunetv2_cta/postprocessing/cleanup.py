"""Vessel-aware clean-up of a predicted label map: drop isolated specks, keep true small branches.

nnU-Net's own post-processing ("keep the largest component") would delete every real vessel that the network
left disconnected, so we decide per 26-connected component of the union of the vessel labels (2, 3, 4):

- a component is a **speck** (removed, set to background) when its volume is below ``min_vessel_mm3`` *and*
  its longest bounding-box side is below ``min_branch_mm``;
- everything else stays, however small: a detached piece of a thin branch is elongated (a 0.6 mm radius
  branch 6 mm long is only about 7 mm³ but 6 mm long), a noise speck is compact.

Defaults: ``min_vessel_mm3 = 10`` (a sphere of 2.7 mm diameter; the smallest vessel piece a technologist
would keep is a few mm of a 1 mm artery, about 5-10 mm³ and longer than 4 mm) and ``min_branch_mm = 4``.
Bone components below ``min_bone_mm3 = 50`` mm³ (a 4.6 mm sphere: calcified plaque or noise labelled bone)
become background too; bone matters for bone removal only, where a speck is harmless either way, but a bone
speck inside a vessel would punch a hole into the bone-free image.

Pure numpy / cc3d; no torch, no nnunetv2.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.labels import BONE, VESSEL_LABELS


@dataclass(frozen=True)
class CleanupReport:
    """What :func:`clean_labels` removed: component counts and voxels, per kind."""

    vessel_specks: int
    vessel_voxels: int
    bone_specks: int
    bone_voxels: int

    def to_dict(self) -> dict[str, int]:
        return {
            "vessel_specks_removed": self.vessel_specks,
            "vessel_voxels_removed": self.vessel_voxels,
            "bone_specks_removed": self.bone_specks,
            "bone_voxels_removed": self.bone_voxels,
        }


def _specks(
    mask: np.ndarray, spacing: np.ndarray, min_mm3: float, min_extent_mm: float | None
) -> tuple[np.ndarray, int]:
    """Boolean mask of the components of ``mask`` that are specks (rules in the module docstring), and their count."""
    components = cc3d.connected_components(mask, connectivity=26)
    n = int(components.max())
    if n == 0:
        return np.zeros_like(mask), 0
    stats = cc3d.statistics(components)
    volume_mm3 = stats["voxel_counts"][1:] * float(np.prod(spacing))
    small = volume_mm3 < min_mm3
    if min_extent_mm is not None:
        boxes = stats["bounding_boxes"][1:]
        extent = np.array([[(s.stop - s.start) * sp for s, sp in zip(box, spacing)] for box in boxes])
        small &= extent.max(axis=1) < min_extent_mm
    speck_ids = np.flatnonzero(small) + 1
    if speck_ids.size == 0:
        return np.zeros_like(mask), 0
    lookup = np.zeros(n + 1, dtype=bool)
    lookup[speck_ids] = True
    return lookup[components], int(speck_ids.size)


def clean_labels(
    labels: np.ndarray,
    spacing,
    *,
    min_vessel_mm3: float = 10.0,
    min_branch_mm: float = 4.0,
    min_bone_mm3: float = 50.0,
) -> tuple[np.ndarray, CleanupReport]:
    """Remove isolated vessel and bone specks from a label map (rules and defaults in the module docstring).

    Args:
        labels: ``[z, y, x]`` label map in our scheme; not modified.
        spacing: voxel size ``(z, y, x)`` in mm.
        min_vessel_mm3: vessel components smaller than this (mm³) and shorter than ``min_branch_mm`` go.
        min_branch_mm: vessel components whose bounding box is at least this long (mm) always stay.
        min_bone_mm3: bone components smaller than this (mm³) go. ``0`` turns a rule off.

    Returns:
        ``(cleaned, report)``: a new label map (same dtype) and a :class:`CleanupReport`.
    """
    if labels.ndim != 3:
        raise GeometryError(f"labels must be a 3D [z, y, x] array, got shape {labels.shape}")
    spacing = np.asarray(spacing, dtype=float)
    if spacing.shape != (3,) or not np.all(spacing > 0):
        raise GeometryError(f"spacing must be three positive mm values (z, y, x), got {spacing.tolist()}")
    for name, value in (
        ("min_vessel_mm3", min_vessel_mm3),
        ("min_branch_mm", min_branch_mm),
        ("min_bone_mm3", min_bone_mm3),
    ):
        if not np.isfinite(value) or value < 0:
            raise ConfigurationError(f"{name} must be a finite number >= 0, got {value!r}")
    cleaned = labels.copy()
    vessel_specks, n_vessel = _specks(np.isin(labels, VESSEL_LABELS), spacing, min_vessel_mm3, min_branch_mm)
    bone_specks, n_bone = _specks(labels == BONE, spacing, min_bone_mm3, None)
    cleaned[vessel_specks | bone_specks] = 0
    report = CleanupReport(
        vessel_specks=n_vessel,
        vessel_voxels=int(np.count_nonzero(vessel_specks)),
        bone_specks=n_bone,
        bone_voxels=int(np.count_nonzero(bone_specks)),
    )
    return cleaned, report
