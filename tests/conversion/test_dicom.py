"""DICOM series conversion: synthetic series with hand-worked values, then the real vendor series."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.conversion.dicom import (
    analyse_spacing,
    convert_dicom,
    read_dicom_series,
    scan_dicom_folder,
    select_series,
)
from nnunetv2_cta.errors import DatasetFormatError, OutputExistsError, SpacingError
from nnunetv2_cta.io import read_image


def _vol(n=3, rows=4, cols=5):
    return (np.arange(n * rows * cols).reshape(n, rows, cols) * 7 + 1000).astype(np.uint16)


# ------------------------------------------------------------------------------------------ synthetic
def test_rescale_and_sorting_hand_values(helpers, tmp_path):
    vol = _vol()
    # slices written in reverse order with slope 2, intercept -1024: HU = 2 * stored - 1024
    helpers.write_dicom_series(
        tmp_path, vol, [(10, 20, 30 + 2.5 * k) for k in range(3)], slope=2.0, intercept=-1024
    )
    (series,) = scan_dicom_folder(tmp_path)
    volume, geometry, sidecar = read_dicom_series(series)
    assert volume.dtype == np.int16
    np.testing.assert_array_equal(volume, vol.astype(np.int32) * 2 - 1024)
    assert geometry.spacing == pytest.approx((2.5, 0.5, 0.5))
    assert geometry.origin == pytest.approx((10, 20, 30))
    assert sidecar["gantry_tilt"]["corrected"] is False
    assert sidecar["tags"]["KVP"] == 120


def test_tilted_stack_is_shifted_in_plane_exactly(helpers, tmp_path):
    vol = _vol()
    # each slice 2 mm along the normal and 0.5 mm (= 1 pixel) along the column direction: tilt atan(0.25)
    helpers.write_dicom_series(tmp_path, vol, [(0, 0.5 * k, 2.0 * k) for k in range(3)], intercept=0)
    (series,) = scan_dicom_folder(tmp_path)
    volume, geometry, sidecar = read_dicom_series(series)
    assert volume.shape == (3, 6, 5)  # two rows added so no pixel is cut off
    for k in range(3):
        np.testing.assert_array_equal(volume[k, k : k + 4], vol[k])
    assert volume[0, 4:].max() == vol.min()  # padding uses the series minimum
    assert geometry.spacing == pytest.approx((2.0, 0.5, 0.5))
    assert geometry.origin == pytest.approx((0, 0, 0))
    assert sidecar["gantry_tilt"]["measured_deg"] == pytest.approx(math.degrees(math.atan(0.25)), abs=1e-3)
    # voxel [2, 2, 0] is the last slice's first pixel, acquired at its ImagePositionPatient
    assert geometry.index_to_world((2, 2, 0)) == pytest.approx((0, 1.0, 4.0))


def test_grouping_nested_series_localizer_and_selection(helpers, tmp_path):
    vol = _vol(n=4)
    helpers.write_dicom_series(
        tmp_path / "a" / "deep", vol, [(0, 0, k) for k in range(4)], series_uid="1.2.3.1"
    )
    helpers.write_dicom_series(
        tmp_path / "b", vol[:3], [(0, 0, 0.5 * k) for k in range(3)], series_uid="1.2.3.2"
    )
    helpers.write_dicom_slice(
        tmp_path / "b" / "scout.dcm",
        vol[0],
        position=(0, 0, 0),
        series_uid="1.2.3.2",
        orientation=(1, 0, 0, 0, 0, -1),
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
    )
    (tmp_path / "b" / "notes.txt").write_text("not dicom")
    found = scan_dicom_folder(tmp_path)
    assert [s.num_slices for s in found] == [4, 3]
    assert found[1].excluded == []  # the localizer had its own orientation key
    assert select_series(found, "largest") == [found[0]]
    assert select_series(found, "thinnest") == [found[1]]
    assert select_series(found, "1.2.3.2") == [found[1]]
    assert select_series(found, found[1].series_id) == [found[1]]
    with pytest.raises(DatasetFormatError, match=r"nothing matches '9\.9\.9'"):
        select_series(found, "9.9.9")


def test_analyse_spacing_runs_versus_missing(helpers):
    # 4-mm run then 7-mm run (GE head protocol): uneven, nothing missing; ties resolve to the smaller gap
    rep = analyse_spacing(np.array([0, 4, 8, 12, 19, 26, 33]))
    assert rep.usual_mm == pytest.approx(4.0) and not rep.uniform and rep.missing == []
    # one isolated 3x gap in a 1-mm series: two slices missing after slice 2
    rep = analyse_spacing(np.array([0, 1, 2, 5, 6, 7]))
    assert rep.missing == [{"after_slice": 2, "gap_mm": 3.0, "estimated_missing_slices": 2}]


@pytest.mark.parametrize(
    ("positions", "error", "match"),
    [
        ([(0, 0, 0), (0, 0, 1), (0, 0, 1)], DatasetFormatError, "duplicate slices at position 1.00"),
        (
            [(0, 0, 0), (0, 0, 1), (0, 0, 4), (0, 0, 5)],
            DatasetFormatError,
            r"missing slices .* gap of 3.00 mm",
        ),
    ],
)
def test_bad_slice_positions(helpers, tmp_path, positions, error, match):
    helpers.write_dicom_series(tmp_path, _vol(n=len(positions)), positions)
    (series,) = scan_dicom_folder(tmp_path)
    with pytest.raises(error, match=match):
        read_dicom_series(series)


def test_gaps_interpolated_when_allowed(helpers, tmp_path):
    vol = _vol(n=3)
    helpers.write_dicom_series(tmp_path, vol, [(0, 0, 0), (0, 0, 1), (0, 0, 3)], intercept=0)
    (series,) = scan_dicom_folder(tmp_path)
    volume, geometry, sidecar = read_dicom_series(series, allow_gaps=True)
    assert volume.shape[0] == 4 and geometry.spacing[0] == pytest.approx(1.0)
    np.testing.assert_allclose(volume[2], (vol[1].astype(float) + vol[2]) / 2)
    assert sidecar["slice_spacing"]["missing_slices"][0]["after_slice"] == 1


def test_uneven_spacing_error_and_single_slice(helpers, tmp_path):
    helpers.write_dicom_series(tmp_path / "u", _vol(n=4), [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 2.6)])
    (series,) = scan_dicom_folder(tmp_path / "u")
    with pytest.raises(SpacingError, match=r"uneven slice spacing, gaps \[0.6, 1.0\]"):
        read_dicom_series(series, uneven="error")
    helpers.write_dicom_series(tmp_path / "s", _vol(n=1), [(0, 0, 0)])
    (series,) = scan_dicom_folder(tmp_path / "s")
    with pytest.raises(DatasetFormatError, match="single slice is not a volume"):
        read_dicom_series(series)


def test_convert_writes_no_identifiers_and_refuses_existing(helpers, tmp_path, caplog):
    helpers.write_dicom_series(tmp_path / "in" / helpers.PATIENT_NAME, _vol(), [(0, 0, k) for k in range(3)])
    helpers.write_dicom_series(
        tmp_path / "in" / "mr", _vol(), [(0, 0, k) for k in range(3)], series_uid="1.2.9", modality="MR"
    )
    caplog.set_level("DEBUG")
    summary = convert_dicom(tmp_path / "in", tmp_path / "out")
    assert len(summary.written) == 1 and summary.skipped[0].reason.startswith("modality MR")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"{summary.written[0]}.json", f"{summary.written[0]}.nii.gz"]
    text = (tmp_path / "out" / names[0]).read_text() + " ".join(names) + caplog.text
    for secret in (helpers.PATIENT_NAME, helpers.PATIENT_ID, "Doe", "1.2.826.0.1.3680043.9.7777"):
        assert secret not in text
    assert json.loads((tmp_path / "out" / names[0]).read_text())["tags"]["Modality"] == "CT"
    with pytest.raises(OutputExistsError, match="exists; pass overwrite"):
        convert_dicom(tmp_path / "in", tmp_path / "out")
    with pytest.raises(DatasetFormatError, match=r"has modality 'MR'; expected one of \['CT'\]"):
        convert_dicom(tmp_path / "in", tmp_path / "out2", select="1.2.9")
    with pytest.raises(DatasetFormatError, match="no DICOM image series found"):
        convert_dicom(tmp_path / "out", tmp_path / "out3")


# ------------------------------------------------------------------------------------------ real data
def _sitk_series(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_ge_gantry_tilt_against_simpleitk(real_data, tmp_path):
    import pydicom
    import SimpleITK as sitk

    folder = real_data / "dicom" / "ge_head_ncct_tilt"
    summary = convert_dicom(folder, tmp_path)
    (sid,) = summary.written
    ours, geometry = read_image(tmp_path / f"{sid}.nii.gz")
    sidecar = json.loads((tmp_path / f"{sid}.json").read_text())
    ref = _sitk_series(folder)
    ref_arr = sitk.GetArrayFromImage(ref)
    tilt = math.radians(18.5)
    assert sidecar["gantry_tilt"]["measured_deg"] == pytest.approx(18.5, abs=0.01)
    assert sidecar["tags"]["GantryDetectorTilt"] == pytest.approx(18.5)
    assert sidecar["slice_spacing"]["distinct_gaps_mm"] == [1.08, 4.0, 7.0]
    # extent along the slice normal: SimpleITK stacks the origin-to-origin distance (151.94 mm) along the
    # normal; the true normal extent is that times cos(tilt) = 144.08 mm, which our grid spans exactly.
    ref_extent = (ref.GetSize()[2] - 1) * ref.GetSpacing()[2]
    assert ref_extent == pytest.approx(151.94, abs=0.01)
    assert (ours.shape[0] - 1) * geometry.spacing[0] == pytest.approx(ref_extent * math.cos(tilt), abs=0.05)
    assert geometry.direction == pytest.approx(ref.GetDirection(), abs=1e-6)
    # HU: same range as SimpleITK; the first slice is copied exactly (integer in-plane offset)
    assert ours.min() == ref_arr.min() == -1500
    assert ref_arr.max() - 30 <= ours.max() <= ref_arr.max()
    pad = ours.shape[1] - 512
    np.testing.assert_array_equal(ours[0, pad:, :], ref_arr[0])
    # the last acquired slice: its head centroid in world coordinates, from the DICOM header directly,
    # matches ours within 1 mm; SimpleITK misplaces it by centimetres (it ignores the shear)
    files = sorted(folder.glob("*.dcm"))
    last = pydicom.dcmread(str(files[-1]))
    hu = last.pixel_array * float(last.RescaleSlope) + float(last.RescaleIntercept)
    row, col = (
        np.asarray(last.ImageOrientationPatient[:3], float),
        np.asarray(last.ImageOrientationPatient[3:], float),
    )
    jj, ii = np.nonzero(hu > -300)
    dy, dx = (float(v) for v in last.PixelSpacing)
    truth = np.asarray(last.ImagePositionPatient, float) + ii.mean() * dx * row + jj.mean() * dy * col

    def centroid(arr, k, index_to_world):
        j, i = np.nonzero(arr[k] > -300)
        return index_to_world(np.array([k, j.mean(), i.mean()]))

    ours_c = centroid(ours, ours.shape[0] - 1, geometry.index_to_world)
    ref_c = centroid(
        ref_arr,
        ref_arr.shape[0] - 1,
        lambda idx: np.asarray(ref.TransformContinuousIndexToPhysicalPoint(idx[::-1].tolist())),
    )
    assert np.linalg.norm(ours_c - truth) < 1.0
    assert np.linalg.norm(ref_c - truth) > 30.0


def test_ge_uneven_spacing_fails_when_asked(real_data):
    (series,) = scan_dicom_folder(real_data / "dicom" / "ge_head_ncct_tilt")
    with pytest.raises(SpacingError, match=r"uneven slice spacing, gaps \[1.08, 4.0, 7.0\] mm"):
        read_dicom_series(series, uneven="error")


def test_siemens_jpeg2000_decodes_like_simpleitk(real_data, tmp_path):
    import SimpleITK as sitk

    folder = real_data / "dicom" / "siemens_ct_jpeg2000"
    found = scan_dicom_folder(folder)  # no SeriesInstanceUID in these files: grouped by the fallback key
    assert [s.num_slices for s in found] == [20]
    volume, geometry, sidecar = read_dicom_series(found[0])
    ref = _sitk_series(folder)
    assert "JPEG 2000" in sidecar["transfer_syntax"]
    np.testing.assert_array_equal(volume, sitk.GetArrayFromImage(ref))
    assert geometry.origin == pytest.approx(ref.GetOrigin())
    assert geometry.spacing == pytest.approx(ref.GetSpacing()[::-1])
    assert (volume.min(), volume.max()) == (-1024, 1839)


def test_ge_16px_headers_sort_into_one_series_with_a_gap(real_data):
    found = scan_dicom_folder(real_data / "dicom" / "ge_brain_headers_16px")
    assert [s.num_slices for s in found] == [4]
    with pytest.raises(DatasetFormatError, match=r"gap of 202.50 mm after slice 0 \(~161 missing\)"):
        read_dicom_series(found[0])
    volume, geometry, _ = read_dicom_series(found[0], allow_gaps=True)
    assert volume.shape == (165, 16, 16) and geometry.spacing[0] == pytest.approx(1.25)
