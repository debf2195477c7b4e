"""CGPM: the learned repair stage (the paper's "connected growth prediction model").

A second 3D U-Net receives the CT plus the first stage's segmentation (one-hot, one channel per foreground
label) and predicts the full label map, learning to fill the first stage's gaps. It rides on nnU-Net's
cascade: train it on the ``3d_cgpm`` configuration that
:func:`nnunetv2_cta.cgpm.plans.add_cgpm_configuration` adds to our plans::

    nnUNetv2_train D 3d_cgpm 0 -tr nnUNetTrainerCTA_CGPM -p nnUNetCTAPlans_<preset>

**Where the first-stage input comes from** (class attribute ``previous_stage_source``):

- ``"predicted"``: the first stage's out-of-fold predictions, written by its 5-fold validation to
  ``<first_stage_trainer>__<plans>__<first_stage>/predicted_next_stage/3d_cgpm`` (trainer named in
  ``plans["cta"]["cgpm"]["first_stage_trainer"]``). nnU-Net itself would look in a folder named after
  *this* trainer class, which only works when both stages use one trainer class; we point it at the first
  stage's folder instead.
- ``"simulated"``: no first stage needed. At the start of training, every case's ground truth is broken
  with :func:`nnunetv2_cta.transforms.break_simulation.simulate_breaks` (seeded per case and fold) and saved
  in nnU-Net's format to ``fold_X/simulated_previous_stage``; nnU-Net's cascade machinery then reads it like
  real predictions (training, validation and the final validation all work unchanged).
- ``"first_stage"``: the first stage's own (in-sample) predictions of the training cases, made at the start of
  training with its checkpoint (``fold_X`` or ``fold_all``) on the preprocessed grid and saved to
  ``fold_X/first_stage_predictions``. Only one first-stage training is needed (not five folds), and the
  CGPM sees the first stage's real misses: thin, faint vessels that simulated cuts of the ground truth do not
  resemble (cut ground truth always has full contrast in the CT under the cut).
- ``"auto"`` (default): predicted when that folder is complete, else first_stage when the first stage's
  checkpoint exists, else simulated, with a log line saying which.

On top of either, :class:`~nnunetv2_cta.transforms.break_simulation.BreakSimulationTransform` cuts, drops,
thins and fades vessels of the one-hot input on the fly (after nnU-Net's own cascade corruptions: random
morphology and removed components), so the network sees both realistic and hard breaks.

**The objective is the repair.** Over a whole patch, copying the input is nearly optimal, so the plain loss
teaches the network to copy (the first CGPM output no vessel at all). The loss therefore adds
:func:`nnunetv2_cta.losses.gap.gap_loss` (weight ``gap_loss_weight``): cross-entropy averaged over the
voxels the input lacks and a ``gap_margin`` around them, so a filled gap and an over-grown one weigh as
much as the rest of the patch together.

**Initialised from the first stage** (``init_from_first_stage``): when the first-stage model of
``plans["cta"]["cgpm"]["first_stage_trainer"]`` has a checkpoint for this fold (or fold ``all``), the CGPM
starts from its weights (the extra one-hot input channels start at zero), so it begins as a copy of the
first stage that sees the CT as well as stage 1 does and learns only the repair; the checkpoint used is in
``cgpm_source.json`` and ``predict`` refuses the CGPM with any other first stage.
"""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np
import torch
from batchgeneratorsv2.transforms.nnunet.seg_to_onehot import MoveSegAsOneHotToDataTransform

from nnunetv2_cta.cgpm.source import SOURCE_RECORD
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.io import write_json_atomic
from nnunetv2_cta.labels import VESSEL_LABELS
from nnunetv2_cta.losses.gap import gap_loss
from nnunetv2_cta.trainers.base import (
    nnUNetTrainerCTA_Base,
    nnUNetTrainerCTA_Base_demo,
    nnUNetTrainerCTA_Base_tiny,
)
from nnunetv2_cta.trainers.cpu import CPURecipe
from nnunetv2_cta.transforms.break_simulation import BreakSimulationTransform, simulate_breaks
from nnunetv2_cta.transforms.compose import find_index

SOURCES = ("auto", "predicted", "first_stage", "simulated")


class nnUNetTrainerCTA_CGPM(nnUNetTrainerCTA_Base):
    """Repair stage trainer (module docstring). Needs a configuration with ``previous_stage``.

    Attributes:
        previous_stage_source: ``"auto"``, ``"predicted"``, ``"first_stage"`` or ``"simulated"`` (module
            docstring).
        simulated_breaks: inclusive range of cuts per case in the simulated first-stage input.
        simulated_drops: inclusive range of dropped distal branches per case in it.
        break_probability: probability that a training patch gets extra on-the-fly breaks.
        break_length_diameters: cut length range in vessel diameters (issue: about 1-4).
        gap_loss_weight: weight of :func:`~nnunetv2_cta.losses.gap.gap_loss` added to nnU-Net's loss (0: off).
        gap_margin: voxels around each gap that the gap term scores as well.
        init_from_first_stage: start from the first stage's weights when its checkpoint exists (module
            docstring).
    """

    previous_stage_source: ClassVar[str] = "auto"
    simulated_breaks: ClassVar[tuple[int, int]] = (1, 4)
    simulated_drops: ClassVar[tuple[int, int]] = (0, 1)
    break_probability: ClassVar[float] = 0.5
    break_length_diameters: ClassVar[tuple[float, float]] = (1.0, 4.0)
    gap_loss_weight: ClassVar[float] = 1.0
    gap_margin: ClassVar[int] = 2
    init_from_first_stage: ClassVar[bool] = True

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 - nnU-Net's fixed signature
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self._check_cgpm_configuration(plans, configuration)
        self.simulate_previous_stage = False
        first_trainer = ((plans.get("cta") or {}).get("cgpm") or {}).get("first_stage_trainer")
        predicted = self._predicted_folder(first_trainer, configuration)
        have_predicted = self._check_predicted(predicted)
        self.first_stage_checkpoint = self._first_stage_checkpoint(first_trainer)
        if self.previous_stage_source == "first_stage" and self.first_stage_checkpoint is None:
            raise ConfigurationError(
                f"previous_stage_source='first_stage' but first stage {first_trainer!r} has no checkpoint_final.pth "
                f"for fold {self.fold!r} or 'all' next to this model; train it first or use the simulated source"
            )
        self.source = self._choose_source(have_predicted)
        self.simulate_previous_stage = self.source == "simulated"
        self._set_previous_stage_folder(predicted)
        self._given_vessel = None  # first-stage vessel mask of the current training batch (for the gap term)

    def _check_cgpm_configuration(self, plans: dict, configuration: str) -> None:
        """Refuse an unknown ``previous_stage_source`` or a configuration without ``previous_stage``."""
        if self.previous_stage_source not in SOURCES:
            raise ConfigurationError(
                f"previous_stage_source must be one of {SOURCES}, got {self.previous_stage_source!r}"
            )
        if not self.is_cascaded:
            raise ConfigurationError(
                f"configuration {configuration!r} of plans {plans.get('plans_name')!r} has no 'previous_stage'; "
                "train the CGPM on the configuration added by add_cgpm_configuration (e.g. '3d_cgpm')"
            )

    def _predicted_folder(self, first_trainer: str | None, configuration: str) -> str | None:
        """Where the first stage's 5-fold validation writes its out-of-fold predictions for ``configuration``."""
        if not (first_trainer and self.output_folder_base is not None):
            return None
        return os.path.join(
            os.path.dirname(self.output_folder_base),
            f"{first_trainer}__{self.plans_manager.plans_name}__{self.configuration_manager.previous_stage_name}",
            "predicted_next_stage",
            configuration,
        )

    def _check_predicted(self, predicted: str | None) -> bool:
        """True when ``predicted`` holds every training case; raise when the ``"predicted"`` source lacks any."""
        missing = self._missing_predictions(predicted)
        have_predicted = predicted is not None and not missing
        if self.previous_stage_source == "predicted" and not have_predicted:
            what = (
                f"are missing for {len(missing)} training case(s), e.g. {sorted(missing)[:3]}"
                if predicted is not None and os.path.isdir(predicted)
                else "do not exist"
            )
            raise ConfigurationError(
                f"previous_stage_source='predicted' but the first-stage predictions at {predicted!r} {what}; run "
                "all 5 folds of the first stage (each fold's validation writes its cases) or use the simulated source"
            )
        if missing and predicted is not None and os.path.isdir(predicted):
            self.print_to_log_file(
                f"CGPM: {predicted} lacks out-of-fold predictions for {len(missing)} training case(s) (first stage "
                "not trained on all 5 folds)"
            )
        return have_predicted

    def _choose_source(self, have_predicted: bool) -> str:
        """``"predicted"``, ``"first_stage"`` or ``"simulated"`` for ``previous_stage_source`` (module docstring)."""
        if self.previous_stage_source == "predicted" or (
            self.previous_stage_source == "auto" and have_predicted
        ):
            return "predicted"
        if self.previous_stage_source in ("first_stage", "auto") and self.first_stage_checkpoint is not None:
            return "first_stage"
        return "simulated"

    def _set_previous_stage_folder(self, predicted: str | None) -> None:
        """Point nnU-Net's cascade at the first-stage input of :attr:`source` and log which it is."""
        if self.source == "predicted":
            self.folder_with_segs_from_previous_stage = predicted
            self.print_to_log_file(f"CGPM: first-stage input from out-of-fold predictions in {predicted}")
            return
        if self.output_folder is not None:
            name = "simulated_previous_stage" if self.simulate_previous_stage else "first_stage_predictions"
            self.folder_with_segs_from_previous_stage = os.path.join(self.output_folder, name)
        what = (
            "simulated from the ground truth (breaks)"
            if self.simulate_previous_stage
            else f"the first stage's own predictions of the training cases ({self.first_stage_checkpoint})"
        )
        self.print_to_log_file(
            f"CGPM: first-stage input {what}, written to {self.folder_with_segs_from_previous_stage}"
        )

    def _first_stage_checkpoint(self, first_trainer: str | None) -> str | None:
        """The first stage's ``checkpoint_final.pth`` for this fold (else fold ``all``), when it exists."""
        if not (self.init_from_first_stage and first_trainer and self.output_folder_base is not None):
            return None
        folder = os.path.join(
            os.path.dirname(self.output_folder_base),
            f"{first_trainer}__{self.plans_manager.plans_name}__{self.configuration_manager.previous_stage_name}",
        )
        for fold in dict.fromkeys((str(self.fold), "all")):
            path = os.path.join(folder, f"fold_{fold}", "checkpoint_final.pth")
            if os.path.isfile(path):
                return path
        self.print_to_log_file(f"CGPM: no first-stage checkpoint in {folder}; starting from random weights")
        return None

    def _missing_predictions(self, folder: str | None) -> set[str]:
        """Training cases without an out-of-fold first-stage prediction in ``folder`` (all when it is absent)."""
        from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

        if folder is None or not os.path.isdir(self.preprocessed_dataset_folder):
            return {"<no first-stage folder>"}
        identifiers = set(
            infer_dataset_class(self.preprocessed_dataset_folder).get_identifiers(
                self.preprocessed_dataset_folder
            )
        )
        if not os.path.isdir(folder):
            return identifiers
        present = {name.split(".")[0] for name in os.listdir(folder)}
        return identifiers - present

    # ---- simulated first stage ------------------------------------------------------------------------
    def write_simulated_previous_stage(self) -> None:
        """Break every case's ground truth and save it where nnU-Net's dataset reads previous-stage segs."""
        from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

        folder = self.folder_with_segs_from_previous_stage
        os.makedirs(folder, exist_ok=True)
        dataset_class = infer_dataset_class(self.preprocessed_dataset_folder)
        identifiers = dataset_class.get_identifiers(self.preprocessed_dataset_folder)
        dataset = dataset_class(self.preprocessed_dataset_folder, identifiers)
        vessel_labels = [v for v in VESSEL_LABELS if v in self.label_manager.foreground_labels]
        spacing = tuple(float(s) for s in self.configuration_manager.spacing)
        fold = 0 if self.fold == "all" else int(self.fold)
        for k in sorted(identifiers):
            _, seg, _, _ = dataset.load_case(k)
            labels = np.asarray(seg[0]).astype(np.int16)
            labels[labels < 0] = 0
            vessel = np.isin(labels, vessel_labels)
            rng = np.random.default_rng([fold, *k.encode()])  # stable across runs (str hash is not)
            broken, events = simulate_breaks(
                vessel,
                rng,
                int(rng.integers(self.simulated_breaks[0], self.simulated_breaks[1] + 1)),
                n_drop=int(rng.integers(self.simulated_drops[0], self.simulated_drops[1] + 1)),
                spacing=spacing,
                length_diameters=self.break_length_diameters,
                min_length_mm=min(spacing),
            )
            labels[vessel & ~broken] = 0
            dataset_class.save_seg(labels.astype(np.uint8), os.path.join(folder, k))
            self.print_to_log_file(
                f"CGPM: simulated first stage of {k}: {len(events)} events", also_print_to_console=False
            )

    def write_first_stage_predictions(self) -> None:
        """Predict every training case with the first stage's checkpoint, on the preprocessed grid, and save the
        labels where nnU-Net's dataset reads previous-stage segmentations (cases already written are kept).

        In-sample predictions (the first stage was trained on these cases), made with a 0.75 tile step and
        bfloat16 on a CPU that has it: their misses are the first stage's own (thin, faint vessels), which the
        simulated cuts of the ground truth are not.
        """
        from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

        from nnunetv2_cta.inference.model import StageModel, cpu_bf16

        folder = self.folder_with_segs_from_previous_stage
        os.makedirs(folder, exist_ok=True)
        dataset_class = infer_dataset_class(self.preprocessed_dataset_folder)
        identifiers = sorted(dataset_class.get_identifiers(self.preprocessed_dataset_folder))
        written = {name.split(".")[0] for name in os.listdir(folder)}
        todo = [k for k in identifiers if k not in written]
        if not todo:
            return
        fold_dir = os.path.dirname(self.first_stage_checkpoint)
        fold = os.path.basename(fold_dir).removeprefix("fold_")
        model = StageModel(
            os.path.dirname(fold_dir),
            folds=[fold if fold == "all" else int(fold)],
            device=self.device.type,
            mirroring=False,
            tile_step_size=0.75,
        )
        dataset = dataset_class(self.preprocessed_dataset_folder, todo)
        for k in todo:
            data = torch.from_numpy(np.ascontiguousarray(dataset.load_case(k)[0]))
            with cpu_bf16(model.device):
                labels = model.decode(model.logits(data))
            dataset_class.save_seg(labels, os.path.join(folder, k))
            self.print_to_log_file(
                f"CGPM: first-stage prediction of {k} written", also_print_to_console=False
            )

    def get_dataloaders(self):
        if self.source == "first_stage":
            self.write_first_stage_predictions()
        if self.simulate_previous_stage:
            self.write_simulated_previous_stage()
        self.write_source_record()
        return super().get_dataloaders()

    def write_source_record(self) -> None:
        """``fold_X/cgpm_source.json``: which first-stage input this fold trained on (``predict`` checks it)."""
        if self.output_folder is None:
            return
        record = {
            "source": self.source,
            "folder": self.folder_with_segs_from_previous_stage,
            "first_stage_checkpoint": self.first_stage_checkpoint,
            "first_stage_trainer": ((self.plans_manager.plans.get("cta") or {}).get("cgpm") or {}).get(
                "first_stage_trainer"
            ),
        }
        write_json_atomic(os.path.join(self.output_folder, SOURCE_RECORD), record)

    # ---- initialisation and the gap term ----------------------------------------------------------------
    def on_train_start(self):
        super().on_train_start()
        if self.first_stage_checkpoint is not None and self.current_epoch == 0:
            self.load_first_stage_weights(self.first_stage_checkpoint)

    def load_first_stage_weights(self, path: str) -> None:
        """Copy the first stage's weights; the extra input channels of the first convolution start at zero."""
        state = torch.load(path, map_location="cpu", weights_only=False)["network_weights"]
        network = self.network.module if hasattr(self.network, "module") else self.network
        own = network.state_dict()
        for name, value in state.items():
            mine = own.get(name)
            if mine is None:
                continue
            if mine.shape == value.shape:
                own[name] = value
            elif (
                mine.ndim == value.ndim >= 2
                and mine.shape[0] == value.shape[0]
                and mine.shape[2:] == value.shape[2:]
            ):
                widened = torch.zeros_like(mine)
                widened[:, : value.shape[1]] = value
                own[name] = widened
            else:
                raise ConfigurationError(
                    f"first-stage checkpoint {path!r}: weight {name!r} has shape {tuple(value.shape)}, "
                    f"the CGPM's is {tuple(mine.shape)} (another network architecture?)"
                )
        network.load_state_dict(own)
        self.print_to_log_file(f"CGPM: initialised from the first stage's weights {path}")

    def _build_loss(self):
        loss = super()._build_loss()
        if self.gap_loss_weight <= 0:
            return loss
        return _WithGapTerm(loss, self)

    def train_step(self, batch: dict) -> dict:
        data = batch["data"]
        fg = list(self.label_manager.foreground_labels)
        channels = [data.shape[1] - len(fg) + i for i, label in enumerate(fg) if label in VESSEL_LABELS]
        self._given_vessel = data[:, channels].sum(1).to(self.device, non_blocking=True)
        try:
            return super().train_step(batch)
        finally:
            self._given_vessel = None

    # ---- augmentation ------------------------------------------------------------------------------
    def get_training_transforms(
        self, patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes, *args, **kwargs
    ):
        pipeline = super().get_training_transforms(
            patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes, *args, **kwargs
        )
        fg = list(self.label_manager.foreground_labels)
        channels = [i - len(fg) for i, label in enumerate(fg) if label in VESSEL_LABELS]
        i = find_index(pipeline.transforms, MoveSegAsOneHotToDataTransform)
        if i is not None and channels and self.break_probability > 0:
            pipeline.transforms.insert(
                i + 1,
                BreakSimulationTransform(
                    channels,
                    p_per_sample=self.break_probability,
                    spacing=tuple(float(s) for s in self.configuration_manager.spacing),
                    length_diameters=self.break_length_diameters,
                ),
            )
        return pipeline


class _WithGapTerm(torch.nn.Module):
    """nnU-Net's loss plus ``trainer.gap_loss_weight`` x the gap term on the full-resolution output (training
    batches only: validation keeps nnU-Net's loss, so its curve stays comparable)."""

    def __init__(self, loss, trainer: nnUNetTrainerCTA_CGPM) -> None:
        super().__init__()
        self.loss = loss
        self.trainer = trainer
        lm = trainer.label_manager
        vessel = set(VESSEL_LABELS) & set(lm.foreground_labels)
        if lm.has_regions:
            regions = [set(np.atleast_1d(r).tolist()) for r in lm.foreground_regions]
            # the all-vessels region first: gap_loss takes the gap from target channel 0
            order = sorted(range(len(regions)), key=lambda c: -len(regions[c] & vessel))
            self.channels = [c for c in order if regions[c] and regions[c] <= vessel]
            if not self.channels or regions[self.channels[0]] != vessel:
                raise ConfigurationError(
                    f"the CGPM's gap term needs a region holding all vessel labels {sorted(vessel)}; "
                    f"regions are {lm.foreground_regions}"
                )
        else:
            self.channels = None

    def forward(self, output, target):
        value = self.loss(output, target)
        given = self.trainer._given_vessel
        if given is None:
            return value
        out0 = output[0] if isinstance(output, list | tuple) else output
        tgt0 = target[0] if isinstance(target, list | tuple) else target
        if self.channels is not None:
            term = gap_loss(out0[:, self.channels], tgt0[:, self.channels], given, self.trainer.gap_margin)
        else:  # softmax: the all-vessels "region" is the summed probability of the vessel classes
            probs = torch.softmax(out0.float(), 1)
            vessel = [int(v) for v in VESSEL_LABELS if v in self.trainer.label_manager.foreground_labels]
            p = probs[:, vessel].sum(1, keepdim=True).clamp(1e-6, 1 - 1e-6)
            target_vessel = torch.isin(tgt0[:, :1], torch.tensor(vessel, device=tgt0.device)).float()
            term = gap_loss(torch.logit(p), target_vessel, given, self.trainer.gap_margin)
        return value + self.trainer.gap_loss_weight * term


class nnUNetTrainerCTA_CGPM_tiny(nnUNetTrainerCTA_CGPM, nnUNetTrainerCTA_Base_tiny):
    """CPU tests and smoke runs: the CGPM with 2 epochs x 4 iterations, no mirroring."""


class nnUNetTrainerCTA_CGPM_demo(nnUNetTrainerCTA_CGPM, nnUNetTrainerCTA_Base_demo):
    """The demo's and the ``cpu-small`` benchmark's CGPM: 20 epochs x 25 iterations, no mirroring."""


class nnUNetTrainerCTA_CGPM_quick(nnUNetTrainerCTA_CGPM_demo):
    """A short CGPM schedule (8 epochs x 25 iterations) from nnU-Net's recipe, kept for existing results folders;
    ``demo --quick`` now uses :class:`nnUNetTrainerCTA_CGPM_cpu_quick`."""

    num_epochs_default = 8


class nnUNetTrainerCTA_CGPM_cpu(CPURecipe, nnUNetTrainerCTA_CGPM):
    """The CGPM with the CPU recipe (:mod:`nnunetv2_cta.trainers.cpu`), fine-tuned from the first stage on its
    own predictions of the training cases: 30 x 50 iterations at a lower peak learning rate, 9 patches in 10
    centred on vessel, half of them cut further on the fly."""

    num_epochs_default = 30
    learning_rate = 1e-3
    foreground_probability = 0.9
    break_probability = 0.5
    budget_minutes = 20.0
    final_validation = False  # scored by benchmarks/cgpm_repair.py on the first stage's own predictions


class nnUNetTrainerCTA_CGPM_cpu_quick(nnUNetTrainerCTA_CGPM_cpu):
    """``nnunetv2_cta demo --quick``'s CGPM: the CPU CGPM cut to 8 x 50 iterations, no final validation."""

    num_epochs_default = 8
    budget_minutes = 5.0


CGPM_TRAINERS: tuple[type, ...] = (
    nnUNetTrainerCTA_CGPM,
    nnUNetTrainerCTA_CGPM_tiny,
    nnUNetTrainerCTA_CGPM_demo,
    nnUNetTrainerCTA_CGPM_quick,
    nnUNetTrainerCTA_CGPM_cpu,
    nnUNetTrainerCTA_CGPM_cpu_quick,
)
