"""The CGPM's objective: the gap term added to nnU-Net's loss, and the start from the first stage's weights."""

from __future__ import annotations

import json

import pytest
import torch

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.losses.gap import gap_loss
from nnunetv2_cta.trainers.base import nnUNetTrainerCTA_Base_tiny
from nnunetv2_cta.trainers.cgpm import nnUNetTrainerCTA_CGPM_tiny


def _make(cls, planned: dict, configuration: str):
    pre = planned["nnUNet_preprocessed"] / planned["raw"].name
    plans = json.loads((pre / f"{planned['plans']}.json").read_text())
    plans["continue_training"] = False  # nnU-Net 2.8.1 pops this key (set by run_training)
    dj = json.loads((pre / "dataset.json").read_text())
    return cls(plans, configuration, 0, dj, torch.device("cpu"))


@pytest.fixture(scope="module")
def cgpm(planned_phantom):
    trainer = _make(nnUNetTrainerCTA_CGPM_tiny, planned_phantom, "3d_cgpm")
    trainer.initialize()
    return trainer


def test_gap_term_is_added_to_the_loss(cgpm):
    lm = cgpm.label_manager
    regions = [tuple(torch.atleast_1d(torch.tensor(r)).tolist()) for r in lm.foreground_regions]
    channels = cgpm.loss.channels
    assert regions[channels[0]] == (2, 3, 4)  # the all-vessels region first
    assert sorted(regions[c] for c in channels[1:]) == [(2,), (3,), (4,)]  # then every vessel sub-region

    torch.manual_seed(0)
    shape = (1, len(regions), 4, 8, 8)
    target = torch.zeros(shape)
    target[:, channels[0], 1:3, 2:6, :] = 1  # a vessel slab ...
    target[:, channels[2], 1:3, 2:6, :] = 1
    given = target[:, channels[0]].clone()
    given[:, :, :, 3:5] = 0  # ... that the first stage lost in the middle
    output = [torch.randn(shape)]
    cgpm._given_vessel = None
    plain = cgpm.loss(output, [target])
    cgpm._given_vessel = given
    with_gap = cgpm.loss(output, [target])
    cgpm._given_vessel = None
    expected = gap_loss(output[0][:, channels], target[:, channels], given, cgpm.gap_margin)
    assert float(expected) > 0
    assert float(with_gap - plain) == pytest.approx(cgpm.gap_loss_weight * float(expected), rel=1e-5)


def test_starts_from_the_first_stage_weights(cgpm, planned_phantom, tmp_path):
    first = _make(nnUNetTrainerCTA_Base_tiny, planned_phantom, "3d_fullres")
    first.initialize()
    with torch.no_grad():
        for p in first.network.parameters():
            p.uniform_(0.5, 1.0)  # unmistakable values
    path = tmp_path / "checkpoint_final.pth"
    torch.save({"network_weights": first.network.state_dict()}, path)
    cgpm.load_first_stage_weights(str(path))
    mine, theirs = cgpm.network.state_dict(), first.network.state_dict()
    widened = [k for k in theirs if mine[k].shape != theirs[k].shape]
    # only the stem convolution takes more input channels (nnU-Net's network lists it under 4 aliases)
    assert widened and all("stem.convs.0" in k for k in widened)
    for name in widened:
        assert mine[name].shape[1] == 1 + len(cgpm.label_manager.foreground_labels)
        assert torch.equal(mine[name][:, :1], theirs[name]) and not mine[name][:, 1:].any()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs if k not in widened)

    bad = {k: v[..., :1] if v.ndim == 5 else v for k, v in theirs.items()}
    torch.save({"network_weights": bad}, path)
    with pytest.raises(
        ConfigurationError, match=r"first-stage checkpoint .*: weight .* has shape .*another network"
    ):
        cgpm.load_first_stage_weights(str(path))


def test_first_stage_source_needs_the_first_stage(planned_phantom):
    class NeedsFirstStage(nnUNetTrainerCTA_CGPM_tiny):
        previous_stage_source = "first_stage"

    # dataset 910's plans name nnUNetTrainerCTA as the first stage, which was never trained here
    with pytest.raises(
        ConfigurationError,
        match=r"previous_stage_source='first_stage' but first stage 'nnUNetTrainerCTA' has no checkpoint_final\.pth",
    ):
        _make(NeedsFirstStage, planned_phantom, "3d_cgpm")

    class Unknown(nnUNetTrainerCTA_CGPM_tiny):
        previous_stage_source = "oracle"

    with pytest.raises(
        ConfigurationError, match=r"previous_stage_source must be one of .*'first_stage'.*got 'oracle'"
    ):
        _make(Unknown, planned_phantom, "3d_cgpm")
