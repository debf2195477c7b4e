"""The CGPM's gap term: region of the term and its value, worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.losses.gap import gap_loss, gap_mask


def _line(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 1, -1)


def test_gap_mask_margin():
    target = _line([0, 1, 1, 1, 1, 1, 1, 0, 0])
    given = _line([0, 1, 1, 0, 0, 1, 1, 0, 0])  # voxels 3 and 4 missing
    assert gap_mask(target, given, margin=0)[0, 0, 0].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0]
    assert gap_mask(target, given, margin=2)[0, 0, 0].tolist() == [0, 1, 1, 1, 1, 1, 1, 0, 0]
    # a voxel the input has but the target lacks is not a gap (the term is about what stage 1 missed)
    assert not gap_mask(_line([0, 0, 0]), _line([1, 1, 1]), margin=1).any()


def test_gap_loss_value_by_hand():
    # 2 channels; target channel 0 = vessels; gap at x = 2 (margin 1 -> x = 1, 2, 3)
    target = torch.zeros(1, 2, 1, 1, 5)
    target[0, 0, 0, 0] = torch.tensor([1.0, 1, 1, 1, 1])
    target[0, 1, 0, 0] = torch.tensor([0.0, 0, 1, 0, 0])
    given = _line([1, 1, 0, 1, 1])
    logits = torch.zeros(1, 2, 1, 1, 5)
    logits[0, 0, 0, 0, 2] = 2.0  # confident and right on the gap, vessels channel
    # 6 terms (2 channels x 3 voxels): five are log 2 (logit 0), one is log(1 + e^-2)
    expected = (5 * math.log(2) + math.log(1 + math.exp(-2))) / 6
    assert float(gap_loss(logits, target, given, margin=1)) == pytest.approx(expected, rel=1e-6)


def test_gap_loss_no_gap_is_zero_and_keeps_the_graph():
    logits = torch.zeros(1, 1, 1, 1, 4, requires_grad=True)
    value = gap_loss(logits, torch.ones(1, 1, 1, 1, 4), _line([1, 1, 1, 1]))
    assert float(value.detach()) == 0.0
    value.backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) == 0.0


def test_gap_bad_input():
    with pytest.raises(
        ConfigurationError,
        match=r"target and given vessel masks differ in shape: \(1, 1, 1, 4\) vs \(1, 1, 1, 5\)",
    ):
        gap_mask(_line([1, 1, 1, 1]), _line([1, 1, 1, 1, 1]))
    with pytest.raises(ConfigurationError, match="margin must be >= 0 voxels, got -1"):
        gap_mask(_line([1]), _line([1]), margin=-1)
    with pytest.raises(ConfigurationError, match=r"logits and target differ in shape"):
        gap_loss(torch.zeros(1, 2, 1, 1, 4), torch.zeros(1, 1, 1, 1, 4), _line([1, 1, 1, 1]))
