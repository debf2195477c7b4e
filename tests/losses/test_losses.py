"""Hand-computed values, empty targets and softmax-vs-region consistency of the CTA losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.losses import (
    CTALoss,
    attenuated_class_weights,
    skeleton_recall_loss,
    soft_cldice_loss,
    soft_skeleton,
    weighted_soft_dice,
)
from nnunetv2_cta.transforms.targets import centerline_weight_map


def _v(values, shape=None):
    t = torch.tensor(values, dtype=torch.float32)
    return t.view(shape) if shape else t.view(1, 1, -1)


def test_weighted_soft_dice_hand_values():
    p, g, w = _v([0.5, 1.0, 0.0, 0.0]), _v([1.0, 1.0, 0.0, 0.0]), _v([1.0, 3.0, 1.0, 1.0])
    # weighted: 2 * (0.5 + 3) / ((0.5 + 3) + (1 + 3)) = 7 / 7.5 ; unweighted: 2 * 1.5 / (1.5 + 2) = 3 / 3.5
    assert float(weighted_soft_dice(p, g, w, smooth=0)) == pytest.approx(7 / 7.5)
    assert float(weighted_soft_dice(p, g, smooth=0)) == pytest.approx(3 / 3.5)


def test_weighted_soft_dice_batch_pooling():
    p = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(2, 1, 2)
    g = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).view(2, 1, 2)
    per_sample = weighted_soft_dice(p, g, smooth=0)
    assert per_sample.flatten().tolist() == pytest.approx([1.0, 0.0])
    # pooled: tp 1, sum_p 1, sum_g 3 -> 2 / 4
    assert float(weighted_soft_dice(p, g, batch_dice=True, smooth=0)) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("probs", "target", "weights", "match"),
    [
        ((1, 2, 4), (1, 1, 4), None, "same shape"),
        ((1, 2, 4), (1, 2, 4), (1, 1, 5), "weights must have shape"),
    ],
)
def test_weighted_soft_dice_rejects_bad_shapes(probs, target, weights, match):
    w = None if weights is None else torch.ones(weights)
    with pytest.raises(ConfigurationError, match=match):
        weighted_soft_dice(torch.zeros(probs), torch.zeros(target), w)


def test_skeleton_recall_hand_value_and_empty_channel():
    probs = torch.tensor([0.2, 0.8, 0.5, 0.9, 0.1, 0.3]).view(1, 2, 3)
    skel = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0]).view(1, 2, 3)
    # channel 0: recall (0.2 + 0.8) / 2 = 0.5; channel 1 has no skeleton: recall 1 -> loss 1 - 0.75
    assert float(skeleton_recall_loss(probs, skel, smooth=0 + 1e-12)) == pytest.approx(0.25, abs=1e-6)
    with pytest.raises(ConfigurationError, match="same shape"):
        skeleton_recall_loss(probs, skel[:, :1])


def test_soft_skeleton_of_binary_bar_is_its_middle_row():
    x = torch.zeros(1, 1, 9, 12)
    x[0, 0, 2:5, :] = 1  # a bar 3 rows thick across the whole width
    skel = soft_skeleton(x, iterations=3)
    expected = torch.zeros_like(x)
    expected[0, 0, 3, :] = 1
    assert torch.equal(skel, expected)
    line = torch.zeros(1, 1, 5, 5, 5)
    line[0, 0, 2, 2, :] = 1
    assert torch.equal(soft_skeleton(line, 2), line)
    with pytest.raises(ConfigurationError, match="iterations must be >= 1"):
        soft_skeleton(x, 0)
    with pytest.raises(ConfigurationError, match="expects a"):
        soft_skeleton(torch.zeros(3, 3))


def test_cldice_hand_value_half_line():
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3, :] = 1
    pred = torch.zeros_like(target)
    pred[0, 0, 3, :4] = 1
    # S_P = the 4-voxel line inside the target: Tprec = 1; Tsens = 4 / 8; clDice = 2 * 0.5 / 1.5
    assert float(soft_cldice_loss(pred, target, target, smooth=1e-9)) == pytest.approx(1 / 3, abs=1e-6)
    assert float(soft_cldice_loss(target, target, smooth=1e-9)) == pytest.approx(0.0, abs=1e-6)


def test_attenuated_class_weights_hand_values():
    w = attenuated_class_weights([900, 90, 10])
    expected = [(1000 / 2700) ** (1 / 3), (1000 / 270) ** (1 / 3), (1000 / 30) ** (1 / 3)]
    assert w.tolist() == pytest.approx(expected, rel=1e-5)
    assert attenuated_class_weights([50, 50], power=1).tolist() == pytest.approx([1.0, 1.0])
    # an absent class is counted like the rarest present one: [90, 10, 10] -> balanced 110 / (3 n)
    assert attenuated_class_weights([90, 10, 0], power=1).tolist() == pytest.approx(
        [110 / 270, 110 / 30, 110 / 30]
    )


@pytest.mark.parametrize(
    ("counts", "power", "match"),
    [
        ([0, 0], 1 / 3, "must not all be zero"),
        ([5, -1], 1 / 3, "finite and >= 0"),
        ([5, 5], 0.0, "power must be"),
    ],
)
def test_attenuated_class_weights_bad_input(counts, power, match):
    with pytest.raises(ConfigurationError, match=match):
        attenuated_class_weights(counts, power)


def test_cta_loss_softmax_hand_value():
    logits = torch.zeros(1, 2, 4)  # uniform: p = 0.5 everywhere, CE = ln 2
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 4)
    plain = CTALoss(regions=False)(logits, labels)
    # foreground Dice 2 * 1 / (2 + 2) = 0.5
    assert float(plain) == pytest.approx(0.5 + math.log(2), rel=1e-5)
    weights = torch.tensor([3.0, 1.0, 1.0, 1.0]).view(1, 1, 4)
    weighted = CTALoss(regions=False, extra_target="weight")(logits, torch.cat([labels, weights], 1))
    # tp = 0.5 * 3 + 0.5 = 2, sum_p = 0.5 * 6 = 3, sum_g = 4 -> Dice 4 / 7
    assert float(weighted) == pytest.approx(3 / 7 + math.log(2), rel=1e-5)


def test_cta_loss_channel_weights_and_ce_weights():
    logits = torch.zeros(1, 3, 4)
    labels = torch.tensor([1.0, 2.0, 2.0, 0.0]).view(1, 1, 4)
    # Dice class 1: 2 * (1/3) / (4/3 + 1) = 2/7 ; class 2: 2 * (2/3) / (4/3 + 2) = 2/5
    loss = CTALoss(regions=False, channel_weights=[1.0, 1.0, 3.0], ce_weight=0)(logits, labels)
    assert float(loss) == pytest.approx(1 - (2 / 7 + 3 * 2 / 5) / 4, rel=1e-5)
    ce = CTALoss(regions=False, dice_weight=0, ce_class_weights=[1.0, 2.0, 4.0])(logits, labels)
    assert float(ce) == pytest.approx(math.log(3), rel=1e-5)  # uniform logits: weighted mean of ln 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"extra_target": "radius"}, "extra_target must be"),
        ({"topology": "betti"}, "topology must be"),
        (
            {"topology": "skeleton_recall", "extra_target": "weight", "vessel_channels": [1]},
            "needs extra_target",
        ),
        ({"topology": "cldice"}, "at least one vessel channel"),
        ({"dice_weight": -1.0}, "dice_weight must be >= 0"),
        ({"channel_weights": [1.0, -2.0]}, "channel_weights must all be >= 0"),
    ],
)
def test_cta_loss_rejects_bad_configuration(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        CTALoss(regions=False, **kwargs)


def test_cta_loss_rejects_wrong_target_channels():
    loss = CTALoss(regions=True, extra_target="weight")
    with pytest.raises(ConfigurationError, match="target must have 3 or 4 channels"):
        loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 5, 4, 4))
    with pytest.raises(ConfigurationError, match="target must be"):
        loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))


CONFIGS = [
    {"extra_target": None, "topology": None},
    {"extra_target": "weight", "topology": None},
    {"extra_target": "skeleton", "topology": "skeleton_recall"},
    {"extra_target": "skeleton", "topology": "cldice"},
    {"extra_target": None, "topology": "cldice"},
]


@pytest.mark.parametrize("regions", [False, True])
@pytest.mark.parametrize("config", CONFIGS)
def test_cta_loss_finite_on_empty_target(regions, config):
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, 8, requires_grad=True)
    base = torch.zeros(2, 3 if regions else 1, 8, 8, 8)
    extra = {"weight": torch.ones(2, 1, 8, 8, 8), "skeleton": torch.zeros(2, 1, 8, 8, 8), None: None}[
        config["extra_target"]
    ]
    target = base if extra is None else torch.cat([base, extra], 1)
    loss = CTALoss(regions=regions, vessel_channels=[1, 2], **config)(logits, target)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("config", CONFIGS)
def test_regions_and_softmax_agree_on_one_region(config):
    torch.manual_seed(1)
    z = torch.randn(2, 1, 10, 10, 10)
    g = torch.zeros(2, 1, 10, 10, 10)
    g[:, :, 3:6, 4:6, :] = 1
    g[1, :, 7, 7, 2:9] = 1
    extra = {
        "weight": 1 + 4 * torch.rand(2, 1, 10, 10, 10),
        "skeleton": (g.bool() & (torch.rand(2, 1, 10, 10, 10) > 0.5)).float(),
        None: None,
    }[config["extra_target"]]
    tr = g if extra is None else torch.cat([g, extra], 1)
    # softmax over (background, vessel) with logits (0, z) has p_vessel = sigmoid(z) and CE = BCE(z)
    soft = CTALoss(regions=False, vessel_channels=[1], **config)(torch.cat([torch.zeros_like(z), z], 1), tr)
    reg = CTALoss(regions=True, vessel_channels=[0], **config)(z, tr)
    assert float(soft) == pytest.approx(float(reg), rel=1e-5)


def _tubes(thin_radius: float, thick_radius: float, shape=(24, 48, 48)):
    _z, y, x = np.indices(shape)
    thin = (y - 12) ** 2 + (x - 12) ** 2 <= thin_radius**2
    thick = (y - 30) ** 2 + (x - 30) ** 2 <= thick_radius**2
    return thin, thick


@pytest.mark.parametrize("radius", [1.0, 2.0, 3.0, 5.0])
def test_centerline_bump_mass_per_unit_length_is_calibre_independent(radius):
    """(w - 1) summed over one cross-section = 2 pi beta^2 alpha r_ref^2 = 2 pi 0.25 16 4 = 100.5 (defaults)."""
    _, tube = _tubes(0, radius)
    w = centerline_weight_map(tube)
    assert float((w[12] - 1).sum()) == pytest.approx(2 * math.pi * 0.25 * 16 * 4, rel=0.1)


def test_centerline_weighting_charges_a_thin_break_like_a_thick_one():
    """A break (a 4-slice gap) in a 1-voxel-radius tube vs the same gap in a 3-voxel-radius tube."""
    thin, thick = _tubes(1.0, 3.0)
    gt = thin | thick
    weights = torch.from_numpy(centerline_weight_map(gt))[None, None]
    g = torch.from_numpy(gt).float()[None, None]

    def loss_increase(broken: np.ndarray, w):
        pred = g.clone()
        pred[0, 0, 10:14][torch.from_numpy(broken[10:14])] = 0
        return float(weighted_soft_dice(g, g, w)) - float(weighted_soft_dice(pred, g, w))

    plain_ratio = loss_increase(thin, None) / loss_increase(thick, None)
    weighted_ratio = loss_increase(thin, weights) / loss_increase(thick, weights)
    # plain Dice: removing k of N foreground voxels costs k / (2N - k); cross-sections of 5 and 29 voxels
    n, k_thin, k_thick = 24 * (5 + 29), 4 * 5, 4 * 29
    assert plain_ratio == pytest.approx(k_thin / (2 * n - k_thin) / (k_thick / (2 * n - k_thick)), rel=1e-4)
    # weighted: bump mass ~100 per slice for both plus the baseline 5 vs 29 voxels -> about (105 / 129)
    assert weighted_ratio == pytest.approx(105 / 129, abs=0.1)
    assert weighted_ratio > 4 * plain_ratio


def test_cta_loss_under_deep_supervision_lists():
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper

    torch.manual_seed(2)
    loss = CTALoss(regions=True, extra_target="weight", vessel_channels=[0])
    logits = [torch.randn(1, 2, 8, 8, 8), torch.randn(1, 2, 4, 4, 4)]
    targets = [
        torch.cat([(torch.rand(1, 2, *s) > 0.7).float(), 1 + torch.rand(1, 1, *s)], 1)
        for s in ((8, 8, 8), (4, 4, 4))
    ]
    wrapped = DeepSupervisionWrapper(loss, [0.75, 0.25])(logits, targets)
    expected = 0.75 * loss(logits[0], targets[0]) + 0.25 * loss(logits[1], targets[1])
    assert float(wrapped) == pytest.approx(float(expected), rel=1e-6)
