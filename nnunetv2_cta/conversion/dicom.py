"""DICOM series -> NIfTI volumes in Hounsfield units, with a JSON sidecar of acquisition tags.

What happens to a folder (searched recursively):

1. **Grouping.** Every readable DICOM image file is grouped by ``SeriesInstanceUID`` and, inside one
   series, by orientation (``ImageOrientationPatient``) and matrix size, so a localizer or a reformat that
   shares the UID becomes its own sub-series. Files without a SeriesInstanceUID (seen in anonymised
   exports) are grouped by ``StudyInstanceUID``/``SeriesNumber``/``FrameOfReferenceUID`` instead, with a
   warning. Localizers (``ImageType`` contains ``LOCALIZER``) and multi-frame objects are left out with
   a reason.
2. **Sorting.** Slices are sorted by their position along the slice normal ``n = row x col`` (the
   cross product of the two ``ImageOrientationPatient`` direction cosines): ``s = ImagePositionPatient . n``.
   Two slices at the same position are the same file copied twice (same ``SOPInstanceUID``, dropped) or an
   error (several phases or acquisitions mixed in one series).
3. **HU.** ``HU = stored value * RescaleSlope + RescaleIntercept``, per slice; decoded by pydicom with the
   pylibjpeg plugins (JPEG-2000 and JPEG lossless transfer syntaxes).
4. **Gantry tilt.** A tilted acquisition stacks slices along a direction that is not the slice normal:
   consecutive ``ImagePositionPatient`` differ also *within* the slice plane. ITK and NIfTI readers
   require an orthonormal direction matrix, so a sheared grid cannot be written for nnU-Net (SimpleITK's
   own ``ImageSeriesReader`` ignores the shear: it keeps the first slice's origin, the slice normal as
   third axis and the distance between slice *origins* as spacing, which misplaces every slice but the
   first by up to ``(n-1) * step * sin(tilt)`` in-plane and stretches the stack by ``1 / cos(tilt)``).
   We therefore resample onto an orthogonal grid in the *slice* frame, as dcm2niix does (Li et al.,
   J Neurosci Methods 2016, dcm2niix): each slice is shifted in-plane by its own offset (linear
   interpolation within the slice only, no interpolation across slices); the matrix is enlarged so no
   acquired pixel is cut off; the first slice keeps its exact pixel values (its shift is a whole number of
   pixels). The output direction is the tilted slice frame (row, col, normal), which nnU-Net reads as
   an ordinary oblique orientation.
5. **Slice spacing.** The usual spacing is the most common gap between sorted slices (ties: the
   smaller). A gap larger than 1.5x that, whose neighbours are not as large as it (so it is not a section
   of the series reconstructed at another spacing), is reported as **missing slices**: an error by
   default, interpolated with ``allow_gaps=True``. Any other unevenness (GE head protocols reconstruct
   the posterior fossa and the cerebrum at different thicknesses) is either an error
   (``uneven="error"``) or, by default, resampled with linear interpolation along the normal onto a
   uniform grid whose spacing is the usual one, adjusted so the first and last slices keep their exact
   positions (the physical extent is preserved exactly). Both are recorded in the sidecar.

Privacy: output names are ``series_<12 hex>`` from a SHA-256 of the series key; patient names, ids,
dates, institution and free-text descriptions are never written to file names, the sidecar or the log.
Errors name series by that hash, not by file path.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from nnunetv2_cta.conversion.common import ConversionSummary, compact_ct_dtype
from nnunetv2_cta.conversion.dicom_grid import GAP_FACTOR as GAP_FACTOR  # re-exported
from nnunetv2_cta.conversion.dicom_grid import SPACING_ATOL_MM as SPACING_ATOL_MM  # re-exported
from nnunetv2_cta.conversion.dicom_grid import SpacingReport as SpacingReport  # re-exported
from nnunetv2_cta.conversion.dicom_grid import (
    analyse_spacing,
    check_slice_spacing,
    uniform_along_normal,
    untilted_stack,
)
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, OutputExistsError
from nnunetv2_cta.io import Geometry, check_output_folder, write_image, write_json_atomic

logger = logging.getLogger(__name__)

#: Tags copied into the JSON sidecar (acquisition and reconstruction; no identifiers, dates or free text).
SIDECAR_TAGS: tuple[str, ...] = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "ImageType",
    "BodyPartExamined",
    "PatientPosition",
    "KVP",
    "XRayTubeCurrent",
    "ExposureTime",
    "Exposure",
    "CTDIvol",
    "ConvolutionKernel",
    "FilterType",
    "SliceThickness",
    "SpacingBetweenSlices",
    "PixelSpacing",
    "ReconstructionDiameter",
    "GantryDetectorTilt",
    "SpiralPitchFactor",
    "SingleCollimationWidth",
    "TotalCollimationWidth",
    "ContrastBolusAgent",
    "ContrastBolusVolume",
    "RescaleType",
)

#: In-plane offset (pixels, over the whole stack) below which a series counts as untilted.
SHEAR_TOL_PX = 0.05


@dataclass
class DicomSlice:
    path: Path
    header: object  # pydicom Dataset without pixel data
    position: np.ndarray  # ImagePositionPatient (x, y, z) mm


@dataclass
class DicomSeries:
    """One series (one orientation and matrix) found in a folder.

    Attributes:
        series_id: ``series_<12 hex>``, a hash of the series key (safe to print and to use as a name).
        key: the grouping key (contains UIDs: never log it).
        modality: DICOM Modality.
        slices: the slices, unsorted.
        excluded: reasons files of this series were left out (localizer, multi-frame).
    """

    series_id: str
    key: tuple
    modality: str
    slices: list[DicomSlice] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    @property
    def num_slices(self) -> int:
        return len(self.slices)

    def slice_spacing_mm(self) -> float:
        """Median gap between sorted slice positions along the normal (mm); inf for one slice."""
        if len(self.slices) < 2:
            return math.inf
        _, normal = _orientation(self.slices[0].header)
        s = np.sort([float(sl.position @ normal) for sl in self.slices])
        return float(np.median(np.diff(s)))


def _hash(key: tuple) -> str:
    return "series_" + hashlib.sha256(repr(key).encode()).hexdigest()[:12]


def _orientation(header) -> tuple[np.ndarray, np.ndarray]:
    iop = np.asarray([float(v) for v in header.ImageOrientationPatient], dtype=np.float64)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    if norm < 1e-6:
        raise DatasetFormatError(f"ImageOrientationPatient {tuple(iop)} has parallel row and column vectors")
    return np.stack([row / np.linalg.norm(row), col / np.linalg.norm(col)]), normal / norm


def _read_header(path: Path):
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # not DICOM or unreadable: pydicom raises many types
        return None
    if "SOPClassUID" not in ds and "ImagePositionPatient" not in ds:
        return None
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        # files without meta header: pydicom needs a transfer syntax; implicit little endian is the default
        import pydicom.uid

        ds.file_meta = getattr(ds, "file_meta", pydicom.dataset.FileMetaDataset())
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    return ds


def scan_dicom_folder(folder: str | os.PathLike, *, progress: bool = False) -> list[DicomSeries]:
    """Find the DICOM image series under ``folder`` (recursively).

    Returns:
        Series sorted by number of slices (largest first), each with its hashed ``series_id``.

    Raises:
        DatasetFormatError: ``folder`` does not exist or holds no DICOM image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(f"DICOM input folder does not exist: {str(folder)!r}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc="read DICOM headers", unit="file")
    groups: dict[tuple, DicomSeries] = {}
    excluded: dict[tuple, list[str]] = defaultdict(list)
    no_uid = 0
    for path in files:
        ds = _read_header(path)
        if ds is None:
            continue
        if "Rows" not in ds or "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            continue  # not a volume slice (DICOMDIR, SR, presentation state, ...)
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if uid:
            base = (uid,)
        else:
            no_uid += 1
            base = (
                "no-series-uid",
                str(ds.get("StudyInstanceUID", "") or ""),
                str(ds.get("SeriesNumber", "") or ""),
                str(ds.get("FrameOfReferenceUID", "") or ""),
            )
        iop = tuple(round(float(v), 3) for v in ds.ImageOrientationPatient)
        key = (*base, iop, int(ds.Rows), int(ds.Columns))
        image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
        if "LOCALIZER" in image_type:
            excluded[key].append("localizer image")
            continue
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            excluded[key].append("multi-frame (enhanced) DICOM object: not supported, export single frames")
            continue
        if key not in groups:
            groups[key] = DicomSeries(
                series_id=_hash(key), key=key, modality=str(ds.get("Modality", "") or "")
            )
        groups[key].slices.append(
            DicomSlice(path=path, header=ds, position=np.asarray([float(v) for v in ds.ImagePositionPatient]))
        )
    if no_uid:
        logger.warning(
            "%d file(s) have no SeriesInstanceUID; grouped by study, series number and frame of reference",
            no_uid,
        )
    for key, reasons in excluded.items():
        if key in groups:
            groups[key].excluded.extend(reasons)
        logger.info("left out %d file(s) of %s: %s", len(reasons), _hash(key), sorted(set(reasons)))
    if not groups:
        raise DatasetFormatError(f"no DICOM image series found under {str(folder)!r}")
    series = sorted(groups.values(), key=lambda s: (-s.num_slices, s.series_id))
    for s in series:
        logger.info("found %s: modality %s, %d slice(s)", s.series_id, s.modality or "?", s.num_slices)
    return series


def select_series(
    series: Sequence[DicomSeries], select: str = "all", *, modalities: Sequence[str] = ("CT",)
) -> list[DicomSeries]:
    """Choose series by rule or identity.

    Args:
        select: ``"all"`` (every series of an accepted modality), ``"largest"`` (most slices),
            ``"thinnest"`` (smallest slice spacing, ties: most slices), a ``series_<hash>`` id, or a
            SeriesInstanceUID.
        modalities: accepted DICOM Modality values.

    Raises:
        DatasetFormatError: nothing matches (the message lists the available series ids).
    """
    modalities = tuple(m.upper() for m in modalities)
    accepted = [s for s in series if s.modality.upper() in modalities]
    available = ", ".join(f"{s.series_id} ({s.modality or '?'}, {s.num_slices} slices)" for s in series)
    if select in ("all", "largest", "thinnest"):
        if not accepted:
            raise DatasetFormatError(
                f"no series of modality {list(modalities)} found; available: {available}"
            )
        if select == "all":
            return list(accepted)
        if select == "largest":
            return [max(accepted, key=lambda s: (s.num_slices, s.series_id))]
        return [min(accepted, key=lambda s: (s.slice_spacing_mm(), -s.num_slices, s.series_id))]
    chosen = [s for s in series if s.series_id == select or (s.key and s.key[0] == select)]
    if not chosen:
        raise DatasetFormatError(
            f"select must be 'all', 'largest', 'thinnest', a series id or a SeriesInstanceUID; "
            f"nothing matches {select!r}; available: {available}"
        )
    for s in chosen:
        if s.modality.upper() not in modalities:
            raise DatasetFormatError(
                f"{s.series_id} has modality {s.modality!r}; expected one of {list(modalities)}"
            )
    return chosen


def _decode_hu(sl: DicomSlice, series_id: str, index: int) -> np.ndarray:
    import pydicom

    try:
        ds = pydicom.dcmread(str(sl.path), force=True)
        if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta = sl.header.file_meta
        pixels = ds.pixel_array
    except Exception as err:
        syntax = getattr(getattr(sl.header, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax))
        raise DatasetFormatError(
            f"{series_id}: slice {index} could not be decoded (transfer syntax {name}): {err}. "
            "JPEG-2000 and JPEG lossless need pylibjpeg with pylibjpeg-openjpeg / pylibjpeg-libjpeg"
        ) from err
    if pixels.ndim != 2:
        raise DatasetFormatError(
            f"{series_id}: slice {index} has pixel array shape {pixels.shape}, expected 2D"
        )
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def read_dicom_series(
    series: DicomSeries,
    *,
    uneven: Literal["resample", "error"] = "resample",
    allow_gaps: bool = False,
) -> tuple[np.ndarray, Geometry, dict]:
    """Read one series as a ``[z, y, x]`` HU volume on an orthogonal grid, with its sidecar dict.

    Args:
        series: from :func:`scan_dicom_folder`.
        uneven: what to do with uneven slice spacing: resample linearly to a uniform grid, or raise.
        allow_gaps: interpolate across missing slices instead of raising.

    Returns:
        ``(volume, geometry, sidecar)``: volume float32 HU (int16 when integral), geometry with z along
        the slice normal, sidecar of acquisition tags and of every correction applied.

    Raises:
        DatasetFormatError: one slice only, duplicate positions, inconsistent pixel spacing, missing
            slices (without ``allow_gaps``), undecodable pixels.
        SpacingError: uneven spacing with ``uneven="error"``.
    """
    if uneven not in ("resample", "error"):
        raise ConfigurationError(f"uneven must be 'resample' or 'error', got {uneven!r}")
    sid = series.series_id
    if series.num_slices < 2:
        raise DatasetFormatError(f"{sid}: a single slice is not a volume (2D image); need at least 2 slices")
    first = series.slices[0].header
    (row, col), normal = _orientation(first)
    dy, dx = _pixel_spacing(series, first)
    slices = _distinct_slices(series, normal)
    p0 = slices[0].position
    offsets = np.stack([sl.position - p0 for sl in slices])
    s = offsets @ normal
    u_px = (offsets @ row) / dx  # in-plane offset along the column index (x)
    v_px = (offsets @ col) / dy  # along the row index (y)
    tilted = bool(max(np.abs(u_px).max(), np.abs(v_px).max()) > SHEAR_TOL_PX)
    stack = offsets[-1]
    tilt_deg = math.degrees(math.atan2(math.hypot(stack @ row, stack @ col), stack @ normal))
    report = analyse_spacing(s)
    check_slice_spacing(report, sid, uneven=uneven, allow_gaps=allow_gaps)
    hu = [_decode_hu(sl, sid, i) for i, sl in enumerate(slices)]
    stackarr, (a_lo, b_lo) = untilted_stack(hu, u_px, v_px, tilted)
    del hu
    volume, dz = uniform_along_normal(stackarr, s, report, sid)
    if tilted:
        logger.warning(
            "%s: gantry tilt %.2f degrees corrected by in-plane shift of each slice", sid, tilt_deg
        )
    origin = p0 + a_lo * dx * row + b_lo * dy * col
    direction = np.stack([row, col, normal], axis=1)  # columns: x, y, z index axes
    geometry = Geometry(spacing=(dz, dy, dx), origin=tuple(origin), direction=tuple(direction.ravel()))
    volume = compact_ct_dtype(volume)
    sidecar = _sidecar(
        series, first, slices, report, tilted, tilt_deg, volume, geometry, uneven_resampled=not report.uniform
    )
    return volume, geometry, sidecar


def _pixel_spacing(series: DicomSeries, first) -> tuple[float, float]:
    """``PixelSpacing`` ``(dy, dx)`` in mm of the series; :class:`DatasetFormatError` when it varies."""
    spacing_yx = [float(v) for v in first.PixelSpacing]
    for sl in series.slices:
        other = [float(v) for v in sl.header.PixelSpacing]
        if not np.allclose(other, spacing_yx, atol=1e-4):
            raise DatasetFormatError(
                f"{series.series_id}: PixelSpacing varies within the series ({spacing_yx} vs {other})"
            )
    dy, dx = spacing_yx
    return dy, dx


def _distinct_slices(series: DicomSeries, normal: np.ndarray) -> list[DicomSlice]:
    """The slices sorted along the normal, exact copies dropped (same SOPInstanceUID), other duplicates refused."""
    sid = series.series_id
    order = sorted(series.slices, key=lambda sl: float(sl.position @ normal))
    slices: list[DicomSlice] = []
    for sl in order:
        if slices and abs(float((sl.position - slices[-1].position) @ normal)) < 0.01:
            same_sop = str(sl.header.get("SOPInstanceUID", "a")) == str(
                slices[-1].header.get("SOPInstanceUID", "b")
            )
            if same_sop:
                logger.info("%s: dropped a second copy of slice %d", sid, len(slices) - 1)
                continue
            raise DatasetFormatError(
                f"{sid}: duplicate slices at position {float(sl.position @ normal):.2f} mm along the normal "
                "(several phases or acquisitions in one series?)"
            )
        slices.append(sl)
    if len(slices) < 2:
        raise DatasetFormatError(f"{sid}: a single distinct slice is not a volume (2D image)")
    return slices


def _tag_value(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return None
    if hasattr(value, "__iter__") and not isinstance(value, str):
        return [_tag_value(v) for v in value]
    for cast in (int, float):
        try:
            as_num = cast(value)
            if str(as_num) == str(value).strip() or cast is float:
                return as_num
        except (TypeError, ValueError):
            continue
    return str(value)


def _sidecar(series, first, slices, report, tilted, tilt_deg, volume, geometry, *, uneven_resampled) -> dict:
    tags = {}
    for name in SIDECAR_TAGS:
        if name in first and first.get(name) not in (None, ""):
            tags[name] = _tag_value(first.get(name))
    syntax = getattr(getattr(first, "file_meta", None), "TransferSyntaxUID", None)
    return {
        "series_id": series.series_id,
        "tags": tags,
        "transfer_syntax": getattr(syntax, "name", None),
        "num_dicom_slices": len(slices),
        "shape_zyx": list(volume.shape),
        "spacing_zyx_mm": list(geometry.spacing),
        "origin_xyz_mm": list(geometry.origin),
        "direction": list(geometry.direction),
        "hu_range": [float(volume.min()), float(volume.max())],
        "gantry_tilt": {
            "corrected": tilted,
            "measured_deg": round(tilt_deg, 3),
            "method": "in-plane shift per slice onto an enlarged orthogonal grid (slice frame)"
            if tilted
            else None,
        },
        "slice_spacing": {
            "usual_mm": round(report.usual_mm, 4),
            "distinct_gaps_mm": report.distinct_mm,
            "uniform": report.uniform,
            "resampled": uneven_resampled,
            "missing_slices": report.missing,
        },
        "excluded_files": sorted(set(series.excluded)),
    }


def convert_dicom(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    select: str = "all",
    modalities: Sequence[str] = ("CT",),
    uneven: Literal["resample", "error"] = "resample",
    allow_gaps: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> ConversionSummary:
    """Convert the chosen DICOM series under ``input_dir`` to ``<output_dir>/series_<hash>.nii.gz`` + ``.json``.

    With ``select="all"`` a series that fails (missing slices, undecodable) is skipped with its reason; a
    series chosen explicitly raises instead.

    Raises:
        OutputExistsError: an output file exists and ``overwrite`` is false.
        DatasetFormatError / SpacingError: see :func:`read_dicom_series` and :func:`select_series`.
    """
    from nnunetv2_cta.conversion.common import CaseSkip
    from nnunetv2_cta.errors import CTAError

    output_dir = check_output_folder(output_dir)
    found = scan_dicom_folder(input_dir, progress=progress)
    chosen = select_series(found, select, modalities=modalities)
    summary = ConversionSummary(output=output_dir)
    for s in found:
        if s not in chosen and select == "all":
            summary.skipped.append(
                CaseSkip(s.series_id, f"modality {s.modality or '?'} not in {list(modalities)}")
            )
    for s in chosen:
        target = output_dir / f"{s.series_id}.nii.gz"
        if (target.exists() or target.with_name(f"{s.series_id}.json").exists()) and not overwrite:
            raise OutputExistsError(f"{str(target)!r} exists; pass overwrite (--overwrite) to replace it")
    for s in chosen:  # the output folder is made by the first write: a failed run leaves none behind
        try:
            volume, geometry, sidecar = read_dicom_series(s, uneven=uneven, allow_gaps=allow_gaps)
        except CTAError as err:
            if select != "all":
                raise
            summary.skipped.append(CaseSkip(s.series_id, str(err)))
            logger.warning("skipped %s: %s", s.series_id, err)
            continue
        write_image(output_dir / f"{s.series_id}.nii.gz", volume, geometry)
        write_json_atomic(output_dir / f"{s.series_id}.json", sidecar)
        summary.written.append(s.series_id)
        summary.notes[s.series_id] = {
            "shape_zyx": sidecar["shape_zyx"],
            "spacing_zyx_mm": sidecar["spacing_zyx_mm"],
        }
        logger.info("wrote %s: shape %s, spacing %s mm", s.series_id, volume.shape, geometry.spacing)
    if not summary.written:
        reasons = "; ".join(f"{k.case}: {k.reason}" for k in summary.skipped)
        raise DatasetFormatError(f"no DICOM series converted ({reasons})")
    return summary
