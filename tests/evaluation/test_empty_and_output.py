"""Issue 16 item 7 and the ``evaluate -o`` flag.

- ``nnunetv2_cta evaluate --gt gt --pred empty_preds -o s.json``: an empty prediction used to score
  "breaks 0" (read as perfect); breaks are now left out (not applicable) with ``empty_prediction`` = 1.
- ``nnunetv2_cta evaluate ... -o results``: used to write a *file* named ``results``; a path without ``.json``
  is now a folder receiving summary.json and summary.csv.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from nnunetv2_cta.cli import main
from nnunetv2_cta.commands.evaluate import output_paths
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.evaluation import evaluate_case
from nnunetv2_cta.evaluation.folder import evaluate_folder
from nnunetv2_cta.io import Geometry, write_image

GEOMETRY = Geometry((1.0, 0.7, 0.7))
REGIONS = {"carotid": [3], "intracranial": [4], "vessels": [2, 3, 4]}


@pytest.fixture
def lab(tube_x):
    """A carotid tube (3) along x, 40 voxels long; no intracranial label."""
    shape = (16, 16, 50)
    out = np.zeros(shape, np.uint8)
    out[tube_x(shape, (8, 8), 3, (5, 45))] = 3
    return out


def test_empty_prediction_has_no_breaks_and_is_flagged(lab):
    out = evaluate_case(lab, np.zeros_like(lab), GEOMETRY, regions=REGIONS, case="e1")
    m = out["metrics"]["carotid"]
    assert m["empty_prediction"] == 1 and m["empty_reference"] == 0
    assert "breaks" not in m and "break_length_mm" not in m  # not "0 breaks"
    assert out["breaks"]["carotid"] == []
    # the other metrics score the miss as a failure
    assert m["dice"] == 0.0 and m["recall"] == 0.0 and m["cldice"] == 0.0 and m["connected_recall"] == 0.0
    # intracranial is empty on both sides: flagged on both, breaks not applicable, Dice 1 by convention
    ic = out["metrics"]["intracranial"]
    assert (ic["empty_reference"], ic["empty_prediction"], ic["dice"], "breaks" in ic) == (1, 1, 1.0, False)


def test_empty_ground_truth_is_flagged_and_a_normal_case_is_not(lab, tube_x):
    gt = lab.copy()
    pred = lab.copy()
    pred[tube_x(lab.shape, (3, 3), 1, (10, 20))] = 4  # a false intracranial vessel, no such ground truth
    cut = pred.copy()
    cut[:, :, 20:23][cut[:, :, 20:23] == 3] = 0  # 3 columns of 0.7 mm cut out of the carotid
    out = evaluate_case(gt, cut, GEOMETRY, regions=REGIONS)
    ic, ca = out["metrics"]["intracranial"], out["metrics"]["carotid"]
    assert (ic["empty_reference"], ic["empty_prediction"], "breaks" in ic) == (1, 0, False)
    assert (ca["empty_reference"], ca["empty_prediction"], ca["breaks"]) == (0, 0, 1)
    assert ca["break_length_mm"] == pytest.approx(3 * 0.7)


def test_folder_means_skip_not_applicable_cases_and_say_how_many(lab, tmp_path, capsys):
    """case_a: perfect (0 breaks); case_b: cut once (1 break); case_c: empty prediction (n/a)."""
    cut = lab.copy()
    cut[:, :, 20:23][cut[:, :, 20:23] == 3] = 0
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    for name, pred in (("case_a", lab), ("case_b", cut), ("case_c", np.zeros_like(lab))):
        write_image(gt_dir / f"{name}.nii.gz", lab, GEOMETRY)
        write_image(pred_dir / f"{name}.nii.gz", pred, GEOMETRY)
    summary = evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json", regions={"carotid": [3]})
    mean = summary["mean"]["carotid"]
    assert mean["breaks"] == pytest.approx(0.5)  # (0 + 1) / 2 cases that have a value
    assert mean["break_length_mm"] == pytest.approx(3 * 0.7 / 2)
    assert mean["empty_prediction"] == pytest.approx(1 / 3)
    assert summary["not_applicable"] == {"carotid": {"breaks": 1, "break_length_mm": 1}}
    on_disk = json.loads((tmp_path / "s.json").read_text())["metric_per_case"]
    assert (
        "breaks" not in on_disk[2]["metrics"]["carotid"] and on_disk[1]["metrics"]["carotid"]["breaks"] == 1
    )
    rows = list(csv.reader((tmp_path / "s.csv").open()))
    assert rows[3][rows[0].index("breaks")] == "n/a" and rows[1][rows[0].index("breaks")] == "0"

    assert main(["evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir), "-o", str(tmp_path / "c.json"),
                 "--regions", "carotid=3"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert (
        "breaks 0.500 (not applicable in 1 of 3 case(s): empty prediction or ground truth), vscore" in printed
    )


def test_all_cases_not_applicable_gives_a_null_mean(lab, tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    write_image(gt_dir / "a.nii.gz", lab, GEOMETRY)
    write_image(pred_dir / "a.nii.gz", np.zeros_like(lab), GEOMETRY)
    summary = evaluate_folder(gt_dir, pred_dir, tmp_path / "s.json", regions={"carotid": [3]})
    assert "breaks" not in summary["mean"]["carotid"]
    assert summary["not_applicable"] == {"carotid": {"breaks": 1, "break_length_mm": 1}}
    assert "breaks" not in summary["foreground_mean"] and summary["foreground_mean"]["dice"] == 0.0


# --- evaluate -o: a file or a folder, never a guess ---


def test_output_paths_file_and_folder(tmp_path):
    assert output_paths(str(tmp_path / "s.json")) == (tmp_path / "s.json", tmp_path / "s.csv")
    assert output_paths(str(tmp_path / "S.JSON"))[0] == tmp_path / "S.JSON"
    # a path without .json is a folder, existing or not
    assert output_paths(str(tmp_path / "new" / "results")) == (
        tmp_path / "new" / "results" / "summary.json",
        tmp_path / "new" / "results" / "summary.csv",
    )
    assert output_paths(str(tmp_path)) == (tmp_path / "summary.json", tmp_path / "summary.csv")
    assert output_paths(str(tmp_path / "s.json"), str(tmp_path / "t.csv"))[1] == tmp_path / "t.csv"


@pytest.mark.parametrize(
    "make, output, csv_arg, match",
    [
        ("file", "results", None, r"-o '.*results' is an existing file but not a \.json"),
        ("dir", "s.json", None, r"-o '.*s\.json' ends in \.json but is a folder"),
        ("dir", "x.json", "s.json", r"--csv '.*s\.json' is a folder"),
        (
            "file",
            "results/sub/s.json",
            None,
            r"output folder '.*results/sub' cannot be written: '.*results' is not",
        ),
    ],
)
def test_output_paths_refuse_ambiguous_or_unwritable(tmp_path, make, output, csv_arg, match):
    existing = tmp_path / ("results" if output.startswith("results") else "s.json")
    existing.mkdir() if make == "dir" else existing.write_text("x")
    with pytest.raises(ConfigurationError, match=match):
        output_paths(str(tmp_path / output), None if csv_arg is None else str(tmp_path / csv_arg))


def test_cli_o_folder_writes_summary_inside_and_checks_before_reading(lab, tmp_path, capsys):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    write_image(gt_dir / "a.nii.gz", lab, GEOMETRY)
    write_image(pred_dir / "a.nii.gz", lab, GEOMETRY)
    out = tmp_path / "results"
    assert main(["evaluate", "--gt", str(gt_dir), "--pred", str(pred_dir), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv", "summary.json"]
    assert f"summary: {out / 'summary.json'} (+ summary.csv)" in capsys.readouterr().out
    # an unusable -o fails in one line before the (missing) input folders are even looked at
    (tmp_path / "afile").write_text("x")
    assert main(["evaluate", "--gt", "nope", "--pred", "nope", "-o", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is an existing file but not a .json" in err[0]
