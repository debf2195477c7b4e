"""``nnunetv2_cta evaluate``: vessel metrics of a folder of predictions (summary.json + CSV)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "evaluate"
HELP = (
    "Dice, recall, V-score, clDice, Betti errors, HD95/ASSD, breaks and connected recall of a folder of "
    "predictions, plus TopCoW's class-average Dice; writes an nnU-Net style summary.json and a CSV"
)


def region_spec(text: str) -> tuple[str, tuple[int, ...]]:
    """``'vessels=2,3,4'`` -> ``('vessels', (2, 3, 4))``."""
    name, sep, values = text.partition("=")
    try:
        labels = tuple(int(v) for v in values.split(",") if v.strip())
    except ValueError:
        labels = ()
    if not sep or not name.strip() or not labels:
        raise argparse.ArgumentTypeError(f"a region must look like NAME=LABEL[,LABEL...], got {text!r}")
    return name.strip(), labels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, help="folder of ground-truth label maps <case><ending>")
    parser.add_argument("--pred", required=True, help="folder of predicted label maps, same case names")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="where to write: a path ending in .json is the summary file (the CSV goes beside it, same name "
        "with .csv); any other path is a folder (created if needed) that receives summary.json and summary.csv",
    )
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument(
        "--dataset-json",
        "-dj",
        default=None,
        metavar="FILE",
        help="nnU-Net dataset.json whose 'labels' declare the label values, their names and regions "
        "(e.g. TopCoW's 13 CoW classes); one region per label, one per listed region, plus merged vessels",
    )
    labels.add_argument(
        "--labels",
        type=int,
        nargs="+",
        default=None,
        metavar="LABEL",
        help="label values that may occur (default: 0 1 2 3 4, our scheme); other sets get one region "
        "label_<v> per value plus merged vessels; any other value in a map is an error",
    )
    parser.add_argument(
        "--regions",
        type=region_spec,
        nargs="+",
        default=None,
        metavar="NAME=LABELS",
        help="regions to evaluate, e.g. bone=1 vessels=2,3,4 (default: bone=1 aorta=2 carotid=3 "
        "intracranial=4 vessels=2,3,4); vessel metrics are computed for regions of vessel labels only",
    )
    parser.add_argument(
        "--vessel-labels",
        type=int,
        nargs="+",
        default=None,
        metavar="LABEL",
        help="label values that are vessels (default: 2 3 4 for our scheme, else every label not named bone); "
        "regions made only of them get clDice, breaks, connected recall and V-score",
    )
    parser.add_argument(
        "--graphs", default=None, metavar="DIR", help="folder of <case>_graph.json for the V-score"
    )
    parser.add_argument("-np", "--num-processes", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--csv", default=None, help="CSV path (default: the summary path with .csv)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing summary/CSV files")


def output_paths(output: str, csv: str | None = None) -> tuple[Path, Path]:
    """Resolve ``-o`` (and ``--csv``) to the summary JSON and CSV paths, or raise one clear error.

    ``-o x.json``: the summary is ``x.json``, the CSV ``x.csv`` beside it. Any other ``-o``: a folder that
    receives ``summary.json`` and ``summary.csv``. A path that exists as the other kind is an error, so
    ``-o results`` never writes a file named ``results`` and ``-o s.json`` never fills a folder named so.
    The folder that will hold the files must exist and be writable, or be creatable (checked before any
    case is read).

    Raises:
        ConfigurationError: ``-o`` names an existing file without ``.json`` or an existing folder ending in
            ``.json``; ``--csv`` is a folder; the output folder cannot be created or written.
    """
    import os

    from nnunetv2_cta.errors import ConfigurationError

    path = Path(output)
    if path.suffix.lower() == ".json":
        if path.is_dir():
            raise ConfigurationError(
                f"-o {output!r} ends in .json but is a folder; give the summary file's path, or a folder "
                "path without .json"
            )
        json_path = path
    else:
        if path.exists() and not path.is_dir():
            raise ConfigurationError(
                f"-o {output!r} is an existing file but not a .json; give a path ending in .json for the "
                "summary file, or a folder"
            )
        json_path = path / "summary.json"
    csv_path = Path(csv) if csv is not None else json_path.with_suffix(".csv")
    if csv_path.is_dir():
        raise ConfigurationError(f"--csv {str(csv_path)!r} is a folder; give the CSV file's path")
    for target in {json_path.parent, csv_path.parent}:
        existing = target
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigurationError(
                f"output folder {str(target)!r} cannot be written: {str(existing)!r} is not a writable folder"
            )
    return json_path, csv_path


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.evaluation.folder import evaluate_folder
    from nnunetv2_cta.evaluation.labelset import (
        default_label_set,
        label_set_from_dataset_json,
        label_set_from_values,
    )

    json_path, csv_path = output_paths(args.output, args.csv)
    if args.dataset_json is not None:
        label_set = label_set_from_dataset_json(args.dataset_json, vessel_labels=args.vessel_labels)
    elif args.labels is not None or args.vessel_labels is not None:
        values = args.labels if args.labels is not None else default_label_set().labels
        label_set = label_set_from_values(values, vessel_labels=args.vessel_labels)
    else:
        label_set = default_label_set()
    summary = evaluate_folder(
        args.gt,
        args.pred,
        json_path,
        labels=label_set.labels,
        regions=dict(args.regions) if args.regions else label_set.regions,
        graphs_dir=args.graphs,
        num_processes=args.num_processes,
        progress=True,
        csv_path=csv_path,
        overwrite=args.overwrite,
        vessel_labels=label_set.vessel_labels,
    )
    not_applicable = summary.get("not_applicable", {})
    for region, metrics in summary["mean"].items():
        shown = []
        for k in ("dice", "recall", "cldice", "hd95_mm", "breaks", "vscore"):
            if k not in metrics and k not in not_applicable.get(region, {}):
                continue
            shown.append(f"{k} {_fmt(metrics.get(k))}")
            missing = not_applicable.get(region, {}).get(k)
            if missing:
                shown[-1] += (
                    f" (not applicable in {missing} of {summary['num_cases']} case(s): "
                    "empty prediction or ground truth)"
                )
        print(f"{region}: {', '.join(shown)}")
    avg = summary["class_average"]
    print(f"class-average Dice (TopCoW rules) {avg['dice']:.3f}, merged vessel Dice {avg['merged_dice']:.3f}")
    print(f"summary: {json_path} (+ {csv_path.name})")
    return 0
