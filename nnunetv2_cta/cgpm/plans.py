"""Add the CGPM repair stage (``3d_cgpm``) to an nnU-Net plans file (plain json: no torch, no nnunetv2).

The repair stage rides on nnU-Net's cascade mechanism: a configuration with ``previous_stage`` receives the
previous stage's segmentation as extra one-hot input channels (one per foreground label), at training
(``predicted_next_stage/`` or our simulated stand-in, see :mod:`nnunetv2_cta.trainers.cgpm`) and at
inference (``folder_with_segs_from_prev_stage``). The new configuration inherits everything (spacing, patch,
network, preprocessed data) from the first stage, so no second preprocessing is needed::

    "3d_cgpm": {"inherits_from": "3d_fullres", "previous_stage": "3d_fullres", "next_stage": null}

and the first stage gains ``"next_stage": ["3d_cgpm"]`` so that its 5-fold validation writes out-of-fold
predictions for the repair stage. Our own settings go under ``plans["cta"]["cgpm"]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, OutputExistsError
from nnunetv2_cta.io import write_json_atomic

CGPM_CONFIGURATION = "3d_cgpm"


def add_cgpm_configuration(
    plans_file: str | os.PathLike,
    first_stage: str = "3d_fullres",
    *,
    name: str = CGPM_CONFIGURATION,
    first_stage_trainer: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Add the CGPM configuration ``name`` (cascaded on ``first_stage``) to a plans JSON file, in place.

    Args:
        plans_file: nnU-Net plans JSON (e.g. ``nnUNetCTAPlans_cpu.json``).
        first_stage: configuration whose segmentation the repair stage receives.
        name: name of the new configuration.
        first_stage_trainer: trainer class name of the first stage; the CGPM trainer reads that model's
            out-of-fold predictions (``<trainer>__<plans>__<first_stage>/predicted_next_stage/<name>``).
            ``None``: train from simulated breaks of the ground truth only.
        overwrite: replace an existing configuration of that name.

    Returns:
        the updated plans dict (also written back to ``plans_file``, atomically).
    """
    path = Path(plans_file)
    try:
        plans = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetFormatError(f"cannot read plans file {str(path)!r}: {err}") from err
    configs = plans.get("configurations", {})
    if first_stage not in configs:
        raise ConfigurationError(
            f"first_stage must be a configuration of {path.name}, got {first_stage!r}; have {sorted(configs)}"
        )
    if name == first_stage:
        raise ConfigurationError(f"name must differ from first_stage, got {name!r} for both")
    if name in configs and not overwrite:
        raise OutputExistsError(f"{path.name} already has a configuration {name!r}; pass overwrite=True")
    configs[name] = {"inherits_from": first_stage, "previous_stage": first_stage, "next_stage": None}
    nxt = configs[first_stage].get("next_stage") or []
    nxt = [nxt] if isinstance(nxt, str) else list(nxt)
    if name not in nxt:
        nxt.append(name)
    configs[first_stage]["next_stage"] = nxt
    plans.setdefault("cta", {})["cgpm"] = {
        "configuration": name,
        "first_stage": first_stage,
        "first_stage_trainer": first_stage_trainer,
    }
    write_json_atomic(path, plans, indent=4)
    return plans
