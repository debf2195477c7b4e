"""``run_demo``: the main job on a bare machine — phantom data, CTA planner, stock nnU-Net training of stage 1
and the CGPM, the ``predict`` pipeline with reconstructions and reports, evaluation against the phantom truth.

Everything happens inside one output folder (its own ``nnUNet_raw`` / ``nnUNet_preprocessed`` /
``nnUNet_results``), so the demo never touches a user's nnU-Net folders. The chain is the same one a user runs on
real data: ``write_dataset`` (phantom) -> :func:`~nnunetv2_cta.planners.plan.plan_dataset` (``cpu`` preset) ->
nnU-Net's ``run_training`` (``3d_fullres``, then the ``3d_cgpm`` repair stage) ->
:func:`~nnunetv2_cta.inference.predict` -> :func:`~nnunetv2_cta.evaluation.evaluate_folder` (stage 1 alone and
the final label maps).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nnunetv2_cta.errors import OutputExistsError

if TYPE_CHECKING:
    from nnunetv2_cta.inference.record import CaseResult

logger = logging.getLogger(__name__)

DEMO_DATASET_ID = 999
DEMO_DATASET_NAME = "PhantomCTADemo"


@dataclass(frozen=True)
class DemoSettings:
    """Size of one demo run: phantom cases and the trainer whose class attributes hold the schedule.

    The phantom is the 1.25 mm ``train`` preset: on the 3 mm ``tiny`` grid the intracranial arteries are
    sub-voxel and their labels inflated, so nothing there can be learned or measured (``tiny`` is for plumbing
    tests). ``regions`` trains nnU-Net regions (bone, all vessels, aorta, carotid, intracranial): the union
    ``vessels`` region gives the thin vessels one shared, larger target. ``cgpm_trainer`` None: no learned repair
    (``predict`` then bridges gaps with the classic baseline).
    """

    train_cases: int
    test_cases: int
    trainer: str
    cgpm_trainer: str | None = None
    phantom_preset: str = "train"
    phantom_spacing: float | None = None
    regions: bool = True


# --quick: the CPU recipe cut to 1,000 iterations, then the CGPM fine-tuned from it for 400 iterations. Stage 1
# uses nnU-Net's loss: with the recipe it beat the centerline-weighted loss on every Dice (benchmarks/results/cpu_recipe)
QUICK = DemoSettings(
    train_cases=8,
    test_cases=2,
    trainer="nnUNetTrainerCTA_Base_cpu_quick",
    cgpm_trainer="nnUNetTrainerCTA_CGPM_cpu_quick",
)
FULL = DemoSettings(
    train_cases=20,
    test_cases=4,
    trainer="nnUNetTrainerCTA_Base_cpu",
    cgpm_trainer="nnUNetTrainerCTA_CGPM_cpu",
)


class _DemoState:
    """``demo.json`` in the output folder: the settings of the run and the steps finished so far."""

    def __init__(self, out: Path, settings: dict) -> None:
        self.path = out / "demo.json"
        self.settings = settings
        self.done: list[str] = []

    def resumable(self) -> bool:
        """True when ``out`` holds a demo of the same settings; loads its finished steps."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return False
        if saved.get("settings") != self.settings:
            return False
        self.done = list(saved.get("done", []))
        return True

    def save(self) -> None:
        from nnunetv2_cta.io import write_json_atomic

        write_json_atomic(self.path, {"settings": self.settings, "done": self.done})

    def finish(self, step: str) -> None:
        self.done.append(step)
        self.save()


def run_demo(
    out: str | os.PathLike = "nnunetv2_cta_demo",
    *,
    quick: bool = True,
    seed: int = 0,
    overwrite: bool = False,
    num_processes: int = 2,
    progress: bool = True,
    settings: DemoSettings | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> dict:
    """Run the whole chain on a small phantom CTA dataset on the CPU and return the evaluation summary.

    Args:
        out: output folder; gets ``nnUNet_raw/``, ``nnUNet_preprocessed/``, ``nnUNet_results/``,
            ``predict/`` (the :func:`~nnunetv2_cta.inference.predict` output: label maps, bone-free CTAs,
            ``cases/<case>/report.html``), ``summary.json`` / ``summary.csv`` (final label maps) and
            ``summary_stage1.json`` / ``.csv`` (stage 1 before repair and clean-up).
        quick: the ``--quick`` size (about 5 minutes on 2 cores); otherwise the full demo (longer).
        seed: phantom seed (same seed, same data).
        overwrite: delete an existing ``out`` first. Without it, an interrupted demo with the same settings and
            seed resumes (finished steps are skipped, a training continues from its latest checkpoint,
            predicted cases are kept); any other existing folder is an error.
        num_processes: worker processes for planning, prediction and evaluation.
        settings: explicit run size (cases, trainer); overrides ``quick`` (tests use a tiny one).
        on_case: handed to :func:`~nnunetv2_cta.inference.predict`: called with each test case's result (the
            ``demo`` command prints a line per case with it).

    Returns:
        The evaluation summary of the final label maps (see :func:`nnunetv2_cta.evaluation.evaluate_folder`),
        plus ``"stage1"`` (the same for stage 1 alone), ``"reports"`` (paths) and ``"timings_s"``.

    Side effect: this process's ``nnUNet_raw`` / ``nnUNet_preprocessed`` / ``nnUNet_results`` and
    ``nnUNet_extTrainer`` point at ``out`` and this package afterwards (nnU-Net reads them from the
    environment). Call it under ``if __name__ == "__main__":`` in scripts: nnU-Net spawns worker processes.
    """
    out = Path(out).resolve()
    settings = settings or (QUICK if quick else FULL)
    state = _DemoState(out, {**asdict(settings), "seed": seed})
    _start_or_resume(out, state, overwrite)
    folders = _use_own_nnunet_folders(out, state, num_processes)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    dataset_dir = folders["nnUNet_raw"] / f"Dataset{DEMO_DATASET_ID:03d}_{DEMO_DATASET_NAME}"
    if "phantom" not in state.done:
        _write_phantom(dataset_dir, settings, seed, progress)
        _finish(state, timings, "phantom", t0)

    t0 = time.perf_counter()
    plans_file = folders["nnUNet_preprocessed"] / dataset_dir.name / "nnUNetCTAPlans_cpu.json"
    if "plan" not in state.done:
        plans_file = _plan(settings, num_processes)
        _finish(state, timings, "plan", t0)

    results = folders["nnUNet_results"] / dataset_dir.name
    model_dirs = _train(results, plans_file.stem, settings, state, timings)

    t0 = time.perf_counter()
    predicted = out / "predict"
    run = _predict(dataset_dir / "imagesTs", predicted, model_dirs, progress, on_case)
    _finish(state, timings, "predict", t0)

    t0 = time.perf_counter()
    summary = _evaluate(dataset_dir, predicted, out, num_processes, progress)
    _finish(state, timings, "evaluate", t0)
    summary["repair_method"] = run["repair_method"]
    summary["reports"] = sorted(str(p) for p in (predicted / "cases").glob("*/report.html"))
    summary["timings_s"] = timings
    return summary


def _start_or_resume(out: Path, state: _DemoState, overwrite: bool) -> None:
    """Delete ``out`` (overwrite), resume the demo in it (same settings), or refuse it (OutputExistsError)."""
    if out.exists() and overwrite:
        shutil.rmtree(out)
    elif out.exists() and not state.resumable():
        raise OutputExistsError(
            f"demo output folder {out} exists and is not an interrupted demo with these settings; "
            "pass --overwrite to replace it"
        )
    elif out.exists():
        logger.info("demo: resuming in %s (done: %s)", out, ", ".join(state.done) or "nothing")


def _use_own_nnunet_folders(out: Path, state: _DemoState, num_processes: int) -> dict[str, Path]:
    """Create ``out/nnUNet_raw`` etc. and point this process's nnU-Net variables at them; save ``demo.json``."""
    folders = {var: out / var for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    for var, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(folder)
    state.save()
    from nnunetv2_cta.environment import ensure_ext_trainer_in_environ

    ensure_ext_trainer_in_environ()
    # nnU-Net's defaults start up to 12 augmentation workers and 8 export processes; a CPU demo gets the cores
    os.environ.setdefault("nnUNet_n_proc_DA", str(max(1, min(2, num_processes))))
    os.environ.setdefault("nnUNet_def_n_proc", str(num_processes))
    return folders


def _finish(state: _DemoState, timings: dict[str, float], name: str, t0: float) -> None:
    """Record step ``name`` (started at ``t0``, :func:`time.perf_counter`) as done."""
    timings[name] = round(time.perf_counter() - t0, 1)
    state.finish(name)
    logger.info("demo: %s done in %.1f s", name, timings[name])


def _write_phantom(dataset_dir: Path, settings: DemoSettings, seed: int, progress: bool) -> None:
    from nnunetv2_cta.phantom import write_dataset

    write_dataset(
        dataset_dir,
        modality="cta",
        cases=settings.train_cases,
        test_cases=settings.test_cases,
        dataset_id=DEMO_DATASET_ID,
        name=DEMO_DATASET_NAME,
        preset=settings.phantom_preset,
        spacing=settings.phantom_spacing,
        regions=settings.regions,
        seed=seed,
        progress=progress,
    )


def _plan(settings: DemoSettings, num_processes: int) -> Path:
    from nnunetv2_cta.planners.plan import plan_dataset

    return plan_dataset(
        DEMO_DATASET_ID,
        preset="cpu",
        num_processes=num_processes,
        cgpm_first_stage_trainer=settings.trainer,
        overwrite=True,  # an interrupted plan step of this demo is redone
    )


def _train(
    results: Path, plans: str, settings: DemoSettings, state: _DemoState, timings: dict[str, float]
) -> dict[str, Path]:
    """Train stage 1 (``train``) and the CGPM (``train_cgpm``) unless done; return the model folders."""
    t0 = time.perf_counter()
    import torch
    from nnunetv2.run.run_training import run_training

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model_dirs = {}
    stages = [("train", "3d_fullres", settings.trainer)]
    if settings.cgpm_trainer:
        stages.append(("train_cgpm", "3d_cgpm", settings.cgpm_trainer))
    for name, configuration, trainer in stages:
        model_dirs[configuration] = results / f"{trainer}__{plans}__{configuration}"
        if name not in state.done:  # an interrupted training continues from nnU-Net's latest checkpoint
            run_training(
                str(DEMO_DATASET_ID),
                configuration,
                0,
                trainer_class_name=trainer,
                plans_identifier=plans,
                continue_training=(model_dirs[configuration] / "fold_0" / "checkpoint_latest.pth").is_file(),
                device=torch.device("cpu"),
            )
            _finish(state, timings, name, t0)
        t0 = time.perf_counter()
    return model_dirs


def _predict(
    images: Path,
    predicted: Path,
    model_dirs: dict[str, Path],
    progress: bool,
    on_case: Callable[[CaseResult], None] | None,
) -> dict:
    from nnunetv2_cta.inference import PredictSettings, predict

    run = predict(
        images,
        predicted,
        model_dirs["3d_fullres"],
        cgpm_dir=model_dirs.get("3d_cgpm"),
        settings=PredictSettings(fast=True, keep_stage1=True),
        progress=progress,
        on_case=on_case,
    )
    if run["failed"]:
        raise RuntimeError(f"demo prediction failed: {run['cases']}")
    return run


def _evaluate(dataset_dir: Path, predicted: Path, out: Path, num_processes: int, progress: bool) -> dict:
    """Score the final label maps (``summary.json``) and stage 1 alone (``summary_stage1.json``, as ``"stage1"``)."""
    from nnunetv2_cta.evaluation import evaluate_folder

    kwargs = {
        "graphs_dir": dataset_dir / "graphsTs",
        "num_processes": num_processes,
        "progress": progress,
        "overwrite": True,  # a resumed demo scores its cases again
    }
    stage1 = evaluate_folder(
        dataset_dir / "labelsTs", predicted / "stage1", out / "summary_stage1.json", **kwargs
    )
    summary = evaluate_folder(dataset_dir / "labelsTs", predicted / "labels", out / "summary.json", **kwargs)
    summary["stage1"] = stage1
    return summary
