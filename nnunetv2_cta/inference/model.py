"""A trained nnU-Net model (stage 1 or the CGPM), loaded once and run per case: nnU-Net's network, plans and
checkpoint; preprocessing, sliding window and export of our own that reproduce nnU-Net's.

* **Loading** (:func:`_initialize_known_trainer`): the network is built from the trainer class the checkpoint
  names, found in our registry, in nnU-Net's base trainer, or as the one module under ``nnunetv2.training`` /
  ``nnUNet_extTrainer`` that defines it; nnU-Net's own search (it imports every module under
  ``nnunetv2.training``, about a minute on 2 CPU cores) is the last resort.
* **Preprocessing** (:mod:`.preprocess`): nnU-Net's default CT preprocessing in torch float32, slab-wise, for
  the plans it supports; nnU-Net's preprocessor otherwise (and for a cascaded model's previous-stage input).
* **Network** (:mod:`.sliding`): nnU-Net's tiles, Gaussian and blending; tiles of constant input (air) reuse one
  network output.
* **Export** (:mod:`.export`): logits interpolated trilinearly in float32 slabs and decoded at once, only where
  the 8 surrounding model-grid labels differ (nnU-Net: float64 cubic resampling of every class).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.inference.export import (  # noqa: F401  (re-exported: callers import them from here)
    EXPORT_SLAB,
    RegionDecoder,
    _interpolated_slabs,
    _source_coordinates,
    logits_to_labels,
)
from nnunetv2_cta.inference.grid import ModelGrid, preprocess_to_grid
from nnunetv2_cta.inference.memory import process_age_s
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.labels import LABELS

if TYPE_CHECKING:
    import torch

    from nnunetv2_cta.inference.preprocess import CTPreprocessing, RowsReady

logger = logging.getLogger(__name__)


def cpu_bf16(device):
    """bfloat16 autocast on a CPU that has native bf16 (AVX512-BF16 / AMX: about twice as fast; the CPU
    recipe trains under the same autocast), else nothing."""
    import contextlib

    import torch

    native = (
        getattr(torch.backends.mkldnn, "is_available", lambda: False)()
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )
    if device.type != "cpu" or not native:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


def check_model_labels(model_dir: Path) -> None:
    """Refuse a model whose dataset.json labels are not this project's scheme (names, values, region order)."""
    import json

    dataset_json = json.loads((model_dir / "dataset.json").read_text())
    labels = dataset_json.get("labels", {})
    for name, value in labels.items():
        values = value if isinstance(value, list | tuple) else [value]
        if name in LABELS and list(values) != [LABELS[name]]:
            raise ConfigurationError(
                f"model {str(model_dir)!r}: label {name!r} is {value!r}, our scheme has {LABELS[name]}"
            )
    order = dataset_json.get("regions_class_order")
    outputs = set(order) if order else {v for v in labels.values() if isinstance(v, int)}
    unknown = sorted(int(v) for v in outputs - set(LABELS.values()))
    if unknown or not set(LABELS) - {"background"} <= set(labels):
        raise ConfigurationError(
            f"model {str(model_dir)!r} predicts labels {sorted(labels)} (values {sorted(outputs)}); "
            f"expected this project's scheme {LABELS} (see nnunetv2_cta.labels)"
        )


def find_nnunet_trainer(name: str) -> type | None:
    """The trainer class ``name`` from the one module under ``nnunetv2/training`` whose source defines it
    (``class <name>(``), imported alone; ``None`` when no module or several define it.

    A text search over the source files takes milliseconds; nnU-Net's ``recursive_find_python_class`` imports
    every module to find the class (about a minute on 2 CPU cores).
    """
    import importlib
    import re

    import nnunetv2

    root = Path(nnunetv2.__file__).parent
    pattern = re.compile(rf"^class\s+{re.escape(name)}\s*[(:]", re.MULTILINE)
    hits = [
        path
        for path in sorted((root / "training").rglob("*.py"))
        if pattern.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    if len(hits) != 1:
        return None
    module = ".".join(("nnunetv2", *hits[0].relative_to(root).with_suffix("").parts))
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError as err:  # e.g. a variant needing an optional package: leave it to nnU-Net's search
        logger.info("trainer %s in %s cannot be imported alone (%s)", name, module, err)
        return None


def _initialize_known_trainer(
    predictor, model_dir: Path, folds: Sequence[int | str], checkpoint: str
) -> bool:
    """Set ``predictor`` up from ``model_dir`` without nnU-Net's trainer search when the checkpoint names one of
    our trainers, nnU-Net's base trainer or a class :func:`find_nnunet_trainer` finds; return False (nothing
    done) otherwise.

    nnU-Net finds the trainer class by importing every module under ``nnunetv2.training`` (about a minute on
    2 CPU cores) only to call its ``build_network_architecture``; ours are in a registry.
    """
    import json

    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from nnunetv2_cta.trainers import TRAINERS

    states = [
        torch.load(model_dir / f"fold_{f}" / checkpoint, map_location="cpu", weights_only=False)
        for f in folds
    ]
    name = states[0]["trainer_name"]
    trainer_class = nnUNetTrainer if name == "nnUNetTrainer" else TRAINERS.get(name)
    if trainer_class is None:
        trainer_class = find_nnunet_trainer(name)
    if trainer_class is None:
        return False
    dataset_json = json.loads((model_dir / "dataset.json").read_text())
    plans_manager = PlansManager(json.loads((model_dir / "plans.json").read_text()))
    configuration_manager = plans_manager.get_configuration(states[0]["init_args"]["configuration"])
    network = trainer_class.build_network_architecture(
        plans_manager,
        configuration_manager,
        determine_num_input_channels(plans_manager, configuration_manager, dataset_json),
        plans_manager.get_label_manager(dataset_json).num_segmentation_heads,
        enable_deep_supervision=False,
    )
    parameters = [state["network_weights"] for state in states]
    network.load_state_dict(parameters[0])
    predictor.manual_initialization(
        network,
        plans_manager,
        configuration_manager,
        parameters,
        dataset_json,
        name,
        states[0].get("inference_allowed_mirroring_axes"),
    )
    return True


class StageModel:
    """One trained model folder (``<Trainer>__<Plans>__<configuration>``), loaded once, run per case.

    Args:
        model_dir: nnU-Net results folder with ``plans.json``, ``dataset.json`` and ``fold_X/<checkpoint>``.
        folds: folds to ensemble; ``None``: every fold folder that has the checkpoint.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        checkpoint: checkpoint file name.
        mirroring: test-time mirroring as the checkpoint allows (8x the network time in 3D).
        tile_step_size: sliding-window step as a fraction of the patch (nnU-Net: 0.5).
        progress: a progress bar over the sliding-window tiles.
        torch_preprocessing: nnU-Net's preprocessing reproduced in torch (:mod:`.preprocess`) where the plans
            allow it; ``False``: nnU-Net's own preprocessor.
        batch_size: sliding-window tiles per network call.

    Raises:
        ConfigurationError: not a model folder, no checkpoint, or labels outside our scheme.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        *,
        folds: Sequence[int | str] | None = None,
        device: str = "cpu",
        checkpoint: str = "checkpoint_final.pth",
        mirroring: bool = True,
        tile_step_size: float = 0.5,
        progress: bool = False,
        torch_preprocessing: bool = True,
        batch_size: int = 2,
    ) -> None:
        import torch
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        from nnunetv2_cta.environment import ensure_ext_trainer_in_environ

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "plans.json").is_file() or not (self.model_dir / "dataset.json").is_file():
            raise ConfigurationError(
                f"model folder {str(self.model_dir)!r} must hold nnU-Net's plans.json and dataset.json "
                "(the <Trainer>__<Plans>__<configuration> folder of a training)"
            )
        if not 0 < tile_step_size <= 1:
            raise ConfigurationError(f"tile_step_size must be in (0, 1], got {tile_step_size!r}")
        if folds is None:
            folds = sorted(
                p.name.removeprefix("fold_")
                for p in self.model_dir.glob("fold_*")
                if (p / checkpoint).is_file()
            )
            folds = [f if f == "all" else int(f) for f in folds]
            if not folds:
                raise ConfigurationError(
                    f"model folder {str(self.model_dir)!r} has no fold_*/{checkpoint}: is the training finished?"
                )
        check_model_labels(self.model_dir)  # before nnU-Net builds the network: a foreign model fails clearly
        ensure_ext_trainer_in_environ()  # the checkpoint names our trainer class; nnU-Net must find it
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigurationError(
                f"device {device!r} requested but CUDA is not available here; use --device cpu"
            )
        self.predictor = nnUNetPredictor(
            tile_step_size=tile_step_size,
            use_gaussian=True,
            use_mirroring=mirroring,
            perform_everything_on_device=self.device.type == "cuda",
            device=self.device,
            verbose=False,
            allow_tqdm=progress,
        )
        try:
            if not _initialize_known_trainer(self.predictor, self.model_dir, folds, checkpoint):
                self.predictor.initialize_from_trained_model_folder(
                    str(self.model_dir), use_folds=tuple(folds), checkpoint_name=checkpoint
                )
        except FileNotFoundError as err:
            raise ConfigurationError(f"model folder {str(self.model_dir)!r}: {err}") from err
        except RuntimeError as err:  # state-dict mismatch: plans/dataset.json edited or from another training
            first = str(err).strip().splitlines()[0]
            raise ConfigurationError(
                f"model folder {str(self.model_dir)!r}: the checkpoint does not fit its plans.json/dataset.json ({first})"
            ) from err
        self.folds = tuple(folds)
        self.checkpoint = checkpoint
        self.label_manager = self.predictor.label_manager
        self.progress = progress
        self.batch_size = int(batch_size)
        self.torch_preprocessing_unsupported = (
            "switched off" if not torch_preprocessing else self._torch_preprocessing_unsupported()
        )
        #: tile counts of the last :meth:`logits` call (:class:`~.sliding.TileCounts`), for the record
        self.last_tiles = None
        #: seconds from the process start to the first network tile of the last :meth:`logits` call
        self.last_first_tile_s: float | None = None

    def _torch_preprocessing_unsupported(self) -> str | None:
        from nnunetv2_cta.inference.preprocess import torch_preprocessing_unsupported

        why = torch_preprocessing_unsupported(
            self.predictor.plans_manager, self.predictor.configuration_manager, self.num_channels
        )
        if why:
            logger.info(
                "%s: nnU-Net's own preprocessing (torch version does not support: %s)", self.model_dir, why
            )
        return why

    # ---- description ---------------------------------------------------------------------------------
    @property
    def dataset_json(self) -> dict:
        return self.predictor.dataset_json

    @property
    def trainer(self) -> str:
        return self.predictor.trainer_name

    @property
    def configuration(self) -> str:
        return self.model_dir.name.rsplit("__", 1)[-1]

    @property
    def plans(self) -> dict:
        return self.predictor.plans_manager.plans

    @property
    def previous_stage(self) -> str | None:
        return self.predictor.configuration_manager.previous_stage_name

    @property
    def num_channels(self) -> int:
        return len(self.dataset_json["channel_names"])

    @property
    def ct_preprocessing(self) -> CTPreprocessing | None:
        """The torch preprocessing this model runs on a CT (``None``: nnU-Net's preprocessor)."""
        if self.torch_preprocessing_unsupported or self.previous_stage is not None:
            return None
        from nnunetv2_cta.inference.preprocess import CTPreprocessing

        pm, cm = self.predictor.plans_manager, self.predictor.configuration_manager
        return CTPreprocessing.of(pm, cm, self.device)

    def describe(self) -> dict:
        """JSON-able summary for the per-case record."""
        return {
            "folder": str(self.model_dir),
            "trainer": self.trainer,
            "plans": self.predictor.plans_manager.plans_name,
            "configuration": self.configuration,
            "folds": list(self.folds),
            "checkpoint": self.checkpoint,
            "spacing_mm": [float(s) for s in self.predictor.configuration_manager.spacing],
            "patch_size": [int(s) for s in self.predictor.configuration_manager.patch_size],
            "mirroring": bool(self.predictor.use_mirroring and self.predictor.allowed_mirroring_axes),
            "tile_step_size": float(self.predictor.tile_step_size),
            "preprocessing": "nnU-Net" if self.torch_preprocessing_unsupported else "torch float32",
        }

    def fits(self, grid: ModelGrid | None) -> bool:
        """Whether ``grid`` was made by this model's torch preprocessing (:meth:`predict` then uses it)."""
        return (
            grid is not None
            and grid.preprocessing is not None
            and grid.preprocessing == self.ct_preprocessing
        )

    # ---- prediction ----------------------------------------------------------------------------------
    def preprocess(self, ct: np.ndarray, geometry: Geometry, previous: np.ndarray | None = None) -> ModelGrid:
        """nnU-Net's preprocessing of one CT ``[z, y, x]`` (HU) to the model's grid.

        Args:
            ct: the CT.
            geometry: its geometry (nnU-Net needs the spacing).
            previous: for a cascaded model (the CGPM): the first stage's label map on the same grid; it is
                resampled with the CT and appended as one-hot channels.
        """
        import torch
        from nnunetv2.utilities.label_handling.label_handling import convert_labelmap_to_one_hot

        if self.num_channels != 1:
            raise ConfigurationError(
                f"model {str(self.model_dir)!r} expects {self.num_channels} image channels "
                f"{self.dataset_json['channel_names']}; predict takes one CT channel"
            )
        if (previous is None) != (self.previous_stage is None):
            raise ConfigurationError(
                f"model {str(self.model_dir)!r}: previous-stage input "
                + (
                    "required (cascaded configuration)"
                    if previous is None
                    else "given to a first-stage model"
                )
            )
        pm, cm = self.predictor.plans_manager, self.predictor.configuration_manager
        if previous is None and not self.torch_preprocessing_unsupported:
            return preprocess_to_grid(ct, geometry, self.ct_preprocessing)
        preprocessor = cm.preprocessor_class(verbose=False)
        props = {"spacing": [float(s) for s in geometry.spacing]}
        seg = None if previous is None else previous[None].astype(np.int16)
        data, seg, props = preprocessor.run_case_npy(ct[None], seg, props, pm, cm, self.dataset_json)
        props["model_grid"] = {
            "spacing": [float(s) for s in cm.spacing],
            "normalization": list(cm.normalization_schemes),
        }
        previous_grid = None
        if previous is not None:
            previous_grid = np.asarray(seg[0], dtype=np.uint8)
            onehot = convert_labelmap_to_one_hot(seg[0], self.label_manager.foreground_labels, data.dtype)
            data = np.vstack((data, onehot))
        return ModelGrid(torch.from_numpy(data), props, previous_grid)

    def logits(self, data, rows: RowsReady | None = None) -> torch.Tensor:
        """Sliding-window logits ``(C, z, y, x)`` (float32 CPU tensor) of preprocessed ``data``, averaged over the
        folds (:func:`~.sliding.sliding_window_logits`; tile counts summed in :attr:`last_tiles`); with ``rows``
        (``data`` still being filled on another thread), each tile waits for the rows it reads."""
        import contextlib

        import torch

        from nnunetv2_cta.inference.sliding import TileCounts, sliding_window_logits

        predictor = self.predictor
        predictor.network = predictor.network.to(self.device).eval()
        total, tiles = None, TileCounts()
        self.last_first_tile_s = None

        def first_tile() -> None:
            if self.last_first_tile_s is None:
                self.last_first_tile_s = process_age_s()

        for params in predictor.list_of_parameters:
            if len(predictor.list_of_parameters) > 1:
                predictor.network.load_state_dict(params)
            # as nnU-Net: mixed precision on a GPU only (on a CPU autocast is slow or changes the results)
            with torch.autocast("cuda") if self.device.type == "cuda" else contextlib.nullcontext():
                logits, counts = sliding_window_logits(
                    predictor._internal_maybe_mirror_and_predict,
                    torch.as_tensor(data),
                    predictor.configuration_manager.patch_size,
                    self.label_manager.num_segmentation_heads,
                    step=predictor.tile_step_size,
                    batch_size=self.batch_size,
                    device=self.device,
                    progress=self.progress,
                    on_first_tile=first_tile,
                    wait_rows=None if rows is None else rows.wait,
                )
            total = logits if total is None else total.add_(logits)
            tiles = TileCounts(*(a + b for a, b in zip(vars(tiles).values(), vars(counts).values())))
        self.last_tiles = tiles
        return total.div_(len(predictor.list_of_parameters))

    def decode(self, logits) -> np.ndarray:
        """Label map on the model's grid (no interpolation) from ``logits`` ``(C, z, y, x)``."""
        import torch

        logits = torch.as_tensor(logits)
        lm = self.label_manager
        if not lm.has_regions:
            return logits.argmax(0).numpy().astype(np.uint8)
        return RegionDecoder(lm.foreground_regions, lm.regions_class_order)(logits.float().transpose(0, 1))

    def export(self, logits, props: dict) -> np.ndarray:
        """Label map on the image's grid from model-grid ``logits`` (:func:`logits_to_labels`, crop undone)."""
        lm = self.label_manager
        cropped = logits_to_labels(
            logits,
            props["shape_after_cropping_and_before_resampling"],
            regions=lm.foreground_regions if lm.has_regions else None,
            regions_class_order=lm.regions_class_order if lm.has_regions else None,
        )
        full = np.zeros(props["shape_before_cropping"], dtype=np.uint8)
        box = tuple(slice(int(a), int(b)) for a, b in props["bbox_used_for_cropping"])
        full[box] = cropped
        return np.ascontiguousarray(full.transpose(self.predictor.plans_manager.transpose_backward))

    def vessel_probability(self, logits) -> torch.Tensor:
        """``(1, z, y, x)`` probability that a voxel is vessel (any vessel label), on the model's grid: the
        sigmoid of the region holding every vessel label, or the summed softmax of the vessel classes."""
        import torch

        from nnunetv2_cta.labels import VESSEL_LABELS

        logits = torch.as_tensor(logits).float()
        lm = self.label_manager
        if lm.has_regions:
            vessel = set(VESSEL_LABELS) & set(lm.foreground_labels)
            for c, region in enumerate(lm.foreground_regions):
                if set(np.atleast_1d(region).tolist()) == vessel:
                    return torch.sigmoid(logits[c : c + 1])
            raise ConfigurationError(
                f"model {str(self.model_dir)!r} has no region of all vessel labels {sorted(vessel)}"
            )
        classes = [int(v) for v in VESSEL_LABELS if v in lm.foreground_labels]
        return torch.softmax(logits, 0)[classes].sum(0, keepdim=True)

    def export_values(self, values, props: dict, fill: float = 0.0) -> np.ndarray:
        """A float map ``(1, z, y, x)`` on the model's grid (e.g. :meth:`vessel_probability`) interpolated to the
        image's grid like :meth:`export` (``fill`` outside nnU-Net's crop); float32."""
        shape = tuple(int(s) for s in props["shape_after_cropping_and_before_resampling"])
        cropped = np.empty(shape, dtype=np.float32)
        for start, stop, slab in _interpolated_slabs(values, shape, EXPORT_SLAB):
            cropped[start:stop] = slab[:, 0].numpy()
        full = np.full(props["shape_before_cropping"], fill, dtype=np.float32)
        box = tuple(slice(int(a), int(b)) for a, b in props["bbox_used_for_cropping"])
        full[box] = cropped
        return np.ascontiguousarray(full.transpose(self.predictor.plans_manager.transpose_backward))

    def predict(
        self,
        ct: np.ndarray,
        geometry: Geometry,
        previous: np.ndarray | None = None,
        *,
        keep: bool = False,
        grid: ModelGrid | None = None,
    ) -> tuple[np.ndarray, dict[str, float]] | tuple[np.ndarray, dict[str, float], ModelGrid]:
        """Predict a label map for one CT ``[z, y, x]`` (HU) on its own grid.

        Args:
            ct: the CT.
            geometry: its geometry (nnU-Net needs the spacing).
            previous: for a cascaded model (the CGPM): the first stage's label map on the same grid.
            keep: also return the :class:`ModelGrid` (preprocessed data, and the prediction decoded on the
                model's grid as ``labels``), so that the repair stage reuses the preprocessing.
            grid: ``ct`` already preprocessed (:func:`preprocess_to_grid`, e.g. while the model loaded); used
                when its :attr:`~ModelGrid.preprocessing` is this model's :attr:`ct_preprocessing`, else ``ct``
                is preprocessed again.

        Returns:
            ``(labels, seconds[, grid])``: ``uint8`` label map of ``ct.shape``, the time of ``preprocess``
            (0 for a ``grid`` used), ``network`` and ``export``, and with ``keep`` the model-grid case.
        """
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        if previous is not None or not self.fits(grid):
            grid = self.preprocess(ct, geometry, previous)
        seconds["preprocess"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        logits = self.logits(grid.data, grid.rows)
        if grid.rows is not None:  # every row was read by a tile; the grid is final from here on
            grid.rows.wait(grid.rows.total)
            grid.rows = None
        seconds["network"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        labels = self.export(logits, grid.props)
        if keep:
            grid.labels = self.decode(logits)
        del logits
        seconds["export"] = time.perf_counter() - t0
        if labels.shape != ct.shape:
            raise GeometryError(f"model output shape {labels.shape} differs from the image shape {ct.shape}")
        return (labels, seconds, grid) if keep else (labels, seconds)

    def patch_logits(self, data, boxes: Sequence[tuple[slice, ...]], batch_size: int = 4):
        """Logits ``(C, z, y, x)`` of the network run only on ``boxes`` of preprocessed ``data`` (patch-sized
        windows, e.g. around candidate break sites), Gaussian-blended where they overlap as in nnU-Net's
        sliding window; voxels outside every box get background logits (-10 for every region, or +10 for the
        background class of a softmax model).

        Returns:
            ``(logits, covered)``: the float32 CPU tensor and the boolean mask of the voxels the boxes cover.
        """
        import torch
        from nnunetv2.inference.sliding_window_prediction import compute_gaussian

        data = torch.as_tensor(data)
        patch = tuple(int(p) for p in self.predictor.configuration_manager.patch_size)
        shape = tuple(int(s) for s in data.shape[1:])
        padded = tuple(max(s, p) for s, p in zip(shape, patch))  # a volume smaller than a patch is padded
        if padded != shape:
            grown = torch.zeros((data.shape[0], *padded), dtype=data.dtype)
            grown[(slice(None), *(slice(0, s) for s in shape))] = data
            data = grown
        n_out = self.label_manager.num_segmentation_heads
        logits = torch.zeros((n_out, *padded), dtype=torch.float32)
        weight = torch.zeros(padded, dtype=torch.float32)
        gaussian = compute_gaussian(
            patch,
            sigma_scale=1.0 / 8,
            value_scaling_factor=10,
            dtype=torch.float32,
            device=torch.device("cpu"),
        )
        windows = []
        for box in boxes:
            lo = [min(max(int(b.start), 0), n - p) for b, n, p in zip(box, padded, patch)]
            windows.append(tuple(slice(a, a + p) for a, p in zip(lo, patch)))
        network = self.predictor.network
        parameters = self.predictor.list_of_parameters
        with torch.no_grad(), cpu_bf16(self.device):
            for params in parameters:
                if len(parameters) > 1:
                    network.load_state_dict(params)
                for start in range(0, len(windows), batch_size):
                    chunk = windows[start : start + batch_size]
                    x = torch.stack([data[(slice(None), *w)] for w in chunk]).to(self.device)
                    out = self.predictor._internal_maybe_mirror_and_predict(x).float().cpu()
                    for w, o in zip(chunk, out):
                        logits[(slice(None), *w)] += o * gaussian
                        weight[w] += gaussian
        covered = weight > 0
        logits[:, covered] /= weight[covered]
        background = torch.full((n_out,), -10.0)
        if not self.label_manager.has_regions:
            background[0] = 10.0
        logits[:, ~covered] = background[:, None]
        crop = (slice(None), *(slice(0, s) for s in shape))
        return logits[crop], covered[crop[1:]]
