"""Shared test configuration.

``pytest_configure`` points ``nnUNet_raw`` / ``nnUNet_preprocessed`` / ``nnUNet_results`` at a fresh session
folder before any test runs, so the suite never touches a user's real nnU-Net folders (nnU-Net 2.8 reads
them from the environment when used, subprocesses inherit them). Tests that need nnU-Net pick distinct
dataset ids: planners/commands 950-969, phantom 900-909, trainers 910-929, conversion 930-949, CGPM 970-979,
benchmark 980-989, inference 990-994, demo 999.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.labels import dataset_json

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
_SESSION_ROOT: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _SESSION_ROOT
    _SESSION_ROOT = Path(tempfile.mkdtemp(prefix="nnunetv2_cta_tests_"))
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        folder = _SESSION_ROOT / var
        folder.mkdir()
        os.environ[var] = str(folder)
    # keep CPU tests predictable on the 2-core CI machine
    os.environ.setdefault("nnUNet_n_proc_DA", "0")
    os.environ.setdefault("nnUNet_def_n_proc", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_ROOT is not None:
        shutil.rmtree(_SESSION_ROOT, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def nnunet_dirs() -> dict[str, Path]:
    """The session's nnU-Net raw / preprocessed / results folders (set in ``pytest_configure``)."""
    return {var: Path(os.environ[var]) for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real`` beside the project; skips the test when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder {REAL_DATA} is absent (tests on real scans run only beside shared/)")
    return REAL_DATA


# --- tiny synthetic CT datasets (a bone slab and two tubes; no phantom needed) ---


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
