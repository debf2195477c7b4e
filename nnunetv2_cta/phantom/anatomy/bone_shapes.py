"""Bones as signed distance functions: skull vault and base, vertebrae C1-T4, mandible, maxilla, teeth,
hyoid, clavicles and manubrium.

Each bone is a :class:`~nnunetv2_cta.phantom.anatomy.parts.BoneObject` whose ``sdf(X, Y, Z)`` (mm,
negative inside) works on the broadcastable float32 coordinate vectors of :class:`shapes.Grid`. Canals and
foramina are carved around the vessels that pass through a bone's box (``carve``), so the internal
carotid, the vertebrals and the sinuses keep their lumen inside bone.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import numpy as np

from nnunetv2_cta.phantom import shapes as G
from nnunetv2_cta.phantom.anatomy.parts import BoneObject, Segment

#: vertebrae whose transverse processes form a foramen (ring) around the vertebral artery.
FORAMEN_LEVELS: tuple[str, ...] = ("C1", "C2", "C3", "C4", "C5", "C6")


def make_bones(
    segments: list[Segment], *, levels: dict, head: dict, vert_z: dict[str, float]
) -> list[BoneObject]:
    """All bones of one anatomy, from its split segments (for the canals), levels and head ellipsoids."""
    z_sb = levels["skull_base_mm"]
    bones = [_skull_vault(head, z_sb), _skull_base(segments, head, z_sb)]
    bones += _vertebrae(segments, vert_z)
    bones += _face_bones(z_sb)
    bones += _neck_and_chest_bones(levels)
    return bones


def _union(parts: Iterable[np.ndarray]) -> np.ndarray:
    it = iter(parts)
    out = next(it)
    for p in it:
        out = np.minimum(out, p)
    return out


def _pieces_near(
    segments: list[Segment], lo: np.ndarray, hi: np.ndarray, gap: float, kinds=("artery", "vein")
):
    """Vessel tubes (points, radii + gap) with any part inside the world box, for carving canals."""
    out = []
    for s in segments:
        if s.kind not in kinds:
            continue
        g = gap if s.kind == "artery" else 0.6
        r = np.maximum(s.outer, s.radii) + g
        inside = np.all((s.points >= lo - r[:, None]) & (s.points <= hi + r[:, None]), axis=1)
        if not inside.any():
            continue
        idx = np.flatnonzero(inside)
        a, e = max(idx.min() - 1, 0), min(idx.max() + 2, len(s.points))
        out.append((s.points[a:e], r[a:e]))
    return out


# ----------------------------------------------------------------------------------------------------------
# skull


def _vault_sdf(X, Y, Z, *, bc, inner_a, outer_a, z_sb):
    shell = np.maximum(G.sd_ellipsoid(X, Y, Z, bc, outer_a), -G.sd_ellipsoid(X, Y, Z, bc, inner_a))
    return np.maximum(shell, np.float32(z_sb - 6.0) - Z)


def _skull_vault(head: dict, z_sb: float) -> BoneObject:
    """The shell between the inner and outer skull table, above 6 mm below the skull base."""
    bc, inner_a, outer_a = head["brain_center"], head["skull_inner"], head["skull_outer"]
    lo = bc - outer_a - 1
    lo[2] = z_sb - 8
    sdf = partial(_vault_sdf, bc=bc, inner_a=inner_a, outer_a=outer_a, z_sb=z_sb)
    return BoneObject("skull_vault", lo, bc + outer_a + 1, sdf, "bone", cortical_mm=1.8)


def _base_sdf(X, Y, Z, *, bc, outer_a, z_sb):
    # cranial floor: a 4 mm plate (anterior/middle fossa top at z_sb + 8, posterior fossa at z_sb + 1)
    ant = np.maximum(np.abs(Z - np.float32(z_sb + 6.0)) - np.float32(2.0), Y - np.float32(14.0))
    post = np.maximum(np.abs(Z - np.float32(z_sb - 1.0)) - np.float32(2.0), np.float32(14.0) - Y)
    plate = np.maximum(np.minimum(ant, post), G.sd_ellipsoid(X, Y, Z, bc, outer_a))
    fm = G.sd_zcylinder(X, Y, Z, (0.0, 24.0), (15.0, 16.0), z_sb - 20, z_sb + 20)
    plate = np.maximum(plate, -fm)
    parts = [plate]
    for sg in (-1.0, 1.0):
        # petrous ridge, then the anterior clinoid process
        parts.append(
            G.sd_tube(
                X, Y, Z, np.array([[sg * 50, 22, z_sb + 2], [sg * 18, -6, z_sb + 6.5]]), np.array([8.0, 5.5])
            )
        )
        parts.append(
            G.sd_tube(
                X,
                Y,
                Z,
                np.array([[sg * 18, -21, z_sb + 23], [sg * 18, -21, z_sb + 23.1]]),
                np.array([2.6, 2.6]),
            )
        )
    parts.append(G.sd_tube(X, Y, Z, np.array([[0, -7, z_sb + 24], [0, 10, z_sb + 1]]), np.array([5.0, 5.0])))
    parts.append(G.sd_box(X, Y, Z, (0.0, -14.0, z_sb + 15.0), (13.2, 9.0, 6.0)))  # sphenoid body
    return _union(parts)


def _skull_base(segments: list[Segment], head: dict, z_sb: float) -> BoneObject:
    """Cranial floor with the foramen magnum, petrous ridges, clinoids, clivus and sphenoid ("dense")."""
    bc, outer_a = head["brain_center"], head["skull_outer"]
    lo_b = np.array([-outer_a[0] - 2, -40.0, z_sb - 8])
    hi_b = np.array([outer_a[0] + 2, bc[1] + outer_a[1] + 2, z_sb + 30])
    return BoneObject(
        "skull_base",
        lo_b,
        hi_b,
        partial(_base_sdf, bc=bc, outer_a=outer_a, z_sb=z_sb),
        "dense",
        cortical_mm=2.5,
        carve=_pieces_near(segments, lo_b, hi_b, 0.2),
    )


# ----------------------------------------------------------------------------------------------------------
# spine


def _vertebra_sdf(X, Y, Z, *, zc, name, ring, vpos):
    h = 5.5 if name != "C1" else 4.0
    parts = []
    if name != "C1":
        thoracic = name[0] != "C"
        parts.append(
            G.sd_zcylinder(
                X, Y, Z, (0.0, 20.0), (13.0 if thoracic else 10.0, 10.0 if thoracic else 8.0), zc - h, zc + h
            )
        )
    else:  # the atlas has no body: its anterior arch
        parts.append(
            G.sd_tube(X, Y, Z, np.array([[-9, 10, zc], [0, 8, zc], [9, 10, zc]]), np.array([3.0, 3.0, 3.0]))
        )
    if name == "C2":  # the dens
        parts.append(G.sd_zcylinder(X, Y, Z, (0.0, 18.0), (5.0, 5.0), zc, zc + 18))
    arch = np.maximum(
        G.sd_zcylinder(X, Y, Z, (0.0, 37.0), (13.0, 12.0), zc - 4, zc + 4),
        -G.sd_zcylinder(X, Y, Z, (0.0, 36.0), (8.5, 8.5), zc - 10, zc + 10),
    )
    arch = np.maximum(arch, np.float32(28.0) - Y)
    parts.append(arch)
    parts.append(G.sd_box(X, Y, Z, (0.0, 55.0, zc - 2), (2.5, 8.0, 3.0)))  # spinous process
    for sg in (-1.0, 1.0):
        p, rv = vpos[sg]
        if ring:  # transverse foramen around the vertebral artery, joined to the body and the arch
            ring_sd = np.maximum(
                G.sd_zcylinder(X, Y, Z, (p[0], p[1]), (rv + 3.4, rv + 3.4), zc - 3.5, zc + 3.5),
                -G.sd_zcylinder(X, Y, Z, (p[0], p[1]), (rv + 0.2, rv + 0.2), zc - 9, zc + 9),
            )
            parts.append(ring_sd)
            parts.append(
                G.sd_tube(
                    X,
                    Y,
                    Z,
                    np.array([[sg * 8, 22, zc], [p[0] - sg * (rv + 1.5), p[1], zc]]),
                    np.array([2.8, 2.8]),
                )
            )
            parts.append(
                G.sd_tube(
                    X, Y, Z, np.array([[p[0], p[1] + rv + 1.5, zc], [sg * 11, 32, zc]]), np.array([2.5, 2.5])
                )
            )
        else:
            parts.append(
                G.sd_tube(X, Y, Z, np.array([[sg * 8, 22, zc], [sg * 30, 20, zc + 1]]), np.array([3.0, 3.0]))
            )
    return _union(parts)


def _vertebrae(segments: list[Segment], vert_z: dict[str, float]) -> list[BoneObject]:
    """Body, neural arch, spinous and transverse processes per vertebra; C1-C6 with foramina fitted to
    the vertebral artery where it passes that level."""
    va = {
        sg: next(
            s
            for s in segments
            if s.name.startswith("R_VA" if sg < 0 else "L_VA") and "extracranial" in s.name
        )
        for sg in (-1.0, 1.0)
    }
    bones = []
    for name, zc in vert_z.items():
        vpos = {}
        for sg, seg in va.items():
            k = int(np.argmin(np.abs(seg.points[:, 2] - zc)))
            vpos[sg] = (seg.points[k], float(seg.radii[k]))
        sdf = partial(_vertebra_sdf, zc=zc, name=name, ring=name in FORAMEN_LEVELS, vpos=vpos)
        lo_v = np.array([-36.0, 5.0, zc - 7])
        hi_v = np.array([36.0, 64.0, zc + (20 if name == "C2" else 7)])
        bones.append(
            BoneObject(
                f"vertebra_{name}",
                lo_v,
                hi_v,
                sdf,
                "bone",
                cortical_mm=1.0,
                carve=_pieces_near(segments, lo_v, hi_v, 0.2),
            )
        )
    return bones


# ----------------------------------------------------------------------------------------------------------
# face, neck and chest


def _tube_sdf(X, Y, Z, *, points, radii):
    return G.sd_tube(X, Y, Z, points, radii)


def _maxilla_sdf(X, Y, Z, *, points, z0):
    return np.minimum(
        G.sd_tube(X, Y, Z, points, np.full(11, 5.5)), G.sd_box(X, Y, Z, (0, -44, z0 - 33), (18, 16, 2.0))
    )


def _teeth_sdf(X, Y, Z, *, teeth):
    return _union(G.sd_tube(X, Y, Z, t, np.array([2.6, 2.6])) for t in teeth)


def _box_sdf(X, Y, Z, *, center, half):
    return G.sd_box(X, Y, Z, center, half)


def _face_bones(z0: float) -> list[BoneObject]:
    """Mandible, maxilla with the hard palate, and two rows of ten teeth (heights from the skull base ``z0``)."""
    mand_pts = np.array(
        [
            [-50, 8, z0 - 2],
            [-48, 2, z0 - 25],
            [-46, -8, z0 - 55],
            [-35, -40, z0 - 62],
            [-15, -62, z0 - 64],
            [0, -68, z0 - 64],
            [15, -62, z0 - 64],
            [35, -40, z0 - 62],
            [46, -8, z0 - 55],
            [48, 2, z0 - 25],
            [50, 8, z0 - 2],
        ],
        float,
    )
    mand_r = np.array([4.0, 4.5, 5.5, 6.5, 7.0, 7.0, 7.0, 6.5, 5.5, 4.5, 4.0])
    mand_p, mand_rr = G.smooth_path(mand_pts, mand_r, step=2.0)
    ang = np.linspace(-1.25, 1.25, 11)
    maxilla_pts = np.stack([30 * np.sin(ang), -62 + 26 * (1 - np.cos(ang)), np.full_like(ang, z0 - 36)], 1)
    teeth = []
    for zt in (z0 - 44.0, z0 - 51.0):
        for a in np.linspace(-1.15, 1.15, 10):
            teeth.append(
                np.array(
                    [
                        [28 * np.sin(a), -62 + 24 * (1 - np.cos(a)), zt - 3.5],
                        [28 * np.sin(a), -62 + 24 * (1 - np.cos(a)), zt + 3.5],
                    ]
                )
            )
    allt = np.concatenate(teeth)
    return [
        BoneObject(
            "mandible",
            mand_p.min(0) - 8,
            mand_p.max(0) + 8,
            partial(_tube_sdf, points=mand_p, radii=mand_rr),
            "bone",
            cortical_mm=2.0,
            carve=[],
        ),
        BoneObject(
            "maxilla",
            maxilla_pts.min(0) - 10,
            maxilla_pts.max(0) + 10,
            partial(_maxilla_sdf, points=maxilla_pts, z0=z0),
            "bone",
            cortical_mm=1.5,
        ),
        BoneObject(
            "teeth",
            allt.min(0) - 4,
            allt.max(0) + 4,
            partial(_teeth_sdf, teeth=teeth),
            "tooth",
            cortical_mm=1.0,
        ),
    ]


def _neck_and_chest_bones(levels: dict) -> list[BoneObject]:
    """Hyoid (below the carotid bifurcation), both clavicles and the manubrium (by the aortic arch)."""
    z_bif = levels["bifurcation_mm"]
    hy = np.array(
        [
            [-18, -20, z_bif - 8],
            [-10, -32, z_bif - 10],
            [0, -35, z_bif - 10],
            [10, -32, z_bif - 10],
            [18, -20, z_bif - 8],
        ],
        float,
    )
    bones = [
        BoneObject(
            "hyoid",
            hy.min(0) - 4,
            hy.max(0) + 4,
            partial(_tube_sdf, points=hy, radii=np.full(5, 2.2)),
            "bone",
            cortical_mm=0.8,
        )
    ]
    z_ao = levels["aorta_top_mm"]
    for sg in (-1.0, 1.0):
        cl = np.array(
            [
                [sg * 14, -46, z_ao + 4],
                [sg * 45, -38, z_ao + 10],
                [sg * 80, -24, z_ao + 14],
                [sg * 130, -6, z_ao + 16],
            ],
            float,
        )
        clp, clr = G.smooth_path(cl, [6.5, 6.0, 6.0, 7.0], step=2.0)
        bones.append(
            BoneObject(
                f"clavicle_{'R' if sg < 0 else 'L'}",
                clp.min(0) - 9,
                clp.max(0) + 9,
                partial(_tube_sdf, points=clp, radii=clr),
                "bone",
                cortical_mm=1.5,
                carve=[],
            )
        )
    bones.append(
        BoneObject(
            "manubrium",
            np.array([-24.0, -62, -10]),
            np.array([24.0, -36, z_ao + 8]),
            partial(_box_sdf, center=(0, -50, z_ao - 18), half=(20, 6, 22)),
            "bone",
            cortical_mm=1.2,
        )
    )
    return bones
