"""Helpers for the conversion tests: synthetic DICOM slices, small volumes, nnU-Net's integrity check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.io import Geometry, write_image

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-998877"


def write_dicom_slice(
    path: Path,
    pixels: np.ndarray,
    *,
    position: tuple[float, float, float],
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    spacing: tuple[float, float] = (0.5, 0.5),
    series_uid: str = "1.2.826.0.1.3680043.9.7777.1",
    sop_uid: str | None = None,
    modality: str = "CT",
    slope: float = 1.0,
    intercept: float = -1024.0,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    instance: int = 1,
) -> Path:
    """Write one uncompressed 16-bit DICOM slice with a (fake) patient name and id."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.9.7777.0"
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.Modality = modality
    ds.Manufacturer = "TestVendor"
    ds.KVP = 120
    ds.ConvolutionKernel = "STANDARD"
    ds.ImageType = list(image_type)
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
    ds.PixelSpacing = [f"{v}" for v in spacing]
    ds.SliceThickness = 1.0
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = f"{slope}"
    ds.RescaleIntercept = f"{intercept}"
    ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint16)).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def write_dicom_series(folder: Path, volume: np.ndarray, positions, **kwargs) -> list[Path]:
    """One slice file per ``volume[k]`` at ``positions[k]`` (files written in reverse order on purpose)."""
    paths = []
    for k in reversed(range(len(volume))):
        paths.append(
            write_dicom_slice(
                folder / f"im{k:03d}.dcm", volume[k], position=positions[k], instance=k + 1, **kwargs
            )
        )
    return paths


def head_phantom(
    shape=(24, 40, 40), spacing=(2.0, 2.0, 2.0), *, contrast: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """A small asymmetric 'head' in HU and its labels (1 bone, 4 vessel), ``[z, y, x]``.

    Soft-tissue ellipsoid (40 HU) in air, a bone shell and an off-centre bone bar (1000 HU), and a
    vessel tube (400 HU with contrast, 40 HU without).
    """
    z, y, x = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    cz, cy, cx = [(n - 1) * s / 2 for n, s in zip(shape, spacing)]
    r = np.sqrt(((z - cz) / 20) ** 2 + ((y - cy) / 32) ** 2 + ((x - cx) / 28) ** 2)
    image = np.full(shape, -1000.0, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    image[r < 1.0] = 40
    shell = (r < 1.0) & (r > 0.82)
    bar = (np.abs(y - cy - 12) < 4) & (np.abs(x - cx + 10) < 3) & (np.abs(z - cz) < 12)
    bone = shell | bar
    image[bone] = 1000
    labels[bone] = 1
    tube = ((y - cy + 6) ** 2 + (x - cx - 8) ** 2 < 3.2**2) & (r < 0.8)
    image[tube] = 400 if contrast else 40
    labels[tube] = 4
    return image, labels


def write_case(folder: Path, name: str, array: np.ndarray, spacing=(2.0, 2.0, 2.0), **geometry) -> Path:
    return write_image(folder / name, array, Geometry(spacing=spacing, **geometry))


@pytest.fixture
def verify():
    """Run nnU-Net's ``verify_dataset_integrity`` on a folder (one worker process)."""

    def run(folder: Path) -> None:
        from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

        verify_dataset_integrity(str(folder), num_processes=1)

    return run


@pytest.fixture
def helpers():
    """The helpers above, as a namespace (test modules cannot import conftest under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        PATIENT_NAME=PATIENT_NAME,
        PATIENT_ID=PATIENT_ID,
        write_dicom_slice=write_dicom_slice,
        write_dicom_series=write_dicom_series,
        head_phantom=head_phantom,
        write_case=write_case,
    )
