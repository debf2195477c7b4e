"""Cut the arteries that cross a region border into two segments that meet with flat ends on the border.

Borders: the horizontal plane ``z_ao`` (aorta | carotid) and ``z_sb`` (carotid | intracranial at the skull
base); see the :mod:`nnunetv2_cta.phantom.anatomy` docstring.
"""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.labels import AORTA, CAROTID, INTRACRANIAL
from nnunetv2_cta.phantom.anatomy.parts import Segment


def split_one(seg: Segment, z_plane: float, names: tuple[str, str], labels: tuple[int, int]) -> list[Segment]:
    """Cut ``seg`` where its centreline first crosses height ``z_plane`` (mm) going up.

    Returns:
        ``[lower, upper]`` named and labelled ``names`` / ``labels`` (both hold the interpolated crossing
        point, flat-ended there), or ``[seg]`` renamed to the side it lies on when it does not cross.
    """
    z = seg.points[:, 2]
    above = np.flatnonzero((z[:-1] < z_plane) & (z[1:] >= z_plane))
    if len(above) == 0:
        seg.name, seg.label = (names[1], labels[1]) if z[0] >= z_plane else (names[0], labels[0])
        return [seg]
    i = int(above[0])
    t = (z_plane - z[i]) / (z[i + 1] - z[i])
    p = seg.points[i] + t * (seg.points[i + 1] - seg.points[i])

    def interp(arr):
        return arr[i] + t * (arr[i + 1] - arr[i])

    ins = {
        "points": np.vstack([seg.points[: i + 1], p[None]]),
        "radii": np.r_[seg.radii[: i + 1], interp(seg.radii)],
        "outer": np.r_[seg.outer[: i + 1], interp(seg.outer)],
        "contrast": np.r_[seg.contrast[: i + 1], interp(seg.contrast)],
        "patho": np.r_[seg.patho[: i + 1], seg.patho[i]],
    }
    lower = seg.sliced(slice(0, i + 1), name=names[0], label=labels[0], flat_end=True, connects_to=[])
    for k, v in ins.items():
        setattr(lower, k, v)
    lower.pathology = seg.pathology if lower.patho.any() else None
    upper = seg.sliced(
        slice(i + 1, None),
        name=names[1],
        label=labels[1],
        flat_start=True,
        parent=names[0],
        parent_index=len(lower.points) - 1,
        generation=seg.generation,
    )
    upper.points = np.vstack([p[None], upper.points])
    upper.radii = np.r_[interp(seg.radii), upper.radii]
    upper.outer = np.r_[interp(seg.outer), upper.outer]
    upper.contrast = np.r_[interp(seg.contrast), upper.contrast]
    upper.patho = np.r_[seg.patho[i], upper.patho]
    upper.pathology = seg.pathology if upper.patho.any() else None
    upper.info["split_from"] = seg.name
    lower.info["split_from"] = seg.name
    upper.info["split_index"] = i + 1
    return [lower, upper]


def split_regions(segments: list[Segment], *, z_ao: float, z_sb: float) -> list[Segment]:
    """Split arteries at the aorta and skull-base planes and re-point children to the right half."""
    rules = {
        "BCT": (z_ao, ("BCT_origin", "BCT"), (AORTA, CAROTID)),
        "L_CCA": (z_ao, ("L_CCA_origin", "L_CCA"), (AORTA, CAROTID)),
        "L_SUB": (z_ao, ("L_SUB_origin", "L_SUB"), (AORTA, CAROTID)),
        "R_ICA": (z_sb, ("R_ICA_cervical", "R_ICA_intracranial"), (CAROTID, INTRACRANIAL)),
        "L_ICA": (z_sb, ("L_ICA_cervical", "L_ICA_intracranial"), (CAROTID, INTRACRANIAL)),
        "R_VA": (z_sb, ("R_VA_extracranial", "R_VA_V4"), (CAROTID, INTRACRANIAL)),
        "L_VA": (z_sb, ("L_VA_extracranial", "L_VA_V4"), (CAROTID, INTRACRANIAL)),
    }
    out: list[Segment] = []
    halves: dict[str, list[Segment]] = {}
    for seg in segments:
        if seg.kind == "artery" and seg.name in rules:
            if seg.name == "L_VA" and seg.parent == "aorta":
                first = split_one(seg, z_ao, ("L_VA_origin", "L_VA"), (AORTA, CAROTID))
                parts = first[:-1] + split_one(first[-1], *rules["L_VA"])
            else:
                parts = split_one(seg, *rules[seg.name])
            halves[seg.name] = parts
            out += parts
        else:
            out.append(seg)
    for seg in out:
        if seg.parent in halves and seg.info.get("split_from") != seg.parent:
            # re-point the child to the half that holds its branch point
            best = min(
                halves[seg.parent],
                key=lambda part: np.min(np.linalg.norm(part.points - seg.points[0], axis=1)),
            )
            seg.parent = best.name
            seg.parent_index = int(np.argmin(np.linalg.norm(best.points - seg.points[0], axis=1)))
    # BA starts at the vertebral confluence: its parent is the right V4, it also joins the left V4
    for seg in out:
        if seg.name == "L_VA_V4":
            seg.connects_to = ["BA"]
    return out
