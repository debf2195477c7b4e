"""Plan for a cohort you describe instead of one you have: a stub raw dataset plus a dataset fingerprint.

nnU-Net's planners read only ``dataset.json``, the fingerprint and one image file name, so the plans (patch,
batch size, network) for e.g. 10 head-and-neck CTAs at 0.5-0.7 mm can be computed without the images. The
tests and ``benchmarks/planner_presets.py`` use it to compare presets on a clinical-size cohort.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.labels import dataset_json

#: CT intensity statistics of contrast-filled foreground (HU), used for CT normalisation in the plans
_CTA_FOREGROUND_HU = {
    "max": 1800.0,
    "mean": 350.0,
    "median": 320.0,
    "min": -100.0,
    "percentile_00_5": 0.0,
    "percentile_99_5": 1500.0,
    "std": 200.0,
}


def clinical_head_neck_cohort(n_cases: int = 10, seed: int = 0) -> tuple[list[list[float]], list[list[int]]]:
    """Spacings (mm) and shapes ``[z, y, x]`` of a typical head-and-neck CTA cohort.

    Slices 0.5, 0.625 or 0.7 mm, in-plane 0.45 mm, 512 x 512 matrix, 560-700 slices (arch to vertex).
    """
    rng = np.random.default_rng(seed)
    spacings = [[float(rng.choice([0.5, 0.625, 0.7])), 0.45, 0.45] for _ in range(n_cases)]
    shapes = [[int(rng.integers(560, 700)), 512, 512] for _ in range(n_cases)]
    return spacings, shapes


def write_fingerprint_dataset(
    dataset_id: int,
    name: str,
    spacings: Sequence[Sequence[float]],
    shapes: Sequence[Sequence[int]],
) -> str:
    """Write ``$nnUNet_raw/DatasetXXX_<name>`` (one stub image) and its ``dataset_fingerprint.json``.

    Returns:
        the dataset folder name, ready for ``PLANNERS[preset](dataset_id).plan_experiment()``.
    """
    if len(spacings) != len(shapes) or not spacings:
        raise DatasetFormatError(
            f"spacings and shapes must be equally long and non-empty, got {len(spacings)} and {len(shapes)}"
        )
    folder = f"Dataset{int(dataset_id):03d}_{name}"
    raw = Path(os.environ["nnUNet_raw"]) / folder
    stub = np.zeros((8, 8, 8), np.int16)
    write_image(raw / "imagesTr" / "stub_000_0000.nii.gz", stub, Geometry((1.0, 1.0, 1.0)))
    write_image(raw / "labelsTr" / "stub_000.nii.gz", stub.astype(np.uint8), Geometry((1.0, 1.0, 1.0)))
    (raw / "dataset.json").write_text(json.dumps(dataset_json(len(spacings), name=name)))
    fingerprint = {
        "spacings": [list(map(float, s)) for s in spacings],
        "shapes_after_crop": [list(map(int, s)) for s in shapes],
        "median_relative_size_after_cropping": 1.0,
        "foreground_intensity_properties_per_channel": {"0": dict(_CTA_FOREGROUND_HU)},
    }
    pre = Path(os.environ["nnUNet_preprocessed"]) / folder
    pre.mkdir(parents=True, exist_ok=True)
    (pre / "dataset_fingerprint.json").write_text(json.dumps(fingerprint))
    return folder
