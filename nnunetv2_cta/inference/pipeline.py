"""``nnunetv2_cta predict``: from a CTA to a bone-free angiogram, reconstructions and a QC report.

Per case: read (NIfTI/MHA/NRRD or DICOM) -> stage 1 (nnU-Net predictor API, lean export, see
:mod:`.model`) -> repair (the CGPM when a model is given, else the classic gap-bridging baseline) ->
vessel-aware clean-up (:mod:`nnunetv2_cta.postprocessing.cleanup`) -> outputs::

    OUT/labels/<case>.nii.gz        label map (0 bg, 1 bone, 2 aorta, 3 carotid, 4 intracranial), input grid
    OUT/bone_free/<case>.nii.gz     the CTA with bone replaced by soft tissue (int16 HU)
    OUT/stage1/<case>.nii.gz        stage-1 label map before repair and clean-up (keep_stage1 only)
    OUT/cases/<case>/record.json    model, versions, timings, peak memory, repairs, suspected breaks, volumes
    OUT/cases/<case>/report.html    one page for the technologist: MIPs, VR, CPRs, tables, checklist
    OUT/cases/<case>/*.png          MIP (anterior, lateral, axial), VR, CPR images
    OUT/predict_summary.json        one line per case of this run (``_part<k>of<n>`` with --num-parts)

Each case is read and preprocessed for stage 1 on a background thread, the first one while the models load; stage
1's sliding window starts on the first rows of the model grid while the rest is preprocessed (``first_tile_s`` in
``predict_summary.json`` and ``record.json``: seconds from the process start to the first network tile).

Every file is written to a temporary name and renamed, and ``record.json`` is written last: a case with a
record is complete. Without ``overwrite`` such cases are skipped, so an interrupted run resumes. A case that
fails (unreadable, not CT, disk full, ...) is logged and listed in the summary; the others go on.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, CTAError
from nnunetv2_cta.inference.inputs import InputCase, find_inputs
from nnunetv2_cta.inference.memory import PeakMemory, process_age_s
from nnunetv2_cta.inference.plausibility import check_plausibility
from nnunetv2_cta.inference.reader import Reader, read_case, short_gil_switches
from nnunetv2_cta.inference.record import CaseResult, PredictedCase
from nnunetv2_cta.io import Geometry, json_default, write_image, write_json_atomic
from nnunetv2_cta.labels import LABEL_NAMES, VESSEL_LABELS

if TYPE_CHECKING:
    from nnunetv2_cta.inference.model import StageModel

logger = logging.getLogger(__name__)

REPAIR_MODES = ("auto", "cgpm", "baseline", "none")


@dataclass(frozen=True)
class PredictSettings:
    """Knobs of :func:`predict` besides its paths (defaults are the documented ones).

    Attributes:
        device: torch device.
        fast: no test-time mirroring and a 0.75 sliding-window step (about 3x fewer tiles); pair it with a
            model trained on the ``cpu`` plans preset (coarse spacing, small network) for practical CPU use.
        folds: model folds to ensemble (``None``: all trained folds).
        checkpoint: checkpoint file name.
        repair: ``"auto"`` (CGPM when a CGPM model is given, else the baseline), ``"cgpm"``, ``"baseline"``,
            ``"none"``.
        reconstructions: write the bone-free CTA images, VR, CPRs and the HTML report.
        keep_stage1: also write the stage-1 label map before repair and clean-up.
        min_vessel_mm3, min_branch_mm, min_bone_mm3: clean-up rules
            (:func:`nnunetv2_cta.postprocessing.cleanup.clean_labels`).
        bone_hu: CT value at and above which repairs add nothing.
        max_vessel_ml: a stage-1 vessel volume above this (mL) is implausible (the head-and-neck arterial tree
            with the aortic arch is of the order of 100 mL): the repair is skipped with a note in the record.
    """

    device: str = "cpu"
    fast: bool = False
    folds: tuple[int | str, ...] | None = None
    checkpoint: str = "checkpoint_final.pth"
    repair: str = "auto"
    reconstructions: bool = True
    keep_stage1: bool = False
    min_vessel_mm3: float = 10.0
    min_branch_mm: float = 4.0
    min_bone_mm3: float = 50.0
    bone_hu: float = 700.0
    max_vessel_ml: float = 1000.0


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("nnunetv2_cta", "nnunetv2", "torch", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _check_output(out: Path, input_path: Path) -> None:
    src = input_path.resolve()
    src_dir = src if src.is_dir() else src.parent
    dst = out.resolve()
    if dst == src_dir or (src.is_dir() and dst in src.parents):
        raise ConfigurationError(
            f"output folder {str(out)!r} must not be the input folder {str(src_dir)!r} or contain it; "
            "choose a separate folder"
        )


def volumes_ml(labels: np.ndarray, spacing) -> dict[str, float]:
    """Volume (mL) of each foreground label and of all vessels together."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    counts = np.bincount(labels.ravel(), minlength=max(LABEL_NAMES) + 1)
    out = {LABEL_NAMES[v]: round(float(counts[v]) * voxel_ml, 3) for v in sorted(LABEL_NAMES) if v}
    out["vessels"] = round(float(sum(counts[v] for v in VESSEL_LABELS)) * voxel_ml, 3)
    return out


class _Clock:
    """Named wall-clock and peak-memory records of the steps of one case."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_gb: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        """Time one step and record its peak resident memory (steps of the same name accumulate)."""
        t0 = time.perf_counter()
        with PeakMemory() as mem:
            yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)
        self.peak_gb[name] = max(self.peak_gb.get(name, 0.0), mem.peak_gb)

    def add(self, seconds: dict[str, float]) -> None:
        for k, v in seconds.items():
            self.seconds[k] = round(self.seconds.get(k, 0.0) + v, 3)


class _Writer:
    """Writes a case's volumes on one background thread while the case goes on (compression releases the GIL);
    :meth:`wait` before the record is written (a failed write raises there)."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write_image")
        self._futures: list = []

    def submit(self, path: Path, array: np.ndarray, geometry: Geometry) -> Path:
        """Queue ``array`` (not modified afterwards by the caller) to be written to ``path``; returns ``path``."""
        self._futures.append(self._pool.submit(write_image, path, array, geometry))
        return path

    def wait(self) -> None:
        try:
            for future in self._futures:
                future.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class _Run:
    """What every case of one :func:`predict` run shares: output folder, settings, loaded models, planned repair.

    ``repair`` is the run's resolved repair (``"cgpm"``, ``"baseline"`` or ``"none"``; never ``"auto"``); a case
    may still skip it (:attr:`PredictedCase.repair_method`).
    """

    out: Path
    settings: PredictSettings
    stage1: StageModel
    cgpm: StageModel | None
    repair: str
    models: dict
    versions: dict[str, str]

    def describe(self) -> dict:
        """The run's part of ``predict_summary.json``: models, planned repair, versions, device, settings."""
        return {
            "models": self.models,
            "repair_method": self.repair,
            "versions": self.versions,
            "device": self.settings.device,
            "settings": asdict(self.settings),
        }


def predict(
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    model_dir: str | os.PathLike,
    *,
    cgpm_dir: str | os.PathLike | None = None,
    settings: PredictSettings = PredictSettings(),
    num_parts: int = 1,
    part_id: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    on_case: Callable[[CaseResult], None] | None = None,
) -> dict:
    """Run the whole post-processing on every case of ``input_path`` (layout in the module docstring).

    Args:
        input_path: a volume file, a folder of volumes (``<case>.nii.gz`` or ``<case>_0000.nii.gz``), or a
            folder of DICOM files (every CT series becomes a case).
        out: output folder (created).
        model_dir: trained stage-1 model, nnU-Net's ``<Trainer>__<Plans>__<configuration>`` folder.
        cgpm_dir: trained CGPM repair model (``..__3d_cgpm`` folder); without it ``repair="auto"`` bridges
            gaps with the classic baseline.
        settings: see :class:`PredictSettings`.
        num_parts, part_id: process only cases ``part_id, part_id + num_parts, ...`` (sorted by id), so a
            cohort can be split over machines or GPUs (nnU-Net's ``-num_parts/-part_id``).
        overwrite: redo cases that already have a ``record.json``.
        progress: progress bars.
        on_case: called with each case's :class:`~nnunetv2_cta.inference.record.CaseResult` as soon as the
            case is done, skipped or failed (the ``predict`` command prints a line from it; the library itself
            only logs).

    Returns:
        the run summary (also written to ``OUT/predict_summary*.json``): ``cases`` (one dict per case with
        ``status`` ``"ok"``, ``"skipped"`` or ``"failed"`` and ``error``), ``failed`` (count), ``settings``.

    Raises:
        ConfigurationError: bad settings or models (before any case is touched). Per-case problems do not
            raise; they are reported in the summary (the CLI exits non-zero when any case failed).

    While it runs, the interpreter's GIL switch interval is at most
    :data:`~nnunetv2_cta.inference.reader.PREDICT_SWITCH_INTERVAL_S` (restored after).
    """
    _check_arguments(settings, cgpm_dir, num_parts, part_id)
    input_path, out = Path(input_path), Path(out)
    _check_output(out, input_path)
    cases = find_inputs(input_path)[part_id::num_parts]
    with short_gil_switches():
        # the first case is read, then preprocessed (from the model folder's plans), while the models load
        reader = Reader(out, cases, overwrite)
        try:
            from nnunetv2_cta.inference.grid import ct_preprocessing_of

            reader.preprocess_with(ct_preprocessing_of(model_dir, settings.device))
            run = _load_run(out, model_dir, cgpm_dir, settings, progress)
            # interpreter, imports and models: what every call waits for before its first case
            startup_s = process_age_s()
            logger.info("models loaded %.1f s after the process started", startup_s or float("nan"))
            out.mkdir(parents=True, exist_ok=True)
            results, first_tile_s = [], None
            iterator = cases
            if progress:
                from tqdm import tqdm

                iterator = tqdm(cases, desc="predict", unit="case")
            for case in iterator:
                result = _run_case(case, run, overwrite, reader)
                if on_case is not None:
                    on_case(result)
                results.append(result.summary())
                if first_tile_s is None and result.predicted is not None:
                    first_tile_s = result.predicted.inference.get("first_tile_s")
        finally:
            reader.close()
    summary = {
        "input": str(input_path),
        "output": str(out),
        "part": [part_id, num_parts],
        "cases": results,
        "failed": sum(r["status"] == "failed" for r in results),
        "startup_s": startup_s,
        # from the process start to the first network tile of the first case predicted (None: no case ran)
        "first_tile_s": first_tile_s,
        **run.describe(),
    }
    name = "predict_summary.json" if num_parts == 1 else f"predict_summary_part{part_id}of{num_parts}.json"
    _write_json(out / name, summary)
    return summary


def _check_arguments(settings: PredictSettings, cgpm_dir, num_parts: int, part_id: int) -> None:
    """Refuse unusable settings and parts before anything is loaded (:class:`ConfigurationError`)."""
    if settings.repair not in REPAIR_MODES:
        raise ConfigurationError(f"repair must be one of {REPAIR_MODES}, got {settings.repair!r}")
    if not settings.max_vessel_ml > 0:
        raise ConfigurationError(f"max_vessel_ml must be > 0 (mL), got {settings.max_vessel_ml!r}")
    if settings.repair == "cgpm" and cgpm_dir is None:
        raise ConfigurationError("repair='cgpm' needs a CGPM model folder (--cgpm)")
    if not (
        isinstance(num_parts, int)
        and num_parts >= 1
        and isinstance(part_id, int)
        and 0 <= part_id < num_parts
    ):
        raise ConfigurationError(
            f"need num_parts >= 1 and 0 <= part_id < num_parts, got {num_parts!r}, {part_id!r}"
        )


def _load_run(out: Path, model_dir, cgpm_dir, settings: PredictSettings, progress: bool) -> _Run:
    """Load the stage-1 model and, when the repair is the CGPM, the CGPM (checked against stage 1)."""
    from nnunetv2_cta.cgpm.source import check_cgpm_matches
    from nnunetv2_cta.inference.model import StageModel

    common = {
        "device": settings.device,
        "checkpoint": settings.checkpoint,
        "mirroring": not settings.fast,
        "tile_step_size": 0.75 if settings.fast else 0.5,
        "progress": progress,
    }
    stage1 = StageModel(model_dir, folds=settings.folds, **common)
    if stage1.previous_stage is not None:
        raise ConfigurationError(
            f"model {str(model_dir)!r} is a cascaded (repair) model; give the first-stage model as -m and it as --cgpm"
        )
    cgpm = None
    repair = settings.repair
    if repair == "auto":
        repair = "cgpm" if cgpm_dir is not None else "baseline"
    if repair == "cgpm":
        cgpm = StageModel(cgpm_dir, folds=settings.folds, **common)
        check_cgpm_matches(stage1, cgpm)
    models = {"stage1": stage1.describe(), "cgpm": None if cgpm is None else cgpm.describe()}
    return _Run(out, settings, stage1, cgpm, repair, models, _versions())


def _run_case(case: InputCase, run: _Run, overwrite: bool, reader: Reader | None = None) -> CaseResult:
    """Predict one case, or skip it when it is done; a failure is logged and returned, not raised."""
    record_path = run.out / "cases" / case.case / "record.json"
    if record_path.is_file() and not overwrite:
        logger.info("%s: already done (%s); skipped (pass overwrite to redo)", case.case, record_path)
        return CaseResult(case.case, "skipped", record_path=record_path)
    try:
        predicted = _predict_case(case, run, reader)
    except (CTAError, OSError, MemoryError, RuntimeError, ValueError) as err:
        logger.error("%s: FAILED: %s", case.case, err)
        return CaseResult(case.case, "failed", error=err)
    return CaseResult(case.case, "ok", record_path=record_path, predicted=predicted)


def _write_json(path: Path, data: dict) -> None:
    write_json_atomic(path, data, default=json_default)


def _predict_case(case: InputCase, run: _Run, reader: Reader | None = None) -> PredictedCase:
    """Read, segment, repair, clean up and write one case; ``record.json`` last."""
    clock = _Clock()
    t_start = time.perf_counter()
    with clock.step("read"):  # what is left to wait for when the case was read (and preprocessed) ahead
        read = reader.read(case) if reader is not None else read_case(case)
    ct, geometry = read.ct, read.geometry
    with clock.step("stage1"):
        stage1_seg, seconds, *grid = run.stage1.predict(
            ct, geometry, keep=run.repair == "cgpm", grid=read.grid
        )
    clock.add(seconds)
    ahead = {"preprocessed_ahead": run.stage1.fits(read.grid), "ahead_s": read.seconds}
    del read
    writer = _Writer()
    try:
        return _finish_case(case, run, clock, t_start, ct, geometry, stage1_seg, grid, writer, ahead)
    finally:
        writer.wait()  # also after a failure: no write left running; a failed write raises here


# longer because: the case's steps in their order, each one timed; splitting would only pass the clock around
def _finish_case(
    case, run, clock, t_start, ct, geometry, stage1_seg, grid, writer: _Writer, ahead: dict
) -> PredictedCase:
    """Repair, clean up and write one case after stage 1; ``record.json`` last."""
    from nnunetv2_cta.postprocessing.cleanup import clean_labels

    settings = run.settings
    spacing = geometry.spacing
    case_dir = run.out / "cases" / case.case
    outputs = {}
    if settings.keep_stage1:  # written while the repair and the clean-up run
        s1 = writer.submit(run.out / "stage1" / f"{case.case}.nii.gz", stage1_seg, geometry)
        outputs["stage1"] = os.path.relpath(s1, case_dir)
    method, notes = _repair_method(case.case, stage1_seg, spacing, run)
    if method in ("cgpm", "baseline") or settings.reconstructions:
        ct = np.asarray(
            ct, dtype=np.float32
        )  # read as stored (int16); the repairs and images take float32 HU
    with clock.step("repair"):
        seg, gaps, repair_notes = _repair(
            method, ct, geometry, stage1_seg, grid[0] if grid else None, run, clock
        )
    del grid
    with clock.step("cleanup"):
        seg, cleanup = clean_labels(
            seg,
            spacing,
            min_vessel_mm3=settings.min_vessel_mm3,
            min_branch_mm=settings.min_branch_mm,
            min_bone_mm3=settings.min_bone_mm3,
        )
    plausibility = check_plausibility(
        seg, spacing, plans=run.stage1.plans, dataset_json=run.stage1.dataset_json
    )
    for flag in plausibility["flags"]:
        logger.warning("%s: check this case: %s", case.case, flag)
    predicted = PredictedCase(
        case=case.case,
        source=case.source,
        input=_geometry_dict(ct.shape, geometry),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        settings=settings,
        models=run.models,
        versions=run.versions,
        repair_method=method,
        timings_s=clock.seconds,
        peak_rss_gb=clock.peak_gb,
        plausibility=plausibility,
        repaired_gaps=[g.to_dict() for g in gaps],
        cleanup=cleanup.to_dict(),
        volumes_ml=volumes_ml(seg, spacing),
        notes=notes + repair_notes + _notes(method, settings, cleanup),
        inference={**_inference_record(run), **ahead},
    )
    predicted.outputs.update(outputs)
    with clock.step("outputs"):
        images = _write_outputs(predicted, ct, geometry, seg, stage1_seg, gaps, run, clock, writer)
        with clock.step("write_wait"):
            writer.wait()
    clock.seconds["total"] = round(time.perf_counter() - t_start, 3)  # predicted.timings_s is clock.seconds
    if settings.reconstructions:
        from nnunetv2_cta.reconstruction import write_report

        report = write_report(case_dir / "report.html", predicted.to_record(), images)
        predicted.outputs["report"] = os.path.relpath(report, case_dir)
    _write_json(case_dir / "record.json", predicted.to_record())  # last: a record means the case is complete
    return predicted


def _inference_record(run: _Run) -> dict:
    """How stage 1 ran: preprocessing used, the sliding-window tiles run and reused (constant input) and when the
    first tile ran (seconds from the process start)."""
    tiles = run.stage1.last_tiles
    return {
        "preprocessing": run.stage1.describe()["preprocessing"],
        "tiles": None if tiles is None else tiles.to_dict(),
        "first_tile_s": run.stage1.last_first_tile_s,
    }


def _repair_method(case: str, stage1_seg: np.ndarray, spacing, run: _Run) -> tuple[str, list[str]]:
    """The repair to run on this case and a note: the run's repair, or ``"skipped"`` when stage 1 floods."""
    stage1_ml = float(np.isin(stage1_seg, VESSEL_LABELS).sum()) * float(np.prod(spacing)) / 1000.0
    if run.repair == "none" or stage1_ml <= run.settings.max_vessel_ml:
        return run.repair, []
    # a flooded stage 1 (wrong model, wrong input) would take the repair minutes and repair nothing
    note = (
        f"Stage 1 labelled {stage1_ml:.0f} mL as vessel (> {run.settings.max_vessel_ml:g} mL, far above any arterial "
        "tree): repair skipped; check the model and the input."
    )
    logger.warning("%s: %s", case, note)
    return "skipped", [note]


def _repair(method: str, ct, geometry: Geometry, seg: np.ndarray, stage1_grid, run: _Run, clock: _Clock):
    """Run ``method`` on the stage-1 label map; returns ``(labels, gaps, notes)`` (``seg`` itself when nothing ran)."""
    gaps: list = []
    notes: list[str] = []
    if method == "cgpm":
        from nnunetv2_cta.cgpm.runner import repair_with_cgpm

        result = repair_with_cgpm(
            run.cgpm, ct, geometry, seg, stage1_grid=stage1_grid, bone_hu=run.settings.bone_hu
        )
        clock.add(result.seconds)
        seg, gaps = result.labels, result.gaps
        if result.note:
            notes.append(f"CGPM: {result.note}.")
    elif method == "baseline" and np.isin(seg, VESSEL_LABELS).any():
        from nnunetv2_cta.postprocessing.gap_bridging import bridge_gaps

        seg, gaps = bridge_gaps(seg, ct, geometry, bone_hu=run.settings.bone_hu)
    return seg, gaps, notes


def _write_outputs(
    predicted: PredictedCase,
    ct: np.ndarray,
    geometry: Geometry,
    seg: np.ndarray,
    stage1_seg: np.ndarray,
    gaps: list,
    run: _Run,
    clock: _Clock,
    writer: _Writer,
) -> dict[str, Path]:
    """Queue the label map (and the bone-free CTA) on ``writer``, search suspected breaks and draw the
    reconstructions meanwhile; fill ``predicted``'s outputs, breaks and paths.

    Returns the report's images by name (empty without reconstructions).
    """
    from nnunetv2_cta.reconstruction import suspected_breaks

    case, out = predicted.case, run.out
    case_dir = out / "cases" / case
    case_dir.mkdir(parents=True, exist_ok=True)
    labels_path = writer.submit(out / "labels" / f"{case}.nii.gz", seg, geometry)
    predicted.outputs["labels"] = os.path.relpath(labels_path, case_dir)
    predicted.suspected_breaks = suspected_breaks(seg, geometry.spacing, geometry=geometry)
    if not run.settings.reconstructions:
        return {}
    return _write_reconstructions(predicted, ct, geometry, seg, stage1_seg, gaps, out, clock, writer)


def _write_reconstructions(
    predicted: PredictedCase,
    ct: np.ndarray,
    geometry: Geometry,
    seg: np.ndarray,
    stage1_seg: np.ndarray,
    gaps: list,
    out: Path,
    clock: _Clock,
    writer: _Writer,
) -> dict[str, Path]:
    """Bone-free CTA (queued on ``writer``), MIP/VR/CPR images and the repairs MIP; returns the images by name."""
    from nnunetv2_cta.reconstruction import reconstruct_case

    case = predicted.case
    case_dir = out / "cases" / case
    steps: dict = {}  # reconstruct_case puts its step timings and path lengths here
    recon = reconstruct_case(ct, seg, geometry, case_dir, case, record=steps)
    clock.add(steps["timings_s"])
    predicted.paths_mm = steps["paths_mm"]
    bone_free = np.clip(np.rint(recon["bone_free"]), -32768, 32767).astype(np.int16)
    del recon["bone_free"]
    bf_path = writer.submit(out / "bone_free" / f"{case}.nii.gz", bone_free, geometry)
    predicted.outputs["bone_free"] = os.path.relpath(bf_path, case_dir)
    images = {name: Path(p) for name, p in recon["images"].items()}
    if gaps:
        from nnunetv2_cta.reconstruction.mip import render_repair_mip

        added = np.isin(seg, VESSEL_LABELS) & ~np.isin(stage1_seg, VESSEL_LABELS)
        images["repairs_anterior"] = render_repair_mip(
            bone_free,
            added,
            [g.index_zyx for g in gaps],
            geometry.spacing,
            case_dir / f"{case}_repairs_anterior.png",
        )
    predicted.outputs["images"] = {name: os.path.relpath(p, case_dir) for name, p in images.items()}
    return images


def _notes(repair: str, settings: PredictSettings, cleanup) -> list[str]:
    notes = []
    if repair == "baseline":
        notes.append("Gaps were bridged by the classic baseline (no CGPM model given): check every bridge.")
    elif repair == "none":
        notes.append("No break repair was run.")
    if settings.fast:
        notes.append("Fast mode: no test-time mirroring and a coarser sliding window.")
    if cleanup.vessel_specks:
        notes.append(
            f"Clean-up removed {cleanup.vessel_specks} isolated vessel speck(s) "
            f"(< {settings.min_vessel_mm3:g} mm3 and < {settings.min_branch_mm:g} mm long)."
        )
    return notes


def _geometry_dict(shape: Sequence[int], geometry: Geometry) -> dict:
    return {
        "shape_zyx": [int(s) for s in shape],
        "spacing_zyx_mm": [float(s) for s in geometry.spacing],
        "origin_xyz_mm": [float(s) for s in geometry.origin],
        "direction": [float(s) for s in geometry.direction],
    }
