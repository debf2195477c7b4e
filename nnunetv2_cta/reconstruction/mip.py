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

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.reconstruction._common import (
    as_spacing,
    as_volume,
    as_window,
    get_view,
    resample_2d,
    save_grey_png,
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
    sp = as_spacing(spacing)
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
