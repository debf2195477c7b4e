"""Shared helpers of the benchmark tests.

``run_benchmark`` points ``nnUNet_raw`` / ``nnUNet_preprocessed`` / ``nnUNet_results`` / ``nnUNet_extTrainer`` of
the process at its work folder; the ``keep_nnunet_env`` fixture restores the session's values afterwards.
User datasets written by these tests use nnU-Net ids 980-989 (the phantom datasets of a run live in its own work folder).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from nnunetv2_cta.io import Geometry, write_image


@pytest.fixture
def keep_nnunet_env(monkeypatch):
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer"):
        monkeypatch.setenv(var, os.environ.get(var, "unset"))
    yield


@pytest.fixture
def real_dir(tmp_path):
    """A TopCoW-like label map (two artery classes) and an AVM-like angiogram (a tube, a speck, a dim zone)."""
    root = tmp_path / "real"
    (root / "topcow").mkdir(parents=True)
    (root / "avm_head_cta").mkdir()
    cow = np.zeros((12, 20, 20), np.uint8)
    cow[6, 10, 3:17] = 1  # a basilar-like segment, class 1
    cow[3:9, 5, 5] = 5  # another class: merged into one lumen
    write_image(root / "topcow" / "topcow_ct_roi_001.nii.gz", cow, Geometry(spacing=(0.75, 0.5, 0.5)))
    write_image(
        root / "topcow" / "LPS_ACA_flipped.nii.gz", cow, Geometry(spacing=(0.75, 0.5, 0.5))
    )  # not taken
    avm = np.full((16, 24, 24), 100.0)  # below the threshold everywhere: background
    avm[4:7, 4:7, 2:22] = 300.0  # a tube of 3 x 3 x 20 = 180 voxels: kept
    avm[12, 20, 20] = 400.0  # a single bright voxel: an island under AVM_MIN_ISLAND, dropped
    write_image(root / "avm_head_cta" / "AVM.nii.gz", avm, Geometry(spacing=(1.0, 0.55, 0.55)))
    return root, cow, avm
