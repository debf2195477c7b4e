"""Size presets of the phantom: voxel spacing, field of view and how fine the distal trees are grown.

| preset | CTA / NCCT grid | 3D-DSA grid | thinnest artery grown |
|---|---|---|---|
| ``tiny`` | 3.0 mm, 110x64x64 (330x192x192 mm) | 2.5 mm, 68^3 (170 mm) | 0.9 mm radius |
| ``train`` | 1.25 mm, 264x160x160 (330x200x200 mm) | 1.0 mm, 170^3 | 0.35 mm radius |
| ``clinical`` | 0.5 mm, 700x512x512 (350x256x256 mm) | 0.46 mm, 435^3 (200 mm) | 0.2 mm radius |

Fields of view are given in mm in array order ``(z, y, x)``; the CTA/NCCT box runs from the bottom of the
aortic arch (world z = 0) to above the vertex, the DSA box is the head only.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnunetv2_cta.errors import ConfigurationError


@dataclass(frozen=True)
class Preset:
    """Grid and detail of one phantom size.

    Attributes:
        name: preset name.
        spacing: isotropic CTA/NCCT voxel size in mm.
        fov: CTA/NCCT field of view in mm, ``(z, y, x)``.
        dsa_spacing: isotropic 3D-DSA voxel size in mm.
        dsa_fov: 3D-DSA field of view in mm, ``(z, y, x)``.
        min_radius: radius in mm at which the random distal trees stop branching.
    """

    name: str
    spacing: float
    fov: tuple[float, float, float]
    dsa_spacing: float
    dsa_fov: tuple[float, float, float]
    min_radius: float


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tiny", 3.0, (330.0, 192.0, 192.0), 2.5, (170.0, 170.0, 170.0), 0.9),
        Preset("train", 1.25, (330.0, 200.0, 200.0), 1.0, (170.0, 170.0, 170.0), 0.35),
        Preset("clinical", 0.5, (350.0, 256.0, 256.0), 0.46, (200.0, 200.0, 200.0), 0.2),
    )
}

#: world position (mm, ITK x, y, z) of the centre of the CTA field of view in x/y and of its bottom in z.
CTA_FOV_ANCHOR: tuple[float, float, float] = (0.0, 5.0, 0.0)
#: world position (mm) of the centre of the 3D-DSA field of view (the head).
DSA_FOV_CENTER: tuple[float, float, float] = (0.0, 8.0, 232.0)


def get_preset(name: str) -> Preset:
    """Look a preset up by name; raises :class:`ConfigurationError` naming the valid ones."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"preset must be one of {sorted(PRESETS)}, got {name!r}") from None
