"""The one atomic writer (``nnunetv2_cta.io``): permissions from the umask, no temporary left behind."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, OutputExistsError
from nnunetv2_cta.io import (
    Geometry,
    atomic_folder,
    atomic_path,
    atomic_write,
    case_and_channel,
    current_umask,
    group_case_files,
    read_image,
    single_channel,
    write_image,
    write_json_atomic,
    write_text_atomic,
)


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    previous = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".tmp_", ".old_")))


@pytest.mark.parametrize("mask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_permissions_follow_the_umask(tmp_path, umask, mask, file_mode, folder_mode):
    """Issue 16, fault 2: outputs were 0600 (mkstemp's mode) under umask 022."""
    umask(mask)
    assert current_umask() == mask
    text = write_text_atomic(tmp_path / "a.txt", "x")
    data = write_json_atomic(tmp_path / "b.json", {"k": 1})
    with atomic_write(tmp_path / "c.bin") as handle:
        handle.write(b"\0\1")
    volume = write_image(tmp_path / "v.nii.gz", np.zeros((2, 3, 4), np.uint8), Geometry(spacing=(1, 1, 1)))
    with atomic_folder(tmp_path / "folder") as folder:
        (folder / "sub").mkdir()
        write_text_atomic(folder / "sub" / "inner.txt", "y")
    for path in (text, data, tmp_path / "c.bin", volume, tmp_path / "folder" / "sub" / "inner.txt"):
        assert _mode(path) == file_mode, path.name
    assert _mode(tmp_path / "folder") == folder_mode
    assert _mode(tmp_path / "folder" / "sub") == folder_mode
    assert _leftovers(tmp_path) == []


def test_contents_and_replacing_an_existing_file(tmp_path):
    path = tmp_path / "deep" / "er" / "out.json"  # parents are created
    write_json_atomic(path, {"a": [1, 2]}, indent=None, separators=(",", ":"))
    assert path.read_bytes() == b'{"a":[1,2]}'
    write_json_atomic(path, {"b": 2})
    assert json.loads(path.read_text()) == {"b": 2}
    with atomic_write(path, "w", newline="") as handle:
        handle.write("x,y\r\n")
    assert path.read_bytes() == b"x,y\r\n"
    assert _leftovers(path.parent) == []


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write(path, "w") as handle:
        handle.write("half")
        raise RuntimeError("disk full")
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json_atomic(path, {"x": object()})
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "mip.png") as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert path.read_text() == "old"
    assert not (tmp_path / "mip.png").exists()
    assert _leftovers(tmp_path) == []


def test_atomic_path_keeps_the_ending_so_writers_pick_the_same_format(tmp_path):
    seen = []
    with atomic_path(tmp_path / "case_0000.nii.gz") as tmp:
        seen.append(tmp)
        tmp.write_bytes(b"data")
    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith(".tmp_case_0000_") and seen[0].name.endswith(".nii.gz")
    assert (tmp_path / "case_0000.nii.gz").read_bytes() == b"data"
    volume = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    write_image(tmp_path / "v.mha", volume, Geometry(spacing=(2.0, 1.0, 0.5)))
    back, geometry = read_image(tmp_path / "v.mha")
    assert np.array_equal(back, volume) and geometry.spacing == (2.0, 1.0, 0.5)


def test_publishing_onto_a_folder_fails_and_removes_the_temporary(tmp_path):
    (tmp_path / "out.json").mkdir()
    with pytest.raises(IsADirectoryError):
        write_text_atomic(tmp_path / "out.json", "x")
    assert _leftovers(tmp_path) == []


def test_atomic_folder_refuses_or_replaces_an_existing_folder(tmp_path):
    target = tmp_path / "Dataset001_X"
    with atomic_folder(target) as folder:
        write_text_atomic(folder / "dataset.json", "1")
    with pytest.raises(OutputExistsError, match="Dataset001_X' exists; pass overwrite"):
        with atomic_folder(target) as folder:
            write_text_atomic(folder / "dataset.json", "2")
    assert (target / "dataset.json").read_text() == "1"
    with pytest.raises(ValueError, match="boom"), atomic_folder(target, replace=True) as folder:
        write_text_atomic(folder / "dataset.json", "3")
        raise ValueError("boom")
    assert (target / "dataset.json").read_text() == "1"
    with atomic_folder(target, replace=True) as folder:
        write_text_atomic(folder / "other.json", "4")
    assert sorted(p.name for p in target.iterdir()) == ["other.json"]
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputExistsError, match=r"'.*file' exists and is not a folder"):
        with atomic_folder(tmp_path / "file", replace=True):
            pass
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "mode, kwargs, message",
    [
        ("a", {}, "atomic_write mode must be 'w', 'wt' or 'wb', got 'a'"),
        ("r", {}, "atomic_write mode must be 'w', 'wt' or 'wb', got 'r'"),
        ("wb", {"encoding": "utf-8"}, "encoding and newline are for text mode"),
    ],
)
def test_atomic_write_rejects_bad_modes(tmp_path, mode, kwargs, message):
    with pytest.raises(ValueError, match=message), atomic_write(tmp_path / "x", mode, **kwargs):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name, siblings, expected",
    [
        ("scan_0000.nii.gz", (), ("scan", 0)),
        ("scan.nii.gz", (), ("scan", 0)),
        ("patient_2024.mha", (), ("patient_2024", 0)),  # issue 16, fault 1: was "channel 2024"
        ("PhantomCTADemo_0006.nii.gz", ("PhantomCTADemo_0006.nii.gz",), ("PhantomCTADemo_0006", 0)),
        ("PhantomCTADemo_0006_0000.nii.gz", (), ("PhantomCTADemo_0006", 0)),
        ("scan_0001.nrrd", ("scan_0000.nii.gz", "scan_0001.nrrd"), ("scan", 1)),
        ("scan_0001.nrrd", ("scanner_0000.nii.gz",), ("scan_0001", 0)),
        ("a_b_12345.nii", (), ("a_b_12345", 0)),  # five digits: never a channel
        ("x_001.mha", (), ("x_001", 0)),
    ],
)
def test_case_and_channel(name, siblings, expected):
    assert case_and_channel(name, siblings) == expected


def test_group_case_files_and_single_channel(tmp_path):
    names = ["b_0001.mha", "patient_2024.mha", "b_0000.nii.gz", "c.nii.gz", "d_0007.nii.gz"]
    groups = group_case_files(tmp_path / n for n in names)
    assert {case: {c: p.name for c, p in ch.items()} for case, ch in groups.items()} == {
        "b": {0: "b_0000.nii.gz", 1: "b_0001.mha"},
        "c": {0: "c.nii.gz"},
        "d_0007": {0: "d_0007.nii.gz"},
        "patient_2024": {0: "patient_2024.mha"},
    }
    assert single_channel("c", groups["c"]).name == "c.nii.gz"
    with pytest.raises(
        DatasetFormatError,
        match=r"case 'b': only single-channel CT input is supported; channel 0001 is not 0000 "
        r"\(b_0000.nii.gz, b_0001.mha\)",
    ):
        single_channel("b", groups["b"])
    with pytest.raises(
        DatasetFormatError, match=r"files 'a.mha' and 'a_0000.nii.gz' in .* both give case 'a'"
    ):
        group_case_files([tmp_path / "a_0000.nii.gz", tmp_path / "a.mha"])


# --------------------------------------------------------------------------- .nii.gz writing and reading (issue 19)
def test_gzip_members_are_one_gzip_stream(monkeypatch):
    import gzip

    from nnunetv2_cta import io as io_module

    monkeypatch.setattr(io_module, "GZIP_CHUNK", 1000)
    data = bytes(range(256)) * 20  # 5,120 bytes -> members of 1,000, ..., 120 bytes
    members = list(io_module.gzip_members(data, 1, threads=2))
    assert len(members) == 6 and all(m[:2] == b"\x1f\x8b" for m in members)
    assert gzip.decompress(b"".join(members)) == data
    assert gzip.decompress(b"".join(io_module.gzip_members(b"", 1))) == b""


@pytest.mark.parametrize("level", [12, -1, 1.5, "1", True])
def test_gzip_members_bad_level(level):
    from nnunetv2_cta.io import gzip_members

    with pytest.raises(ConfigurationError, match=rf"gzip level must be an integer 0\.\.9, got {level!r}"):
        list(gzip_members(b"abc", level))


def test_write_image_bad_level_writes_nothing(tmp_path):
    with pytest.raises(ConfigurationError, match=r"gzip level must be an integer 0\.\.9, got 10"):
        write_image(
            tmp_path / "x.nii.gz", np.zeros((2, 2, 2), np.uint8), Geometry(spacing=(1, 1, 1)), level=10
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_nii_gz_written_in_members_reads_back_in_simpleitk_and_nibabel(tmp_path, monkeypatch, dtype):
    import nibabel
    import SimpleITK as sitk

    from nnunetv2_cta import io as io_module
    from nnunetv2_cta.io import Geometry, read_image, write_image

    monkeypatch.setattr(io_module, "GZIP_CHUNK", 4096)  # many members
    array = (np.arange(7 * 9 * 11) % 251 - 100).reshape(7, 9, 11).astype(dtype)
    geometry = Geometry((2.0, 0.5, 0.75), (10.0, -20.0, 5.0), (0, 1, 0, 1, 0, 0, 0, 0, -1))
    path = write_image(tmp_path / "v.nii.gz", array, geometry)
    ours, read_geometry = read_image(path)
    assert ours.dtype == dtype and np.array_equal(ours, array) and read_geometry.mismatch(geometry) is None
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), array)
    assert np.array_equal(np.asarray(nibabel.load(path).dataobj).transpose(2, 1, 0), array)
    assert [p.name for p in tmp_path.iterdir()] == ["v.nii.gz"]  # no temporary .nii left


def test_read_image_truncated_nii_gz(tmp_path):
    from nnunetv2_cta.errors import DatasetFormatError
    from nnunetv2_cta.io import Geometry, read_image, write_image

    path = write_image(tmp_path / "v.nii.gz", np.ones((4, 5, 6), np.int16), Geometry((1.0, 1.0, 1.0)))
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DatasetFormatError, match="cannot read image"):
        read_image(path)


_AFFINES = {
    "identity": np.eye(4),
    "flipped": np.diag([-0.5, -0.7, 2.0, 1.0]),
    "permuted": np.array([[0, 0, 1.5, 3], [0, -0.8, 0, 4], [0.9, 0, 0, 5], [0, 0, 0, 1.0]]),
}


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("affine", sorted(_AFFINES))
@pytest.mark.parametrize("codes", [(1, 1), (0, 0), (2, 0)])
def test_nii_gz_read_directly_as_simpleitk_reads_it(tmp_path, dtype, affine, codes):
    """Issue 19: a plain NIfTI-1 .nii.gz is decompressed straight into its array; array, type and geometry are
    SimpleITK's (nibabel writes the files: qform/sform codes and orientations SimpleITK did not write)."""
    import nibabel
    import SimpleITK as sitk

    from nnunetv2_cta._nifti_gz import read_plain_nifti_gz

    data = np.random.default_rng(0).integers(0, 100, (5, 6, 7)).astype(dtype)  # nibabel order: x, y, z
    image = nibabel.Nifti1Image(data, _AFFINES[affine])
    image.set_qform(_AFFINES[affine] if codes[0] else None, code=codes[0])
    image.set_sform(_AFFINES[affine] if codes[1] else None, code=codes[1])
    path = tmp_path / "v.nii.gz"
    nibabel.save(image, path)
    direct = read_plain_nifti_gz(path)
    assert direct is not None  # read directly, not through SimpleITK
    array, geometry = direct
    reference = sitk.ReadImage(str(path))
    expected = sitk.GetArrayFromImage(reference)
    assert array.dtype == expected.dtype and np.array_equal(array, expected) and array.flags.writeable
    assert geometry.spacing == tuple(reference.GetSpacing())[::-1]
    assert geometry.origin == reference.GetOrigin() and geometry.direction == reference.GetDirection()


def test_nii_gz_with_scaling_or_a_fourth_axis_is_read_by_simpleitk(tmp_path):
    import nibabel
    import SimpleITK as sitk

    from nnunetv2_cta._nifti_gz import read_plain_nifti_gz

    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    scaled = nibabel.Nifti1Image(data, np.eye(4))
    scaled.header.set_slope_inter(2.0, -1024.0)
    nibabel.save(scaled, tmp_path / "scaled.nii.gz")
    nibabel.save(nibabel.Nifti1Image(data[..., None], np.eye(4)), tmp_path / "t1.nii.gz")  # x, y, z, t = 1
    for name in ("scaled", "t1"):
        path = tmp_path / f"{name}.nii.gz"
        assert read_plain_nifti_gz(path) is None
        ours, _ = read_image(path)
        assert np.array_equal(ours, sitk.GetArrayFromImage(sitk.ReadImage(str(path))))
    # nibabel's data[x, y, z] = 42 x + 7 y + z; SimpleITK's array is [z, y, x]: x = 1 stores 42, read 2 * 42 - 1024
    assert read_image(tmp_path / "scaled.nii.gz")[0][0, 0, 1] == 2.0 * 42 - 1024.0


def test_read_image_truncated_voxel_data(tmp_path):
    import gzip

    from nnunetv2_cta.errors import DatasetFormatError

    path = write_image(tmp_path / "v.nii.gz", np.ones((40, 50, 60), np.int16), Geometry((1.0, 1.0, 1.0)))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))  # a complete gzip stream of half the voxels
    with pytest.raises(DatasetFormatError, match=r"cannot read image .*voxel data ends after"):
        read_image(path)
