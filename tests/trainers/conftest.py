"""A tiny tube dataset planned once per module for the CTA trainer tests (dataset ids 910-929)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.labels import dataset_json


def tube_case(seed: int, shape=(48, 40, 40)) -> tuple[np.ndarray, np.ndarray]:
    """CT in HU and labels: a bone slab (1), a thick trunk (2) below, a neck tube (3), a thin curved top (4)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float32)
    labels = np.zeros(shape, np.uint8)
    labels[:, :, :5] = 1
    cy, cx = shape[1] / 2 + rng.uniform(-3, 3), shape[2] / 2 + rng.uniform(-3, 3)
    trunk = (y - cy) ** 2 + (x - cx) ** 2 <= 4.0**2
    labels[trunk & (z < 14)] = 2
    labels[((y - cy) ** 2 + (x - cx) ** 2 <= 2.5**2) & (z >= 14) & (z < 30)] = 3
    cy2 = cy + 5 * np.sin((z - 30) / 18 * np.pi)
    labels[((y - cy2) ** 2 + (x - cx) ** 2 <= 1.2**2) & (z >= 30)] = 4
    image = np.full(shape, 40.0, np.float32)
    image[labels == 1] = 900
    image[labels >= 2] = 350
    image += rng.normal(0, 15, shape).astype(np.float32)
    return image.astype(np.int16), labels


def write_tube_dataset(raw_root: Path, dataset_id: int, n_cases: int = 5, *, regions: bool = True) -> Path:
    folder = raw_root / f"Dataset{dataset_id:03d}_Tubes"
    geometry = Geometry(spacing=(1.5, 1.5, 1.5))
    for i in range(n_cases + 1):
        image, labels = tube_case(i)
        split = "Tr" if i < n_cases else "Ts"
        write_image(folder / f"images{split}" / f"tube_{i:03d}_0000.nii.gz", image, geometry)
        write_image(folder / f"labels{split}" / f"tube_{i:03d}.nii.gz", labels, geometry)
    (folder / "dataset.json").write_text(
        json.dumps(dataset_json(n_cases, name="Tubes", regions=regions), indent=2)
    )
    return folder


def nnunet_env() -> dict[str, str]:
    """The test session's environment plus ``nnunetv2_cta env``'s exports, for nnU-Net subprocesses."""
    from nnunetv2_cta.environment import ext_trainer_value

    env = dict(os.environ)
    env["nnUNet_extTrainer"] = ext_trainer_value(env.get("nnUNet_extTrainer", ""))
    env.update(OMP_NUM_THREADS="2", nnUNet_n_proc_DA="0", nnUNet_def_n_proc="1", nnUNet_compile="false")
    return env


def run_tool(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run an nnU-Net console script from the venv; fails the test with its output on a non-zero exit."""
    exe = Path(sys.executable).with_name(args[0])
    proc = subprocess.run(
        [str(exe), *args[1:]], env=nnunet_env(), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


@pytest.fixture(scope="module")
def planned_tubes(nnunet_dirs) -> dict:
    """Dataset 910 (regions) written and planned with the ``cpu`` preset, once per module."""
    from nnunetv2_cta.planners.plan import plan_dataset

    folder = write_tube_dataset(nnunet_dirs["nnUNet_raw"], 910, regions=True)
    plan_dataset(910, preset="cpu", num_processes=1)
    return {"id": 910, "raw": folder, "plans": "nnUNetCTAPlans_cpu", **nnunet_dirs}


@pytest.fixture(scope="module")
def nnunet_tool():
    """:func:`run_tool`: run an nnU-Net console script with the test session's folders and our trainers."""
    return run_tool
