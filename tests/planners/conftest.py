"""Tiny synthetic CT datasets for planner and chain tests (no phantom needed: a bone slab and two tubes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.labels import dataset_json


def synthetic_case(seed: int, shape=(56, 52, 48), spacing=(2.0, 2.0, 2.0)):
    """A CT-like volume in HU: soft tissue, a bone slab (label 1), a vertical tube (3) and a curved tube (4)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float32)
    labels = np.zeros(shape, np.uint8)
    labels[:, :, : 6 + seed % 3] = 1  # bone slab
    cy, cx = shape[1] / 2 + rng.uniform(-4, 4), shape[2] / 2 + rng.uniform(-4, 4)
    labels[(y - cy) ** 2 + (x - cx) ** 2 <= 3.5**2] = 3
    cy2 = cy + 8 * np.sin(z / shape[0] * np.pi)
    labels[((y - cy2) ** 2 + (x - cx - 12) ** 2 <= 2.0**2) & (z > shape[0] // 2)] = 4
    image = np.full(shape, 40.0, np.float32)
    image[labels == 1] = 900
    image[labels >= 2] = 400
    image += rng.normal(0, 15, shape).astype(np.float32)
    return image.astype(np.int16), labels, Geometry(spacing=spacing)


def write_synthetic_dataset(
    raw_root: Path, dataset_id: int, n_cases: int = 3, *, channel_name: str = "CT", test_cases: int = 1
) -> Path:
    folder = raw_root / f"Dataset{dataset_id:03d}_Synthetic"
    for i in range(n_cases + test_cases):
        image, labels, geometry = synthetic_case(i)
        split = "Tr" if i < n_cases else "Ts"
        write_image(folder / f"images{split}" / f"case_{i:03d}_0000.nii.gz", image, geometry)
        write_image(folder / f"labels{split}" / f"case_{i:03d}.nii.gz", labels, geometry)
    dj = dataset_json(n_cases, name="Synthetic")
    dj["channel_names"] = {"0": channel_name}
    (folder / "dataset.json").write_text(json.dumps(dj, indent=2))
    return folder


@pytest.fixture
def synthetic_dataset_factory(nnunet_dirs):
    return lambda dataset_id, **kw: write_synthetic_dataset(nnunet_dirs["nnUNet_raw"], dataset_id, **kw)
