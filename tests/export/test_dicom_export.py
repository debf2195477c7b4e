"""``nnunetv2_cta export dicom SOURCE PREDICTIONS -o OUT``: read back with pydicom/highdicom."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from nnunetv2_cta.cli import main
from nnunetv2_cta.errors import DatasetFormatError, GeometryError, OutputExistsError
from nnunetv2_cta.export import export_dicom, find_predict_case
from nnunetv2_cta.io import Geometry, write_image


def _sources(folder):
    slices = [pydicom.dcmread(p) for p in folder.glob("*.dcm")]
    return sorted(slices, key=lambda ds: float(ds.ImagePositionPatient[2]))


def test_export_reads_back_with_source_geometry_and_new_uids(dicom_case, tmp_path):
    import highdicom as hd

    out = tmp_path / "out"
    result = export_dicom(dicom_case.source, dicom_case.predictions, out)
    src = _sources(dicom_case.source)
    src_uids = {ds.SOPInstanceUID for ds in src} | {src[0].SeriesInstanceUID}

    # (a) DICOM-SEG: one segment per label in label order, frames on the source slices
    seg = hd.seg.segread(out / "seg.dcm")
    assert result["seg"]["segments"] == {"bone": 1, "aorta": 2, "carotid": 3, "intracranial": 4}
    assert [s.segment_label for s in seg.SegmentSequence] == ["bone", "aorta", "carotid", "intracranial"]
    assert seg.SeriesInstanceUID not in src_uids and seg.SOPInstanceUID not in src_uids
    assert seg.StudyInstanceUID == src[0].StudyInstanceUID and seg.FrameOfReferenceUID == dicom_case.frame_uid
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src[0].SeriesInstanceUID
    labels = seg.get_pixels_by_source_instance(
        [ds.SOPInstanceUID for ds in src], combine_segments=True, skip_overlap_checks=True
    )
    assert labels.shape == (10, 24, 28)
    np.testing.assert_array_equal(labels, dicom_case.labels)  # segment numbers = our label values here
    for frame in seg.PerFrameFunctionalGroupsSequence:
        uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        (ds,) = [d for d in src if d.SOPInstanceUID == uid]
        assert [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient] == pytest.approx(
            [float(v) for v in ds.ImagePositionPatient]
        )
    pixel_measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert [float(v) for v in pixel_measures.PixelSpacing] == [0.5, 0.5]

    # (b) bone-free CTA: a derived CT series slice for slice on the source grid, HU as written by predict
    bf = sorted((pydicom.dcmread(p) for p in result["bone_free"]), key=lambda ds: int(ds.InstanceNumber))
    assert len(bf) == 10 and len({ds.SeriesInstanceUID for ds in bf}) == 1
    assert bf[0].SeriesInstanceUID not in src_uids | {seg.SeriesInstanceUID}
    for k, (ds, s) in enumerate(zip(bf, src)):
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"] and ds.SOPInstanceUID not in src_uids
        assert ds.ImagePositionPatient == s.ImagePositionPatient and ds.PixelSpacing == s.PixelSpacing
        assert ds.ImageOrientationPatient == s.ImageOrientationPatient
        assert ds.FrameOfReferenceUID == dicom_case.frame_uid and ds.StudyInstanceUID == s.StudyInstanceUID
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == s.SOPInstanceUID
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, dicom_case.bone_free[k])
    assert (bf[3].pixel_array[dicom_case.labels[3] == 1] == 40).all()  # bone gone in slice 3

    # (c) the PNGs as secondary captures, pixel for pixel
    sc = [pydicom.dcmread(p) for p in result["images"]]
    assert [ds.ImageComments for ds in sc] == ["cpr_right_carotid", "mip_anterior"]
    for ds in sc:
        assert (
            ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and ds.StudyInstanceUID == src[0].StudyInstanceUID
        )
        np.testing.assert_array_equal(ds.pixel_array, dicom_case.pngs[ds.ImageComments])

    # identity: patient name and id kept for filing; birth date and sex not copied into any output
    for ds in [seg, bf[0], *sc]:
        assert ds.PatientName == src[0].PatientName and ds.PatientID == src[0].PatientID
        assert ds.get("PatientBirthDate", "") == "" and ds.get("PatientSex", "") == ""
        assert ds.get("ReferringPhysicianName", "") == "" and ds.AccessionNumber == "ACC-4711"
        assert ds.get("Manufacturer") == "nnunetv2_cta"
    assert not list(tmp_path.glob(".tmp_*"))


def test_cli_export_and_its_bad_inputs(dicom_case, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["export", "dicom", str(dicom_case.source), str(dicom_case.predictions), "-o", str(out)]
    assert main(argv) == 0
    assert "head: DICOM-SEG (bone, aorta, carotid, intracranial), 10 bone-free CT slices, 2 secondary" in (
        capsys.readouterr().out
    )
    assert main(argv) == 2 and "exists; pass --overwrite" in capsys.readouterr().err
    # a NIfTI source: nothing to reference, one line
    nifti = dicom_case.predictions / "bone_free" / "head.nii.gz"
    assert main(["export", "dicom", str(nifti), str(dicom_case.predictions), "-o", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a NIfTI/MHA image, not a DICOM series" in err[0]
    assert not (tmp_path / "o2").exists()


def test_bad_inputs(dicom_case, tmp_path):
    pred = dicom_case.predictions
    with pytest.raises(DatasetFormatError, match=r"contains no DICOM series \(it holds NIfTI/MHA images"):
        export_dicom(pred / "labels", pred, tmp_path / "o")
    with pytest.raises(DatasetFormatError, match=r"is not a predict output folder \(no 'cases' folder\)"):
        export_dicom(dicom_case.source, tmp_path, tmp_path / "o")
    with pytest.raises(
        DatasetFormatError, match=r"case 'nope' is not a finished case of .* there are \['head'\]"
    ):
        export_dicom(dicom_case.source, pred, tmp_path / "o", case="nope")
    (tmp_path / "o").mkdir()
    with pytest.raises(OutputExistsError, match=r"'.*o' exists; pass --overwrite"):
        export_dicom(dicom_case.source, pred, tmp_path / "o")
    # a label map on another grid (e.g. after resampling) cannot reference the source slices
    shifted = Geometry(dicom_case.geometry.spacing, origin=np.add(dicom_case.geometry.origin, (0, 0, 1.0)))
    write_image(pred / "labels" / "head.nii.gz", dicom_case.labels, shifted)
    with pytest.raises(GeometryError, match=r"label map 'head.nii.gz': origin .* \(source series\)"):
        export_dicom(dicom_case.source, pred, tmp_path / "o2")
    write_image(pred / "labels" / "head.nii.gz", dicom_case.labels[1:], dicom_case.geometry)
    with pytest.raises(
        GeometryError, match=r"has shape \(9, 24, 28\) but the source series is \(10, 24, 28\)"
    ):
        export_dicom(dicom_case.source, pred, tmp_path / "o2")
    write_image(pred / "labels" / "head.nii.gz", np.zeros_like(dicom_case.labels), dicom_case.geometry)
    with pytest.raises(DatasetFormatError, match="label map is empty"):
        export_dicom(dicom_case.source, pred, tmp_path / "o2")
    assert not (tmp_path / "o2").exists() and not list(tmp_path.glob(".tmp_*"))
    # several cases: --case is needed
    other = pred / "cases" / "other"
    other.mkdir()
    (other / "record.json").write_text(json.dumps({"case": "other", "outputs": {}}))
    with pytest.raises(
        DatasetFormatError, match=r"holds 2 finished case\(s\) \['head', 'other'\]; choose one"
    ):
        find_predict_case(pred)
    with pytest.raises(DatasetFormatError, match=r"case 'other': record\.json lists no label map"):
        find_predict_case(pred, "other")
