"""Catalogue of bad inputs a new user hit (issue 16): each test's docstring is the exact command.

Every case must end in one line on stderr and exit status 2 (or, for per-case problems, the case alone
failing), before any network runs, and leave nothing half-written behind. Faults tested elsewhere:

* fault 1 with a real model: ``tests/inference/test_predict.py::test_predict_case_ids_ending_in_four_digits``
* fault 2, the writer itself: ``tests/test_io.py::test_permissions_follow_the_umask``
* fault 9 (flaky NCCT-CTA registration): ``tests/conversion/test_ncct_dsa.py::
  test_registration_is_the_same_at_any_thread_count_and_restores_it`` and
  ``test_diverged_affine_falls_back_to_rigid``
* faults 7 (empty prediction scores) and 8 (demo resume) belong to other issues' owners.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.cli import build_parser, main
from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.labels import dataset_json

GEOMETRY = Geometry(spacing=(2.0, 2.0, 2.0))


def _conversion_helpers():
    """tests/conversion/conftest.py (DICOM writer, small head), loaded by path (importlib import mode)."""
    path = Path(__file__).parent / "conversion" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_conversion_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _head(folder: Path, name: str) -> Path:
    image, _ = _conversion_helpers().head_phantom()
    return write_image(folder / name, image.astype(np.int16), GEOMETRY)


def _pair(root: Path, image_name: str, case: str) -> tuple[Path, Path]:
    helpers = _conversion_helpers()
    image, labels = helpers.head_phantom()
    write_image(root / "img" / image_name, image.astype(np.int16), GEOMETRY)
    write_image(root / "lab" / f"{case}.nii.gz", labels, GEOMETRY)
    return root / "img", root / "lab"


def _one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """A folder this process cannot write into: a 0o555 folder, or /sys when running as root."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        yield folder
        folder.chmod(0o755)
        return
    folder.chmod(0o755)
    try:
        tempfile.TemporaryFile(dir="/sys").close()
    except OSError:
        yield Path("/sys")
        return
    pytest.skip("no unwritable folder available (root on a writable /sys)")


# ------------------------------------------------------------------------------ fault 1: case ids


def test_convert_case_id_ending_in_four_digits(tmp_path, capsys):
    """``nnunetv2_cta convert nifti-pairs img lab -d 941 -n Ids -o OUT`` with ``img/patient_2024.nii.gz``
    and ``lab/patient_2024.nii.gz``: was "only single-channel (_0000) images are supported"."""
    img, lab = _pair(tmp_path, "patient_2024.nii.gz", "patient_2024")
    out = tmp_path / "Dataset941_Ids"
    assert main(["convert", "nifti-pairs", str(img), str(lab), "-d", "941", "-n", "Ids", "-o", str(out)]) == 0
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == ["patient_2024_0000.nii.gz"]


def test_predict_input_listing_reads_patient_2024_as_a_case(tmp_path):
    """``cp head.mha scans/patient_2024.mha; nnunetv2_cta predict -i scans ...``: the listing predict uses."""
    from nnunetv2_cta.inference.inputs import find_inputs

    _head(tmp_path / "scans", "patient_2024.mha")
    _head(tmp_path / "scans", "PhantomCTADemo_0006.nii.gz")
    assert [c.case for c in find_inputs(tmp_path / "scans")] == ["PhantomCTADemo_0006", "patient_2024"]
    assert [c.case for c in find_inputs(tmp_path / "scans" / "patient_2024.mha")] == ["patient_2024"]


# ------------------------------------------------------------------------------ fault 2: permissions


def test_outputs_are_0644_under_umask_022(tmp_path):
    """``umask 022; nnunetv2_cta convert nifti-pairs img lab -d 942 -n Perm -o OUT`` and a QC PNG: outputs
    were 0600 (mkstemp) and the dataset folder 0700 (mkdtemp)."""
    from nnunetv2_cta.reconstruction._common import save_grey_png

    previous = os.umask(0o022)
    try:
        img, lab = _pair(tmp_path, "a_0000.nii.gz", "a")
        out = tmp_path / "Dataset942_Perm"
        assert (
            main(["convert", "nifti-pairs", str(img), str(lab), "-d", "942", "-n", "Perm", "-o", str(out)])
            == 0
        )
        png = save_grey_png(tmp_path / "mip.png", np.eye(8), (0.0, 1.0))
    finally:
        os.umask(previous)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*")}
    modes["Dataset942_Perm"] = stat.S_IMODE(out.stat().st_mode)
    modes["mip.png"] = stat.S_IMODE(png.stat().st_mode)
    assert modes == {
        "Dataset942_Perm": 0o755,
        "Dataset942_Perm/imagesTr": 0o755,
        "Dataset942_Perm/labelsTr": 0o755,
        "Dataset942_Perm/imagesTr/a_0000.nii.gz": 0o644,
        "Dataset942_Perm/labelsTr/a.nii.gz": 0o644,
        "Dataset942_Perm/dataset.json": 0o644,
        "mip.png": 0o644,
    }
    assert not [p for p in tmp_path.rglob(".tmp_*")]


# ------------------------------------------------------------------------ faults 3, 4: output checks


@pytest.mark.parametrize(
    "command",
    [
        "predict -i {image} -o {out} -m {model}",
        "convert dicom {dicom} {out}",
        "convert nifti-pairs {img} {lab} -d 943 -n Out -o {out}",
        "repair -i {img} -s {lab} -o {out} --baseline",
        "phantom --preset tiny --cases 1 --test-cases 0 -o {out}",
    ],
)
@pytest.mark.parametrize("where", ["unwritable", "existing file"])
def test_output_unwritable_or_a_file_fails_before_any_work(tmp_path, capsys, unwritable, command, where):
    """``nnunetv2_cta predict -i scans -o /read-only/out -m MODEL`` (and ``convert dicom``, ``convert
    nifti-pairs``, ``repair``, ``phantom``): a traceback after all the compute (unwritable), or
    ``FileExistsError`` (``-o`` naming a file). Now one line, exit 2, nothing computed."""
    image = _head(tmp_path / "scans", "a_0000.nii.gz")
    img, lab = _pair(tmp_path, "a_0000.nii.gz", "a")
    (tmp_path / "dicom").mkdir()
    if where == "unwritable":
        out, expected = unwritable / "out", "is not writable"
    else:
        out = tmp_path / "a_file"
        out.write_text("precious")
        expected = "is an existing file"
    argv = command.format(image=image, out=out, model=tmp_path, dicom=tmp_path / "dicom", img=img, lab=lab)
    assert main(argv.split()) == 2
    _one_error_line(capsys, expected, str(out))
    if where == "existing file":
        assert out.read_text() == "precious"


def test_check_output_names_the_blocking_file(tmp_path, capsys):
    """``nnunetv2_cta convert dicom IN notes.txt/out``: a file in the way of the output folder."""
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "dicom").mkdir()
    assert main(["convert", "dicom", str(tmp_path / "dicom"), str(tmp_path / "notes.txt" / "out")]) == 2
    _one_error_line(capsys, "cannot be created", "notes.txt' is a file")


def test_plan_with_unwritable_preprocessed_folder(tmp_path, capsys, unwritable, monkeypatch, nnunet_dirs):
    """``nnUNet_preprocessed=/read-only nnunetv2_cta plan -d 958 --preset cpu``: was a traceback after the
    fingerprint."""
    _synthetic(nnunet_dirs["nnUNet_raw"], 958, lambda i, image, labels: (image, labels))
    monkeypatch.setenv("nnUNet_preprocessed", str(unwritable))
    assert main(["plan", "-d", "958", "--preset", "cpu"]) == 2
    _one_error_line(capsys, "preprocessed dataset folder", "is not writable")


# --------------------------------------------------------------------- fault 5: nothing left behind


def _synthetic(raw_root: Path, dataset_id: int, edit, n_cases: int = 2) -> Path:
    """A tiny raw dataset whose cases pass through ``edit(i, image, labels) -> (image, labels)``."""
    folder = raw_root / f"Dataset{dataset_id:03d}_Bad"
    helpers = _conversion_helpers()
    for i in range(n_cases):
        image, labels = helpers.head_phantom()
        image, labels = edit(i, image.astype(np.int16), labels)
        write_image(folder / "imagesTr" / f"case_{i:03d}_0000.nii.gz", image, GEOMETRY)
        write_image(folder / "labelsTr" / f"case_{i:03d}.nii.gz", labels, GEOMETRY)
    (folder / "dataset.json").write_text(json.dumps(dataset_json(n_cases, name="Bad")))
    return folder


def test_plan_on_2d_images_names_the_cause_and_writes_nothing(capsys, nnunet_dirs):
    """``nnunetv2_cta plan -d 959 --preset cpu`` on single-slice images: printed "Plans were saved", failed on
    a missing 3d_fullres without saying why, and left dataset_fingerprint.json / dataset.json."""
    _synthetic(nnunet_dirs["nnUNet_raw"], 959, lambda i, image, labels: (image[:1], labels[:1]))
    assert main(["plan", "-d", "959", "--preset", "cpu", "-np", "1"]) == 2
    _one_error_line(capsys, "4 of 4 images/label maps", "are 2D", "case_000_0000.nii.gz", "(40, 40, 1)")
    assert not (nnunet_dirs["nnUNet_preprocessed"] / "Dataset959_Bad").exists()


def test_plan_on_an_unreadable_image_names_it_and_writes_nothing(capsys, nnunet_dirs):
    """``nnunetv2_cta plan -d 960 --preset cpu`` with a text file named ``case_001_0000.nii.gz``: left an
    empty ``nnUNet_preprocessed/Dataset960_Bad/``."""
    folder = _synthetic(nnunet_dirs["nnUNet_raw"], 960, lambda i, image, labels: (image, labels))
    (folder / "imagesTr" / "case_001_0000.nii.gz").write_text("not an image")
    assert main(["plan", "-d", "960", "--preset", "cpu", "-np", "1"]) == 2
    _one_error_line(capsys, "cannot read", "case_001_0000.nii.gz")
    assert not (nnunet_dirs["nnUNet_preprocessed"] / "Dataset960_Bad").exists()


def test_all_zero_images_warn_when_planning(caplog):
    """``nnunetv2_cta plan -d D --preset cpu`` on all-zero images planned without a warning (fault 6). This
    checks the fingerprint test ``plan`` runs after nnU-Net's fingerprint; that a failure after the fingerprint
    removes it again (fault 5) is ``tests/commands/test_cli.py::test_plan_rejects_unknown_configuration_and_cleans_up``.
    """
    from nnunetv2_cta.planners.plan import warn_constant_intensities

    blank = {"max": 0.0, "mean": 0.0, "median": 0.0, "min": 0.0, "std": 0.0}
    ct = {"max": 1000.0, "mean": 300.0, "median": 350.0, "min": -50.0, "std": 120.0}
    fingerprint = {"foreground_intensity_properties_per_channel": {"0": ct, "1": blank}}
    with caplog.at_level("WARNING", logger="nnunetv2_cta.planners.plan"):
        warn_constant_intensities(fingerprint, {"0": "CT", "1": "late"}, "Dataset961_Bad")
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "dataset Dataset961_Bad: channel 1 ('late') has constant intensity 0.0 under the labels (std 0.0)"
    )


def test_convert_dicom_unconvertible_series_leaves_no_folder(tmp_path, capsys):
    """``nnunetv2_cta convert dicom IN OUT`` where the only series misses slices: left an empty OUT."""
    helpers = _conversion_helpers()
    volume = np.full((3, 4, 5), 1000, np.uint16)
    helpers.write_dicom_series(tmp_path / "in", volume, [(0, 0, 0), (0, 0, 1), (0, 0, 4)])
    assert main(["convert", "dicom", str(tmp_path / "in"), str(tmp_path / "out"), "--no-progress"]) == 2
    _one_error_line(capsys, "no DICOM series converted", "missing slices")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------- fault 6: silent surprises


def test_predict_folder_mixing_nifti_and_dicom_is_refused(tmp_path, capsys):
    """``nnunetv2_cta predict -i mixed -o OUT -m MODEL`` with ``a.nii.gz`` and ``dicom/im000.dcm``: the DICOM
    was silently ignored."""
    from nnunetv2_cta.errors import DatasetFormatError
    from nnunetv2_cta.inference.inputs import find_inputs

    _head(tmp_path / "mixed", "a.nii.gz")
    helpers = _conversion_helpers()
    helpers.write_dicom_series(
        tmp_path / "mixed" / "dicom", np.ones((2, 4, 5), np.uint16), [(0, 0, 0), (0, 0, 1)]
    )
    with pytest.raises(
        DatasetFormatError,
        match=r"mixes 1 NIfTI/MHA/NRRD volume\(s\) and 2 DICOM file\(s\) \(e.g. 'dicom/im000.dcm'\)",
    ):
        find_inputs(tmp_path / "mixed")


# -------------------------------------------------------------------------------------------- flags


def _args(*argv: str):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("spelling", ["nnunet", "ours"])
def test_predict_and_repair_take_nnunet_spellings(spelling):
    """``nnunetv2_cta predict ... -device cuda -num_parts 4 -part_id 3 -f 0 1 -chk checkpoint_best.pth``:
    predict refused -device, -num_parts and -part_id (repair took -device)."""
    nn = spelling == "nnunet"
    common = ["-device" if nn else "--device", "cuda", "-f" if nn else "--folds", "0", "1"]
    common += ["-chk" if nn else "--checkpoint", "checkpoint_best.pth"]
    parts = ["-num_parts" if nn else "--num-parts", "4", "-part_id" if nn else "--part-id", "3"]
    p = _args("predict", "-i", "in", "-o", "out", "-m", "model", *common, *parts)
    assert (p.device, p.folds, p.checkpoint, p.num_parts, p.part_id) == (
        "cuda",
        ["0", "1"],
        "checkpoint_best.pth",
        4,
        3,
    )
    r = _args("repair", "-i", "in", "-s", "s1", "-o", "out", "-m", "model", *common)
    assert (r.device, r.folds, r.checkpoint) == ("cuda", ["0", "1"], "checkpoint_best.pth")


def test_one_folds_default_and_parser():
    """``nnunetv2_cta repair -i I -s S -o O -m CGPM`` used fold 0 while ``predict`` used every trained fold."""
    from nnunetv2_cta.commands._options import parse_folds
    from nnunetv2_cta.errors import ConfigurationError

    assert _args("predict", "-i", "i", "-o", "o", "-m", "m").folds is None
    assert _args("repair", "-i", "i", "-s", "s", "-o", "o", "-m", "m").folds is None
    assert parse_folds(None) is None
    assert parse_folds(["0", "3"]) == (0, 3)
    assert parse_folds(["all"]) == ("all",)
    for bad, message in [
        (["x"], "--folds takes fold numbers (0, 1, ...) or 'all', got 'x'"),
        (["-1"], "got '-1'"),
        (["all", "0"], "'all' (the fold_all model) cannot be mixed with other folds"),
        (["1", "1"], "lists a fold twice"),
    ]:
        with pytest.raises(ConfigurationError) as info:
            parse_folds(bad)
        assert message in str(info.value)


def test_bad_folds_on_the_command_line(tmp_path, capsys):
    """``nnunetv2_cta predict -i I -o O -m M -f zero``: was a ValueError traceback."""
    assert main(["predict", "-i", "i", "-o", str(tmp_path / "o"), "-m", "m", "-f", "zero"]) == 2
    _one_error_line(capsys, "--folds takes fold numbers")


@pytest.mark.parametrize("repair", ["none", "baseline"])
def test_repair_none_with_a_cgpm_is_an_error(tmp_path, capsys, repair):
    """``nnunetv2_cta predict -i I -o O -m M --repair none --cgpm CGPM``: the CGPM was silently ignored."""
    argv = ["predict", "-i", "i", "-o", str(tmp_path / "o"), "-m", "m", "--repair", repair, "--cgpm", "c"]
    assert main(argv) == 2
    _one_error_line(capsys, f"--repair {repair} does not use a CGPM model, but --cgpm 'c' was given")
    assert not (tmp_path / "o").exists()


def test_repair_baseline_with_folds_is_an_error(tmp_path, capsys):
    """``nnunetv2_cta repair -i I -s S -o O --baseline -f 0``: folds were silently ignored."""
    argv = ["repair", "-i", "i", "-s", "s", "-o", str(tmp_path / "o"), "--baseline", "-f", "0"]
    assert main(argv) == 2
    _one_error_line(capsys, "--folds 0 is for a model (-m); --baseline has no folds")


def test_phantom_takes_d_and_n():
    """``nnunetv2_cta phantom -d 502 -n MyPhantom``: phantom had only --dataset-id/--name (convert has -d/-n)."""
    args = _args("phantom", "-d", "502", "-n", "MyPhantom")
    assert (args.dataset_id, args.name) == (502, "MyPhantom")


def test_plan_hint_names_the_trainer_the_readme_uses(monkeypatch, capsys):
    """``nnunetv2_cta plan -d 501 --preset cpu`` ended with ``-tr nnUNetTrainerCTA_Base``; following it made
    the CGPM (default first stage nnUNetTrainerCTA) silently train on simulated breaks."""
    from nnunetv2_cta.planners import plan

    monkeypatch.setattr(plan, "plan_dataset", lambda *a, **k: Path("/p/Dataset501_X/nnUNetCTAPlans_cpu.json"))
    assert main(["plan", "-d", "501", "--preset", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "nnUNetv2_train 501 3d_fullres 0 -tr nnUNetTrainerCTA -p nnUNetCTAPlans_cpu" in out
    default = next(
        a.default
        for a in build_parser()._subparsers._group_actions[0].choices["plan"]._actions
        if a.dest == "cgpm_first_stage_trainer"
    )
    assert default == "nnUNetTrainerCTA"


@pytest.mark.parametrize(
    "command, meaning",
    [
        ("predict", "redo cases that already have OUT/cases/<case>/record.json"),
        ("repair", "write into an output folder that already holds files"),
        ("plan", "replace an existing plans file of this preset"),
        ("phantom", "replace an existing dataset folder of the same name"),
        ("convert nifti-pairs", "replace the dataset folder(s) already using this dataset id"),
        ("convert dicom", "replace existing series_<hash>.nii.gz/.json files of the chosen series"),
    ],
)
def test_overwrite_states_its_one_meaning_in_the_help(command, meaning, capsys):
    """``nnunetv2_cta <command> --help``: ``--overwrite`` meant four things without saying which."""
    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert meaning in help_text
