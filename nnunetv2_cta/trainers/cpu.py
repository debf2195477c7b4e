"""The CPU training recipe: stage 1 that learns the arterial tree in minutes on a 2-core CPU.

nnU-Net's schedule (SGD, lr 0.01, Nesterov 0.99, poly decay over 250,000 iterations) is made for a GPU and a
budget of days; cut to a few thousand iterations it ends before it has learned the thin vessels. This recipe
changes, through class attributes and three small hooks, only what the measurements in
``benchmarks/results/cpu_recipe.md`` showed to matter on a 2-core CPU:

- ``configure_optimizers``: AdamW or SGD (``optimizer``), ``learning_rate``, a linear warm-up over
  ``warmup_epochs`` and nnU-Net's poly decay over the short schedule;
- ``train_step``: bfloat16 autocast on the CPU (``bf16``; CPUs with AVX512-BF16/AMX run the 3D convolutions
  about twice as fast; weights, optimizer state and the loss reduction stay float32);
- ``__init__``: probabilistic foreground sampling (``foreground_probability``: each patch is centred on a
  foreground voxel with this probability instead of nnU-Net's "last third of the batch"), and the schedule.

It keeps everything else of :class:`~nnunetv2_cta.trainers.cta.nnUNetTrainerCTA` (regions, centerline-weighted
Dice, augmentations) so stock ``nnUNetv2_train D 3d_fullres F -tr nnUNetTrainerCTA_cpu -p nnUNetCTAPlans_cpu``
runs it. ``budget_minutes`` is the wall-clock budget the schedule was sized for; a machine too slow for it is
told so before the first epoch.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
import torch

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.trainers.base import nnUNetTrainerCTA_Base
from nnunetv2_cta.trainers.cta import (
    nnUNetTrainerCTA,
    nnUNetTrainerCTA_clDice,
    nnUNetTrainerCTA_NCCT,
    nnUNetTrainerCTA_NoCenterline,
    nnUNetTrainerCTA_SkeletonRecall,
)

OPTIMIZERS = ("sgd", "adamw")


class WarmupPolyLR:
    """Linear warm-up to ``peak_lr`` over ``warmup_steps``, then nnU-Net's poly decay to 0 at ``max_steps``.

    Stepped like nnU-Net's ``PolyLRScheduler`` (``step(current_epoch)``, one step per epoch).

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = WarmupPolyLR(opt, 1.0, max_steps=10, warmup_steps=2)
        >>> [round(sched.lr_at(s), 3) for s in (0, 1, 2, 9)]
        [0.333, 0.667, 1.0, 0.154]
    """

    def __init__(
        self, optimizer, peak_lr: float, max_steps: int, warmup_steps: int = 0, exponent: float = 0.9
    ):
        if max_steps < 1 or not 0 <= warmup_steps < max_steps:
            raise ConfigurationError(
                f"need max_steps >= 1 and 0 <= warmup_steps < max_steps, got {max_steps!r}, {warmup_steps!r}"
            )
        self.optimizer = optimizer
        self.peak_lr = float(peak_lr)
        self.max_steps = int(max_steps)
        self.warmup_steps = int(warmup_steps)
        self.exponent = float(exponent)
        self.step(0)

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / (self.warmup_steps + 1)
        decay_steps = self.max_steps - self.warmup_steps
        return self.peak_lr * (1 - (step - self.warmup_steps) / decay_steps) ** self.exponent

    def step(self, current_step: int | None = None) -> None:
        lr = self.lr_at(int(current_step or 0))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class CPURecipe(nnUNetTrainerCTA_Base):
    """The CPU recipe as a mixin (module docstring); put it first in the bases of a trainer.

    Attributes:
        optimizer_name: ``"adamw"`` or ``"sgd"`` (SGD keeps nnU-Net's Nesterov momentum 0.99).
        learning_rate: peak learning rate.
        weight_decay_value: weight decay (AdamW: decoupled).
        warmup_epochs: epochs of linear warm-up before the poly decay.
        foreground_probability: probability that a training patch is centred on a foreground voxel
            (nnU-Net: the last third of each batch, i.e. one patch in two at batch size 2).
        bf16: bfloat16 autocast for the forward pass and loss on the CPU (ignored on CUDA, where nnU-Net
            already uses float16 autocast).
        checkpoint_epochs: after these epochs (0-based) a copy ``checkpoint_epoch{E}.pth`` is kept, for
            learning curves.
        budget_minutes: wall-clock minutes the schedule is sized for; ``None`` skips the check.
        final_validation: run nnU-Net's validation of the fold's held-out cases after training (off for the
            quick demo, which scores its own held-out cases; always skipped for fold ``all``, which has none).
    """

    optimizer_name: ClassVar[str] = "adamw"
    learning_rate: ClassVar[float] = 2e-3
    weight_decay_value: ClassVar[float] = 3e-5
    warmup_epochs: ClassVar[int] = 1
    foreground_probability: ClassVar[float] = 0.5
    bf16: ClassVar[bool] = True
    checkpoint_epochs: ClassVar[tuple[int, ...]] = ()
    budget_minutes: ClassVar[float | None] = 30.0
    final_validation: ClassVar[bool] = True
    num_epochs_default = 60
    num_iterations_per_epoch_default = 50
    num_val_iterations_default = 4
    mirroring = False
    #: epochs between ``checkpoint_latest.pth`` saves (nnU-Net: 50, i.e. once in this short schedule); a run
    #: that is interrupted resumes losing at most this many epochs
    save_every_epochs: ClassVar[int] = 5

    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):  # noqa: B008
        super().__init__(plans, configuration, fold, dataset_json, device)
        if self.optimizer_name not in OPTIMIZERS:
            raise ConfigurationError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer_name!r}")
        if not 0.0 <= self.foreground_probability <= 1.0:
            raise ConfigurationError(
                f"foreground_probability must be in [0, 1], got {self.foreground_probability!r}"
            )
        self.initial_lr = self.learning_rate
        self.weight_decay = self.weight_decay_value
        self.oversample_foreground_percent = self.foreground_probability
        self.probabilistic_oversampling = True
        self.save_every = self.save_every_epochs

    def _set_batch_size_and_oversample(self):
        super()._set_batch_size_and_oversample()
        self.oversample_foreground_percent = self.foreground_probability  # per patch, not per batch slot

    def configure_optimizers(self):
        params = self.network.parameters()
        if self.optimizer_name == "adamw":
            optimizer = torch.optim.AdamW(params, self.initial_lr, weight_decay=self.weight_decay)
        else:
            optimizer = torch.optim.SGD(
                params, self.initial_lr, weight_decay=self.weight_decay, momentum=0.99, nesterov=True
            )
        return optimizer, WarmupPolyLR(optimizer, self.initial_lr, self.num_epochs, self.warmup_epochs)

    def _autocast(self):
        enabled = self.bf16 and self.device.type == "cpu"
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)

    def train_step(self, batch: dict) -> dict:
        with self._autocast():
            return super().train_step(batch)

    def validation_step(self, batch: dict) -> dict:
        with self._autocast():
            return super().validation_step(batch)

    def seconds_per_iteration(self, repeats: int = 3) -> float:
        """Median time of a forward + backward pass on a random batch of the training shape (no update)."""
        shape = (self.batch_size, self.num_input_channels, *self.configuration_manager.patch_size)
        x = torch.randn(shape, device=self.device)
        times = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            with self._autocast():
                out = self.network(x)
                loss = sum(o.float().mean() for o in (out if isinstance(out, list | tuple) else [out]))
            loss.backward()
            times.append(time.perf_counter() - t0)
        self.network.zero_grad(set_to_none=True)
        return float(np.median(times[1:]))

    def on_train_start(self):
        super().on_train_start()
        if self.budget_minutes is None or self.current_epoch > 0:
            return
        per_it = self.seconds_per_iteration()
        # measured overhead of data loading, validation and logging on 2 cores: about 25 % of the compute
        minutes = 1.25 * per_it * self.num_iterations_per_epoch * self.num_epochs / 60
        message = (
            f"schedule {self.num_epochs} x {self.num_iterations_per_epoch} iterations at {per_it:.2f} s each "
            f"(forward + backward measured here) needs about {minutes:.0f} min; budget {self.budget_minutes:.0f} min"
        )
        if minutes > self.budget_minutes:
            self.print_to_log_file(f"WARNING: this machine cannot fit the budget: {message}")
        else:
            self.print_to_log_file(message)

    def perform_actual_validation(self, save_probabilities: bool = False):
        if not self.final_validation:
            self.print_to_log_file("final validation skipped (final_validation = False)")
            return
        if self.fold == "all":
            # fold 'all' trains on every case, so its "validation" predicts the training cases: an in-sample score
            # that costs longer than the training itself on 2 CPU cores (about 45 s per 1.25 mm case)
            self.print_to_log_file("final validation skipped: fold 'all' has no held-out cases")
            return
        super().perform_actual_validation(save_probabilities)

    def on_epoch_end(self):
        epoch = self.current_epoch
        super().on_epoch_end()
        if epoch in self.checkpoint_epochs:
            self.save_checkpoint(str(self.output_folder) + f"/checkpoint_epoch{epoch}.pth")


class nnUNetTrainerCTA_cpu(CPURecipe, nnUNetTrainerCTA):
    """``nnUNetTrainerCTA`` (regions, centerline-weighted Dice) with the CPU recipe: 3,000 iterations."""


class nnUNetTrainerCTA_Base_cpu(CPURecipe, nnUNetTrainerCTA_Base):
    """nnU-Net's own loss and augmentations with the CPU recipe: the stock-loss comparison at equal minutes."""


class nnUNetTrainerCTA_NoCenterline_cpu(CPURecipe, nnUNetTrainerCTA_NoCenterline):
    """Ablation with the CPU recipe: ``nnUNetTrainerCTA_cpu`` without the centerline weighting (plain soft Dice +
    BCE, the paper's augmentations): isolates the loss term from the augmentations."""


class nnUNetTrainerCTA_SkeletonRecall_cpu(CPURecipe, nnUNetTrainerCTA_SkeletonRecall):
    """Skeleton recall (Kirchhoff et al., ECCV 2024) with the CPU recipe: a benchmark comparison."""


class nnUNetTrainerCTA_clDice_cpu(CPURecipe, nnUNetTrainerCTA_clDice):
    """clDice (Shit et al., CVPR 2021) with the CPU recipe: a benchmark comparison."""


class nnUNetTrainerCTA_NCCT_cpu(CPURecipe, nnUNetTrainerCTA_NCCT):
    """``nnUNetTrainerCTA_NCCT`` (centerline weight alpha 1, for non-contrast CT) with the CPU recipe: the
    benchmark's ``cta`` network on NCCT."""


class nnUNetTrainerCTA_cpu_quick(nnUNetTrainerCTA_cpu):
    """``nnunetv2_cta demo --quick``: the recipe cut to 1,000 iterations (about 6 minutes on 2 idle cores), no
    final validation (the demo scores its own held-out cases)."""

    num_epochs_default = 20
    budget_minutes = 8.0
    final_validation = False


class nnUNetTrainerCTA_Base_cpu_quick(nnUNetTrainerCTA_Base_cpu):
    """``nnunetv2_cta demo --quick``: nnU-Net's loss with the recipe cut to 1,000 iterations (the stock loss beat the
    centerline-weighted one at this budget: benchmarks/results/cpu_recipe), no final validation."""

    num_epochs_default = nnUNetTrainerCTA_cpu_quick.num_epochs_default
    budget_minutes = nnUNetTrainerCTA_cpu_quick.budget_minutes
    final_validation = False


class nnUNetTrainerCTA_cpu_tiny(nnUNetTrainerCTA_cpu):
    """The CPU recipe on the tiny schedule (2 epochs x 4 iterations): tests."""

    num_epochs_default = 2
    num_iterations_per_epoch_default = 4
    num_val_iterations_default = 2
    warmup_epochs = 0
    budget_minutes = None


CPU_TRAINERS: tuple[type, ...] = (
    nnUNetTrainerCTA_cpu,
    nnUNetTrainerCTA_Base_cpu,
    nnUNetTrainerCTA_NoCenterline_cpu,
    nnUNetTrainerCTA_SkeletonRecall_cpu,
    nnUNetTrainerCTA_clDice_cpu,
    nnUNetTrainerCTA_NCCT_cpu,
    nnUNetTrainerCTA_cpu_quick,
    nnUNetTrainerCTA_Base_cpu_quick,
    nnUNetTrainerCTA_cpu_tiny,
)
