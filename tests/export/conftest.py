"""Fixtures of the export tests: a synthetic DICOM CT series and a predict output case made from it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

BIRTH_DATE, SEX = "19700101", "F"


def _conversion_helpers():
    """The synthetic DICOM writer of tests/conversion (its conftest, loaded by path: no copy of it here)."""
    path = Path(__file__).resolve().parents[1] / "conversion" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_conversion_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dicom_case(tmp_path):
    """A 10-slice CT series (2 mm slices, 0.5 x 0.5 mm pixels, 24 x 28) and a predict output folder for it.

    Slices carry a frame of reference, a birth date and a sex (PHI that the export must not copy). The
    predict folder has the layout ``predict`` writes: labels/, bone_free/, cases/<case>/record.json + PNGs.
    """
    import pydicom
    from matplotlib import image as mpimg
    from pydicom.uid import generate_uid

    from nnunetv2_cta.conversion.dicom import read_dicom_series, scan_dicom_folder
    from nnunetv2_cta.io import write_image

    conv = _conversion_helpers()
    image, labels = conv.head_phantom(shape=(10, 24, 28), spacing=(2.0, 0.5, 0.5))
    labels = labels.copy()
    labels[:, 2:5, 2:6] = 2  # 'aorta', 'carotid' and 'bone' blocks besides the phantom's vessel tube (4)
    labels[:, 18:21, 20:25] = 3
    labels[:, 21:23, 2:10] = 1
    image[labels == 1] = 1000
    source = tmp_path / "dicom"
    positions = [(-7.0, -6.0, 30.0 + 2.0 * k) for k in range(10)]
    conv.write_dicom_series(source, np.clip(image + 1024, 0, None), positions, spacing=(0.5, 0.5))
    frame_uid = generate_uid()
    for path in source.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientBirthDate, ds.PatientSex = BIRTH_DATE, SEX
        ds.AccessionNumber, ds.ReferringPhysicianName = "ACC-4711", "Dr^Who"
        ds.save_as(path)
    (series,) = scan_dicom_folder(source)
    volume, geometry, _ = read_dicom_series(series)

    pred = tmp_path / "pred"
    case_dir = pred / "cases" / "head"
    write_image(pred / "labels" / "head.nii.gz", labels, geometry)
    bone_free = np.where(labels == 1, 40, volume).astype(np.int16)
    write_image(pred / "bone_free" / "head.nii.gz", bone_free, geometry)
    case_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    pngs = {"mip_anterior": rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)}
    pngs["cpr_right_carotid"] = rng.integers(0, 256, (40, 16, 3), dtype=np.uint8)
    for name, rgb in pngs.items():
        mpimg.imsave(case_dir / f"head_{name}.png", rgb)
    outputs = {
        "labels": "../../labels/head.nii.gz",
        "bone_free": "../../bone_free/head.nii.gz",
        "images": {name: f"head_{name}.png" for name in pngs},
    }
    (case_dir / "record.json").write_text(json.dumps({"case": "head", "outputs": outputs}))
    return SimpleNamespace(
        source=source, predictions=pred, labels=labels, bone_free=bone_free, pngs=pngs, geometry=geometry,
        frame_uid=frame_uid,
    )  # fmt: skip
