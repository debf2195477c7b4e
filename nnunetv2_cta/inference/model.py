"""A trained nnU-Net model (stage 1 or the CGPM) run through nnU-Net's predictor API, with a lean export.

Preprocessing (crop, CT normalisation, resampling to the model's spacing) and the sliding-window network are
nnU-Net's own, so the model sees exactly what it saw in training. The **export** is ours: nnU-Net resamples
the logits of every class to the image grid in float64 with cubic spline interpolation (one full-size float64
volume per class; minutes and many GB for a 512x512x900 CTA). :func:`logits_to_labels` instead interpolates
the logits trilinearly (separable: bilinear per slice, then linear along z) in float32 slabs of a few
slices, and turns each slab into labels at once (argmax, or nnU-Net's region rule: sigmoid > 0.5 in
``regions_class_order``), so the full-resolution logits never exist in memory.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.io import Geometry
from nnunetv2_cta.labels import LABELS

logger = logging.getLogger(__name__)

#: output slices interpolated at once by :func:`logits_to_labels`
EXPORT_SLAB = 16


def _source_coordinates(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and weight of each output position (half-pixel centres, as F.interpolate)."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (src - lo).astype(np.float32)


def logits_to_labels(
    logits,
    shape: Sequence[int],
    *,
    regions_class_order: Sequence[int] | None = None,
    slab: int = EXPORT_SLAB,
) -> np.ndarray:
    """Interpolate ``logits`` ``(C, z, y, x)`` trilinearly to ``shape`` and convert them to a label map.

    Args:
        logits: torch tensor or array, one channel per class (softmax training) or per region.
        shape: output ``(z, y, x)``.
        regions_class_order: region training: label written for each channel whose sigmoid exceeds 0.5
            (logit > 0), later channels overwriting earlier ones (nnU-Net's rule). ``None``: argmax.
        slab: output slices interpolated at once (memory: ``slab x C x y x x`` float32).

    Returns:
        ``uint8`` label map of ``shape``.
    """
    import torch
    import torch.nn.functional as F

    logits = torch.as_tensor(logits)
    if logits.ndim != 4:
        raise GeometryError(f"logits must be (C, z, y, x), got shape {tuple(logits.shape)}")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise GeometryError(f"shape must be three positive sizes (z, y, x), got {shape}")
    if regions_class_order is not None and len(regions_class_order) != logits.shape[0]:
        raise ConfigurationError(
            f"regions_class_order has {len(regions_class_order)} entries for {logits.shape[0]} logit channels"
        )
    lo, hi, w = _source_coordinates(logits.shape[1], shape[0])
    out = np.empty(shape, dtype=np.uint8)
    for start in range(0, shape[0], slab):
        stop = min(start + slab, shape[0])
        first, last = int(lo[start]), int(hi[stop - 1])
        planes = logits[:, first : last + 1].float().permute(1, 0, 2, 3)  # (n, C, y, x)
        if planes.shape[2:] != shape[1:]:
            planes = F.interpolate(planes, size=shape[1:], mode="bilinear", align_corners=False)
        a = planes[torch.from_numpy(lo[start:stop] - first)]
        b = planes[torch.from_numpy(hi[start:stop] - first)]
        wt = torch.from_numpy(w[start:stop]).view(-1, 1, 1, 1)
        values = a * (1 - wt) + b * wt  # (k, C, y, x)
        if regions_class_order is None:
            out[start:stop] = values.argmax(1).numpy().astype(np.uint8)
        else:
            block = np.zeros((stop - start, *shape[1:]), dtype=np.uint8)
            for channel, label in enumerate(regions_class_order):
                block[(values[:, channel] > 0).numpy()] = label
            out[start:stop] = block
    return out


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


class StageModel:
    """One trained model folder (``<Trainer>__<Plans>__<configuration>``), loaded once, run per case.

    Args:
        model_dir: nnU-Net results folder with ``plans.json``, ``dataset.json`` and ``fold_X/<checkpoint>``.
        folds: folds to ensemble; ``None``: every fold folder that has the checkpoint.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        checkpoint: checkpoint file name.
        mirroring: test-time mirroring as the checkpoint allows (8x the network time in 3D).
        tile_step_size: sliding-window step as a fraction of the patch (nnU-Net: 0.5).
        progress: nnU-Net's sliding-window progress bar.

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
        }

    # ---- prediction ----------------------------------------------------------------------------------
    def predict(
        self, ct: np.ndarray, geometry: Geometry, previous: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Predict a label map for one CT ``[z, y, x]`` (HU) on its own grid.

        Args:
            ct: the CT.
            geometry: its geometry (nnU-Net needs the spacing).
            previous: for a cascaded model (the CGPM): the first stage's label map on the same grid.

        Returns:
            ``(labels, seconds)``: ``uint8`` label map of ``ct.shape`` and the time of ``preprocess``,
            ``network`` and ``export``.
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
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        pm, cm = self.predictor.plans_manager, self.predictor.configuration_manager
        preprocessor = cm.preprocessor_class(verbose=False)
        props = {"spacing": [float(s) for s in geometry.spacing]}
        seg = None if previous is None else previous[None].astype(np.int16)
        data, seg, props = preprocessor.run_case_npy(ct[None], seg, props, pm, cm, self.dataset_json)
        if previous is not None:
            onehot = convert_labelmap_to_one_hot(seg[0], self.label_manager.foreground_labels, data.dtype)
            data = np.vstack((data, onehot))
        data = torch.from_numpy(data)
        seconds["preprocess"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        logits = self.predictor.predict_logits_from_preprocessed_data(data).cpu()
        del data
        seconds["network"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        order = self.label_manager.regions_class_order if self.label_manager.has_regions else None
        cropped = logits_to_labels(
            logits, props["shape_after_cropping_and_before_resampling"], regions_class_order=order
        )
        del logits
        full = np.zeros(props["shape_before_cropping"], dtype=np.uint8)
        box = tuple(slice(int(a), int(b)) for a, b in props["bbox_used_for_cropping"])
        full[box] = cropped
        labels = np.ascontiguousarray(full.transpose(pm.transpose_backward))
        seconds["export"] = time.perf_counter() - t0
        if labels.shape != ct.shape:
            raise GeometryError(f"model output shape {labels.shape} differs from the image shape {ct.shape}")
        return labels, seconds
