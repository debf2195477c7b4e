"""Shared helpers of :mod:`nnunetv2_cta.reconstruction`: argument checks, view geometry, atomic PNG writes.

Array convention: volumes are ``[z, y, x]``, z toward the head, x toward the patient's LEFT, y toward
POSTERIOR (identity direction = LPS); spacing ``(sz, sy, sx)`` in mm in the same order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnunetv2_cta._arrays import as_spacing
from nnunetv2_cta.errors import ConfigurationError, GeometryError
from nnunetv2_cta.io import atomic_path


def spacing_mm(spacing) -> np.ndarray:
    """A ``(z, y, x)`` spacing in mm (a 3-sequence or anything with a ``.spacing``) as a float64 array.

    Checked by :func:`nnunetv2_cta._arrays.as_spacing` (:class:`SpacingError` naming the value).
    """
    return np.asarray(as_spacing(getattr(spacing, "spacing", spacing)), dtype=np.float64)


def as_volume(array, what: str) -> np.ndarray:
    """``array`` as a 3D numpy array; :class:`GeometryError` naming the shape otherwise."""
    array = np.asarray(array)
    if array.ndim != 3:
        raise GeometryError(f"{what} must be a 3D [z, y, x] array, got shape {array.shape}")
    if array.size == 0:
        raise GeometryError(f"{what} must not be empty, got shape {array.shape}")
    return array


def check_same_shape(a: np.ndarray, b: np.ndarray, what_a: str, what_b: str) -> None:
    if a.shape != b.shape:
        raise GeometryError(f"{what_b} shape {b.shape} != {what_a} shape {a.shape}")


def as_window(window) -> tuple[float, float]:
    """A display window ``(lo, hi)`` in HU with ``lo < hi``."""
    try:
        lo, hi = (float(v) for v in window)
    except (TypeError, ValueError) as err:
        raise ConfigurationError(f"window must be two numbers (lo, hi) in HU, got {window!r}") from err
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ConfigurationError(f"window must be two finite numbers with lo < hi, got {window!r}")
    return lo, hi


@dataclass(frozen=True)
class View:
    """How a view direction maps the ``[z, y, x]`` volume onto an image.

    ``ray`` is the array axis along the viewing ray and ``ray_from_high`` whether the viewer sits at the
    high-index end of it; the image rows/columns follow array axes ``row``/``col``, flipped when
    ``row_flip``/``col_flip`` (radiological conventions: head up, patient's right on the image left in a
    frontal view, anterior on the left in a lateral view, anterior up in an axial view).
    """

    ray: int
    ray_from_high: bool
    row: int
    row_flip: bool
    col: int
    col_flip: bool


VIEWS: dict[str, View] = {
    # viewer in front of the patient (y small), looking posterior
    "anterior": View(ray=1, ray_from_high=False, row=0, row_flip=True, col=2, col_flip=False),
    "posterior": View(ray=1, ray_from_high=True, row=0, row_flip=True, col=2, col_flip=True),
    # viewer at the patient's left (x large), anterior on the image left
    "left": View(ray=2, ray_from_high=True, row=0, row_flip=True, col=1, col_flip=False),
    "right": View(ray=2, ray_from_high=False, row=0, row_flip=True, col=1, col_flip=True),
    "lateral": View(ray=2, ray_from_high=True, row=0, row_flip=True, col=1, col_flip=False),
    # axial: seen from the feet (radiological), anterior up, patient's right on the image left
    "axial": View(ray=0, ray_from_high=False, row=1, row_flip=False, col=2, col_flip=False),
    # seen from above (looking down on the head), anterior up, patient's right on the image right
    "superior": View(ray=0, ray_from_high=True, row=1, row_flip=False, col=2, col_flip=True),
}


def get_view(name: str) -> View:
    try:
        return VIEWS[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"view must be one of {sorted(VIEWS)}, got {name!r}") from None


def to_view_order(volume: np.ndarray, view: View) -> np.ndarray:
    """A view (no copy) of ``volume`` ordered ``[ray, row, col]``, the ray running away from the viewer."""
    out = np.transpose(volume, (view.ray, view.row, view.col))
    sl = [slice(None)] * 3
    if view.ray_from_high:
        sl[0] = slice(None, None, -1)
    if view.row_flip:
        sl[1] = slice(None, None, -1)
    if view.col_flip:
        sl[2] = slice(None, None, -1)
    return out[tuple(sl)]


def resample_2d(image: np.ndarray, pixel_mm: tuple[float, float], *, order: int = 1) -> np.ndarray:
    """Resample a 2D image (or ``(H, W, C)``) with pixel size ``(row_mm, col_mm)`` to square pixels.

    The new pixel is the smaller of the two sizes, so the image has the physical aspect ratio.
    """
    from scipy import ndimage

    target = min(pixel_mm)
    zoom = (pixel_mm[0] / target, pixel_mm[1] / target)
    if np.allclose(zoom, 1.0):
        return image
    if image.ndim == 3:
        zoom = (*zoom, 1.0)
    return ndimage.zoom(image, zoom, order=order, mode="nearest", grid_mode=True)


def save_grey_png(path: str | os.PathLike, image: np.ndarray, window: tuple[float, float]) -> Path:
    """Write a 2D array as an 8-bit grey PNG, windowed to ``(lo, hi)``, atomically."""
    from matplotlib import image as mpimg

    lo, hi = window
    grey = np.clip((np.asarray(image, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    with atomic_path(path) as tmp:
        mpimg.imsave(tmp, grey, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return Path(path)


def save_figure(path: str | os.PathLike, fig, *, dpi: float = 100.0) -> Path:
    """Write a matplotlib ``Figure`` (made with ``matplotlib.figure.Figure``, no pyplot) as PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor=fig.get_facecolor())
    return Path(path)
