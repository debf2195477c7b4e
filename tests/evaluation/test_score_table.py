"""Score tables: reading ``nnunetv2_cta evaluate`` summaries and JSON tables, and their one-line errors."""

from __future__ import annotations

import json

import pytest

from nnunetv2_cta.errors import ScoreTableError
from nnunetv2_cta.evaluation.score_table import (
    read_summaries,
    read_table,
    scores_from_summary,
    validate_table,
)

# two candidates on three cases (the rule itself is tested in test_selection.py)
FAT = {f"case_{i}": {"dice": 0.86 - i / 100, "cldice": 0.70, "breaks": 5 + i} for i in range(3)}
THIN = {f"case_{i}": {"dice": 0.85 - i / 100, "cldice": 0.85, "breaks": i} for i in range(3)}


def test_validate_table_orders_and_keeps_not_applicable():
    # candidates in the given order, cases sorted, metrics in METRICS order; None kept for breaks
    names, cases, metrics, values = validate_table(
        {"thin": THIN, "fat": {**FAT, "case_0": {**FAT["case_0"], "breaks": None}}}
    )
    assert names == ["thin", "fat"] and cases == ("case_0", "case_1", "case_2")
    assert metrics == ("dice", "cldice", "breaks")
    assert values["fat"]["breaks"] == [None, 6.0, 7.0] and values["thin"]["dice"] == [0.85, 0.84, 0.83]


def summary(candidate: dict, region: str = "vessels") -> dict:
    """An ``nnunetv2_cta evaluate`` summary (layout of evaluation/folder.py) holding a candidate's scores."""
    per_case = []
    for case, m in candidate.items():
        vessel = {"dice": m["dice"], "cldice": m["cldice"], "betti0_error": 1.0, "recall": 0.9}
        if m["breaks"] is not None:  # evaluate leaves breaks out where not applicable
            vessel["breaks"] = m["breaks"]
        per_case.append(
            {"case": case, "metrics": {region: vessel, "bone": {"dice": 0.9, "betti0_error": 0.0}}}
        )
    return {"metric_per_case": per_case, "mean": {}, "num_cases": len(per_case)}


def test_scores_from_summary_reads_the_region():
    fat = {k: dict(v) for k, v in FAT.items()}
    fat["case_2"]["breaks"] = None
    scores = scores_from_summary(summary(fat))
    assert scores["case_0"] == {"dice": 0.86, "cldice": 0.70, "betti0_error": 1.0, "breaks": 5}
    assert scores["case_2"]["breaks"] is None


@pytest.mark.parametrize(
    ("data", "region", "match"),
    [
        (
            {"mean": {}},
            "vessels",
            "expected an 'nnunetv2_cta evaluate' summary with a non-empty 'metric_per_case'",
        ),
        ({"metric_per_case": []}, "vessels", "non-empty 'metric_per_case'"),
        ([1, 2], "vessels", "non-empty 'metric_per_case'"),
        ({"metric_per_case": [{"case": "a"}]}, "vessels", "entry lacks 'case' or 'metrics'"),
        (summary(FAT), "vesels", "unknown region 'vesels' in case 'case_0'; the summary has vessels, bone"),
        (
            summary(FAT),
            "bone",
            "region 'bone' has no clDice or breaks .not a vessel region.; choose one of vessels",
        ),
        (
            {"metric_per_case": summary(FAT)["metric_per_case"][:1] * 2},
            "vessels",
            "case 'case_0' appears twice",
        ),
    ],
)
def test_bad_summaries(data, region, match):
    with pytest.raises(ScoreTableError, match=match):
        scores_from_summary(data, region=region, source="s.json")


def test_read_summaries_names_and_errors(tmp_path):
    for name, cand in (("fat", FAT), ("thin", THIN)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary(cand)))
    (tmp_path / "other.json").write_text(json.dumps(summary(THIN)))
    # folder -> its name; .../summary.json -> the folder's name; another file -> its stem; NAME=PATH -> NAME
    table = read_summaries(
        [str(tmp_path / "fat"), str(tmp_path / "thin" / "summary.json"), str(tmp_path / "other.json"),
         f"repair_on={tmp_path / 'thin'}"]
    )  # fmt: skip
    assert list(table) == ["fat", "thin", "other", "repair_on"]
    assert table["thin"] == table["repair_on"] == scores_from_summary(summary(THIN))
    with pytest.raises(ScoreTableError, match=r"no such summary file: .*missing\.json"):
        read_summaries([str(tmp_path / "fat"), str(tmp_path / "missing.json")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScoreTableError, match=r"no such summary file: .*empty/summary.json"):
        read_summaries([str(tmp_path / "empty")])
    with pytest.raises(ScoreTableError, match=r"two inputs are both named 'fat'.*name them NAME=PATH"):
        read_summaries([str(tmp_path / "fat"), f"fat={tmp_path / 'thin'}"])
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ScoreTableError, match=r"cannot read summary .*broken\.json"):
        read_summaries([str(tmp_path / "broken.json")])


def test_read_table_errors(tmp_path):
    with pytest.raises(ScoreTableError, match="no such score table file"):
        read_table(tmp_path / "t.json")
    (tmp_path / "t.json").write_text("[1, 2]")
    with pytest.raises(
        ScoreTableError, match="must be a JSON object candidate -> case -> metric -> value, got list"
    ):
        read_table(tmp_path / "t.json")
    (tmp_path / "t.json").write_text("{")
    with pytest.raises(ScoreTableError, match="cannot read score table"):
        read_table(tmp_path / "t.json")


def test_reads_a_real_evaluate_summary(tmp_path, tube_x):
    """The summary layout written by evaluate_folder is the one read here (a gapped tube has 1 break)."""
    from nnunetv2_cta.evaluation.folder import evaluate_folder
    from nnunetv2_cta.io import Geometry, write_image

    shape, geometry = (16, 16, 32), Geometry((1.0, 1.0, 1.0))
    gt = tube_x(shape, (8, 8), 2, (2, 30)).astype("uint8") * 3  # carotid
    gapped = gt.copy()
    gapped[:, :, 14:17] = 0
    for folder, volume in (("gt", gt), ("pred", gapped)):
        write_image(tmp_path / folder / "case_a.nii", volume, geometry)
    evaluate_folder(tmp_path / "gt", tmp_path / "pred", tmp_path / "out" / "summary.json")
    scores = read_summaries([str(tmp_path / "out")])["out"]
    assert set(scores["case_a"]) == {"dice", "cldice", "breaks", "betti0_error"}
    assert scores["case_a"]["breaks"] == 1 and 0 < scores["case_a"]["dice"] < 1


def test_non_string_keys_are_read_as_strings():
    # a table built in Python may use numbers as candidate or case names
    row = {"dice": 0.8, "cldice": 0.7, "breaks": 1}
    names, cases, _, values = validate_table({1: {7: row}, 2: {7: row}})
    assert names == ["1", "2"] and cases == ("7",) and values["2"]["breaks"] == [1.0]
