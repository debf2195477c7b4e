"""The real chain on CPU: ``nnunetv2_cta plan --preset cpu`` -> stock ``nnUNetv2_train`` -> ``nnUNetv2_predict``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from nnunetv2_cta.environment import ext_trainer_value
from nnunetv2_cta.io import read_image

BIN = Path(sys.executable).parent
DATASET_ID = 950
TRAINER = "nnUNetTrainerCTA_Base_tiny"


def _run(*cmd: str, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, f"{cmd[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_plan_train_predict_chain(synthetic_dataset_factory, nnunet_dirs, tmp_path):
    raw = synthetic_dataset_factory(DATASET_ID, n_cases=5, test_cases=1)
    env = dict(os.environ, nnUNet_extTrainer=ext_trainer_value(""), nnUNet_n_proc_DA="0", OMP_NUM_THREADS="2")

    _run("nnunetv2_cta", "plan", "-d", str(DATASET_ID), "--preset", "cpu", "-np", "1", "--verify", env=env)
    name = raw.name
    plans = json.loads((nnunet_dirs["nnUNet_preprocessed"] / name / "nnUNetCTAPlans_cpu.json").read_text())
    arch = plans["configurations"]["3d_fullres"]["architecture"]
    assert arch["arch_kwargs"]["block"].endswith("BottleneckD")
    assert plans["configurations"]["3d_fullres"]["patch_size"] == [48, 48, 48]
    assert plans["cta"]["preset"] == "cpu"
    cgpm = plans["configurations"]["3d_cgpm"]
    assert cgpm["inherits_from"] == cgpm["previous_stage"] == "3d_fullres"

    _run(
        "nnUNetv2_train",
        str(DATASET_ID),
        "3d_fullres",
        "0",
        "-tr",
        TRAINER,
        "-p",
        "nnUNetCTAPlans_cpu",
        "-device",
        "cpu",
        env=env,
    )
    model = nnunet_dirs["nnUNet_results"] / name / f"{TRAINER}__nnUNetCTAPlans_cpu__3d_fullres"
    assert (model / "fold_0" / "checkpoint_final.pth").is_file()

    out = tmp_path / "pred"
    _run(
        "nnUNetv2_predict",
        "-i",
        str(raw / "imagesTs"),
        "-o",
        str(out),
        "-d",
        str(DATASET_ID),
        "-c",
        "3d_fullres",
        "-f",
        "0",
        "-tr",
        TRAINER,
        "-p",
        "nnUNetCTAPlans_cpu",
        "-device",
        "cpu",
        "--disable_tta",
        "-npp",
        "1",
        "-nps",
        "1",
        env=env,
    )
    image, image_geometry = read_image(raw / "imagesTs" / "case_005_0000.nii.gz")
    pred, pred_geometry = read_image(out / "case_005.nii.gz")
    assert pred.shape == image.shape
    assert image_geometry.mismatch(pred_geometry) is None
    assert set(np.unique(pred)) <= {0, 1, 2, 3, 4}
