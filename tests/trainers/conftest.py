"""A tiny phantom dataset planned once per module for the CTA trainer tests (dataset ids 910-929)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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


@pytest.fixture(scope="session")
def planned_phantom(nnunet_dirs) -> dict:
    """Dataset 910: 5 + 1 tiny CTA phantom cases with regions, planned with the ``cpu`` preset, once per session
    (shared by the trainer test modules: a second write of dataset 910 would be refused)."""
    from nnunetv2_cta.phantom import write_dataset
    from nnunetv2_cta.planners.plan import plan_dataset

    folder = write_dataset(
        cases=5, test_cases=1, dataset_id=910, name="PhantomTiny", preset="tiny", regions=True
    )
    plan_dataset(910, preset="cpu", num_processes=1)
    return {
        "id": 910,
        "raw": folder,
        "plans": "nnUNetCTAPlans_cpu",
        "test_case": "PhantomTiny_0005",
        **nnunet_dirs,
    }


@pytest.fixture(scope="module")
def nnunet_tool():
    """:func:`run_tool`: run an nnU-Net console script with the test session's folders and our trainers."""
    return run_tool
