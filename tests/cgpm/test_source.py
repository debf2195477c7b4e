"""Which first stage a CGPM fits: its source records (plain JSON, no model needed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from nnunetv2_cta.cgpm.source import SOURCE_RECORD, check_cgpm_matches, read_source_records
from nnunetv2_cta.errors import ConfigurationError

LABELS = {"background": 0, "bone": 1}


def _models(tmp_path: Path, record: dict | None, *, stage1_trainer="nnUNetTrainerCTA_Base_cpu"):
    folder = tmp_path / "nnUNetTrainerCTA_CGPM_cpu__P__3d_cgpm"
    (folder / "fold_all").mkdir(parents=True)
    if record is not None:
        (folder / "fold_all" / SOURCE_RECORD).write_text(json.dumps(record))
    cgpm = SimpleNamespace(
        model_dir=folder,
        folds=("all",),
        previous_stage="3d_fullres",
        dataset_json={"labels": LABELS},
        plans={"cta": {"cgpm": {"first_stage_trainer": "nnUNetTrainerCTA_Base_cpu"}}},
    )
    stage1 = SimpleNamespace(
        model_dir=tmp_path / "s1",
        trainer=stage1_trainer,
        configuration="3d_fullres",
        dataset_json={"labels": LABELS},
    )
    return stage1, cgpm


def test_simulated_source_fits_any_first_stage(tmp_path):
    stage1, cgpm = _models(
        tmp_path, {"source": "simulated", "first_stage_checkpoint": None}, stage1_trainer="Other"
    )
    check_cgpm_matches(stage1, cgpm)  # no error
    assert read_source_records(cgpm.model_dir, cgpm.folds)[0]["source"] == "simulated"


def test_initialised_from_a_first_stage_is_tied_to_it(tmp_path):
    record = {
        "source": "simulated",
        "first_stage_trainer": "nnUNetTrainerCTA_Base_cpu",
        "first_stage_checkpoint": "/r/nnUNetTrainerCTA_Base_cpu__P__3d_fullres/fold_all/checkpoint_final.pth",
    }
    stage1, cgpm = _models(tmp_path, record)
    check_cgpm_matches(stage1, cgpm)  # the same first stage: fine
    stage1, cgpm = _models(tmp_path / "b", record, stage1_trainer="nnUNetTrainerCTA_cpu")
    with pytest.raises(
        ConfigurationError,
        match="started from the weights of first stage 'nnUNetTrainerCTA_Base_cpu'; the stage-1 model is "
        "'nnUNetTrainerCTA_cpu'",
    ):
        check_cgpm_matches(stage1, cgpm)


def test_predicted_source_names_the_plans_trainer(tmp_path):
    stage1, cgpm = _models(tmp_path, {"source": "predicted"}, stage1_trainer="nnUNetTrainerCTA")
    with pytest.raises(
        ConfigurationError, match="learned from the predictions of first stage 'nnUNetTrainerCTA_Base_cpu'"
    ):
        check_cgpm_matches(stage1, cgpm)


def test_missing_or_broken_record(tmp_path):
    stage1, cgpm = _models(tmp_path, None)
    with pytest.raises(
        ConfigurationError, match=r"fold_all/cgpm_source\.json is missing \(nnUNetTrainerCTA_CGPM writes it"
    ):
        check_cgpm_matches(stage1, cgpm)
    (cgpm.model_dir / "fold_all" / SOURCE_RECORD).write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"cannot read .*cgpm_source\.json"):
        read_source_records(cgpm.model_dir, cgpm.folds)


def test_other_labels_or_configuration(tmp_path):
    stage1, cgpm = _models(tmp_path, {"source": "simulated"})
    stage1.configuration = "3d_lowres"
    with pytest.raises(
        ConfigurationError,
        match="repairs configuration '3d_fullres', but the stage-1 model is configuration '3d_lowres'",
    ):
        check_cgpm_matches(stage1, cgpm)
    stage1.dataset_json = {"labels": {"background": 0, "liver": 1}}
    with pytest.raises(ConfigurationError, match="was trained with labels"):
        check_cgpm_matches(stage1, cgpm)
    cgpm.previous_stage = None
    with pytest.raises(ConfigurationError, match="is not a repair model"):
        check_cgpm_matches(stage1, cgpm)
