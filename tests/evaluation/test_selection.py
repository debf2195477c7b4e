"""Topology-aware model choice on hand-made score tables; every expected answer is worked out in comments."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from nnunetv2_cta.errors import ConfigurationError, ScoreTableError
from nnunetv2_cta.evaluation.selection import choose_candidate, format_selection, paired_difference


def _candidate(dice, cldice, breaks, **extra) -> dict:
    """``{case_i: {metric: value}}`` from per-case lists (a scalar is repeated for every case)."""
    n = len(dice)
    columns = {"dice": dice, "cldice": cldice, "breaks": breaks, **extra}
    columns = {k: v if isinstance(v, list) else [v] * n for k, v in columns.items()}
    return {f"case_{i}": {k: v[i] for k, v in columns.items()} for i in range(n)}


# Six held-out cases. "fat" over-segments the walls (best Dice) but leaves gaps; "thin" is a little thinner and
# connected.
#   fat  Dice  .86 .84 .85 .83 .85 .84  mean 5.07/6 = 0.8450   breaks 5 6 4 5 7 5  mean 32/6 = 5.33
#   thin Dice  .85 .84 .84 .83 .84 .83  mean 5.03/6 = 0.8383   breaks 1 1 0 2 1 1  mean  6/6 = 1.00
# Dice-only: fat. Gap 0.0067 <= 0.01, so thin is eligible; thin ranks first (fewer mean breaks).
# Paired breaks, thin - fat: -4 -5 -4 -3 -6 -4: mean -26/6 = -4.333, better in 6 of 6, sample sd
# sqrt((1/9 + 4/9 + 1/9 + 16/9 + 25/9 + 1/9) / 5) = sqrt(16/15) = 1.0328, standard error 1.0328 / sqrt(6) = 0.4216;
# |-4.333| > 2 * 0.4216, so thin is consistently better on breaks and is chosen: the two choices disagree.
FAT = _candidate([0.86, 0.84, 0.85, 0.83, 0.85, 0.84], 0.70, [5, 6, 4, 5, 7, 5])
THIN = _candidate([0.85, 0.84, 0.84, 0.83, 0.84, 0.83], 0.85, [1, 1, 0, 2, 1, 1])


def _comparison(result, candidate: str, metric: str) -> dict:
    return next(c for c in result.comparisons if c["candidate"] == candidate and c["metric"] == metric)


# ----------------------------------------------------------------------------------------- paired stats
def test_paired_difference_by_hand():
    # breaks (lower is better): candidate - reference = -4 -4 -4 -4 -2, mean -3.6; deviations -.4 x4 and 1.6,
    # sample variance (4 * 0.16 + 2.56) / 4 = 0.8, sd 0.8944, se 0.8944 / sqrt(5) = 0.4; 3.6 > 0.8: better
    d = paired_difference([1, 0, 2, 1, 1], [5, 4, 6, 5, 3], higher_is_better=False)
    assert (d.n, d.better, d.worse, d.same, d.left_out, d.verdict) == (5, 5, 0, 0, 0, "better")
    assert d.mean == pytest.approx(-3.6)
    assert d.std == pytest.approx(math.sqrt(0.8))
    assert d.standard_error == pytest.approx(0.4)
    # the same numbers read as "higher is better" (e.g. clDice) are worse in all 5 cases
    assert paired_difference([1, 0, 2, 1, 1], [5, 4, 6, 5, 3], higher_is_better=True).verdict == "worse"


@pytest.mark.parametrize(
    ("candidate", "reference", "verdict", "why"),
    [
        # 4 cases, all better: fewer than min_cases=5
        ([1, 1, 1, 1], [5, 5, 5, 5], "too small to tell", "n < 5"),
        # differences -1 -1 -1 -1 +10: better in 4 of 5, but the mean +1.2 is on the worse side
        ([4, 4, 4, 4, 15], [5, 5, 5, 5, 5], "too small to tell", "majority and mean disagree"),
        # differences -3 +1 -3 +1 -3: mean -1.4, sd sqrt(19.2 / 4) = 2.191, se 0.980; 1.4 < 2 * 0.98
        ([2, 6, 2, 6, 2], [5, 5, 5, 5, 5], "too small to tell", "mean within 2 standard errors"),
        ([3, 3, 3, 3, 3], [3, 3, 3, 3, 3], "same", "identical"),
        # every difference +1 (sd 0): more breaks in 5 of 5
        ([4, 4, 4, 4, 4], [3, 3, 3, 3, 3], "worse", "constant difference"),
    ],
)
def test_paired_difference_verdicts(candidate, reference, verdict, why):
    assert paired_difference(candidate, reference, higher_is_better=False).verdict == verdict, why


def test_paired_difference_leaves_out_not_applicable_cases():
    # breaks None (empty prediction) in case 2 of the candidate and case 4 of the reference: 4 pairs left
    d = paired_difference([0, 1, None, 0, 1, 0], [3, 4, 2, 3, None, 4], higher_is_better=False)
    assert (d.n, d.left_out, d.better) == (4, 2, 4)
    assert d.verdict == "too small to tell"  # 4 < 5
    assert paired_difference([None, None], [1, 2], higher_is_better=False).verdict == "too small to tell"


# ---------------------------------------------------------------------------------------------- the rule
def test_fat_broken_vs_thin_connected_disagree():
    result = choose_candidate({"fat": FAT, "thin": THIN})
    assert (result.choice, result.dice_choice, result.verdict, result.agree) == (
        "thin",
        "fat",
        "disagree",
        False,
    )
    assert "fewer breaks in 6 of 6 cases" in result.reason and "Dice alone picks 'fat'" in result.reason
    breaks = _comparison(result, "thin", "breaks")
    assert breaks["mean"] == pytest.approx(-26 / 6)
    assert breaks["std"] == pytest.approx(math.sqrt(16 / 15))
    assert breaks["standard_error"] == pytest.approx(math.sqrt(16 / 15) / math.sqrt(6))
    assert (breaks["better"], breaks["worse"], breaks["verdict"]) == (6, 0, "better")
    fat, thin = result.candidates
    assert fat.mean["dice"] == pytest.approx(0.845) and thin.mean["dice"] == pytest.approx(5.03 / 6)
    assert (fat.rank, thin.rank, fat.eligible, thin.eligible) == (2, 1, True, True)
    # the order of the candidates does not change the answer
    again = choose_candidate({"thin": THIN, "fat": FAT})
    assert (again.choice, again.dice_choice) == ("thin", "fat")
    text = format_selection(result)
    assert "topology-aware choice: thin" in text and "Dice-only choice:      fat" in text
    assert "-4.33 ± 1.03" in text


def test_many_breaks_fewer_pieces_never_beat_a_large_dice_loss():
    # "lean" has no breaks at all, but its mean Dice 0.7883 is 0.057 below fat's: not eligible; thin is chosen
    lean = _candidate([d - 0.05 for d in [0.85, 0.84, 0.84, 0.83, 0.84, 0.83]], 0.88, 0)
    result = choose_candidate({"fat": FAT, "lean": lean, "thin": THIN})
    assert (result.choice, result.dice_choice) == ("thin", "fat")
    assert [c.eligible for c in result.candidates] == [True, False, True]


def test_identical_candidates_tie_to_the_first_given():
    # every value equal: Dice-only choice is the first given; no one has better topology: agree
    result = choose_candidate({"a": FAT, "b": FAT})
    assert (result.choice, result.dice_choice, result.verdict) == ("a", "a", "agree")
    assert {c["verdict"] for c in result.comparisons} == {"same"}
    swapped = choose_candidate({"b": FAT, "a": FAT})
    assert (swapped.choice, swapped.dice_choice) == ("b", "b")


def test_same_breaks_then_cldice_decides():
    # breaks equal in every case ("same"); clDice of "b" higher by 0.02, 0.03, 0.02, 0.04, 0.03 (5 of 5, se > 0);
    # b's mean Dice 0.795 is 0.005 below a's 0.80: eligible, ranked first on clDice, chosen
    a = _candidate([0.80] * 5, [0.70] * 5, [2, 3, 1, 2, 2])
    b = _candidate([0.795] * 5, [0.72, 0.73, 0.72, 0.74, 0.73], [2, 3, 1, 2, 2])
    result = choose_candidate({"a": a, "b": b})
    assert (result.choice, result.dice_choice, result.verdict) == ("b", "a", "disagree")
    assert "as many breaks in every case and a higher clDice in 5 of 5 cases" in result.reason


def test_equal_topology_means_rank_by_dice():
    # b and c: same mean breaks (1.0) and clDice (0.8); b has the higher Dice -> rank 1; both beat a on breaks
    a = _candidate([0.80] * 5, 0.7, 4)
    b = _candidate([0.799] * 5, 0.8, 1)
    c = _candidate([0.795] * 5, 0.8, 1)
    result = choose_candidate({"a": a, "c": c, "b": b})
    assert {s.name: s.rank for s in result.candidates} == {"a": 3, "c": 2, "b": 1}
    assert result.choice == "b"


def test_breaks_worse_is_not_rescued_by_cldice():
    # b: same Dice, higher clDice, but one more break in every case: it ranks below a (2 vs 1 mean breaks), so
    # the walk stops at a, the Dice-only choice; nothing with better topology is eligible: agree
    a = _candidate([0.80] * 5, 0.70, 1)
    b = _candidate([0.80] * 5, 0.90, 2)
    result = choose_candidate({"a": a, "b": b})
    assert (result.choice, result.verdict) == ("a", "agree")


@pytest.mark.parametrize(
    ("thin_dice", "tolerance", "eligible"),
    [
        # exactly 0.01 below 0.84: inclusive; in floats 0.84 - 0.01 = 0.8300000000000001 > mean 0.8299999999999998
        (0.83, 0.01, True),
        (0.829, 0.01, False),  # 0.011 below
        (0.835, 0.005, True),
        (0.8349, 0.005, False),
        (0.84, 0.0, True),  # tolerance 0: only equal mean Dice
        (0.8399, 0.0, False),
    ],
)
def test_tolerance_edge(thin_dice, tolerance, eligible):
    # fat: mean Dice 0.84, 5 breaks per case; thin: 0 breaks per case (better in 5 of 5, sd 0)
    fat = _candidate([0.84] * 5, 0.7, 5)
    thin = _candidate([thin_dice] * 5, 0.9, 0)
    result = choose_candidate({"fat": fat, "thin": thin}, dice_tolerance=tolerance)
    assert result.candidates[1].eligible is eligible
    assert result.choice == ("thin" if eligible else "fat")
    assert result.verdict == ("disagree" if eligible else "agree")
    if not eligible:
        assert (
            f"'thin' has better topology on average but a mean Dice more than {tolerance:.3f} below"
            in result.reason
        )


def test_too_few_cases_is_too_small_to_tell():
    # the first 4 cases of fat/thin: thin better in 4 of 4, but 4 < min_cases 5: Dice-only choice kept
    fat = {k: FAT[k] for k in list(FAT)[:4]}
    thin = {k: THIN[k] for k in list(THIN)[:4]}
    result = choose_candidate({"fat": fat, "thin": thin})
    assert (result.choice, result.dice_choice, result.verdict) == ("fat", "fat", "too small to tell")
    assert "only 4 paired case(s), fewer than 5" in result.reason
    # with min_cases=4 the same table gives a verdict
    assert choose_candidate({"fat": fat, "thin": thin}, min_cases=4).choice == "thin"


def test_fewer_mean_breaks_from_not_applicable_cases_do_not_win():
    # x's breaks are not applicable in case_5 (empty prediction), where a had 20: x's mean 2.0 < a's 25/6 = 4.17,
    # so x ranks first; paired over the 5 other cases x has one more break in each (worse), so its higher clDice
    # does not count: a, the Dice-only choice, stands
    a = _candidate([0.80] * 6, 0.70, [1, 1, 1, 1, 1, 20])
    x = _candidate([0.80] * 6, 0.90, [2, 2, 2, 2, 2, None])
    result = choose_candidate({"a": a, "x": x})
    assert [c.rank for c in result.candidates] == [2, 1]
    assert (result.choice, result.verdict) == ("a", "agree")
    assert (
        "paired case by case it is worse (breaks: it is worse in 5 of 5 cases, 1 case(s) not" in result.reason
    )


def test_mixed_results_are_too_small_to_tell():
    # breaks thin - fat: -5 -5 +1 +1 +1 -4 (better 3, worse 3); clDice equal ("same"): no consistent win
    fat = _candidate([0.80] * 6, 0.7, 5)
    thin = _candidate([0.80] * 6, 0.7, [0, 0, 6, 6, 6, 1])
    result = choose_candidate({"fat": fat, "thin": thin})
    assert (result.choice, result.verdict) == ("fat", "too small to tell")
    assert "better in 3, worse in 3 of 6 cases" in result.reason


def test_second_ranked_candidate_is_chosen_when_the_first_is_not_consistent():
    # mixed (3.17 mean breaks, not consistent) ranks above steady (4.0, 1 fewer in every case) above fat (5.0)
    fat = _candidate([0.80] * 6, 0.7, 5)
    mixed = _candidate([0.80] * 6, 0.7, [0, 0, 6, 6, 6, 1])
    steady = _candidate([0.80] * 6, 0.7, 4)
    result = choose_candidate({"fat": fat, "mixed": mixed, "steady": steady})
    assert [c.rank for c in result.candidates] == [3, 1, 2]
    assert result.choice == "steady"


def test_not_applicable_breaks_and_optional_metrics():
    # fat's case_0 prediction empty: breaks None; means over the other 5 cases (6+4+5+7+5)/5 = 5.4
    fat = {k: dict(v, seconds=12.0) for k, v in FAT.items()}
    fat["case_0"]["breaks"] = None
    thin = {k: dict(v, seconds=30.0) for k, v in THIN.items()}
    result = choose_candidate({"fat": fat, "thin": thin})
    assert result.candidates[0].mean["breaks"] == pytest.approx(5.4)
    assert result.candidates[0].not_applicable == {"breaks": 1}
    assert _comparison(result, "thin", "breaks")["left_out"] == 1
    assert _comparison(result, "thin", "seconds")["verdict"] == "worse"  # reported, not used
    assert result.choice == "thin" and result.metrics == ("dice", "cldice", "breaks", "seconds")
    json.dumps(result.to_dict(), allow_nan=False)  # JSON-ready


# --------------------------------------------------------------------------------------------- bad input
def _with(candidate: dict, case: str, **changes) -> dict:
    out = {k: dict(v) for k, v in candidate.items()}
    out[case].update(changes)
    return out


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"fat": FAT}, r"at least 2 candidates, got 1: \['fat'\]"),
        ({}, "at least 2 candidates, got 0"),
        ([FAT, THIN], "must map candidate -> case -> metric -> value, got list"),
        (
            {"fat": FAT, "thin": {}},
            "candidate 'thin' must map case -> metric -> value with at least one case",
        ),
        (
            {"fat": FAT, "thin": {k: THIN[k] for k in list(THIN)[:5]}},
            r"candidate 'thin' has other cases than 'fat': missing \['case_5'\], extra \[\]",
        ),
        (
            {"fat": FAT, "thin": {**THIN, "case_9": THIN["case_0"]}},
            r"missing \[\], extra \['case_9'\]",
        ),
        (
            {"fat": FAT, "thin": _with(THIN, "case_2", cl_dice=0.8)},
            "candidate 'thin' case 'case_2': unknown metric 'cl_dice'; expected dice, cldice, breaks, betti0_error, "
            "seconds",
        ),
        (
            {"fat": FAT, "thin": {k: {"dice": v["dice"], "breaks": 1} for k, v in THIN.items()}},
            "metric 'cldice' is missing",
        ),
        (
            {"fat": FAT, "thin": _with(THIN, "case_1", seconds=3.0)},
            "metric 'seconds' is given for some cases but not for candidate 'fat' case 'case_0'",
        ),
        ({"fat": FAT, "thin": _with(THIN, "case_1", dice=1.2)}, r"dice must lie in \[0, 1\], got 1.2"),
        ({"fat": FAT, "thin": _with(THIN, "case_1", dice=None)}, "dice is null; only breaks may be null"),
        (
            {"fat": FAT, "thin": _with(THIN, "case_1", cldice=float("nan"))},
            "cldice must be a finite number, got nan",
        ),
        ({"fat": FAT, "thin": _with(THIN, "case_1", breaks="3")}, "breaks must be a finite number, got '3'"),
        (
            {"fat": FAT, "thin": _with(THIN, "case_1", breaks=True)},
            "breaks must be a finite number, got True",
        ),
        ({"fat": FAT, "thin": _with(THIN, "case_1", breaks=-1)}, "breaks must be >= 0, got -1"),
        ({"fat": FAT, "thin": {**THIN, "case_1": 0.8}}, "candidate 'thin' case 'case_1': expected a metric"),
    ],
)
def test_bad_tables(table, match):
    with pytest.raises(ScoreTableError, match=match):
        choose_candidate(table)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"dice_tolerance": -0.01}, r"dice_tolerance must be a number in \[0, 1\), got -0.01"),
        ({"dice_tolerance": 1.0}, "got 1.0"),
        ({"dice_tolerance": float("nan")}, "got nan"),
        ({"dice_tolerance": "0.01"}, "got '0.01'"),
        ({"min_cases": 1}, "min_cases must be an integer >= 2, got 1"),
        ({"min_cases": 5.0}, "got 5.0"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ConfigurationError, match=match):
        choose_candidate({"fat": FAT, "thin": THIN}, **options)


def test_paired_difference_needs_equal_lengths():
    with pytest.raises(ScoreTableError, match="same number of cases, got 2 and 3"):
        paired_difference([1, 2], [1, 2, 3], higher_is_better=True)


def test_selection_imports_neither_torch_nor_nnunetv2():
    code = (
        "import sys, nnunetv2_cta.evaluation.selection; "
        "print(sorted(m for m in ('torch', 'nnunetv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
