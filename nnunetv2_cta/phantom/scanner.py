"""What the scanner adds to an anatomy: the voxel grid of a scan, the HU values and noise drawn per case,
and the finishing of an image (PSF blur, correlated noise, metal and photon-starvation streaks, int16).

Shared by :func:`~nnunetv2_cta.phantom.modalities.render_case` (phantom anatomies) and
:func:`~nnunetv2_cta.phantom.real_geometry.render_from_vessel_mask` (real vessel masks), so both get the
same physics.
"""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.errors import GeometryError, SpacingError
from nnunetv2_cta.phantom import shapes as G
from nnunetv2_cta.phantom.anatomy import Anatomy
from nnunetv2_cta.phantom.presets import CTA_FOV_ANCHOR, DSA_FOV_CENTER, get_preset

#: largest grid :func:`grid_for` accepts (voxels).
MAX_VOXELS = 1_200_000_000
#: smallest number of voxels per axis :func:`grid_for` accepts.
MIN_VOXELS_PER_AXIS = 16


def grid_for(anatomy: Anatomy, modality: str, spacing: float | None, fov) -> G.Grid:
    """The voxel grid of a scan of ``anatomy``: isotropic ``spacing`` mm (default: the preset's, DSA its
    own) over the field of view ``fov`` (mm, ``(z, y, x)``; default the preset's), placed at
    :data:`CTA_FOV_ANCHOR` (CTA/NCCT: neck to vertex) or centred on :data:`DSA_FOV_CENTER` (DSA: head).

    Raises:
        SpacingError: spacing not a positive finite number. GeometryError: a bad field of view, or one
            giving fewer than :data:`MIN_VOXELS_PER_AXIS` voxels on an axis or more than :data:`MAX_VOXELS`.
    """
    pre = get_preset(anatomy.preset)
    s = (pre.dsa_spacing if modality == "dsa" else pre.spacing) if spacing is None else spacing
    if (
        isinstance(s, bool)
        or not isinstance(s, (int, float, np.floating, np.integer))
        or not np.isfinite(s)
        or s <= 0
    ):
        raise SpacingError(f"spacing must be a positive number of mm, got {spacing!r}")
    s = float(s)
    box = (pre.dsa_fov if modality == "dsa" else pre.fov) if fov is None else tuple(fov)
    if len(box) != 3 or not all(
        isinstance(v, (int, float, np.floating, np.integer)) and np.isfinite(v) and v > 0 for v in box
    ):
        raise GeometryError(f"field of view must be three positive sizes in mm (z, y, x), got {fov!r}")
    shape = tuple(round(float(v) / s) for v in box)
    if min(shape) < MIN_VOXELS_PER_AXIS:
        raise GeometryError(
            f"impossible field of view: {tuple(box)} mm at spacing {s} mm gives {shape} voxels; "
            f"each axis needs at least {MIN_VOXELS_PER_AXIS}"
        )
    if int(np.prod(shape, dtype=np.int64)) > MAX_VOXELS:
        raise GeometryError(
            f"impossible field of view: {tuple(box)} mm at spacing {s} mm gives {shape} voxels (> {MAX_VOXELS:,})"
        )
    nz, ny, nx = shape
    if modality == "dsa":
        c = DSA_FOV_CENTER
        origin = (c[0] - (nx - 1) * s / 2, c[1] - (ny - 1) * s / 2, c[2] - (nz - 1) * s / 2)
    else:
        c = CTA_FOV_ANCHOR
        origin = (c[0] - (nx - 1) * s / 2, c[1] - (ny - 1) * s / 2, c[2] + s / 2)
    return G.Grid(origin=tuple(round(o, 6) for o in origin), spacing=(s, s, s), shape=shape)


def draw_scan_params(
    modality: str, rng: np.random.Generator, spacing: float, late_phase: bool | None
) -> dict:
    """HU values, noise level (HU, scaled for ``spacing`` mm), PSF and contrast phase of one scan, drawn from
    ``rng`` in a fixed order (the module docstring of :mod:`~nnunetv2_cta.phantom.modalities` lists the
    ranges). ``late_phase`` (CTA only): ``None`` draws it (20 %). Floats are rounded to 3 decimals."""
    p: dict = {}
    p["soft"] = rng.uniform(40, 60)
    p["fat"] = rng.uniform(-110, -80)
    p["brain"] = rng.uniform(30, 35)
    p["csf"] = rng.uniform(2, 12)
    p["blood"] = rng.uniform(40, 55)
    p["air"] = -1000.0
    p["calc"] = rng.uniform(600, 1300)
    p["metal"] = 3071.0
    p["cancellous"] = rng.uniform(200, 400)
    p["cortical"] = rng.uniform(700, 1800)
    p["tooth"] = rng.uniform(1800, 2600)
    p["plaque"] = rng.uniform(25, 60)
    p["thyroid"] = rng.uniform(90, 110)  # iodine-rich gland: bright even without contrast
    noise_scale = (0.7 / spacing) ** 0.75
    if modality == "cta":
        p["artery"] = rng.uniform(250, 550)
        p["thyroid"] = rng.uniform(120, 180)
        late = bool(rng.uniform() < 0.2) if late_phase is None else bool(late_phase)
        p["late_phase"] = late
        p["vein"] = p["artery"] * rng.uniform(0.85, 1.0) if late else rng.uniform(100, 250)
        p["noise"] = float(np.clip(rng.uniform(10, 22) * noise_scale, 4, 40))
        p["psf_mm"] = 0.5
    elif modality == "ncct":
        p["artery"] = p["blood"]
        p["vein"] = p["blood"]
        p["late_phase"] = False
        p["noise"] = float(np.clip(rng.uniform(3, 6) * noise_scale, 2.5, 30))
        p["psf_mm"] = 0.6
    else:  # dsa: iodine injected into the arteries, veins not yet filled
        p["artery"] = rng.uniform(1800, 3200)
        p["vein"] = p["blood"] = rng.uniform(20, 60)
        p["late_phase"] = False
        p["soft"] = rng.uniform(0, 60)
        p["brain"] = p["soft"] + rng.uniform(-5, 5)
        p["fat"] = p["soft"] - rng.uniform(20, 60)
        p["csf"] = p["soft"] - rng.uniform(0, 15)
        p["cancellous"] = rng.uniform(400, 700)
        p["cortical"] = rng.uniform(1000, 1800)
        p["cupping"] = rng.uniform(40, 120)
        p["thyroid"] = p["soft"] + 20.0
        p["noise"] = float(np.clip(rng.uniform(25, 50) * (0.46 / spacing) ** 0.75, 8, 80))
        p["psf_mm"] = 0.4
    p["fade"] = rng.uniform(0.0, 0.25)
    return {k: (round(float(v), 3) if isinstance(v, (float, np.floating)) else v) for k, v in p.items()}


def metal_streaks(
    grid: G.Grid, centers: list[tuple[np.ndarray, float]], rng: np.random.Generator
) -> list[tuple[np.ndarray, float, np.ndarray, np.ndarray]]:
    """Streak parameters around metal: for each ``(centre mm, radius mm)`` 6-11 lines at random angles with
    random signed amplitudes (HU, larger for larger objects); consumed by :func:`apply_streaks`."""
    out = []
    for c, r in centers:
        k = int(rng.integers(6, 12))
        out.append(
            (
                c,
                r,
                rng.uniform(0, np.pi, k),
                rng.choice([-1.0, 1.0], k) * rng.uniform(150, 500, k) * min(r / 2.0, 2.0),
            )
        )
    return out


def apply_streaks(block: np.ndarray, grid: G.Grid, z0: int, streaks) -> None:
    """Add streaks to ``block`` (slices ``z0 ..`` of ``grid``) in place: per streak, lines through the centre
    in the axial plane, Gaussian across (``width`` mm), fading with distance and with height from the
    centre. A streak tuple is ``(centre, radius, angles, amplitudes[, width_mm[, hole_mm]])``."""
    if not streaks:
        return
    X, Y, Z = grid.coords((slice(z0, z0 + block.shape[0]), slice(0, grid.shape[1]), slice(0, grid.shape[2])))
    for st in streaks:
        c, r, angles, amps = st[:4]
        width = st[4] if len(st) > 4 else 1.2  # mm, across the streak
        hole = st[5] if len(st) > 5 else r  # no streak inside the object itself
        wz = np.exp(-(((Z - c[2]) / max(r, grid.spacing[0])) ** 2))
        if wz.max() < 1e-3:
            continue
        dx, dy = X - np.float32(c[0]), Y - np.float32(c[1])
        dist = np.sqrt(dx * dx + dy * dy)
        pat = np.zeros(np.broadcast_shapes(dx.shape, dy.shape), np.float32)
        for ang, amp in zip(angles, amps):
            perp = np.abs(dx * np.sin(ang) - dy * np.cos(ang))
            pat += np.float32(amp) * np.exp(-0.5 * (perp / width) ** 2) / (1.0 + dist / 40.0)
        pat[dist < hole] = 0
        block += wz * pat


def noise_factor(sigmas: tuple[float, float, float]) -> float:
    """Standard deviation of unit white noise after scipy's Gaussian filter with these sigmas (voxels)."""
    total = 1.0
    for sg in sigmas:
        if sg <= 0:
            continue
        radius = int(3.0 * sg + 0.5)
        x = np.arange(-radius, radius + 1)
        w = np.exp(-0.5 * (x / sg) ** 2)
        w /= w.sum()
        total *= float(np.sum(w * w))
    return float(np.sqrt(total))


def finish_image(
    img: np.ndarray,
    grid: G.Grid,
    p: dict,
    seed_key: list[int],
    streaks,
    *,
    noise_corr_mm: tuple[float, float, float] = (0.5, 0.6, 0.6),
    cupping: float = 0.0,
    slab: int = 32,
) -> np.ndarray:
    """PSF blur, correlated noise (one RNG per slice, so slabs join without seams), streaks -> int16.

    White noise is added first and one Gaussian (sigma per axis: the larger of the PSF and the noise
    correlation length, in voxels) blurs both; the noise is scaled so its standard deviation after the
    filter is ``p["noise"]`` HU.
    """
    from scipy.ndimage import gaussian_filter

    s = grid.spacing[0]
    psf = p["psf_mm"] / s
    psf_sig = (psf, psf, psf) if psf >= 0.2 else (0.0, 0.0, 0.0)
    sig = tuple(max(a, b / s) for a, b in zip(psf_sig, noise_corr_mm))
    sig = sig if max(sig) >= 0.25 else (0.0, 0.0, 0.0)  # coarse grids: white noise, no blur
    halo = int(np.ceil(3 * max(sig))) + 1
    nz, ny, nx = grid.shape
    out = np.empty(grid.shape, np.int16)
    norm = noise_factor(sig)
    if cupping:
        _, Yc, Xc = grid.coords((slice(0, 1), slice(0, ny), slice(0, nx)))
        cx, cy = grid.origin[0] + (nx - 1) * s / 2, grid.origin[1] + (ny - 1) * s / 2
        rr = ((Xc - cx) ** 2 + (Yc - cy) ** 2) / (0.5 * min(nx, ny) * s) ** 2
        cup = (-cupping * np.clip(1.0 - rr, 0, 1)).astype(np.float32)[0]
    for z0 in range(0, nz, slab):
        z1 = min(z0 + slab, nz)
        a, e = max(z0 - halo, 0), min(z1 + halo, nz)
        # white noise added before one Gaussian filter: the PSF blurs the anatomy and correlates the noise
        noise = np.stack(
            [
                np.random.default_rng([*seed_key, k]).standard_normal((ny, nx), dtype=np.float32)
                for k in range(a, e)
            ]
        )
        block = img[a:e] + noise * np.float32(p["noise"] / norm)
        if max(sig) > 0:
            block = gaussian_filter(block, sig, mode="nearest", truncate=3.0)
        core = block[z0 - a : z1 - a]
        if cupping:
            core = core + cup * (core > -500)
        apply_streaks(core, grid, z0, streaks)
        out[z0:z1] = np.clip(np.rint(core), -1024, 3071).astype(np.int16)
    return out
