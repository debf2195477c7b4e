"""Model-grid logits to a label map on the image's grid: trilinear interpolation in float32 slabs, decoded
per voxel, computed only where the interpolation can change the label.

nnU-Net resamples the logits of every class to the image grid in float64 with cubic spline interpolation (one
full-size float64 volume per class; minutes and many GB for a 512x512x900 CTA). :func:`logits_to_labels` instead
interpolates the logits trilinearly (nnU-Net's ``resampling_fn_probabilities`` of our plans: order 1, half-pixel
centres, edges continued) and turns them into labels at once (argmax, or :class:`RegionDecoder` for region
training), so the full-resolution logits never exist in memory.

**Uniform cells.** Every label is decided by a set of linear inequalities between logits (a channel above 0,
one child's logit above its siblings'), so the set of logit vectors that decode to one label is convex. A
trilinearly interpolated value is a convex combination of the 8 surrounding model-grid values: where those 8
corners decode to the same label, so does every output voxel inside their cell. Only output voxels in cells
with differing corners (the surfaces of structures, a few per cent of a CTA) are interpolated; the rest copy the
label of their cell. The result equals full interpolation up to float rounding at exact ties.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError

#: output slices interpolated at once by :func:`logits_to_labels`
EXPORT_SLAB = 16


def _source_coordinates(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and weight of each output position (half-pixel centres, as F.interpolate)."""
    src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (src - lo).astype(np.float32)


class RegionDecoder:
    """Turns region outputs (one sigmoid channel per region) into a label map without losing a region.

    nnU-Net writes ``regions_class_order[i]`` wherever region ``i`` exceeds 0.5, later regions overwriting
    earlier ones; with our regions (bone, vessels, aorta, carotid, intracranial) the carotid channel then erases
    the aorta wherever both fire, and a thin intracranial vessel whose own channel stays below 0.5 is called
    carotid. This decoder keeps nnU-Net's rule for plain regions and gives every **parent** region (one whose
    labels are the union of the labels of single-label channels, its **children**: ``vessels`` = aorta +
    carotid + intracranial) the last word inside it: where the parent exceeds 0.5 the voxel gets the child with
    the highest logit, even when no child exceeds 0.5; outside the parent a child alone writes nothing (the
    parent decides *whether* it is vessel, the children only *which* vessel). Parents overwrite plain regions
    (contrast-filled lumen next to bone stays vessel). A dataset without parent regions decodes exactly as
    nnU-Net does.

    Args:
        regions: label values of each channel, in channel order (nnU-Net's ``foreground_regions``).
        regions_class_order: label written for each channel (nnU-Net's ``regions_class_order``).

    Example (channels bone, vessels, aorta, carotid, intracranial; one voxel where aorta and carotid both
    exceed 0.5 and aorta is the more probable):
        >>> import torch
        >>> dec = RegionDecoder([(1,), (2, 3, 4), (2,), (3,), (4,)], (1, 3, 2, 3, 4))
        >>> dec(torch.tensor([[-5.0, 3.0, 2.0, 1.0, -4.0]]).reshape(1, 5, 1, 1)).tolist()
        [[[2]]]
    """

    def __init__(self, regions: Sequence[Sequence[int]], regions_class_order: Sequence[int]) -> None:
        regions = [tuple(int(v) for v in np.atleast_1d(r)) for r in regions]
        if len(regions) != len(regions_class_order):
            raise ConfigurationError(
                f"regions_class_order has {len(regions_class_order)} entries for {len(regions)} regions {regions}"
            )
        self.order = [int(v) for v in regions_class_order]
        single = {r[0]: c for c, r in enumerate(regions) if len(r) == 1}
        self.parents: list[tuple[int, list[int]]] = []
        children: set[int] = set()
        for c, region in enumerate(regions):
            if len(region) > 1 and all(v in single for v in region):
                kids = [single[v] for v in region]
                self.parents.append((c, kids))
                children.update(kids)
        parent_channels = {p for p, _ in self.parents}
        self.plain = [c for c in range(len(regions)) if c not in children and c not in parent_channels]

    def __call__(self, values) -> np.ndarray:
        """Labels ``(k, y, x)`` uint8 from logits ``values`` ``(k, C, y, x)`` (torch)."""
        import torch

        out = torch.zeros((values.shape[0], *values.shape[2:]), dtype=torch.uint8)
        for c in self.plain:
            out[values[:, c] > 0] = self.order[c]
        for parent, kids in self.parents:
            labels = torch.tensor([self.order[k] for k in kids], dtype=torch.uint8)
            best = values[:, kids].argmax(1)
            inside = values[:, parent] > 0
            out[inside] = labels[best[inside]]
        return out.numpy()


def logits_to_labels(
    logits,
    shape: Sequence[int],
    *,
    regions: Sequence[Sequence[int]] | None = None,
    regions_class_order: Sequence[int] | None = None,
    slab: int = EXPORT_SLAB,
    uniform_cells: bool = True,
) -> np.ndarray:
    """Interpolate ``logits`` ``(C, z, y, x)`` trilinearly to ``shape`` and convert them to a label map.

    Args:
        logits: torch tensor or array, one channel per class (softmax training) or per region.
        shape: output ``(z, y, x)``.
        regions: region training: the label values of each channel (nnU-Net's ``foreground_regions``).
        regions_class_order: region training: the label written for each channel; decoded by
            :class:`RegionDecoder` (parent regions such as ``vessels`` keep every sub-region). Without
            ``regions`` each channel is taken as its own single-label region (nnU-Net's overwrite rule).
            ``None``: argmax (softmax training).
        slab: output slices handled at once (memory: ``slab x C x y x x`` float32).
        uniform_cells: interpolate only where the 8 surrounding model-grid labels differ (module docstring);
            ``False`` interpolates every voxel (same labels, slower).

    Returns:
        ``uint8`` label map of ``shape``.
    """
    import torch

    logits = torch.as_tensor(logits)
    if logits.ndim != 4:
        raise GeometryError(f"logits must be (C, z, y, x), got shape {tuple(logits.shape)}")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise GeometryError(f"shape must be three positive sizes (z, y, x), got {shape}")
    decoder = None
    if regions_class_order is not None:
        if len(regions_class_order) != logits.shape[0]:
            raise ConfigurationError(
                f"regions_class_order has {len(regions_class_order)} entries for {logits.shape[0]} logit channels"
            )
        decoder = RegionDecoder(
            regions if regions is not None else [(c,) for c in regions_class_order], regions_class_order
        )

    def decode(values):  # (k, C, y, x) -> (k, y, x) uint8
        if decoder is None:
            return values.argmax(1).numpy().astype(np.uint8)
        return decoder(values)

    if uniform_cells:
        return _labels_by_cells(logits.float(), shape, decode, slab)
    out = np.empty(shape, dtype=np.uint8)
    for start, stop, values in _interpolated_slabs(logits, shape, slab):
        out[start:stop] = decode(values)
    return out


def _labels_by_cells(logits, shape: tuple[int, int, int], decode, slab: int) -> np.ndarray:
    """:func:`logits_to_labels` through uniform cells: copy the label where the 8 corners agree, interpolate
    (gathering the 8 corners of each remaining voxel) elsewhere."""
    import torch

    grid = torch.from_numpy(decode(logits.transpose(0, 1)))  # (z, y, x) labels on the model grid
    n = grid.shape
    same = torch.ones(tuple(max(s - 1, 1) for s in n), dtype=torch.bool)  # cells: corners c, c+1 per axis
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                corner = grid[_cell(n[0], dz), _cell(n[1], dy)][:, :, _cell(n[2], dx)]
                same &= corner == grid[_cell(n[0], 0), _cell(n[1], 0)][:, :, _cell(n[2], 0)]
    coords = [_source_coordinates(a, b) for a, b in zip(n, shape)]
    cells = [torch.from_numpy(np.minimum(lo, max(a - 2, 0))) for a, (lo, _, _) in zip(n, coords)]
    lows = [torch.from_numpy(lo) for lo, _, _ in coords]
    flat = logits.reshape(logits.shape[0], -1)
    out = np.empty(shape, dtype=np.uint8)
    for start in range(0, shape[0], slab):
        z = slice(start, min(start + slab, shape[0]))
        labels = grid.index_select(0, lows[0][z]).index_select(1, lows[1]).index_select(2, lows[2])
        uniform = same.index_select(0, cells[0][z]).index_select(1, cells[1]).index_select(2, cells[2])
        idx = torch.nonzero(~uniform)
        if len(idx):
            values = _trilinear_points(flat, n, coords, idx[:, 0] + start, idx[:, 1], idx[:, 2])
            labels[idx[:, 0], idx[:, 1], idx[:, 2]] = torch.from_numpy(
                decode(values[None, :, :, None])[0, :, 0]
            )
        out[z] = labels.numpy()
    return out


def _cell(n: int, offset: int) -> slice:
    """Corner ``offset`` (0 or 1) of every cell along an axis of ``n`` samples (one degenerate cell if n == 1)."""
    return slice(0, 1) if n == 1 else slice(offset, n - 1 + offset)


def _trilinear_points(flat, n, coords, z, y, x):
    """``(C, N)`` logits interpolated at output voxels ``(z, y, x)`` from the 8 model-grid corners."""
    import torch

    parts = []
    for axis, pos in enumerate((z, y, x)):
        lo, hi, w = (torch.from_numpy(a) for a in coords[axis])
        parts.append((lo[pos], hi[pos], w[pos]))
    values = torch.zeros((flat.shape[0], len(z)), dtype=torch.float32)
    for iz in (0, 1):
        for iy in (0, 1):
            for ix in (0, 1):
                (cz, wz), (cy, wy), (cx, wx) = (
                    (p[i], p[2] if i else 1 - p[2]) for p, i in zip(parts, (iz, iy, ix))
                )
                values += flat[:, (cz * n[1] + cy) * n[2] + cx] * (wz * wy * wx)
    return values


def _interpolated_slabs(values, shape: tuple[int, int, int], slab: int):
    """Yield ``(start, stop, tensor (k, C, y, x))``: ``values`` ``(C, z, y, x)`` interpolated trilinearly
    (separable: bilinear per slice, then linear along z) to output slices ``start:stop`` of ``shape``."""
    import torch
    import torch.nn.functional as F

    lo, hi, w = _source_coordinates(values.shape[1], shape[0])
    for start in range(0, shape[0], slab):
        stop = min(start + slab, shape[0])
        first, last = int(lo[start]), int(hi[stop - 1])
        planes = values[:, first : last + 1].float().permute(1, 0, 2, 3)  # (n, C, y, x)
        if planes.shape[2:] != shape[1:]:
            planes = F.interpolate(planes, size=shape[1:], mode="bilinear", align_corners=False)
        a = planes[torch.from_numpy(lo[start:stop] - first)]
        b = planes[torch.from_numpy(hi[start:stop] - first)]
        wt = torch.from_numpy(w[start:stop]).view(-1, 1, 1, 1)
        yield start, stop, a * (1 - wt) + b * wt
