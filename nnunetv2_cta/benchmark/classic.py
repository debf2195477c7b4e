"""The classic, non-learned baseline: HU thresholds + connected components for bone, Frangi vesselness +
HU thresholds for vessels, and a fixed distance-below-the-vertex rule for the vessel regions.

Nothing is trained; every number is a per-modality constant of :data:`CLASSIC_PARAMS` (HU for CTA/NCCT, the
phantom's HU-like scale for 3D-DSA). Steps, on a ``[z, y, x]`` image with spacing ``(sz, sy, sx)`` mm:

1. **Bone**: seeds ``HU >= bone_seed_hu`` (cortical bone; contrast lumen stays below it), closed with a
   ``closing_mm`` ball, 3D holes filled (``fill_voids``, so the cancellous core inside a cortical shell joins),
   kept where ``HU >= bone_min_hu``; connected components (26-connected, ``cc3d``) under ``min_bone_ml`` dropped.
2. **Vessels**: Frangi vesselness (Frangi et al., MICCAI 1998; ``skimage.filters.frangi``, bright tubes) at
   ``sigmas_mm`` converted to voxels with the mean spacing, normalised to its 99.9th percentile; a voxel is vessel
   where the normalised vesselness ``>= vesselness_min``, ``vessel_min_hu <= HU <= vessel_max_hu`` and it is not
   bone dilated by one voxel; components under ``min_vessel_ml`` dropped.
3. **Regions** (the documented simple rule): the vertex is the highest z of the bone mask (the top of the field
   of view when there is no bone). A vessel voxel more than ``aorta_below_vertex_mm`` (255 mm) below the vertex is
   aorta, one within ``intracranial_below_vertex_mm`` (125 mm) of it is intracranial, the rest carotid. The two
   distances were read off the phantom (vertex to skull base about 125-130 mm, vertex to the top of the aortic
   region about 255 mm) and are adult-head magnitudes; they are not fitted per case.

On non-contrast CT the lumen (40-55 HU) has the HU of the surrounding soft tissue, so no threshold separates it:
the method finds almost no vessels there by construction, which is the point of having it in the table.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import ConfigurationError
from nnunetv2_cta.labels import AORTA, BONE, CAROTID, INTRACRANIAL

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassicParams:
    """Per-modality constants of the classic method (module docstring); HU, mm and ml."""

    bone_seed_hu: float
    bone_min_hu: float
    closing_mm: float
    min_bone_ml: float
    vessel_min_hu: float
    vessel_max_hu: float
    vesselness_min: float
    bone_seed_max_hu: float = 1e9
    vessels_over_bone: bool = False
    sigmas_mm: tuple[float, ...] = (1.5, 3.0, 5.0)
    min_vessel_ml: float = 0.2
    aorta_below_vertex_mm: float = 255.0
    intracranial_below_vertex_mm: float = 125.0


CLASSIC_PARAMS: dict[str, ClassicParams] = {
    "cta": ClassicParams(
        bone_seed_hu=650, bone_min_hu=180, closing_mm=4.0, min_bone_ml=1.0,
        vessel_min_hu=90, vessel_max_hu=650, vesselness_min=0.05,
    ),
    "ncct": ClassicParams(
        bone_seed_hu=650, bone_min_hu=180, closing_mm=4.0, min_bone_ml=1.0,
        vessel_min_hu=38, vessel_max_hu=70, vesselness_min=0.05,
    ),
    "dsa": ClassicParams(
        bone_seed_hu=600, bone_min_hu=350, closing_mm=4.0, min_bone_ml=1.0,
        vessel_min_hu=1500, vessel_max_hu=1e9, vesselness_min=0.05,
        bone_seed_max_hu=1900, vessels_over_bone=True,
    ),
}  # fmt: skip


def _ball(radius_vox: np.ndarray) -> np.ndarray:
    r = np.maximum(np.floor(radius_vox).astype(int), 0)
    zz, yy, xx = np.ogrid[-r[0] : r[0] + 1, -r[1] : r[1] + 1, -r[2] : r[2] + 1]
    rr = np.maximum(radius_vox, 1e-6)
    return (zz / rr[0]) ** 2 + (yy / rr[1]) ** 2 + (xx / rr[2]) ** 2 <= 1.0


def _drop_small(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    import cc3d

    if min_voxels <= 1 or not mask.any():
        return mask
    return cc3d.dust(mask, threshold=int(min_voxels), connectivity=26, in_place=False)


def classic_segment(
    image: np.ndarray, spacing: tuple[float, float, float], modality: str = "cta"
) -> np.ndarray:
    """Segment bone and arteries of one ``[z, y, x]`` image (HU) without training.

    Args:
        image: ``[z, y, x]`` CT values (HU; 3D-DSA: the phantom's HU-like scale).
        spacing: voxel size in mm in array order ``(sz, sy, sx)``.
        modality: ``"cta"``, ``"ncct"`` or ``"dsa"`` (selects :data:`CLASSIC_PARAMS`).

    Returns:
        uint8 ``[z, y, x]`` label map in the scheme of :mod:`nnunetv2_cta.labels`.

    Example:
        >>> seg = classic_segment(ct, (3.0, 3.0, 3.0), "cta")  # doctest: +SKIP
    """
    import fill_voids
    from scipy import ndimage
    from skimage.filters import frangi

    try:
        p = CLASSIC_PARAMS[modality]
    except KeyError:
        raise ConfigurationError(
            f"modality must be one of {sorted(CLASSIC_PARAMS)}, got {modality!r}"
        ) from None
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ConfigurationError(f"image must be a 3D [z, y, x] array, got shape {image.shape!r}")
    spacing_arr = np.asarray(spacing, dtype=float)
    if spacing_arr.shape != (3,) or not np.all(spacing_arr > 0):
        raise ConfigurationError(f"spacing must be three positive mm values (z, y, x), got {spacing!r}")
    voxel_ml = float(np.prod(spacing_arr)) / 1000.0

    # 1. bone
    seeds = (image >= p.bone_seed_hu) & (image <= p.bone_seed_max_hu)
    bone = ndimage.binary_closing(seeds, structure=_ball(p.closing_mm / spacing_arr), border_value=0)
    bone = fill_voids.fill(bone | seeds, in_place=False)
    bone &= image >= p.bone_min_hu
    bone = _drop_small(bone, int(np.ceil(p.min_bone_ml / voxel_ml)))

    # 2. vessels
    sigmas = [s / float(spacing_arr.mean()) for s in p.sigmas_mm]
    vesselness = frangi(image, sigmas=sigmas, black_ridges=False).astype(np.float32)
    scale = float(np.percentile(vesselness, 99.9)) if vesselness.any() else 1.0
    vesselness /= max(scale, 1e-12)
    vessels = (vesselness >= p.vesselness_min) & (image >= p.vessel_min_hu) & (image <= p.vessel_max_hu)
    if not p.vessels_over_bone:
        vessels &= ~ndimage.binary_dilation(bone, structure=ndimage.generate_binary_structure(3, 3))
    vessels = _drop_small(vessels, int(np.ceil(p.min_vessel_ml / voxel_ml)))

    # 3. regions by distance below the vertex
    z_bone = np.nonzero(bone.any(axis=(1, 2)))[0]
    if len(z_bone):
        vertex = int(z_bone.max())
    else:
        vertex = image.shape[0] - 1
        logger.warning("classic: no bone found; the vertex is taken as the top of the field of view")
    depth_mm = (vertex - np.arange(image.shape[0])) * spacing_arr[0]
    region = np.full(image.shape[0], CAROTID, dtype=np.uint8)
    region[depth_mm > p.aorta_below_vertex_mm] = AORTA
    region[depth_mm <= p.intracranial_below_vertex_mm] = INTRACRANIAL

    out = np.zeros(image.shape, dtype=np.uint8)
    out[bone] = BONE
    out[vessels] = np.broadcast_to(region[:, None, None], image.shape)[vessels]
    return out


def classic_segment_folder(
    images: str | os.PathLike, out: str | os.PathLike, modality: str = "cta", *, progress: bool = False
) -> dict[str, float]:
    """Run :func:`classic_segment` on every ``<case>_0000<ending>`` of ``images``, writing ``<case>.nii.gz``.

    Returns:
        ``{case: seconds}`` (read, segment and write).
    """
    import time

    from tqdm import tqdm

    from nnunetv2_cta.errors import DatasetFormatError
    from nnunetv2_cta.io import has_volume_ending, read_image, strip_volume_ending, write_image

    images = Path(images)
    files = sorted(
        f
        for f in images.iterdir()
        if has_volume_ending(f.name) and strip_volume_ending(f.name).endswith("_0000")
    )
    if not files:
        raise DatasetFormatError(f"image folder {str(images)!r} has no <case>_0000 volume files")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    for f in tqdm(files, desc=f"classic {modality}", unit="case", disable=not progress):
        t0 = time.perf_counter()
        case = strip_volume_ending(f.name)[: -len("_0000")]
        image, geometry = read_image(f)
        write_image(out / f"{case}.nii.gz", classic_segment(image, geometry.spacing, modality), geometry)
        times[case] = time.perf_counter() - t0
    return times
