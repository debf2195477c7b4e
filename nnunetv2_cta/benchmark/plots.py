"""The benchmark's plots (PNG): per dataset, every method's per-case scores; across modalities, the methods they
share. Drawn from :func:`nnunetv2_cta.benchmark.report.summarise`'s per-case values, written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnunetv2_cta.io import atomic_path

#: (region, metric) panels of a dataset's plot, in order
METHOD_PANELS: tuple[tuple[str, str], ...] = (
    ("vessels", "dice"),
    ("vessels", "cldice"),
    ("vessels", "breaks"),
    ("bone", "dice"),
)


def plot_methods(per_case: dict, dataset: str, path: Path) -> list[tuple[str, str]]:
    """Bars (mean ± std) and dots (cases) of every method on one dataset: vessels Dice, clDice, breaks, bone Dice;
    a panel whose region no case contains (bone in real geometry) is left out.

    Returns:
        the ``(region, metric)`` panels drawn; none (and no file) when the dataset has none of them.
    """
    import matplotlib.pyplot as plt

    methods = list(per_case[dataset])
    panels = [
        (region, metric)
        for region, metric in METHOD_PANELS
        if any(per_case[dataset][m]["values"].get(region, {}).get(metric) for m in methods)
    ]
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.6), squeeze=False)
    axes = axes[0]
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
    return panels


def plot_modalities(per_case: dict, path: Path) -> bool:
    """Bars per dataset for every method on more than one dataset; False (nothing written) when there is none."""
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
