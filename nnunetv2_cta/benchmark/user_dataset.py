"""The user's own dataset in the benchmark: find it in ``$nnUNet_raw`` and check it follows our label scheme."""

from __future__ import annotations

import json
import os
from pathlib import Path

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError


def check_user_dataset(folder: Path) -> None:
    """Our label scheme, held-out cases and enough training cases, or :class:`DatasetFormatError`."""
    from nnunetv2_cta.evaluation.folder import list_cases
    from nnunetv2_cta.labels import LABELS, REGION_LABELS

    dj_path = folder / "dataset.json"
    if not dj_path.is_file():
        raise DatasetFormatError(f"user dataset {str(folder)!r} has no dataset.json")
    labels = json.loads(dj_path.read_text()).get("labels")
    norm = {k: (sorted(v) if isinstance(v, list) else v) for k, v in (labels or {}).items()}
    if norm not in (
        {k: v for k, v in LABELS.items()},
        {k: (sorted(v) if isinstance(v, list) else v) for k, v in REGION_LABELS.items()},
    ):
        raise DatasetFormatError(
            f"user dataset {folder.name!r}: labels must be our scheme {dict(LABELS)} (or with the 'vessels' region), "
            f"got {labels!r}; convert it with 'nnunetv2_cta convert'"
        )
    for sub in ("imagesTs", "labelsTs"):
        if not (folder / sub).is_dir():
            raise DatasetFormatError(
                f"user dataset {folder.name!r} has no {sub}/ (held-out cases for the benchmark)"
            )
    n_train = len(list_cases(folder / "labelsTr", what="training labels"))
    if n_train < 5:
        raise DatasetFormatError(
            f"user dataset {folder.name!r} has {n_train} training case(s); nnU-Net's 5-fold split needs at least 5"
        )
    if not list_cases(folder / "labelsTs", what="held-out labels"):
        raise DatasetFormatError(f"user dataset {folder.name!r}: labelsTs/ holds no cases")


def resolve_user_dataset(dataset: str | int) -> Path:
    """Find ``dataset`` (id or ``DatasetXXX_Name``) in the caller's ``$nnUNet_raw``."""
    raw = os.environ.get("nnUNet_raw")
    if not raw or not Path(raw).is_dir():
        raise ConfigurationError(f"--dataset needs nnUNet_raw to point at your raw datasets, got {raw!r}")
    text = str(dataset)
    if text.isdigit():
        found = sorted(Path(raw).glob(f"Dataset{int(text):03d}_*"))
    else:
        found = [Path(raw) / text] if (Path(raw) / text).is_dir() else []
    if not found:
        names = sorted(p.name for p in Path(raw).glob("Dataset*"))
        raise ConfigurationError(f"dataset {text!r} is not in {raw!r}; found {names}")
    return found[0].resolve()
