"""Split a vessel mask into our aorta / carotid / intracranial labels at two anatomical planes.

Input: a binary vessel mask (or a label map whose vessel values are given), optionally the CT image in HU
and a bone label. Output: our label map (1 bone where given, 2 aorta, 3 carotid, 4 intracranial).
Both planes are *axial world planes* (constant world z, LPS, z toward the head); every vessel voxel at or
below the arch plane is aorta, at or above the skull-base plane intracranial, between them carotid.

Landmarks found automatically:

* **Arch plane** = top of the aortic arch + ``arch_margin_mm`` (default 5 mm, so the first few mm of the
  supra-aortic trunks go with the aorta, as our label definition asks). The aorta is the only artery of
  the field with a lumen radius of more than ~8 mm (arch 12-16 mm; brachiocephalic trunk 5-7 mm, common
  carotid 3-4 mm). We compute the Euclidean distance transform of the vessel mask in mm (``edt``), keep
  the voxels deeper than ``aorta_min_radius_mm`` (default 8 mm: the medial core of the aorta only), take
  the largest connected core component that starts in the lower half of the vessel mask, and define the
  arch top as ``max(world z + depth)`` over that core: the highest point of the inscribed balls, i.e. the
  roof of the arch lumen.
* **Skull-base plane** = the foramen magnum level, from the bone: in every axial slice the bone mask
  (bone label, or ``HU >= bone_hu`` minus the vessels) is closed by ``close_mm`` and its holes filled;
  the area enclosed by bone but not bone itself is the cranial cavity where the skull forms a ring. The
  longest run of consecutive slices with at least ``min_cranial_area_cm2`` (default 20 cm²) enclosed is
  the cranium; its lowest slice is the skull-base plane. The foramen magnum opening (~8 cm²) and the
  neck (spinal canal ~2 cm²) stay below the threshold.

Limits (state them when you use this): both planes are horizontal in world coordinates, so a strongly
flexed or tilted head shifts the split by up to a few centimetres laterally compared with the anatomical
landmarks; the petrous ICA in its canal below the foramen-magnum level (about 1 cm) ends up carotid, not
intracranial; aneurysms or ectatic carotids wider than 8 mm radius in the lower half would be mistaken
for the aorta (raise ``aorta_min_radius_mm``); with no bone ring in the field (chest/neck scans) or no
large-calibre vessel (head scans) that plane is reported as not found and its label is not produced.
Manual planes (``arch_plane_mm``, ``skull_base_mm``, world z in mm) override either landmark.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nnunetv2_cta.conversion.common import ConversionSummary, RawDatasetWriter
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError
from nnunetv2_cta.io import Geometry, read_image
from nnunetv2_cta.labels import AORTA, BONE, CAROTID, INTRACRANIAL

logger = logging.getLogger(__name__)


@dataclass
class RegionLandmarks:
    """Planes used for one split (world z, mm) and how each was obtained."""

    arch_top_mm: float | None = None
    arch_plane_mm: float | None = None
    skull_base_mm: float | None = None
    method: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def world_z_of(index_zyx: np.ndarray, geometry: Geometry) -> np.ndarray:
    """World z (mm) of voxel indices ``(N, 3)`` in ``[z, y, x]`` order."""
    d = np.asarray(geometry.direction).reshape(3, 3)
    sx = np.asarray(geometry.spacing[::-1])
    idx_xyz = np.asarray(index_zyx, dtype=np.float64)[:, ::-1] * sx
    return idx_xyz @ d[2] + geometry.origin[2]


def find_arch_top(
    vessels: np.ndarray, geometry: Geometry, *, aorta_min_radius_mm: float = 8.0
) -> float | None:
    """World z (mm) of the roof of the aortic arch lumen, or ``None`` if no aorta-calibre vessel is found.

    Args:
        vessels: ``[z, y, x]`` boolean vessel mask.
        geometry: its grid.
        aorta_min_radius_mm: depth (inscribed-ball radius) a voxel needs to count as aortic core.
    """
    import cc3d
    import edt

    if aorta_min_radius_mm <= 0:
        raise ConfigurationError(f"aorta_min_radius_mm must be > 0, got {aorta_min_radius_mm!r}")
    if not vessels.any():
        return None
    nz = np.argwhere(vessels)
    # crop with one voxel of background where the crop is inside the volume; where it reaches the volume
    # border the vessel is cut by the field of view and continues (black_border=False)
    lo, hi = np.maximum(nz.min(0) - 1, 0), np.minimum(nz.max(0) + 2, vessels.shape)
    crop = np.ascontiguousarray(vessels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], dtype=np.uint8)
    depth = edt.edt(crop, anisotropy=tuple(geometry.spacing), black_border=False)
    depth[~np.isfinite(depth)] = 0.0  # a crop filled along every axis has no background to measure from
    core = depth >= aorta_min_radius_mm
    if not core.any():
        return None
    cc, n = cc3d.connected_components(core, connectivity=26, return_N=True)
    zs_all = world_z_of(nz, geometry)
    mid = 0.5 * (zs_all.min() + zs_all.max())
    best, best_size = None, 0
    for label in range(1, n + 1):
        idx = np.argwhere(cc == label)
        z = world_z_of(idx + lo, geometry)
        if z.min() > mid or len(idx) <= best_size:
            continue
        best, best_size = (idx, z), len(idx)
    if best is None:
        return None
    idx, z = best
    return float(np.max(z + depth[idx[:, 0], idx[:, 1], idx[:, 2]]))


def find_skull_base(
    bone: np.ndarray,
    geometry: Geometry,
    *,
    min_cranial_area_cm2: float = 20.0,
    close_mm: float = 2.0,
) -> float | None:
    """World z (mm) of the lowest slice of the cranium (foramen-magnum level), or ``None``.

    Args:
        bone: ``[z, y, x]`` boolean bone mask; array axis 0 must be roughly the head-foot axis.
        min_cranial_area_cm2: area enclosed by bone (not bone itself) for a slice to count as cranium.
        close_mm: radius of the 2D closing that seals foramina and sutures before filling.

    Raises:
        GeometryError: array axis 0 is not within 45 degrees of the world z axis.
    """
    from scipy import ndimage

    d = np.asarray(geometry.direction).reshape(3, 3)
    if abs(d[2, 2]) < np.cos(np.radians(45)):
        raise GeometryError(
            f"skull-base detection needs axial slices (array axis 0 along world z), got direction {geometry.direction}"
        )
    _sz, sy, sx = geometry.spacing
    radius = (max(1, round(close_mm / sy)), max(1, round(close_mm / sx)))
    yy, xx = np.ogrid[-radius[0] : radius[0] + 1, -radius[1] : radius[1] + 1]
    disk = (yy / radius[0]) ** 2 + (xx / radius[1]) ** 2 <= 1.0
    pixel_cm2 = sy * sx / 100.0
    cranial = np.zeros(bone.shape[0], dtype=bool)
    for k in range(bone.shape[0]):
        sl = bone[k]
        if sl.sum() * pixel_cm2 < 1.0:
            continue
        closed = ndimage.binary_closing(np.pad(sl, max(radius)), structure=disk)
        closed = closed[max(radius) : -max(radius), max(radius) : -max(radius)]
        enclosed = ndimage.binary_fill_holes(closed) & ~closed
        cranial[k] = enclosed.sum() * pixel_cm2 >= min_cranial_area_cm2
    if not cranial.any():
        return None
    # longest run of consecutive cranial slices
    best_start, best_len, start = 0, 0, None
    for k, c in enumerate([*cranial.tolist(), False]):
        if c and start is None:
            start = k
        elif not c and start is not None:
            if k - start > best_len:
                best_start, best_len = start, k - start
            start = None
    ks = np.array([best_start, best_start + best_len - 1])
    cy, cx = (bone.shape[1] - 1) / 2, (bone.shape[2] - 1) / 2
    z = world_z_of(np.array([[k, cy, cx] for k in ks]), geometry)
    return float(z.min())


def split_regions(
    vessels: np.ndarray,
    geometry: Geometry,
    *,
    image: np.ndarray | None = None,
    bone: np.ndarray | None = None,
    arch_plane_mm: float | None = None,
    skull_base_mm: float | None = None,
    arch_margin_mm: float = 5.0,
    aorta_min_radius_mm: float = 8.0,
    bone_hu: float = 300.0,
    min_cranial_area_cm2: float = 20.0,
) -> tuple[np.ndarray, RegionLandmarks]:
    """Split ``vessels`` into aorta / carotid / intracranial (see module docstring for the method).

    Args:
        vessels: ``[z, y, x]`` boolean vessel mask.
        geometry: grid of every array passed.
        image: CT in HU on the same grid; used for the skull base when ``bone`` is not given.
        bone: bone mask on the same grid; written as label 1 (vessels take precedence).
        arch_plane_mm / skull_base_mm: manual planes (world z, mm), override the automatic landmarks.
        arch_margin_mm: how far above the arch roof the aorta label reaches (trunk origins).
        aorta_min_radius_mm: inscribed-ball radius that only the aorta reaches.
        bone_hu: bone threshold when the bone comes from ``image``.
        min_cranial_area_cm2: see :func:`find_skull_base`.

    Returns:
        ``(labels uint8 [z, y, x], landmarks)``.

    Raises:
        GeometryError: the skull-base plane is not above the arch plane, or arrays differ in shape.
    """
    vessels = np.asarray(vessels).astype(bool)
    for what, arr in (("image", image), ("bone", bone)):
        if arr is not None and arr.shape != vessels.shape:
            raise GeometryError(f"{what} shape {arr.shape} != vessel mask shape {vessels.shape}")
    marks = RegionLandmarks()
    if arch_plane_mm is not None:
        marks.arch_plane_mm, marks.method["arch"] = float(arch_plane_mm), "manual"
    else:
        top = find_arch_top(vessels, geometry, aorta_min_radius_mm=aorta_min_radius_mm)
        if top is None:
            marks.method["arch"] = (
                f"not found: no vessel of radius >= {aorta_min_radius_mm} mm in the lower half"
            )
        else:
            marks.arch_top_mm, marks.arch_plane_mm = top, top + arch_margin_mm
            marks.method["arch"] = (
                f"auto: arch roof from EDT core >= {aorta_min_radius_mm} mm, + {arch_margin_mm} mm"
            )
    if skull_base_mm is not None:
        marks.skull_base_mm, marks.method["skull_base"] = float(skull_base_mm), "manual"
    else:
        bone_mask = None
        if bone is not None:
            bone_mask, source = np.asarray(bone).astype(bool), "bone label"
        elif image is not None:
            from scipy import ndimage

            bone_mask = (image >= bone_hu) & ~ndimage.binary_dilation(vessels)
            source = f"HU >= {bone_hu}"
        if bone_mask is None:
            marks.method["skull_base"] = "not found: neither bone label nor image given"
        else:
            sb = find_skull_base(bone_mask, geometry, min_cranial_area_cm2=min_cranial_area_cm2)
            if sb is None:
                marks.method["skull_base"] = (
                    f"not found: no slice encloses >= {min_cranial_area_cm2} cm² ({source})"
                )
            else:
                marks.skull_base_mm = sb
                marks.method["skull_base"] = f"auto: lowest cranial-ring slice ({source})"
    if marks.arch_plane_mm is not None and marks.skull_base_mm is not None:
        if marks.skull_base_mm <= marks.arch_plane_mm:
            raise GeometryError(
                f"skull-base plane z={marks.skull_base_mm:.1f} mm must lie above the arch plane "
                f"z={marks.arch_plane_mm:.1f} mm"
            )
    labels = np.zeros(vessels.shape, dtype=np.uint8)
    if bone is not None:
        labels[np.asarray(bone).astype(bool)] = BONE
    idx = np.argwhere(vessels)
    z = world_z_of(idx, geometry)
    value = np.full(len(idx), CAROTID, dtype=np.uint8)
    if marks.arch_plane_mm is not None:
        value[z <= marks.arch_plane_mm] = AORTA
    if marks.skull_base_mm is not None:
        value[z >= marks.skull_base_mm] = INTRACRANIAL
    labels[idx[:, 0], idx[:, 1], idx[:, 2]] = value
    for key in ("arch", "skull_base"):
        logger.info("%s plane: %s", key, marks.method.get(key))
    return labels, marks


def convert_split_regions(
    images_dir: str | os.PathLike,
    masks_dir: str | os.PathLike,
    *,
    dataset_id: int,
    name: str,
    output: str | os.PathLike | None = None,
    vessel_values: list[int] | None = None,
    bone_value: int | None = None,
    arch_plane_mm: float | None = None,
    skull_base_mm: float | None = None,
    arch_margin_mm: float = 5.0,
    aorta_min_radius_mm: float = 8.0,
    regions: bool = True,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = False,
) -> ConversionSummary:
    """Images + vessel masks -> ``DatasetXXX_<name>`` with our region labels (planes per case in dataset.json).

    Args:
        vessel_values: mask values that are vessels (default: every non-zero value except ``bone_value``).
        bone_value: mask value that is bone (written as label 1), if any.
        regions: declare the overlapping vessel region in dataset.json (default on: split labels are made
            for region-based training).
        Other arguments: see :func:`split_regions`.
    """
    from nnunetv2_cta.conversion.nifti_pairs import pair_files

    pairs = pair_files(images_dir, masks_dir)
    with RawDatasetWriter(
        dataset_id,
        name,
        output=output,
        overwrite=overwrite,
        regions=regions,
        description="vessel masks split into aorta/carotid/intracranial by nnunetv2_cta convert split-regions",
        extra={
            "cta_source": {
                "converter": "split-regions",
                "arch_margin_mm": arch_margin_mm,
                "aorta_min_radius_mm": aorta_min_radius_mm,
            }
        },
        strict=strict,
    ) as writer:

        def convert(case: str, item: tuple[Path, Path | None]) -> None:
            image_path, mask_path = item
            if mask_path is None:
                writer.skip(case, "no vessel mask with the same case name")
                return
            image, geometry = read_image(image_path)
            mask, mask_geometry = read_image(mask_path)
            diff = geometry.mismatch(mask_geometry)
            if mask.shape != image.shape or diff:
                raise GeometryError(
                    f"vessel mask grid differs from the image: {diff or (mask.shape, image.shape)}"
                )
            values = [int(v) for v in np.unique(mask) if v]
            vv = vessel_values if vessel_values is not None else [v for v in values if v != bone_value]
            if not vv or not np.isin(mask, vv).any():
                raise DatasetFormatError(f"vessel mask holds no vessel voxel (values present: {values})")
            bone = (mask == bone_value) if bone_value is not None else None
            labels, marks = split_regions(
                np.isin(mask, vv),
                geometry,
                image=image,
                bone=bone,
                arch_plane_mm=arch_plane_mm,
                skull_base_mm=skull_base_mm,
                arch_margin_mm=arch_margin_mm,
                aorta_min_radius_mm=aorta_min_radius_mm,
            )
            writer.add_case(case, image, geometry, labels, note={"landmarks": marks.as_dict()})

        writer.run_cases(((case, (img, m)) for case, img, m in pairs), convert, progress=progress)
        return writer.finish()
