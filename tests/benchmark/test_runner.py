"""run_benchmark end to end on the tiny budget (classic + cta, one held-out case), resuming, and the training step."""

from __future__ import annotations

import json

import pytest

from nnunetv2_cta.benchmark.definition import get_budget
from nnunetv2_cta.benchmark.runner import _Run, run_benchmark


def _mtimes(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_classic_only_run_resumes_without_redoing_anything(tmp_path, keep_nnunet_env):
    work = tmp_path / "work"
    first = run_benchmark(
        work, "tiny", methods=["classic"], datasets=["phantom_ncct"], num_processes=1, progress=False
    )
    assert first["calls"] == {"dataset": 1, "classic": 1, "evaluate": 1}
    predictions = work / "predictions" / "Dataset972_PhantomNCCT" / "classic"
    before = _mtimes(predictions) | _mtimes(work / "nnUNet_raw") | _mtimes(work / "evaluation")
    second = run_benchmark(
        work, "tiny", methods=["classic"], datasets=["phantom_ncct"], num_processes=1, progress=False
    )
    assert second["calls"] == {}
    assert (_mtimes(predictions) | _mtimes(work / "nnUNet_raw") | _mtimes(work / "evaluation")) == before
    assert second["rows"] == first["rows"]
    # an evaluation whose marker is gone (interrupted after writing) is redone, nothing before it
    (work / "markers" / "evaluate--Dataset972_PhantomNCCT--classic.json").unlink()
    third = run_benchmark(
        work, "tiny", methods=["classic"], datasets=["phantom_ncct"], num_processes=1, progress=False
    )
    assert third["calls"] == {"evaluate": 1}


def test_unfinished_training_resumes_from_checkpoint_latest(tmp_path, monkeypatch):
    import nnunetv2.run.run_training as rt
    import torch

    calls = []

    def fake_run_training(dataset, configuration, fold, **kwargs):
        calls.append(kwargs)
        fold_dir = (
            tmp_path
            / "nnUNet_results"
            / dataset
            / f"{kwargs['trainer_class_name']}__{kwargs['plans_identifier']}__{configuration}"
            / f"fold_{fold}"
        )
        fold_dir.mkdir(parents=True, exist_ok=True)
        logging = {"epoch_start_timestamps": [0.0, 10.0], "epoch_end_timestamps": [4.0, 16.0]}
        torch.save({"logging": logging}, fold_dir / "checkpoint_final.pth")

    monkeypatch.setattr(rt, "run_training", fake_run_training)
    run = _Run(tmp_path, get_budget("tiny"), no_train=False, num_processes=1, progress=False)
    folder = tmp_path / "nnUNet_raw" / "Dataset971_PhantomCTA"
    fold_dir = tmp_path / "nnUNet_results" / folder.name / "T__P__3d_fullres" / "fold_0"
    fold_dir.mkdir(parents=True)
    (fold_dir / "checkpoint_latest.pth").write_bytes(b"")
    model_dir, seconds = run.model(folder, "T", "P", "3d_fullres")
    assert calls[0]["continue_training"] is True
    assert seconds == pytest.approx(5.0)  # median of 4 s and 6 s
    assert model_dir == fold_dir.parent
    assert run.model(folder, "T", "P", "3d_fullres") == (model_dir, pytest.approx(5.0))
    assert len(calls) == 1 and run.calls == {"train": 1}


def test_two_methods_one_case_end_to_end(tmp_path, keep_nnunet_env):
    work, results = tmp_path / "work", tmp_path / "results"
    out = run_benchmark(
        work, "tiny", methods=["classic", "cta"], datasets=["phantom_cta"], results_dir=results,
        num_processes=1, progress=False,
    )  # fmt: skip
    assert out["calls"] == {"dataset": 1, "plan": 1, "train": 1, "predict": 1, "evaluate": 2, "classic": 1}
    rows = {(r["method"], r["region"]): r for r in out["rows"]}
    assert set(rows) == {
        (m, r) for m in ("cta", "classic") for r in ("vessels", "bone", "aorta", "carotid", "intracranial")
    }
    for row in out["rows"]:
        assert row["n_cases"] == 1
        for metric in ("dice", "cldice", "recall", "vscore", "betti0_error", "breaks", "hd95_mm"):
            if row["region"] != "bone" or metric in ("dice", "recall", "betti0_error", "hd95_mm"):
                assert row[f"{metric}_std"] == 0.0  # one case
                assert row[f"{metric}_min"] == row[f"{metric}_mean"] == row[f"{metric}_max"]
    assert rows[("cta", "bone")]["train_s_per_epoch"] > 0
    assert rows[("classic", "bone")]["train_s_per_epoch"] is None
    assert rows[("classic", "bone")]["dice_mean"] > 0.85
    for name in ("results.csv", "results.json", "results.md", "machine.json", "plot_phantom_cta.png"):
        assert (results / name).is_file(), name
    md = (results / "results.md").read_text()
    assert "| phantom_cta | cta | 1 |" in md and "![plot_phantom_cta.png](plot_phantom_cta.png)" in md
    machine = json.loads((results / "machine.json").read_text())
    assert machine["cores"] >= 1 and machine["nnunetv2"].startswith("2.8")
    csv_header = (results / "results.csv").read_text().splitlines()[0].split(",")
    assert csv_header[:4] == ["dataset", "method", "region", "n_cases"] and "hd95_mm_max" in csv_header

    # --no-train on the finished work folder: nothing is redone, the tables are rewritten
    again = run_benchmark(
        work, "tiny", methods=["cta"], datasets=["phantom_cta"], no_train=True, results_dir=results,
        num_processes=1, progress=False,
    )  # fmt: skip
    assert again["calls"] == {}
    assert [r["method"] for r in again["rows"]] == ["cta"] * 5


def test_real_geometry_dataset_is_scored_and_skipped_without_data(
    tmp_path, keep_nnunet_env, monkeypatch, real_dir
):
    monkeypatch.setenv("NNUNETV2_CTA_REAL_DATA", str(real_dir[0]))
    work = tmp_path / "work"
    out = run_benchmark(
        work, "tiny", methods=["classic"], datasets=["real_geometry"], num_processes=1, progress=False
    )
    # classic needs no network: the phantom_cta dataset whose networks the real cases would use is not made
    assert out["calls"] == {"dataset": 1, "classic": 1, "evaluate": 1}
    assert not (work / "nnUNet_raw" / "Dataset971_PhantomCTA").exists()
    assert sorted(
        p.name for p in (work / "nnUNet_raw" / "Dataset974_RealGeometry" / "labelsTs").iterdir()
    ) == [
        "avm_head_cta.nii.gz",
        "topcow_ct_roi_001.nii.gz",
    ]
    assert {r["n_cases"] for r in out["rows"]} == {2}
    # without the real data: skipped, and the results say so
    monkeypatch.setenv("NNUNETV2_CTA_REAL_DATA", str(tmp_path / "absent"))
    out = run_benchmark(
        tmp_path / "work2",
        "tiny",
        methods=["classic"],
        datasets=["real_geometry"],
        num_processes=1,
        progress=False,
    )
    assert out["rows"] == [] and out["calls"] == {}
    assert "**real_geometry was skipped**" in (tmp_path / "work2" / "results" / "results.md").read_text()


def _summary(dice, cldice, breaks):
    return {
        "metric_per_case": [
            {"case": f"c{i}", "metrics": {"vessels": {"dice": d, "cldice": c, "breaks": b}}}
            for i, (d, c, b) in enumerate(zip(dice, cldice, breaks, strict=True))
        ]
    }


def test_chosen_repairs_start_from_the_rule_s_choice(tmp_path, monkeypatch):
    from nnunetv2_cta.benchmark.definition import METHODS
    from nnunetv2_cta.errors import ConfigurationError

    run = _Run(tmp_path, get_budget("cpu"), no_train=False, num_processes=1, progress=False)
    summaries = {  # the stock loss has 0.005 more Dice; the centerline loss 4 fewer breaks in each of 5 cases
        "stock_trainer": _summary([0.85] * 5, [0.70] * 5, [5, 6, 5, 7, 5]),
        "cta": _summary([0.845] * 5, [0.72] * 5, [1, 2, 1, 2, 1]),
    }
    monkeypatch.setattr(run, "method", lambda folder, modality, m, *a: {"summary": summaries[m.name]})
    folder = tmp_path / "nnUNet_raw" / "Dataset971_PhantomCTA"
    choice = run.choose(folder, (METHODS["stock_trainer"], METHODS["cta"]))
    assert (choice["choice"], choice["dice_choice"], choice["verdict"]) == (
        "cta",
        "stock_trainer",
        "disagree",
    )
    written = json.loads((tmp_path / "evaluation" / folder.name / "choice.json").read_text())
    assert written["choice"] == "cta"
    with pytest.raises(ConfigurationError, match="no stage-1 method to choose from"):
        run.choose(folder, ())

    # --no-train writes neither the plans nor the marker (a later training run must still set the first stage)
    no_train = _Run(tmp_path, get_budget("cpu"), no_train=True, num_processes=1, progress=False)
    no_train._cgpm_first_stage(folder, "nnUNetCTAPlans_cpu", "nnUNetTrainerCTA_cpu")
    assert not (tmp_path / "markers").exists() or not list((tmp_path / "markers").glob("cgpm_first_stage*"))

    # the CGPM's first stage is written into the plans once; another choice later is refused
    plans = tmp_path / "nnUNet_preprocessed" / folder.name / "nnUNetCTAPlans_cpu.json"
    plans.parent.mkdir(parents=True)
    plans.write_text(json.dumps({"configurations": {"3d_fullres": {}}}))
    run._cgpm_first_stage(folder, "nnUNetCTAPlans_cpu", "nnUNetTrainerCTA_cpu")
    written = json.loads(plans.read_text())
    assert written["cta"]["cgpm"]["first_stage_trainer"] == "nnUNetTrainerCTA_cpu"
    assert written["configurations"]["3d_cgpm"]["previous_stage"] == "3d_fullres"
    run._cgpm_first_stage(folder, "nnUNetCTAPlans_cpu", "nnUNetTrainerCTA_cpu")  # same: nothing to do
    with pytest.raises(
        ConfigurationError,
        match=r"set up for first stage 'nnUNetTrainerCTA_cpu'.*'nnUNetTrainerCTA_Base_cpu'",
    ):
        run._cgpm_first_stage(folder, "nnUNetCTAPlans_cpu", "nnUNetTrainerCTA_Base_cpu")


def test_evaluation_and_repair_run_again_when_their_input_changed(tmp_path, monkeypatch):
    import nnunetv2_cta.evaluation as evaluation

    calls = []

    def fake_evaluate_folder(gt, predictions, summary_json, **kwargs):
        calls.append(predictions.name)
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"num_cases": 1, "of": predictions.name,
                   "metric_per_case": [{"prediction_file": str(predictions / "case_0.nii.gz")}]}  # fmt: skip
        summary_json.write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(evaluation, "evaluate_folder", fake_evaluate_folder)
    run = _Run(tmp_path, get_budget("cpu"), no_train=False, num_processes=1, progress=False)
    folder = tmp_path / "nnUNet_raw" / "Dataset972_PhantomNCCT"
    alpha16 = tmp_path / "predictions" / folder.name / "stage1__nnUNetTrainerCTA_cpu__nnUNetCTAPlans_cpu"
    other = tmp_path / "predictions" / folder.name / "stage1__nnUNetTrainerCTA_Other_cpu__nnUNetCTAPlans_cpu"
    assert run.evaluate(folder, "cta", alpha16)["of"] == alpha16.name
    assert run.evaluate(folder, "cta", alpha16)["of"] == alpha16.name  # same predictions: marker reused
    # the budget's trainer for "cta" changed: same method name, other predictions -> evaluated again
    assert run.evaluate(folder, "cta", other)["of"] == other.name
    assert calls == [alpha16.name, other.name]
    marker = json.loads((tmp_path / "markers" / f"evaluate--{folder.name}--cta.json").read_text())
    assert marker["predictions"] == f"predictions/{folder.name}/{other.name}"
    # a marker written before inputs were recorded is taken as current ...
    run.markers.set("evaluate:D:old", {"cases": 1})
    assert run._current("evaluate:D:old", predictions=other) == {"cases": 1}
    # ... but an evaluation is redone when its summary scored other predictions (the files it names)
    run.markers.set(f"evaluate:{folder.name}:cta", {"cases": 1})
    assert run.evaluate(folder, "cta", alpha16)["of"] == alpha16.name
    assert calls == [alpha16.name, other.name, alpha16.name]
    assert run.evaluate(folder, "cta", alpha16)["of"] == alpha16.name
    assert len(calls) == 3
    # a repair marker remembers the stage 1 it repaired
    run.markers.set(
        "repair:D:chosen_bridging", {"seconds_per_case": 1.0, "stage1": "predictions/D/stage1__A"}
    )
    assert run._current("repair:D:chosen_bridging", stage1=tmp_path / "predictions/D/stage1__A") is not None
    assert run._current("repair:D:chosen_bridging", stage1=tmp_path / "predictions/D/stage1__B") is None
