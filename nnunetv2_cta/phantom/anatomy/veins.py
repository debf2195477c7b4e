"""Veins (label 0, background): internal jugulars, dural sinuses, cavernous sinuses and cortical veins.

They are in the anatomy so the image holds what a network must learn to leave out: in a late-phase CTA
the veins are as bright as the arteries.
"""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.phantom import shapes as G
from nnunetv2_cta.phantom.anatomy.builder import SIDES, Patient, SegmentBuilder, grow_tree
from nnunetv2_cta.phantom.presets import Preset

#: cortical-vein segments grown per root, by preset name (other names: ``"train"``'s).
MAX_CORTICAL_VEIN_SEGMENTS: dict[str, int] = {"tiny": 1, "train": 5, "clinical": 9}


def add_dural_veins(b: SegmentBuilder, pt: Patient) -> None:
    """Jugular veins into the transverse/sigmoid sinuses (inside the skull table), superior sagittal and
    straight sinus from the torcula, and a cavernous sinus beside each carotid siphon."""
    z_sb, brain_c, inner_a = pt.z_sb, pt.brain_c, pt.inner_a
    for side, sg in SIDES:
        riv = b.rng.uniform(5.0, 7.0) * (1.1 if sg == pt.dominant else 0.9)
        b.add(
            f"{side}_IJV",
            [
                (sg * 40, 8, -8),
                (sg * 38, 6, 60),
                (sg * 37, 5, 110),
                (sg * 36, 4, z_sb - 20),
                (sg * 36, 8, z_sb - 6),
                (sg * 35, 18, z_sb + 2),
            ],
            [riv, riv, riv, 0.85 * riv, 0.75 * riv, 4.5],
            kind="vein",
            tort=0.5,
        )
        sig = [b.segments[f"{side}_IJV"].points[-1], (sg * 41, 30, z_sb + 8)]
        for d in ((sg * 0.75, 0.55, -0.35), (sg * 0.5, 0.85, -0.25), (sg * 0.22, 1.0, -0.2)):
            sig.append(G.ellipsoid_point(brain_c, inner_a, d, -1.5 - 4.0))
        sig.append(G.ellipsoid_point(brain_c, inner_a, (0.0, 1.0, -0.15), -1.5 - 4.5))
        b.add(f"{side}_TS", sig, [4.5, 4.3, 4.0, 4.0, 4.2, 4.5], kind="vein")
    torcula = b.segments["R_TS"].points[-1]
    sss = [torcula]
    for ang in np.linspace(-0.1, np.pi * 0.93, 9)[1:]:
        d = (0.0, np.cos(ang), np.sin(ang) + 0.05)
        r_here = 4.0 - 1.5 * ang / np.pi
        sss.append(G.ellipsoid_point(brain_c, inner_a, d, -(r_here + 1.0)))
    b.add("SSS", sss, np.linspace(4.5, 2.5, len(sss)), kind="vein")
    b.add("StS", [torcula, (0, 50, z_sb + 58), (0, 30, z_sb + 52)], [3.0, 2.6, 2.4], kind="vein")
    for side, sg in SIDES:
        ica = b.segments[f"{side}_ICA"]
        sel = (ica.points[:, 2] > z_sb + 9) & (ica.points[:, 2] < z_sb + 23) & (ica.points[:, 1] < -5)
        idx = np.flatnonzero(sel)
        if len(idx) > 3:
            ctrl = ica.points[idx[:: max(len(idx) // 4, 1)]]
            b.add(f"{side}_CS", ctrl + np.array([sg * 1.0, 0, 0]), [4.2] * len(ctrl), kind="vein")


def add_cortical_veins(b: SegmentBuilder, pt: Patient, preset: Preset) -> None:
    """Small random venous trees draining into the superior sagittal sinus, four per side, above the
    Circle of Willis (unlabelled; as bright as arteries in a late phase)."""
    rng = b.rng
    sss_seg = b.segments["SSS"]
    for k, frac in enumerate((0.3, 0.45, 0.6, 0.75)):
        for side, sg in SIDES:
            start = sss_seg.points[int(frac * (len(sss_seg.points) - 1))]
            direc = (sg * 1.0, rng.uniform(-0.4, 0.4), -0.6)

            def vein_allowed(q: np.ndarray, r: float, sg: float = sg) -> bool:
                return pt.inside_brain(q, 0.5 + r) and sg * q[0] > 1.0 + r and q[2] > pt.z_cow

            grow_tree(
                b,
                "SSS",
                f"{side}_CV{k}",
                start + np.array([sg * 3.0, 0.0, -3.0]),
                direc,
                rng.uniform(1.1, 1.7),
                allowed=vein_allowed,
                outward=pt.outward,
                min_radius=max(preset.min_radius, 0.6),
                max_segments=MAX_CORTICAL_VEIN_SEGMENTS.get(preset.name, 5),
                others=None,
                system="veins",
                kind="vein",
            )
