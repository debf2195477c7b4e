"""Shared machinery of every converter: the nnU-Net raw dataset writer and the per-case skip summary.

A converter never leaves a half-written dataset behind: :class:`RawDatasetWriter` writes every file into a
hidden temporary folder next to the target (``.tmp_DatasetXXX_Name_<random>``) and renames it to
``DatasetXXX_Name`` only when every case has been handled and ``dataset.json`` is written. A failing case
is skipped with a reason (or, with ``strict=True``, stops the conversion); the reasons are collected in a
:class:`ConversionSummary` that the CLI prints at the end. A dataset id already used by any
``DatasetXXX_*`` folder in the raw root is refused unless ``overwrite=True``.

Layout written (nnU-Net v2 raw format, one channel named ``"CT"`` unless stated otherwise)::

    DatasetXXX_Name/
        dataset.json
        imagesTr/<case>_0000.nii.gz
        labelsTr/<case>.nii.gz
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, CTAError, DatasetFormatError, OutputExistsError
from nnunetv2_cta.io import (
    VOLUME_ENDINGS,
    Geometry,
    check_output_folder,
    check_same_grid,
    discard,
    group_case_files,
    json_default,
    publish,
    single_channel,
    strip_volume_ending,
    temporary_sibling,
    write_image,
    write_json_atomic,
)
from nnunetv2_cta.labels import LABELS, check_label_values, dataset_json

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_CASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]*$")


@dataclass(frozen=True)
class CaseSkip:
    """One case that was not converted, and why."""

    case: str
    reason: str


@dataclass
class ConversionSummary:
    """What a conversion wrote and skipped.

    Attributes:
        output: the final dataset folder (or output folder for DICOM).
        written: case identifiers written, in order.
        skipped: cases left out, each with its reason.
        notes: per-case measurements (e.g. registration Dice, removed label noise), JSON-serialisable.
    """

    output: Path
    written: list[str] = field(default_factory=list)
    skipped: list[CaseSkip] = field(default_factory=list)
    notes: dict[str, dict] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable summary, one line each (what the CLI prints)."""
        out = [f"wrote {len(self.written)} case(s) to {self.output}"]
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} case(s):")
            out.extend(f"  {s.case}: {s.reason}" for s in self.skipped)
        return out


def list_volumes(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Volume files (:data:`~nnunetv2_cta.io.VOLUME_ENDINGS`) in ``folder``, sorted, hidden files excluded."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(f"input folder does not exist: {str(folder)!r}")
    pattern = "**/*" if recursive else "*"
    return sorted(
        p
        for p in folder.glob(pattern)
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(VOLUME_ENDINGS)
    )


def parse_label_mapping(text: str | dict | None) -> dict[int, int] | None:
    """Parse ``"1:2,2:3,7:0"`` (foreign value -> our value) into a dict; ``None`` stays ``None``.

    Raises:
        ConfigurationError: malformed text or a target value outside our label scheme.
    """
    if text is None or isinstance(text, dict):
        mapping = text
    else:
        mapping = {}
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            parts = item.split(":")
            if len(parts) != 2 or not all(p.strip().lstrip("-").isdigit() for p in parts):
                raise ConfigurationError(
                    f"label mapping items must look like 'FROM:TO' with integers, got {item!r}"
                )
            mapping[int(parts[0])] = int(parts[1])
    if mapping is None:
        return None
    out = {int(k): int(v) for k, v in mapping.items()}
    bad = sorted(v for v in out.values() if v not in LABELS.values())
    if bad:
        raise ConfigurationError(f"label mapping targets must be in {sorted(LABELS.values())}, got {bad}")
    return out


def apply_label_mapping(
    labels: np.ndarray, mapping: dict[int, int], *, what: str = "label map"
) -> np.ndarray:
    """Map label values through ``mapping`` (values not in it are an error, 0 maps to 0 unless given).

    Raises:
        DatasetFormatError: a value present in ``labels`` is not a key of ``mapping``.
    """
    mapping = dict(mapping)
    mapping.setdefault(0, 0)
    present = [int(v) for v in np.unique(labels)]
    unknown = sorted(v for v in present if v not in mapping)
    if unknown:
        raise DatasetFormatError(f"{what}: label values {unknown} have no entry in the mapping {mapping}")
    out = np.zeros(labels.shape, dtype=np.uint8)
    for src, dst in mapping.items():
        if dst:
            out[labels == src] = dst
    return out


def check_ct_image(image: np.ndarray, *, what: str = "image") -> None:
    """Reject images nnU-Net cannot learn from: not 3D, non-finite values, or constant.

    Raises:
        DatasetFormatError: naming the problem.
    """
    if image.ndim != 3 or min(image.shape) < 2:
        raise DatasetFormatError(
            f"{what}: expected a 3D volume with at least 2 voxels per axis, got shape {image.shape}"
        )
    if np.issubdtype(image.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(image)))
        if bad:
            raise DatasetFormatError(f"{what}: {bad} voxel(s) are NaN or infinite")
    lo, hi = image.min(), image.max()
    if lo == hi:
        raise DatasetFormatError(f"{what}: image is constant (every voxel is {lo.item()!r})")


def compact_ct_dtype(image: np.ndarray) -> np.ndarray:
    """int16 when every value is an integer within int16 range (HU usually is), else float32."""
    if np.issubdtype(image.dtype, np.integer) or np.all(np.mod(image, 1) == 0):
        lo, hi = float(image.min()), float(image.max())
        if lo >= -32768 and hi <= 32767:
            return image.astype(np.int16, copy=False)
    return image.astype(np.float32, copy=False)


def raw_root() -> Path:
    """The ``nnUNet_raw`` folder from the environment.

    Raises:
        ConfigurationError: ``nnUNet_raw`` is unset or not a folder.
    """
    value = os.environ.get("nnUNet_raw")
    if not value:
        raise ConfigurationError("nnUNet_raw is not set; set it or give an explicit output folder")
    root = Path(value)
    if not root.is_dir():
        raise ConfigurationError(f"nnUNet_raw={value!r} is not an existing folder")
    return root


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``(42, "PhantomCTA") -> "Dataset042_PhantomCTA"``, validating both parts."""
    if not isinstance(dataset_id, int | np.integer) or not 1 <= int(dataset_id) <= 999:
        raise ConfigurationError(f"dataset id must be an integer in 1..999, got {dataset_id!r}")
    if not _NAME_RE.match(name or ""):
        raise ConfigurationError(f"dataset name must be letters, digits, '_' or '-', got {name!r}")
    return f"Dataset{int(dataset_id):03d}_{name}"


def folders_using_id(root: Path, dataset_id: int) -> list[Path]:
    """Every ``DatasetXXX_*`` folder in ``root`` that uses ``dataset_id``."""
    prefix = f"Dataset{int(dataset_id):03d}_"
    return sorted(p for p in root.glob(prefix + "*") if p.is_dir())


class RawDatasetWriter:
    """Write an nnU-Net raw dataset atomically (temporary folder, then rename).

    Use as a context manager; :meth:`add_case` writes one case, :meth:`skip` records one left out,
    :meth:`finish` writes ``dataset.json`` and moves the folder into place. Leaving the ``with`` block
    without :meth:`finish` (an exception) deletes the temporary folder.

    Args:
        dataset_id: nnU-Net dataset id (1..999).
        name: dataset name (``DatasetXXX_<name>``).
        output: explicit target folder; default ``$nnUNet_raw/DatasetXXX_<name>``.
        overwrite: replace the existing folder(s) that use ``dataset_id`` in the raw root.
        regions: declare the overlapping vessel region in dataset.json.
        labels: label declaration for dataset.json (default: our scheme); values must be consecutive.
        channel_name: name of channel 0 ("CT" gives nnU-Net's CT normalisation; anything else is z-scored).
        description: dataset.json description.
        extra: extra dataset.json keys (provenance).
        strict: raise on the first bad case instead of skipping it.

    Example:
        >>> with RawDatasetWriter(931, "Demo", output=tmp) as w:   # doctest: +SKIP
        ...     w.add_case("case_000", image, geometry, labels)
        ...     summary = w.finish()
    """

    def __init__(
        self,
        dataset_id: int,
        name: str,
        *,
        output: str | os.PathLike | None = None,
        overwrite: bool = False,
        regions: bool = False,
        labels: dict[str, int] | None = None,
        channel_name: str = "CT",
        description: str = "",
        extra: dict | None = None,
        strict: bool = False,
    ) -> None:
        folder_name = dataset_folder_name(dataset_id, name)
        self.target = Path(output) if output is not None else raw_root() / folder_name
        self.root = self.target.parent
        self.dataset_id, self.name = int(dataset_id), name
        self.overwrite, self.regions, self.strict = overwrite, regions, strict
        self.labels = dict(labels) if labels is not None else None
        self.allowed_values = sorted(set((self.labels or LABELS).values()))
        self.channel_name, self.description, self.extra = channel_name, description, dict(extra or {})
        if regions and labels is not None:
            raise ConfigurationError(
                "regions=True declares our own label scheme; it cannot be combined with labels"
            )
        self._check_target()
        self.summary = ConversionSummary(output=self.target)
        self.tmp: Path | None = None
        self._geometry: dict[str, Geometry] = {}

    def _check_target(self) -> None:
        check_output_folder(self.target, what="dataset folder")
        used = folders_using_id(self.root, self.dataset_id) if self.root.is_dir() else []
        if self.target.exists() and self.target not in used:
            used.append(self.target)
        if used and not self.overwrite:
            names = ", ".join(repr(p.name) for p in used)
            raise OutputExistsError(
                f"dataset id {self.dataset_id} is already used by {names} in {str(self.root)!r}; "
                "choose another id or pass overwrite (--overwrite)"
            )

    def __enter__(self) -> RawDatasetWriter:
        self.tmp = temporary_sibling(self.target, folder=True)
        (self.tmp / "imagesTr").mkdir()
        (self.tmp / "labelsTr").mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.tmp is not None:
            discard(self.tmp)
        self.tmp = None

    # ----------------------------------------------------------------------------------------- cases
    def add_case(
        self,
        case: str,
        image: np.ndarray,
        geometry: Geometry,
        labels: np.ndarray,
        label_geometry: Geometry | None = None,
        *,
        note: dict | None = None,
    ) -> None:
        """Check and write one case: ``imagesTr/<case>_0000.nii.gz`` and ``labelsTr/<case>.nii.gz``.

        ``image`` and ``labels`` are ``[z, y, x]`` arrays on the same grid (``label_geometry`` defaults to
        ``geometry``). Images are written as int16 when integral (HU), else float32; labels as uint8.

        Raises:
            DatasetFormatError / GeometryError: bad case (only raised here; use :meth:`convert_case` to
            turn it into a skip).
        """
        if self.tmp is None:
            raise RuntimeError("RawDatasetWriter.add_case called outside its with-block")
        if not _CASE_RE.match(case):
            raise DatasetFormatError(
                f"case identifier must be letters, digits, '_', '-' or '.', got {case!r}"
            )
        if case in self._geometry:
            raise DatasetFormatError(f"case identifier {case!r} occurs twice")
        check_ct_image(image, what=f"{case} image")
        label_geometry = geometry if label_geometry is None else label_geometry
        check_same_grid((image, geometry), (labels, label_geometry), what=f"{case} label map")
        if np.issubdtype(labels.dtype, np.floating) and not np.all(np.mod(labels, 1) == 0):
            raise DatasetFormatError(
                f"{case} label map: holds non-integer values (a resampled or soft label map?)"
            )
        check_label_values(labels, self.allowed_values, what=f"{case} label map")
        write_image(self.tmp / "imagesTr" / f"{case}_0000.nii.gz", compact_ct_dtype(image), geometry)
        write_image(self.tmp / "labelsTr" / f"{case}.nii.gz", labels.astype(np.uint8), geometry)
        self._geometry[case] = geometry
        self.summary.written.append(case)
        if note:
            self.summary.notes[case] = note
        logger.info("wrote case %s", case)

    def skip(self, case: str, reason: str) -> None:
        """Record a case left out (logged as a WARNING)."""
        if self.strict:
            raise DatasetFormatError(f"{case}: {reason}")
        self.summary.skipped.append(CaseSkip(case, reason))
        logger.warning("skipped case %s: %s", case, reason)

    def run_cases(self, cases: Iterable[tuple[str, object]], convert, *, progress: bool = False) -> None:
        """Call ``convert(case, item)`` for each ``(case, item)``; a :class:`CTAError` becomes a skip.

        ``convert`` is expected to call :meth:`add_case` (or :meth:`skip`) itself.
        """
        cases = list(cases)
        iterator: Iterator = iter(cases)
        if progress:
            from tqdm import tqdm

            iterator = iter(tqdm(cases, desc="convert", unit="case"))
        for case, item in iterator:
            try:
                convert(case, item)
            except CTAError as err:
                if self.strict:
                    raise
                self.skip(case, str(err))

    # ----------------------------------------------------------------------------------------- finish
    def finish(self) -> ConversionSummary:
        """Write dataset.json and move the temporary folder to the target.

        Raises:
            DatasetFormatError: no case was written (the reasons are in the message).
        """
        if self.tmp is None:
            raise RuntimeError("RawDatasetWriter.finish called outside its with-block")
        if not self.summary.written:
            reasons = (
                "; ".join(f"{s.case}: {s.reason}" for s in self.summary.skipped[:5]) or "no input cases found"
            )
            raise DatasetFormatError(f"no case could be converted ({reasons})")
        extra = dict(self.extra)
        if self.summary.skipped:
            extra.setdefault("cta_conversion", {})["skipped"] = {
                s.case: s.reason for s in self.summary.skipped
            }
        if self.summary.notes:
            extra.setdefault("cta_conversion", {})["cases"] = self.summary.notes
        dj = dataset_json(
            len(self.summary.written),
            name=self.name,
            description=self.description,
            regions=self.regions,
            extra=extra,
        )
        if self.labels is not None:
            dj["labels"] = dict(self.labels)
        dj["channel_names"] = {"0": self.channel_name}
        write_json_atomic(self.tmp / "dataset.json", dj, default=json_default)
        if self.overwrite:
            for old in [*folders_using_id(self.root, self.dataset_id), self.target]:
                if old.exists():
                    logger.warning("overwrite: replacing %s", old)
                    if old != self.target:
                        shutil.rmtree(old)
        tmp, self.tmp = self.tmp, None
        publish(tmp, self.target, replace=self.overwrite)
        for line in self.summary.lines():
            logger.info(line)
        return self.summary


def list_cases(folder: str | os.PathLike) -> dict[str, Path]:
    """Single-channel images of ``folder`` by case id (:func:`nnunetv2_cta.io.case_and_channel`), sorted.

    ``<case>_0000.nii.gz`` and ``<case>.nii.gz`` give ``<case>``; ``patient_2024.mha`` gives ``patient_2024``.

    Raises:
        DatasetFormatError: the folder is missing, two files give one case, or a case has several channels.
    """
    return {case: single_channel(case, ch) for case, ch in group_case_files(list_volumes(folder)).items()}


def list_label_maps(folder: str | os.PathLike) -> dict[str, Path]:
    """Label maps of ``folder`` by case id: the file name without its ending (no channel suffix), sorted.

    Raises:
        DatasetFormatError: the folder is missing, or two files give one case (``a.nii.gz`` and ``a.mha``).
    """
    out: dict[str, Path] = {}
    for path in list_volumes(folder):
        case = strip_volume_ending(path.name)
        if case in out:
            raise DatasetFormatError(
                f"label maps {out[case].name!r} and {path.name!r} in {str(folder)!r} both give case {case!r}"
            )
        out[case] = path
    return out
