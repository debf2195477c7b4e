"""The ``nnunetv2_cta`` console command.

Subcommands live in :mod:`nnunetv2_cta.commands` (one small module each, see its docstring). This module
builds the parser and turns :class:`~nnunetv2_cta.errors.CTAError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from nnunetv2_cta import __version__
from nnunetv2_cta.commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnunetv2_cta",
        description="Head-and-neck CT angiography post-processing on nnU-Net v2.",
    )
    parser.add_argument("--version", action="version", version=f"nnunetv2_cta {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log DEBUG messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from nnunetv2_cta.errors import CTAError

    try:
        return int(args._run(args) or 0)
    except CTAError as err:
        print(f"nnunetv2_cta {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nnunetv2_cta {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
