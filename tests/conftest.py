"""Shared test configuration.

``pytest_configure`` points ``nnUNet_raw`` / ``nnUNet_preprocessed`` / ``nnUNet_results`` at a fresh session
folder before any test runs, so the suite never touches a user's real nnU-Net folders (nnU-Net 2.8 reads
them from the environment when used, subprocesses inherit them). Tests that need nnU-Net pick distinct
dataset ids: planners/commands 950-969, phantom 900-909, trainers 910-929, conversion 930-949.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

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
