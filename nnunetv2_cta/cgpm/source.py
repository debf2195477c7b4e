"""What a trained CGPM was trained on (``fold_X/cgpm_source.json``), and the check that it fits a first stage.

``nnUNetTrainerCTA_CGPM`` writes the record at the start of training::

    {"source": "simulated" | "predicted" | "first_stage",   first-stage input: broken ground truth,
                                                 out-of-fold predictions, or the first stage's in-sample ones
     "folder": "...",                           where that input was read from
     "first_stage_trainer": "nnUNetTrainerCTA_Base_cpu" | null,
     "first_stage_checkpoint": ".../fold_all/checkpoint_final.pth" | null}   weights it started from

A CGPM repairs the first stage it learned from: one that saw a first stage's predictions, or started from its
weights, is refused with another first stage; one trained on simulated breaks alone fits any first stage of
the same labels and configuration. Plain JSON: no torch, no nnunetv2.
"""

from __future__ import annotations

import json
from pathlib import Path

from nnunetv2_cta.errors import ConfigurationError

#: file in each fold folder naming the first-stage input the fold was trained on
SOURCE_RECORD = "cgpm_source.json"


def read_source_records(model_dir: str | Path, folds) -> list[dict]:
    """The source record of every fold; a fold without one is an error that names the missing file."""
    records = []
    for fold in folds:
        path = Path(model_dir) / f"fold_{fold}" / SOURCE_RECORD
        if not path.is_file():
            raise ConfigurationError(
                f"CGPM model {str(model_dir)!r}: {path} is missing (nnUNetTrainerCTA_CGPM writes it when training "
                "starts); without it the first stage the CGPM learned from is unknown"
            )
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigurationError(f"CGPM model {str(model_dir)!r}: cannot read {path}: {err}") from err
    return records


def check_cgpm_matches(stage1, cgpm) -> None:
    """Refuse a CGPM (a :class:`~nnunetv2_cta.inference.model.StageModel`) that was not made for ``stage1``."""
    if cgpm.previous_stage is None:
        raise ConfigurationError(
            f"CGPM model {str(cgpm.model_dir)!r} is not a repair model: its configuration has no previous stage"
        )
    if cgpm.dataset_json.get("labels") != stage1.dataset_json.get("labels"):
        raise ConfigurationError(
            f"CGPM model {str(cgpm.model_dir)!r} was trained with labels {cgpm.dataset_json.get('labels')}, "
            f"the stage-1 model {str(stage1.model_dir)!r} predicts {stage1.dataset_json.get('labels')}"
        )
    if cgpm.previous_stage != stage1.configuration:
        raise ConfigurationError(
            f"CGPM model {str(cgpm.model_dir)!r} repairs configuration {cgpm.previous_stage!r}, "
            f"but the stage-1 model is configuration {stage1.configuration!r}"
        )
    for record in read_source_records(cgpm.model_dir, cgpm.folds):
        first = record.get("first_stage_trainer") or (
            ((cgpm.plans.get("cta") or {}).get("cgpm") or {}).get("first_stage_trainer")
        )
        tied = record.get("source") in ("predicted", "first_stage") or record.get("first_stage_checkpoint")
        if tied and first != stage1.trainer:
            how = (
                "started from the weights"
                if record.get("first_stage_checkpoint")
                else "learned from the predictions"
            )
            raise ConfigurationError(
                f"CGPM model {str(cgpm.model_dir)!r} {how} of first stage {first!r}; the stage-1 model is "
                f"{stage1.trainer!r}"
            )
