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
applies the three matrices as float32 matrix products (in-plane per slab of slices, then along z), on the CPU
or the device. Measured against nnU-Net on the test volumes: largest difference 2e-5 in normalised units
(tests/inference/test_preprocess.py); :func:`torch_preprocessing_unsupported` says when the plans ask for
anything else (then nnU-Net's own preprocessor runs).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
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


def _ct_intensities(plans_manager) -> tuple[float, float, float, float]:
    """``(lower, upper, mean, std)`` of nnU-Net's CT normalisation of channel 0."""
    props = plans_manager.foreground_intensity_properties_per_channel
    channel = props["0"] if "0" in props else props[0]
    return (
        float(channel["percentile_00_5"]),
        float(channel["percentile_99_5"]),
        float(channel["mean"]),
        max(float(channel["std"]), 1e-8),
    )


def preprocess_ct(
    ct: np.ndarray,
    spacing: Sequence[float],
    plans_manager,
    configuration_manager,
    *,
    device: str | torch.device = "cpu",
    slab: int = PREPROCESS_SLAB,
) -> tuple[torch.Tensor, dict]:
    """nnU-Net's preprocessing of one CT ``[z, y, x]`` (HU) to the model's grid, in float32 torch.

    Args:
        ct: the CT (any real dtype; not modified).
        spacing: its voxel size in mm, ``(z, y, x)``.
        plans_manager, configuration_manager: nnU-Net's managers of the model (check them first with
            :func:`torch_preprocessing_unsupported`).
        device: where the matrix products run (the result is returned on the CPU).
        slab: input slices processed at once.

    Returns:
        ``(data, props)``: ``(1, z', y', x')`` float32 CPU tensor and nnU-Net's properties (``spacing``,
        ``shape_before_cropping``, ``bbox_used_for_cropping``, ``shape_after_cropping_and_before_resampling``).
    """
    import torch

    if ct.ndim != 3:
        raise GeometryError(f"preprocess_ct expects a 3D [z, y, x] CT, got shape {ct.shape}")
    if slab < 1:
        raise ConfigurationError(f"slab must be >= 1 slice, got {slab!r}")
    axes = [int(a) for a in plans_manager.transpose_forward]
    volume = ct.transpose(axes)
    spacing_t = [float(spacing[a]) for a in axes]
    props = {"spacing": [float(s) for s in spacing], "shape_before_cropping": tuple(volume.shape)}
    box = nonzero_bbox(volume)
    volume = volume[tuple(slice(a, b) for a, b in box)]
    props["bbox_used_for_cropping"] = box
    props["shape_after_cropping_and_before_resampling"] = tuple(volume.shape)
    target = new_shape(volume.shape, spacing_t, [float(s) for s in configuration_manager.spacing])
    order = int(configuration_manager.configuration.get("resampling_fn_data_kwargs", {}).get("order", 3))
    lower, upper, mean, std = _ct_intensities(plans_manager)
    device = torch.device(device)
    parts = [banded(resize_weights(n, m, order)) for n, m in zip(volume.shape, target)]
    planes = torch.empty((volume.shape[0], target[1], target[2]), dtype=torch.float32, device=device)
    low, high = np.inf, -np.inf
    for start in range(0, volume.shape[0], slab):
        part = torch.from_numpy(np.array(volume[start : start + slab], dtype=np.float32))  # a copy: ct stays
        part = part.to(device).clamp_(lower, upper).sub_(mean).div_(std)
        low, high = min(low, float(part.min())), max(high, float(part.max()))
        planes[start : start + part.shape[0]] = _along(_along(part, parts[1], 1, device), parts[2], 2, device)
    out = _along(planes, parts[0], 0, device)
    if tuple(target) != tuple(volume.shape):  # skimage clips the spline's overshoot to the input's range
        out.clamp_(low, high)
    return out[None].cpu(), props
