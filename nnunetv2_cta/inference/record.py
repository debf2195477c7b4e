"""One predicted case as one object: :class:`PredictedCase`, written as ``OUT/cases/<case>/record.json``.

:func:`~nnunetv2_cta.inference.pipeline.predict` builds a :class:`PredictedCase` per case and hands a
:class:`CaseResult` (ok, skipped or failed) to its ``on_case`` callback; the ``predict`` command prints from it.
The record's ``model`` line and ``repair_method`` are both derived from :attr:`PredictedCase.repair_method`, the
repair actually run on the case, so they cannot disagree; ``settings`` are the run's settings as given (its
``repair`` may be ``"auto"``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from nnunetv2_cta.inference.pipeline import PredictSettings


@dataclass
class PredictedCase:
    """Everything ``record.json`` says about one predicted case (:meth:`to_record` writes its keys and order).

    Attributes:
        case: case id.
        source: where the input came from (a file path, or ``"DICOM series <id> in <folder>"``).
        input: the input grid: ``shape_zyx``, ``spacing_zyx_mm`` (mm), ``origin_xyz_mm`` (mm), ``direction``.
        created: ISO 8601 time (UTC, seconds) at which the case was predicted.
        settings: the run's :class:`~nnunetv2_cta.inference.pipeline.PredictSettings`, as given.
        models: ``{"stage1": described model, "cgpm": described model or None}``
            (:meth:`~nnunetv2_cta.inference.model.StageModel.describe`).
        versions: versions of Python and the packages that made the case.
        repair_method: the repair actually run: ``"cgpm"``, ``"baseline"``, ``"none"``, or ``"skipped"`` when a
            flooded stage 1 made the run's repair pointless (a note says so).
        timings_s: wall-clock seconds per step (``read``, ``stage1``, ..., ``outputs``, ``total``).
        peak_rss_gb: peak resident memory (GB) per step.
        plausibility: :func:`~nnunetv2_cta.inference.plausibility.check_plausibility` (``status``, ``flags``).
        repaired_gaps: one dict per repaired gap.
        cleanup: what the clean-up removed (:meth:`~nnunetv2_cta.postprocessing.cleanup.CleanupReport.to_dict`).
        volumes_ml: volume (mL) per foreground label and of all vessels.
        notes: sentences for the technologist.
        outputs: written files, relative to the case folder (``labels``, ``stage1``, ``bone_free``, ``images``,
            ``report``).
        suspected_breaks: vessel ends facing each other across a gap (:func:`~nnunetv2_cta.reconstruction.suspected_breaks`).
        paths_mm: centerline path lengths (mm); ``None`` without reconstructions (then not in the record).
        inference: how stage 1 ran: ``preprocessing`` (``"torch float32"`` or ``"nnU-Net"``), ``tiles``
            (sliding-window tiles: ``total``, ``run``, ``reused`` for constant input, ``saved_fraction``),
            ``first_tile_s`` (seconds from the process start to the first network tile), ``preprocessed_ahead``
            (stage 1 ran on the case as preprocessed on the reading thread) and ``ahead_s`` (seconds of
            ``read`` and ``preprocess`` on that thread).
    """

    case: str
    source: str
    input: dict
    created: str
    settings: PredictSettings
    models: dict
    versions: dict[str, str]
    repair_method: str
    timings_s: dict[str, float]
    peak_rss_gb: dict[str, float]
    plausibility: dict
    repaired_gaps: list[dict]
    cleanup: dict[str, int]
    volumes_ml: dict[str, float]
    notes: list[str]
    outputs: dict[str, object] = field(default_factory=dict)
    suspected_breaks: list[dict] = field(default_factory=list)
    paths_mm: dict[str, float] | None = None
    inference: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``"ok"`` or ``"flagged"``: a flagged case is never a plain ``"ok"``."""
        return self.plausibility["status"]

    @property
    def flags(self) -> list[str]:
        """What the technologist should check (empty for a plausible case)."""
        return self.plausibility["flags"]

    @property
    def model(self) -> str:
        """One line naming the stage-1 model and the repair run, e.g. ``"T / P / 3d_fullres (folds [0]); repair: cgpm"``."""
        stage1 = self.models["stage1"]
        return (
            f"{stage1['trainer']} / {stage1['plans']} / {stage1['configuration']} (folds {stage1['folds']}); "
            f"repair: {self.repair_method}"
        )

    def to_record(self) -> dict:
        """The ``record.json`` content (JSON types except numpy scalars, which :func:`~nnunetv2_cta.io.json_default` converts)."""
        record = {
            "case": self.case,
            "status": self.status,
            "plausibility": self.plausibility,
            "created": self.created,
            "source": self.source,
            "input": self.input,
            "model": self.model,
            "models": self.models,
            "repair_method": self.repair_method,
            "versions": self.versions,
            "device": self.settings.device,
            "settings": asdict(self.settings),
            "timings_s": self.timings_s,
            "inference": self.inference,
            "peak_rss_gb": self.peak_rss_gb,
            "repaired_gaps": self.repaired_gaps,
            "cleanup": self.cleanup,
            "volumes_ml": self.volumes_ml,
            "outputs": self.outputs,
            "notes": self.notes,
            "suspected_breaks": self.suspected_breaks,
        }
        if self.paths_mm is not None:
            record["paths_mm"] = self.paths_mm
        return record


@dataclass(frozen=True)
class CaseResult:
    """What became of one case of a :func:`~nnunetv2_cta.inference.pipeline.predict` run.

    Attributes:
        case: case id.
        status: ``"ok"`` (predicted now), ``"skipped"`` (it already had a ``record.json``) or ``"failed"``.
        record_path: ``OUT/cases/<case>/record.json`` (``None`` when failed).
        predicted: the case (``"ok"`` only).
        error: why it failed (``"failed"`` only).
    """

    case: str
    status: Literal["ok", "skipped", "failed"]
    record_path: Path | None = None
    predicted: PredictedCase | None = None
    error: Exception | None = None

    def summary(self) -> dict:
        """The case's entry in ``predict_summary.json``."""
        if self.status == "failed":
            return {
                "case": self.case,
                "status": "failed",
                "error": f"{type(self.error).__name__}: {self.error}",
            }
        if self.status == "skipped":
            return {"case": self.case, "status": "skipped", "record": str(self.record_path)}
        return {
            "case": self.case,
            "status": "ok",
            "plausibility": self.predicted.status,
            "record": str(self.record_path),
            "seconds": self.predicted.timings_s["total"],
        }
