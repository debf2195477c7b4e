"""Repair a folder of first-stage segmentations: the CGPM model or the classic gap-bridging baseline.

Input layout (nnU-Net's): ``IMAGES/<case>_0000<ending>`` (CT in HU) and ``STAGE1/<case><ending>`` (label maps
in our scheme on the same grid). Output: ``OUT/<case><ending>`` (repaired label map, the image's geometry)
and ``OUT/<case>_repairs.json`` (:mod:`nnunetv2_cta.postprocessing.repair_record`).

The CGPM path runs the model through :class:`nnunetv2_cta.inference.model.StageModel` (the one model runner)
and :func:`nnunetv2_cta.cgpm.runner.repair_with_cgpm` (patches around vessel ends, bridge-only merge rules in
:mod:`nnunetv2_cta.cgpm.merge`). A case without vessels is passed through unchanged with a note.

Only this module's CGPM path imports torch and nnunetv2, inside the function.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError, OutputExistsError
from nnunetv2_cta.io import (
    VOLUME_ENDINGS,
    Geometry,
    check_same_grid,
    read_image,
    write_image,
    write_json_atomic,
)
from nnunetv2_cta.labels import LABELS, VESSEL_LABELS, check_label_values
from nnunetv2_cta.postprocessing.gap_bridging import bridge_gaps
from nnunetv2_cta.postprocessing.repair_record import save_repaired_gaps

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepairCase:
    """One case to repair: id, channel image paths (``_0000``, ``_0001``, ...) and stage-1 label map path."""

    case: str
    images: tuple[Path, ...]
    stage1: Path


def _ending(name: str) -> str | None:
    low = name.lower()
    return next((e for e in VOLUME_ENDINGS if low.endswith(e)), None)


def find_cases(images: str | os.PathLike, stage1: str | os.PathLike) -> list[RepairCase]:
    """Pair ``IMAGES/<case>_XXXX<ending>`` with ``STAGE1/<case><ending>`` (any volume ending for each).

    Raises:
        DatasetFormatError: a folder is missing or empty, or a case has no stage-1 segmentation.
    """
    images, stage1 = Path(images), Path(stage1)
    for what, folder in (("image folder", images), ("stage-1 folder", stage1)):
        if not folder.is_dir():
            raise DatasetFormatError(f"{what} {str(folder)!r} does not exist")
    channels: dict[str, dict[int, Path]] = {}
    for p in sorted(images.iterdir()):
        ending = _ending(p.name)
        stem = p.name[: -len(ending)] if ending else ""
        if not ending or len(stem) < 6 or stem[-5] != "_" or not stem[-4:].isdigit():
            continue
        channels.setdefault(stem[:-5], {})[int(stem[-4:])] = p
    if not channels:
        raise DatasetFormatError(f"no images named <case>_0000<ending> in {str(images)!r}")
    segs = {p.name[: -len(e)]: p for p in stage1.iterdir() if (e := _ending(p.name))}
    cases = []
    for case, chans in sorted(channels.items()):
        if sorted(chans) != list(range(len(chans))):
            raise DatasetFormatError(
                f"case {case!r}: image channels {sorted(chans)} are not 0..{len(chans) - 1}"
            )
        if case not in segs:
            raise DatasetFormatError(
                f"case {case!r}: no stage-1 segmentation {case}<ending> in {str(stage1)!r}"
            )
        cases.append(RepairCase(case, tuple(chans[i] for i in range(len(chans))), segs[case]))
    return cases


def load_case(rc: RepairCase) -> tuple[list[np.ndarray], np.ndarray, Geometry]:
    """Read and check one case: same grid for every channel and stage 1, labels in the scheme."""
    images = [read_image(p) for p in rc.images]
    seg, geometry = read_image(rc.stage1)
    for i, (img, g) in enumerate(images):
        try:
            check_same_grid(
                (img, g), (seg, geometry), what=f"case {rc.case!r}: stage-1 segmentation vs image"
            )
        except GeometryError as err:
            raise GeometryError(f"{err} (channel {i:04d})") from None
    check_label_values(seg, LABELS.values(), what=f"case {rc.case!r}: stage-1 segmentation")
    return [img for img, _ in images], seg.astype(np.uint8), geometry


def repair_folder(
    images: str | os.PathLike,
    stage1_segs: str | os.PathLike,
    out: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    *,
    baseline: bool = False,
    folds: Sequence[int | str] | None = None,
    device: str = "cpu",
    checkpoint: str = "checkpoint_final.pth",
    bone_hu: float = 700.0,
    overwrite: bool = False,
    progress: bool = False,
    **bridge_kwargs,
) -> list[dict]:
    """Repair every case of ``stage1_segs`` with the CGPM in ``model_dir`` or, with ``baseline``, by bridging.

    Args:
        images: folder of ``<case>_0000<ending>`` CT images (HU).
        stage1_segs: folder of ``<case><ending>`` first-stage label maps (our scheme, the images' grid).
        out: output folder (created; must be empty or absent unless ``overwrite``).
        model_dir: a trained CGPM: nnU-Net's ``<Trainer>__<Plans>__3d_cgpm`` results folder.
        baseline: use :func:`~nnunetv2_cta.postprocessing.gap_bridging.bridge_gaps` instead of a model.
        folds: folds of the model to ensemble (``None``: all found).
        device: torch device for the CGPM (``"cpu"``, ``"cuda"``).
        checkpoint: checkpoint file name in each fold folder.
        bone_hu: CT value at and above which nothing is added (bone).
        bridge_kwargs: passed to ``bridge_gaps`` (``max_gap_mm``, ``max_angle_deg``, ...).

    Returns:
        one dict per case: ``case``, ``method``, ``num_gaps``, ``added_voxels``, ``output``, ``record``.

    Raises:
        DatasetFormatError / GeometryError: a case's files are missing, off-grid, outside the label scheme or
            without vessels (the message names the case and the mismatch).
        ConfigurationError: neither or both of ``model_dir`` / ``baseline``; the model folder is not a
            repair model or expects another number of image channels.
    """
    if baseline == (model_dir is not None):
        raise ConfigurationError("give exactly one of a model folder (-m) or baseline=True (--baseline)")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"output folder {str(out)!r} is not empty; pass overwrite=True (--overwrite)")
    cgpm = None
    if not baseline:
        cgpm = _load_cgpm(Path(model_dir), folds, device, checkpoint)
    cases = find_cases(images, stage1_segs)
    if cgpm is not None:
        for rc in cases:
            if len(rc.images) != cgpm.num_channels:
                raise ConfigurationError(
                    f"case {rc.case!r} has {len(rc.images)} image channel(s) but the model in {str(model_dir)!r} "
                    f"was trained for {cgpm.num_channels} ({cgpm.dataset_json['channel_names']})"
                )
    loaded = [(rc, *load_case(rc)) for rc in cases]  # check every case before writing anything

    out.mkdir(parents=True, exist_ok=True)
    iterator = loaded
    if progress:
        from tqdm import tqdm

        iterator = tqdm(loaded, desc="repair", unit="case")
    results = []
    for rc, chans, seg, geometry in iterator:
        ending = _ending(rc.stage1.name) or ".nii.gz"
        ct = chans[0]
        note = None
        if not np.isin(seg, VESSEL_LABELS).any():
            repaired, gaps, method = seg, [], "none"
            note = f"stage-1 segmentation has no vessel voxels (labels {list(VESSEL_LABELS)}): passed through unchanged"
            logger.warning("%s: %s", rc.case, note)
        elif baseline:
            repaired, gaps = bridge_gaps(seg, ct, geometry, bone_hu=bone_hu, **bridge_kwargs)
            method = "baseline"
        else:
            from nnunetv2_cta.cgpm.runner import repair_with_cgpm

            result = repair_with_cgpm(cgpm, ct, geometry, seg, bone_hu=bone_hu)
            repaired, gaps, method, note = result.labels, result.gaps, "cgpm", result.note
        target = out / f"{rc.case}{ending}"
        write_image(target, repaired.astype(np.uint8), geometry)
        record = save_repaired_gaps(out / f"{rc.case}_repairs.json", rc.case, method, gaps)
        results.append(
            {
                "case": rc.case,
                "method": method,
                "num_gaps": len(gaps),
                "added_voxels": int(np.count_nonzero(repaired != seg)),
                "output": str(target),
                "record": str(record),
                **({"note": note} if note else {}),
            }
        )
        logger.info("%s: %d gap(s) repaired (%s)", rc.case, len(gaps), method)
    write_json_atomic(out / "repair_summary.json", results)
    return results


def _load_cgpm(model_dir: Path, folds: Sequence[int | str] | None, device: str, checkpoint: str):
    """The CGPM as a :class:`~nnunetv2_cta.inference.model.StageModel`; refuses a first-stage model."""
    from nnunetv2_cta.cgpm.source import read_source_records
    from nnunetv2_cta.inference.model import StageModel

    cgpm = StageModel(model_dir, folds=folds, device=device, checkpoint=checkpoint, mirroring=False)
    if cgpm.previous_stage is None:
        raise ConfigurationError(
            f"model folder {str(model_dir)!r} is not a repair model: its configuration has no 'previous_stage' "
            "(train nnUNetTrainerCTA_CGPM on the 3d_cgpm configuration)"
        )
    read_source_records(model_dir, cgpm.folds)
    return cgpm
