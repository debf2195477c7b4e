"""Topology-aware model choice: pick a trainer, configuration or post-processing variant by breaks and clDice.

nnU-Net chooses configurations, ensembles and post-processing by mean Dice alone
(``nnUNetv2_find_best_configuration``, ``determine_postprocessing``). On vessel trees that rewards a fat
prediction with gaps over a thinner connected one: a wall slightly too thick adds Dice along every large
vessel, while a gap of a few millimetres costs almost no Dice and cuts the tree in two. This module picks one
*candidate* (a trainer, a configuration, or a post-processing variant such as "repair on/off" or "clean-up
threshold X", each scored on the same held-out cases) by a stated rule that counts breaks and clDice, and
says where that choice and the Dice-only choice disagree, and why.

**The rule** (defaults ``dice_tolerance=0.01``, ``min_cases=5``). The Dice-only choice is the candidate with
the highest mean Dice (ties: the first given), which is what nnU-Net would pick. Candidates whose mean Dice is
within ``dice_tolerance`` of that best (inclusive) are *eligible*; they are ranked by mean breaks per case
(fewer first), then mean clDice, then mean Dice. Walking that ranking from the top down to the Dice-only
choice, the first candidate that is *consistently better* than the Dice-only choice on breaks -- or, where
breaks do not differ consistently, on clDice -- is chosen; if none is, the Dice-only choice stands. A
candidate is *consistently better* on a metric when its paired per-case differences to the Dice-only choice
(over the cases where both have a value) cover at least ``min_cases`` cases, it is better in more cases than
it is worse, and the mean difference favours it by more than twice its standard error (the rule of thumb of
the benchmark's paired table, :func:`nnunetv2_cta.benchmark.report.paired_difference`, with a larger minimum
number of cases; not a significance test). Otherwise a comparison reads ``"same"`` (every difference 0) or
``"too small to tell"``.

Why this shape:

- *Start from the Dice-only choice and move only on evidence.* With a handful of cases one bad case decides a
  mean; a paired, per-case comparison does not invent a verdict. When a candidate has better topology on
  average but not consistently, :attr:`Selection.verdict` is ``"too small to tell"`` and the Dice-only choice
  is kept.
- *A Dice tolerance, not topology alone.* Breaks reward leaving things out: a missing branch or a missing
  distal end is not a break (:mod:`.breaks`), and with an empty prediction breaks are not applicable at all.
  A candidate that loses more than ``dice_tolerance`` mean Dice is never chosen, however few breaks it has.
- *Breaks before clDice.* A break cuts the tree (a curved planar reformation or a flow path ends there);
  clDice averages over centerline length, so a few short gaps barely move it (Shit et al., "clDice", CVPR
  2021). clDice decides only where breaks do not, and it also penalises the missing branches that breaks do
  not count.
- *Betti-0 error and seconds are reported, not used.* The Betti-0 error mixes spurious islands with broken
  pieces, which a clean-up threshold trades against each other; run time is a budget the user sets.

**The score table** is ``{candidate: {case: {metric: value}}}`` with ``dice``, ``cldice`` and ``breaks`` per
case, optionally ``betti0_error`` and ``seconds``; its form, its checks and the readers for ``nnunetv2_cta
evaluate`` summaries and JSON files are in :mod:`.score_table`. ``nnunetv2_cta choose`` is the command.

Example:
    >>> fat = {f"c{i}": {"dice": 0.85, "cldice": 0.70, "breaks": 5} for i in range(5)}
    >>> thin = {f"c{i}": {"dice": 0.845, "cldice": 0.80, "breaks": 1} for i in range(5)}
    >>> result = choose_candidate({"fat": fat, "thin": thin})
    >>> result.choice, result.dice_choice, result.verdict
    ('thin', 'fat', 'disagree')

This module imports only the standard library and :mod:`.score_table` (no numpy, torch or nnunetv2).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from nnunetv2_cta.errors import ConfigurationError, ScoreTableError
from nnunetv2_cta.evaluation.score_table import (
    METRICS,
    NULLABLE_METRICS,
    REQUIRED_METRICS,
    ScoreTable,
    validate_table,
)

#: slack for float rounding at the Dice tolerance (0.84 - 0.01 is 0.8300000000000001, above a mean of 0.83)
_EPS = 1e-9

Verdict = Literal["better", "worse", "same", "too small to tell"]

RULE = (
    "Dice-only choice: highest mean Dice. Eligible: mean Dice within the tolerance of it. Ranked by mean "
    "breaks per case, then clDice, then Dice; from the top down to the Dice-only choice, the first candidate "
    "consistently better than it on breaks (or, where breaks do not differ consistently, on clDice) is chosen, "
    "else the Dice-only choice stands. Consistently better: >= min_cases paired cases, better in more cases "
    "than worse, mean difference beyond 2 standard errors."
)


@dataclass(frozen=True)
class PairedDifference:
    """Paired per-case difference ``candidate - reference`` of one metric.

    Attributes:
        n: cases where both sides have a value (``left_out`` cases had ``None`` on a side).
        mean, std: mean and sample standard deviation of the differences (``std`` ``None`` with n < 2).
        standard_error: ``std / sqrt(n)`` (``None`` with n < 2).
        better, worse, same: cases where the candidate is better, worse, equal (direction of the metric).
        verdict: ``"better"``/``"worse"`` for the candidate, ``"same"`` or ``"too small to tell"``.
    """

    n: int
    mean: float | None
    std: float | None
    standard_error: float | None
    better: int
    worse: int
    same: int
    left_out: int
    verdict: Verdict


def paired_difference(
    candidate: Sequence[float | None],
    reference: Sequence[float | None],
    *,
    higher_is_better: bool,
    min_cases: int = 5,
) -> PairedDifference:
    """Paired per-case difference ``candidate - reference`` and a verdict (rule in the module docstring).

    Example:
        >>> d = paired_difference([1, 0, 2, 1, 1], [5, 4, 6, 5, 3], higher_is_better=False)
        >>> d.mean, d.better, d.worse, d.verdict
        (-3.6, 5, 0, 'better')
        >>> paired_difference([1, 0, 2], [5, 4, 6], higher_is_better=False).verdict  # 3 cases < 5
        'too small to tell'
    """
    if len(candidate) != len(reference):
        raise ScoreTableError(
            f"paired values need the same number of cases, got {len(candidate)} and {len(reference)}"
        )
    pairs = [(a, b) for a, b in zip(candidate, reference, strict=True) if a is not None and b is not None]
    diffs = [float(a) - float(b) for a, b in pairs]
    n = len(diffs)
    sign = 1.0 if higher_is_better else -1.0
    better = sum(1 for d in diffs if sign * d > 0)
    worse = sum(1 for d in diffs if sign * d < 0)
    mean = statistics.fmean(diffs) if n else None
    std = statistics.stdev(diffs) if n >= 2 else None
    se = std / math.sqrt(n) if std is not None else None
    verdict: Verdict
    if n and better == worse == 0:
        verdict = "same"
    elif n >= min_cases and mean is not None and se is not None and abs(mean) > 2 * se:
        if better > worse and sign * mean > 0:
            verdict = "better"
        elif worse > better and sign * mean < 0:
            verdict = "worse"
        else:
            verdict = "too small to tell"
    else:
        verdict = "too small to tell"
    return PairedDifference(n, mean, std, se, better, worse, n - better - worse, len(candidate) - n, verdict)


@dataclass(frozen=True)
class CandidateSummary:
    """One candidate's means over the cases, as used by the rule.

    Attributes:
        mean, std: per metric, over the cases with a value (population std); ``None`` when no case has one.
        not_applicable: per metric, cases without a value (only for :data:`NULLABLE_METRICS`).
        eligible: mean Dice within the tolerance of the best.
        rank: 1-based place in the ranking of eligible candidates (``None`` when not eligible).
    """

    name: str
    mean: dict[str, float | None]
    std: dict[str, float | None]
    not_applicable: dict[str, int]
    eligible: bool
    rank: int | None


@dataclass(frozen=True)
class Selection:
    """The result of :func:`choose_candidate`.

    Attributes:
        choice: the topology-aware choice.
        dice_choice: the Dice-only choice (highest mean Dice).
        verdict: ``"disagree"`` (the rule moved away from the Dice-only choice), ``"agree"`` (no eligible
            candidate has better topology on average), or ``"too small to tell"`` (one has, but not
            consistently, so the Dice-only choice is kept).
        reason: one or two sentences saying why, with the numbers.
        comparisons: paired differences of every other candidate to the Dice-only choice, per metric
            (``{"candidate", "reference", "metric", **PairedDifference}``).
    """

    choice: str
    dice_choice: str
    verdict: Literal["agree", "disagree", "too small to tell"]
    reason: str
    cases: tuple[str, ...]
    candidates: tuple[CandidateSummary, ...]
    comparisons: tuple[dict, ...]
    dice_tolerance: float
    min_cases: int
    metrics: tuple[str, ...] = field(default=REQUIRED_METRICS)

    @property
    def agree(self) -> bool:
        return self.choice == self.dice_choice

    def to_dict(self) -> dict:
        """JSON-ready dict (the ``-o`` file of ``nnunetv2_cta choose``)."""
        return {
            "choice": self.choice,
            "dice_choice": self.dice_choice,
            "agree": self.agree,
            "verdict": self.verdict,
            "reason": self.reason,
            "rule": RULE,
            "dice_tolerance": self.dice_tolerance,
            "min_cases": self.min_cases,
            "metrics": list(self.metrics),
            "cases": list(self.cases),
            "candidates": [asdict(c) for c in self.candidates],
            "comparisons": [dict(c) for c in self.comparisons],
        }


# ------------------------------------------------------------------------------------------- validation
def _check_options(dice_tolerance: float, min_cases: int) -> None:
    if isinstance(dice_tolerance, bool) or not isinstance(dice_tolerance, int | float):
        raise ConfigurationError(f"dice_tolerance must be a number in [0, 1), got {dice_tolerance!r}")
    if not (math.isfinite(dice_tolerance) and 0 <= dice_tolerance < 1):
        raise ConfigurationError(f"dice_tolerance must be a number in [0, 1), got {dice_tolerance!r}")
    if isinstance(min_cases, bool) or not isinstance(min_cases, int) or min_cases < 2:
        raise ConfigurationError(f"min_cases must be an integer >= 2, got {min_cases!r}")


# ------------------------------------------------------------------------------------------------ rule
def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def _pstd(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.pstdev(kept) if kept else None


def _topology_better(a: CandidateSummary, b: CandidateSummary) -> bool:
    """``a`` has fewer mean breaks than ``b``, or as many and a higher mean clDice."""
    ba = math.inf if a.mean["breaks"] is None else a.mean["breaks"]
    bb = math.inf if b.mean["breaks"] is None else b.mean["breaks"]
    return ba < bb or (ba == bb and a.mean["cldice"] > b.mean["cldice"])


def _consistent_win(comp: Mapping[str, PairedDifference]) -> str | None:
    """The metric on which a candidate beats the Dice-only choice by the rule, or ``None``."""
    if comp["breaks"].verdict == "better":
        return "breaks"
    if comp["breaks"].verdict in ("same", "too small to tell") and comp["cldice"].verdict == "better":
        return "cldice"
    return None


def _spread(d: PairedDifference, digits: int) -> str:
    sd = "" if d.std is None else f" ± {d.std:.{digits}f}"
    return f"mean {d.mean:+.{digits}f}{sd} per case"


def _why_not(d: PairedDifference, min_cases: int) -> str:
    if d.verdict == "worse":
        return f"it is worse in {d.worse} of {d.n} cases"
    if d.verdict == "same":
        return "every case is the same"
    if d.n < min_cases:
        return f"only {d.n} paired case(s), fewer than {min_cases}"
    return (
        f"better in {d.better}, worse in {d.worse} of {d.n} cases, mean {d.mean:+.3g} with standard error "
        f"{d.standard_error:.3g}"
    )


def _reason(
    choice: str,
    dice_choice: str,
    win: str | None,
    summaries: dict[str, CandidateSummary],
    comps: dict[str, dict[str, PairedDifference]],
    tol: float,
    min_cases: int,
) -> tuple[str, str]:
    d = summaries[dice_choice]
    head = f"{dice_choice!r} has the best mean Dice ({d.mean['dice']:.3f})"
    if choice != dice_choice:
        c, comp = summaries[choice], comps[choice]
        if win == "breaks":
            b = comp["breaks"]
            how = f"fewer breaks in {b.better} of {b.n} cases ({_spread(b, 2)})"
        else:
            b, cl = comp["breaks"], comp["cldice"]
            ties = (
                "as many breaks in every case"
                if b.verdict == "same"
                else "no consistent difference in breaks"
            )
            how = f"{ties} and a higher clDice in {cl.better} of {cl.n} cases ({_spread(cl, 3)})"
        return "disagree", (
            f"{head}, but {choice!r} is within {tol:.3f} of it ({c.mean['dice']:.3f}) and has {how}; the "
            f"topology-aware rule picks {choice!r}, Dice alone picks {dice_choice!r}."
        )
    contenders = [
        s for s in summaries.values() if s.eligible and s.name != dice_choice and _topology_better(s, d)
    ]
    if contenders:
        top = min(contenders, key=lambda s: s.rank or 0)
        comp = comps[top.name]
        if top.mean["breaks"] != d.mean["breaks"]:
            what, metric = (
                f"fewer breaks on average ({top.mean['breaks']:.1f} vs {d.mean['breaks']:.1f} per case)",
                "breaks",
            )
        else:
            what, metric = (
                f"as many breaks and a higher mean clDice ({top.mean['cldice']:.3f} vs {d.mean['cldice']:.3f})",
                "cldice",
            )
        if comp[metric].verdict == "worse":  # its means gain from cases where breaks are not applicable
            return "agree", (
                f"{head}; {top.name!r} is within {tol:.3f} of it and has {what}, but paired case by case it is "
                f"worse ({metric}: {_why_not(comp[metric], min_cases)}, {comp[metric].left_out} case(s) not "
                "applicable): the Dice-only choice stands."
            )
        return "too small to tell", (
            f"{head}; {top.name!r} is within {tol:.3f} of it and has {what}, but is not consistently better "
            f"({metric}: {_why_not(comp[metric], min_cases)}): too small to tell, the Dice-only choice stands."
        )
    outside = [s.name for s in summaries.values() if not s.eligible and _topology_better(s, d)]
    note = (
        f"; {', '.join(map(repr, outside))} {'has' if len(outside) == 1 else 'have'} better topology on "
        f"average but a mean Dice more than {tol:.3f} below the best"
        if outside
        else ""
    )
    return "agree", (
        f"{head} and no candidate within {tol:.3f} of it has fewer breaks, or as many and a higher clDice, on "
        f"average{note}."
    )


def choose_candidate(table: ScoreTable, *, dice_tolerance: float = 0.01, min_cases: int = 5) -> Selection:
    """Pick one candidate by the topology-aware rule of the module docstring; also give the Dice-only choice.

    Args:
        table: ``{candidate: {case: {metric: value}}}`` (:data:`ScoreTable`), at least 2 candidates, all on
            the same cases; candidate order breaks exact ties.
        dice_tolerance: how far below the best mean Dice (absolute, in [0, 1)) a candidate stays eligible.
        min_cases: fewest paired cases for a "better"/"worse" verdict (>= 2).

    Raises:
        ScoreTableError: fewer than 2 candidates, different case sets, an unknown or missing metric, a value
            that is not a finite number in range.
        ConfigurationError: ``dice_tolerance`` or ``min_cases`` out of range.
    """
    _check_options(dice_tolerance, min_cases)
    names, cases, metrics, values = validate_table(table)
    means = {n: {m: _mean(values[n][m]) for m in metrics} for n in names}
    dice_choice = names[0]
    for name in names[1:]:
        if means[name]["dice"] > means[dice_choice]["dice"]:
            dice_choice = name
    floor = means[dice_choice]["dice"] - dice_tolerance - _EPS
    eligible = [n for n in names if means[n]["dice"] >= floor]

    def key(n: str) -> tuple:
        breaks = means[n]["breaks"]
        return (
            math.inf if breaks is None else breaks,
            -means[n]["cldice"],
            -means[n]["dice"],
            names.index(n),
        )

    ranking = sorted(eligible, key=key)
    summaries = {
        n: CandidateSummary(
            name=n,
            mean=means[n],
            std={m: _pstd(values[n][m]) for m in metrics},
            not_applicable={
                m: k for m in NULLABLE_METRICS if m in metrics and (k := values[n][m].count(None))
            },
            eligible=n in eligible,
            rank=ranking.index(n) + 1 if n in eligible else None,
        )
        for n in names
    }
    comps = {
        n: {
            m: paired_difference(
                values[n][m], values[dice_choice][m], higher_is_better=METRICS[m], min_cases=min_cases
            )
            for m in metrics
        }
        for n in names
        if n != dice_choice
    }
    choice, win = dice_choice, None
    for name in ranking:
        if name == dice_choice:
            break
        win = _consistent_win(comps[name])
        if win is not None:
            choice = name
            break
    verdict, reason = _reason(choice, dice_choice, win, summaries, comps, dice_tolerance, min_cases)
    comparisons = tuple(
        {"candidate": n, "reference": dice_choice, "metric": m, **asdict(d)}
        for n, per_metric in comps.items()
        for m, d in per_metric.items()
    )
    return Selection(
        choice=choice,
        dice_choice=dice_choice,
        verdict=verdict,
        reason=reason,
        cases=cases,
        candidates=tuple(summaries[n] for n in names),
        comparisons=comparisons,
        dice_tolerance=float(dice_tolerance),
        min_cases=min_cases,
        metrics=metrics,
    )


# ------------------------------------------------------------------------------------------------ text
_LABELS = {
    "dice": "Dice",
    "cldice": "clDice",
    "breaks": "breaks",
    "betti0_error": "Betti0 err",
    "seconds": "s",
}


def _num(value: float | None, metric: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}" if metric in ("breaks", "betti0_error", "seconds") else f"{value:.3f}"


def format_selection(selection: Selection) -> str:
    """Plain-text tables of a :class:`Selection`: candidate means, paired differences, choice and reason."""
    s, metrics = selection, selection.metrics
    rows = [["candidate", *(_LABELS[m] for m in metrics), "eligible", "rank"]]
    for c in s.candidates:
        na = c.not_applicable.get("breaks")
        cells = [_num(c.mean[m], m) + (f" ({na} n/a)" if m == "breaks" and na else "") for m in metrics]
        rows.append([c.name, *cells, "yes" if c.eligible else "no", str(c.rank or "-")])
    lines = [
        f"{len(s.cases)} case(s); eligible: mean Dice within {s.dice_tolerance:.3f} of the best; ranked by breaks, "
        "clDice, Dice",
        *_columns(rows),
        "",
        f"paired per case vs the Dice-only choice {s.dice_choice!r} (candidate minus it; mean ± sd; "
        "cases better/worse/n):",
    ]
    rows = [["candidate", "metric", "difference", "better/worse/n", "verdict"]]
    for c in s.comparisons:
        if c["mean"] is None:
            diff = "n/a"
        else:
            digits = 2 if c["metric"] in ("breaks", "betti0_error", "seconds") else 3
            sd = "" if c["std"] is None else f" ± {c['std']:.{digits}f}"
            diff = f"{c['mean']:+.{digits}f}{sd}"
        rows.append(
            [c["candidate"], _LABELS[c["metric"]], diff, f"{c['better']}/{c['worse']}/{c['n']}", c["verdict"]]
        )
    lines += _columns(rows)
    lines += [
        "",
        f"topology-aware choice: {s.choice}",
        f"Dice-only choice:      {s.dice_choice}",
        f"{s.verdict}: {s.reason}",
    ]
    return "\n".join(lines)


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
