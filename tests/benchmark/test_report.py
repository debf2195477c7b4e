"""The benchmark report's model-choice section, paired comparisons of repairs and the time table, on hand-made
per-case values (the results of a real run are in benchmarks/results/)."""

from __future__ import annotations

import pytest

from nnunetv2_cta.benchmark.report import (
    _time_table,
    comparisons,
    markdown,
    modality_comparisons,
    model_choices,
    summarise,
)


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


def _intracranial(name, cases, dice, breaks):
    values = {"intracranial": {"dice": dice, "cldice": [0.5] * len(dice), "breaks": breaks}}
    return {"cases": [f"{name}_{c:04d}" for c in cases], "values": values, "base_method": None}


def test_modality_comparisons_pair_cases_by_seed_number():
    per_case = {
        # CTA cases listed in another order than NCCT's: pairing follows the case number, not the position
        "phantom_cta": {
            "stock_trainer": _intracranial("PhantomCTA", [26, 24, 25, 27, 28], [0.7, 0.6, 0.65, 0.6, 0.62], [3, 1, 2, 4, 2]),
            "classic": _intracranial("PhantomCTA", [24, 25, 26, 27, 28], [0.3] * 5, [1] * 5),
        },
        "phantom_ncct": {
            "stock_trainer": _intracranial("PhantomNCCT", [24, 25, 26, 27, 28], [0.2, 0.3, 0.1, 0.2, 0.22], [1, 1, 1, 1, 1]),
            # a different seed: never paired
            "classic": _intracranial("PhantomNCCT", [24, 25, 26, 27, 99], [0.0] * 5, [0] * 5),
        },
    }  # fmt: skip
    found = {
        (c["dataset"], c["reference"], c["method"], c["metric"]): c for c in modality_comparisons(per_case)
    }
    assert set(found) == {
        ("phantom_cta", "phantom_ncct", "stock_trainer", m) for m in ("dice", "cldice", "breaks")
    }
    dice = found[("phantom_cta", "phantom_ncct", "stock_trainer", "dice")]
    # pairs (CTA - NCCT) by seed: 24: 0.6-0.2, 25: 0.65-0.3, 26: 0.7-0.1, 27: 0.6-0.2, 28: 0.62-0.22
    assert dice["mean_difference"] == pytest.approx((0.4 + 0.35 + 0.6 + 0.4 + 0.4) / 5)
    assert (dice["cases_better"], dice["n"], dice["verdict"]) == (5, 5, "better")
    breaks = found[("phantom_cta", "phantom_ncct", "stock_trainer", "breaks")]
    # more breaks on CTA in 4 of 5 seeds (seed 24: 1 vs 1): 1.4 more on average, fewer is better -> worse
    assert breaks["mean_difference"] == pytest.approx(1.4) and breaks["cases_worse"] == 4
    assert breaks["verdict"] == "worse"
    assert found[("phantom_cta", "phantom_ncct", "stock_trainer", "cldice")]["verdict"] == "same"


def _case(name, regions):
    """One evaluated case: ``{region: (empty reference?, dice)}``."""
    return {
        "case": name,
        "metrics": {r: {"empty_reference": int(empty), "dice": dice} for r, (empty, dice) in regions.items()},
    }


def test_a_region_is_summarised_over_the_cases_that_contain_it():
    cases = [  # a head crop has no aorta and no bone: its Dice 1 and 0 there are conventions, not measurements
        _case("arch_a", {"vessels": (0, 0.6), "aorta": (0, 0.8), "bone": (1, 1.0), "intracranial": (1, 0.0)}),
        _case("head_b", {"vessels": (0, 0.2), "aorta": (1, 1.0), "bone": (1, 0.0), "intracranial": (0, 0.3)}),
        _case("arch_c", {"vessels": (0, 0.4), "aorta": (0, 0.5), "bone": (1, 1.0), "intracranial": (1, 1.0)}),
    ]
    outcome = {"dataset": "real_geometry", "method": "cta", "summary": {"metric_per_case": cases},
               "train_s_per_epoch": {}, "infer_s_per_case": None}  # fmt: skip
    rows, per_case = summarise([outcome])
    by_region = {r["region"]: r for r in rows}
    assert set(by_region) == {"vessels", "aorta", "intracranial"}  # no case has bone: no row
    assert by_region["vessels"]["n_cases"] == 3 and by_region["vessels"]["dice_mean"] == pytest.approx(0.4)
    assert by_region["aorta"]["n_cases"] == 2 and by_region["aorta"]["dice_mean"] == pytest.approx(0.65)
    assert by_region["aorta"]["dice_min"] == 0.5 and by_region["aorta"]["dice_std"] == pytest.approx(0.15)
    assert by_region["intracranial"]["n_cases"] == 1 and by_region["intracranial"]["dice_mean"] == 0.3
    info = per_case["real_geometry"]["cta"]
    assert info["cases"] == ["arch_a", "head_b", "arch_c"]
    assert info["region_cases"]["aorta"] == ["arch_a", "arch_c"] and info["values"]["aorta"]["dice"] == [
        0.8,
        0.5,
    ]


def test_plot_leaves_out_a_region_no_case_contains(tmp_path):
    from nnunetv2_cta.benchmark.plots import plot_methods

    head = {"cases": ["a", "b"], "values": {"vessels": {"dice": [0.2, 0.4], "cldice": [0.3, 0.5]}}}
    with_bone = {
        "cases": ["a", "b"],
        "values": {"vessels": {"dice": [0.5, 0.6]}, "bone": {"dice": [0.9, 0.8]}},
    }
    panels = plot_methods({"real": {"cta": head, "classic": head}}, "real", tmp_path / "real.png")
    assert (
        panels == [("vessels", "dice"), ("vessels", "cldice")] and (tmp_path / "real.png").stat().st_size > 0
    )
    assert ("bone", "dice") in plot_methods({"p": {"cta": with_bone}}, "p", tmp_path / "p.png")
    nothing = {"cases": ["a"], "values": {"aorta": {"dice": [1.0]}}}
    assert plot_methods({"x": {"cta": nothing}}, "x", tmp_path / "x.png") == []
    assert not (tmp_path / "x.png").exists()


def test_modality_pairs_use_the_cases_that_contain_the_region():
    def method(name, numbers, dice, without):
        info = _intracranial(name, numbers, dice, [1] * len(dice))
        info["region_cases"] = {"intracranial": [c for c in info["cases"] if not c.endswith(without)]}
        info["values"]["intracranial"] = {k: [v for c, v in zip(info["cases"], vals, strict=True)
                                              if not c.endswith(without)]
                                          for k, vals in info["values"]["intracranial"].items()}  # fmt: skip
        return info

    per_case = {  # case 0099 has no intracranial reference on NCCT: left out of both sides, the rest still pair
        "phantom_cta": {"cta": method("PhantomCTA", [24, 25, 26, 27, 28, 99], [0.6] * 5 + [0.9], "0099")},
        "phantom_ncct": {"cta": method("PhantomNCCT", [99, 24, 25, 26, 27, 28], [0.0, 0.4, 0.4, 0.5, 0.4, 0.4],
                                       "0099")},
    }  # fmt: skip
    dice = {c["metric"]: c for c in modality_comparisons(per_case)}["dice"]
    assert dice["n"] == 5 and dice["mean_difference"] == pytest.approx(0.18)  # (0.2 * 4 + 0.1) / 5


def test_markdown_has_the_modality_section_only_when_there_are_comparisons():
    from nnunetv2_cta.benchmark.definition import BUDGETS

    machine = {"cpu": "x", "cores": 2, "gpu": None, "torch": "t", "nnunetv2": "n", "nnunetv2_cta": "c",
               "git_commit": "abc", "git_dirty": False}  # fmt: skip
    row = {"dataset": "phantom_cta", "reference": "phantom_ncct", "method": "cta", "metric": "dice",
           "mean_difference": 0.25, "standard_error": 0.01, "n": 8, "cases_better": 8, "cases_worse": 0,
           "verdict": "better"}  # fmt: skip
    budget = BUDGETS["tiny"]
    with_section = markdown([], budget, machine, None, [], [], modalities=[row])
    assert "## Paired comparisons between modalities (intracranial region)" in with_section
    assert "| phantom_cta | phantom_ncct | cta | dice | +0.250 ± 0.010 | 8/8 | better |" in with_section
    assert "between modalities" not in markdown([], budget, machine, None, [], [])


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
