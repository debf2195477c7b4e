"""Evaluate a folder of predictions against a folder of ground-truth label maps.

Cases are paired by name: ``<case><ending>`` in both folders, ``<ending>`` any of
:data:`nnunetv2_cta.io.VOLUME_ENDINGS` (the two folders may use different endings). The summary JSON has the
top-level layout of nnU-Net's ``summary.json`` so scripts written for it keep working:

.. code-block:: text

    {
      "metric_per_case": [{"prediction_file": ..., "reference_file": ..., "case": ...,
                           "metrics": {region: {metric: value}}, "breaks": {region: [break, ...]},
                           "class_average": {"dice", "per_class", "classes", "merged_dice"}}, ...],
      "mean": {region: {metric: mean over cases}},
      "foreground_mean": {metric: mean over the regions of "mean" that have it},
      "not_applicable": {region: {metric: number of cases where it is None}},
      "class_average": {"dice": mean class-average Dice, "merged_dice": mean merged vessel Dice},
      "labels": [...], "regions": {region: [label values]}, "num_cases": n
    }

Region keys are region names (nnU-Net uses label values or region tuples). Every value is a finite number
(each metric's empty-side convention is documented in its module). ``breaks`` and ``break_length_mm`` are
left out (CSV ``n/a``) for a case whose prediction or ground truth of that region is empty (flags
``empty_prediction`` / ``empty_reference``): a missing prediction has no gaps to count, and "0 breaks"
would read as perfect. Their ``mean`` is over the cases that have them, and ``not_applicable`` says how
many had none. A CSV table (one row per case and region, same metric columns)
is written beside the JSON.

``class_average`` follows the TopCoW challenge's rules (:mod:`.class_average`): per case, the mean Dice over
the foreground classes present in the ground truth or the prediction (a class on one side only scores 0, a
class on neither side is left out, a case with no class at all scores 0), and the Dice of the merged vessel
labels (0 when either side is empty). It is the figure to compare with TopCoW/TopBrain results; the
per-region ``dice`` keeps our convention (1 when both sides are empty).
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, CTAError, DatasetFormatError, OutputExistsError
from nnunetv2_cta.evaluation.case import (
    BASE_METRICS,
    DEFAULT_LABELS,
    NOT_APPLICABLE_WHEN_EMPTY,
    VESSEL_METRICS,
    evaluate_case,
    normalize_regions,
)
from nnunetv2_cta.io import atomic_write
from nnunetv2_cta.labels import VESSEL_LABELS

logger = logging.getLogger(__name__)


def list_cases(folder: str | os.PathLike, *, what: str) -> dict[str, Path]:
    """``{case name: file}`` for every volume file in ``folder`` (hidden and temporary files ignored)."""
    from nnunetv2_cta.io import has_volume_ending, strip_volume_ending

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(f"{what} folder {str(folder)!r} does not exist or is not a folder")
    cases: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or not has_volume_ending(path.name):
            continue
        case = strip_volume_ending(path.name)
        if case in cases:
            raise DatasetFormatError(
                f"{what} folder {str(folder)!r}: case {case!r} has two files, {cases[case].name!r} and {path.name!r}"
            )
        cases[case] = path
    return cases


def _pair_cases(gt_dir, pred_dir) -> list[tuple[str, Path, Path]]:
    gt_cases = list_cases(gt_dir, what="ground-truth")
    pred_cases = list_cases(pred_dir, what="prediction")
    if not gt_cases:
        raise DatasetFormatError(f"ground-truth folder {str(gt_dir)!r} contains no volume files")
    missing = sorted(set(gt_cases) - set(pred_cases))
    extra = sorted(set(pred_cases) - set(gt_cases))
    if missing:
        raise DatasetFormatError(
            f"prediction folder {str(pred_dir)!r} lacks {len(missing)} case(s) of the ground truth: {missing[:10]}"
        )
    if extra:
        raise DatasetFormatError(
            f"prediction folder {str(pred_dir)!r} has {len(extra)} case(s) without ground truth: {extra[:10]}"
        )
    return [(case, gt_cases[case], pred_cases[case]) for case in sorted(gt_cases)]


def _evaluate_one(job: tuple) -> dict:
    """Worker: read one pair and evaluate it (module level so that spawned processes can import it)."""
    case, gt_path, pred_path, labels, regions, graph_path, vessel_labels = job
    from nnunetv2_cta.evaluation.class_average import class_average_dice
    from nnunetv2_cta.io import read_image

    gt, geometry = read_image(gt_path)
    pred, pred_geometry = read_image(pred_path)
    result = evaluate_case(
        gt,
        pred,
        geometry,
        labels=labels,
        regions=regions,
        graph=graph_path,
        pred_geometry=pred_geometry,
        case=case,
        vessel_labels=vessel_labels,
    )
    return {
        "prediction_file": str(pred_path),
        "reference_file": str(gt_path),
        "case": case,
        "metrics": result["metrics"],
        "breaks": result["breaks"],
        "class_average": class_average_dice(gt, pred, labels, merged=vessel_labels),
    }


def _means(per_case: list[dict], regions: Iterable[str]) -> tuple[dict, dict, dict]:
    """Per-region means, foreground means and ``{region: {metric: cases without a value}}``.

    A metric missing from a case (not applicable: breaks with an empty side) is left out of that metric's
    mean; a metric that no case has is left out of ``mean`` and counted in the third dict.
    """
    mean: dict[str, dict[str, float]] = {}
    not_applicable: dict[str, dict[str, int]] = {}
    for region in regions:
        present = {k for c in per_case for k in c["metrics"][region]}
        if "cldice" in present:  # a vessel region: breaks may be not applicable in some cases
            present |= set(NOT_APPLICABLE_WHEN_EMPTY)
        mean[region] = {}
        for k in [k for k in BASE_METRICS + VESSEL_METRICS if k in present]:
            values = [c["metrics"][region][k] for c in per_case if k in c["metrics"][region]]
            if values:
                mean[region][k] = float(np.mean(values))
            if len(values) < len(per_case):
                not_applicable.setdefault(region, {})[k] = len(per_case) - len(values)
    foreground: dict[str, float] = {}
    for k in BASE_METRICS + VESSEL_METRICS:
        values = [m[k] for m in mean.values() if k in m]
        if values:
            foreground[k] = float(np.mean(values))
    return mean, foreground, not_applicable


def _atomic_write(path: Path, write) -> None:
    with atomic_write(path, "w", newline="") as handle:
        write(handle)


def _cell(metrics: dict, key: str):
    """CSV cell: ``n/a`` for breaks not applicable in this case, empty when the region has no such metric."""
    if key in metrics:
        return metrics[key]
    return "n/a" if key in NOT_APPLICABLE_WHEN_EMPTY and "cldice" in metrics else ""


def _write_csv(path: Path, per_case: list[dict]) -> None:
    columns = [
        k
        for k in BASE_METRICS + VESSEL_METRICS
        if any(k in m for c in per_case for m in c["metrics"].values())
    ]

    def write(handle) -> None:
        writer = csv.writer(handle)
        writer.writerow(["case", "region", *columns])
        for c in per_case:
            for region, m in c["metrics"].items():
                writer.writerow([c["case"], region, *[_cell(m, k) for k in columns]])

    _atomic_write(path, write)


def evaluate_folder(
    gt_dir: str | os.PathLike,
    pred_dir: str | os.PathLike,
    output_json: str | os.PathLike,
    *,
    labels: Iterable[int] = DEFAULT_LABELS,
    regions: Mapping[str, Iterable[int]] | None = None,
    graphs_dir: str | os.PathLike | None = None,
    num_processes: int = 1,
    progress: bool = False,
    csv_path: str | os.PathLike | None = None,
    overwrite: bool = False,
    vessel_labels: Iterable[int] = VESSEL_LABELS,
) -> dict:
    """Evaluate every case of ``pred_dir`` against ``gt_dir`` and write ``summary.json`` and a CSV.

    Args:
        gt_dir, pred_dir: folders of label maps ``<case><ending>``; both must hold exactly the same cases.
        output_json: the summary JSON to write (layout in the module docstring).
        labels: every label value that may occur (0 included); other values are an error.
        regions: ``{name: label values}``; default :data:`~.case.DEFAULT_REGIONS`.
        graphs_dir: folder with ``<case>_graph.json`` vessel graphs for the V-score (every case needs one).
        num_processes: worker processes (spawned); 1 evaluates in this process.
        progress: show a tqdm progress bar.
        csv_path: the CSV to write; default ``output_json`` with the ending ``.csv``.
        overwrite: replace existing outputs.
        vessel_labels: label values that are vessels (regions made only of them get the vessel metrics).

    Returns:
        The summary dict that was written.

    Raises:
        DatasetFormatError: missing folders, missing or extra cases, unreadable files, bad label values.
        GeometryError: a prediction's grid differs from its ground truth's (the message names the case).
        OutputExistsError: an output exists and ``overwrite`` is false.
    """
    from tqdm import tqdm

    output_json = Path(output_json)
    csv_path = Path(csv_path) if csv_path is not None else output_json.with_suffix(".csv")
    if int(num_processes) < 1:
        raise ConfigurationError(f"num_processes must be >= 1, got {num_processes!r}")
    for out in (output_json, csv_path):
        if out.exists() and not overwrite:
            raise OutputExistsError(f"{str(out)!r} exists; pass overwrite=True (--overwrite) to replace it")
    labels = tuple(sorted({int(v) for v in labels} | {0}))
    regions = normalize_regions(regions, labels)
    pairs = _pair_cases(gt_dir, pred_dir)
    jobs = []
    for case, gt_path, pred_path in pairs:
        graph_path = None
        if graphs_dir is not None:
            graph_path = Path(graphs_dir) / f"{case}_graph.json"
            if not graph_path.is_file():
                raise DatasetFormatError(f"case {case!r}: vessel graph {str(graph_path)!r} does not exist")
        jobs.append(
            (case, gt_path, pred_path, labels, regions, graph_path, tuple(int(v) for v in vessel_labels))
        )

    n_workers = min(int(num_processes), len(jobs))
    bar = tqdm(total=len(jobs), desc="evaluate", unit="case", disable=not progress)
    per_case: list[dict] = []
    try:
        if n_workers == 1:
            for job in jobs:
                per_case.append(_run_job(job))
                bar.update()
        else:
            with multiprocessing.get_context("spawn").Pool(n_workers) as pool:
                for result in pool.imap(_run_job, jobs):
                    per_case.append(result)
                    bar.update()
    finally:
        bar.close()

    mean, foreground_mean, not_applicable = _means(per_case, regions)
    summary = {
        "metric_per_case": per_case,
        "mean": mean,
        "foreground_mean": foreground_mean,
        "not_applicable": not_applicable,
        "class_average": {
            "dice": float(np.mean([c["class_average"]["dice"] for c in per_case])),
            "merged_dice": float(np.mean([c["class_average"]["merged_dice"] for c in per_case])),
        },
        "labels": list(labels),
        "regions": {k: list(v) for k, v in regions.items()},
        "num_cases": len(per_case),
    }
    _atomic_write(output_json, lambda handle: json.dump(summary, handle, indent=2, allow_nan=False))
    _write_csv(csv_path, per_case)
    logger.info("evaluated %d case(s): %s, %s", len(per_case), output_json, csv_path)
    return summary


def _run_job(job: tuple) -> dict:
    """Evaluate one case; input errors get the case name in front (they travel back from worker processes)."""
    case = job[0]
    try:
        return _evaluate_one(job)
    except CTAError as err:
        message = str(err)
        if f"case {case!r}" not in message:
            message = f"case {case!r}: {message}"
        raise type(err)(message) from None
