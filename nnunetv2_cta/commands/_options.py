"""Options shared by several subcommands, spelled as nnU-Net spells them (ours kept as aliases).

nnU-Net's ``nnUNetv2_predict`` / ``nnUNetv2_train`` use ``-f``, ``-chk``, ``-device``, ``-num_parts``,
``-part_id`` and ``-np``; a user switching between the two tools can type either spelling. One ``--folds``
parser with one default (every trained fold that has the checkpoint, as nnU-Net's predictor does) serves
``predict`` and ``repair``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from nnunetv2_cta.errors import ConfigurationError


def add_folds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--folds",
        nargs="+",
        default=None,
        metavar="FOLD",
        help="folds to ensemble: fold numbers (0 1 2 ...) or 'all' for the fold_all model "
        "(default: every fold folder that has the checkpoint)",
    )


def parse_folds(values: Sequence[str] | None) -> tuple[int | str, ...] | None:
    """``None`` -> ``None`` (every trained fold); ``["0", "2"]`` -> ``(0, 2)``; ``["all"]`` -> ``("all",)``.

    Raises:
        ConfigurationError: a value is neither a fold number >= 0 nor ``all``, a fold repeats, or ``all`` is
            mixed with numbers.
    """
    if values is None:
        return None
    folds: list[int | str] = []
    for value in values:
        text = str(value).strip()
        if text == "all":
            folds.append("all")
        elif text.isdigit():
            folds.append(int(text))
        else:
            raise ConfigurationError(f"--folds takes fold numbers (0, 1, ...) or 'all', got {value!r}")
    if "all" in folds and len(folds) > 1:
        raise ConfigurationError(
            f"--folds 'all' (the fold_all model) cannot be mixed with other folds, got {values}"
        )
    if len(set(folds)) != len(folds):
        raise ConfigurationError(f"--folds lists a fold twice: {values}")
    return tuple(folds)


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-device", "--device", default="cpu", help="torch device: cpu (default), cuda or cuda:N"
    )


def add_checkpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-chk",
        "--checkpoint",
        default="checkpoint_final.pth",
        help="checkpoint file name in each fold folder",
    )


def add_parts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-num_parts",
        "--num-parts",
        dest="num_parts",
        type=int,
        default=1,
        help="split the cases into this many parts",
    )
    parser.add_argument(
        "-part_id",
        "--part-id",
        dest="part_id",
        type=int,
        default=0,
        help="which part this process runs (0-based, < num_parts)",
    )
