"""``run_demo`` end to end with a tiny schedule: phantom -> plan -> nnU-Net training -> prediction -> metrics."""

from __future__ import annotations

import json
import shutil

import pytest

from nnunetv2_cta.demo import DemoSettings, run_demo
from nnunetv2_cta.errors import OutputExistsError

TINY = DemoSettings(
    train_cases=5,
    test_cases=1,
    trainer="nnUNetTrainerCTA_Base_tiny",
    cgpm_trainer="nnUNetTrainerCTA_CGPM_tiny",
    phantom_preset="tiny",  # plumbing only: 3 mm
)


def test_demo_chain_writes_metrics_for_held_out_cases(tmp_path, monkeypatch):
    # run_demo points the nnU-Net variables at its own folder; monkeypatch restores the session's afterwards
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer"):
        monkeypatch.setenv(var, "unused")
    out = tmp_path / "demo"
    summary = run_demo(out, settings=TINY, num_processes=1, progress=False)
    assert summary["num_cases"] == 1
    written = json.loads((out / "summary.json").read_text())
    assert set(written["mean"]) == {"bone", "aorta", "carotid", "intracranial", "vessels"}
    assert 0.0 <= written["mean"]["vessels"]["dice"] <= 1.0
    assert (out / "summary.csv").is_file() and (out / "summary_stage1.csv").is_file()
    assert set(summary["stage1"]["mean"]) == set(written["mean"])
    for sub in ("labels", "stage1", "bone_free"):
        assert sorted(p.name for p in (out / "predict" / sub).glob("*.nii.gz")) == [
            "PhantomCTADemo_0005.nii.gz"
        ]
    assert summary["repair_method"] == "cgpm"
    assert summary["reports"] == [str(out / "predict" / "cases" / "PhantomCTADemo_0005" / "report.html")]
    assert set(summary["timings_s"]) == {"phantom", "plan", "train", "train_cgpm", "predict", "evaluate"}

    # interrupted after training (predictions lost): the rerun skips phantom, plan and both trainings
    state = json.loads((out / "demo.json").read_text())
    assert state["done"] == ["phantom", "plan", "train", "train_cgpm", "predict", "evaluate"]
    state["done"] = state["done"][:4]
    (out / "demo.json").write_text(json.dumps(state))
    shutil.rmtree(out / "predict")
    resumed = run_demo(out, settings=TINY, num_processes=1, progress=False)
    assert set(resumed["timings_s"]) == {"predict", "evaluate"}
    for region, values in summary["mean"].items():  # same models, same cases: same scores
        assert resumed["mean"][region]["dice"] == pytest.approx(values["dice"], abs=1e-6)

    with pytest.raises(
        OutputExistsError, match="not an interrupted demo with these settings; pass --overwrite"
    ):
        run_demo(out, settings=TINY, seed=1)  # another seed is another demo
    (tmp_path / "other").mkdir()
    with pytest.raises(OutputExistsError, match="not an interrupted demo"):
        run_demo(tmp_path / "other", settings=TINY)


def test_demo_schedules_name_registered_trainers():
    from nnunetv2_cta.demo import FULL, QUICK
    from nnunetv2_cta.trainers import TRAINERS

    for settings in (QUICK, FULL):
        assert settings.trainer in TRAINERS and settings.cgpm_trainer in (None, *TRAINERS)
        assert settings.phantom_preset == "train"  # 1.25 mm: intracranial arteries resolved
    assert (
        TRAINERS[QUICK.trainer].num_epochs_default * TRAINERS[QUICK.trainer].num_iterations_per_epoch_default
        == 1000
    )


def test_demo_cli_takes_o_like_every_other_command():
    """`nnunetv2_cta demo -o DIR` (issue 16: `demo --out` had no `-o`)."""
    from nnunetv2_cta.cli import build_parser

    args = build_parser().parse_args(["demo", "--quick", "-o", "somewhere"])
    assert args.out == "somewhere" and args.quick
