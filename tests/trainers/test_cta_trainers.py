"""CTA trainers: pipeline and loss wiring in process, bad label set-ups, and end-to-end runs of the stock
nnUNetv2_train / nnUNetv2_predict on a tiny region dataset (CPU)."""

from __future__ import annotations

import json
from types import MappingProxyType

import numpy as np
import pytest
import torch
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.utils.deep_supervision_downsampling import DownsampleSegForDSTransform
from batchgeneratorsv2.transforms.utils.seg_to_regions import ConvertSegmentationToRegionsTransform

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.io import read_image
from nnunetv2_cta.labels import LABELS, dataset_json
from nnunetv2_cta.trainers import get_trainer_class
from nnunetv2_cta.trainers.cta import (
    nnUNetTrainerCTA,
    nnUNetTrainerCTA_clDice_tiny,
    nnUNetTrainerCTA_NoCenterline_tiny,
    nnUNetTrainerCTA_SkeletonRecall_tiny,
    nnUNetTrainerCTA_tiny,
)
from nnunetv2_cta.transforms import CenterlineTargetTransform, RandomOcclusionTransform, find_index


def _make(cls, planned: dict, dj: dict | None = None):
    pre = planned["nnUNet_preprocessed"] / planned["raw"].name
    plans = json.loads((pre / f"{planned['plans']}.json").read_text())
    plans["continue_training"] = False  # nnU-Net 2.8.1 pops this key (set by run_training)
    dj = dj if dj is not None else json.loads((pre / "dataset.json").read_text())
    return cls(plans, "3d_fullres", 0, dj, torch.device("cpu"))


VARIANTS = [
    (nnUNetTrainerCTA_tiny, 1),
    (nnUNetTrainerCTA_NoCenterline_tiny, 0),
    (nnUNetTrainerCTA_SkeletonRecall_tiny, 1),
    (nnUNetTrainerCTA_clDice_tiny, 1),
]


@pytest.mark.parametrize(("cls", "n_extra"), VARIANTS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_variant_pipeline_and_one_train_step_regions(planned_phantom, cls, n_extra):
    trainer = _make(cls, planned_phantom)
    trainer.initialize()
    dl_tr, dl_val = trainer.get_dataloaders()
    batch = next(dl_tr)
    n_regions = len(trainer.label_manager.foreground_regions)
    assert isinstance(batch["target"], list)  # deep supervision
    assert [t.shape[1] for t in batch["target"]] == [n_regions + n_extra] * len(batch["target"])
    out = trainer.train_step(batch)
    assert np.isfinite(out["loss"])
    val = trainer.validation_step(next(dl_val))  # validation targets carry no extra channel
    assert np.isfinite(val["loss"]) and len(val["tp_hard"]) == n_regions


def test_label_mode_softmax_train_step(planned_phantom):
    trainer = _make(
        nnUNetTrainerCTA_tiny, planned_phantom, dataset_json(5, name="PhantomTiny", regions=False)
    )
    trainer.initialize()
    dl_tr, _ = trainer.get_dataloaders()
    batch = next(dl_tr)
    full = batch["target"][0]
    assert full.shape[1] == 2 and full.dtype == torch.float32
    assert set(torch.unique(full[:, 0]).tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert float(full[:, 1].min()) >= 1.0
    assert np.isfinite(trainer.train_step(batch)["loss"])


def test_pipeline_order_rotation_and_mirroring(planned_phantom):
    trainer = _make(nnUNetTrainerCTA, planned_phantom)
    rotation, dummy_2d, _, mirror_axes = trainer.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
    assert not dummy_2d and rotation == pytest.approx((-np.deg2rad(25), np.deg2rad(25)))
    assert tuple(mirror_axes) == (0, 1, 2)  # our labels are not left/right specific
    tiny = _make(nnUNetTrainerCTA_tiny, planned_phantom)
    assert tiny.configure_rotation_dummyDA_mirroring_and_inital_patch_size()[3] is None
    regions = trainer.label_manager.foreground_regions
    ts = trainer.get_training_transforms(
        trainer.configuration_manager.patch_size,
        rotation,
        trainer._get_deep_supervision_scales(),
        mirror_axes,
        False,
        regions=regions,
    ).transforms
    target, ds = find_index(ts, CenterlineTargetTransform), find_index(ts, DownsampleSegForDSTransform)
    assert target == ds - 1 and find_index(ts, ConvertSegmentationToRegionsTransform) < target
    noise = find_index(ts, GaussianNoiseTransform)
    assert find_index(ts, RandomOcclusionTransform) == noise - 1
    assert ts[noise].apply_probability == nnUNetTrainerCTA.noise_probability
    assert ts[target].vessel_channels == [1, 2, 3, 4]  # vessels, aorta, carotid, intracranial


def test_region_loss_weights_reach_the_loss(planned_phantom):
    class Weighted(nnUNetTrainerCTA):
        region_loss_weights = MappingProxyType({"intracranial": 2.0})

    loss = _make(Weighted, planned_phantom)._build_loss()
    assert loss.loss.channel_weights == [1.0, 1.0, 1.0, 1.0, 2.0]

    class Typo(nnUNetTrainerCTA):
        region_loss_weights = MappingProxyType({"intracranal": 2.0})

    with pytest.raises(ConfigurationError, match=r"\['intracranal'\] are not output channels"):
        _make(Typo, planned_phantom)._build_loss()


def test_attenuated_ce_weights_from_training_split(planned_phantom):
    class Attenuated(nnUNetTrainerCTA):
        ce_class_weight_power = 1 / 3

    trainer = _make(Attenuated, planned_phantom)
    counts = trainer.class_voxel_counts()
    assert counts.shape == (5, 2) and (counts.sum(1) == counts.sum(1)[0]).all()
    pos_weight = trainer._build_loss().loss.ce_class_weights
    assert pos_weight.tolist() == pytest.approx(((counts[:, 0] / counts[:, 1]) ** (1 / 3)).tolist(), rel=1e-5)


def _labels(**labels):
    return {"background": 0, **labels}


@pytest.mark.parametrize(
    ("labels", "order", "match"),
    [
        (_labels(bone=1), None, "contain no vessel label"),
        (
            _labels(bone=1, vessels=[2, 3, 4], aorta=2, carotid=3),
            [1, 3, 2, 3],
            r"labels \[4\] belong to a region",
        ),
        (
            _labels(hard=[1, 2], vessels=[2, 3, 4], carotid=3, intracranial=4),
            [1, 2, 3, 4],
            "mixes vessel labels",
        ),
        (
            _labels(bone=1, aorta=2, carotid=3, intracranial=4, ignore=5),
            None,
            "does not support an ignore label",
        ),
    ],
)
def test_bad_label_setups_raise(planned_phantom, labels, order, match):
    dj = {"channel_names": {"0": "CT"}, "labels": labels, "numTraining": 5, "file_ending": ".nii.gz"}
    if order is not None:
        dj["regions_class_order"] = order
    with pytest.raises(ConfigurationError, match=match):
        _make(nnUNetTrainerCTA, planned_phantom, dj)._build_loss()


def test_registry_knows_the_cta_trainers():
    assert get_trainer_class("nnUNetTrainerCTA_clDice").__name__ == "nnUNetTrainerCTA_clDice"
    with pytest.raises(ConfigurationError, match="did you mean"):
        get_trainer_class("nnUNetTrainerCTA_cldice")


def _train_and_predict(run_tool, planned: dict, trainer: str, tmp_path) -> np.ndarray:
    dataset = str(planned["id"])
    run_tool(
        [
            "nnUNetv2_train",
            dataset,
            "3d_fullres",
            "0",
            "-tr",
            trainer,
            "-p",
            planned["plans"],
            "-device",
            "cpu",
        ]
    )
    out = tmp_path / "pred"
    run_tool(
        ["nnUNetv2_predict", "-i", str(planned["raw"] / "imagesTs"), "-o", str(out), "-d", dataset, "-c", "3d_fullres",
         "-f", "0", "-tr", trainer, "-p", planned["plans"], "--disable_tta", "-device", "cpu",
         "-chk", "checkpoint_final.pth", "-npp", "1", "-nps", "1"]
    )  # fmt: skip
    pred, pred_geometry = read_image(out / f"{planned['test_case']}.nii.gz")
    ref, ref_geometry = read_image(planned["raw"] / "labelsTs" / f"{planned['test_case']}.nii.gz")
    assert pred.shape == ref.shape
    assert pred_geometry.spacing == pytest.approx(ref_geometry.spacing)
    assert set(np.unique(pred).tolist()) <= set(LABELS.values())
    return pred


def test_cta_trainer_with_stock_nnunet_train_and_predict(nnunet_tool, planned_phantom, tmp_path):
    _train_and_predict(nnunet_tool, planned_phantom, "nnUNetTrainerCTA_tiny", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "trainer",
    [
        "nnUNetTrainerCTA_NoCenterline_tiny",
        "nnUNetTrainerCTA_SkeletonRecall_tiny",
        "nnUNetTrainerCTA_clDice_tiny",
    ],
)
def test_comparison_trainers_with_stock_nnunet_train_and_predict(
    nnunet_tool, planned_phantom, tmp_path, trainer
):
    _train_and_predict(nnunet_tool, planned_phantom, trainer, tmp_path)
