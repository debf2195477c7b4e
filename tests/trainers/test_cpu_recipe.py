"""The CPU training recipe (nnunetv2_cta.trainers.cpu): schedule by hand, optimizer, sampling, bf16 step,
budget warning, bad attributes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.trainers import get_trainer_class
from nnunetv2_cta.trainers.cpu import WarmupPolyLR, nnUNetTrainerCTA_cpu_tiny


def _make(cls, planned: dict):
    pre = planned["nnUNet_preprocessed"] / planned["raw"].name
    plans = json.loads((pre / f"{planned['plans']}.json").read_text())
    plans["continue_training"] = False  # nnU-Net 2.8.1 pops this key (set by run_training)
    dj = json.loads((pre / "dataset.json").read_text())
    return cls(plans, "3d_fullres", 0, dj, torch.device("cpu"))


def test_warmup_poly_schedule_by_hand():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=123.0)
    sched = WarmupPolyLR(opt, 0.01, max_steps=6, warmup_steps=1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.005)  # set at construction: step 0 = half the peak
    # after warm-up: 0.01 * (1 - (s - 1) / 5) ** 0.9
    expected = {1: 0.01, 2: 0.01 * 0.8**0.9, 3: 0.01 * 0.6**0.9, 5: 0.01 * 0.2**0.9}
    for step, lr in expected.items():
        sched.step(step)
        assert opt.param_groups[0]["lr"] == pytest.approx(lr)
    with pytest.raises(ConfigurationError, match=r"0 <= warmup_steps < max_steps, got 4, 4"):
        WarmupPolyLR(opt, 0.01, max_steps=4, warmup_steps=4)
    with pytest.raises(ConfigurationError, match=r"max_steps >= 1"):
        WarmupPolyLR(opt, 0.01, max_steps=0)


def test_recipe_registered_for_stock_nnunet():
    for name in (
        "nnUNetTrainerCTA_cpu",
        "nnUNetTrainerCTA_Base_cpu",
        "nnUNetTrainerCTA_cpu_tiny",
        "nnUNetTrainerCTA_Base_cpu_quick",
    ):
        assert get_trainer_class(name).__name__ == name
    from nnunetv2_cta.trainers.cta import nnUNetTrainerCTA

    # the stock-loss comparison keeps nnU-Net's loss: it is not a subclass of the centerline trainer
    assert not issubclass(get_trainer_class("nnUNetTrainerCTA_Base_cpu"), nnUNetTrainerCTA)
    assert issubclass(get_trainer_class("nnUNetTrainerCTA_cpu"), nnUNetTrainerCTA)


def test_recipe_optimizer_sampling_and_bf16_step(planned_phantom):
    trainer = _make(nnUNetTrainerCTA_cpu_tiny, planned_phantom)
    trainer.initialize()
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)  # no warm-up in the tiny schedule
    assert trainer.oversample_foreground_percent == 0.5 and trainer.probabilistic_oversampling
    dl_tr, _ = trainer.get_dataloaders()
    out = trainer.train_step(next(dl_tr))
    assert np.isfinite(out["loss"])
    # bf16 autocast leaves the weights (and so the checkpoint) in float32
    assert {p.dtype for p in trainer.network.parameters()} == {torch.float32}


def test_recipe_sgd_and_budget_warning(planned_phantom):
    cls = type(
        "nnUNetTrainerCTA_cpu_probe",
        (nnUNetTrainerCTA_cpu_tiny,),
        {"optimizer_name": "sgd", "budget_minutes": 1e-6},
    )
    trainer = _make(cls, planned_phantom)
    trainer.initialize()
    assert isinstance(trainer.optimizer, torch.optim.SGD) and trainer.optimizer.defaults["nesterov"]
    per_it = trainer.seconds_per_iteration(repeats=1)
    assert per_it > 0
    trainer.on_train_start()
    log = open(trainer.log_file).read()
    assert "WARNING: this machine cannot fit the budget" in log and "budget 0 min" in log
    trainer.on_train_end()


@pytest.mark.parametrize(
    ("attrs", "match"),
    [
        ({"optimizer_name": "adam"}, r"optimizer must be one of \('sgd', 'adamw'\), got 'adam'"),
        ({"foreground_probability": 1.5}, r"foreground_probability must be in \[0, 1\], got 1.5"),
    ],
)
def test_recipe_bad_attributes(planned_phantom, attrs, match):
    cls = type("nnUNetTrainerCTA_cpu_bad", (nnUNetTrainerCTA_cpu_tiny,), attrs)
    with pytest.raises(ConfigurationError, match=match):
        _make(cls, planned_phantom)


@pytest.mark.parametrize(
    ("fold", "final_validation", "validated"), [("all", True, False), (0, True, True), (0, False, False)]
)
def test_final_validation_only_with_held_out_cases(monkeypatch, fold, final_validation, validated):
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    calls, log = [], []
    monkeypatch.setattr(
        nnUNetTrainer, "perform_actual_validation", lambda self, save=False: calls.append(save)
    )
    trainer = object.__new__(nnUNetTrainerCTA_cpu_tiny)  # only the attributes the method reads
    trainer.fold, trainer.final_validation = fold, final_validation
    trainer.print_to_log_file = log.append
    trainer.perform_actual_validation(False)
    assert calls == ([False] if validated else [])
    if fold == "all":
        assert log == ["final validation skipped: fold 'all' has no held-out cases"]


def test_latest_checkpoint_every_five_epochs(planned_phantom):
    trainer = _make(nnUNetTrainerCTA_cpu_tiny, planned_phantom)
    assert trainer.save_every == 5  # nnU-Net's 50 would save once in a 60-epoch schedule
