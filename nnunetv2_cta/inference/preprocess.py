"""nnU-Net's default CT preprocessing, reproduced in torch float32, slab by slab.

nnU-Net's ``DefaultPreprocessor`` on one CT channel does: transpose -> crop to the bounding box of the non-zero
voxels -> CT normalisation (clip to the foreground's 0.5/99.5 percentiles, subtract the mean, divide by the
standard deviation) -> resampling to the model's spacing with ``skimage.transform.resize`` (spline order 3,
``mode="edge"``, no anti-aliasing, output clipped to the input's range) in float64. On a 700x512x512 CTA that
takes about 27 s and several GB on 2 CPU cores.

The spline resampling is separable and linear: along each axis it is a fixed ``(n_out, n_in)`` matrix (the
B-spline prefilter and the evaluation at the half-pixel output centres together). :func:`resize_weights`
takes that matrix from ``scipy.ndimage.zoom`` itself (the function ``resize`` calls), one unit vector at a
time, so the boundary rule and the spline are scipy's, not a re-implementation. :func:`preprocess_ct` then
applies the three matrices as float32 matrix products (in-plane per slab of slices, then along z per block of
output rows as soon as the slabs it reads are done), on the CPU or the device; :meth:`CTPreprocessing.start`
hands out the leading output rows as they become final, so a network can start on them
(:class:`RowsReady`). Measured against nnU-Net on the test volumes: largest difference 2e-5 in normalised units
(tests/inference/test_preprocess.py); :func:`torch_preprocessing_unsupported` says when the plans ask for
anything else (then nnU-Net's own preprocessor runs).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError

if TYPE_CHECKING:
    import torch

#: input slices normalised and resampled in-plane at once (memory: ``slab x y x x`` float32, a few copies)
PREPROCESS_SLAB = 32


@functools.lru_cache(maxsize=16)
def resize_weights(n_in: int, n_out: int, order: int = 3) -> np.ndarray:
    """``(n_out, n_in)`` float64 matrix ``W`` with ``W @ v == skimage.transform.resize(v, (n_out,), order,
    mode="edge", anti_aliasing=False, clip=False)`` for every 1-D signal ``v`` (half-pixel centres, B-spline
    of ``order`` with scipy's prefilter, edge values continued).

    Example (linear, 4 -> 2 samples: each output is the mean of two inputs):
        >>> resize_weights(4, 2, 1).round(3).tolist()
        [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]]
    """
    from scipy import ndimage

    if n_in < 1 or n_out < 1:
        raise GeometryError(f"resize_weights needs positive sizes, got n_in={n_in!r}, n_out={n_out!r}")
    if order not in range(6):
        raise ConfigurationError(f"spline order must be 0..5, got {order!r}")
    if n_in == n_out:
        return np.eye(n_in)
    weights = np.empty((n_out, n_in))
    unit = np.zeros(n_in)
    for i in range(n_in):
        unit[:] = 0.0
        unit[i] = 1.0
        column = ndimage.zoom(unit, n_out / n_in, order=order, mode="nearest", grid_mode=True)
        if column.shape != (n_out,):
            raise GeometryError(f"scipy zoom gave {column.shape[0]} samples for {n_in} -> {n_out}")
        weights[:, i] = column
    return weights


def banded(
    weights: np.ndarray, *, block: int = 32, eps: float = 1e-12
) -> list[tuple[slice, slice, np.ndarray]]:
    """``weights`` ``(n_out, n_in)`` cut into blocks of ``block`` output rows, each with the input columns where
    it has a weight above ``eps``: ``[(rows, columns, weights[rows, columns]), ...]``.

    The spline prefilter decays by a factor 0.27 per sample, so a row reaches about 20 samples beyond its
    support; a block then multiplies about ``block x zoom + 40`` inputs instead of all of them (4x fewer
    operations for 512 -> 205). The weights left out sum to less than ``eps x n_in``.

    Example:
        >>> [(r.start, r.stop, c.start, c.stop) for r, c, _ in banded(resize_weights(8, 4, 1), block=2)]
        [(0, 2, 0, 4), (2, 4, 4, 8)]
    """
    parts = []
    for start in range(0, weights.shape[0], block):
        rows = weights[start : start + block]
        used = np.flatnonzero(np.abs(rows).max(0) > eps)
        columns = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, 1)
        parts.append((slice(start, start + rows.shape[0]), columns, rows[:, columns]))
    return parts


def _along(x: torch.Tensor, parts, axis: int, device) -> torch.Tensor:
    """``x`` resampled along ``axis`` (0, 1 or 2 of a 3-D tensor) by the blocks of :func:`banded`."""
    import torch

    n_out = parts[-1][0].stop
    moved = x.movedim(axis, 0)
    out = torch.empty((n_out, *moved.shape[1:]), dtype=torch.float32, device=device)
    flat_in, flat_out = moved.reshape(moved.shape[0], -1), out.view(n_out, -1)
    for rows, columns, w in parts:
        w = torch.from_numpy(w).to(device=device, dtype=torch.float32)
        torch.matmul(w, flat_in[columns], out=flat_out[rows])
    return out.movedim(0, axis)


def new_shape(shape: Sequence[int], spacing: Sequence[float], target: Sequence[float]) -> tuple[int, ...]:
    """nnU-Net's ``compute_new_shape``: ``round(spacing / target * shape)`` per axis.

    Example:
        >>> new_shape((700, 512, 512), (0.5, 0.5, 0.5), (1.25, 1.25, 1.25))
        (280, 205, 205)
    """
    return tuple(round(s / t * n) for n, s, t in zip(shape, spacing, target))


def nonzero_bbox(volume: np.ndarray) -> list[list[int]]:
    """``[[start, stop], ...]`` per axis of the voxels ``!= 0`` (nnU-Net's crop; filling holes in the mask, as
    nnU-Net does, cannot move its bounding box). An all-zero volume gives the whole volume, as nnU-Net."""
    if volume.ndim != 3:
        raise GeometryError(f"nonzero_bbox expects a 3D volume, got shape {volume.shape}")
    in_plane = np.any(volume, axis=0)  # two passes over the volume, no full-size mask
    hits = (np.flatnonzero(np.any(volume, axis=(1, 2))), *(np.flatnonzero(in_plane.any(a)) for a in (1, 0)))
    return [[int(h[0]), int(h[-1]) + 1] if h.size else [0, int(n)] for h, n in zip(hits, volume.shape)]


def torch_preprocessing_unsupported(plans_manager, configuration_manager, num_channels: int) -> str | None:
    """Why :func:`preprocess_ct` cannot stand in for nnU-Net's preprocessor for this model, or ``None``.

    Supported: nnU-Net's ``DefaultPreprocessor``, one channel with ``CTNormalization``, data resampled by
    ``resample_data_or_seg_to_shape`` without a separate z axis (``force_separate_z`` false or ``None`` and a
    target spacing under nnU-Net's anisotropy threshold of 3).
    """
    from nnunetv2.configuration import ANISO_THRESHOLD

    cm = configuration_manager
    kwargs = dict(cm.configuration.get("resampling_fn_data_kwargs", {}))
    spacing = [float(s) for s in cm.spacing]
    checks = (
        (num_channels == 1, f"{num_channels} input channels"),
        (cm.preprocessor_name == "DefaultPreprocessor", f"preprocessor {cm.preprocessor_name!r}"),
        (list(cm.normalization_schemes) == ["CTNormalization"], f"normalisation {cm.normalization_schemes}"),
        (not any(cm.use_mask_for_norm), "use_mask_for_norm"),
        (
            cm.configuration.get("resampling_fn_data") == "resample_data_or_seg_to_shape",
            f"resampling function {cm.configuration.get('resampling_fn_data')!r}",
        ),
        (not kwargs.get("force_separate_z"), "force_separate_z"),
        (
            len(spacing) == 3 and max(spacing) / min(spacing) <= ANISO_THRESHOLD,
            f"anisotropic spacing {spacing}",
        ),
        (int(kwargs.get("order", 3)) in range(6), f"spline order {kwargs.get('order')!r}"),
    )
    reasons = [why for ok, why in checks if not ok]
    return "; ".join(reasons) if reasons else None


@dataclass(frozen=True)
class CTPreprocessing:
    """What :func:`preprocess_ct` takes from a model's plans, as plain values, and where it runs.

    Two equal instances preprocess a CT identically, so a case preprocessed ahead (while the model loads, see
    :mod:`nnunetv2_cta.inference.pipeline`) can be checked against the model that runs it.

    Attributes:
        transpose: nnU-Net's ``transpose_forward``.
        spacing: the model's voxel size (mm), in transposed axis order.
        order: spline order of the resampling.
        lower, upper, mean, std: CT normalisation of channel 0 (clip bounds in HU, then ``(x - mean) / std``).
        device: where the matrix products run (``str`` of a torch device; CPU and GPU round differently).
    """

    transpose: tuple[int, ...]
    spacing: tuple[float, ...]
    order: int
    lower: float
    upper: float
    mean: float
    std: float
    device: str = "cpu"

    @classmethod
    def of(cls, plans_manager, configuration_manager, device: str | torch.device = "cpu") -> CTPreprocessing:
        """From nnU-Net's managers of a model (check them first with :func:`torch_preprocessing_unsupported`)."""
        import torch

        props = plans_manager.foreground_intensity_properties_per_channel
        channel = props["0"] if "0" in props else props[0]
        kwargs = configuration_manager.configuration.get("resampling_fn_data_kwargs", {})
        return cls(
            transpose=tuple(int(a) for a in plans_manager.transpose_forward),
            spacing=tuple(float(s) for s in configuration_manager.spacing),
            order=int(kwargs.get("order", 3)),
            lower=float(channel["percentile_00_5"]),
            upper=float(channel["percentile_99_5"]),
            mean=float(channel["mean"]),
            std=max(float(channel["std"]), 1e-8),
            device=str(torch.device(device)),
        )

    def __call__(
        self, ct: np.ndarray, spacing: Sequence[float], *, slab: int = PREPROCESS_SLAB
    ) -> tuple[torch.Tensor, dict]:
        """nnU-Net's preprocessing of one CT ``[z, y, x]`` (HU) to the model's grid, in float32 torch.

        Args:
            ct: the CT (any real dtype; not modified).
            spacing: its voxel size in mm, ``(z, y, x)``.
            slab: input slices processed at once.

        Returns:
            ``(data, props)``: ``(1, z', y', x')`` float32 CPU tensor and nnU-Net's properties (``spacing``,
            ``shape_before_cropping``, ``bbox_used_for_cropping``, ``shape_after_cropping_and_before_resampling``).
        """
        data, props, steps = self.start(ct, spacing, slab=slab)
        for _ in steps:
            pass
        return data, props

    def start(
        self, ct: np.ndarray, spacing: Sequence[float], *, slab: int = PREPROCESS_SLAB
    ) -> tuple[torch.Tensor, dict, Iterator[int]]:
        """:meth:`__call__` in steps, so that the first rows can be used before the last are computed.

        The crop box, the output shape and the clipping range of the resampled values (the normalised input's
        minimum and maximum: the normalisation is monotonic, so they are those of the input's minimum and
        maximum) are set up at once; each step then normalises and resamples one slab of ``slab`` input slices
        in-plane, resamples every block of output rows (first axis) that the slabs done so far complete, and
        yields the number of leading output rows now final. The values are those of doing it all at once: the
        same matrix products on the same operands, only in another order.

        Returns:
            ``(data, props, steps)``: ``data`` (filled by ``steps``) and ``props`` as :meth:`__call__` returns
            them, and the iterator of steps.
        """
        import torch

        if ct.ndim != 3:
            raise GeometryError(f"preprocess_ct expects a 3D [z, y, x] CT, got shape {ct.shape}")
        if slab < 1:
            raise ConfigurationError(f"slab must be >= 1 slice, got {slab!r}")
        volume = ct.transpose(self.transpose)
        spacing_t = [float(spacing[a]) for a in self.transpose]
        props = {"spacing": [float(s) for s in spacing], "shape_before_cropping": tuple(volume.shape)}
        box = nonzero_bbox(volume)
        volume = volume[tuple(slice(a, b) for a, b in box)]
        props["bbox_used_for_cropping"] = box
        props["shape_after_cropping_and_before_resampling"] = tuple(volume.shape)
        target = new_shape(volume.shape, spacing_t, self.spacing)
        device = torch.device(self.device)
        out = torch.empty(target, dtype=torch.float32, device=device)
        data = out[None] if device.type == "cpu" else torch.empty((1, *target), dtype=torch.float32)
        # skimage clips the spline's overshoot to the input's range
        bounds = self._normalise(
            torch.tensor([float(volume.min()), float(volume.max())], dtype=torch.float32)
        )
        clip = tuple(target) != tuple(volume.shape)
        return data, props, self._steps(volume, target, out, data, bounds if clip else None, slab)

    def _normalise(self, part: torch.Tensor) -> torch.Tensor:
        """CT normalisation of ``part`` (float32) in place, on the device."""
        return part.to(self.device).clamp_(self.lower, self.upper).sub_(self.mean).div_(self.std)

    def _steps(self, volume, target, out, data, bounds, slab: int) -> Iterator[int]:
        """The steps of :meth:`start`: fill ``out`` (and ``data``, its CPU copy off the CPU) slab by slab."""
        import torch

        device = out.device
        parts = [banded(resize_weights(n, m, self.order)) for n, m in zip(volume.shape, target)]
        planes = torch.empty((volume.shape[0], target[1], target[2]), dtype=torch.float32, device=device)
        flat_in, flat_out = planes.view(volume.shape[0], -1), out.view(target[0], -1)
        blocks = iter(parts[0])
        block = next(blocks, None)
        low, high = np.inf, -np.inf
        for start in range(0, volume.shape[0], slab):
            part = self._normalise(torch.from_numpy(np.array(volume[start : start + slab], dtype=np.float32)))
            low, high = min(low, float(part.min())), max(high, float(part.max()))
            done = start + part.shape[0]
            planes[start:done] = _along(_along(part, parts[1], 1, device), parts[2], 2, device)
            del part
            while block is not None and block[1].stop <= done:  # output rows whose input slices are all in
                rows, columns, w = block
                w = torch.from_numpy(w).to(device=device, dtype=torch.float32)
                torch.matmul(w, flat_in[columns], out=flat_out[rows])
                if bounds is not None:
                    flat_out[rows].clamp_(float(bounds[0]), float(bounds[1]))
                if data.data_ptr() != out.data_ptr():
                    data[0, rows].copy_(out[rows])
                if rows.stop == target[0] and bounds is not None and (low, high) != tuple(bounds.tolist()):
                    raise RuntimeError(  # cannot happen (monotonic float32 operations); would change values
                        f"preprocessing: clipping range {tuple(bounds.tolist())} set up from the input's extremes "
                        f"differs from the normalised input's range {(low, high)}"
                    )
                yield rows.stop
                block = next(blocks, None)


class RowsReady:
    """How many leading rows (first axis) of a tensor that one thread fills in order are final; other threads
    wait for the rows they need (:meth:`CTPreprocessing.start` filling a case while the network runs on it).

    Example:
        >>> rows = RowsReady(10)
        >>> rows.publish(4)
        >>> rows.wait(3)  # returns at once: rows 0..2 are final
        >>> rows.ready
        4
    """

    def __init__(self, total: int) -> None:
        import threading

        self.total = int(total)
        self.ready = 0
        self._error: BaseException | None = None
        self._changed = threading.Condition()

    def publish(self, ready: int) -> None:
        """Rows ``0 .. ready - 1`` are final."""
        with self._changed:
            self.ready = max(self.ready, min(int(ready), self.total))
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """The producer stopped with ``error``: waiting for rows not final raises it."""
        with self._changed:
            self._error = error
            self._changed.notify_all()

    def wait(self, rows: int) -> None:
        """Block until rows ``0 .. rows - 1`` are final.

        Raises:
            RuntimeError: the producer failed before (from its error).
        """
        rows = min(int(rows), self.total)
        with self._changed:
            self._changed.wait_for(lambda: self.ready >= rows or self._error is not None)
            if self.ready < rows:
                raise RuntimeError(f"preprocessing stopped: {self._error}") from self._error


def preprocess_ct(
    ct: np.ndarray,
    spacing: Sequence[float],
    plans_manager,
    configuration_manager,
    *,
    device: str | torch.device = "cpu",
    slab: int = PREPROCESS_SLAB,
) -> tuple[torch.Tensor, dict]:
    """nnU-Net's preprocessing of one CT ``[z, y, x]`` (HU) to the model's grid, in float32 torch:
    :class:`CTPreprocessing` of the model's managers (check them first with
    :func:`torch_preprocessing_unsupported`), run on ``device`` (the result is returned on the CPU).

    Returns:
        ``(data, props)``: ``(1, z', y', x')`` float32 CPU tensor and nnU-Net's properties (``spacing``,
        ``shape_before_cropping``, ``bbox_used_for_cropping``, ``shape_after_cropping_and_before_resampling``).
    """
    return CTPreprocessing.of(plans_manager, configuration_manager, device)(ct, spacing, slab=slab)
