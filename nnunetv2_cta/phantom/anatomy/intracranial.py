"""The intracranial arterial tree: Circle of Willis with its variants, then random distal trees that
creep along the brain surface (MCA, ACA, PCA and SCA territories)."""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.labels import INTRACRANIAL
from nnunetv2_cta.phantom.anatomy.builder import SIDES, Patient, SegmentBuilder, grow_tree
from nnunetv2_cta.phantom.anatomy.vertebrobasilar import basilar_tip
from nnunetv2_cta.phantom.presets import Preset

#: distal-tree segments grown per root, by preset name (other names: ``"train"``'s).
MAX_DISTAL_SEGMENTS: dict[str, int] = {"tiny": 3, "train": 60, "clinical": 160}


def add_circle_of_willis(b: SegmentBuilder, pt: Patient) -> None:
    """M1, A1, ACom, A2, PCom, P1, P2 and SCA on both sides, honouring the variants in ``pt.variants``."""
    a1_x = 3.5 if "no_acom" in pt.variants else 2.2
    for side, sg in SIDES:
        _add_m1_a1(b, pt, side, sg, a1_x)
    if "no_acom" not in pt.variants:
        _add_acom(b, pt, a1_x)
    for side, sg in SIDES:
        _add_a2(b, pt, side, sg, a1_x)
        _add_posterior(b, pt, side, sg)


def _add_m1_a1(b: SegmentBuilder, pt: Patient, side: str, sg: float, a1_x: float) -> None:
    rs, z_cow = pt.rs, pt.z_cow
    term = b.segments[f"{side}_ICA"].points[-1]
    b.add(
        f"{side}_M1",
        [term, (sg * 25, -6, z_cow + 1), (sg * 38, -5, z_cow + 3), (sg * 46, -2, z_cow + 6)],
        [1.6 * rs, 1.5 * rs, 1.4 * rs, 1.3 * rs],
        parent=f"{side}_ICA",
        label=INTRACRANIAL,
        system=f"{side}c",
        tort=0.4 * pt.tort,
    )
    if f"no_{side.lower()}_a1" not in pt.variants:
        b.add(
            f"{side}_A1",
            [term, (sg * 8, -12, z_cow + 2), (sg * a1_x, -18, z_cow + 4)],
            [1.15 * rs, 1.05 * rs, 1.0 * rs],
            parent=f"{side}_ICA",
            label=INTRACRANIAL,
            system=f"{side}c",
        )


def _add_acom(b: SegmentBuilder, pt: Patient, a1_x: float) -> None:
    """Anterior communicating artery, from the right A1 to the left one (or off the only A1 there is)."""
    if "no_r_a1" in pt.variants:
        acom_par, acom_other = "L_A1", None
    elif "no_l_a1" in pt.variants:
        acom_par, acom_other = "R_A1", None
    else:
        acom_par, acom_other = "R_A1", "L_A1"
    z_cow = pt.z_cow
    b.add(
        "ACom",
        [(-a1_x, -18, z_cow + 4), (0, -18.5, z_cow + 4), (a1_x, -18, z_cow + 4)],
        [0.8 * pt.rs, 0.75 * pt.rs, 0.8 * pt.rs],
        parent=acom_par,
        label=INTRACRANIAL,
        system="c",
    )
    if acom_par == "L_A1":
        acom = b.segments["ACom"]
        acom.points, acom.radii = acom.points[::-1].copy(), acom.radii[::-1].copy()
        acom.outer, acom.contrast, acom.patho = (
            acom.outer[::-1].copy(),
            acom.contrast.copy(),
            acom.patho.copy(),
        )
    if acom_other:
        b.segments["ACom"].connects_to = [acom_other]


def _add_a2(b: SegmentBuilder, pt: Patient, side: str, sg: float, a1_x: float) -> None:
    z_cow = pt.z_cow
    if f"no_{side.lower()}_a1" in pt.variants:
        parent, start = "ACom", (sg * a1_x, -18, z_cow + 4)
    else:
        parent, start = f"{side}_A1", b.segments[f"{side}_A1"].points[-1]
    b.add(
        f"{side}_A2",
        [
            start,
            (sg * 3.5, -26, z_cow + 15),
            (sg * 4.5, -30, z_cow + 30),
            (sg * 4.5, -22, z_cow + 48),
            (sg * 4.5, 0, z_cow + 58),
            (sg * 4.5, 25, z_cow + 56),
            (sg * 4.5, 45, z_cow + 45),
        ],
        np.array([1.0, 1.0, 0.95, 0.9, 0.85, 0.8, 0.7]) * pt.rs,
        parent=parent,
        label=INTRACRANIAL,
        system=f"{side}c",
        tort=0.3 * pt.tort,
    )


def _add_posterior(b: SegmentBuilder, pt: Patient, side: str, sg: float) -> None:
    """PCom, P1 and P2 (a fetal PCA hangs off the PCom, without P1) and the superior cerebellar artery."""
    s, rs, z_cow = side.lower(), pt.rs, pt.z_cow
    junction = np.array([sg * 11.0, 10.0, z_cow - 2.0])
    fetal = f"fetal_{s}_pca" in pt.variants
    if f"no_{s}_pcom" not in pt.variants:
        pstart = b.point_near(f"{side}_ICA", (sg * 14, -8, z_cow - 2), zmin=pt.z_sb + 20)
        rp = (1.3 if fetal else 0.7) * rs
        b.add(
            f"{side}_PCom",
            [pstart, (sg * 13.5, 0, z_cow - 2.5), junction],
            [rp, rp, rp],
            parent=f"{side}_ICA",
            label=INTRACRANIAL,
            system=f"{side}c",
        )
    if not fetal:
        b.add(
            f"{side}_P1",
            [basilar_tip(pt), (sg * 6, 5, z_cow - 3), junction],
            [1.2 * rs, 1.15 * rs, 1.1 * rs],
            parent="BA",
            label=INTRACRANIAL,
            system="vb",
        )
        if f"no_{s}_pcom" not in pt.variants:
            b.segments[f"{side}_PCom"].connects_to = [f"{side}_P1"]
    b.add(
        f"{side}_P2",
        [
            junction,
            (sg * 20, 22, z_cow),
            (sg * 24, 40, z_cow + 4),
            (sg * 18, 60, z_cow + 8),
            (sg * 12, 75, z_cow + 12),
        ],
        np.array([1.1, 1.05, 1.0, 0.9, 0.8]) * rs,
        parent=f"{side}_PCom" if fetal else f"{side}_P1",
        label=INTRACRANIAL,
        system=f"{side}c" if fetal else "vb",
        tort=1.2 * pt.tort,
    )
    b.add(
        f"{side}_SCA",
        [
            b.point_near("BA", (0, 2.5, z_cow - 6)),
            (sg * 8, 8, z_cow - 7),
            (sg * 18, 22, z_cow - 7),
            (sg * 22, 40, z_cow - 10),
        ],
        [0.8 * rs, 0.75 * rs, 0.7 * rs, 0.65 * rs],
        parent="BA",
        label=INTRACRANIAL,
        system="vb",
        tort=0.4 * pt.tort,
    )


def _distal_roots(b: SegmentBuilder, pt: Patient) -> list[tuple]:
    """Where the distal trees start: ``(parent, prefix, start, direction, radius / rs, system, cerebellar)``."""
    roots: list[tuple] = []
    for side, sg in SIDES:
        m1 = b.segments[f"{side}_M1"]
        roots += [
            (f"{side}_M1", f"{side}_MCAsup", m1.points[-1], (sg * 0.4, -0.3, 1.0), 1.05, f"{side}c", False),
            (f"{side}_M1", f"{side}_MCAinf", m1.points[-1], (sg * 0.6, 0.5, 0.2), 0.95, f"{side}c", False),
        ]
        a2 = b.segments[f"{side}_A2"]
        roots += [
            (f"{side}_A2", f"{side}_ACAd", a2.points[-1], (sg * 0.4, 0.6, -0.4), 0.7, f"{side}c", False),
            (
                f"{side}_A2",
                f"{side}_FPA",
                b.point_near(f"{side}_A2", (0, -28, pt.z_cow + 25)),
                (sg * 0.3, -1.0, 0.3),
                0.55,
                f"{side}c",
                False,
            ),
            (
                f"{side}_A2",
                f"{side}_CMA",
                b.point_near(f"{side}_A2", (0, -24, pt.z_cow + 45)),
                (sg * 0.4, -0.3, 1.0),
                0.65,
                f"{side}c",
                False,
            ),
        ]
        p2 = b.segments[f"{side}_P2"]
        roots.append(
            (f"{side}_P2", f"{side}_PCAd", p2.points[-1], (sg * 0.2, 1.0, 0.2), 0.75, p2.system, False)
        )
        sca = b.segments[f"{side}_SCA"]
        roots.append((f"{side}_SCA", f"{side}_SCAd", sca.points[-1], (sg * 0.5, 1.0, -0.3), 0.6, "vb", True))
    return roots


def _territory(pt: Patient, sg: float, cerebellar: bool):
    """Where a distal branch of radius ``r`` may run: inside the brain, on its own side, above the cranial
    floor (cerebral) or under the tentorium behind the brainstem (cerebellar)."""
    floor_sup = pt.z_sb + 10.0

    def allowed(q: np.ndarray, r: float) -> bool:
        if not pt.inside_brain(q, 3.0 + r) or sg * q[0] < 2.5 + r:
            return False
        if cerebellar:
            return pt.z_sb + 4 < q[2] < pt.z_cow - 8 and q[1] > 12
        if q[2] < floor_sup or (q[1] > 18 and q[2] < pt.z_cow + 2):
            return False
        return True

    return allowed


def add_distal_trees(b: SegmentBuilder, pt: Patient, preset: Preset) -> None:
    """Grow a random tree from each root down to ``preset.min_radius``; a tree keeps 6 mm away from the
    intracranial arteries of every other vascular system, so territories do not touch in the labels."""
    max_seg = MAX_DISTAL_SEGMENTS.get(preset.name, 60)
    for parent, prefix, start, direc, r0, system, cereb in _distal_roots(b, pt):
        sg = -1.0 if prefix.startswith("R_") else 1.0
        others = [
            s.points
            for s in b.segments.values()
            if s.kind == "artery" and s.system and s.system != system and s.label == INTRACRANIAL
        ]
        others_a = np.concatenate(others) if others else None
        grow_tree(
            b,
            parent,
            prefix,
            start,
            direc,
            r0 * pt.rs,
            allowed=_territory(pt, sg, cereb),
            outward=pt.outward,
            min_radius=preset.min_radius,
            max_segments=max_seg,
            others=others_a,
            system=system,
        )
