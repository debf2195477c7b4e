"""Case and dataset writing: nnU-Net integrity check, byte determinism, refusing to overwrite, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.errors import ConfigurationError, GeometryError, OutputExistsError, SpacingError


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_write_case_round_trip(cta_case, tmp_path):
    from nnunetv2_cta.io import read_image
    from nnunetv2_cta.phantom import load_vessel_graph, write_case

    paths = write_case(cta_case, tmp_path, "case_001")
    img, geo = read_image(paths["image"])
    lab, geo_l = read_image(paths["label"])
    np.testing.assert_array_equal(img, cta_case.image)
    np.testing.assert_array_equal(lab, cta_case.labels)
    assert img.dtype == np.int16 and lab.dtype == np.uint8
    assert geo.mismatch(cta_case.geometry, atol=1e-4) is None and geo_l.mismatch(geo) is None
    g = load_vessel_graph(paths["graph"])
    assert g["segments"][0]["points"].shape[1] == 3
    # consecutive graph points are at most one voxel apart
    for seg in g["segments"]:
        assert np.linalg.norm(np.diff(seg["points"], axis=0), axis=1).max() <= 3.0 + 1e-3
    first = _tree_bytes(tmp_path)
    write_case(cta_case, tmp_path, "case_001")
    assert _tree_bytes(tmp_path) == first


def test_dataset_passes_nnunet_integrity_and_is_deterministic(nnunet_dirs, tmp_path):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    from nnunetv2_cta.phantom import write_dataset

    out = write_dataset(
        modality="cta",
        cases=2,
        test_cases=1,
        dataset_id=900,
        name="PhantomTiny",
        preset="tiny",
        seed=3,
        regions=True,
    )
    assert out == nnunet_dirs["nnUNet_raw"] / "Dataset900_PhantomTiny"
    verify_dataset_integrity(str(out), num_processes=1)
    dj = json.loads((out / "dataset.json").read_text())
    assert (
        dj["channel_names"] == {"0": "CT"} and dj["numTraining"] == 2 and dj["labels"]["vessels"] == [2, 3, 4]
    )
    assert sorted(p.name for p in (out / "imagesTs").iterdir()) == ["PhantomTiny_0002_0000.nii.gz"]
    assert sorted(p.name for p in (out / "graphsTr").iterdir()) == [
        "PhantomTiny_0000_graph.json",
        "PhantomTiny_0001_graph.json",
    ]
    # same seed and arguments -> identical bytes (case 0 of a shorter run is the same case)
    again = write_dataset(
        tmp_path / "again",
        modality="cta",
        cases=1,
        test_cases=0,
        dataset_id=900,
        name="PhantomTiny",
        preset="tiny",
        seed=3,
    )
    for sub in (
        "imagesTr/PhantomTiny_0000_0000.nii.gz",
        "labelsTr/PhantomTiny_0000.nii.gz",
        "graphsTr/PhantomTiny_0000_graph.json",
    ):
        assert (out / sub).read_bytes() == (again / sub).read_bytes(), sub
    # existing output: refused, untouched; replaced with overwrite
    with pytest.raises(OutputExistsError, match="exists; pass overwrite=True"):
        write_dataset(tmp_path / "again", cases=1, test_cases=0, preset="tiny")
    assert len(list((tmp_path / "again" / "imagesTr").iterdir())) == 1
    before = _tree_bytes(again)
    with pytest.raises(OutputExistsError):
        write_dataset(tmp_path / "again", cases=1, test_cases=0, preset="tiny", seed=9)
    assert _tree_bytes(again) == before
    write_dataset(
        tmp_path / "again", cases=1, test_cases=1, preset="tiny", name="PhantomTiny", overwrite=True
    )
    assert len(list((tmp_path / "again" / "imagesTs").iterdir())) == 1
    assert not list(tmp_path.glob(".tmp_*")) and not list(tmp_path.glob(".old_*"))
    with pytest.raises(OutputExistsError, match="dataset id 900 is already used"):
        write_dataset(cases=1, test_cases=0, dataset_id=900, name="Other", preset="tiny")


def test_dsa_dataset_has_mask_and_subtracted_runs(tmp_path):
    from nnunetv2_cta.phantom import write_dataset

    out = write_dataset(
        tmp_path / "d",
        modality="dsa",
        cases=1,
        test_cases=0,
        dataset_id=901,
        name="PhantomDSA",
        preset="tiny",
    )
    assert sorted(p.name for p in (out / "dsaTr").iterdir()) == [
        "PhantomDSA_0000_mask.nii.gz",
        "PhantomDSA_0000_subtracted.nii.gz",
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"modality": "pet"}, ConfigurationError, "modality must be one of"),
        ({"cases": 0}, ConfigurationError, "cases must be an int >= 1, got 0"),
        ({"dataset_id": 1000}, ConfigurationError, "dataset_id must be an int in 1..999"),
        ({"name": "bad name"}, ConfigurationError, "name must be letters"),
        (
            {"misregistration_mm": -1.0},
            ConfigurationError,
            "misregistration_mm must be between 0 and 10 mm, got -1.0",
        ),
        ({"pathologies": ["wobble"]}, ConfigurationError, "unknown pathology"),
        ({"spacing": -2.0}, SpacingError, "spacing must be a positive"),
        ({"spacing": 40.0}, GeometryError, "impossible field of view"),
        (
            {"fov": (330.0, 20.0, 192.0)},
            GeometryError,
            r"impossible field of view: \(330.0, 20.0, 192.0\) mm",
        ),
    ],
)
def test_bad_input_leaves_nothing_behind(tmp_path, kwargs, error, match):
    from nnunetv2_cta.phantom import write_dataset

    args = {"cases": 1, "test_cases": 0, "preset": "tiny", **kwargs}
    with pytest.raises(error, match=match):
        write_dataset(tmp_path / "ds", **args)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_run_removes_the_partial_dataset(tmp_path, monkeypatch):
    from nnunetv2_cta.phantom import writer

    calls = {"n": 0}
    real = writer.render_case

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "render_case", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        writer.write_dataset(tmp_path / "ds", cases=2, test_cases=0, preset="tiny")
    assert list(tmp_path.iterdir()) == []


def test_cli(tmp_path, capsys):
    from nnunetv2_cta.cli import main

    out = tmp_path / "Dataset902_Cli"
    rc = main(
        [
            "phantom",
            "--preset",
            "tiny",
            "--cases",
            "1",
            "--test-cases",
            "0",
            "--dataset-id",
            "902",
            "--name",
            "Cli",
            "--modality",
            "ncct",
            "-o",
            str(out),
            "--preview",
            "--pathologies",
            "stenosis,aneurysm",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in (out / "previews").iterdir()) == [
        "Cli_0000_cta.png",
        "Cli_0000_dsa.png",
        "Cli_0000_ncct.png",
    ]
    assert json.loads((out / "dataset.json").read_text())["phantom"]["pathologies"] == [
        "stenosis",
        "aneurysm",
    ]
    rc = main(["phantom", "--preset", "tiny", "--cases", "1", "-o", str(out)])
    assert rc == 2
    assert "exists" in capsys.readouterr().err
    rc = main(["phantom", "--preset", "tiny", "--modality", "xray", "-o", str(tmp_path / "x")])
    assert rc == 2
    assert "modality must be one of ['cta', 'ncct', 'dsa'], got 'xray'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert os.environ.get("nnUNet_raw")
