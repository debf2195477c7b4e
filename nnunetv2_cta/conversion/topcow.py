"""TopCoW challenge data -> nnU-Net raw dataset.

TopCoW (Yang et al., "Benchmarking the CoW with the TopCoW Challenge", arXiv:2312.17670) ships CTA and
TOF-MRA volumes with multi-class Circle-of-Willis labels::

    imagesTr/topcow_ct_001_0000.nii.gz          cow_seg_labelsTr/topcow_ct_001.nii.gz
    imagesTr/topcow_mr_001_0000.nii.gz          cow_seg_labelsTr/topcow_mr_001.nii.gz

Files are found anywhere under the root by name: ``topcow_<ct|mr>_<id>_0000.<ending>`` is an image,
``topcow_<ct|mr>_<id>.<ending>`` a label map. Label values: 1 BA, 2 R-PCA, 3 L-PCA, 4 R-ICA, 5 R-MCA,
6 L-ICA, 7 L-MCA, 8 R-Pcom, 9 L-Pcom, 10 Acom, 11 R-ACA, 12 L-ACA, 15 3rd-A2 (13 and 14 unused).

Our scheme: every CoW class is an intracranial artery (label 4). With ``keep_cow_classes`` the 13 classes
are kept for a multi-class dataset, renumbered 1..13 (15 -> 13) because nnU-Net requires consecutive
label values. CTA cases get the channel name ``"CT"``; MRA cases ``"MRA"`` (nnU-Net z-scores them); one
dataset holds one modality.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Literal

import numpy as np

from nnunetv2_cta.conversion.common import (
    ConversionSummary,
    RawDatasetWriter,
    apply_label_mapping,
    list_volumes,
)
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.io import read_image, strip_volume_ending
from nnunetv2_cta.labels import INTRACRANIAL

logger = logging.getLogger(__name__)

#: TopCoW label value -> name.
COW_CLASSES: dict[int, str] = {
    1: "BA",
    2: "R-PCA",
    3: "L-PCA",
    4: "R-ICA",
    5: "R-MCA",
    6: "L-ICA",
    7: "L-MCA",
    8: "R-Pcom",
    9: "L-Pcom",
    10: "Acom",
    11: "R-ACA",
    12: "L-ACA",
    15: "3rd-A2",
}
#: Every CoW class -> intracranial.
TO_SCHEME: dict[int, int] = {v: INTRACRANIAL for v in COW_CLASSES}
#: Multi-class renumbering to consecutive values.
TO_CONSECUTIVE: dict[int, int] = {v: i + 1 for i, v in enumerate(sorted(COW_CLASSES))}

_NAME = re.compile(r"^topcow_(?P<mod>ct|mr)_(?P<id>.+?)(?P<channel>_0000)?$", re.IGNORECASE)


def find_topcow_cases(root: str | os.PathLike, modality: Literal["ct", "mr"]) -> dict[str, dict[str, Path]]:
    """``{case: {"image": path, "label": path}}`` for one modality (either entry may be missing)."""
    cases: dict[str, dict[str, Path]] = {}
    for path in list_volumes(root, recursive=True):
        m = _NAME.match(strip_volume_ending(path.name))
        if not m or m.group("mod").lower() != modality:
            continue
        case = f"topcow_{modality}_{m.group('id')}"
        kind = "image" if m.group("channel") else "label"
        if kind in cases.setdefault(case, {}):
            raise DatasetFormatError(f"two {kind} files for case {case!r}: {cases[case][kind]} and {path}")
        cases[case][kind] = path
    return dict(sorted(cases.items()))


def convert_topcow(
    root: str | os.PathLike,
    *,
    dataset_id: int,
    name: str,
    modality: Literal["ct", "mr"] = "ct",
    keep_cow_classes: bool = False,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = False,
) -> ConversionSummary:
    """Convert a TopCoW folder into ``DatasetXXX_<name>`` (see module docstring).

    Raises:
        ConfigurationError: unknown modality.
        DatasetFormatError: no TopCoW case of that modality under ``root`` or none convertible.
    """
    if modality not in ("ct", "mr"):
        raise ConfigurationError(f"modality must be 'ct' or 'mr', got {modality!r}")
    cases = find_topcow_cases(root, modality)
    if not cases:
        raise DatasetFormatError(
            f"no TopCoW file named topcow_{modality}_<id>[_0000].<ending> under {str(root)!r}"
        )
    if keep_cow_classes:
        labels = {"background": 0} | {COW_CLASSES[v]: TO_CONSECUTIVE[v] for v in sorted(COW_CLASSES)}
        mapping = TO_CONSECUTIVE
    else:
        labels, mapping = None, TO_SCHEME
    channel = "CT" if modality == "ct" else "MRA"
    if modality == "mr":
        logger.warning(
            "MRA channel is named 'MRA': nnU-Net applies z-score normalisation, not CT normalisation"
        )
    with RawDatasetWriter(
        dataset_id,
        name,
        output=output,
        overwrite=overwrite,
        labels=labels,
        channel_name=channel,
        description=f"TopCoW {modality.upper()} converted by nnunetv2_cta convert topcow",
        extra={"cta_source": {"converter": "topcow", "keep_cow_classes": keep_cow_classes}},
        strict=strict,
    ) as writer:

        def convert(case: str, files: dict[str, Path]) -> None:
            if "image" not in files:
                writer.skip(case, "label map without image (<case>_0000)")
                return
            if "label" not in files:
                writer.skip(case, "image without label map")
                return
            image, geometry = read_image(files["image"])
            cow, label_geometry = read_image(files["label"])
            if np.issubdtype(cow.dtype, np.floating) and not np.all(np.mod(cow, 1) == 0):
                raise DatasetFormatError("label map holds non-integer values")
            out = apply_label_mapping(cow.astype(np.int64), mapping, what="TopCoW label map")
            present = sorted(int(v) for v in np.unique(cow) if v)
            writer.add_case(case, image, geometry, out, label_geometry, note={"cow_classes": present})

        writer.run_cases(cases.items(), convert, progress=progress)
        return writer.finish()
