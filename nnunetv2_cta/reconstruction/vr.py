"""Volume-rendering-style (VR) image of the labelled vessel tree, coloured by region.

Method (a surface rendering by ray casting, fast because it needs no mesh):

1. The vessel mask (``labels_to_show``) is cropped to its bounding box; when the crop is large it is
   max-pooled by an integer factor (thin vessels survive pooling) so that at most ~24 M voxels are cast.
2. The mask is smoothed (Gaussian, 0.7 voxel; mask voxels are kept at least at the level, so one-voxel
   vessels do not vanish) and every ray of the view is followed into the volume; the first crossing of
   the 0.4 level gives a sub-voxel **depth** (mm) per pixel (linear interpolation between
   the two samples around the crossing), and the label met first gives the pixel's **region**.
3. Depth and region maps are resampled to square pixels; the surface normal comes from the depth gradient
   (``n ∝ (∂d/∂col, ∂d/∂row, 1)``), lit by a Blinn-Phong model (ambient + diffuse + specular, light from
   the upper left of the viewer) with depth cueing (farther surfaces darker). Silhouettes get dark edges
   by themselves because the depth jumps there.

Colours: aorta red, carotid (neck) orange, intracranial light blue (bone, if asked for, ivory), with a
legend. The image is a rendering of the label map, not of CT intensities.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from nnunetv2_cta._arrays import bounding_box
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import LABEL_NAMES, VESSEL_LABELS
from nnunetv2_cta.reconstruction._common import (
    as_volume,
    get_view,
    resample_2d,
    save_figure,
    spacing_mm,
    to_view_order,
)

logger = logging.getLogger(__name__)

#: RGB (0..1) per label value.
PALETTE: dict[int, tuple[float, float, float]] = {
    1: (0.92, 0.89, 0.80),
    2: (0.90, 0.16, 0.12),
    3: (1.00, 0.66, 0.10),
    4: (0.35, 0.70, 1.00),
}
VR_VIEWS: tuple[str, ...] = ("anterior", "posterior", "left", "right", "lateral", "superior")
MAX_CAST_VOXELS = 24_000_000
ISO_LEVEL = 0.4
BACKGROUND = (0.06, 0.06, 0.08)


def _pool(mask: np.ndarray, labels: np.ndarray, factor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max-pool a mask and its labels by integer factors per axis (the crop is padded to a multiple)."""
    if np.all(factor == 1):
        return mask, labels
    pad = [(0, (-n) % f) for n, f in zip(mask.shape, factor)]
    mask = np.pad(mask, pad)
    labels = np.pad(labels, pad)
    shape = []
    for n, f in zip(mask.shape, factor):
        shape += [n // f, f]
    mask = mask.reshape(shape).max(axis=(1, 3, 5))
    labels = labels.reshape(shape).max(axis=(1, 3, 5))
    return mask, labels


def depth_and_region(
    labels: np.ndarray, spacing, view: str = "anterior", labels_to_show=VESSEL_LABELS
) -> tuple[np.ndarray, np.ndarray, float]:
    """First-hit depth (mm, NaN where the ray misses) and region label per pixel, on square pixels.

    Returns:
        ``(depth, region, pixel_mm)``; ``region`` is uint8 (0 where the ray misses).
    """
    labels = as_volume(labels, "labels")
    sp = spacing_mm(spacing)
    v = get_view(view)
    show = np.isin(labels, list(labels_to_show))
    box = bounding_box(show, 2)
    if box is None:
        return np.full((1, 1), np.nan, np.float32), np.zeros((1, 1), np.uint8), float(sp.min())
    mask, lab = show[box], np.where(show[box], labels[box], 0).astype(np.uint8)
    factor = np.ones(3, dtype=int)
    while np.prod(np.array(mask.shape) / factor) > MAX_CAST_VOXELS:
        # pool the finest axis first, so the grid tends to isotropy
        axis = int(np.argmin(sp * factor))
        factor[axis] += 1
    mask, lab = _pool(mask, lab, factor)
    psp = sp * factor
    sigma = 0.7 * float(psp.min()) / psp
    field = ndimage.gaussian_filter(mask.astype(np.float32), sigma=sigma, mode="constant")
    # a one-voxel-thin vessel smooths to a peak below the level: every mask voxel stays inside
    np.maximum(field, np.where(mask, np.float32(ISO_LEVEL + 0.01), np.float32(0)), out=field)
    field = to_view_order(field, v)
    lab = to_view_order(lab, v)
    above = field >= ISO_LEVEL
    hit = above.any(axis=0)
    k = above.argmax(axis=0)
    rows, cols = np.indices(k.shape)
    f1 = field[k, rows, cols]
    f0 = np.where(k > 0, field[np.maximum(k - 1, 0), rows, cols], 0.0)
    frac = np.clip((f1 - ISO_LEVEL) / np.maximum(f1 - f0, 1e-6), 0.0, 1.0)
    depth = (k - frac) * psp[v.ray]
    depth = np.where(hit, depth, np.nan).astype(np.float32)
    # region: the first labelled voxel along the ray at or after the crossing (a crossing can precede it)
    labelled = lab > 0
    k_lab = labelled.argmax(axis=0)
    region = np.where(hit & labelled.any(axis=0), lab[k_lab, rows, cols], 0).astype(np.uint8)
    region = np.where(hit & (region == 0), lab.max(axis=0), region)
    pixel = (float(psp[v.row]), float(psp[v.col]))
    far = np.nanmax(depth) if np.any(hit) else 0.0
    depth_sq = resample_2d(np.where(hit, depth, far + 5.0), pixel, order=1)
    hit_sq = resample_2d(hit.astype(np.float32), pixel, order=1) >= 0.5
    region_sq = resample_2d(region, pixel, order=0)
    depth_sq = np.where(hit_sq, depth_sq, np.nan).astype(np.float32)
    return depth_sq, np.where(hit_sq, region_sq, 0).astype(np.uint8), min(pixel)


def shade(depth: np.ndarray, region: np.ndarray, pixel_mm: float) -> np.ndarray:
    """RGB float image (H, W, 3) from a depth map (mm, NaN = miss) and a region map (method: module doc)."""
    hit = np.isfinite(depth)
    rgb = np.empty((*depth.shape, 3), np.float32)
    rgb[:] = BACKGROUND
    if not hit.any():
        return rgb
    near, far = float(np.nanmin(depth)), float(np.nanmax(depth))
    filled = np.where(hit, depth, far + 4.0 * pixel_mm)
    filled = ndimage.gaussian_filter(filled, 0.6)
    d_row, d_col = np.gradient(filled, pixel_mm)
    d_row, d_col = np.clip(d_row, -8, 8), np.clip(d_col, -8, 8)
    norm = np.sqrt(d_row**2 + d_col**2 + 1.0)
    n = np.stack([d_col / norm, d_row / norm, 1.0 / norm], axis=-1)  # (col, row, toward viewer)
    light = np.array([-0.45, -0.55, 1.0])
    light /= np.linalg.norm(light)
    half = light + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    diffuse = np.clip(n @ light, 0.0, 1.0)
    specular = np.clip(n @ half, 0.0, 1.0) ** 40
    cue = 1.0 - 0.55 * (np.where(hit, depth, far) - near) / max(far - near, 1e-6)
    base = np.zeros((*depth.shape, 3), np.float32)
    for value, colour in PALETTE.items():
        base[region == value] = colour
    base[hit & (region == 0)] = (0.8, 0.8, 0.8)
    lit = (
        base * (0.18 + 0.82 * diffuse)[..., None] * cue[..., None]
        + 0.45 * specular[..., None] * cue[..., None]
    )
    rgb[hit] = np.clip(lit[hit], 0.0, 1.0)
    return rgb


def render_vr(
    labels: np.ndarray,
    spacing,
    path: str | os.PathLike,
    *,
    view: str = "anterior",
    labels_to_show: tuple[int, ...] = VESSEL_LABELS,
    title: str = "",
    max_pixels: int = 900,
) -> Path:
    """Write a VR-style PNG of the vessel tree seen from ``view``, coloured by region, with a legend.

    Args:
        labels: label map ``[z, y, x]`` (:mod:`nnunetv2_cta.labels` scheme).
        spacing: ``(z, y, x)`` in mm or a Geometry.
        path: PNG to write (atomically).
        view: ``"anterior"`` (patient's right on the image left, head up), ``"posterior"``, ``"left"`` /
            ``"lateral"`` (seen from the patient's left, anterior on the image left), ``"right"``,
            ``"superior"`` (from above, anterior up).
        labels_to_show: label values rendered (default the vessels 2, 3, 4; add 1 for bone).
        title: text drawn at the top left.
        max_pixels: the longer image side is scaled to at most this many pixels.

    Returns:
        ``path``. An empty selection gives a dark image saying so (and a warning in the log).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = as_volume(labels, "labels")
    if view not in VR_VIEWS:
        raise ConfigurationError(f"VR view must be one of {VR_VIEWS}, got {view!r}")
    try:
        shown = tuple(int(v) for v in labels_to_show)
    except (TypeError, ValueError) as err:
        raise ConfigurationError(f"labels_to_show must be label values, got {labels_to_show!r}") from err
    if not shown:
        raise ConfigurationError(f"labels_to_show must name at least one label, got {labels_to_show!r}")
    depth, region, pixel = depth_and_region(labels, spacing, view, shown)
    rgb = shade(depth, region, pixel)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_pixels / max(h, w)) if max(h, w) > 0 else 1.0
    if max(h, w) < 400:  # small volumes (coarse grids) are drawn larger, smoothly
        scale = 400 / max(h, w)
    dpi = 100.0
    fig = Figure(
        figsize=(max(w * scale, 200) / dpi, max(h * scale, 200) / dpi), dpi=dpi, facecolor=BACKGROUND
    )
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_facecolor(BACKGROUND)
    ax.imshow(rgb, interpolation="bilinear" if scale > 1 else "antialiased")
    ax.set_axis_off()
    present = [v for v in shown if np.any(region == v)]
    if present:
        handles = [
            Patch(color=PALETTE.get(v, (0.8, 0.8, 0.8)), label=LABEL_NAMES.get(v, str(v))) for v in present
        ]
        ax.legend(
            handles=handles,
            loc="lower right",
            fontsize=8,
            framealpha=0.6,
            facecolor="black",
            labelcolor="white",
            edgecolor="none",
        )
    else:
        logger.warning("render_vr: no voxel of labels %s to render; writing an empty image", shown)
        ax.text(
            0.5, 0.5, "no vessels to render", color="white", ha="center", va="center", transform=ax.transAxes
        )
    text = f"{title}  ({view})" if title else view
    ax.text(0.01, 0.99, text, color="white", fontsize=8, ha="left", va="top", transform=ax.transAxes)
    return save_figure(path, fig, dpi=dpi)
