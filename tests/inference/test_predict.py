"""``nnunetv2_cta predict`` end to end with a tiny trained model (stage 1 + CGPM) on phantom and real CT."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from nnunetv2_cta.cli import main
from nnunetv2_cta.commands.predict import print_case
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.inference import PredictSettings, predict
from nnunetv2_cta.inference.memory import process_age_s
from nnunetv2_cta.io import Geometry, read_image, write_image

NO_RECON = PredictSettings(reconstructions=False)


def _check_case(out, case, image_path, *, reconstructions=True):
    ct, geometry = read_image(image_path)
    labels, lgeo = read_image(out / "labels" / f"{case}.nii.gz")
    assert labels.shape == ct.shape and lgeo.mismatch(geometry) is None
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
    record = json.loads((out / "cases" / case / "record.json").read_text())
    # the test models are phantom-trained: every case they predict is flagged, never a plain "ok"
    assert record["case"] == case and record["status"] == "flagged" == record["plausibility"]["status"]
    assert "trained on synthetic phantom data only" in " ".join(record["plausibility"]["flags"])
    if reconstructions:
        assert "Check this case" in (out / "cases" / case / "report.html").read_text()
    assert record["input"]["shape_zyx"] == list(ct.shape)
    for step in ("read", "preprocess", "network", "export", "repair", "cleanup", "outputs", "total"):
        assert record["timings_s"][step] >= 0.0
    assert record["peak_rss_gb"]["stage1"] > 0.0
    tiles = record["inference"]["tiles"]
    assert tiles["run"] + tiles["reused"] == tiles["total"] >= 1 and tiles["run"] >= 1
    assert record["inference"]["preprocessing"] == "torch float32"
    voxel_ml = float(np.prod(geometry.spacing)) / 1000
    assert record["volumes_ml"]["vessels"] == pytest.approx(
        np.isin(labels, (2, 3, 4)).sum() * voxel_ml, abs=1e-3
    )
    if not reconstructions:
        return record
    bone_free, bgeo = read_image(out / "bone_free" / f"{case}.nii.gz")
    assert bone_free.shape == ct.shape and bgeo.mismatch(geometry) is None
    assert not np.any(bone_free[labels == 1] > 300), "bone HU left inside the bone label"
    vessel = np.isin(labels, (2, 3, 4))
    np.testing.assert_allclose(bone_free[vessel], np.rint(ct[vessel]), atol=0.5)
    html = (out / "cases" / case / "report.html").read_text()
    referenced = re.findall(r"src=['\"]([^'\"]+)['\"]", html)
    assert referenced, "the report shows no image"
    for ref in referenced:
        assert (out / "cases" / case / ref).is_file(), f"report references missing {ref}"
    for name in ("mip_anterior", "mip_lateral", "mip_axial", "vr_anterior"):
        assert name in record["outputs"]["images"]
    return record


def test_predict_phantom_case_with_cgpm(trained_models, tmp_path, capsys):
    out = tmp_path / "out"
    summary = predict(
        trained_models["image"],
        out,
        trained_models["stage1"],
        cgpm_dir=trained_models["cgpm"],
        # the 8-iteration model labels far more than 1000 mL vessel; lift the flood guard to run the CGPM path
        settings=PredictSettings(keep_stage1=True, max_vessel_ml=1e9),
        progress=False,
        on_case=print_case,  # the library only logs; the predict command prints each case with this callback
    )
    assert summary["failed"] == 0 and [c["status"] for c in summary["cases"]] == ["ok"]
    assert summary["startup_s"] > 0
    record = _check_case(out, "PredictTiny_0005", trained_models["image"])
    # issue 19: the first tile ran after the models loaded, within the case, on the case preprocessed ahead
    first_tile = summary["first_tile_s"]
    assert summary["startup_s"] <= first_tile <= process_age_s()
    assert first_tile - summary["startup_s"] <= record["timings_s"]["total"] + 0.5
    assert (
        record["inference"]["first_tile_s"] == first_tile
        and record["inference"]["preprocessed_ahead"] is True
    )
    assert record["inference"]["ahead_s"]["read"] >= 0 and record["inference"]["ahead_s"]["preprocess"] >= 0
    assert record["repair_method"] == "cgpm"
    assert record["models"]["cgpm"]["configuration"] == "3d_cgpm"
    # stage 1 has only fold 0, so its out-of-fold predictions are partial: the CGPM trained on the first stage's
    # own predictions of the 5 training cases, made with its fold-0 checkpoint
    assert len(list((trained_models["cgpm"] / "fold_0" / "first_stage_predictions").iterdir())) == 5
    assert (out / "stage1" / "PredictTiny_0005.nii.gz").is_file()
    printed = capsys.readouterr().out
    assert "PredictTiny_0005: FLAGGED in" in printed and "\n  check this case: " in printed
    # resume: the finished case is skipped, overwrite redoes it
    mtime = (out / "cases" / "PredictTiny_0005" / "record.json").stat().st_mtime_ns
    again = predict(
        trained_models["image"],
        out,
        trained_models["stage1"],
        cgpm_dir=trained_models["cgpm"],
        settings=NO_RECON,
        progress=False,
    )
    assert again["cases"][0]["status"] == "skipped"
    assert "PredictTiny_0005" not in capsys.readouterr().out  # without on_case, predict prints no case line
    assert (out / "cases" / "PredictTiny_0005" / "record.json").stat().st_mtime_ns == mtime


def test_a_case_preprocessed_ahead_is_used_only_with_the_models_preprocessing(trained_models):
    """Issue 19: the pipeline preprocesses a case from the model folder's plans while the model loads; stage 1
    uses that grid only when it is what the loaded model would make, and then predicts the same labels."""
    import dataclasses

    from nnunetv2_cta.inference.grid import ct_preprocessing_of, preprocess_to_grid
    from nnunetv2_cta.inference.model import StageModel

    stage1 = StageModel(trained_models["stage1"], mirroring=False)
    ahead = ct_preprocessing_of(trained_models["stage1"])
    assert ahead is not None and ahead == stage1.ct_preprocessing
    assert (
        ct_preprocessing_of(trained_models["cgpm"]) is None
    )  # cascaded: nnU-Net's preprocessor, with stage 1
    assert ct_preprocessing_of(trained_models["stage1"].parent / "no_such_model") is None
    ct, geometry = read_image(trained_models["image"])
    labels, _ = stage1.predict(ct, geometry)
    calls = []
    preprocess = stage1.preprocess
    stage1.preprocess = lambda *a: calls.append(1) or preprocess(*a)
    grid = preprocess_to_grid(ct, geometry, ahead)
    assert stage1.fits(grid) and np.array_equal(stage1.predict(ct, geometry, grid=grid)[0], labels)
    assert calls == []  # used as it was
    other = preprocess_to_grid(ct, geometry, dataclasses.replace(ahead, mean=ahead.mean + 100.0))
    assert not stage1.fits(other) and np.array_equal(stage1.predict(ct, geometry, grid=other)[0], labels)
    assert calls == [1]  # preprocessed again


def test_predict_real_head_cta_crop(trained_models, real_data, tmp_path):
    image = real_data / "topcow" / "head_cta_cow_crop.mha"
    out = tmp_path / "real"
    summary = predict(
        image, out, trained_models["stage1"], settings=PredictSettings(repair="baseline"), progress=False
    )
    assert summary["failed"] == 0
    record = _check_case(out, "head_cta_cow_crop", image)
    assert record["repair_method"] == "baseline"


def test_predict_cli_bad_case_does_not_stop_others(trained_models, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(trained_models["image"], inputs / "good_0000.nii.gz")
    write_image(inputs / "mr.nii.gz", np.ones((8, 8, 8), np.float32), Geometry(spacing=(1, 1, 1)))
    out = tmp_path / "out"
    rc = main(
        [
            "predict",
            "-i",
            str(inputs),
            "-o",
            str(out),
            "-m",
            str(trained_models["stage1"]),
            "--repair",
            "none",
            "--no-reconstructions",
        ]
    )
    assert rc == 1
    text = capsys.readouterr().out
    assert "mr: FAILED: " in text and "does not look like CT in HU" in text
    assert "1 case(s) done, 0 skipped, 1 failed" in text
    summary = json.loads((out / "predict_summary.json").read_text())
    assert {c["case"]: c["status"] for c in summary["cases"]} == {"good": "ok", "mr": "failed"}
    assert not (out / "labels" / "mr.nii.gz").exists() and not (out / "cases" / "mr").exists()
    # parts: case "good" is part 0 of 2, "mr" part 1
    part = predict(
        inputs,
        tmp_path / "parts",
        trained_models["stage1"],
        settings=NO_RECON,
        num_parts=2,
        part_id=0,
        progress=False,
    )
    assert [c["case"] for c in part["cases"]] == ["good"]
    assert (tmp_path / "parts" / "predict_summary_part0of2.json").is_file()


def test_predict_case_ids_ending_in_four_digits(trained_models, tmp_path):
    """Issue 16, fault 1: ``cp head.mha scans/patient_2024.mha; nnunetv2_cta predict -i scans -o out -m MODEL``
    stopped the whole run with "channel 2024 is not 0000". Now ``patient_2024`` and the demo's
    ``PhantomCTADemo_0006`` are cases, and a real two-channel case fails alone."""
    ct, geometry = read_image(trained_models["image"])
    scans = tmp_path / "scans"
    write_image(scans / "patient_2024.mha", ct, geometry)
    shutil.copy(trained_models["image"], scans / "PhantomCTADemo_0006.nii.gz")
    shutil.copy(trained_models["image"], scans / "two_0000.nii.gz")
    shutil.copy(trained_models["image"], scans / "two_0001.nii.gz")
    summary = predict(
        scans,
        tmp_path / "out",
        trained_models["stage1"],
        settings=PredictSettings(repair="none", reconstructions=False),
        progress=False,
    )
    status = {c["case"]: c["status"] for c in summary["cases"]}
    assert status == {"PhantomCTADemo_0006": "ok", "patient_2024": "ok", "two": "failed"}
    (two,) = [c for c in summary["cases"] if c["case"] == "two"]
    assert "channel 0001 is not 0000 (two_0000.nii.gz, two_0001.nii.gz)" in two["error"]
    assert (tmp_path / "out" / "labels" / "patient_2024.nii.gz").is_file()


def test_predict_bad_configuration(trained_models, tmp_path):
    image, stage1, cgpm = trained_models["image"], trained_models["stage1"], trained_models["cgpm"]
    with pytest.raises(ConfigurationError, match="must not be the input folder"):
        predict(image.parent, image.parent, stage1, progress=False)
    with pytest.raises(ConfigurationError, match="is a cascaded \\(repair\\) model"):
        predict(image, tmp_path / "o1", cgpm, progress=False)
    with pytest.raises(ConfigurationError, match="is not a repair model"):
        predict(image, tmp_path / "o2", stage1, cgpm_dir=stage1, progress=False)
    with pytest.raises(ConfigurationError, match=r"must hold nnU-Net's plans.json and dataset.json"):
        predict(image, tmp_path / "o3", tmp_path, progress=False)
    with pytest.raises(ConfigurationError, match="repair='cgpm' needs a CGPM model folder"):
        predict(image, tmp_path / "o4", stage1, settings=PredictSettings(repair="cgpm"), progress=False)
    with pytest.raises(ConfigurationError, match="0 <= part_id < num_parts, got 2, 2"):
        predict(image, tmp_path / "o5", stage1, num_parts=2, part_id=2, progress=False)
    # a CGPM trained on the out-of-fold predictions of another first-stage trainer
    other = tmp_path / cgpm.name
    shutil.copytree(cgpm, other)
    plans = json.loads((other / "plans.json").read_text())
    plans["cta"]["cgpm"]["first_stage_trainer"] = "nnUNetTrainerCTA"
    (other / "plans.json").write_text(json.dumps(plans))
    source = other / "fold_0" / "cgpm_source.json"
    record = json.loads(source.read_text())
    # the tiny CGPM trained on the tiny first stage's predictions and started from its weights
    assert record["source"] == "first_stage" and record["first_stage_checkpoint"].endswith(
        "nnUNetTrainerCTA_Base_tiny__nnUNetCTAPlans_cpu__3d_fullres/fold_0/checkpoint_final.pth"
    )
    source.write_text(
        json.dumps({"source": "predicted"})
    )  # pretend it learned from another one's predictions
    with pytest.raises(
        ConfigurationError,
        match="learned from the predictions of first stage 'nnUNetTrainerCTA'; the stage-1 "
        "model is 'nnUNetTrainerCTA_Base_tiny'",
    ):
        predict(image, tmp_path / "o6", stage1, cgpm_dir=other, progress=False)
    source.unlink()
    with pytest.raises(ConfigurationError, match=r"fold_0/cgpm_source\.json is missing"):
        predict(image, tmp_path / "o7", stage1, cgpm_dir=other, progress=False)
    # a model with another label scheme
    foreign = tmp_path / stage1.name
    shutil.copytree(stage1, foreign)
    dj = json.loads((foreign / "dataset.json").read_text())
    dj["labels"] = {"background": 0, "liver": 1}
    (foreign / "dataset.json").write_text(json.dumps(dj))
    with pytest.raises(ConfigurationError, match="expected this project's scheme"):
        predict(image, tmp_path / "o7", foreign, progress=False)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 8))


def test_predict_disk_full_fails_the_case_cleanly(trained_models, tmp_path, monkeypatch):
    import errno

    from nnunetv2_cta.inference import pipeline

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_image", full)
    out = tmp_path / "out"
    summary = predict(
        trained_models["image"], out, trained_models["stage1"], settings=NO_RECON, progress=False
    )
    (case,) = summary["cases"]
    assert case["status"] == "failed" and "No space left on device" in case["error"]
    assert summary["failed"] == 1
    assert not (out / "cases" / "PredictTiny_0005" / "record.json").exists()
    assert not list(out.rglob("*.nii.gz"))


def test_predict_flooded_stage1_skips_repair(trained_models, tmp_path, monkeypatch):
    from nnunetv2_cta.inference.model import StageModel

    def flood(self, ct, geometry, previous=None, keep=False, grid=None):
        return np.full(ct.shape, 3, np.uint8), {"preprocess": 0.0, "network": 0.0, "export": 0.0}

    monkeypatch.setattr(StageModel, "predict", flood)
    out = tmp_path / "out"
    summary = predict(
        trained_models["image"], out, trained_models["stage1"], settings=NO_RECON, progress=False
    )
    assert summary["failed"] == 0
    record = json.loads((out / "cases" / "PredictTiny_0005" / "record.json").read_text())
    # 110 x 64 x 64 voxels of 27 mm3 = 12165 mL labelled vessel: far above 1000 mL
    assert record["repair_method"] == "skipped" and record["repaired_gaps"] == []
    assert "Stage 1 labelled 12165 mL as vessel (> 1000 mL" in record["notes"][0]
    with pytest.raises(ConfigurationError, match="max_vessel_ml must be > 0"):
        predict(
            trained_models["image"],
            out,
            trained_models["stage1"],
            settings=PredictSettings(max_vessel_ml=0),
            progress=False,
        )
