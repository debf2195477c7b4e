"""Plain NIfTI-1 ``.nii.gz`` volumes decompressed straight into their numpy array (:func:`read_plain_nifti_gz`,
used by :func:`nnunetv2_cta.io.read_image`), with the geometry SimpleITK reads from the header.

SimpleITK reads a ``.nii.gz`` through zlib; :func:`nnunetv2_cta.io.read_image` used to decompress it with ISA-L
into a temporary ``.nii`` for SimpleITK, then copy SimpleITK's image into an array. For the voxels of a plain
file (no scaling, 3 dimensions, native byte order) neither is needed: they are the file's bytes after the
header, in ``x, y, z`` order, which is SimpleITK's ``[z, y, x]`` array.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path
from typing import IO

import numpy as np

from nnunetv2_cta.io import Geometry

#: NIfTI-1 datatype codes that :func:`read_plain_nifti_gz` reads, as numpy dtypes (the file's byte order)
_NIFTI_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


def read_plain_nifti_gz(path: str | os.PathLike) -> tuple[np.ndarray, Geometry] | None:
    """A plain 3D NIfTI-1 ``.nii.gz`` decompressed straight into its ``[z, y, x]`` array, with the geometry
    SimpleITK reads from the header; ``None`` (read it with SimpleITK) for anything else.

    Plain: one file (magic ``n+1``), 3 dimensions, one of :data:`_NIFTI_DTYPES` in this machine's byte order, no
    intensity scaling (``scl_slope`` 0 or 1, ``scl_inter`` 0), and SimpleITK reporting the same size and pixel
    type. The voxels are then the file's bytes in ``x, y, z`` order, exactly what SimpleITK returns; reading
    them without the temporary ``.nii``, SimpleITK's read and its array copy takes a 700x512x512 int16 CTA
    from 2.0 s to 0.7 s on 2 cores.

    Raises:
        RuntimeError: SimpleITK cannot read the header. OSError, EOFError: a damaged or truncated file.
    """
    import SimpleITK as sitk

    path = Path(path)
    info = sitk.ImageFileReader()
    info.SetFileName(str(path))
    info.ReadImageInformation()
    order = "<" if sys.byteorder == "little" else ">"
    with open(path, "rb") as compressed:
        source = _gzip_reader(compressed)
        header = source.read(348)
        if len(header) < 348:
            raise EOFError(f"{len(header)} bytes of a 348-byte NIfTI header")
        (size,) = struct.unpack_from(f"{order}i", header, 0)
        dims = struct.unpack_from(f"{order}8h", header, 40)
        (code,) = struct.unpack_from(f"{order}h", header, 70)
        offset, slope, inter = struct.unpack_from(f"{order}3f", header, 108)
        dtype = np.dtype(order + _NIFTI_DTYPES[code]) if code in _NIFTI_DTYPES else None
        plain = (
            size == 348
            and header[344:348] == b"n+1\0"
            and dims[0] == 3
            and min(dims[1:4]) > 0
            and dtype is not None
            and slope in (0.0, 1.0)
            and inter == 0.0
            and offset >= 348
            and offset == int(offset)
            and info.GetDimension() == 3
            and info.GetNumberOfComponents() == 1
            and tuple(info.GetSize()) == tuple(dims[1:4])
            and _sitk_dtypes().get(info.GetPixelID()) == dtype
        )
        if not plain:
            return None
        source.read(int(offset) - 348)  # header extensions
        array = np.empty(dims[3:0:-1], dtype=dtype)
        view = memoryview(array).cast("B")
        done = 0
        while done < len(view):
            got = source.readinto(view[done : done + 64 * 2**20])
            if not got:
                raise EOFError(f"the voxel data ends after {done} of {len(view)} bytes")
            done += got
    geometry = Geometry(
        spacing=tuple(info.GetSpacing())[::-1],
        origin=tuple(info.GetOrigin()),
        direction=tuple(info.GetDirection()),
    )
    return array, geometry


def _gzip_reader(compressed: IO[bytes]):
    """A reader (``read``, ``readinto``) of the decompressed bytes of the gzip file ``compressed``.

    ISA-L's C reader with a 32 MB input buffer where installed: it releases the GIL for each buffer, so another
    thread running Python (the model loading) slows it little; ``isal.igzip.open`` (512 kB buffers) took 3.2 s
    instead of 0.7 s for a 700x512x512 int16 CTA next to a busy thread, waiting for the GIL after every buffer.
    Else Python's ``gzip``.
    """
    try:
        from isal import isal_zlib
    except ImportError:
        isal_zlib = None
    if isal_zlib is not None and hasattr(isal_zlib, "_GzipReader"):  # igzip's own reader (isal >= 1.0)
        return isal_zlib._GzipReader(compressed, 32 * 2**20)
    import gzip

    return gzip.GzipFile(fileobj=compressed, mode="rb")


def _sitk_dtypes() -> dict[int, np.dtype]:
    import SimpleITK as sitk

    pairs = (
        (sitk.sitkUInt8, np.uint8),
        (sitk.sitkInt8, np.int8),
        (sitk.sitkInt16, np.int16),
        (sitk.sitkUInt16, np.uint16),
        (sitk.sitkInt32, np.int32),
        (sitk.sitkUInt32, np.uint32),
        (sitk.sitkFloat32, np.float32),
        (sitk.sitkFloat64, np.float64),
    )
    return {int(pixel): np.dtype(dtype) for pixel, dtype in pairs}
