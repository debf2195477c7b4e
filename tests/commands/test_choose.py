"""``nnunetv2_cta choose``: the choice, the Dice-only choice and the disagreement; one error line per bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnunetv2_cta.cli import main

# six cases: "fat" has the best Dice (0.845) but 5.3 breaks per case, "thin" 0.838 and 1.0 (hand-worked in
# tests/evaluation/test_selection.py): the rule picks thin, Dice alone picks fat
FAT = {"dice": [0.86, 0.84, 0.85, 0.83, 0.85, 0.84], "cldice": 0.70, "breaks": [5, 6, 4, 5, 7, 5]}
THIN = {"dice": [0.85, 0.84, 0.84, 0.83, 0.84, 0.83], "cldice": 0.85, "breaks": [1, 1, 0, 2, 1, 1]}


def _cases(columns: dict, n: int = 6) -> dict:
    cols = {k: v if isinstance(v, list) else [v] * n for k, v in columns.items()}
    return {f"case_{i}": {k: v[i] for k, v in cols.items()} for i in range(n)}


def _write_summary(path: Path, columns: dict, n: int = 6) -> Path:
    """An evaluate summary.json (vessels and bone regions) at ``path``."""
    per_case = [
        {
            "case": case,
            "metrics": {"vessels": dict(m, betti0_error=2.0), "bone": {"dice": 0.9, "betti0_error": 0.0}},
        }
        for case, m in _cases(columns, n).items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metric_per_case": per_case, "num_cases": n}))
    return path


def _choose(capsys, *args) -> tuple[int, str, str]:
    code = main(["choose", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_choose_summaries_prints_and_writes_the_disagreement(tmp_path, capsys):
    _write_summary(tmp_path / "fat" / "summary.json", FAT)
    _write_summary(tmp_path / "thin" / "summary.json", THIN)
    out = tmp_path / "choice.json"
    code, stdout, err = _choose(capsys, tmp_path / "fat", tmp_path / "thin" / "summary.json", "-o", out)
    assert code == 0, err
    assert "topology-aware choice: thin" in stdout and "Dice-only choice:      fat" in stdout
    assert "disagree: 'fat' has the best mean Dice (0.845)" in stdout
    result = json.loads(out.read_text())
    assert (result["choice"], result["dice_choice"], result["agree"], result["verdict"]) == (
        "thin",
        "fat",
        False,
        "disagree",
    )
    assert result["region"] == "vessels" and len(result["inputs"]) == 2 and result["cases"][0] == "case_0"
    assert [c["name"] for c in result["candidates"]] == ["fat", "thin"]


def test_choose_table_and_options(tmp_path, capsys):
    table = tmp_path / "scores.json"
    table.write_text(json.dumps({"fat": _cases(FAT), "thin": _cases(THIN)}))
    # a tolerance of 0.005 makes thin (0.0067 below) ineligible: the two choices agree on fat
    code, stdout, err = _choose(capsys, "--table", table, "--dice-tolerance", "0.005")
    assert code == 0, err
    assert "topology-aware choice: fat" in stdout and stdout.rstrip().splitlines()[-1].startswith("agree: ")
    # min-cases 7 > 6 cases: too small to tell
    code, stdout, err = _choose(capsys, "--table", table, "--min-cases", "7")
    assert code == 0 and "too small to tell: " in stdout and "fewer than 7" in stdout


def test_named_inputs(tmp_path, capsys):
    _write_summary(tmp_path / "a.json", FAT)
    _write_summary(tmp_path / "b.json", THIN)
    code, stdout, _ = _choose(capsys, f"repair_off={tmp_path / 'a.json'}", f"repair_on={tmp_path / 'b.json'}")
    assert code == 0 and "topology-aware choice: repair_on" in stdout


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d: [d / "fat"], "choosing needs at least 2 summaries (or --table FILE.json), got 1"),
        (lambda d: [], "choosing needs at least 2 summaries (or --table FILE.json), got 0"),
        (lambda d: [d / "fat", d / "nope"], "no such summary file: "),
        (
            lambda d: [d / "fat", d / "short"],
            "candidate 'short' has other cases than 'fat': missing ['case_5']",
        ),
        (lambda d: [d / "fat", d / "thin", "--region", "vesels"], "unknown region 'vesels'"),
        (lambda d: [d / "fat", d / "thin", "--region", "bone"], "region 'bone' has no clDice or breaks"),
        (
            lambda d: [d / "fat", d / "thin", "--dice-tolerance", "-1"],
            "dice_tolerance must be a number in [0, 1)",
        ),
        (lambda d: [d / "fat", d / "thin", "--min-cases", "1"], "min_cases must be an integer >= 2, got 1"),
        (lambda d: [d / "fat", "--table", d / "t.json"], "give either summaries or --table, not both"),
        (lambda d: ["--table", d / "t.json"], "no such score table file"),
        (
            lambda d: ["--table", d / "bad_metric.json"],
            "unknown metric 'cl_dice'; expected dice, cldice, breaks",
        ),
        (lambda d: ["--table", d / "one.json"], "at least 2 candidates, got 1"),
        (lambda d: [d / "fat", d / "thin", "-o", d / "out.txt"], "-o must name a .json file, got "),
        (lambda d: [d / "fat", d / "thin", "-o", d / "dir.json"], "is an existing folder; give a file name"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, make_args, message):
    _write_summary(tmp_path / "fat" / "summary.json", FAT)
    _write_summary(tmp_path / "thin" / "summary.json", THIN)
    _write_summary(tmp_path / "short" / "summary.json", THIN, n=5)
    bad = _cases(THIN)
    bad["case_2"]["cl_dice"] = 0.8
    (tmp_path / "bad_metric.json").write_text(json.dumps({"fat": _cases(FAT), "thin": bad}))
    (tmp_path / "one.json").write_text(json.dumps({"fat": _cases(FAT)}))
    (tmp_path / "dir.json").mkdir()
    out = tmp_path / "result.json"
    args = make_args(tmp_path)
    if "-o" not in args:
        args = [*args, "-o", out]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, stdout, err = _choose(capsys, *args)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("nnunetv2_cta choose: error: ") and message in err
    assert stdout == "" and sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_existing_output_needs_overwrite(tmp_path, capsys):
    _write_summary(tmp_path / "fat" / "summary.json", FAT)
    _write_summary(tmp_path / "thin" / "summary.json", THIN)
    out = tmp_path / "choice.json"
    out.write_text("keep")
    code, _, err = _choose(capsys, tmp_path / "fat", tmp_path / "thin", "-o", out)
    assert code == 2 and "exists; pass --overwrite" in err and out.read_text() == "keep"
    code, _, err = _choose(capsys, tmp_path / "fat", tmp_path / "thin", "-o", out, "--overwrite")
    assert code == 0 and json.loads(out.read_text())["choice"] == "thin"
