"""What ``nnunetv2_cta predict`` reads: one volume file, a folder of volumes, or a folder of DICOM series.

A folder holding both volumes and DICOM files is refused (one would be silently ignored).

Case ids (:func:`nnunetv2_cta.io.case_and_channel`, the rule every reader of the package uses): a file
``<case>.nii.gz`` or nnU-Net's ``<case>_0000.nii.gz`` gives ``<case>``; ``<case>_0001..`` are further channels
only when ``<case>_0000`` is in the same folder (such a case fails alone: the models take one CT channel);
otherwise the four digits are part of the id (``patient_2024.mha`` is case ``patient_2024``). A DICOM series
gives its hashed ``series_<12 hex>`` id (UIDs are never written to file names or logs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.io import (
    Geometry,
    case_and_channel,
    group_case_files,
    has_volume_ending,
    read_image,
    single_channel,
)

#: a CT in HU has air (about -1000) and soft tissue or contrast above 0; anything else is not CT in HU
CT_MIN_HU_BELOW = -300.0
CT_MAX_HU_ABOVE = 100.0


@dataclass(frozen=True)
class InputCase:
    """One case to predict: its id and where it comes from (a volume file, or a DICOM series object)."""

    case: str
    path: Path
    series: object | None = None  # conversion.dicom.DicomSeries for DICOM input
    channels: dict[int, Path] | None = None  # every channel file found for the case (load_input refuses > 1)

    @property
    def source(self) -> str:
        return f"DICOM series {self.case} in {self.path}" if self.series is not None else str(self.path)


def find_inputs(input_path: str | os.PathLike) -> list[InputCase]:
    """List the cases of ``input_path`` (a volume file, a folder of volumes, or a folder of DICOM files).

    Raises:
        DatasetFormatError: the path does not exist, holds neither volumes nor DICOM CT series, or two files
            give the same case id.
    """
    path = Path(input_path)
    if path.is_file():
        if not has_volume_ending(path):
            raise DatasetFormatError(
                f"input file {str(path)!r} is not a NIfTI/MHA/NRRD volume; give a DICOM series as its folder"
            )
        return [InputCase(case_and_channel(path.name)[0], path)]
    if not path.is_dir():
        raise DatasetFormatError(f"input {str(path)!r} does not exist")
    volumes = sorted(p for p in path.iterdir() if p.is_file() and has_volume_ending(p))
    if volumes:
        dicom = _dicom_files(path)
        if dicom:
            raise DatasetFormatError(
                f"input folder {str(path)!r} mixes {len(volumes)} NIfTI/MHA/NRRD volume(s) and {len(dicom)} "
                f"DICOM file(s) (e.g. {str(dicom[0].relative_to(path))!r}); give them in separate folders"
            )
        return [
            InputCase(case, channels[0], channels=channels)
            for case, channels in group_case_files(volumes).items()
        ]
    from nnunetv2_cta.conversion.dicom import scan_dicom_folder, select_series

    try:
        series = select_series(scan_dicom_folder(path), "all")
    except DatasetFormatError as err:
        raise DatasetFormatError(
            f"input folder {str(path)!r} holds no NIfTI/MHA/NRRD volume and no DICOM CT series ({err})"
        ) from err
    return [InputCase(s.series_id, path, s) for s in series]


def _dicom_files(folder: Path) -> list[Path]:
    """Files under ``folder`` that are DICOM (``.dcm`` name or the ``DICM`` marker at byte 128), sorted."""
    found = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.startswith(".") or has_volume_ending(p):
            continue
        if p.suffix.lower() == ".dcm":
            found.append(p)
            continue
        try:
            with open(p, "rb") as handle:
                head = handle.read(132)
        except OSError:
            continue
        if head[128:132] == b"DICM":
            found.append(p)
    return found


def load_input(case: InputCase, *, stored_integers: bool = False) -> tuple[np.ndarray, Geometry]:
    """Read a case as a ``[z, y, x]`` float32 HU volume and check that it looks like CT in HU.

    Args:
        case: the case.
        stored_integers: return a volume stored as integers of up to 16 bits (CT's usual int16) as stored: each
            of its values is exact in float32, it takes half the memory and skips a conversion (1.5 s for a
            700x512x512 CTA on 2 cores); any other type is converted to float32 as usual.

    Raises:
        DatasetFormatError: unreadable, not 3D, or not CT in HU (no air below -300 HU or nothing above
            100 HU, e.g. an MR image or a 0..1 normalised volume).
    """
    if case.channels is not None:
        single_channel(case.case, case.channels)
    if case.series is not None:
        from nnunetv2_cta.conversion.dicom import read_dicom_series

        array, geometry, _ = read_dicom_series(case.series)
    else:
        array, geometry = read_image(case.path)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):  # integers always are
        raise DatasetFormatError(
            f"case {case.case!r} ({case.source}): the image holds NaN or infinite values"
        )
    lo, hi = float(array.min()), float(array.max())  # on the stored type (int16: half the bytes of float32)
    if not (stored_integers and np.issubdtype(array.dtype, np.integer) and array.dtype.itemsize <= 2):
        array = np.asarray(array, dtype=np.float32)
    if lo > CT_MIN_HU_BELOW or hi < CT_MAX_HU_ABOVE:
        raise DatasetFormatError(
            f"case {case.case!r} ({case.source}) does not look like CT in HU: values {lo:.1f}..{hi:.1f}, "
            f"expected air below {CT_MIN_HU_BELOW:.0f} HU and tissue or contrast above {CT_MAX_HU_ABOVE:.0f} HU"
        )
    return array, geometry
