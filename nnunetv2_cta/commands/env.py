"""``nnunetv2_cta env``: print the shell exports nnU-Net needs to find our trainers."""

from __future__ import annotations

import argparse
import sys

NAME = "env"
HELP = 'print shell exports for nnU-Net (use: eval "$(nnunetv2_cta env)")'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Prints 'export nnUNet_extTrainer=...' pointing at the folder inside this package that re-exports our "
        "trainer classes, so stock nnUNetv2_train / nnUNetv2_predict find them; warns on stderr about unset "
        "nnUNet_raw / nnUNet_preprocessed / nnUNet_results."
    )


def run(args: argparse.Namespace) -> int:
    from nnunetv2_cta.environment import shell_exports

    exports, warnings = shell_exports()
    for line in exports:
        print(line)
    for warning in warnings:
        print(f"nnunetv2_cta env: warning: {warning}", file=sys.stderr)
    return 0
