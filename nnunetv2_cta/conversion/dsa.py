"""3D rotational angiography (3D-DSA) -> dataset with vessel / bone / soft-tissue labels.

A 3D-DSA run gives a *fill* volume (contrast in the arteries, bone visible) and either the *subtracted*
volume (fill minus the non-contrast mask run: arteries only) or the *mask* volume itself (then
``subtracted = fill - mask``). Labels are made as in 3D deep-learning angiography (DLA; Montoya et al., "3D Deep Learning Angiography
(3D-DLA) from C-arm Conebeam CT", AJNR 2018;39:916-922), where the 3D-DSA subtraction served as automatic
ground truth for vessel and bone classes, with these documented parameters:

* **vessels** = ``subtracted >= vessel_threshold``; ``vessel_threshold=None`` uses Otsu's threshold of the
  subtracted volume's positive voxels (vendors scale 3D-DSA differently, so a fixed number rarely
  transfers). Connected components (26-connectivity, ``cc3d``) smaller than ``min_vessel_mm3``
  (default 10 mm³) are dropped: subtraction artefacts from motion and beam hardening are small islands,
  while the arterial tree is a few large components.
* **bone** = ``fill >= bone_threshold`` minus the vessels dilated by ``vessel_margin_vox`` voxels (contrast
  lumen is as bright as bone in the fill volume; the margin removes its partial-volume rim), with
  components smaller than ``min_bone_mm3`` (default 50 mm³) dropped. ``bone_threshold=None`` uses
  a two-level Otsu: first Otsu of the whole fill volume (air | tissue), then Otsu
  of the voxels above it (soft tissue | bone and contrast).
* **soft tissue** = everything else: background (0) in our scheme.

Vessels get ``vessel_label`` (default 4, intracranial: a head 3D-DSA sees the intracranial tree).
The image channel of the dataset is the fill volume (``"CT"`` channel name: C-arm CT reconstructions are
approximately HU-calibrated; pass ``channel_name`` otherwise).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from nnunetv2_cta.conversion.common import ConversionSummary, RawDatasetWriter, list_cases
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.io import check_same_grid, read_image
from nnunetv2_cta.labels import BONE, INTRACRANIAL, VESSEL_LABELS

logger = logging.getLogger(__name__)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (Otsu 1979) of a 1D sample: maximises the between-class variance."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2 or values.min() == values.max():
        raise DatasetFormatError("cannot choose an automatic threshold: the volume is constant")
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between[:-1])) + 1])


def dsa_labels(
    fill: np.ndarray,
    subtracted: np.ndarray,
    spacing_zyx: tuple[float, float, float],
    *,
    vessel_threshold: float | None = None,
    bone_threshold: float | None = None,
    min_vessel_mm3: float = 10.0,
    min_bone_mm3: float = 50.0,
    vessel_margin_vox: int = 1,
    vessel_label: int = INTRACRANIAL,
) -> tuple[np.ndarray, dict]:
    """Label map (uint8 ``[z, y, x]``: 0 soft tissue, 1 bone, ``vessel_label`` vessels) and a report.

    Args:
        fill: fill volume ``[z, y, x]``.
        subtracted: subtracted volume on the same grid.
        spacing_zyx: voxel size in mm (for the component volume thresholds).
        Other arguments: see the module docstring.

    Returns:
        ``(labels, report)``; the report holds the thresholds used and what the component filter removed.
    """
    import cc3d
    from scipy import ndimage

    if vessel_label not in VESSEL_LABELS:
        raise ConfigurationError(f"vessel_label must be one of {VESSEL_LABELS}, got {vessel_label!r}")
    if fill.shape != subtracted.shape:
        raise DatasetFormatError(f"fill shape {fill.shape} != subtracted shape {subtracted.shape}")
    for what, arr in (("fill", fill), ("subtracted", subtracted)):
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            raise DatasetFormatError(f"{what} volume holds NaN or infinite values")
    voxel = float(np.prod(spacing_zyx))
    if vessel_threshold is None:
        positive = subtracted[subtracted > 0]
        if positive.size < 2:
            raise DatasetFormatError("subtracted volume has no positive voxel: no contrast to threshold")
        vessel_threshold = otsu_threshold(positive)
    raw = subtracted >= vessel_threshold
    vessels = cc3d.dust(raw, threshold=int(np.ceil(min_vessel_mm3 / voxel)), connectivity=26, in_place=False)
    n_raw = int(cc3d.connected_components(raw, connectivity=26, return_N=True)[1])
    n_kept = int(cc3d.connected_components(vessels, connectivity=26, return_N=True)[1])
    if bone_threshold is None:
        tissue = otsu_threshold(fill)  # air | tissue
        bone_threshold = otsu_threshold(fill[fill > tissue])  # soft tissue | bone and contrast
    near_vessel = (
        ndimage.binary_dilation(vessels, iterations=int(vessel_margin_vox)) if vessel_margin_vox else vessels
    )
    bone = (fill >= bone_threshold) & ~near_vessel
    bone = cc3d.dust(bone, threshold=int(np.ceil(min_bone_mm3 / voxel)), connectivity=26, in_place=False)
    labels = np.zeros(fill.shape, dtype=np.uint8)
    labels[bone] = BONE
    labels[vessels] = vessel_label
    report = {
        "vessel_threshold": float(vessel_threshold),
        "bone_threshold": float(bone_threshold),
        "vessel_components_removed": n_raw - n_kept,
        "vessel_voxels_removed": int(raw.sum() - vessels.sum()),
        "vessel_components_kept": n_kept,
        "vessel_volume_mm3": round(float(vessels.sum()) * voxel, 1),
        "bone_volume_mm3": round(float(bone.sum()) * voxel, 1),
    }
    return labels, report


def convert_dsa(
    fill_dir: str | os.PathLike,
    second_dir: str | os.PathLike,
    *,
    dataset_id: int,
    name: str,
    second_is_mask: bool = False,
    output: str | os.PathLike | None = None,
    vessel_threshold: float | None = None,
    bone_threshold: float | None = None,
    min_vessel_mm3: float = 10.0,
    min_bone_mm3: float = 50.0,
    vessel_label: int = INTRACRANIAL,
    channel_name: str = "CT",
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = False,
) -> ConversionSummary:
    """Fill volumes + subtracted (or mask, ``second_is_mask=True``) volumes with the same case names -> dataset."""
    fills, seconds = list_cases(fill_dir), list_cases(second_dir)
    if not fills:
        raise DatasetFormatError(f"no fill volumes in {str(fill_dir)!r}")
    params = {
        "vessel_threshold": vessel_threshold,
        "bone_threshold": bone_threshold,
        "min_vessel_mm3": min_vessel_mm3,
        "min_bone_mm3": min_bone_mm3,
        "vessel_label": vessel_label,
        "second_volume": "mask" if second_is_mask else "subtracted",
    }
    with RawDatasetWriter(
        dataset_id,
        name,
        output=output,
        overwrite=overwrite,
        channel_name=channel_name,
        description="3D-DSA fill volumes with thresholded vessel/bone labels (nnunetv2_cta convert dsa)",
        extra={"cta_source": {"converter": "dsa", **params}},
        strict=strict,
    ) as writer:

        def convert(case: str, path: Path) -> None:
            if case not in seconds:
                writer.skip(
                    case, f"no {'mask' if second_is_mask else 'subtracted'} volume with the same case name"
                )
                return
            fill, geometry = read_image(path)
            second, second_geometry = read_image(seconds[case])
            check_same_grid((fill, geometry), (second, second_geometry), what=f"{case} second volume")
            fill = fill.astype(np.float32)
            subtracted = fill - second.astype(np.float32) if second_is_mask else second.astype(np.float32)
            labels, report = dsa_labels(
                fill,
                subtracted,
                geometry.spacing,
                vessel_threshold=vessel_threshold,
                bone_threshold=bone_threshold,
                min_vessel_mm3=min_vessel_mm3,
                min_bone_mm3=min_bone_mm3,
                vessel_label=vessel_label,
            )
            writer.add_case(case, fill, geometry, labels, note=report)

        writer.run_cases(fills.items(), convert, progress=progress)
        return writer.finish()
