"""``nnunetv2_cta evaluate``: vessel metrics of a folder of predictions (summary.json + CSV)."""

from __future__ import annotations

import argparse

NAME = "evaluate"
HELP = (
    "Dice, recall, V-score, clDice, Betti errors, HD95/ASSD, breaks and connected recall of a folder of "
    "predictions; writes an nnU-Net style summary.json and a CSV"
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
        "-o", "--output", required=True, help="summary JSON to write (a .csv is written beside it)"
    )
    parser.add_argument(
        "--labels",
        type=int,
        nargs="+",
        default=None,
        metavar="LABEL",
        help="label values that may occur (default: 0 1 2 3 4); any other value is an error",
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
        help="label values that are vessels (default: 2 3 4); regions made only of them get clDice, breaks, "
        "connected recall and V-score",
    )
    parser.add_argument(
        "--graphs", default=None, metavar="DIR", help="folder of <case>_graph.json for the V-score"
    )
    parser.add_argument("-np", "--num-processes", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--csv", default=None, help="CSV path (default: the summary path with .csv)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing summary/CSV files")


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.evaluation.case import DEFAULT_LABELS
    from nnunetv2_cta.evaluation.folder import evaluate_folder
    from nnunetv2_cta.labels import VESSEL_LABELS

    summary = evaluate_folder(
        args.gt,
        args.pred,
        args.output,
        labels=args.labels if args.labels is not None else DEFAULT_LABELS,
        regions=dict(args.regions) if args.regions else None,
        graphs_dir=args.graphs,
        num_processes=args.num_processes,
        progress=True,
        csv_path=args.csv,
        overwrite=args.overwrite,
        vessel_labels=args.vessel_labels if args.vessel_labels is not None else VESSEL_LABELS,
    )
    for region, metrics in summary["mean"].items():
        shown = ", ".join(
            f"{k} {metrics[k]:.3f}"
            for k in ("dice", "recall", "cldice", "hd95_mm", "breaks", "vscore")
            if k in metrics
        )
        print(f"{region}: {shown}")
    print(f"summary: {args.output}")
    return 0
