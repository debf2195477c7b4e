"""``plan_dataset``: fingerprint -> CTA planner -> preprocessing, through nnU-Net's Python API.

nnU-Net's own ``nnUNetv2_plan_and_preprocess -pl`` looks planners up only inside nnunetv2, so ours is passed as
a class object to ``plan_experiment_dataset``. The nnU-Net folders come from the environment.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from nnunetv2_cta.environment import require_nnunet_paths
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, OutputExistsError
from nnunetv2_cta.io import check_output_folder

logger = logging.getLogger(__name__)


def resolve_dataset_name(dataset: str | int, raw_root: Path) -> str:
    """``501`` / ``"501"`` / ``"Dataset501_PhantomCTA"`` -> the dataset folder name inside ``nnUNet_raw``.

    Raises:
        DatasetFormatError: no such dataset (the message lists the ids that exist), or the id is ambiguous.
    """
    text = str(dataset).strip()
    if re.fullmatch(r"\d{1,3}", text):
        prefix = f"Dataset{int(text):03d}_"
        matches = sorted(p.name for p in raw_root.iterdir() if p.is_dir() and p.name.startswith(prefix))
    elif re.fullmatch(r"Dataset\d{3}_.+", text):
        matches = [text] if (raw_root / text).is_dir() else []
    else:
        raise DatasetFormatError(
            f"dataset must be an id (e.g. 501) or a name 'DatasetXXX_Name', got {text!r}"
        )
    if len(matches) > 1:
        raise DatasetFormatError(f"dataset id {text} is ambiguous in {raw_root}: {matches}")
    if not matches:
        known = sorted(p.name for p in raw_root.iterdir() if p.is_dir() and p.name.startswith("Dataset"))
        raise DatasetFormatError(
            f"dataset {text!r} not found in nnUNet_raw={raw_root}; available: {known or 'none'}"
        )
    return matches[0]


def plan_dataset(
    dataset: str | int,
    *,
    preset: str = "L",
    configurations: Sequence[str] = ("3d_fullres",),
    num_processes: int = 2,
    verify: bool = False,
    overwrite: bool = False,
    target_spacing: Sequence[float] | None = None,
    cgpm: bool = True,
    cgpm_first_stage_trainer: str | None = "nnUNetTrainerCTA",
) -> Path:
    """Fingerprint, plan with the CTA planner and preprocess one nnU-Net raw dataset.

    Args:
        dataset: id or ``DatasetXXX_Name`` inside ``$nnUNet_raw``.
        preset: ``cpu``, ``M``, ``L`` or ``XL`` (see :mod:`nnunetv2_cta.planners.presets`).
        configurations: configurations to preprocess (planned are ``3d_fullres`` and ``2d``).
        num_processes: worker processes for fingerprinting and preprocessing.
        verify: run nnU-Net's dataset integrity check before fingerprinting.
        overwrite: replace an existing plans file of the same name (and recompute the fingerprint).
        target_spacing: mm in array axis order ``(z, y, x)``; overrides the CTA spacing rule.
        cgpm: add the ``3d_cgpm`` repair configuration, cascaded on ``3d_fullres``
            (:func:`nnunetv2_cta.cgpm.plans.add_cgpm_configuration`); it shares the first
            stage's preprocessed data, and the first stage's validation then writes its out-of-fold predictions.
        cgpm_first_stage_trainer: trainer of the first stage whose out-of-fold predictions the CGPM trainer
            reads when they exist (otherwise it trains from simulated breaks); ``None``: simulated only.

    Returns:
        Path of the written plans file ``$nnUNet_preprocessed/<dataset>/nnUNetCTAPlans_<preset>.json``.

    Raises:
        ConfigurationError: nnU-Net folders unset, unknown preset or configuration, bad num_processes.
        DatasetFormatError: unknown dataset, missing/invalid dataset.json, no CT channel, failed verification.
        OutputExistsError: the plans file exists and ``overwrite`` is false.

    Nothing is left half-written: if planning or preprocessing fails, the plans file and the preprocessed data
    of this call are removed again.
    """
    from nnunetv2_cta.planners.presets import get_preset

    paths = require_nnunet_paths("nnUNet_raw", "nnUNet_preprocessed")
    preset_obj = get_preset(preset)
    _check_plan_args(num_processes, target_spacing)
    name = resolve_dataset_name(dataset, paths["nnUNet_raw"])
    dataset_id = int(name[7:10])
    dataset_json = _read_dataset_json(paths["nnUNet_raw"] / name / "dataset.json")

    from nnunetv2_cta.planners.cta_planner import PLANNERS, resolve_channel_normalization

    resolve_channel_normalization(dataset_json["channel_names"])  # fail before any work is done

    preprocessed = paths["nnUNet_preprocessed"] / name
    check_output_folder(preprocessed, what="preprocessed dataset folder")
    plans_file = preprocessed / f"{preset_obj.plans_name}.json"
    if plans_file.exists() and not overwrite:
        raise OutputExistsError(f"plans file {plans_file} exists; pass --overwrite to replace it")
    check_images(paths["nnUNet_raw"] / name, dataset_json, configurations)

    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        plan_experiment_dataset,
        preprocess_dataset,
    )

    # nothing left behind on failure: what this call adds to the preprocessed folder (the whole folder when
    # it is new: dataset.json, dataset_fingerprint.json, plans, data) is removed again
    existed = preprocessed.is_dir()
    before = set(preprocessed.iterdir()) if existed else set()
    created = [plans_file]
    try:
        fingerprint = _fingerprint(
            dataset_id, name, num_processes=num_processes, verify=verify, clean=overwrite
        )
        warn_constant_intensities(fingerprint, dataset_json["channel_names"], name)
        if plans_file.exists():
            plans_file.unlink()  # nnU-Net merges into an existing plans file; --overwrite means replace
        plans, identifier = plan_experiment_dataset(
            dataset_id,
            experiment_planner_class=PLANNERS[preset_obj.name],
            overwrite_target_spacing=tuple(float(s) for s in target_spacing) if target_spacing else None,
        )
        if cgpm and "3d_fullres" in plans["configurations"]:
            from nnunetv2_cta.cgpm.plans import add_cgpm_configuration

            plans = add_cgpm_configuration(
                plans_file, "3d_fullres", first_stage_trainer=cgpm_first_stage_trainer, overwrite=True
            )
        unknown = [c for c in configurations if c not in plans["configurations"]]
        if unknown:
            raise ConfigurationError(
                f"configuration(s) {unknown} not in the plans; available: {sorted(plans['configurations'])}"
            )
        # 3d_cgpm inherits 3d_fullres's preprocessed data: preprocess each data-owning configuration once
        to_preprocess = list(dict.fromkeys(_data_owner(plans["configurations"], c) for c in configurations))
        created += [preprocessed / plans["configurations"][c]["data_identifier"] for c in to_preprocess]
        preprocess_dataset(
            dataset_id,
            identifier,
            tuple(to_preprocess),
            num_processes=[int(num_processes)] * len(to_preprocess),
            verbose=False,
            show_progress_bar=False,
        )
    except BaseException:
        _remove_added(preprocessed, existed=existed, before=before, created=created)
        raise
    logger.info("plans written to %s", plans_file)
    return plans_file


def _check_plan_args(num_processes: int, target_spacing: Sequence[float] | None) -> None:
    if int(num_processes) < 1:
        raise ConfigurationError(f"num_processes must be >= 1, got {num_processes!r}")
    if target_spacing is not None and (
        len(target_spacing) != 3 or any(float(s) <= 0 for s in target_spacing)
    ):
        raise ConfigurationError(
            f"target_spacing must be three positive mm values (z, y, x), got {target_spacing!r}"
        )


def _read_dataset_json(dataset_json_file: Path) -> dict:
    """The raw dataset's ``dataset.json``; :class:`DatasetFormatError` when unreadable or without channels."""
    try:
        dataset_json = json.loads(dataset_json_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetFormatError(f"cannot read {dataset_json_file}: {err}") from err
    if not isinstance(dataset_json.get("channel_names"), dict) or not dataset_json["channel_names"]:
        raise DatasetFormatError(
            f"{dataset_json_file}: 'channel_names' missing or empty, expected e.g. {{'0': 'CT'}}"
        )
    return dataset_json


def _fingerprint(dataset_id: int, name: str, *, num_processes: int, verify: bool, clean: bool) -> dict:
    """nnU-Net's dataset fingerprint (optionally after its integrity check), failures as DatasetFormatError."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import (
        DatasetFingerprintExtractor,
    )
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

    try:
        return extract_fingerprint_dataset(
            dataset_id,
            DatasetFingerprintExtractor,
            num_processes=int(num_processes),
            check_dataset_integrity=verify,
            clean=clean,
            verbose=False,
        )
    except (AssertionError, RuntimeError) as err:
        raise DatasetFormatError(
            f"dataset {name}: nnU-Net's integrity check or fingerprinting failed: {err}"
        ) from err


def _remove_added(preprocessed: Path, *, existed: bool, before: set[Path], created: list[Path]) -> None:
    """Undo a failed ``plan_dataset``: remove the folder it created, or what it added to an existing one."""
    if not existed:
        shutil.rmtree(preprocessed, ignore_errors=True)
        return
    for path in {*created, *(set(preprocessed.iterdir()) - before)}:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


def check_images(raw: Path, dataset_json: dict, configurations: Sequence[str]) -> None:
    """Read the header of every training image and label map before nnU-Net's fingerprinting starts.

    nnU-Net's fingerprint workers fail late and without the file name on an unreadable image, and on 2D
    images it plans no 3D configuration and then fails on the missing ``3d_fullres``.

    Raises:
        DatasetFormatError: an image or label map is unreadable (naming the file), or the images are 2D
            (a 2D file or a single slice) while a 3D configuration is requested.
    """
    import SimpleITK as sitk

    ending = str(dataset_json.get("file_ending", ".nii.gz"))
    files = sorted((raw / "imagesTr").glob(f"*{ending}")) + sorted((raw / "labelsTr").glob(f"*{ending}"))
    flat = []
    for path in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as err:
            raise DatasetFormatError(
                f"cannot read {str(path)!r}: {str(err).strip().splitlines()[-1]}"
            ) from err
        size = reader.GetSize()
        if len(size) < 3 or min(size[:3]) < 2:
            flat.append((path.name, size))
    if flat and any(c.startswith("3d") for c in configurations):
        example, size = flat[0]
        raise DatasetFormatError(
            f"{len(flat)} of {len(files)} images/label maps in {str(raw)!r} are 2D (e.g. {example!r}, size "
            f"{tuple(size)}); the 3D configurations {list(configurations)} need 3D volumes"
        )


def warn_constant_intensities(fingerprint: dict, channel_names: dict, name: str) -> None:
    """Log a WARNING when a channel's intensities under the labels are constant (e.g. all-zero images)."""
    import math

    per_channel = fingerprint.get("foreground_intensity_properties_per_channel", {})
    for channel, props in per_channel.items():
        std, lo, hi = (float(props.get(k, math.nan)) for k in ("std", "min", "max"))
        if not (math.isfinite(std) and std > 0 and hi > lo):
            logger.warning(
                "dataset %s: channel %s (%r) has constant intensity %s under the labels (std %s): the images "
                "look empty or blank; check the conversion before training",
                name,
                channel,
                channel_names.get(str(channel)),
                lo,
                std,
            )


def _data_owner(configurations: dict, name: str) -> str:
    """The configuration whose preprocessed data ``name`` uses (itself, or the one it inherits from)."""
    while "data_identifier" not in configurations[name] and "inherits_from" in configurations[name]:
        name = configurations[name]["inherits_from"]
    return name


def default_num_processes() -> int:
    """Worker processes used by ``plan`` when ``-np`` is not given: the CPU count, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))
