"""Small geometry kernels of the phantom: smooth polylines, signed distances, grid boxes.

All coordinates are world millimetres in ITK order ``(x, y, z)`` (LPS: x to the patient's left, y
posterior, z superior). Signed distances are in mm, negative inside. Grid helpers return broadcastable
coordinate vectors shaped ``(nz, 1, 1)``, ``(1, ny, 1)``, ``(1, 1, nx)`` (float32) so a primitive evaluated
on them yields a ``[z, y, x]`` block without materialising three full coordinate volumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def smooth_path(
    ctrl: Sequence[Sequence[float]],
    ctrl_radii: Sequence[float],
    rng: np.random.Generator | None = None,
    *,
    tortuosity: float = 0.0,
    step: float | None = None,
    jitter: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate control points into a smooth polyline with evenly spaced points.

    A Catmull-Rom-like cubic (scipy ``CubicSpline`` over chord length) runs through the control points;
    ``jitter`` (mm, std) moves the inner control points, ``tortuosity`` (mm) adds two sinusoidal
    sideways waves that vanish at both ends, so a path still starts exactly at ``ctrl[0]`` (a branch
    point on its parent) and ends at ``ctrl[-1]``.

    Returns:
        points ``(n, 3)`` mm and radii ``(n,)`` mm (radii linear in arc length between control points).
    """
    from scipy.interpolate import CubicSpline

    c = np.asarray(ctrl, dtype=np.float64).copy()
    r = np.asarray(ctrl_radii, dtype=np.float64)
    if rng is not None and jitter > 0 and len(c) > 2:
        c[1:-1] += rng.normal(0.0, jitter, size=(len(c) - 2, 3))
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(c, axis=0), axis=1))]
    if len(c) == 2:
        fine_t = np.linspace(0.0, chord[-1], max(int(chord[-1] / 0.2), 2))
        fine = c[0] + (fine_t / chord[-1])[:, None] * (c[1] - c[0])
    else:
        spline = CubicSpline(chord, c, bc_type="natural")
        fine_t = np.linspace(0.0, chord[-1], max(int(chord[-1] / 0.2), 8))
        fine = spline(fine_t)
    fine_r = np.interp(fine_t, chord, r)
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(fine, axis=0), axis=1))]
    length = arc[-1]
    if step is None:
        step = float(np.clip(0.5 * r.min(), 0.3, 2.0))
    n = max(int(np.ceil(length / step)) + 1, 2)
    s = np.linspace(0.0, length, n)
    pts = np.stack([np.interp(s, arc, fine[:, k]) for k in range(3)], axis=1)
    rad = np.interp(s, arc, fine_r)
    if rng is not None and tortuosity > 0 and n > 4:
        tangent = np.gradient(pts, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-9
        ref = np.array([0.0, 0.0, 1.0]) if abs(tangent[0, 2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        n1 = np.cross(tangent, ref)
        n1 /= np.linalg.norm(n1, axis=1, keepdims=True) + 1e-9
        n2 = np.cross(tangent, n1)
        taper = np.sin(np.pi * s / length)
        for normal in (n1, n2):
            wavelength = rng.uniform(15.0, 40.0)
            amp = tortuosity * rng.uniform(0.3, 1.0)
            phase = rng.uniform(0, 2 * np.pi)
            pts += (amp * taper * np.sin(2 * np.pi * s / wavelength + phase))[:, None] * normal
    return pts, rad


def subdivide(points: np.ndarray, radii: np.ndarray, max_step: float) -> tuple[np.ndarray, np.ndarray]:
    """Insert points on the straight pieces so consecutive points are at most ``max_step`` mm apart.

    The geometry (piecewise-linear centreline, linear radius along each piece) is unchanged.
    """
    out_p, out_r = [points[:1]], [radii[:1]]
    for a, b, ra, rb in zip(points[:-1], points[1:], radii[:-1], radii[1:]):
        k = max(int(np.ceil(np.linalg.norm(b - a) / max_step)), 1)
        t = np.arange(1, k + 1) / k
        out_p.append(a + t[:, None] * (b - a))
        out_r.append(ra + t * (rb - ra))
    return np.concatenate(out_p), np.concatenate(out_r)


@dataclass(frozen=True)
class Grid:
    """An axis-aligned voxel grid (identity direction): ``origin`` world (x, y, z) of voxel 0, ``spacing``
    (z, y, x) mm, ``shape`` (z, y, x)."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index slices (z, y, x) of the voxels whose centres lie in the world box ``[lo, hi]`` (x, y, z)."""
        sl = []
        for ax_world, ax_arr in ((2, 0), (1, 1), (0, 2)):
            o, s, n = self.origin[ax_world], self.spacing[ax_arr], self.shape[ax_arr]
            i0 = max(int(np.ceil((lo[ax_world] - o) / s)), 0)
            i1 = min(int(np.floor((hi[ax_world] - o) / s)) + 1, n)
            if i1 <= i0:
                return None
            sl.append(slice(i0, i1))
        return tuple(sl)  # type: ignore[return-value]

    def coords(self, sl: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable world coordinates ``X (1,1,nx), Y (1,ny,1), Z (nz,1,1)`` (float32) of a block."""
        z = (self.origin[2] + self.spacing[0] * np.arange(sl[0].start, sl[0].stop)).astype(np.float32)
        y = (self.origin[1] + self.spacing[1] * np.arange(sl[1].start, sl[1].stop)).astype(np.float32)
        x = (self.origin[0] + self.spacing[2] * np.arange(sl[2].start, sl[2].stop)).astype(np.float32)
        return x[None, None, :], y[None, :, None], z[:, None, None]

    @property
    def half_diagonal(self) -> float:
        return 0.5 * float(np.linalg.norm(self.spacing))


def piece_distance(
    X: np.ndarray, Y: np.ndarray, Z: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) from grid points to the segment ``a``-``b`` and the unclamped projection parameter t."""
    d = (b - a).astype(np.float32)
    ll = float(d @ d) or 1e-12
    dx, dy, dz = X - np.float32(a[0]), Y - np.float32(a[1]), Z - np.float32(a[2])
    t = (dx * d[0] + dy * d[1] + dz * d[2]) / np.float32(ll)
    tc = np.clip(t, 0.0, 1.0)
    dist = np.sqrt((dx - tc * d[0]) ** 2 + (dy - tc * d[1]) ** 2 + (dz - tc * d[2]) ** 2)
    return dist, t


def sd_tube(
    X: np.ndarray, Y: np.ndarray, Z: np.ndarray, points: np.ndarray, radii: np.ndarray, *, margin: float = 3.0
) -> np.ndarray:
    """Signed distance (mm) to a tube of varying radius around a polyline (union of the pieces).

    Each piece is evaluated only inside its own box (its radius plus ``margin`` mm); farther voxels get
    ``+1e4``. Callers use the value near and inside the surface only, so this is exact where it matters
    and costs the tube's volume, not the block's volume times the number of pieces.
    """
    shape = np.broadcast_shapes(X.shape, Y.shape, Z.shape)
    out = np.full(shape, 1e4, np.float32)
    xs, ys, zs = X.ravel(), Y.ravel(), Z.ravel()
    for a, b, ra, rb in zip(points[:-1], points[1:], radii[:-1], radii[1:]):
        reach = max(ra, rb) + margin
        lo, hi = np.minimum(a, b) - reach, np.maximum(a, b) + reach
        i0, i1 = np.searchsorted(xs, lo[0]), np.searchsorted(xs, hi[0], side="right")
        j0, j1 = np.searchsorted(ys, lo[1]), np.searchsorted(ys, hi[1], side="right")
        k0, k1 = np.searchsorted(zs, lo[2]), np.searchsorted(zs, hi[2], side="right")
        if i1 <= i0 or j1 <= j0 or k1 <= k0:
            continue
        sub = (slice(k0, k1), slice(j0, j1), slice(i0, i1))
        xx, yy, zz = (
            X[..., i0:i1] if X.shape[2] > 1 else X,
            Y[:, j0:j1] if Y.shape[1] > 1 else Y,
            Z[k0:k1] if Z.shape[0] > 1 else Z,
        )
        dist, t = piece_distance(xx, yy, zz, a, b)
        sd = dist - (np.float32(ra) + np.clip(t, 0, 1) * np.float32(rb - ra))
        blk = out[sub]
        np.minimum(blk, sd, out=blk)
    return out


def sd_ellipsoid(X, Y, Z, center, semi) -> np.ndarray:
    """Approximate signed distance (mm) to an axis-aligned ellipsoid (exact on the axes, first order
    elsewhere: ``(rho - 1) / |grad rho|``)."""
    u = (X - np.float32(center[0])) / np.float32(semi[0])
    v = (Y - np.float32(center[1])) / np.float32(semi[1])
    w = (Z - np.float32(center[2])) / np.float32(semi[2])
    rho = np.sqrt(u * u + v * v + w * w)
    grad = np.sqrt((u / semi[0]) ** 2 + (v / semi[1]) ** 2 + (w / semi[2]) ** 2) + np.float32(1e-6)
    return ((rho - 1.0) * rho / grad).astype(np.float32)


def sd_box(X, Y, Z, center, half) -> np.ndarray:
    qx = np.abs(X - np.float32(center[0])) - np.float32(half[0])
    qy = np.abs(Y - np.float32(center[1])) - np.float32(half[1])
    qz = np.abs(Z - np.float32(center[2])) - np.float32(half[2])
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 + np.maximum(qz, 0) ** 2)
    inside = np.minimum(np.maximum(np.maximum(qx, qy), qz), 0)
    return (outside + inside).astype(np.float32)


def sd_zcylinder(X, Y, Z, center_xy, semi_xy, z0, z1) -> np.ndarray:
    """Signed distance (approximate in x/y for an ellipse) to an elliptic cylinder between z0 and z1."""
    u = (X - np.float32(center_xy[0])) / np.float32(semi_xy[0])
    v = (Y - np.float32(center_xy[1])) / np.float32(semi_xy[1])
    rho = np.sqrt(u * u + v * v)
    grad = np.sqrt((u / semi_xy[0]) ** 2 + (v / semi_xy[1]) ** 2) + np.float32(1e-6)
    sxy = (rho - 1.0) * rho / grad
    sz = np.abs(Z - np.float32(0.5 * (z0 + z1))) - np.float32(0.5 * (z1 - z0))
    return np.maximum(sxy, sz).astype(np.float32)


def ellipsoid_point(center, semi, direction, offset: float = 0.0) -> np.ndarray:
    """Point on the ray from ``center`` along ``direction`` at the ellipsoid surface plus ``offset`` mm."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    t = 1.0 / np.sqrt(np.sum((d / np.asarray(semi)) ** 2))
    return np.asarray(center) + d * (t + offset)
