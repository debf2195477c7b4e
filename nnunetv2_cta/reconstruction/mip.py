"""Maximum intensity projections (MIP) of a (bone-free) CTA, in the radiological display conventions.

| view | projection | image rows | image columns |
|---|---|---|---|
| ``anterior`` | max over y (front to back) | z, head up | x, patient's right on the image left |
| ``lateral`` | max over x | z, head up | y, anterior on the image left |
| ``axial`` | max over z | y, anterior up | x, patient's right on the image left |

Each projection is resampled to square pixels (the smaller of its two voxel sizes), so an anisotropic
volume (e.g. 0.4 x 0.4 x 1.0 mm) keeps its physical aspect ratio in the PNG.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.io import atomic_path
from nnunetv2_cta.reconstruction._common import (
    as_volume,
    as_window,
    get_view,
    resample_2d,
    save_grey_png,
    spacing_mm,
    to_view_order,
)

logger = logging.getLogger(__name__)

MIP_VIEWS: tuple[str, ...] = ("anterior", "lateral", "axial")
DEFAULT_WINDOW: tuple[float, float] = (-100.0, 600.0)


def mip_image(volume: np.ndarray, spacing, view: str = "anterior") -> tuple[np.ndarray, float]:
    """The MIP of ``volume`` ``[z, y, x]`` seen from ``view``, resampled to square pixels.

    Returns:
        ``(image, pixel_mm)``: float32 2D image in the volume's units (HU) and its pixel size in mm.
    """
    volume = as_volume(volume, "volume")
    sp = spacing_mm(spacing)
    v = get_view(view)
    if view not in MIP_VIEWS:
        raise ConfigurationError(f"MIP view must be one of {MIP_VIEWS}, got {view!r}")
    proj = to_view_order(volume, v).max(axis=0).astype(np.float32)
    pixel = (float(sp[v.row]), float(sp[v.col]))
    return resample_2d(proj, pixel, order=1), min(pixel)


def auto_window(image: np.ndarray) -> tuple[float, float]:
    """A display window for a vessel MIP: from the median (background) to the 99.8th percentile (lumen)."""
    lo, hi = np.percentile(image, [50.0, 99.8])
    if not hi > lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def render_mips(
    volume: np.ndarray,
    spacing,
    out_dir: str | os.PathLike,
    case: str,
    *,
    window: tuple[float, float] | str | None = DEFAULT_WINDOW,
    views: tuple[str, ...] = MIP_VIEWS,
    min_side_px: int = 384,
) -> dict[str, Path]:
    """Write one grey-scale MIP PNG per view: ``<out_dir>/<case>_mip_<view>.png``.

    Args:
        volume: ``[z, y, x]`` volume in HU, usually :func:`~nnunetv2_cta.reconstruction.bone_free_ct`'s
            output (with bone in it, the skull hides the intracranial arteries).
        spacing: ``(z, y, x)`` in mm or a Geometry.
        out_dir, case: destination folder and case id (file-name prefix).
        window: display window ``(lo, hi)`` in HU (default -100..600), or ``"auto"``/``None`` for
            :func:`auto_window` per view (useful for non-HU data such as a DSA).
        views: any of ``"anterior"``, ``"lateral"``, ``"axial"`` (table in the module docstring).
        min_side_px: an image whose longer side is shorter is enlarged by a whole factor (pixel
            replication, so the aspect ratio and the pixels stay exact): a 94 x 81 head crop is unreadable
            at its native size. ``0`` keeps the native size.

    Returns:
        ``{view: path}`` of the written PNGs (atomic writes).
    """
    volume = as_volume(volume, "volume")
    if isinstance(views, str):
        views = (views,)
    for view in views:
        if view not in MIP_VIEWS:
            raise ConfigurationError(f"MIP view must be one of {MIP_VIEWS}, got {view!r}")
    auto = window is None or (isinstance(window, str) and window == "auto")
    if isinstance(window, str) and not auto:
        raise ConfigurationError(f"window must be (lo, hi) in HU or 'auto', got {window!r}")
    fixed = None if auto else as_window(window)
    out: dict[str, Path] = {}
    for view in views:
        image, _ = mip_image(volume, spacing, view)
        win = auto_window(image) if fixed is None else fixed
        if 0 < max(image.shape) < min_side_px:
            factor = -(-min_side_px // max(image.shape))
            image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
        out[view] = save_grey_png(Path(out_dir) / f"{case}_mip_{view}.png", image, win)
        logger.debug("MIP %s written to %s (window %s)", view, out[view], win)
    return out


def render_repair_mip(
    volume: np.ndarray,
    repaired: np.ndarray,
    points_zyx,
    spacing,
    path: str | os.PathLike,
    *,
    view: str = "anterior",
    window: tuple[float, float] = DEFAULT_WINDOW,
    min_side_px: int = 384,
) -> Path:
    """A bone-free MIP with the repaired segments in red and each repair numbered (1, 2, ... as in the
    report's table) beside a yellow ring at its location.

    Args:
        volume: ``[z, y, x]`` bone-free CTA in HU.
        repaired: boolean mask of the voxels the repair added (same grid).
        points_zyx: one voxel index ``(z, y, x)`` per repaired gap, in the table's order.
        spacing, view, window, min_side_px: as :func:`render_mips`.
    """
    from PIL import Image, ImageDraw

    volume = as_volume(volume, "volume")
    repaired = np.asarray(repaired, dtype=bool)
    if repaired.shape != volume.shape:
        raise GeometryError(
            f"repaired mask shape {repaired.shape} differs from the volume shape {volume.shape}"
        )
    image, _ = mip_image(volume, spacing, view)
    red, _ = mip_image(repaired.astype(np.float32), spacing, view)
    ids = np.zeros(volume.shape, np.float32)
    for i, p in enumerate(points_zyx, start=1):
        ids[tuple(int(v) for v in p)] = i
    ids2d = to_view_order(ids, get_view(view)).max(axis=0)  # before resampling: exact ids
    factor = max(image.shape) / max(ids2d.shape)
    lo, hi = as_window(window)
    grey = (np.clip((image - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[red > 0.25] = (255, 40, 40)
    scale = -(-min_side_px // max(rgb.shape[:2])) if 0 < max(rgb.shape[:2]) < min_side_px else 1
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    picture = Image.fromarray(rgb)
    draw = ImageDraw.Draw(picture)
    sy = image.shape[0] / ids2d.shape[0] * scale
    sx = image.shape[1] / ids2d.shape[1] * scale
    radius = max(6.0, 4.0 * factor * scale)
    for i in range(1, len(points_zyx) + 1):
        rows, cols = np.nonzero(ids2d == i)
        if rows.size == 0:
            continue
        y, x = (rows.mean() + 0.5) * sy, (cols.mean() + 0.5) * sx
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=(255, 220, 0), width=2)
        draw.text((x + radius + 2, y - radius), str(i), fill=(255, 220, 0))
    with atomic_path(path) as tmp:
        picture.save(tmp, format="png")
    return Path(path)
