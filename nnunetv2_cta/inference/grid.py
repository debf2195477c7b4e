"""A case on a model's grid (:class:`ModelGrid`), and the first-stage preprocessing that makes it ahead of the
model: :func:`ct_preprocessing_of` reads what :class:`~nnunetv2_cta.inference.model.StageModel` would run from the
model folder's plans alone, :func:`start_grid` runs it in steps so that the network can start on the first rows
(the pipeline does both on its reading thread while the models load).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnunetv2_cta.io import Geometry

if TYPE_CHECKING:
    from nnunetv2_cta.inference.preprocess import CTPreprocessing, RowsReady

logger = logging.getLogger(__name__)


@dataclass
class ModelGrid:
    """One case on a model's grid: what nnU-Net's preprocessing made of it.

    Attributes:
        data: ``(C, z, y, x)`` float tensor: the normalised CT (and, for a cascaded model, the previous stage's
            one-hot channels).
        props: nnU-Net's properties (crop box, shapes) that
            :meth:`~nnunetv2_cta.inference.model.StageModel.export` needs.
        previous: for a cascaded model, the previous stage's label map resampled to this grid.
        labels: the model's own prediction decoded on this grid (set by ``StageModel.predict(keep=True)``).
        preprocessing: the torch preprocessing that made ``data`` (``None``: nnU-Net's preprocessor).
        rows: while another thread still fills ``data`` (:func:`start_grid`), its leading rows (first spatial
            axis) that are final; ``None``: all are.
    """

    data: Any
    props: dict
    previous: np.ndarray | None = None
    labels: np.ndarray | None = None
    preprocessing: CTPreprocessing | None = None
    rows: RowsReady | None = None


def start_grid(
    ct: np.ndarray, geometry: Geometry, preprocessing: CTPreprocessing
) -> tuple[ModelGrid, Iterator[int]]:
    """``ct`` ``[z, y, x]`` (HU) on a first-stage model's grid by its torch ``preprocessing``, in steps
    (:meth:`~.preprocess.CTPreprocessing.start`): the grid at once, with empty ``rows``, and the steps that fill
    its data, each yielding the number of leading rows now final, for the caller to ``grid.rows.publish`` (or
    ``fail`` with a step's error). :meth:`~nnunetv2_cta.inference.model.StageModel.predict` runs the network on
    the rows as they come, so the pipeline preprocesses a case on its reading thread while the model loads and
    the first tiles run.
    """
    from nnunetv2_cta.inference.preprocess import RowsReady

    data, props, steps = preprocessing.start(ct, geometry.spacing)
    props["model_grid"] = {"spacing": list(preprocessing.spacing), "normalization": ["CTNormalization"]}
    rows = RowsReady(int(data.shape[1]))
    return ModelGrid(data, props, preprocessing=preprocessing, rows=rows), steps


def preprocess_to_grid(ct: np.ndarray, geometry: Geometry, preprocessing: CTPreprocessing) -> ModelGrid:
    """:func:`start_grid` run to the end: the case on the model's grid, as
    :meth:`~nnunetv2_cta.inference.model.StageModel.preprocess` makes it."""
    grid, steps = start_grid(ct, geometry, preprocessing)
    for _ in steps:
        pass
    grid.rows = None
    return grid


def ct_preprocessing_of(model_dir: str | os.PathLike, device: str = "cpu") -> CTPreprocessing | None:
    """The torch preprocessing that ``StageModel(model_dir, device=device)`` runs on a CT, from the folder's
    ``plans.json`` and ``dataset.json`` alone (no checkpoint, no network; milliseconds once torch is imported),
    so that a case can be preprocessed while the model loads.

    ``None`` where that model runs nnU-Net's preprocessor, is cascaded, or the folder cannot be read as a model
    (loading it then says why). Imports torch and scipy.ndimage, so that preprocessing on another thread
    afterwards imports nothing (two threads importing the same package can see it half-initialised).
    """
    import json

    import scipy.ndimage  # noqa: F401  (see the docstring)
    import torch  # noqa: F401
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnunetv2_cta.inference.preprocess import CTPreprocessing, torch_preprocessing_unsupported

    model_dir = Path(model_dir)
    try:
        dataset_json = json.loads((model_dir / "dataset.json").read_text())
        plans_manager = PlansManager(json.loads((model_dir / "plans.json").read_text()))
        configuration_manager = plans_manager.get_configuration(model_dir.name.rsplit("__", 1)[-1])
        unsupported = (
            configuration_manager.previous_stage_name is not None
            or torch_preprocessing_unsupported(
                plans_manager, configuration_manager, len(dataset_json["channel_names"])
            )
        )
        return None if unsupported else CTPreprocessing.of(plans_manager, configuration_manager, device)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        logger.debug("%s: no preprocessing ahead (%s)", model_dir, err)
        return None
