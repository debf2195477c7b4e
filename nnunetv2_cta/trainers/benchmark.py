"""Schedules of the ``gpu`` benchmark budget (:mod:`nnunetv2_cta.benchmark.definition`).

Every class only sets the schedule of its parent: 5 epochs x 250 iterations (1250 iterations, nnU-Net's
``nnUNetTrainer_5epochs`` length), 10 validation iterations per epoch, nnU-Net's mirroring kept. The stock rows of
the benchmark (nnU-Net's default and ResEnc M plans, and our plans with nnU-Net's loss) all train
``nnUNetTrainerCTA_Base_bench_gpu``, which is nnU-Net's default trainer with this schedule.
"""

from __future__ import annotations

from nnunetv2_cta.trainers.base import nnUNetTrainerCTA_Base
from nnunetv2_cta.trainers.cgpm import nnUNetTrainerCTA_CGPM
from nnunetv2_cta.trainers.cta import nnUNetTrainerCTA


class nnUNetTrainerCTA_Base_bench_gpu(nnUNetTrainerCTA_Base):
    """Benchmark ``gpu`` budget: 5 epochs x 250 iterations, 10 validation iterations, mirroring kept."""

    num_epochs_default = 5
    num_iterations_per_epoch_default = 250
    num_val_iterations_default = 10


class nnUNetTrainerCTA_bench_gpu(nnUNetTrainerCTA, nnUNetTrainerCTA_Base_bench_gpu):
    """``nnUNetTrainerCTA`` on the benchmark ``gpu`` schedule."""


class nnUNetTrainerCTA_CGPM_bench_gpu(nnUNetTrainerCTA_CGPM, nnUNetTrainerCTA_Base_bench_gpu):
    """``nnUNetTrainerCTA_CGPM`` on the benchmark ``gpu`` schedule."""


BENCHMARK_TRAINERS: tuple[type, ...] = (
    nnUNetTrainerCTA_Base_bench_gpu,
    nnUNetTrainerCTA_bench_gpu,
    nnUNetTrainerCTA_CGPM_bench_gpu,
)
