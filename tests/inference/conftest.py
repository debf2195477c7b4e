"""A tiny trained stage-1 model and CGPM, once per module, for the predict tests (dataset ids 990-994)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _train(dataset_id: int, configuration: str, trainer: str, plans: str) -> None:
    import torch
    from nnunetv2.run.run_training import run_training

    run_training(
        str(dataset_id),
        configuration,
        0,
        trainer_class_name=trainer,
        plans_identifier=plans,
        device=torch.device("cpu"),
    )


@pytest.fixture(scope="module")
def trained_models(nnunet_dirs) -> dict:
    """Dataset 990: 5 + 1 tiny phantom CTA cases (regions), ``cpu`` plans, stage 1 and CGPM trained 2 x 4 its.

    The weights are meaningless (8 iterations); the tests check plumbing, geometry and file contracts.
    """
    from nnunetv2_cta.environment import ensure_ext_trainer_in_environ
    from nnunetv2_cta.phantom import write_dataset
    from nnunetv2_cta.planners.plan import plan_dataset

    ensure_ext_trainer_in_environ()
    raw = write_dataset(
        cases=5, test_cases=1, dataset_id=990, name="PredictTiny", preset="tiny", regions=True
    )
    plan_dataset(990, preset="cpu", num_processes=1, cgpm_first_stage_trainer="nnUNetTrainerCTA_Base_tiny")
    _train(990, "3d_fullres", "nnUNetTrainerCTA_Base_tiny", "nnUNetCTAPlans_cpu")
    _train(990, "3d_cgpm", "nnUNetTrainerCTA_CGPM_tiny", "nnUNetCTAPlans_cpu")
    results = Path(os.environ["nnUNet_results"]) / raw.name
    return {
        "raw": raw,
        "stage1": results / "nnUNetTrainerCTA_Base_tiny__nnUNetCTAPlans_cpu__3d_fullres",
        "cgpm": results / "nnUNetTrainerCTA_CGPM_tiny__nnUNetCTAPlans_cpu__3d_cgpm",
        "image": raw / "imagesTs" / "PredictTiny_0005_0000.nii.gz",
        "label": raw / "labelsTs" / "PredictTiny_0005.nii.gz",
    }
