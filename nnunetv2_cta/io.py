"""Reading and writing volumes with their geometry.

Array convention used throughout nnunetv2_cta (the same as nnU-Net's ``SimpleITKIO``): a volume is a
numpy array indexed ``[z, y, x]`` (slice, row, column) and :attr:`Geometry.spacing` is given in that same
axis order, in millimetres. ``origin`` and ``direction`` are kept exactly as ITK stores them (x, y, z
world order, LPS), because they are only passed through to the writer and to world-coordinate helpers.

Writes are atomic: the file is written under a temporary name in the destination folder and renamed, so
an interrupted run never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError, GeometryError, SpacingError

#: File endings SimpleITK reads and writes that nnunetv2_cta accepts for volumes.
VOLUME_ENDINGS: tuple[str, ...] = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")


@dataclass(frozen=True)
class Geometry:
    """Voxel grid of a volume.

    Attributes:
        spacing: voxel size in mm, in array axis order ``(z, y, x)``.
        origin: world position of voxel ``[0, 0, 0]`` in mm, ITK order ``(x, y, z)``.
        direction: 3x3 direction cosine matrix, row-major, ITK order (9 floats).
    """

    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise SpacingError(f"spacing must be three positive finite numbers in mm, got {self.spacing!r}")
        if len(self.origin) != 3 or len(self.direction) != 9:
            raise GeometryError(
                f"origin must have 3 and direction 9 values, got {len(self.origin)} and {len(self.direction)}"
            )
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        object.__setattr__(self, "direction", tuple(float(d) for d in self.direction))

    def index_to_world(self, index_zyx: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """World coordinates (mm, ITK ``(x, y, z)`` order) of voxel indices given as ``(..., 3)`` in z, y, x."""
        idx = np.asarray(index_zyx, dtype=np.float64)[..., ::-1]  # -> x, y, z
        scaled = idx * np.asarray(self.spacing[::-1])
        return scaled @ np.asarray(self.direction).reshape(3, 3).T + np.asarray(self.origin)

    def mismatch(self, other: Geometry, *, atol: float = 1e-3) -> str | None:
        """Return a sentence describing how ``other`` differs from this grid, or ``None`` if it matches."""
        for name in ("spacing", "origin", "direction"):
            a, b = np.asarray(getattr(self, name)), np.asarray(getattr(other, name))
            if not np.allclose(a, b, atol=atol, rtol=1e-5):
                return f"{name} {_fmt(b)} != {_fmt(a)}"
        return None


def _fmt(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.round(values, 4))


def check_same_grid(
    ref: tuple[np.ndarray, Geometry], other: tuple[np.ndarray, Geometry], *, what: str = "image"
) -> None:
    """Raise :class:`GeometryError` naming the difference if two volumes do not share one voxel grid."""
    (a, ga), (b, gb) = ref, other
    if a.shape != b.shape:
        raise GeometryError(f"{what}: shape {b.shape} != reference shape {a.shape}")
    diff = ga.mismatch(gb)
    if diff is not None:
        raise GeometryError(f"{what}: {diff} (reference)")


def has_volume_ending(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(VOLUME_ENDINGS)


def strip_volume_ending(name: str) -> str:
    """``'case_001_0000.nii.gz'`` -> ``'case_001_0000'``."""
    for ending in VOLUME_ENDINGS:
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return name


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, Geometry]:
    """Read a 3D volume (NIfTI, MHA/MHD, NRRD) as a ``[z, y, x]`` array and its :class:`Geometry`.

    Raises:
        DatasetFormatError: the file is missing, unreadable or not 3D.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"no such image file: {str(path)!r}")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise DatasetFormatError(
            f"cannot read image {str(path)!r}: {str(err).strip().splitlines()[-1]}"
        ) from err
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DatasetFormatError(
            f"{str(path)!r}: expected a 3D single-channel volume, got dimension {image.GetDimension()} "
            f"with {image.GetNumberOfComponentsPerPixel()} component(s)"
        )
    geometry = Geometry(
        spacing=tuple(image.GetSpacing())[::-1],
        origin=tuple(image.GetOrigin()),
        direction=tuple(image.GetDirection()),
    )
    return sitk.GetArrayFromImage(image), geometry


def write_image(
    path: str | os.PathLike, array: np.ndarray, geometry: Geometry, *, compress: bool = True
) -> Path:
    """Write a ``[z, y, x]`` array with its geometry, atomically (temporary file, then rename).

    The file type follows the ending of ``path``; the array's dtype is kept (cast before calling).
    """
    import SimpleITK as sitk

    path = Path(path)
    if array.ndim != 3:
        raise GeometryError(f"write_image expects a 3D [z, y, x] array, got shape {array.shape}")
    if not has_volume_ending(path):
        raise DatasetFormatError(f"{str(path)!r}: ending must be one of {VOLUME_ENDINGS}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(tuple(float(s) for s in geometry.spacing[::-1]))
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    ending = next(e for e in VOLUME_ENDINGS if path.name.lower().endswith(e))
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=ending, dir=path.parent)
    os.close(fd)
    try:
        sitk.WriteImage(image, tmp, useCompression=compress)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
