"""Score tables for model choice (:mod:`.selection`): their form, checks, and reading them from files.

A score table is ``{candidate: {case: {metric: value}}}``: a candidate is a trainer, a configuration or a
post-processing variant, each scored on the same held-out cases. Metrics: ``dice``, ``cldice`` and ``breaks``
(count per case; ``None`` where not applicable: an empty prediction or ground truth) in every case, and
optionally ``betti0_error`` and ``seconds`` (each for every case of every candidate, or for none).

Sources: :func:`read_summaries` takes one region (``vessels`` by default) of the ``summary.json`` files that
``nnunetv2_cta evaluate`` writes, one per candidate; :func:`read_table` reads a hand-made table from JSON.

Example:
    >>> names, cases, metrics, values = validate_table(
    ...     {"a": {"c1": {"dice": 0.8, "cldice": 0.7, "breaks": 2}},
    ...      "b": {"c1": {"dice": 0.7, "cldice": 0.8, "breaks": None}}})
    >>> names, cases, metrics, values["b"]["breaks"]
    (['a', 'b'], ('c1',), ('dice', 'cldice', 'breaks'), [None])

This module imports only the standard library.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from nnunetv2_cta.errors import ScoreTableError

#: ``{candidate: {case: {metric: value}}}``; ``breaks`` may be ``None`` (not applicable).
ScoreTable = Mapping[str, Mapping[str, Mapping[str, "float | int | None"]]]

#: metric -> True when higher is better. The first three are required in every case.
METRICS: dict[str, bool] = {
    "dice": True,
    "cldice": True,
    "breaks": False,
    "betti0_error": False,
    "seconds": False,
}
REQUIRED_METRICS: tuple[str, ...] = ("dice", "cldice", "breaks")
OPTIONAL_METRICS: tuple[str, ...] = ("betti0_error", "seconds")
#: metrics that may be ``None`` (not applicable in that case)
NULLABLE_METRICS: tuple[str, ...] = ("breaks",)


def _check_value(candidate: str, case: str, metric: str, value) -> float | None:
    where = f"candidate {candidate!r} case {case!r}"
    if value is None:
        if metric in NULLABLE_METRICS:
            return None
        raise ScoreTableError(f"{where}: {metric} is null; only {', '.join(NULLABLE_METRICS)} may be null")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScoreTableError(f"{where}: {metric} must be a finite number, got {value!r}")
    if metric in ("dice", "cldice") and not 0 <= value <= 1:
        raise ScoreTableError(f"{where}: {metric} must lie in [0, 1], got {value!r}")
    if value < 0:
        raise ScoreTableError(f"{where}: {metric} must be >= 0, got {value!r}")
    return float(value)


def validate_table(table: ScoreTable) -> tuple[list[str], tuple[str, ...], tuple[str, ...], dict]:
    """Check a score table; return its candidate names (in order), cases (sorted), metrics (in :data:`METRICS`
    order) and ``{candidate: {metric: [value per case]}}``.

    Raises:
        ScoreTableError: fewer than 2 candidates, different case sets, an unknown or missing metric, an
            optional metric given for some cases only, a value that is not a finite number in range.
    """
    if not isinstance(table, Mapping):
        raise ScoreTableError(
            f"a score table must map candidate -> case -> metric -> value, got {type(table).__name__}"
        )
    table = {str(name): scores for name, scores in table.items()}
    names = list(table)
    if len(names) < 2:
        raise ScoreTableError(f"choosing needs at least 2 candidates, got {len(names)}: {names}")
    first = names[0]
    for name in names:
        if not isinstance(table[name], Mapping) or not table[name]:
            raise ScoreTableError(
                f"candidate {name!r} must map case -> metric -> value with at least one case, "
                f"got {table[name]!r:.80}"
            )
    cases = tuple(sorted(str(c) for c in table[first]))
    for name in names[1:]:
        other = {str(c) for c in table[name]}
        missing, extra = sorted(set(cases) - other), sorted(other - set(cases))
        if missing or extra:
            raise ScoreTableError(
                f"candidate {name!r} has other cases than {first!r}: missing {missing[:10]}, extra "
                f"{extra[:10]}; every candidate must be scored on the same cases"
            )
    present: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        for case, metrics in table[name].items():
            if not isinstance(metrics, Mapping):
                raise ScoreTableError(
                    f"candidate {name!r} case {case!r}: expected a metric -> value mapping, got {metrics!r:.80}"
                )
            for metric in metrics:
                if metric not in METRICS:
                    raise ScoreTableError(
                        f"candidate {name!r} case {case!r}: unknown metric {metric!r}; expected "
                        f"{', '.join(METRICS)}"
                    )
                present.setdefault(metric, []).append((name, str(case)))
            for metric in REQUIRED_METRICS:
                if metric not in metrics:
                    raise ScoreTableError(
                        f"candidate {name!r} case {case!r}: metric {metric!r} is missing; every case needs "
                        f"{', '.join(REQUIRED_METRICS)} (breaks may be null: not applicable)"
                    )
    total = len(names) * len(cases)
    for metric in OPTIONAL_METRICS:
        have = set(present.get(metric, ()))
        if have and len(have) != total:
            gap = next((n, c) for n in names for c in cases if (n, c) not in have)
            raise ScoreTableError(
                f"metric {metric!r} is given for some cases but not for candidate {gap[0]!r} case {gap[1]!r}; "
                "give it for every case of every candidate or for none"
            )
    metrics = tuple(m for m in METRICS if m in present)
    values = {
        name: {m: [_check_value(name, c, m, _lookup(table[name], c)[m]) for c in cases] for m in metrics}
        for name in names
    }
    return names, cases, metrics, values


def _lookup(scores: Mapping, case: str) -> Mapping:
    """The case's metrics, whether the table's case keys are strings or not."""
    return scores[case] if case in scores else next(v for k, v in scores.items() if str(k) == case)


def scores_from_summary(
    summary: Mapping, *, region: str = "vessels", source: str = "summary"
) -> dict[str, dict[str, float | None]]:
    """One candidate's scores ``{case: {metric: value}}`` from an ``nnunetv2_cta evaluate`` summary dict.

    Takes ``dice``, ``cldice``, ``breaks`` (``None`` where the summary left it out: not applicable) and
    ``betti0_error`` of ``region`` from every entry of ``metric_per_case``.

    Raises:
        ScoreTableError: not an evaluate summary, no cases, ``region`` missing or not a vessel region
            (no clDice); ``source`` names the file in the message.
    """
    per_case = summary.get("metric_per_case") if isinstance(summary, Mapping) else None
    if not isinstance(per_case, list) or not per_case:
        raise ScoreTableError(
            f"{source}: expected an 'nnunetv2_cta evaluate' summary with a non-empty 'metric_per_case' list"
        )
    scores: dict[str, dict[str, float | None]] = {}
    for entry in per_case:
        try:
            case, regions = str(entry["case"]), entry["metrics"]
        except (KeyError, TypeError) as err:
            raise ScoreTableError(f"{source}: a metric_per_case entry lacks 'case' or 'metrics'") from err
        if region not in regions:
            raise ScoreTableError(
                f"{source}: unknown region {region!r} in case {case!r}; the summary has {', '.join(regions)}"
            )
        metrics = regions[region]
        if "cldice" not in metrics:
            vessel = [r for r, m in regions.items() if "cldice" in m]
            raise ScoreTableError(
                f"{source}: region {region!r} has no clDice or breaks (not a vessel region); choose one of "
                f"{', '.join(vessel) or 'none: this summary has no vessel region'}"
            )
        if case in scores:
            raise ScoreTableError(f"{source}: case {case!r} appears twice in metric_per_case")
        # breaks is left out of a summary where not applicable (an empty side): None here
        scores[case] = {m: metrics[m] for m in ("dice", "cldice", "betti0_error") if m in metrics}
        scores[case]["breaks"] = metrics.get("breaks")
    return scores


def _summary_path(path: Path) -> Path:
    return path / "summary.json" if path.is_dir() else path


def candidate_name_and_path(spec: str) -> tuple[str, Path]:
    """``'NAME=PATH'`` -> ``(NAME, PATH)``; a bare path is named after its folder (``.../<name>/summary.json``
    or a folder ``<name>`` holding ``summary.json``) or, for another file name, its stem.

    Example:
        >>> candidate_name_and_path("repair_on=out/eval/summary.json")
        ('repair_on', PosixPath('out/eval/summary.json'))
        >>> candidate_name_and_path("results/3d_fullres/summary.json")
        ('3d_fullres', PosixPath('results/3d_fullres/summary.json'))
    """
    name, sep, rest = spec.partition("=")
    if sep and name and os.sep not in name and not Path(spec).exists():
        return name, Path(rest)
    path = Path(spec)
    if path.is_dir() or path.name == "summary.json":
        folder = path if path.is_dir() else path.parent
        return (folder.resolve().name if folder.name in ("", ".", "..") else folder.name), path
    return path.stem, path


def read_summaries(specs: Sequence[str], *, region: str = "vessels") -> dict[str, dict]:
    """A :data:`ScoreTable` from evaluate summaries: each spec ``PATH`` or ``NAME=PATH`` (a summary.json, or a
    folder holding one), in the given order.

    Raises:
        ScoreTableError: a missing or unreadable file, two inputs with one name, or a summary
            :func:`scores_from_summary` rejects.
    """
    table: dict[str, dict] = {}
    paths: dict[str, Path] = {}
    for spec in specs:
        name, path = candidate_name_and_path(spec)
        file = _summary_path(path)
        if not file.is_file():
            raise ScoreTableError(
                f"no such summary file: {str(file)!r} (give the summary.json written by 'nnunetv2_cta "
                "evaluate', or the folder holding it)"
            )
        if name in table:
            raise ScoreTableError(
                f"two inputs are both named {name!r} ({str(paths[name])!r} and {str(file)!r}); "
                "name them NAME=PATH"
            )
        try:
            summary = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ScoreTableError(f"cannot read summary {str(file)!r}: {err}") from err
        table[name] = scores_from_summary(summary, region=region, source=str(file))
        paths[name] = file
    return table


def read_table(path: str | os.PathLike) -> dict:
    """A hand-made :data:`ScoreTable` from a JSON file ``{candidate: {case: {metric: value}}}``.

    Raises:
        ScoreTableError: the file is missing, not JSON, or not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise ScoreTableError(f"no such score table file: {str(path)!r}")
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ScoreTableError(f"cannot read score table {str(path)!r}: {err}") from err
    if not isinstance(table, dict):
        raise ScoreTableError(
            f"score table {str(path)!r} must be a JSON object candidate -> case -> metric -> value, "
            f"got {type(table).__name__}"
        )
    return table
