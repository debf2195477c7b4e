"""CLI subcommands, one module each.

Every module defines ``NAME`` (the subcommand), ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Only ``argparse`` and the standard library may be imported at module level: heavy
imports (numpy, torch, nnunetv2) go inside ``run`` so ``nnunetv2_cta --help`` stays instant. ``run`` parses
nothing itself; it calls one documented public function of the package.

The registry is explicit: add a module to ``COMMAND_MODULES`` below.
"""

COMMAND_MODULES: tuple[str, ...] = (
    "nnunetv2_cta.commands.env",
    "nnunetv2_cta.commands.plan",
    "nnunetv2_cta.commands.convert",
    "nnunetv2_cta.commands.evaluate",
    "nnunetv2_cta.commands.choose",
    "nnunetv2_cta.commands.phantom",
    "nnunetv2_cta.commands.demo",
    "nnunetv2_cta.commands.repair",
    "nnunetv2_cta.commands.benchmark",
    "nnunetv2_cta.commands.predict",
    "nnunetv2_cta.commands.export",
)
