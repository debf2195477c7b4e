"""Benchmark results: tables (CSV, JSON, Markdown), plots (PNG) and the machine description.

One row per (dataset, method, region) with, for each metric of :data:`METRICS`, the mean, standard deviation,
minimum and maximum over the held-out cases that contain the region (``<metric>_mean``, ``_std``, ``_min``,
``_max``; the V-score only where the dataset has vessel graphs), plus ``n_cases``, ``train_s_per_epoch`` (stage 1; ``cgpm_s_per_epoch`` for
the repair network) and ``infer_s_per_case``. A case whose reference of a region is empty (no aorta in a 3D-DSA
head field, no bone around a real Circle-of-Willis crop) is left out of that region's row and comparisons: its
Dice would be 1 or 0 by convention, not a measurement; a region that no case contains has no row. Every file is
generated here from the evaluation summaries; none is meant to be edited by hand.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from nnunetv2_cta.io import write_text_atomic

#: metrics of the tables, in column order (names of nnunetv2_cta.evaluation)
METRICS: tuple[str, ...] = ("dice", "cldice", "recall", "vscore", "betti0_error", "breaks", "hd95_mm")
REGIONS: tuple[str, ...] = ("vessels", "bone", "aorta", "carotid", "intracranial")
#: paired comparisons of the "answers" section: (method, reference) on the vessels region; every ``chosen_*``
#: repair is also compared with the stage 1 it repairs (its ``base_method``)
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("cta", "stock_trainer"),
    ("cta_nocenterline", "stock_trainer"),
    ("cta", "cta_nocenterline"),
    ("cta_skeleton_recall", "stock_trainer"),
    ("cta_cldice", "stock_trainer"),
    ("cta_baseline", "cta"),
    ("cta_cgpm", "cta"),
    ("chosen_cgpm", "chosen_bridging"),
)
COMPARED_METRICS: tuple[tuple[str, bool], ...] = (("breaks", False), ("cldice", True), ("dice", True))
#: modality comparisons (dataset, reference dataset): the phantom rendered from the same seeds, so case *i* has
#: the same anatomy in both; compared on the intracranial region, the one inside every field of view (3D-DSA is
#: head-only: its vessels region has no aorta and little of the carotids)
MODALITY_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("phantom_cta", "phantom_ncct"),
    ("phantom_dsa", "phantom_cta"),
    ("phantom_dsa", "phantom_ncct"),
)
MODALITY_REGION = "intracranial"
#: fewest paired cases for a "better"/"worse" verdict (the default of ``nnunetv2_cta choose``)
MIN_CASES = 5
#: the metrics the selection rule reads
SELECTION_METRICS: tuple[str, ...] = ("dice", "cldice", "breaks")


def paired_difference(a: list[float], b: list[float], higher_is_better: bool) -> dict:
    """Paired per-case difference ``a - b`` and a verdict, by the rule of ``nnunetv2_cta choose``
    (:func:`nnunetv2_cta.evaluation.selection.paired_difference`): ``"better"`` / ``"worse"`` for ``a`` only
    with at least :data:`MIN_CASES` cases, better (worse) in more cases than not, and a mean difference beyond
    twice its standard error; ``"same"`` when every difference is 0; ``"too small to tell"`` otherwise. A rule of
    thumb for small samples, not a significance test.

    Example:
        >>> paired_difference([1, 0, 2, 1, 1], [5, 4, 6, 5, 3], higher_is_better=False)["verdict"]
        'better'
    """
    from nnunetv2_cta.evaluation.selection import paired_difference as rule

    d = rule(a, b, higher_is_better=higher_is_better, min_cases=MIN_CASES)
    return {
        "mean_difference": d.mean,
        "standard_error": d.standard_error,
        "n": d.n,
        "cases_better": d.better,
        "cases_worse": d.worse,
        "verdict": d.verdict,
    }


def comparisons(per_case: dict) -> list[dict]:
    """Every :data:`COMPARISONS` pair present on a dataset, for each of :data:`COMPARED_METRICS` (vessels)."""
    out = []
    for dataset, methods in per_case.items():
        repairs = [(m, info["base_method"]) for m, info in methods.items() if info.get("base_method")]
        for method, reference in [*repairs, *COMPARISONS]:
            if method not in methods or reference not in methods:
                continue
            for metric, higher in COMPARED_METRICS:
                a = methods[method]["values"].get("vessels", {}).get(metric)
                b = methods[reference]["values"].get("vessels", {}).get(metric)
                if a is None or b is None:
                    continue
                out.append(
                    {"dataset": dataset, "method": method, "reference": reference, "metric": metric}
                    | paired_difference(a, b, higher)
                )
    return out


def region_cases(info: dict, region: str) -> list[str]:
    """The cases of one method's per-case values that contain ``region`` (the order of its value lists)."""
    return info.get("region_cases", {}).get(region, info["cases"])


def _case_number(case: str) -> str:
    """The trailing number of a case name (``PhantomNCCT_0024`` -> ``0024``): the phantom seed's index."""
    return case.rsplit("_", 1)[-1]


def modality_comparisons(per_case: dict) -> list[dict]:
    """Every :data:`MODALITY_COMPARISONS` pair, per method present on both datasets, on the
    :data:`MODALITY_REGION` for each of :data:`COMPARED_METRICS`. Cases are paired by their number (the same
    phantom seed); a pair whose case numbers differ is left out rather than paired wrongly."""
    out = []
    for dataset, reference in MODALITY_COMPARISONS:
        if dataset not in per_case or reference not in per_case:
            continue
        for method, info in per_case[dataset].items():
            ref = per_case[reference].get(method)
            if ref is None:
                continue
            numbers, ref_numbers = (
                [_case_number(c) for c in region_cases(x, MODALITY_REGION)] for x in (info, ref)
            )
            if sorted(numbers) != sorted(ref_numbers):
                continue
            order = [ref_numbers.index(n) for n in numbers]
            for metric, higher in COMPARED_METRICS:
                a = info["values"].get(MODALITY_REGION, {}).get(metric)
                b = ref["values"].get(MODALITY_REGION, {}).get(metric)
                if a is None or b is None:
                    continue
                out.append(
                    {"dataset": dataset, "reference": reference, "method": method, "metric": metric}
                    | paired_difference(a, [b[i] for i in order], higher)
                )
    return out


def _paired_cells(c: dict) -> str:
    """Metric, difference ± standard error, cases better, verdict: the cells every paired table shares."""
    return (
        f"{c['metric']} | {c['mean_difference']:+.3f} ± {_fmt(c['standard_error'])} | "
        f"{c['cases_better']}/{c['n']} | {c['verdict']}"
    )


def _modalities_section(compared: list[dict]) -> str:
    if not compared:
        return ""
    out = io.StringIO()
    out.write(
        f"## Paired comparisons between modalities ({MODALITY_REGION} region)\n\n"
        "The same method on two modalities rendered from the same phantom seeds, paired case by case (dataset "
        f"minus reference), on the {MODALITY_REGION} region, the one inside every field of view (3D-DSA is "
        "head-only). Verdicts by the same rule as above.\n\n"
        "| dataset | reference | method | metric | difference | cases better | verdict |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    for c in compared:
        out.write(f"| {c['dataset']} | {c['reference']} | {c['method']} | {_paired_cells(c)} |\n")
    return out.getvalue() + "\n"


def _score_table(methods: dict, names: list[str]) -> dict | None:
    """``{method: {case: {dice, cldice, breaks}}}`` (vessels region) for the selection rule; None when a method
    lacks one of the three metrics."""
    table = {}
    for m in names:
        values = methods[m]["values"].get("vessels", {})
        if not all(k in values for k in SELECTION_METRICS):
            return None
        table[m] = {
            case: {k: values[k][i] for k in SELECTION_METRICS}
            for i, case in enumerate(region_cases(methods[m], "vessels"))
        }
    return table


def model_choices(per_case: dict) -> list[dict]:
    """The selection rule (:func:`~nnunetv2_cta.evaluation.selection.choose_candidate`) against the Dice-only
    choice on each dataset: among the trained stage-1 methods, and between a stage 1 and its repairs."""
    from nnunetv2_cta.benchmark.definition import CHOSEN, METHODS
    from nnunetv2_cta.evaluation.selection import choose_candidate

    out = []
    for dataset, methods in per_case.items():
        stage1 = [
            m
            for m in methods
            if m in METHODS
            and METHODS[m].trained
            and METHODS[m].repair is None
            and METHODS[m].trainer_role != CHOSEN
        ]
        groups = [("stage 1", stage1)]
        for base in dict.fromkeys(
            info["base_method"] for info in methods.values() if info.get("base_method")
        ):
            repairs = [m for m, info in methods.items() if info.get("base_method") == base]
            groups.append((f"repair of {base}", [base, *repairs] if base in methods else []))
        for what, names in groups:
            table = _score_table(methods, names) if len(names) > 1 else None
            if table is None:
                continue
            selection = choose_candidate(table).to_dict()
            out.append(
                {"dataset": dataset, "choice_of": what, "candidates": names}
                | {k: selection[k] for k in ("choice", "dice_choice", "verdict", "reason")}
            )
    return out


def _choices_section(choices: list[dict]) -> str:
    if not choices:
        return ""
    out = io.StringIO()
    out.write(
        "## Model choice: the topology-aware rule against Dice alone\n\n"
        "`nnunetv2_cta choose`'s rule (nnunetv2_cta/evaluation/selection.py: within 0.01 Dice of the best, fewest "
        "breaks, then clDice, and only when better case by case) on the vessels region of these held-out cases. "
        "The `chosen_*` methods repair the stage 1 this rule picks on `phantom_cta` (for every dataset that uses "
        "those networks).\n\n| dataset | choice of | Dice only | rule | verdict | why |\n|---|---|---|---|---|---|\n"
    )
    for c in choices:
        reason = c["reason"].replace("|", "/").replace("\n", " ")
        out.write(
            f"| {c['dataset']} | {c['choice_of']} | {c['dice_choice']} | **{c['choice']}** | {c['verdict']} | "
            f"{reason} |\n"
        )
    out.write("\n")
    return out.getvalue()


def machine_info() -> dict:
    """CPU model, cores, GPU, versions of Python/torch/nnunetv2/nnunetv2_cta and the git commit of the package."""
    import torch

    from nnunetv2_cta import __version__
    from nnunetv2_cta.environment import cpu_model

    cpu = cpu_model()
    try:
        from importlib.metadata import version

        nnunet_version = version("nnunetv2")
    except Exception:  # report, do not fail
        nnunet_version = None
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "nnunetv2": nnunet_version,
        "nnunetv2_cta": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "platform": platform.platform(),
    }


def summarise(outcomes: list[dict]) -> tuple[list[dict], dict]:
    """Rows (module docstring) and per-case values ``{dataset: {method: info}}``: ``info["values"]`` is
    ``{region: {metric: [values]}}`` over ``info["region_cases"][region]``, the cases whose reference holds the
    region (``info["cases"]``: every case)."""
    rows: list[dict] = []
    per_case: dict = {}
    for o in outcomes:
        all_cases = o["summary"]["metric_per_case"]
        by_region: dict = {}
        in_region: dict = {}
        for region in [r for r in REGIONS if r in all_cases[0]["metrics"]]:
            cases = [c for c in all_cases if not c["metrics"][region].get("empty_reference", 0)]
            if not cases:
                continue
            row = {"dataset": o["dataset"], "method": o["method"], "region": region, "n_cases": len(cases)}
            by_region[region] = {}
            in_region[region] = [c["case"] for c in cases]
            for metric in METRICS:
                values = [c["metrics"][region][metric] for c in cases if metric in c["metrics"][region]]
                if len(values) != len(cases):
                    continue
                v = np.asarray(values, dtype=float)
                by_region[region][metric] = [float(x) for x in v]
                row.update(
                    {
                        f"{metric}_mean": float(v.mean()),
                        f"{metric}_std": float(v.std()),
                        f"{metric}_min": float(v.min()),
                        f"{metric}_max": float(v.max()),
                    }
                )
            row["train_s_per_epoch"] = o["train_s_per_epoch"].get("stage1")
            row["stage1_trainer"] = o.get("trainers", {}).get("stage1")
            row["cgpm_trainer"] = o.get("trainers", {}).get("cgpm")
            row["cgpm_s_per_epoch"] = o["train_s_per_epoch"].get("cgpm")
            row["infer_s_per_case"] = o["infer_s_per_case"]
            rows.append(row)
        per_case.setdefault(o["dataset"], {})[o["method"]] = {
            "cases": [c["case"] for c in all_cases],
            "region_cases": in_region,
            "values": by_region,
            "base_method": o.get("base_method"),
        }
    return rows, per_case


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _cell(row: dict, metric: str) -> str:
    if f"{metric}_mean" not in row:
        return "-"
    digits = 1 if metric in ("hd95_mm", "breaks", "betti0_error") else 3
    return f"{_fmt(row[metric + '_mean'], digits)} ± {_fmt(row[metric + '_std'], digits)}"


def markdown(
    rows: list[dict],
    budget,
    machine: dict,
    wall_s: float | None,
    plots: list[str],
    compared: list[dict],
    choices: list[dict] = (),
    skipped: list[str] = (),
    modalities: list[dict] = (),
) -> str:
    """The Markdown page of the results (tables per region, times, notes)."""
    out = io.StringIO()
    out.write(f"# Benchmark results: budget `{budget.name}`\n\n")
    out.write(
        "Generated by `nnunetv2_cta benchmark` (nnunetv2_cta/benchmark/report.py); do not edit by hand.\n\n"
    )
    out.write(
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, GPU {machine['gpu'] or 'none'}; torch "
        f"{machine['torch']}, nnunetv2 {machine['nnunetv2']}, nnunetv2_cta {machine['nnunetv2_cta']}, "
        f"commit `{(machine['git_commit'] or '?')[:10]}`{' (uncommitted changes)' if machine['git_dirty'] else ''}\n"
    )
    out.write(
        f"- Budget: {budget.train_cases} training + {budget.test_cases} held-out phantom cases per dataset "
        f"(preset `{budget.phantom_preset}`), our plans `{budget.plans_preset}`, fold {budget.fold}, trainers "
        + ", ".join(f"{k}=`{v}`" for k, v in budget.trainers.items())
        + "".join(
            f"; on {modality}: " + ", ".join(f"{k}=`{v}`" for k, v in roles.items())
            for modality, roles in budget.modality_trainers.items()
        )
        + "\n"
    )
    if wall_s is not None:
        out.write(
            f"- Wall time of this invocation: {wall_s / 60:.1f} min (steps finished earlier are not re-run)\n"
        )
    out.write(f"- Note: {budget.note}\n")
    for name in skipped:
        out.write(
            f"- **{name} was skipped**: its source data were not found (see nnunetv2_cta/benchmark/real_geometry.py)\n"
        )
    out.write("\n")
    out.write(
        "Cells: mean ± standard deviation over the held-out cases whose reference contains the region (n); "
        "minimum and maximum are in results.csv, "
        "every case's value in results.json. Breaks and Betti-0 error are counts per case, HD95 in mm.\n\n"
    )
    if compared:
        out.write(
            "## Paired comparisons (vessels region)\n\n"
            "Difference per case (method minus reference), mean ± standard error; *better*/*worse* only when the "
            f"mean exceeds twice its standard error with at least {MIN_CASES} cases, better in more cases than worse "
            "(the rule of `nnunetv2_cta choose`), else *too small to tell*.\n\n"
            "| dataset | method | reference | metric | difference | cases better | verdict |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        for c in compared:
            out.write(f"| {c['dataset']} | {c['method']} | {c['reference']} | {_paired_cells(c)} |\n")
        out.write("\n")
    out.write(_modalities_section(list(modalities)))
    out.write(_choices_section(list(choices)))
    header_metrics = [m for m in METRICS if any(f"{m}_mean" in r for r in rows)]
    for region in REGIONS:
        region_rows = [r for r in rows if r["region"] == region]
        if not region_rows:
            continue
        out.write(f"## {region}\n\n| dataset | method | n | " + " | ".join(header_metrics) + " |\n")
        out.write("|---|---|---|" + "---|" * len(header_metrics) + "\n")
        for r in region_rows:
            cells = " | ".join(_cell(r, m) for m in header_metrics)
            out.write(f"| {r['dataset']} | {r['method']} | {r['n_cases']} | {cells} |\n")
        out.write("\n")
    out.write(_time_table(rows))
    for p in plots:
        out.write(f"![{p}]({p})\n\n")
    return out.getvalue()


def _schedule(trainer: str | None) -> tuple[int, int] | None:
    """(epochs, iterations per epoch) of one of our trainers; None when unknown."""
    if not trainer:
        return None
    from nnunetv2_cta.errors import ConfigurationError
    from nnunetv2_cta.trainers import get_trainer_class

    try:
        cls = get_trainer_class(trainer)
    except ConfigurationError:
        return None
    return int(cls.num_epochs_default), int(cls.num_iterations_per_epoch_default)


def _training_cells(seconds_per_epoch: float | None, trainer: str | None) -> str:
    schedule = _schedule(trainer)
    if seconds_per_epoch is None or schedule is None:
        return f"{_fmt(seconds_per_epoch, 1)} | - | -"
    epochs, iterations = schedule
    return (
        f"{_fmt(seconds_per_epoch, 1)} | {_fmt(seconds_per_epoch / iterations, 2)} | "
        f"{_fmt(seconds_per_epoch * epochs / 60, 1)}"
    )


def _time_table(rows: list[dict]) -> str:
    """Training (median s/epoch, s/iteration, minutes for the whole schedule) and inference s/case."""
    out = io.StringIO()
    out.write(
        "## Time\n\nTraining: median wall seconds per epoch of the run, per iteration, and the whole schedule in "
        "minutes (epochs x median epoch); inference: wall seconds per held-out case, repairs included.\n\n"
        "| dataset | method | stage-1 trainer | s/epoch | s/iteration | training min | CGPM s/epoch | CGPM s/iteration "
        "| CGPM min | inference s/case |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    for r in rows:
        if r["region"] != "vessels":
            continue
        out.write(
            f"| {r['dataset']} | {r['method']} | {r.get('stage1_trainer') or '-'} | "
            f"{_training_cells(r['train_s_per_epoch'], r.get('stage1_trainer'))} | "
            f"{_training_cells(r['cgpm_s_per_epoch'], r.get('cgpm_trainer'))} | {_fmt(r['infer_s_per_case'], 2)} |\n"
        )
    out.write("\n")
    return out.getvalue()


def write_results(
    outcomes: list[dict],
    out: str | os.PathLike,
    *,
    budget,
    user_dataset: str | None = None,
    wall_s: float | None = None,
    skipped: list[str] = (),
) -> dict:
    """Write results.csv/.json/.md, ``plot_<dataset>.png``, ``plot_modalities.png`` and machine.json into ``out``.

    Returns:
        ``{"rows": rows, "csv": path, "json": path, "md": path, "machine": path, "plots": [paths]}``.
    """
    from nnunetv2_cta.benchmark.plots import plot_methods, plot_modalities

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, per_case = summarise(outcomes)
    compared = comparisons(per_case)
    choices = model_choices(per_case)
    modalities = modality_comparisons(per_case)
    machine = machine_info()
    plots: list[str] = []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # nnU-Net's progress plots change the global style (seaborn, large fonts) when training ran in this process
    with plt.style.context("default"):
        for dataset in per_case:
            name = f"plot_{dataset}.png"
            if plot_methods(per_case, dataset, out / name):
                plots.append(name)
        if plot_modalities(per_case, out / "plot_modalities.png"):
            plots.append("plot_modalities.png")

    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "results.csv", buf.getvalue())
    extras = {o["dataset"] + "/" + o["method"]: {"predictions": o["predictions"]} for o in outcomes}
    write_text_atomic(
        out / "results.json",
        json.dumps(
            {
                "budget": budget.name,
                "note": budget.note,
                "user_dataset": user_dataset,
                "machine": machine,
                "rows": rows,
                "comparisons": compared,
                "modality_comparisons": modalities,
                "model_choices": choices,
                "skipped": list(skipped),
                "per_case": per_case,
                "outputs": extras,
            },
            indent=1,
        )
        + "\n",
    )
    write_text_atomic(
        out / "results.md",
        markdown(rows, budget, machine, wall_s, plots, compared, choices, list(skipped), modalities),
    )
    write_text_atomic(out / "machine.json", json.dumps(machine, indent=2) + "\n")
    return {
        "rows": rows,
        "csv": str(out / "results.csv"),
        "json": str(out / "results.json"),
        "md": str(out / "results.md"),
        "machine": str(out / "machine.json"),
        "plots": [str(out / p) for p in plots],
    }
