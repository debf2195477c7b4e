from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from nnunetv2_cta.cli import main
from nnunetv2_cta.errors import DatasetFormatError, GeometryError, OutputExistsError
from nnunetv2_cta.evaluation.folder import evaluate_folder
from nnunetv2_cta.io import Geometry, write_image

GEOMETRY = Geometry((1.0, 0.7, 0.7))


@pytest.fixture
def folders(tmp_path, tube_x):
    """Two cases: case_a predicted perfectly, case_b with its carotid tube cut once."""
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    shape = (16, 16, 50)
    lab = np.zeros(shape, np.uint8)
    lab[1:3, 2:14, 5:45] = 1
    lab[tube_x(shape, (8, 8), 3, (5, 45))] = 3
    cut = lab.copy()
    cut[:, :, 20:23][cut[:, :, 20:23] == 3] = 0
    for name, gt, pred in (("case_a", lab, lab), ("case_b", lab, cut)):
        write_image(gt_dir / f"{name}.nii.gz", gt, GEOMETRY)
        write_image(pred_dir / f"{name}.nii.gz", pred, GEOMETRY)
    return gt_dir, pred_dir


REGIONS = {"bone": [1], "carotid": [3], "vessels": [2, 3, 4]}


def test_summary_layout_means_and_csv(folders, tmp_path):
    gt_dir, pred_dir = folders
    out = tmp_path / "summary.json"
    summary = evaluate_folder(gt_dir, pred_dir, out, regions=REGIONS)
    on_disk = json.loads(out.read_text())
    assert on_disk == summary
    assert set(summary) >= {"metric_per_case", "mean", "foreground_mean"}
    cases = summary["metric_per_case"]
    assert [c["case"] for c in cases] == ["case_a", "case_b"]
    assert cases[0]["reference_file"].endswith("gt/case_a.nii.gz")
    assert cases[1]["prediction_file"].endswith("pred/case_b.nii.gz")
    assert cases[0]["metrics"]["carotid"]["breaks"] == 0 and cases[1]["metrics"]["carotid"]["breaks"] == 1
    assert cases[1]["breaks"]["carotid"][0]["length_mm"] == pytest.approx(3 * 0.7)
    # means by hand: one perfect case and one with one break
    assert summary["mean"]["carotid"]["breaks"] == pytest.approx(0.5)
    d_b = cases[1]["metrics"]["carotid"]["dice"]
    assert summary["mean"]["carotid"]["dice"] == pytest.approx((1.0 + d_b) / 2)
    # foreground mean: over the three regions for Dice, over the two vessel regions for breaks
    dice_means = [summary["mean"][r]["dice"] for r in REGIONS]
    assert summary["foreground_mean"]["dice"] == pytest.approx(np.mean(dice_means))
    assert summary["foreground_mean"]["breaks"] == pytest.approx(0.5)
    assert "breaks" not in summary["mean"]["bone"]

    rows = list(csv.reader(out.with_suffix(".csv").open()))
    assert rows[0][:4] == ["case", "region", "dice", "iou"]
    assert len(rows) == 1 + 2 * 3
    bone_row = next(r for r in rows if r[:2] == ["case_b", "bone"])
    assert bone_row[rows[0].index("breaks")] == ""


def test_parallel_matches_serial(folders, tmp_path):
    gt_dir, pred_dir = folders
    serial = evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json", regions=REGIONS)
    parallel = evaluate_folder(gt_dir, pred_dir, tmp_path / "p.json", regions=REGIONS, num_processes=2)
    assert parallel["mean"] == serial["mean"]


def test_missing_and_extra_cases(folders, tmp_path):
    gt_dir, pred_dir = folders
    (pred_dir / "case_b.nii.gz").rename(tmp_path / "moved.nii.gz")
    with pytest.raises(DatasetFormatError, match=r"lacks 1 case\(s\) of the ground truth: \['case_b'\]"):
        evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json")
    (tmp_path / "moved.nii.gz").rename(pred_dir / "case_b.nii.gz")
    write_image(pred_dir / "case_c.nii.gz", np.zeros((2, 2, 2), np.uint8), GEOMETRY)
    with pytest.raises(DatasetFormatError, match=r"1 case\(s\) without ground truth: \['case_c'\]"):
        evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json")


def test_unreadable_file_names_the_case(folders, tmp_path):
    gt_dir, pred_dir = folders
    (pred_dir / "case_b.nii.gz").write_bytes(b"not a nifti file")
    with pytest.raises(DatasetFormatError, match=r"case 'case_b': cannot read image .*case_b\.nii\.gz"):
        evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json")


def test_grid_mismatch_names_the_case(folders, tmp_path):
    gt_dir, pred_dir = folders
    pred = np.zeros((16, 16, 50), np.uint8)
    write_image(pred_dir / "case_a.nii.gz", pred, Geometry((1.0, 0.7, 0.7), origin=(0.0, 0.0, 5.0)))
    with pytest.raises(GeometryError, match=r"case 'case_a': prediction origin"):
        evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json")


def test_missing_folder_graph_and_existing_output(folders, tmp_path):
    gt_dir, pred_dir = folders
    with pytest.raises(DatasetFormatError, match=r"prediction folder .* does not exist"):
        evaluate_folder(gt_dir, tmp_path / "nope", tmp_path / "s.json")
    with pytest.raises(
        DatasetFormatError, match=r"case 'case_a': vessel graph .*case_a_graph\.json.* does not exist"
    ):
        evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json", graphs_dir=tmp_path)
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(OutputExistsError, match=r"s\.json' exists"):
        evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json")


def test_cli_evaluate(folders, tmp_path, capsys):
    gt_dir, pred_dir = folders
    out = tmp_path / "cli.json"
    argv = ["evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir), "-o", str(out)]
    assert main([*argv, "--regions", "carotid=3", "vessels=2,3,4"]) == 0
    printed = capsys.readouterr().out
    assert "carotid: dice" in printed and "breaks 0.500" in printed
    assert set(json.loads(out.read_text())["mean"]) == {"carotid", "vessels"}
    # an existing output is a one-line error with exit code 2
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--overwrite", "--regions", "carotid"])
