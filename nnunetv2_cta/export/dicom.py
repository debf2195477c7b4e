"""DICOM out for PACS: a predict output case written back against the DICOM series it came from.

From the source CT series (a folder of single-frame slices, read exactly as ``convert dicom`` reads it) and
one case of a ``predict`` output folder, :func:`export_dicom` writes three new series into one folder:

- ``seg.dcm``: a DICOM Segmentation (highdicom, binary, one segment per label of
  :mod:`nnunetv2_cta.labels` that the map contains) whose frames reference the source slices;
- ``bone_free/*.dcm``: the bone-free CTA as a derived CT series on the source slices' geometry (same
  positions, orientation, pixel spacing and frame of reference; ``ImageType DERIVED\\SECONDARY\\AXIAL``;
  each slice's Source Image Sequence points at its source slice);
- ``images/*.dcm``: every reconstruction PNG (MIP, VR, CPR) as a Secondary Capture image (highdicom).

Identity: every series, instance and the segmentation get new UIDs. What is copied from the source is what
the references and filing in the same study need and nothing more: patient name and id, Study Instance UID,
study id, accession number, study date and time, Frame of Reference UID and the referenced SOP Instance UIDs.
Birth date, sex, age, referring physician, institution and every other source tag are left empty or out.

The label map and the bone-free CTA must lie on the source series' grid (what ``convert dicom`` gives for an
untilted, evenly spaced series); anything else is refused with the mismatch named: a resampled grid has no
one-to-one source slices to reference.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError, GeometryError, OutputExistsError

logger = logging.getLogger(__name__)

MANUFACTURER = "nnunetv2_cta"
#: Series numbers of the written series (the source's own numbers are usually small).
SERIES_NUMBERS = {"seg": 9001, "bone_free": 9002, "images": 9003}
#: Patient/study tags copied from the source (the references and same-study filing need them).
COPIED_TAGS = (
    "PatientName", "PatientID", "StudyInstanceUID", "StudyID", "AccessionNumber", "StudyDate", "StudyTime",
)  # fmt: skip
#: Tags that highdicom copies from the source but that nothing here needs: written empty.
BLANKED_TAGS = ("PatientBirthDate", "PatientSex", "PatientAge", "ReferringPhysicianName")


@dataclass(frozen=True)
class PredictCase:
    """The files of one case of a ``predict`` output folder."""

    case: str
    labels: Path
    bone_free: Path | None
    images: dict[str, Path]


def find_predict_case(predictions: str | os.PathLike, case: str | None = None) -> PredictCase:
    """Locate one case of a ``predict`` output folder from its ``cases/<case>/record.json``.

    Args:
        predictions: the ``-o`` folder of ``nnunetv2_cta predict``.
        case: the case id; may be omitted when the folder holds exactly one case.

    Raises:
        DatasetFormatError: no such folder or case, several cases and none chosen, a record without a
            label map, a listed file that does not exist.
    """
    root = Path(predictions)
    cases_dir = root / "cases"
    if not cases_dir.is_dir():
        raise DatasetFormatError(
            f"{str(root)!r} is not a predict output folder (no 'cases' folder); give the -o folder of "
            "nnunetv2_cta predict"
        )
    done = sorted(p.parent.name for p in cases_dir.glob("*/record.json"))
    if case is None:
        if len(done) != 1:
            raise DatasetFormatError(
                f"{str(root)!r} holds {len(done)} finished case(s) {done[:10]}; choose one with --case"
            )
        case = done[0]
    if case not in done:
        raise DatasetFormatError(
            f"case {case!r} is not a finished case of {str(root)!r}; there are {done[:10]}"
        )
    case_dir = cases_dir / case
    record = json.loads((case_dir / "record.json").read_text())
    outputs = record.get("outputs") or {}
    if not outputs.get("labels"):
        raise DatasetFormatError(f"case {case!r}: record.json lists no label map under 'outputs'")

    def resolve(rel: str, what: str) -> Path:
        path = (case_dir / rel).resolve()
        if not path.is_file():
            raise DatasetFormatError(
                f"case {case!r}: the {what} {str(path)!r} listed in record.json is missing"
            )
        return path

    return PredictCase(
        case=case,
        labels=resolve(outputs["labels"], "label map"),
        bone_free=resolve(outputs["bone_free"], "bone-free CTA") if outputs.get("bone_free") else None,
        images={name: resolve(rel, f"image {name!r}") for name, rel in (outputs.get("images") or {}).items()},
    )


def _source_series(source: Path):
    """The CT series of ``source`` (volume, geometry, slice datasets in volume order)."""
    import pydicom

    from nnunetv2_cta.conversion.dicom import read_dicom_series, scan_dicom_folder, select_series
    from nnunetv2_cta.io import has_volume_ending

    if source.is_file() and has_volume_ending(source.name):
        raise DatasetFormatError(
            f"source {str(source)!r} is a NIfTI/MHA image, not a DICOM series: a DICOM-SEG and derived series "
            "must reference the original slices; give the folder of the DICOM series the case came from"
        )
    if not source.is_dir():
        raise DatasetFormatError(f"source {str(source)!r} is not a folder of DICOM files")
    volumes = sorted(p.name for p in source.iterdir() if has_volume_ending(p.name))
    try:
        series = scan_dicom_folder(source)
    except DatasetFormatError as err:
        if not volumes:
            raise
        raise DatasetFormatError(
            f"source {str(source)!r} contains no DICOM series (it holds NIfTI/MHA images {volumes[:3]}: "
            "no series to reference); give the folder of the DICOM series the case came from"
        ) from err
    chosen = select_series(series, "all")
    if len(chosen) != 1:
        raise DatasetFormatError(
            f"source {str(source)!r} holds {len(chosen)} CT series; give a folder with exactly one"
        )
    (s,) = chosen
    volume, geometry, _ = read_dicom_series(s, uneven="error")
    normal = np.asarray(geometry.direction, dtype=float).reshape(3, 3)[:, 2]
    ordered = sorted(s.slices, key=lambda sl: float(sl.position @ normal))
    if len(ordered) != volume.shape[0]:
        raise GeometryError(
            f"source series has {len(ordered)} slices but reads as {volume.shape[0]} (gaps or duplicates); "
            "cannot reference slices one to one"
        )
    datasets = [pydicom.dcmread(str(sl.path)) for sl in ordered]
    for ds in datasets:  # type-2 patient/study tags that some writers leave out: present and empty
        for tag in (*COPIED_TAGS, *BLANKED_TAGS):
            if tag not in ds:
                setattr(ds, tag, "")
    return volume, geometry, datasets


def _check_grid(what: str, array: np.ndarray, geometry, src_shape, src_geometry) -> None:
    if array.shape != tuple(src_shape):
        raise GeometryError(
            f"{what} has shape {array.shape} but the source series is {tuple(src_shape)} (z, y, x); it must "
            "be on the source grid (a tilted or unevenly spaced series is resampled by convert and cannot be "
            "referenced slice by slice)"
        )
    diff = src_geometry.mismatch(geometry)
    if diff is not None:
        raise GeometryError(f"{what}: {diff} (source series); it must be on the source series' grid")


def _blank(ds) -> None:
    for tag in BLANKED_TAGS:
        if tag in ds:
            setattr(ds, tag, "")


def _segment_descriptions(values: list[int]):
    from highdicom.content import AlgorithmIdentificationSequence
    from highdicom.seg import SegmentAlgorithmTypeValues, SegmentDescription
    from pydicom.sr.codedict import codes

    from nnunetv2_cta import __version__
    from nnunetv2_cta.labels import LABEL_NAMES

    algorithm = AlgorithmIdentificationSequence(
        name=MANUFACTURER, version=__version__, family=codes.cid7162.ArtificialIntelligence
    )
    prop_type = {
        1: codes.SCT.Bone,
        2: codes.SCT.Aorta,
        3: codes.SCT.CarotidArtery,
        4: codes.SCT.CerebralArtery,
    }
    return [
        SegmentDescription(
            segment_number=number,
            segment_label=LABEL_NAMES[value],
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=prop_type[value],
            algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, value in enumerate(values, start=1)
    ]


def _write_seg(path: Path, labels: np.ndarray, sources: list) -> dict:
    from highdicom.seg import Segmentation, SegmentationTypeValues
    from pydicom.uid import generate_uid

    from nnunetv2_cta import __version__
    from nnunetv2_cta.labels import LABEL_NAMES

    values = [int(v) for v in np.unique(labels) if v != 0]
    unknown = [v for v in values if v not in LABEL_NAMES]
    if unknown:
        raise DatasetFormatError(f"label map has values {unknown} outside the scheme {sorted(LABEL_NAMES)}")
    if not values:
        raise DatasetFormatError(
            "label map is empty (no foreground label): there is nothing to export as a SEG"
        )
    # segment numbers 1..n in label order; frames follow the source slices
    numbered = np.zeros(labels.shape, np.uint8)
    for number, value in enumerate(values, start=1):
        numbered[labels == value] = number
    seg = Segmentation(
        source_images=sources,
        pixel_array=numbered,
        segmentation_type=SegmentationTypeValues.BINARY,
        segment_descriptions=_segment_descriptions(values),
        series_instance_uid=generate_uid(),
        series_number=SERIES_NUMBERS["seg"],
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        device_serial_number="none",
        series_description="Vessel and bone segmentation (nnunetv2_cta)",
    )
    _blank(seg)
    seg.save_as(str(path))
    return {"path": str(path), "segments": {LABEL_NAMES[v]: i for i, v in enumerate(values, start=1)}}


def _write_bone_free(folder: Path, volume: np.ndarray, sources: list) -> list[str]:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    from nnunetv2_cta import __version__

    series_uid = generate_uid()
    hu = np.clip(np.rint(volume), -32768, 32767).astype(np.int16)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, src in enumerate(sources):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        for tag in COPIED_TAGS:
            setattr(ds, tag, getattr(src, tag, ""))
        for tag in BLANKED_TAGS[:2]:  # type 2 of the patient module: present, empty
            setattr(ds, tag, "")
        ds.ReferringPhysicianName = ""
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = SERIES_NUMBERS["bone_free"]
        ds.SeriesDescription = "Bone-free CTA (nnunetv2_cta)"
        ds.InstanceNumber = k + 1
        ds.Modality = "CT"
        ds.Manufacturer = MANUFACTURER
        ds.SoftwareVersions = __version__
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.DerivationDescription = "bone voxels of the nnunetv2_cta label map replaced by soft-tissue HU"
        ds.FrameOfReferenceUID = src.FrameOfReferenceUID if "FrameOfReferenceUID" in src else generate_uid()
        ds.PositionReferenceIndicator = ""
        for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
            if tag in src:
                setattr(ds, tag, getattr(src, tag))
        ref = Dataset()
        ref.ReferencedSOPClassUID = src.SOPClassUID
        ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
        ds.SourceImageSequence = [ref]
        ds.Rows, ds.Columns = hu.shape[1:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "0", "HU"
        ds.WindowCenter, ds.WindowWidth = "300", "800"
        ds.PixelData = np.ascontiguousarray(hu[k]).tobytes()
        path = folder / f"{k + 1:04d}.dcm"
        ds.save_as(str(path), enforce_file_format=True)
        written.append(str(path))
    return written


def _write_secondary_captures(folder: Path, images: dict[str, Path], reference) -> list[str]:
    from highdicom.sc import SCImage
    from matplotlib import image as mpimg
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    written = []
    for k, (name, png) in enumerate(sorted(images.items()), start=1):
        rgba = mpimg.imread(str(png))
        if rgba.dtype.kind == "f":
            rgba = np.rint(np.clip(rgba, 0, 1) * 255)
        rgb = (
            rgba[..., :3].astype(np.uint8)
            if rgba.ndim == 3
            else np.repeat(rgba[..., None], 3, -1).astype(np.uint8)
        )
        sc = SCImage(
            pixel_array=np.ascontiguousarray(rgb),
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            study_instance_uid=reference.StudyInstanceUID,
            series_instance_uid=series_uid,
            series_number=SERIES_NUMBERS["images"],
            sop_instance_uid=generate_uid(),
            instance_number=k,
            manufacturer=MANUFACTURER,
            patient_id=getattr(reference, "PatientID", None),
            patient_name=getattr(reference, "PatientName", None),
            accession_number=getattr(reference, "AccessionNumber", None),
            study_id=getattr(reference, "StudyID", None),
            study_date=getattr(reference, "StudyDate", None) or None,
            study_time=getattr(reference, "StudyTime", None) or None,
            patient_orientation=("L", "F"),
            series_description="Reconstructions (nnunetv2_cta)",
        )
        sc.DerivationDescription = f"nnunetv2_cta reconstruction {name}"
        sc.ImageComments = name
        path = folder / f"{k:04d}_{name}.dcm"
        sc.save_as(str(path))
        written.append(str(path))
    return written


def export_dicom(
    source: str | os.PathLike,
    predictions: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    case: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Write the DICOM-SEG, the bone-free derived CT series and the secondary captures of one predict case.

    Args:
        source: folder of the DICOM CT series the case was predicted from (one series).
        predictions: the ``predict`` output folder (its ``cases/<case>/record.json`` lists the files).
        out_dir: folder to create with ``seg.dcm``, ``bone_free/`` and ``images/`` (layout in the module
            docstring); written to a temporary sibling and renamed at the end, so a failure leaves nothing.
        case: the case id (optional when ``predictions`` holds one case).
        overwrite: replace an existing ``out_dir``.

    Returns:
        ``{"case", "seg": {"path", "segments"}, "bone_free": [paths], "images": [paths]}``.

    Raises:
        DatasetFormatError: a NIfTI/MHA source or no DICOM series, a missing predict case or file, an empty
            label map or one with values outside the scheme.
        GeometryError: label map or bone-free CTA not on the source series' grid.
        OutputExistsError: ``out_dir`` exists and ``overwrite`` is false.
    """
    from nnunetv2_cta.io import read_image

    source, out_dir = Path(source), Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise OutputExistsError(f"{str(out_dir)!r} exists; pass --overwrite to replace it")
    found = find_predict_case(predictions, case)
    volume, src_geometry, sources = _source_series(source)
    labels, lab_geometry = read_image(found.labels)
    _check_grid(f"label map {found.labels.name!r}", labels, lab_geometry, volume.shape, src_geometry)
    bone_free = None
    if found.bone_free is not None:
        bone_free, bf_geometry = read_image(found.bone_free)
        _check_grid(
            f"bone-free CTA {found.bone_free.name!r}", bone_free, bf_geometry, volume.shape, src_geometry
        )

    from nnunetv2_cta.io import atomic_folder

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out_dir, replace=overwrite) as tmp:
        result = {"case": found.case, "seg": _write_seg(tmp / "seg.dcm", labels, sources)}
        result["bone_free"] = (
            _write_bone_free(tmp / "bone_free", bone_free, sources) if bone_free is not None else []
        )
        result["images"] = _write_secondary_captures(tmp / "images", found.images, sources[0])

    def moved(p: str) -> str:
        return str(out_dir / Path(p).relative_to(tmp))

    result["seg"]["path"] = moved(result["seg"]["path"])
    result["bone_free"] = [moved(p) for p in result["bone_free"]]
    result["images"] = [moved(p) for p in result["images"]]
    logger.info(
        "case %s: DICOM-SEG, %d bone-free slices, %d secondary captures -> %s",
        found.case, len(result["bone_free"]), len(result["images"]), out_dir,
    )  # fmt: skip
    return result
