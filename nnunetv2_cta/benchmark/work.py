"""The benchmark's work folder: completion markers, where datasets and models live, training times.

Layout in :mod:`nnunetv2_cta.benchmark.runner`'s docstring.
"""

from __future__ import annotations

import json
from pathlib import Path

from nnunetv2_cta.benchmark.definition import DatasetSpec
from nnunetv2_cta.io import publish, write_json_atomic


class Markers:
    """Completion markers ``<work>/markers/<key>.json``; the content is what the step reports (times)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / (key.replace("/", "__").replace(":", "--") + ".json")

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        return json.loads(path.read_text()) if path.is_file() else None

    def set(self, key: str, info: dict) -> dict:
        write_json_atomic(self.path(key), info)
        return info


def dataset_folder(raw: Path, spec: DatasetSpec | None, user_name: str | None) -> Path:
    if spec is None:
        return raw / user_name
    return raw / f"Dataset{spec.dataset_id:03d}_{spec.nnunet_name}"


def model_dir_of(results: Path, dataset_folder: str, trainer: str, plans: str, configuration: str) -> Path:
    return results / dataset_folder / f"{trainer}__{plans}__{configuration}"


def epoch_seconds(checkpoint: Path) -> float | None:
    import numpy as np
    import torch

    logging_dict = torch.load(checkpoint, map_location="cpu", weights_only=False).get("logging", {})
    start, end = logging_dict.get("epoch_start_timestamps"), logging_dict.get("epoch_end_timestamps")
    if not start or not end:
        return None
    n = min(len(start), len(end))
    return float(np.median(np.asarray(end[:n]) - np.asarray(start[:n])))


def replace_dir(tmp: Path, final: Path) -> None:
    publish(tmp, final, replace=True)


def evaluated_folder(summary: dict) -> Path | None:
    """The predictions folder an evaluation summary scored (from its cases' ``prediction_file``), if recorded."""
    cases = summary.get("metric_per_case") or [{}]
    file = cases[0].get("prediction_file")
    return Path(file).resolve().parent if file else None
