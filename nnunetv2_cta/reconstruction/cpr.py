"""Straightened curved planar reformation (CPR) along a vessel path.

Method (Kanitsar et al., "CPR - Curved Planar Reformation", IEEE Visualization 2002, the "straightened"
variant): the path is resampled evenly every ``step_mm`` (after light Gaussian smoothing of its mm
coordinates, σ = 2 mm), and at each point the CT is sampled (trilinear, :func:`scipy.ndimage.map_coordinates`
order 1) along a line perpendicular to the path, ``width_mm`` wide. The line's direction ``u`` is the
patient's x axis (right → left) projected onto the plane normal to the path, so "patient's left" is to the
right in every row; where the path runs along x itself (projection shorter than 0.3) the previous row's
direction is carried over (parallel transport). The second panel uses ``v = t × u`` (roughly
anterior-posterior): the same vessel turned by 90°. Rows run from the distal end (top) to the proximal
end (bottom); pixels are ``step_mm`` square, so the image has the physical aspect ratio and a lumen of
diameter D mm spans D / ``step_mm`` pixels in the middle column.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.reconstruction._common import as_volume, as_window, save_figure, spacing_mm

logger = logging.getLogger(__name__)

AIR_HU = -1024.0


def as_path(path_zyx, what: str = "path") -> np.ndarray:
    """A ``(N, 3)`` float path with ``N >= 2`` finite points, or :class:`GeometryError`."""
    p = np.asarray(path_zyx, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise GeometryError(
            f"{what} must be an (N, 3) array of [z, y, x] voxel coordinates, got shape {p.shape}"
        )
    if len(p) < 2:
        raise GeometryError(f"{what} must have at least 2 points, got {len(p)}")
    if not np.all(np.isfinite(p)):
        raise GeometryError(
            f"{what} must contain finite coordinates only, got {p[~np.isfinite(p).all(1)][:1]!r}"
        )
    return p


def resample_path_mm(points_mm: np.ndarray, step_mm: float, *, smooth_mm: float = 2.0) -> np.ndarray:
    """Resample a polyline (mm) every ``step_mm`` along its length, after Gaussian smoothing (σ in mm)."""
    pts = np.asarray(points_mm, dtype=np.float64)
    keep = np.r_[True, np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9]
    pts = pts[keep]
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))]
    if arc[-1] <= 0:
        return pts[:1]
    fine = min(step_mm, 0.5)
    s = np.arange(0.0, arc[-1] + 1e-9, fine)
    dense = np.stack([np.interp(s, arc, pts[:, k]) for k in range(3)], axis=1)
    if smooth_mm > 0 and len(dense) > 3:
        # point reflection at both ends (2 p0 - p_k): a straight run stays straight and keeps its length
        sigma = smooth_mm / fine
        n = min(len(dense) - 1, int(np.ceil(4 * sigma)))
        ext = np.concatenate([2 * dense[0] - dense[n:0:-1], dense, 2 * dense[-1] - dense[-2 : -n - 2 : -1]])
        dense = ndimage.gaussian_filter1d(ext, sigma, axis=0, mode="nearest")[n : n + len(dense)]
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))]
    s = np.arange(0.0, arc[-1] + 1e-9, step_mm)
    return np.stack([np.interp(s, arc, dense[:, k]) for k in range(3)], axis=1)


def _frames(points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit tangent ``t``, lateral ``u`` (patient's x projected) and ``v = t x u`` per point, mm frame z,y,x."""
    t = np.gradient(points_mm, axis=0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    ex = np.array([0.0, 0.0, 1.0])
    u = np.empty_like(t)
    prev = None
    for i, ti in enumerate(t):
        cand = ex - (ex @ ti) * ti
        if np.linalg.norm(cand) < 0.3 and prev is not None:
            cand = prev - (prev @ ti) * ti
            if np.linalg.norm(cand) < 1e-6:
                cand = ex - (ex @ ti) * ti
        if np.linalg.norm(cand) < 1e-6:  # the path runs exactly along x: use the patient's y instead
            ey = np.array([0.0, 1.0, 0.0])
            cand = ey - (ey @ ti) * ti
        cand /= np.linalg.norm(cand)
        if prev is not None and cand @ prev < 0:
            cand = -cand
        u[i] = prev = cand
    v = np.cross(t, u)
    return t, u, v


def straightened_cpr(
    volume: np.ndarray,
    path_zyx: np.ndarray,
    spacing,
    *,
    width_mm: float = 30.0,
    step_mm: float | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The two straightened CPR images of ``volume`` along ``path_zyx`` (method in the module docstring).

    Args:
        volume: ``[z, y, x]`` volume (HU).
        path_zyx: ``(N, 3)`` voxel coordinates ``[z, y, x]``, proximal first, ``N >= 2``.
        spacing: ``(z, y, x)`` in mm or a Geometry.
        width_mm: width of each image across the vessel, mm.
        step_mm: pixel size in mm (default: the smallest voxel size, at most 1 mm).

    Returns:
        ``(lateral, rotated, step_mm)``: float32 images ``(rows = path length / step, cols = width / step)``,
        distal end in row 0; ``lateral`` is sampled along ``u`` (patient's right → left), ``rotated`` along
        ``v``. Outside the volume the value is -1024.
    """
    volume = as_volume(volume, "volume")
    sp = spacing_mm(spacing)
    p = as_path(path_zyx)
    if not np.isfinite(width_mm) or width_mm <= 0:
        raise ConfigurationError(f"width_mm must be a positive number of mm, got {width_mm!r}")
    if step_mm is None:
        step_mm = min(float(sp.min()), 1.0)
    if not np.isfinite(step_mm) or step_mm <= 0:
        raise ConfigurationError(f"step_mm must be a positive number of mm or None, got {step_mm!r}")
    centre = resample_path_mm(p * sp, step_mm)
    if len(centre) < 2:
        raise GeometryError(f"path must have a positive length, got points all at {p[0]!r}")
    _, u, v = _frames(centre)
    half = round(width_mm / step_mm / 2)
    offsets = np.arange(-half, half + 1) * step_mm
    images = []
    for direction in (u, v):
        pts_mm = centre[:, None, :] + offsets[None, :, None] * direction[:, None, :]
        coords = (pts_mm / sp).reshape(-1, 3).T
        img = ndimage.map_coordinates(
            volume, coords, order=1, mode="constant", cval=AIR_HU, output=np.float32
        )
        images.append(img.reshape(len(centre), len(offsets))[::-1])
    return images[0], images[1], float(step_mm)


def render_cpr(
    volume: np.ndarray,
    path_zyx: np.ndarray,
    spacing,
    png_path: str | os.PathLike,
    *,
    title: str = "",
    width_mm: float = 30.0,
    window: tuple[float, float] = (-100.0, 600.0),
    step_mm: float | None = None,
    height_px: int = 800,
) -> Path:
    """Write a two-panel straightened CPR PNG (lateral and 90°-rotated) with mm axes.

    Args:
        volume, path_zyx, spacing, width_mm, step_mm: see :func:`straightened_cpr`.
        png_path: PNG to write (atomically).
        title: drawn above the panels (e.g. ``"right carotid"``).
        window: display window ``(lo, hi)`` in HU.
        height_px: approximate image height in pixels.

    Returns:
        ``png_path``.
    """
    from matplotlib.figure import Figure

    lo, hi = as_window(window)
    lateral, rotated, step = straightened_cpr(volume, path_zyx, spacing, width_mm=width_mm, step_mm=step_mm)
    length = lateral.shape[0] * step
    width = lateral.shape[1] * step
    aspect = length / max(width, 1e-6)
    fig_h = height_px / 100.0
    # a short path (shorter than the panel is wide) gets a short figure, not a metres-wide one
    panel_w = min(max(fig_h * 0.85 / aspect, 0.6), 3.0)
    fig_h = min(fig_h, max(2.5, panel_w * aspect / 0.85 + 0.8))
    fig = Figure(figsize=(2 * panel_w + 1.6, fig_h), dpi=100, facecolor="white")
    extent = (-width / 2, width / 2, 0.0, length)  # y axis: mm from the proximal end, distal at the top
    axes = fig.subplots(1, 2, sharey=True)
    for ax, img, name in zip(axes, (lateral, rotated), ("R \u2192 L", "90\u00b0")):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, extent=extent, aspect="equal", interpolation="bilinear")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("mm", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("mm from proximal end", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.18, right=0.98, bottom=0.06, top=0.92 if title else 0.95, wspace=0.1)
    return save_figure(png_path, fig)
