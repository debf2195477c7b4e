"""Maximum-intensity projections of a phantom case as a PNG, to look at what the generator makes.

Panels: anterior MIP (viewer's left = patient's right, as radiologists read) and lateral MIP (anterior on
the left) of the image; the same MIPs with the bone label (dilated by one voxel) masked out (CTA/NCCT) or
of the subtracted volume (DSA); the label map (bone grey, aorta red, carotid orange, intracranial
yellow); and two axial slices (petrous carotid canal, mid neck) with the vessel label outlined.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nnunetv2_cta.io import atomic_path
from nnunetv2_cta.phantom.modalities import PhantomCase

_WINDOWS = {"cta": (-100.0, 900.0), "ncct": (-20.0, 120.0), "dsa": (-200.0, 2500.0)}
_SLICE_WINDOWS = {"cta": (-100.0, 700.0), "ncct": (0.0, 90.0), "dsa": (-300.0, 2500.0)}
_LABEL_RGB = np.array([[0, 0, 0], [110, 110, 110], [230, 40, 40], [255, 150, 30], [255, 235, 60]], np.uint8)


def _axial_levels(case: PhantomCase) -> list[tuple[int, str]]:
    """Slice indices through the petrous carotid canal and the mid neck (from the graph's borders)."""
    borders = case.graph.get("borders")
    if not borders:
        return []
    out = []
    z0, sz, nz = case.geometry.origin[2], case.geometry.spacing[0], case.image.shape[0]
    for dz, title in ((5.0, "skull base + 5 mm"), (-50.0, "neck, skull base - 50 mm")):
        k = round((float(borders["skull_base_mm"]) + dz - z0) / sz)
        if 0 <= k < nz:
            out.append((k, title))
    return out


def _mip(vol: np.ndarray, axis: int) -> np.ndarray:
    return np.flipud(vol.max(axis=axis))


def _label_mip(labels: np.ndarray, axis: int) -> np.ndarray:
    # vessels drawn over bone: project bone and vessels separately
    vessel = np.where(labels >= 2, labels, 0).max(axis=axis)
    bone = (labels == 1).any(axis=axis)
    out = np.where(vessel > 0, vessel, np.where(bone, 1, 0))
    return np.flipud(_LABEL_RGB[out])


def save_preview_png(
    case: PhantomCase, path: str | os.PathLike, *, window: tuple[float, float] | None = None
) -> Path:
    """Write anterior and lateral MIPs of ``case`` (image and labels) to ``path`` (PNG).

    Args:
        case: a rendered case.
        path: output PNG path (folders are created).
        window: display window in HU ``(low, high)``; default per modality.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lo, hi = window or _WINDOWS.get(case.modality, (-100.0, 700.0))
    rows = [("image", case.image, (lo, hi))]
    if case.subtracted is not None:
        rows.append(("subtracted", case.subtracted, (-100.0, 2000.0)))
    else:  # roughly what a bone removal shows: bone label dilated by one voxel (its partial-volume rim)
        from scipy.ndimage import binary_dilation

        bone = binary_dilation(case.labels == 1, np.ones((3, 3, 3), bool)) & (case.labels < 2)
        rows.append(("bone-masked", np.where(bone, np.int16(-1000), case.image), (lo, 0.8 * hi)))
    slices = _axial_levels(case)
    nrows = len(rows) + 1 + (1 if slices else 0)
    sz, sy, sx = case.geometry.spacing
    fig, axes = plt.subplots(nrows, 2, figsize=(8, 5.2 * nrows), dpi=110, squeeze=False)
    for r, (title, vol, (a, b)) in enumerate(rows):
        for c, (axis, name, aspect) in enumerate(((1, "anterior", sz / sx), (2, "lateral", sz / sy))):
            ax = axes[r, c]
            ax.imshow(_mip(vol, axis), cmap="gray", vmin=a, vmax=b, aspect=aspect, interpolation="nearest")
            ax.set_title(f"{case.modality} {title} MIP, {name}", fontsize=9)
            ax.axis("off")
    lab_row = len(rows)
    for c, (axis, name, aspect) in enumerate(((1, "anterior", sz / sx), (2, "lateral", sz / sy))):
        ax = axes[lab_row, c]
        ax.imshow(_label_mip(case.labels, axis), aspect=aspect, interpolation="nearest")
        ax.set_title(f"labels, {name}", fontsize=9)
        ax.axis("off")
    if slices:
        for c in range(len(slices), 2):
            axes[-1, c].axis("off")
    for c, (k, title) in enumerate(slices):
        ax = axes[-1, c]
        sl_lo, sl_hi = _SLICE_WINDOWS.get(case.modality, (lo, hi))
        ax.imshow(case.image[k], cmap="gray", vmin=sl_lo, vmax=sl_hi, interpolation="nearest")
        vessel = case.labels[k] >= 2
        if vessel.any():
            ax.contour(vessel, levels=[0.5], colors="orange", linewidths=0.6)
        ax.set_title(f"axial {title} (orange: vessel label)", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
