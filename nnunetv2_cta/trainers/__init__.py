"""nnU-Net trainers of nnunetv2_cta and their explicit registry.

Stock ``nnUNetv2_train`` / ``nnUNetv2_predict`` find a trainer class by name. They look inside nnunetv2 first,
then in the folders of the ``nnUNet_extTrainer`` environment variable; ``nnunetv2_cta env`` points it at
:mod:`nnunetv2_cta.nnunet_ext`, whose one module re-exports every class of :data:`TRAINERS`.

Importing this package imports torch and nnunetv2.
"""

from __future__ import annotations

import difflib

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.trainers.base import (
    nnUNetTrainerCTA_Base,
    nnUNetTrainerCTA_Base_demo,
    nnUNetTrainerCTA_Base_demo_full,
    nnUNetTrainerCTA_Base_tiny,
)
from nnunetv2_cta.trainers.benchmark import BENCHMARK_TRAINERS
from nnunetv2_cta.trainers.cgpm import CGPM_TRAINERS
from nnunetv2_cta.trainers.cpu import CPU_TRAINERS
from nnunetv2_cta.trainers.cta import CTA_TRAINERS

#: class name -> trainer class; names are permanent (they name nnU-Net results folders)
TRAINERS: dict[str, type] = {
    c.__name__: c
    for c in (
        nnUNetTrainerCTA_Base,
        nnUNetTrainerCTA_Base_tiny,
        nnUNetTrainerCTA_Base_demo,
        nnUNetTrainerCTA_Base_demo_full,
        *CTA_TRAINERS,
        *CPU_TRAINERS,
        *CGPM_TRAINERS,
        *BENCHMARK_TRAINERS,
    )
}


def get_trainer_class(name: str) -> type:
    """Look up a trainer of this package by class name, suggesting close names on a miss."""
    try:
        return TRAINERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, TRAINERS, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; known: {sorted(TRAINERS)}"
        raise ConfigurationError(f"unknown trainer {name!r}{hint}") from None
