"""Vertebral arteries (through the transverse foramina C6-C1, over the atlas, into the foramen magnum) and
the basilar artery from their confluence to its tip."""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.labels import INTRACRANIAL
from nnunetv2_cta.phantom.anatomy.builder import SIDES, Patient, SegmentBuilder
from nnunetv2_cta.phantom.anatomy.neck_arteries import arch_origin


def basilar_tip(pt: Patient) -> np.ndarray:
    """World position (mm) of the basilar tip, where both posterior cerebral arteries start."""
    return np.array([0.0, 2.0, pt.z_cow - 3.0])


def add_vertebrobasilar(b: SegmentBuilder, pt: Patient, z_ao: float) -> None:
    """Both vertebral arteries (the dominant one wider) and the basilar artery.

    The left vertebral leaves the arch directly with the ``va_from_aorta`` variant, else each one leaves
    its subclavian. The basilar is the right vertebral's child and the left one ``connects_to`` it.
    """
    z_sb, rs, vert_z = pt.z_sb, pt.rs, pt.vert_z
    conf = np.array([0.0, 8.0, z_sb + 16.0])
    for side, sg in SIDES:
        rva = (2.0 if sg == pt.dominant else 1.6) * rs
        if side == "L" and "va_from_aorta" in pt.variants:
            start, parent = arch_origin(b, pt, 6), "aorta"
            first = [(8, 4, z_ao + 12)]
        else:
            start, parent = b.point_near(f"{side}_SUB", (sg * 34, 2, z_ao + 25)), f"{side}_SUB"
            first = [(sg * 33, 5, z_ao + 38)]
        c6, c1 = vert_z["C6"], vert_z["C1"]
        ctrl = [
            start,
            *first,
            (sg * 27, 10, c6 - 8),
            (sg * 24, 12, c6),
            (sg * 23.5, 12, vert_z["C4"]),
            (sg * 24, 12, vert_z["C2"]),
            (sg * 27, 12, c1 - 4),
            (sg * 28, 14, c1 + 1),
            (sg * 28, 25, c1),
            (sg * 18, 30, c1 + 1.5),
            (sg * 10, 25, z_sb - 4),
            (sg * 6, 17, z_sb + 4),
            (sg * 2.5, 11, z_sb + 11),
            conf,
        ]
        rad = [rva] * (len(ctrl) - 1) + [rva * 0.9]
        b.add(f"{side}_VA", ctrl, rad, parent=parent, tort=0.3 * pt.tort, step=0.8)
    b.add(
        "BA",
        [conf, (0, 5, z_sb + 22), basilar_tip(pt)],
        [1.8 * rs, 1.7 * rs, 1.6 * rs],
        parent="R_VA",
        label=INTRACRANIAL,
        system="vb",
    )
    b.segments["BA"].connects_to = []
    b.segments["L_VA"].connects_to = ["BA"]
