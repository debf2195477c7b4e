"""One call that makes every standard reconstruction of a case (the lead's ``predict`` writes the report)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from nnunetv2_cta.reconstruction._common import as_volume, check_same_shape
from nnunetv2_cta.reconstruction.bone import bone_free_ct
from nnunetv2_cta.reconstruction.cpr import render_cpr
from nnunetv2_cta.reconstruction.mip import DEFAULT_WINDOW, MIP_VIEWS, render_mips
from nnunetv2_cta.reconstruction.paths import centerline_paths, path_length_mm
from nnunetv2_cta.reconstruction.vr import render_vr

logger = logging.getLogger(__name__)

CPR_TITLES = {
    "right_carotid": "Right carotid (CCA \u2192 ICA)",
    "left_carotid": "Left carotid (CCA \u2192 ICA)",
    "vertebrobasilar": "Vertebral \u2192 basilar",
}


#: shorter paths get no CPR: a few millimetres of "carotid" in a head crop is a fragment, not an artery to read
MIN_CPR_MM = 20.0


def reconstruct_case(
    ct: np.ndarray,
    labels: np.ndarray,
    geometry,
    out_dir: str | os.PathLike,
    case: str,
    *,
    record: dict | None = None,
    progress: bool = False,
    window: tuple[float, float] = DEFAULT_WINDOW,
    vr_views: tuple[str, ...] = ("anterior", "left"),
) -> dict:
    """Bone-free CTA, its MIPs, a VR of the labelled arteries and CPRs of every path found.

    Args:
        ct: CT ``[z, y, x]`` in HU.
        labels: label map on the same grid (:mod:`nnunetv2_cta.labels`).
        geometry: :class:`nnunetv2_cta.io.Geometry` of both (only its spacing is used here).
        out_dir: folder for the PNGs (``<case>_mip_<view>.png``, ``<case>_vr_<view>.png``,
            ``<case>_cpr_<path>.png``).
        case: case id (file-name prefix and titles).
        record: if given, ``record["timings_s"]`` gets one entry per step (``recon_bone_free``, ...) and
            ``record["paths_mm"]`` the path lengths, ready for :func:`write_report`.
        progress: show a tqdm bar over the steps.
        window: display window (HU) of the MIPs and CPRs.
        vr_views: views of the volume rendering.

    Returns:
        ``{"bone_free": array, "images": {name: Path}, "paths": {name: length_mm}}``; image names are
        ``mip_<view>``, ``vr_<view>``, ``cpr_<path>`` (the captions of :func:`write_report` know them).
    """
    from tqdm import tqdm

    ct = as_volume(ct, "ct")
    labels = as_volume(labels, "labels")
    check_same_shape(ct, labels, "ct", "labels")
    spacing = getattr(geometry, "spacing", geometry)
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    images: dict[str, Path] = {}
    steps = ["bone_free", "mips", "vr", "paths", "cprs"]
    bar = tqdm(total=len(steps), desc=f"reconstructions {case}", disable=not progress, leave=False)

    def done(step: str, t0: float) -> None:
        timings[f"recon_{step}"] = round(time.perf_counter() - t0, 3)
        bar.update(1)

    t0 = time.perf_counter()
    bone_free = bone_free_ct(ct, labels, spacing)
    done("bone_free", t0)
    t0 = time.perf_counter()
    for view, path in render_mips(bone_free, spacing, out_dir, case, window=window, views=MIP_VIEWS).items():
        images[f"mip_{view}"] = path
    done("mips", t0)
    t0 = time.perf_counter()
    for view in vr_views:
        images[f"vr_{view}"] = render_vr(
            labels, spacing, out_dir / f"{case}_vr_{view}.png", view=view, title=case
        )
    done("vr", t0)
    t0 = time.perf_counter()
    paths = centerline_paths(labels, spacing)
    done("paths", t0)
    t0 = time.perf_counter()
    lengths: dict[str, float] = {}
    for name, path_zyx in paths.items():
        lengths[name] = round(path_length_mm(path_zyx, spacing), 1)
        if lengths[name] < MIN_CPR_MM:
            logger.info(
                "%s: %s path is %.1f mm long (< %g mm); no CPR", case, name, lengths[name], MIN_CPR_MM
            )
            continue
        images[f"cpr_{name}"] = render_cpr(
            bone_free,
            path_zyx,
            spacing,
            out_dir / f"{case}_cpr_{name}.png",
            title=f"{case}: {CPR_TITLES.get(name, name)}",
            window=window,
        )
    done("cprs", t0)
    bar.close()
    if record is not None:
        record.setdefault("timings_s", {}).update(timings)
        record["paths_mm"] = lengths
    logger.info("reconstructions of %s: %d images, paths %s, %s", case, len(images), lengths, timings)
    return {"bone_free": bone_free, "images": images, "paths": lengths}
