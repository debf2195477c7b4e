"""Image + label-map pairs (NIfTI, MHA, NRRD) -> nnU-Net raw dataset with our label scheme.

Pairing: an image ``<case>.nii.gz`` or ``<case>_0000.nii.gz`` in the images folder goes with the label
map ``<case>.<any volume ending>`` in the labels folder. Every pair is checked (3D, finite, not constant,
same voxel grid, label values in our scheme after the optional mapping); a failing pair is skipped with
its reason and listed in the summary.

Label noise: annotation tools leave scattered islands of a few voxels (mis-clicks). With
``min_component_mm3`` every connected component (26-connectivity, per label value) smaller than that
volume is set to background, and the removal is reported per case (count and voxels). The CTA papers
this plugin follows cleaned their manual labels the same way before training; choose the threshold
well below the smallest real vessel fragment you expect (a 2 mm long, 1 mm wide branch is ~1.6 mm³).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from nnunetv2_cta.conversion.common import (
    ConversionSummary,
    RawDatasetWriter,
    apply_label_mapping,
    list_cases,
    list_label_maps,
)
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.io import read_image

logger = logging.getLogger(__name__)


def remove_label_noise(
    labels: np.ndarray, spacing_zyx: tuple[float, float, float], min_component_mm3: float
) -> tuple[np.ndarray, dict]:
    """Set connected components smaller than ``min_component_mm3`` to 0, per label value.

    Args:
        labels: ``[z, y, x]`` integer label map.
        spacing_zyx: voxel size in mm.
        min_component_mm3: components with volume strictly below this are removed (26-connectivity).

    Returns:
        ``(cleaned, report)`` with ``report = {"removed_components": {label: n}, "removed_voxels": {label: n}}``.

    Example: a 3x3x3 cube (27 voxels) and a lone voxel of label 3 at 1 mm spacing, threshold 2 mm³ ->
    the lone voxel is removed: ``{"removed_components": {3: 1}, "removed_voxels": {3: 1}}``.
    """
    import cc3d

    if min_component_mm3 < 0:
        raise ConfigurationError(f"min_component_mm3 must be >= 0, got {min_component_mm3!r}")
    voxel_mm3 = float(np.prod(spacing_zyx))
    min_voxels = int(np.ceil(min_component_mm3 / voxel_mm3 - 1e-9))
    out = labels.copy()
    report: dict = {"removed_components": {}, "removed_voxels": {}}
    if min_voxels <= 1:
        return out, report
    for value in (int(v) for v in np.unique(labels) if v != 0):
        mask = labels == value
        cc, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
        if n == 0:
            continue
        sizes = np.bincount(cc.ravel())
        small = np.flatnonzero(sizes < min_voxels)
        small = small[small != 0]
        if small.size:
            out[np.isin(cc, small)] = 0
            report["removed_components"][value] = int(small.size)
            report["removed_voxels"][value] = int(sizes[small].sum())
    return out, report


def pair_files(
    images_dir: str | os.PathLike, labels_dir: str | os.PathLike
) -> list[tuple[str, Path, Path | None]]:
    """``[(case, image_path, label_path or None), ...]`` sorted by case.

    Raises:
        DatasetFormatError: a folder is missing or holds no volume, or two images map to one case.
    """
    images = list_cases(images_dir)
    labels = list_label_maps(labels_dir)
    if not images:
        raise DatasetFormatError(f"no image volumes in {str(images_dir)!r}")
    return [(case, img, labels.get(case)) for case, img in images.items()]


def convert_nifti_pairs(
    images_dir: str | os.PathLike,
    labels_dir: str | os.PathLike,
    *,
    dataset_id: int,
    name: str,
    output: str | os.PathLike | None = None,
    label_mapping: dict[int, int] | None = None,
    min_component_mm3: float = 0.0,
    regions: bool = False,
    rename: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = False,
) -> ConversionSummary:
    """Convert image/label pairs into ``DatasetXXX_<name>`` (see module docstring).

    Args:
        label_mapping: foreign value -> our value (e.g. ``{1: 2, 2: 3, 3: 4}``); every value present must
            be mapped. ``None``: values must already be in our scheme.
        min_component_mm3: remove label islands smaller than this (0: keep everything).
        regions: declare the overlapping vessel region in dataset.json.
        rename: name cases ``case_000, case_001, ...`` instead of keeping the file stems (use this when
            file names could identify patients).
        strict: stop at the first bad pair instead of skipping it.

    Raises:
        OutputExistsError: the dataset id is used and ``overwrite`` is false.
        DatasetFormatError: no pair could be converted.
    """
    pairs = pair_files(images_dir, labels_dir)
    with RawDatasetWriter(
        dataset_id,
        name,
        output=output,
        overwrite=overwrite,
        regions=regions,
        description="converted by nnunetv2_cta convert nifti-pairs",
        extra={"cta_source": {"converter": "nifti-pairs", "min_component_mm3": min_component_mm3}},
        strict=strict,
    ) as writer:
        names = {case: (f"case_{i:03d}" if rename else case) for i, (case, _, _) in enumerate(pairs)}

        def convert(out_case: str, item: tuple[Path, Path | None]) -> None:
            image_path, label_path = item
            if label_path is None:
                writer.skip(out_case, "no label map with the same case name")
                return
            image, geometry = read_image(image_path)
            labels, label_geometry = read_image(label_path)
            if label_mapping is not None:
                if np.issubdtype(labels.dtype, np.floating) and not np.all(np.mod(labels, 1) == 0):
                    raise DatasetFormatError("label map holds non-integer values")
                labels = apply_label_mapping(labels.astype(np.int64), label_mapping, what="label map")
            note = {}
            if min_component_mm3 > 0:
                labels, report = remove_label_noise(labels, label_geometry.spacing, min_component_mm3)
                note["label_noise_removed"] = report
                if report["removed_components"]:
                    logger.info("%s: removed label islands %s", out_case, report)
            writer.add_case(out_case, image, geometry, labels, label_geometry, note=note)

        writer.run_cases(((names[case], (img, lab)) for case, img, lab in pairs), convert, progress=progress)
        return writer.finish()
