"""The benchmark report's model-choice section, paired comparisons of repairs and the time table, on hand-made
per-case values (the results of a real run are in benchmarks/results/)."""

from __future__ import annotations

import pytest

from nnunetv2_cta.benchmark.report import _time_table, comparisons, model_choices


def _method(dice, cldice, breaks, base=None):
    cases = [f"c{i}" for i in range(len(dice))]
    return {
        "cases": cases,
        "values": {"vessels": {"dice": dice, "cldice": cldice, "breaks": breaks}},
        "base_method": base,
    }


PER_CASE = {
    "phantom_cta": {
        # the stock loss: 0.005 more Dice, 4 or 5 more breaks in every case
        "stock_trainer": _method([0.85] * 5, [0.70] * 5, [5, 6, 5, 7, 5]),
        "cta": _method([0.845] * 5, [0.72] * 5, [1, 2, 1, 2, 1]),
        # bridging on the chosen stage 1: one break fewer in every case, Dice +0.001
        "chosen_bridging": _method([0.846] * 5, [0.73] * 5, [0, 1, 0, 1, 0], base="cta"),
        "classic": _method([0.5] * 5, [0.4] * 5, [9] * 5),
    }
}


def test_model_choices_stage1_and_repair():
    choices = {c["choice_of"]: c for c in model_choices(PER_CASE)}
    assert set(choices) == {"stage 1", "repair of cta"}
    stage1 = choices["stage 1"]
    # classic is not a trained stage 1; the rule moves from the Dice-only choice to 4 fewer breaks per case
    assert stage1["candidates"] == ["stock_trainer", "cta"]
    assert (stage1["dice_choice"], stage1["choice"], stage1["verdict"]) == (
        "stock_trainer",
        "cta",
        "disagree",
    )
    repair = choices["repair of cta"]
    assert repair["candidates"] == ["cta", "chosen_bridging"]
    # bridging has both the higher Dice and fewer breaks: Dice alone picks it too
    assert (repair["dice_choice"], repair["choice"], repair["verdict"]) == (
        "chosen_bridging",
        "chosen_bridging",
        "agree",
    )


def test_repair_is_compared_with_its_base():
    found = {(c["method"], c["reference"], c["metric"]): c for c in comparisons(PER_CASE)}
    breaks = found[("chosen_bridging", "cta", "breaks")]
    assert breaks["mean_difference"] == -1.0 and breaks["cases_better"] == 5 and breaks["verdict"] == "better"
    assert found[("cta", "stock_trainer", "breaks")]["mean_difference"] == pytest.approx(-4.2)  # (7 - 28) / 5
    assert ("classic", "cta", "dice") not in found


def test_time_table_per_iteration_and_schedule_minutes():
    rows = [
        {"dataset": "d", "method": "cta_cgpm", "region": "vessels", "stage1_trainer": "nnUNetTrainerCTA_Base_cpu",
         "train_s_per_epoch": 25.0, "cgpm_trainer": "nnUNetTrainerCTA_CGPM_cpu", "cgpm_s_per_epoch": 30.0,
         "infer_s_per_case": 12.345},
        {"dataset": "d", "method": "cta_cgpm", "region": "bone", "stage1_trainer": "nnUNetTrainerCTA_Base_cpu",
         "train_s_per_epoch": 25.0, "cgpm_trainer": None, "cgpm_s_per_epoch": None, "infer_s_per_case": 1.0},
        {"dataset": "d", "method": "x", "region": "vessels", "stage1_trainer": "NoSuchTrainer",
         "train_s_per_epoch": 10.0, "cgpm_trainer": None, "cgpm_s_per_epoch": None, "infer_s_per_case": None},
    ]  # fmt: skip
    lines = [line for line in _time_table(rows).splitlines() if line.startswith("| d |")]
    # 60 x 50 iterations: 25 s per epoch = 0.50 s per iteration, 25 min; the CGPM 30 x 50: 0.60 s, 15 min
    assert lines == [
        "| d | cta_cgpm | nnUNetTrainerCTA_Base_cpu | 25.0 | 0.50 | 25.0 | 30.0 | 0.60 | 15.0 | 12.35 |",
        "| d | x | NoSuchTrainer | 10.0 | - | - | - | - | - | - |",
    ]
