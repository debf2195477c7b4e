"""Write phantom cases as NIfTI files and whole nnU-Net raw datasets.

Dataset layout written by :func:`write_dataset` (nnU-Net v2 raw format)::

    DatasetXXX_Name/
      dataset.json                     channel "CT", our label scheme, provenance under "phantom"
      imagesTr/<case>_0000.nii.gz      int16 HU
      labelsTr/<case>.nii.gz           uint8 labels
      imagesTs/ labelsTs/              the test cases, same naming
      graphsTr/ graphsTs/<case>_graph.json   vessel graphs (outside the folders nnU-Net checks)
      dsaTr/ dsaTs/<case>_mask.nii.gz, <case>_subtracted.nii.gz   (modality dsa only)

The dataset is built in a temporary sibling folder and renamed into place only when complete, so an
interrupted or failed run leaves nothing behind. Same seed, arguments and package version give
byte-identical files (fixed NIfTI header fields, gzip without time stamps, sorted JSON).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nnunetv2_cta import __version__
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, OutputExistsError
from nnunetv2_cta.io import Geometry, atomic_write, discard, publish, temporary_sibling, write_text_atomic
from nnunetv2_cta.labels import dataset_json
from nnunetv2_cta.phantom.anatomy import check_pathologies, generate_anatomy
from nnunetv2_cta.phantom.graph import save_vessel_graph
from nnunetv2_cta.phantom.modalities import MODALITIES, PhantomCase, render_case
from nnunetv2_cta.phantom.scanner import grid_for

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def write_nifti(path: str | os.PathLike, array: np.ndarray, geometry: Geometry) -> Path:
    """Write a ``[z, y, x]`` array as ``.nii.gz`` with a fixed header, deterministically and atomically.

    nibabel is used rather than SimpleITK because its gzip stream carries no time stamp and its header
    fields are fully set here (sform = qform = the grid's affine, code 1 "scanner"), so two runs give
    identical bytes. The affine converts ITK LPS to NIfTI RAS (x and y negated).
    """
    import gzip

    import nibabel as nib

    path = Path(path)
    arr = np.ascontiguousarray(np.transpose(array, (2, 1, 0)))  # nibabel wants [x, y, z]
    direction = np.asarray(geometry.direction).reshape(3, 3)
    spacing_xyz = np.asarray(geometry.spacing[::-1])
    affine = np.eye(4)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    affine[:3, :3] = lps_to_ras @ direction * spacing_xyz[None, :]
    affine[:3, 3] = lps_to_ras @ np.asarray(geometry.origin)
    img = nib.Nifti1Image(arr, affine)
    hdr = img.header
    hdr.set_xyzt_units("mm", "sec")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    hdr["descrip"] = b"nnunetv2_cta phantom"
    hdr.set_slope_inter(1.0, 0.0)
    data = img.to_bytes()
    with (
        atomic_write(path) as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz,
    ):
        gz.write(data)
    return path


def write_case(case: PhantomCase, folder: str | os.PathLike, case_id: str) -> dict[str, Path]:
    """Write one case into ``folder``: ``<case_id>_image.nii.gz`` (int16 HU), ``<case_id>_label.nii.gz``
    (uint8), ``<case_id>_graph.json`` and, for DSA, ``<case_id>_mask.nii.gz`` / ``<case_id>_subtracted.nii.gz``.

    Returns:
        the written paths by kind (``image``, ``label``, ``graph``, ``mask``, ``subtracted``).
    """
    if not _NAME_RE.match(case_id):
        raise DatasetFormatError(f"case_id must be letters, digits, '_' or '-', got {case_id!r}")
    folder = Path(folder)
    out = {
        "image": write_nifti(folder / f"{case_id}_image.nii.gz", case.image, case.geometry),
        "label": write_nifti(folder / f"{case_id}_label.nii.gz", case.labels, case.geometry),
        "graph": save_vessel_graph(case.graph, folder / f"{case_id}_graph.json"),
    }
    if case.mask_image is not None:
        out["mask"] = write_nifti(folder / f"{case_id}_mask.nii.gz", case.mask_image, case.geometry)
    if case.subtracted is not None:
        out["subtracted"] = write_nifti(
            folder / f"{case_id}_subtracted.nii.gz", case.subtracted, case.geometry
        )
    return out


def dataset_folder_name(dataset_id: int, name: str) -> str:
    return f"Dataset{int(dataset_id):03d}_{name}"


def write_dataset(
    out_root: str | os.PathLike | None = None,
    *,
    modality: str = "cta",
    cases: int = 20,
    test_cases: int = 5,
    dataset_id: int = 501,
    name: str = "PhantomCTA",
    spacing: float | None = None,
    fov: tuple[float, float, float] | None = None,
    late_phase: bool | None = None,
    misregistration_mm: float | None = None,
    preset: str = "train",
    pathologies: Sequence[str] = (),
    seed: int = 0,
    regions: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    preview: bool = False,
) -> Path:
    """Generate phantom cases and write them as an nnU-Net v2 raw dataset.

    Args:
        out_root: the dataset folder to create; ``None`` writes ``$nnUNet_raw/DatasetXXX_Name``.
        modality: ``"cta"``, ``"ncct"`` or ``"dsa"``.
        cases / test_cases: number of training (``imagesTr``) and test (``imagesTs``) cases.
        dataset_id: nnU-Net dataset id (1-999). name: dataset name (letters, digits, ``_``, ``-``).
        spacing: isotropic voxel size in mm (default from the preset).
        fov: field of view in mm ``(z, y, x)`` (default from the preset and modality).
        late_phase: CTA: veins as bright as arteries in every case (``None``: drawn, 20 % of cases).
        misregistration_mm: DSA: shift of the mask run in mm (``None``: drawn, 0.1-0.5 mm).
        preset: ``"tiny"``, ``"train"`` or ``"clinical"``.
        pathologies: pathology names placed in every case (see ``anatomy.PATHOLOGIES``).
        seed: case ``i`` uses anatomy seed ``seed * 100003 + i``.
        regions: declare the overlapping ``vessels`` region in dataset.json.
        overwrite: replace an existing dataset folder.
        progress: show a tqdm progress bar.
        preview: also write ``previews/<case>_<modality>.png`` (MIPs, see :func:`save_preview_png`) of the
            first case rendered in all three modalities.

    Returns:
        the dataset folder.

    Raises:
        OutputExistsError: the folder exists (or the id is taken by another dataset) without ``overwrite``.
        ConfigurationError, SpacingError, GeometryError: bad arguments (checked before anything is written).
    """
    _check_dataset_arguments(modality, cases, test_cases, dataset_id, name, seed, misregistration_mm)
    out = _dataset_folder(out_root, dataset_id, name, overwrite)
    # validate everything that could fail late, before writing anything
    pathologies = list(check_pathologies(pathologies))
    first = generate_anatomy(seed * 100003, preset=preset, pathologies=pathologies)
    grid_for(first, modality, spacing, fov)
    scan = {
        "spacing": spacing,
        "fov": fov,
        "late_phase": late_phase,
        "misregistration_mm": misregistration_mm,
    }

    tmp = temporary_sibling(out, folder=True)
    try:
        ids = [(f"{name}_{i:04d}", "Tr", i) for i in range(cases)] + [
            (f"{name}_{cases + i:04d}", "Ts", cases + i) for i in range(test_cases)
        ]
        iterator = ids
        if progress:
            from tqdm import tqdm

            iterator = tqdm(ids, desc=f"phantom {modality}", unit="case")
        for case_id, split, i in iterator:
            anatomy = (
                first
                if i == 0
                else generate_anatomy(seed * 100003 + i, preset=preset, pathologies=pathologies)
            )
            _write_dataset_case(tmp, split, case_id, render_case(anatomy, modality, **scan))
        if preview:
            from nnunetv2_cta.phantom.preview import save_preview_png

            for mod in MODALITIES:
                case = render_case(first, mod, spacing=spacing if mod == modality else None)
                save_preview_png(case, tmp / "previews" / f"{ids[0][0]}_{mod}.png")
        provenance = {
            "generator": "nnunetv2_cta.phantom",
            "version": __version__,
            "modality": modality,
            "preset": preset,
            "spacing_mm": spacing,
            "fov_mm": list(fov) if fov is not None else None,
            "late_phase": late_phase,
            "misregistration_mm": misregistration_mm,
            "pathologies": list(pathologies),
            "seed": int(seed),
            "case_seeds": "seed * 100003 + case index",
        }
        dj = dataset_json(
            cases, name=name, regions=regions, file_ending=".nii.gz", extra={"phantom": provenance}
        )
        dj["description"] = f"nnunetv2_cta digital head-and-neck {modality.upper()} phantom"
        write_text_atomic(tmp / "dataset.json", json.dumps(dj, indent=2, sort_keys=False) + "\n")
        publish(tmp, out, replace=True)  # an existing `out` was refused above unless overwrite
    except BaseException:
        discard(tmp)
        raise
    logger.info("wrote %d+%d %s phantom cases to %s", cases, test_cases, modality, out)
    return out


def _check_dataset_arguments(
    modality: str,
    cases: int,
    test_cases: int,
    dataset_id: int,
    name: str,
    seed: int,
    misregistration_mm: float | None,
) -> None:
    """Raise :class:`ConfigurationError` naming the first bad argument of :func:`write_dataset`."""
    if modality not in MODALITIES:
        raise ConfigurationError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
    for label, value, lo in (("cases", cases, 1), ("test_cases", test_cases, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise ConfigurationError(f"{label} must be an int >= {lo}, got {value!r}")
    if (
        isinstance(dataset_id, bool)
        or not isinstance(dataset_id, (int, np.integer))
        or not 1 <= dataset_id <= 999
    ):
        raise ConfigurationError(f"dataset_id must be an int in 1..999, got {dataset_id!r}")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigurationError(f"name must be letters, digits, '_' or '-', got {name!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative int, got {seed!r}")
    if misregistration_mm is not None and not (
        np.isfinite(misregistration_mm) and 0 <= misregistration_mm <= 10
    ):
        raise ConfigurationError(
            f"misregistration_mm must be between 0 and 10 mm, got {misregistration_mm!r}"
        )


def _dataset_folder(out_root: str | os.PathLike | None, dataset_id: int, name: str, overwrite: bool) -> Path:
    """The dataset folder to write (``$nnUNet_raw/DatasetXXX_Name`` when ``out_root`` is ``None``).

    Raises:
        ConfigurationError: ``nnUNet_raw`` unset without ``out_root``. OutputExistsError: the folder exists
            without ``overwrite``, or another dataset in ``nnUNet_raw`` has the same id.
    """
    folder_name = dataset_folder_name(dataset_id, name)
    if out_root is None:
        raw = os.environ.get("nnUNet_raw")
        if not raw:
            raise ConfigurationError("nnUNet_raw is not set; set it or give an output folder (-o)")
        out = Path(raw) / folder_name
        taken = [p for p in Path(raw).glob(f"Dataset{int(dataset_id):03d}_*") if p.name != folder_name]
        if taken:
            raise OutputExistsError(
                f"dataset id {dataset_id} is already used by {str(taken[0])!r}; choose another --dataset-id"
            )
    else:
        out = Path(out_root)
    if out.exists() and not overwrite:
        raise OutputExistsError(
            f"output folder {str(out)!r} exists; pass overwrite=True (--overwrite) to replace it"
        )
    return out


def _write_dataset_case(folder: Path, split: str, case_id: str, case: PhantomCase) -> None:
    """One case in the nnU-Net layout: ``images<split>``, ``labels<split>``, ``graphs<split>``, ``dsa<split>``."""
    write_nifti(folder / f"images{split}" / f"{case_id}_0000.nii.gz", case.image, case.geometry)
    write_nifti(folder / f"labels{split}" / f"{case_id}.nii.gz", case.labels, case.geometry)
    save_vessel_graph(case.graph, folder / f"graphs{split}" / f"{case_id}_graph.json")
    if case.mask_image is not None:
        write_nifti(folder / f"dsa{split}" / f"{case_id}_mask.nii.gz", case.mask_image, case.geometry)
        write_nifti(folder / f"dsa{split}" / f"{case_id}_subtracted.nii.gz", case.subtracted, case.geometry)
