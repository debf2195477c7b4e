"""Benchmark results: tables (CSV, JSON, Markdown), plots (PNG) and the machine description.

One row per (dataset, method, region) with, for each metric of :data:`METRICS`, the mean, standard deviation,
minimum and maximum over the held-out cases (``<metric>_mean``, ``_std``, ``_min``, ``_max``; the V-score only
where the dataset has vessel graphs), plus ``n_cases``, ``train_s_per_epoch`` (stage 1; ``cgpm_s_per_epoch`` for
the repair network) and ``infer_s_per_case``. Every file is generated here from the evaluation summaries; none is
meant to be edited by hand.
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

from nnunetv2_cta.io import atomic_path, write_text_atomic

#: metrics of the tables, in column order (names of nnunetv2_cta.evaluation)
METRICS: tuple[str, ...] = ("dice", "cldice", "recall", "vscore", "betti0_error", "breaks", "hd95_mm")
REGIONS: tuple[str, ...] = ("vessels", "bone", "aorta", "carotid", "intracranial")
#: paired comparisons of the "answers" section: (method, reference) on the vessels region
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("cta", "stock_trainer"),
    ("cta_baseline", "cta"),
    ("cta_cgpm", "cta"),
)
COMPARED_METRICS: tuple[tuple[str, bool], ...] = (("breaks", False), ("cldice", True), ("dice", True))


def paired_difference(a: list[float], b: list[float], higher_is_better: bool) -> dict:
    """Paired per-case difference ``a - b`` and a verdict.

    The verdict is ``"better"`` / ``"worse"`` for ``a`` only when the mean difference exceeds twice its standard
    error (``std / sqrt(n)``, n >= 3 cases) and ``"too few cases / too small to tell"`` otherwise; with identical
    values it is ``"same"``. This is a plain rule of thumb for small samples, not a significance test.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else None
    if np.all(d == 0):
        verdict = "same"
    elif n >= 3 and se is not None and abs(mean) > 2 * se:
        verdict = "better" if (mean > 0) == higher_is_better else "worse"
    else:
        verdict = "too small to tell"
    wins = int(np.sum(d > 0) if higher_is_better else np.sum(d < 0))
    return {"mean_difference": mean, "standard_error": se, "n": n, "cases_better": wins, "verdict": verdict}


def comparisons(per_case: dict) -> list[dict]:
    """Every :data:`COMPARISONS` pair present on a dataset, for each of :data:`COMPARED_METRICS` (vessels)."""
    out = []
    for dataset, methods in per_case.items():
        for method, reference in COMPARISONS:
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
    """Rows (module docstring) and per-case values ``{dataset: {method: {region: {metric: [values]}}}}``."""
    rows: list[dict] = []
    per_case: dict = {}
    for o in outcomes:
        cases = o["summary"]["metric_per_case"]
        by_region: dict = {}
        for region in [r for r in REGIONS if r in cases[0]["metrics"]]:
            row = {"dataset": o["dataset"], "method": o["method"], "region": region, "n_cases": len(cases)}
            by_region[region] = {}
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
            row["cgpm_s_per_epoch"] = o["train_s_per_epoch"].get("cgpm")
            row["infer_s_per_case"] = o["infer_s_per_case"]
            rows.append(row)
        per_case.setdefault(o["dataset"], {})[o["method"]] = {
            "cases": [c["case"] for c in cases],
            "values": by_region,
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
    rows: list[dict], budget, machine: dict, wall_s: float | None, plots: list[str], compared: list[dict]
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
        + "\n"
    )
    if wall_s is not None:
        out.write(
            f"- Wall time of this invocation: {wall_s / 60:.1f} min (steps finished earlier are not re-run)\n"
        )
    out.write(f"- Note: {budget.note}\n\n")
    out.write(
        "Cells: mean ± standard deviation over the held-out cases (n); minimum and maximum are in results.csv, "
        "every case's value in results.json. Breaks and Betti-0 error are counts per case, HD95 in mm.\n\n"
    )
    if compared:
        out.write(
            "## Paired comparisons (vessels region)\n\n"
            "Difference per case (method minus reference), mean ± standard error; *better*/*worse* only when the "
            "mean exceeds twice its standard error with at least 3 cases, else *too small to tell*.\n\n"
            "| dataset | method | reference | metric | difference | cases better | verdict |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        for c in compared:
            out.write(
                f"| {c['dataset']} | {c['method']} | {c['reference']} | {c['metric']} | "
                f"{c['mean_difference']:+.3f} ± {_fmt(c['standard_error'])} | {c['cases_better']}/{c['n']} | "
                f"{c['verdict']} |\n"
            )
        out.write("\n")
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
    out.write(
        "## Time\n\n| dataset | method | training s/epoch (stage 1) | CGPM s/epoch | inference s/case |\n"
    )
    out.write("|---|---|---|---|---|\n")
    for r in rows:
        if r["region"] != rows[0]["region"]:
            continue
        out.write(
            f"| {r['dataset']} | {r['method']} | {_fmt(r['train_s_per_epoch'], 1)} | "
            f"{_fmt(r['cgpm_s_per_epoch'], 1)} | {_fmt(r['infer_s_per_case'], 2)} |\n"
        )
    out.write("\n")
    for p in plots:
        out.write(f"![{p}]({p})\n\n")
    return out.getvalue()


def _plot_methods(per_case: dict, dataset: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    panels = [("vessels", "dice"), ("vessels", "cldice"), ("vessels", "breaks"), ("bone", "dice")]
    methods = list(per_case[dataset])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.6))
    for ax, (region, metric) in zip(axes, panels, strict=True):
        for i, m in enumerate(methods):
            values = per_case[dataset][m]["values"].get(region, {}).get(metric)
            if not values:
                continue
            ax.bar(i, np.mean(values), yerr=np.std(values), color=f"C{i}", alpha=0.7, capsize=3)
            ax.plot(np.full(len(values), i) + np.linspace(-0.15, 0.15, len(values)), values, "k.", ms=4)
        ax.set_xticks(range(len(methods)), methods, rotation=40, ha="right", fontsize=8)
        ax.set_title(f"{region} {metric}", fontsize=10)
        if metric in ("dice", "cldice"):
            ax.set_ylim(0, 1)
    fig.suptitle(f"{dataset}: mean ± std over held-out cases (dots: cases)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def _plot_modalities(per_case: dict, path: Path) -> bool:
    import matplotlib.pyplot as plt

    datasets = list(per_case)
    methods = [
        m
        for m in dict.fromkeys(m for d in datasets for m in per_case[d])
        if sum(m in per_case[d] for d in datasets) > 1
    ]
    if len(datasets) < 2 or not methods:
        return False
    panels = [("vessels", "dice"), ("vessels", "cldice"), ("vessels", "recall"), ("bone", "dice")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6))
    width = 0.8 / len(datasets)
    for ax, (region, metric) in zip(axes, panels, strict=True):
        for j, d in enumerate(datasets):
            for i, m in enumerate(methods):
                values = per_case[d].get(m, {}).get("values", {}).get(region, {}).get(metric)
                if not values:
                    continue
                x = i + (j - (len(datasets) - 1) / 2) * width
                ax.bar(x, np.mean(values), width, yerr=np.std(values), color=f"C{j}", alpha=0.7, capsize=2,
                       label=d if i == 0 else None)  # fmt: skip
                ax.plot(np.full(len(values), x), values, "k.", ms=3)
        ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{region} {metric}", fontsize=10)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7)
    fig.suptitle("per modality: mean ± std over held-out cases (dots: cases)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return True


def write_results(
    outcomes: list[dict],
    out: str | os.PathLike,
    *,
    budget,
    user_dataset: str | None = None,
    wall_s: float | None = None,
) -> dict:
    """Write results.csv/.json/.md, ``plot_<dataset>.png``, ``plot_modalities.png`` and machine.json into ``out``.

    Returns:
        ``{"rows": rows, "csv": path, "json": path, "md": path, "machine": path, "plots": [paths]}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, per_case = summarise(outcomes)
    compared = comparisons(per_case)
    machine = machine_info()
    plots: list[str] = []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # nnU-Net's progress plots change the global style (seaborn, large fonts) when training ran in this process
    with plt.style.context("default"):
        for dataset in per_case:
            name = f"plot_{dataset}.png"
            _plot_methods(per_case, dataset, out / name)
            plots.append(name)
        if _plot_modalities(per_case, out / "plot_modalities.png"):
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
                "per_case": per_case,
                "outputs": extras,
            },
            indent=1,
        )
        + "\n",
    )
    write_text_atomic(out / "results.md", markdown(rows, budget, machine, wall_s, plots, compared))
    write_text_atomic(out / "machine.json", json.dumps(machine, indent=2) + "\n")
    return {
        "rows": rows,
        "csv": str(out / "results.csv"),
        "json": str(out / "results.json"),
        "md": str(out / "results.md"),
        "machine": str(out / "machine.json"),
        "plots": [str(out / p) for p in plots],
    }
