"""The benchmark table and every bad-input error of the runner and the CLI (no training here)."""

from __future__ import annotations

import json

import pytest

from nnunetv2_cta.benchmark.definition import (
    BUDGETS,
    CHOSEN,
    DATASETS,
    METHODS,
    get_budget,
    get_method,
    select_runs,
)
from nnunetv2_cta.benchmark.runner import run_benchmark
from nnunetv2_cta.cli import main
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError


def test_table_is_consistent():
    assert set(METHODS) == {
        "stock_default", "stock_resenc_m", "stock_trainer", "cta", "cta_baseline", "cta_cgpm", "classic",
        "cta_nocenterline", "cta_skeleton_recall", "cta_cldice", "chosen_bridging", "chosen_cgpm",
    }  # fmt: skip
    assert set(DATASETS) == {"phantom_cta", "phantom_ncct", "phantom_dsa", "real_geometry"}
    # same seed for the three modalities: one anatomy per case index
    assert len({d.dataset_id for d in DATASETS.values()}) == 4
    assert DATASETS["real_geometry"].models_from == "phantom_cta"
    assert DATASETS["real_geometry"].nnunet_name == "RealGeometry"
    for budget in BUDGETS.values():
        for dataset, methods in budget.runs.items():
            assert dataset in DATASETS
            for m in methods:
                spec = METHODS[m]
                if spec.trainer_role == CHOSEN:  # repairs the chosen one of the budget's stage-1 methods
                    assert any(METHODS[c].trained and METHODS[c].repair is None for c in methods)
                elif spec.trained:
                    assert spec.trainer_role in budget.trainers
                if spec.repair == "cgpm":
                    assert "cgpm" in budget.trainers
                # the GPU-only stock methods never run on a CPU budget
                assert not (spec.gpu_only and budget.device == "cpu")
    assert "57 s per training iteration" in BUDGETS["cpu-small"].note


def test_trainers_of_every_budget_are_registered():
    from nnunetv2_cta.trainers import TRAINERS

    for budget in BUDGETS.values():
        overrides = [t for roles in budget.modality_trainers.values() for t in roles.values()]
        for trainer in [*budget.trainers.values(), *overrides]:
            assert trainer in TRAINERS
        for modality, roles in budget.modality_trainers.items():
            assert modality in {d.modality for d in DATASETS.values()}
            assert set(roles) <= set(budget.trainers)  # an override replaces a role's trainer, adds none
    gpu = TRAINERS["nnUNetTrainerCTA_bench_gpu"]
    assert (gpu.num_epochs_default, gpu.num_iterations_per_epoch_default) == (5, 250)


def test_select_runs_restricts_in_budget_order():
    pairs = select_runs(
        get_budget("cpu-small"), methods=["classic", "cta"], datasets=["phantom_dsa", "phantom_cta"]
    )
    assert [(d.name, m.name) for d, m in pairs] == [
        ("phantom_cta", "cta"),
        ("phantom_cta", "classic"),
        ("phantom_dsa", "cta"),
        ("phantom_dsa", "classic"),
    ]
    user = select_runs(get_budget("tiny"), methods=["cta_cgpm"], user_dataset=True)
    assert [(d, m.name) for d, m in user] == [(None, "cta_cgpm")]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: get_budget("cpu_small"), r"budget must be one of \['tiny', 'cpu-small', 'cpu', 'gpu'\], got 'cpu_small' "
         r"\(did you mean 'cpu-small'"),
        (lambda: get_method("cta_cpgm"), r"method must be one of .*'classic'\], got 'cta_cpgm' \(did you mean 'cta_cgpm'"),
        (lambda: select_runs(get_budget("tiny"), datasets=["phantom_mri"]), r"dataset must be one of .*got 'phantom_mri'"),
        (lambda: select_runs(get_budget("cpu-small"), methods=["stock_default"]),
         r"method 'stock_default' is not run by budget 'cpu-small'.*57 s per training iteration"),
        (lambda: select_runs(get_budget("tiny"), methods=["cta_cgpm"], datasets=["phantom_ncct"]),
         r"method 'cta_cgpm' is not run by budget 'tiny' on \['phantom_ncct'\]"),
        (lambda: select_runs(get_budget("tiny"), datasets=["phantom_cta"], user_dataset=True),
         r"either phantom datasets or a user dataset"),
    ],
)  # fmt: skip
def test_bad_names(call, match):
    with pytest.raises(ConfigurationError, match=match):
        call()


def test_gpu_budget_without_cuda_is_refused(tmp_path, keep_nnunet_env):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigurationError, match="budget 'gpu' needs a CUDA GPU"):
        run_benchmark(tmp_path / "work", "gpu")
    assert not (tmp_path / "work").exists()


def _no_train_cta(work, dataset):
    run_benchmark(work, "tiny", methods=["cta"], datasets=[dataset], no_train=True, progress=False)


def test_no_train_without_models_fails_before_any_work(tmp_path, keep_nnunet_env):
    with pytest.raises(
        ConfigurationError, match=r"--no-train: method 'cta' on 'Dataset971_PhantomCTA' needs a trained"
    ):
        _no_train_cta(tmp_path / "work", "phantom_cta")
    assert not (tmp_path / "work" / "markers").exists()
    assert not list((tmp_path / "work" / "nnUNet_raw").iterdir())


def test_budget_trainer_per_modality():
    from dataclasses import replace

    tiny = replace(get_budget("tiny"), modality_trainers={"ncct": {"cta": "nnUNetTrainerCTA_cpu_tiny"}})
    assert tiny.trainer("cta", "ncct") == "nnUNetTrainerCTA_cpu_tiny"
    assert tiny.trainer("cta", "cta") == tiny.trainer("cta", "dsa") == "nnUNetTrainerCTA_tiny"
    assert tiny.trainer("stock", "ncct") == "nnUNetTrainerCTA_Base_tiny"  # roles without an override
    with pytest.raises(
        ConfigurationError, match=r"budget 'tiny' has no trainer for role 'cldice'; it has \['cgpm',"
    ):
        tiny.trainer("cldice", "ncct")


def test_no_train_checks_the_modality_trainer(tmp_path, keep_nnunet_env, monkeypatch):
    from dataclasses import replace

    from nnunetv2_cta.benchmark import definition

    tiny = replace(get_budget("tiny"), modality_trainers={"ncct": {"cta": "nnUNetTrainerCTA_cpu_tiny"}})
    monkeypatch.setitem(definition.BUDGETS, "tiny", tiny)
    with pytest.raises(
        ConfigurationError,
        match=r"'Dataset972_PhantomNCCT' needs a trained model at .*nnUNetTrainerCTA_cpu_tiny__",
    ):
        _no_train_cta(tmp_path / "work", "phantom_ncct")


def test_num_processes_must_be_positive(tmp_path, keep_nnunet_env):
    with pytest.raises(ConfigurationError, match="num_processes must be >= 1, got 0"):
        run_benchmark(tmp_path / "work", "tiny", num_processes=0)


# --- user datasets


def test_user_dataset_errors(tmp_path, keep_nnunet_env, synthetic_dataset_factory, nnunet_dirs):
    work = tmp_path / "work"
    with pytest.raises(ConfigurationError, match=r"dataset '989' is not in .*; found"):
        run_benchmark(work, "tiny", dataset=989)

    folder = synthetic_dataset_factory(980, n_cases=5, test_cases=1)
    dj = json.loads((folder / "dataset.json").read_text())
    dj["labels"] = {"background": 0, "artery": 1}
    (folder / "dataset.json").write_text(json.dumps(dj))
    with pytest.raises(
        DatasetFormatError, match=r"labels must be our scheme .*got \{'background': 0, 'artery': 1\}"
    ):
        run_benchmark(work, "tiny", dataset=980)

    synthetic_dataset_factory(981, n_cases=3, test_cases=1)
    with pytest.raises(
        DatasetFormatError, match="has 3 training case\\(s\\); nnU-Net's 5-fold split needs at least 5"
    ):
        run_benchmark(work, "tiny", dataset="Dataset981_Synthetic")

    folder = synthetic_dataset_factory(982, n_cases=5, test_cases=0)
    with pytest.raises(DatasetFormatError, match="has no imagesTs/"):
        run_benchmark(work, "tiny", dataset=982)
    assert not work.exists()


def test_cli_turns_errors_into_one_line(capsys, tmp_path):
    code = main(["benchmark", "--budget", "tiny", "--work", str(tmp_path / "w"), "--methods", "frangi"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "method must be one of" in err and "'frangi'" in err
    assert len(err.splitlines()) == 1
