"""Soft-tissue context of the anatomy: the body outline, the airway and sinuses, fat sheaths around the
neck vessels, thyroid lobes and lung apices (all as world-mm shapes the renderers fill with HU)."""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.labels import CAROTID
from nnunetv2_cta.phantom.anatomy.builder import Patient
from nnunetv2_cta.phantom.anatomy.parts import Finding, Segment


def body_outline(pt: Patient) -> dict[str, np.ndarray]:
    """Neck and shoulder outline and the airway centreline.

    Returns:
        ``z`` (mm) with the outline's semi-axes ``ax``/``ay`` and centre ``cy`` at those heights, the face
        ellipsoid (``face_center``, ``face_semi``) and the airway polyline ``airway`` with radii ``airway_r``.
    """
    z_arch, z_bif, z_sb = pt.z_arch, pt.z_bif, pt.z_sb
    return {
        "z": np.array([-10.0, 55.0, 85.0, z_sb - 40, z_sb + 12]),
        "ax": np.array([160.0, 150.0, 62.0, 56.0, 56.0]),
        "ay": np.array([105.0, 98.0, 60.0, 56.0, 56.0]),
        "cy": np.array([8.0, 8.0, 10.0, 14.0, 16.0]),
        "face_center": np.array([0.0, -38.0, z_sb - 12.0]),
        "face_semi": np.array([50.0, 48.0, 58.0]),
        "airway": np.array(
            [
                [0, -8, z_arch + 22],
                [0, -14, z_bif - 15],
                [0, -4, z_bif + 20],
                [0, 2, z_sb - 20],
                [0, -4, z_sb - 10],
                [0, -30, z_sb - 8],
                [0, -55, z_sb - 4],
            ],
            float,
        ),
        "airway_r": np.array([8.0, 9.0, 7.0, 7.0, 7.0, 6.0, 6.0]),
    }


def soft_organs(segments: list[Segment], levels: dict) -> list[Finding]:
    """Fat sheaths around the neck vessels, thyroid lobes and lung apices (soft-tissue context)."""
    out = []
    z_sb, z_ao, z_bif = levels["skull_base_mm"], levels["aorta_top_mm"], levels["bifurcation_mm"]
    for s in segments:
        base = s.name.split("_")[1] if "_" in s.name else s.name
        if base in ("CCA", "ICA", "ECA", "IJV") and s.label in (0, CAROTID):
            sel = (s.points[:, 2] > z_ao + 15) & (s.points[:, 2] < z_sb - 5)
            if sel.sum() > 3:
                out.append(Finding("fat", s.points[sel], np.maximum(s.outer[sel], s.radii[sel]) + 2.5))
    for sg in (-1.0, 1.0):
        out.append(
            Finding(
                "thyroid",
                np.array([[sg * 16, -20, z_bif - 48], [sg * 17, -19, z_bif - 22]]),
                np.array([7.0, 6.0]),
            )
        )
        out.append(
            Finding("lung", np.array([[sg * 62, 12, -30.0], [sg * 58, 12, z_ao - 6]]), np.array([30.0, 27.0]))
        )
    return out


def air_cavities(body: dict, z_sb: float) -> list[Finding]:
    """Air-filled tubes: the airway (from :func:`body_outline`), both maxillary sinuses, the sphenoid sinus."""
    out = [Finding("air", body["airway"], body["airway_r"])]
    for sg in (-1.0, 1.0):
        out.append(
            Finding(
                "air", np.array([[sg * 27, -46, z_sb - 22], [sg * 27, -44, z_sb - 8]]), np.array([10.0, 10.0])
            )
        )
    out.append(Finding("air", np.array([[0, -14, z_sb + 13], [0, -14, z_sb + 17]]), np.array([4.0, 4.0])))
    return out
