"""``nnunetv2_cta choose``: pick a trainer, configuration or post-processing variant by breaks and clDice."""

from __future__ import annotations

import argparse

NAME = "choose"
HELP = (
    "pick one of several evaluated candidates (trainers, configurations, post-processing variants) by a "
    "topology-aware rule that counts breaks and clDice, and show where Dice alone would pick differently"
)

DESCRIPTION = f"""{HELP}.

Give two or more summaries written by 'nnunetv2_cta evaluate' on the same cases (a summary.json, or the
folder holding it; NAME=PATH names a candidate, else the folder name is used), or one hand-made score table
with --table.

The rule: the Dice-only choice is the candidate with the highest mean Dice (what nnU-Net picks). Candidates
whose mean Dice is within --dice-tolerance of it are eligible, ranked by mean breaks per case (fewer first),
then mean clDice, then mean Dice. From the top of that ranking down to the Dice-only choice, the first
candidate that is consistently better than the Dice-only choice on breaks (or, where breaks do not differ
consistently, on clDice) is chosen; otherwise the Dice-only choice stands. Consistently better: paired per
case over at least --min-cases cases, better in more cases than worse, and the mean difference beyond twice
its standard error. With fewer cases or mixed results the verdict is "too small to tell" and the Dice-only
choice is kept. Betti-0 error (and seconds, in a table) are reported, not used.

Example:
  nnunetv2_cta choose stock=eval/stock/summary.json cta=eval/cta/summary.json -o choice.json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "summaries",
        nargs="*",
        metavar="[NAME=]SUMMARY",
        help="summary.json of 'nnunetv2_cta evaluate' (or its folder), one per candidate, at least 2",
    )
    parser.add_argument(
        "--table",
        default=None,
        metavar="FILE.json",
        help="instead of summaries: a JSON score table {candidate: {case: {metric: value}}} with metrics dice, "
        "cldice, breaks (null = not applicable) and optionally betti0_error, seconds",
    )
    parser.add_argument(
        "--region",
        default="vessels",
        help="vessel region of the summaries to choose on (default: vessels, all arteries merged)",
    )
    parser.add_argument(
        "--dice-tolerance",
        type=float,
        default=0.01,
        help="how far below the best mean Dice a candidate stays eligible (default 0.01)",
    )
    parser.add_argument(
        "--min-cases",
        type=int,
        default=5,
        help="fewest paired cases for a 'better'/'worse' verdict (default 5)",
    )
    parser.add_argument(
        "-o", "--output", default=None, metavar="FILE.json", help="also write the result as JSON"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing -o file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nnunetv2_cta.errors import ConfigurationError, OutputExistsError
    from nnunetv2_cta.evaluation.score_table import read_summaries, read_table
    from nnunetv2_cta.evaluation.selection import choose_candidate, format_selection
    from nnunetv2_cta.io import check_output_file, write_json_atomic

    if args.table is not None and args.summaries:
        raise ConfigurationError(
            f"give either summaries or --table, not both (got --table {args.table!r} and {args.summaries})"
        )
    if args.table is None and len(args.summaries) < 2:
        raise ConfigurationError(
            f"choosing needs at least 2 summaries (or --table FILE.json), got {len(args.summaries)}: "
            f"{args.summaries}"
        )
    if args.output is not None:
        if Path(args.output).suffix.lower() != ".json":
            raise ConfigurationError(f"-o must name a .json file, got {args.output!r}")
        check_output_file(args.output, what="-o file")
        if Path(args.output).exists() and not args.overwrite:
            raise OutputExistsError(f"{args.output!r} exists; pass --overwrite to replace it")
    table = (
        read_table(args.table)
        if args.table is not None
        else read_summaries(args.summaries, region=args.region)
    )
    selection = choose_candidate(table, dice_tolerance=args.dice_tolerance, min_cases=args.min_cases)
    if args.table is None:
        print(f"region {args.region!r}")
    print(format_selection(selection))
    if args.output is not None:
        result = selection.to_dict()
        result["region"] = args.region if args.table is None else None
        result["inputs"] = list(args.summaries) if args.table is None else [args.table]
        write_json_atomic(args.output, result)
        print(f"result: {args.output}")
    return 0
