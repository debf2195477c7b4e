"""Repair a folder of first-stage segmentations: the CGPM model or the classic gap-bridging baseline.

Input layout (nnU-Net's): ``IMAGES/<case>_0000<ending>`` (CT in HU) and ``STAGE1/<case><ending>`` (label maps
in our scheme on the same grid). Output: ``OUT/<case><ending>`` (repaired label map, the image's geometry)
and ``OUT/<case>_repairs.json`` (:mod:`nnunetv2_cta.postprocessing.gaps`).

**CGPM merge rules** (the issue's "must not erase correct vessels, must not grow into bone or veins, keep the
label scheme"): the network predicts a full label map from CT + stage 1; only voxels that are background in
stage 1, below ``bone_hu`` in the CT, vessel in the prediction, and that belong to a connected piece of such
voxels touching at least two different stage-1 vessel components (a bridge) are added, with the
prediction's label; a piece longer than ``max_bridge_mm`` or without contrast (mean HU cost as in the
baseline) is refused, so an untrained or flooding model adds nothing. Stage-1 voxels are never changed. A bridge inside a loop (one component on both sides)
is therefore not added by the CGPM path; the baseline handles that case.

Only this module's CGPM path imports torch and nnunetv2, inside the function.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cc3d
import numpy as np
from scipy import ndimage

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError, OutputExistsError
from nnunetv2_cta.evaluation.centerline import SkeletonGraph, skeletonize
from nnunetv2_cta.io import (
    VOLUME_ENDINGS,
    Geometry,
    check_same_grid,
    read_image,
    write_image,
    write_json_atomic,
)
from nnunetv2_cta.labels import LABELS, VESSEL_LABELS, check_label_values
from nnunetv2_cta.postprocessing.gap_bridging import bridge_gaps, hu_cost
from nnunetv2_cta.postprocessing.gaps import RepairedGap, save_repaired_gaps

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
    """Read and check one case: same grid for every channel and stage 1, labels in the scheme, some vessel."""
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
    if not np.isin(seg, VESSEL_LABELS).any():
        raise DatasetFormatError(
            f"case {rc.case!r}: stage-1 segmentation has no vessel voxels (labels {list(VESSEL_LABELS)}); "
            "nothing to repair"
        )
    return [img for img, _ in images], seg.astype(np.uint8), geometry


def merge_cgpm(
    stage1: np.ndarray,
    prediction: np.ndarray,
    image: np.ndarray | None,
    geometry: Geometry,
    *,
    bone_hu: float = 700.0,
    max_bridge_mm: float = 30.0,
    max_mean_cost: float = 1.5,
) -> tuple[np.ndarray, list[RepairedGap]]:
    """Add the CGPM's bridges to ``stage1`` (rules in the module docstring); returns ``(labels, gaps)``.

    A candidate piece is also refused when its bounding box diagonal exceeds ``max_bridge_mm`` (a bridge is
    short; a flood is not) or, with an image, when its mean :func:`~.gap_bridging.hu_cost` exceeds
    ``max_mean_cost`` (mostly no contrast), the same test as the baseline's.
    """
    vessel1 = np.isin(stage1, VESSEL_LABELS)
    comp1 = cc3d.connected_components(vessel1, connectivity=26)
    cand = (stage1 == 0) & np.isin(prediction, VESSEL_LABELS)
    if image is not None:
        cand &= image < bone_hu
    out = stage1.copy()
    gaps: list[RepairedGap] = []
    if not cand.any():
        return out, gaps
    pieces = cc3d.connected_components(cand, connectivity=26)
    stats = cc3d.statistics(pieces)
    for k, box in enumerate(stats["bounding_boxes"][1:], start=1):
        if box is None:
            continue
        lo = [max(s.start - 1, 0) for s in box]
        hi = [min(s.stop + 1, n) for s, n in zip(box, stage1.shape)]
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        piece = pieces[sl] == k
        grown = ndimage.binary_dilation(piece, structure=np.ones((3, 3, 3), bool))  # 26-neighbours
        touched = np.unique(comp1[sl][grown & vessel1[sl]])
        touched = touched[touched > 0]
        if touched.size < 2:
            continue
        extent = np.linalg.norm(np.array([s.stop - s.start for s in box]) * np.asarray(geometry.spacing))
        if extent > max_bridge_mm:
            logger.info(
                "refused CGPM piece of %d voxels: extent %.1f mm > %.1f mm",
                piece.sum(),
                extent,
                max_bridge_mm,
            )
            continue
        if image is not None and float(hu_cost(image[sl][piece], bone_hu=bone_hu).mean()) > max_mean_cost:
            logger.info("refused CGPM piece of %d voxels: no contrast", piece.sum())
            continue
        values = prediction[sl][piece]
        label = int(np.bincount(values, minlength=max(VESSEL_LABELS) + 1)[list(VESSEL_LABELS)].argmax())
        label = VESSEL_LABELS[label]
        out[sl][piece] = prediction[sl][piece]
        coords = np.argwhere(piece) + np.array(lo)
        centre = coords.mean(axis=0)
        central = tuple(int(v) for v in coords[int(np.argmin(((coords - centre) ** 2).sum(axis=1)))])
        gaps.append(
            RepairedGap(
                index_zyx=central,  # type: ignore[arg-type]
                world_xyz=tuple(float(v) for v in geometry.index_to_world(central)),  # type: ignore[arg-type]
                length_mm=_piece_length(pieces == k, vessel1, box, geometry.spacing),
                label=label,
                num_voxels=int(piece.sum()),
            )
        )
    return out, gaps


def _piece_length(
    piece: np.ndarray, vessel: np.ndarray, box: tuple[slice, ...], spacing, margin: int = 8
) -> float:
    """Centerline length (mm) inside ``piece`` of the skeleton of ``piece | vessel`` around ``box`` (the gap
    it fills; ``margin`` voxels of context keep the skeleton's shortened ends out of the piece)."""
    wide = tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(box, piece.shape))
    piece = piece[wide]
    graph = SkeletonGraph(skeletonize(piece | vessel[wide]), spacing)
    if graph.num_nodes == 0:
        return 0.0
    return graph.length_mm(piece[tuple(graph.coords.T)])


def _load_predictor(model_dir: Path, folds: Sequence[int | str] | None, device: str, checkpoint: str):
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from nnunetv2_cta.environment import ensure_ext_trainer_in_environ

    ensure_ext_trainer_in_environ()  # nnU-Net finds the checkpoint's trainer class through nnUNet_extTrainer

    if not (model_dir / "plans.json").is_file() or not (model_dir / "dataset.json").is_file():
        raise ConfigurationError(
            f"model folder {str(model_dir)!r} must hold nnU-Net's plans.json and dataset.json "
            "(the <Trainer>__<Plans>__<configuration> folder of a CGPM training)"
        )
    predictor = nnUNetPredictor(
        tile_step_size=0.5,
        use_gaussian=True,
        use_mirroring=False,
        perform_everything_on_device=device != "cpu",
        device=torch.device(device),
        allow_tqdm=False,
    )
    try:
        predictor.initialize_from_trained_model_folder(
            str(model_dir), use_folds=None if folds is None else tuple(folds), checkpoint_name=checkpoint
        )
    except FileNotFoundError as err:
        raise ConfigurationError(f"model folder {str(model_dir)!r}: {err}") from err
    if predictor.configuration_manager.previous_stage_name is None:
        raise ConfigurationError(
            f"model folder {str(model_dir)!r} is not a repair model: its configuration has no 'previous_stage' "
            "(train nnUNetTrainerCTA_CGPM on the 3d_cgpm configuration)"
        )
    return predictor


def repair_folder(
    images: str | os.PathLike,
    stage1_segs: str | os.PathLike,
    out: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    *,
    baseline: bool = False,
    folds: Sequence[int | str] | None = (0,),
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
    predictor = None
    if not baseline:
        predictor = _load_predictor(Path(model_dir), folds, device, checkpoint)
    cases = find_cases(images, stage1_segs)
    if predictor is not None:
        n_channels = len(predictor.dataset_json["channel_names"])
        for rc in cases:
            if len(rc.images) != n_channels:
                raise ConfigurationError(
                    f"case {rc.case!r} has {len(rc.images)} image channel(s) but the model in {str(model_dir)!r} "
                    f"was trained for {n_channels} ({predictor.dataset_json['channel_names']})"
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
        if baseline:
            repaired, gaps = bridge_gaps(seg, ct, geometry, bone_hu=bone_hu, **bridge_kwargs)
            method = "baseline"
        else:
            prediction = _predict(predictor, rc, seg)
            repaired, gaps = merge_cgpm(seg, prediction, ct, geometry, bone_hu=bone_hu)
            method = "cgpm"
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
            }
        )
        logger.info("%s: %d gap(s) repaired (%s)", rc.case, len(gaps), method)
    write_json_atomic(out / "repair_summary.json", results)
    return results


def _predict(predictor, rc: RepairCase, seg: np.ndarray) -> np.ndarray:
    """Run the CGPM on one case (CT channels + stage-1 label map); returns a label map on the image grid."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    data, props = SimpleITKIO().read_images([str(p) for p in rc.images])
    pred = np.asarray(
        predictor.predict_single_npy_array(data, props, seg[None].astype(np.int16), None, False)
    )
    if pred.shape != seg.shape:
        raise GeometryError(f"case {rc.case!r}: CGPM output shape {pred.shape} != stage-1 shape {seg.shape}")
    return pred.astype(np.uint8)
