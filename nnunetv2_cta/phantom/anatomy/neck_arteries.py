"""Aortic arch, supra-aortic trunks, carotid bifurcations, internal carotids and external carotid branches.

The internal carotid is built whole here, from the bifurcation to its terminus at the Circle of Willis
(the region split later cuts it at the skull base); external carotid branches stay ``carotid``.
"""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.labels import AORTA
from nnunetv2_cta.phantom import shapes as G
from nnunetv2_cta.phantom.anatomy.builder import SIDES, Patient, SegmentBuilder


def arch_origin(b: SegmentBuilder, pt: Patient, x: float) -> np.ndarray:
    """The point on top of the aortic arch (within 8 mm of ``z_arch``) nearest world ``x`` (mm)."""
    arch = b.segments["aorta"]
    top = arch.points[:, 2] > pt.z_arch - 8
    d = np.abs(arch.points[:, 0] - x)
    d[~top] = np.inf
    return arch.points[int(np.argmin(d))].copy()


def add_arch_and_trunks(b: SegmentBuilder, pt: Patient) -> float:
    """Aorta, brachiocephalic trunk, both subclavians and common carotids.

    Returns:
        ``z_ao``, the aorta | carotid border: 1.5 mm above the highest point of the arch lumen.
    """
    rs, tort, z_bif = pt.rs, pt.tort, pt.z_bif
    ra = 13.5 * rs
    b.add(
        "aorta",
        [
            (-14, -26, -8),
            (-14, -25, 22),
            (-5, -11, pt.z_arch),
            (8, 9, pt.z_arch - 3),
            (20, 26, 24),
            (22, 30, -8),
        ],
        [ra, ra, ra * 0.92, ra * 0.88, ra * 0.85, ra * 0.85],
        label=AORTA,
        step=2.0,
        jitter=1.0,
    )
    arch = b.segments["aorta"]
    z_ao = float(np.max(arch.points[:, 2] + arch.radii)) + 1.5
    b.add(
        "BCT",
        [arch_origin(b, pt, -10), (-15, -16, z_ao + 6), (-18, -13, z_ao + 20)],
        [6.5 * rs, 6.3 * rs, 6.0 * rs],
        parent="aorta",
    )
    bct_end = b.segments["BCT"].points[-1]
    b.add(
        "R_SUB",
        [bct_end, (-30, -8, z_ao + 25), (-52, -2, z_ao + 26), (-78, 2, z_ao + 20), (-118, 8, z_ao + 10)],
        [4.6 * rs, 4.4 * rs, 4.2 * rs, 4.0 * rs, 4.0 * rs],
        parent="BCT",
        tort=tort,
    )
    b.add(
        "R_CCA",
        [bct_end, (-22, -9, z_ao + 40), (-27, -5, z_bif - 20), (-28, -4, z_bif)],
        [3.8 * rs, 3.6 * rs, 3.5 * rs, 3.5 * rs],
        parent="BCT",
        tort=tort,
        jitter=1.0,
    )
    b.add(
        "L_CCA",
        [
            arch_origin(b, pt, 2),
            (5, -12, z_ao + 10),
            (19, -9, z_ao + 45),
            (27, -5, z_bif - 20),
            (28, -4, z_bif),
        ],
        [3.8 * rs, 3.7 * rs, 3.6 * rs, 3.5 * rs, 3.5 * rs],
        parent="aorta",
        tort=tort,
        jitter=1.0,
    )
    b.add(
        "L_SUB",
        [
            arch_origin(b, pt, 11),
            (16, 8, z_ao + 8),
            (27, 6, z_ao + 20),
            (48, 2, z_ao + 26),
            (78, 4, z_ao + 20),
            (118, 8, z_ao + 10),
        ],
        [4.8 * rs, 4.6 * rs, 4.4 * rs, 4.2 * rs, 4.0 * rs, 4.0 * rs],
        parent="aorta",
        tort=tort,
    )
    return z_ao


def add_carotids(b: SegmentBuilder, pt: Patient) -> None:
    """Per side (right first): the internal carotid with its siphon, then the external carotid tree."""
    for side, sg in SIDES:
        _add_ica(b, pt, side, sg)
        _add_eca(b, pt, side, sg)
        _add_eca_branches(b, pt, side, sg)


def _add_ica(b: SegmentBuilder, pt: Patient, side: str, sg: float) -> None:
    z_bif, z_sb = pt.z_bif, pt.z_sb
    bif = b.segments[f"{side}_CCA"].points[-1]
    ctrl = [
        bif,
        (sg * 29, -6, z_bif + 6),
        (sg * 30, -4, z_bif + 20),
        (sg * 30, -2, z_sb - 25),
        (sg * 28, 2, z_sb - 9),
        (sg * 26, 6, z_sb - 2),
        (sg * 25, 6, z_sb + 3),
        (sg * 20, -3, z_sb + 4.5),
        (sg * 17, -8, z_sb + 7),
        (sg * 16, -10, z_sb + 12),
        (sg * 16, -17, z_sb + 17),
        (sg * 15, -18, z_sb + 22),
        (sg * 14, -11, z_sb + 25),
        (sg * 14, -5, pt.z_cow),
    ]
    rad = np.array([3.5, 4.2, 3.0, 2.8, 2.7, 2.6, 2.5, 2.4, 2.3, 2.3, 2.2, 2.1, 2.1, 2.0]) * pt.rs
    b.add(f"{side}_ICA", ctrl, rad, parent=f"{side}_CCA", tort=0.0, step=0.6, system=f"{side}c")


def _add_eca(b: SegmentBuilder, pt: Patient, side: str, sg: float) -> None:
    """External carotid, superficial temporal (on the skull surface) and superior thyroid arteries."""
    z_bif, z_sb, rs, tort = pt.z_bif, pt.z_sb, pt.rs, pt.tort
    bif = b.segments[f"{side}_CCA"].points[-1]
    eca = b.add(
        f"{side}_ECA",
        [
            bif,
            (sg * 25, -13, z_bif + 8),
            (sg * 29, -15, z_bif + 22),
            (sg * 36, -11, z_sb - 20),
            (sg * 44, -6, z_sb - 8),
        ],
        np.array([2.6, 2.4, 2.2, 2.0, 1.8]) * rs,
        parent=f"{side}_CCA",
        tort=0.6 * tort,
    )
    p = eca.points
    sta = [p[-1], (sg * 58, 0, z_sb + 2)]
    for dz, dy in ((15, 0), (35, -4), (58, -8)):
        d = np.array([sg * 1.0, (dy - 12) / 70.0, (z_sb + dz - pt.brain_c[2]) / 70.0])
        sta.append(G.ellipsoid_point(pt.brain_c, pt.outer_a, d, 3.5))
    b.add(f"{side}_STA", sta, np.array([1.7, 1.5, 1.3, 1.1, 0.9]) * rs, parent=f"{side}_ECA", tort=tort)
    b.add(
        f"{side}_STHA",
        [
            b.point_near(f"{side}_ECA", (sg * 25, -13, z_bif + 4)),
            (sg * 20, -22, z_bif - 5),
            (sg * 15, -24, z_bif - 25),
        ],
        [1.1 * rs, 0.95 * rs, 0.8 * rs],
        parent=f"{side}_ECA",
        tort=tort,
    )


def _add_eca_branches(b: SegmentBuilder, pt: Patient, side: str, sg: float) -> None:
    """Lingual, facial, occipital (on the skull surface) and maxillary arteries."""
    z_bif, z_sb, rs, tort = pt.z_bif, pt.z_sb, pt.rs, pt.tort
    b.add(
        f"{side}_LING",
        [
            b.point_near(f"{side}_ECA", (sg * 27, -14, z_bif + 14)),
            (sg * 18, -27, z_bif + 16),
            (sg * 10, -45, z_bif + 22),
        ],
        [1.2 * rs, 1.0 * rs, 0.9 * rs],
        parent=f"{side}_ECA",
        tort=tort,
    )
    b.add(
        f"{side}_FAC",
        [
            b.point_near(f"{side}_ECA", (sg * 29, -15, z_bif + 22)),
            (sg * 36, -30, z_sb - 65),
            (sg * 45, -46, z_sb - 60),
            (sg * 38, -64, z_sb - 40),
            (sg * 28, -72, z_sb - 18),
        ],
        np.array([1.3, 1.2, 1.1, 0.95, 0.8]) * rs,
        parent=f"{side}_ECA",
        tort=tort,
    )
    occ = [
        b.point_near(f"{side}_ECA", (sg * 33, -12, z_sb - 30)),
        (sg * 40, 4, z_sb - 24),
        (sg * 44, 30, z_sb - 12),
    ]
    for dz in (5, 30):
        d = np.array([sg * 0.45, 1.0, (z_sb + dz - pt.brain_c[2]) / 80.0])
        occ.append(G.ellipsoid_point(pt.brain_c, pt.outer_a, d, 3.5))
    b.add(f"{side}_OCC", occ, np.array([1.3, 1.2, 1.1, 1.0, 0.8]) * rs, parent=f"{side}_ECA", tort=tort)
    b.add(
        f"{side}_MAX",
        [
            b.point_near(f"{side}_ECA", (sg * 42, -7, z_sb - 10)),
            (sg * 34, -20, z_sb - 12),
            (sg * 24, -36, z_sb - 14),
        ],
        [1.3 * rs, 1.1 * rs, 0.9 * rs],
        parent=f"{side}_ECA",
        tort=tort,
    )
