"""Run the benchmark of :mod:`nnunetv2_cta.benchmark.definition`: generate, plan, train, predict, repair, evaluate.

Work folder layout (everything of a run lives in it; nnU-Net's three folders point into it during the run)::

    <work>/nnUNet_raw/ nnUNet_preprocessed/ nnUNet_results/   nnU-Net's folders (the user dataset is linked in)
    <work>/markers/<step>.json                                one per finished step (written, then renamed)
    <work>/predictions/<dataset>/<stage>/                     stage-1 networks, repairs, classic
    <work>/evaluation/<dataset>/<method>.json (+ .csv)       evaluate_folder summaries
    <work>/results/                                          default results folder (see report.py)

**Resuming.** Every step (dataset written, planned, network trained, prediction folder, repair, evaluation) is
skipped when its marker exists. A training without a marker restarts from its ``checkpoint_latest.pth``
(``run_training(continue_training=True)``); one whose ``checkpoint_final.pth`` exists counts as finished.
Prediction and repair write into a temporary sibling folder renamed into place when complete.

**Times.** Training: median wall time per epoch (a paused or interrupted epoch does not count) from the checkpoint's ``logging`` time stamps. Inference: wall
time of the prediction call (preprocessing, sliding window, export) divided by the cases; repaired methods add
their repair time per case to their stage-1 time; ``classic`` is timed per case.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from nnunetv2_cta.benchmark.definition import (
    CHOSEN,
    DATASETS,
    METHODS,
    USER_DATASET,
    Budget,
    DatasetSpec,
    MethodSpec,
    get_budget,
    get_method,
    select_runs,
)
from nnunetv2_cta.benchmark.user_dataset import check_user_dataset, resolve_user_dataset
from nnunetv2_cta.benchmark.work import Markers, dataset_folder, epoch_seconds, model_dir_of, replace_dir
from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.io import write_json_atomic

logger = logging.getLogger(__name__)

#: plans identifier of each planner (ours: ``nnUNetCTAPlans_<preset>``)
STOCK_PLANS = {"nnunet_default": "nnUNetPlans", "nnunet_resenc_m": "nnUNetResEncUNetMPlans"}
STOCK_PLANNER_CLASS = {"nnunet_default": "ExperimentPlanner", "nnunet_resenc_m": "nnUNetPlannerResEncM"}


class _Run:
    """One benchmark run: the steps, each skipped when its marker exists."""

    def __init__(self, work: Path, budget: Budget, *, no_train: bool, num_processes: int, progress: bool):
        self.work, self.budget, self.no_train = work, budget, no_train
        self.num_processes, self.progress = num_processes, progress
        self.markers = Markers(work / "markers")
        self.raw = work / "nnUNet_raw"
        self.pre = work / "nnUNet_preprocessed"
        self.results = work / "nnUNet_results"
        self.calls: dict[str, int] = {}  # step kind -> times really run (tests read it)

    def _count(self, kind: str) -> None:
        self.calls[kind] = self.calls.get(kind, 0) + 1

    # ---- datasets and plans
    def dataset(self, spec: DatasetSpec | None, user_folder: Path | None) -> Path | None:
        if spec is None:
            link = self.raw / user_folder.name
            if not link.exists():
                link.symlink_to(user_folder, target_is_directory=True)
            return link
        key = f"dataset:{spec.name}"
        folder = dataset_folder(self.raw, spec, None)
        if spec.models_from is not None:
            return self._real_dataset(spec, key, folder)
        if self.markers.get(key) is None:
            from nnunetv2_cta.phantom import write_dataset

            self._count("dataset")
            t0 = time.perf_counter()
            write_dataset(
                folder,
                modality=spec.modality,
                cases=self.budget.train_cases,
                test_cases=self.budget.test_cases,
                dataset_id=spec.dataset_id,
                name=spec.nnunet_name,
                preset=self.budget.phantom_preset,
                spacing=self.budget.phantom_spacing,
                regions=True,
                seed=self.budget.seed,
                overwrite=True,
                progress=self.progress,
            )
            self.markers.set(key, {"seconds": round(time.perf_counter() - t0, 1)})
        return folder

    def _real_dataset(self, spec: DatasetSpec, key: str, folder: Path) -> Path | None:
        """The real-geometry dataset (written once); None when the real data folder is not there."""
        from nnunetv2_cta.benchmark.real_geometry import (
            default_real_data_dir,
            real_geometry_sources,
            write_real_geometry_dataset,
        )

        if self.markers.get(key) is not None:
            return folder
        data_dir = default_real_data_dir()
        if not real_geometry_sources(data_dir):
            return None
        self._count("dataset")
        t0 = time.perf_counter()
        cases = write_real_geometry_dataset(
            folder, data_dir, dataset_id=spec.dataset_id, name=spec.nnunet_name, seed=self.budget.seed
        )
        self.markers.set(key, {"seconds": round(time.perf_counter() - t0, 1), "cases": cases})
        return folder

    def plans(self, folder: Path, planner: str) -> str:
        """Plan and preprocess ``folder`` with ``planner``; returns the plans identifier."""
        key = f"plan:{folder.name}:{planner}"
        plans_id = f"nnUNetCTAPlans_{self.budget.plans_preset}" if planner == "cta" else STOCK_PLANS[planner]
        if self.markers.get(key) is not None:
            return plans_id
        if self.no_train:
            return plans_id  # prediction needs only the trained model folder
        self._count("plan")
        t0 = time.perf_counter()
        dataset_id = int(folder.name[len("Dataset") : len("Dataset") + 3])
        if planner == "cta":
            from nnunetv2_cta.planners.plan import plan_dataset

            plan_dataset(
                dataset_id,
                preset=self.budget.plans_preset,
                num_processes=self.budget.planner_processes,
                overwrite=True,
                cgpm=True,
                cgpm_first_stage_trainer=None,
            )
        else:
            from nnunetv2.experiment_planning.plan_and_preprocess_api import (
                extract_fingerprints,
                plan_experiments,
                preprocess,
            )

            fingerprint = self.pre / folder.name / "dataset_fingerprint.json"
            extract_fingerprints(
                [dataset_id], num_processes=self.budget.planner_processes, clean=not fingerprint.is_file()
            )
            plan_experiments([dataset_id], STOCK_PLANNER_CLASS[planner])
            preprocess([dataset_id], plans_id, ("3d_fullres",), (self.budget.planner_processes,))
        self.markers.set(key, {"seconds": round(time.perf_counter() - t0, 1)})
        return plans_id

    # ---- training
    def model(
        self, folder: Path, trainer: str, plans_id: str, configuration: str
    ) -> tuple[Path, float | None]:
        """Train (or resume) one network; returns its model folder and the mean seconds per epoch."""
        key = f"train:{folder.name}:{trainer}:{plans_id}:{configuration}"
        model_dir = model_dir_of(self.results, folder.name, trainer, plans_id, configuration)
        fold_dir = model_dir / f"fold_{self.budget.fold}"
        done = self.markers.get(key)
        if done is not None:
            return model_dir, done.get("seconds_per_epoch")
        final = fold_dir / "checkpoint_final.pth"
        if not final.is_file():
            if self.no_train:
                raise ConfigurationError(
                    f"--no-train: no trained model {str(final)!r}; run without --no-train first"
                )
            import torch
            from nnunetv2.run.run_training import run_training

            self._count("train")
            resume = (fold_dir / "checkpoint_latest.pth").is_file()
            logger.info(
                "benchmark: training %s (%s)%s", model_dir.name, folder.name, " (resumed)" if resume else ""
            )
            run_training(
                folder.name,
                configuration,
                self.budget.fold,
                trainer_class_name=trainer,
                plans_identifier=plans_id,
                continue_training=resume,
                device=torch.device(self.budget.device),
            )
        info = self.markers.set(key, {"seconds_per_epoch": epoch_seconds(final)})
        return model_dir, info["seconds_per_epoch"]

    # ---- predictions
    def _images(self, folder: Path) -> Path:
        return folder / "imagesTs"

    def predict(self, folder: Path, name: str, model_dir: Path) -> tuple[Path, float]:
        key = f"predict:{folder.name}:{name}"
        out = self.work / "predictions" / folder.name / name
        done = self.markers.get(key)
        if done is not None:
            return out, done["seconds_per_case"]
        import torch

        from nnunetv2_cta.inference.model import StageModel
        from nnunetv2_cta.io import read_image, strip_volume_ending, write_image

        self._count("predict")
        device = torch.device(self.budget.device)
        model = StageModel(
            model_dir,
            folds=(self.budget.fold,),
            device=self.budget.device,
            mirroring=device.type == "cuda",
            progress=self.progress,
        )
        tmp = out.with_name(f".tmp_{out.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        t0 = time.perf_counter()
        for image in sorted(self._images(folder).glob("*_0000.*")):
            ct, geometry = read_image(image)
            labels, _ = model.predict(ct, geometry)
            write_image(tmp / f"{strip_volume_ending(image.name)[:-5]}.nii.gz", labels, geometry)
        seconds = time.perf_counter() - t0
        n = len([p for p in tmp.iterdir() if not p.name.startswith(".")])
        replace_dir(tmp, out)
        info = self.markers.set(key, {"seconds_per_case": seconds / max(n, 1), "cases": n})
        return out, info["seconds_per_case"]

    def repair(self, folder: Path, name: str, stage1: Path, model_dir: Path | None) -> tuple[Path, float]:
        """Repair every case of ``stage1``; cases whose stage 1 found no vessel are copied unchanged."""
        key = f"repair:{folder.name}:{name}"
        out = self.work / "predictions" / folder.name / name
        done = self._current(key, stage1=stage1)
        if done is not None:
            return out, done["seconds_per_case"]
        import numpy as np

        from nnunetv2_cta.io import read_image, strip_volume_ending
        from nnunetv2_cta.labels import VESSEL_LABELS
        from nnunetv2_cta.postprocessing.repair import repair_folder

        self._count("repair")
        tmp = out.with_name(f".tmp_{out.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        todo = tmp.with_name(f".todo_{out.name}")
        shutil.rmtree(todo, ignore_errors=True)
        (todo / "segs").mkdir(parents=True)
        (todo / "images").mkdir()
        tmp.mkdir(parents=True)
        files = sorted(p for p in stage1.iterdir() if not p.name.startswith("."))
        n_repair = 0
        for seg_file in files:
            seg, _ = read_image(seg_file)
            if np.isin(seg, VESSEL_LABELS).any():
                case = strip_volume_ending(seg_file.name)
                (todo / "segs" / seg_file.name).symlink_to(seg_file.resolve())
                for img in self._images(folder).glob(f"{case}_[0-9][0-9][0-9][0-9].*"):
                    (todo / "images" / img.name).symlink_to(img.resolve())
                n_repair += 1
            else:
                logger.warning(
                    "benchmark %s: %s has no vessel voxels; copied unrepaired", name, seg_file.name
                )
                shutil.copy2(seg_file, tmp / seg_file.name)
        t0 = time.perf_counter()
        records: list[dict] = []
        if n_repair:
            records = repair_folder(
                todo / "images",
                todo / "segs",
                tmp,
                model_dir=model_dir,
                baseline=model_dir is None,
                folds=(self.budget.fold,),
                device=self.budget.device,
                overwrite=True,
            )
        seconds = time.perf_counter() - t0
        shutil.rmtree(todo)
        replace_dir(tmp, out)
        info = self.markers.set(
            key,
            {
                "seconds_per_case": seconds / max(len(files), 1),
                "gaps_repaired": {r["case"]: r["num_gaps"] for r in records},
                "stage1": self._relative(stage1),
            },
        )
        return out, info["seconds_per_case"]

    def classic(self, folder: Path, modality: str) -> tuple[Path, float]:
        key = f"classic:{folder.name}"
        out = self.work / "predictions" / folder.name / "classic"
        done = self.markers.get(key)
        if done is not None:
            return out, done["seconds_per_case"]
        from nnunetv2_cta.benchmark.classic import classic_segment_folder

        self._count("classic")
        tmp = out.with_name(".tmp_classic")
        shutil.rmtree(tmp, ignore_errors=True)
        times = classic_segment_folder(self._images(folder), tmp, modality, progress=self.progress)
        replace_dir(tmp, out)
        info = self.markers.set(key, {"seconds_per_case": sum(times.values()) / len(times)})
        return out, info["seconds_per_case"]

    def evaluate(self, folder: Path, method: str, predictions: Path) -> dict:
        key = f"evaluate:{folder.name}:{method}"
        summary_json = self.work / "evaluation" / folder.name / f"{method}.json"
        if self._current(key, predictions=predictions) is not None:
            from nnunetv2_cta.benchmark.work import evaluated_folder

            summary = json.loads(summary_json.read_text())
            evaluated = evaluated_folder(summary)
            if evaluated is None or evaluated == Path(predictions).resolve():
                return summary
            logger.info("benchmark: %s evaluated %s, now %s: evaluating again", key, evaluated, predictions)
        from nnunetv2_cta.evaluation import evaluate_folder

        self._count("evaluate")
        graphs = folder / "graphsTs"
        summary = evaluate_folder(
            folder / "labelsTs",
            predictions,
            summary_json,
            graphs_dir=graphs if graphs.is_dir() else None,
            num_processes=self.num_processes,
            progress=self.progress,
            overwrite=True,
        )
        self.markers.set(key, {"cases": summary["num_cases"], "predictions": self._relative(predictions)})
        return summary

    def _relative(self, path: Path) -> str:
        """``path`` relative to the work folder (markers stay valid when the folder moves)."""
        path = Path(path)
        return str(path.relative_to(self.work)) if path.is_relative_to(self.work) else str(path)

    def _current(self, key: str, **inputs: Path) -> dict | None:
        """The marker of ``key`` if its step ran on these ``inputs`` (e.g. the predictions it evaluated), else
        None: a method whose trainer or chosen stage 1 changed since is evaluated or repaired again. Markers
        written before inputs were recorded are taken as current."""
        done = self.markers.get(key)
        if done is None:
            return None
        for name, path in inputs.items():
            if name in done and done[name] != self._relative(path):
                logger.info("benchmark: %s ran on %s, now %s: running it again", key, done[name], path)
                return None
        return done

    # ---- one (dataset, method) pair
    def stage1(
        self, folder: Path, planner: str, trainer: str, train_folder: Path
    ) -> tuple[Path, Path, float, float | None, str]:
        """Train (or resume) on ``train_folder`` and predict ``folder``'s held-out cases with one stage-1 network:
        predictions, model folder, seconds per case, seconds per epoch, plans id."""
        plans_id = self.plans(train_folder, planner)
        model_dir, epoch_s = self.model(train_folder, trainer, plans_id, "3d_fullres")
        pred, infer_s = self.predict(folder, f"stage1__{trainer}__{plans_id}", model_dir)
        return pred, model_dir, infer_s, epoch_s, plans_id

    def method(
        self,
        folder: Path,
        modality: str,
        method: MethodSpec,
        stage1_methods: tuple = (),
        train_folder: Path | None = None,
    ) -> dict:
        """Run one method on one dataset's held-out cases; ``stage1_methods``: the candidates of a ``chosen``
        repair method; ``train_folder``: the dataset the networks are trained on (default ``folder``)."""
        train_folder = train_folder or folder
        train_s: dict[str, float | None] = {}
        extra: dict = {}
        if not method.trained:
            pred, infer_s = self.classic(folder, modality)
        else:
            if method.trainer_role == CHOSEN:
                choice = self.choose(train_folder, stage1_methods)
                trainer = self.budget.trainer(get_method(choice["choice"]).trainer_role, modality)
                extra = {"base_method": choice["choice"], "selection": choice | {"on": train_folder.name}}
            else:
                trainer = self.budget.trainer(method.trainer_role, modality)
            extra["trainers"] = {"stage1": trainer}
            pred, _, infer_s, train_s["stage1"], plans_id = self.stage1(
                folder, method.planner, trainer, train_folder
            )
            if method.repair is not None:
                cgpm_dir = None
                if method.repair == "cgpm":
                    self._cgpm_first_stage(train_folder, plans_id, trainer)
                    cgpm_trainer = self.budget.trainer("cgpm", modality)
                    cgpm_dir, train_s["cgpm"] = self.model(train_folder, cgpm_trainer, plans_id, "3d_cgpm")
                    extra["trainers"]["cgpm"] = cgpm_trainer
                pred, repair_s = self.repair(folder, method.name, pred, cgpm_dir)
                infer_s += repair_s
        summary = self.evaluate(folder, method.name, pred)
        return {
            "summary": summary,
            "train_s_per_epoch": train_s,
            "infer_s_per_case": infer_s,
            "predictions": str(pred),
        } | extra

    def choose(self, folder: Path, candidates: tuple) -> dict:
        """The selection rule's choice among the trained stage-1 ``candidates`` on ``folder``'s held-out cases
        (each run first when needed); written to ``<work>/evaluation/<dataset>/choice.json``."""
        from nnunetv2_cta.evaluation.score_table import scores_from_summary
        from nnunetv2_cta.evaluation.selection import choose_candidate

        if not candidates:
            raise ConfigurationError(
                f"budget {self.budget.name!r}: no stage-1 method to choose from on {folder.name}"
            )
        table = {
            m.name: scores_from_summary(self.method(folder, "cta", m)["summary"], source=m.name)
            for m in candidates
        }
        if len(table) == 1:
            choice = {
                "choice": candidates[0].name,
                "dice_choice": candidates[0].name,
                "verdict": "only candidate",
            }
        else:
            choice = choose_candidate(table).to_dict()
        write_json_atomic(self.work / "evaluation" / folder.name / "choice.json", choice)
        return choice

    def _cgpm_first_stage(self, folder: Path, plans_id: str, trainer: str) -> None:
        """Name ``trainer`` as the CGPM's first stage in the plans (once; a different one later is an error)."""
        key = f"cgpm_first_stage:{folder.name}:{plans_id}"
        done = self.markers.get(key)
        if done is not None:
            if done["trainer"] != trainer:
                raise ConfigurationError(
                    f"the CGPM of {folder.name} was set up for first stage {done['trainer']!r}, but the selection "
                    f"now chooses {trainer!r}; delete {self.results / folder.name}/*3d_cgpm and the marker "
                    f"{self.markers.path(key)} to retrain it"
                )
            return
        if self.no_train:  # nothing is trained: leave the plans and the marker to the run that trains
            return
        from nnunetv2_cta.cgpm.plans import add_cgpm_configuration

        add_cgpm_configuration(
            self.pre / folder.name / f"{plans_id}.json", first_stage_trainer=trainer, overwrite=True
        )
        self.markers.set(key, {"trainer": trainer})


def _check_trained(run: _Run, pairs: list, user_folder: Path | None) -> None:
    """``--no-train``: every network the selected pairs need has its ``checkpoint_final.pth``, or one error."""
    spec = run.budget
    for ds, method in pairs:
        trained_on = DATASETS[ds.models_from] if ds is not None and ds.models_from else ds
        folder = dataset_folder(run.raw, trained_on, user_folder.name if user_folder else None)
        needed = []
        modality = trained_on.modality if trained_on is not None else "cta"
        if method.trainer_role == CHOSEN:  # its stage 1 is checked as its own method when selected
            plans_id = f"nnUNetCTAPlans_{spec.plans_preset}"
            if method.repair == "cgpm":
                needed.append((spec.trainer("cgpm", modality), plans_id, "3d_cgpm"))
        elif method.trained:
            plans_id = (
                f"nnUNetCTAPlans_{spec.plans_preset}"
                if method.planner == "cta"
                else STOCK_PLANS[method.planner]
            )
            needed.append((spec.trainer(method.trainer_role, modality), plans_id, "3d_fullres"))
            if method.repair == "cgpm":
                needed.append((spec.trainer("cgpm", modality), plans_id, "3d_cgpm"))
        for trainer, plans_id, conf in needed:
            ckpt = model_dir_of(run.results, folder.name, trainer, plans_id, conf) / f"fold_{spec.fold}"
            if not (ckpt / "checkpoint_final.pth").is_file():
                raise ConfigurationError(
                    f"--no-train: method {method.name!r} on {folder.name!r} needs a trained model at "
                    f"{str(ckpt / 'checkpoint_final.pth')!r}; run without --no-train first"
                )


def run_benchmark(
    work_dir: str | os.PathLike,
    budget: str,
    *,
    methods: list[str] | tuple[str, ...] | None = None,
    datasets: list[str] | tuple[str, ...] | None = None,
    dataset: str | int | None = None,
    no_train: bool = False,
    results_dir: str | os.PathLike | None = None,
    num_processes: int = 2,
    progress: bool = True,
) -> dict:
    """Run (or resume) the benchmark ``budget`` in ``work_dir`` and write the results tables and plots.

    Args:
        work_dir: work folder (layout in the module docstring); re-running with the same folder resumes.
        budget: ``tiny``, ``cpu-small`` or ``gpu`` (:data:`~nnunetv2_cta.benchmark.definition.BUDGETS`).
        methods / datasets: restrict to these method / phantom dataset names (default: all of the budget).
        dataset: a user dataset (nnU-Net id or ``DatasetXXX_Name`` in ``$nnUNet_raw``) instead of the phantoms.
        no_train: never train; a missing trained model is an error.
        results_dir: where results.csv/.json/.md, plots and machine.json go (default ``<work>/results``).
        num_processes: worker processes for evaluation.
        progress: tqdm progress bars.

    Returns:
        ``{"budget": ..., "rows": [...], "files": {...}, "calls": {step kind: count}}`` (rows: see report.py).

    Raises:
        ConfigurationError: unknown budget/method/dataset name, a CUDA budget without CUDA, a missing model
            with ``no_train``.
        DatasetFormatError: a user dataset outside our label scheme, without held-out cases or with too few cases.

    Side effect: ``nnUNet_raw`` / ``nnUNet_preprocessed`` / ``nnUNet_results`` / ``nnUNet_extTrainer`` of this
    process point into ``work_dir`` afterwards (nnU-Net reads them from the environment).
    """
    spec = get_budget(budget)
    if int(num_processes) < 1:
        raise ConfigurationError(f"num_processes must be >= 1, got {num_processes!r}")
    pairs = select_runs(spec, methods, datasets, user_dataset=dataset is not None)
    user_folder = None
    if dataset is not None:
        user_folder = resolve_user_dataset(dataset)
        check_user_dataset(user_folder)
    if spec.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigurationError(
                f"budget {spec.name!r} needs a CUDA GPU; torch sees none (use cpu-small)"
            )

    work = Path(work_dir).resolve()
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        (work / var).mkdir(parents=True, exist_ok=True)
        os.environ[var] = str(work / var)
    from nnunetv2_cta.environment import ensure_ext_trainer_in_environ

    ensure_ext_trainer_in_environ()
    os.environ.setdefault("nnUNet_n_proc_DA", str(max(1, min(2, num_processes))))
    os.environ.setdefault("nnUNet_def_n_proc", str(num_processes))
    import torch

    if spec.device == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))

    run = _Run(work, spec, no_train=no_train, num_processes=int(num_processes), progress=progress)
    if no_train:  # fail before doing anything when a model is missing
        _check_trained(run, pairs, user_folder)

    outcomes, skipped = [], []
    t_start = time.perf_counter()
    for ds, method in pairs:
        folder = run.dataset(ds, user_folder)
        if folder is None:  # the real-geometry dataset without the real data folder
            if ds.name not in skipped:
                logger.warning(
                    "benchmark: %s skipped: no real data folder (set NNUNETV2_CTA_REAL_DATA)", ds.name
                )
                skipped.append(ds.name)
            continue
        train_spec = DATASETS[ds.models_from] if ds is not None and ds.models_from else None
        needs_models = train_spec is not None and method.trained
        train_folder = run.dataset(train_spec, None) if needs_models else folder
        name = ds.name if ds is not None else USER_DATASET
        modality = ds.modality if ds is not None else "cta"
        logger.info("benchmark: %s / %s", name, method.name)
        candidates = tuple(
            METHODS[m]
            for m in spec.runs[train_spec.name if train_spec else name if ds is not None else "phantom_cta"]
            if METHODS[m].trained and METHODS[m].repair is None and METHODS[m].trainer_role != CHOSEN
        )
        outcome = run.method(folder, modality, method, candidates, train_folder)
        outcome.update(dataset=name, method=method.name)
        outcomes.append(outcome)

    from nnunetv2_cta.benchmark.report import write_results

    results = Path(results_dir) if results_dir is not None else work / "results"
    files = write_results(
        outcomes,
        results,
        budget=spec,
        user_dataset=user_folder.name if user_folder else None,
        wall_s=time.perf_counter() - t_start,
        skipped=skipped,
    )
    return {"budget": spec.name, "rows": files.pop("rows"), "files": files, "calls": dict(run.calls)}
