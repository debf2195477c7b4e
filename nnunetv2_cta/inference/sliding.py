"""Sliding-window logits as nnU-Net computes them, without running the network on tiles of constant input.

nnU-Net 2.8 (``nnUNetPredictor.predict_sliding_window_return_logits``) pads the volume to at least one patch
(zeros, centred), steps a patch-sized window over it (``compute_steps_for_sliding_window``), runs the network on
every tile and blends the tiles with a Gaussian weight (sigma = patch / 8, peak 10, stored in float16).
:func:`sliding_window_logits` does the same steps, the same weights and the same blend, with two changes:

* **Constant tiles.** CT normalisation clips everything below the model's lower intensity bound (the 0.5th
  percentile of the training foreground, 85 HU for the ``cpu`` model) to one value, so every tile of air
  (HU < -900 everywhere, or any tissue below that bound) is the *same* network input. Such a tile (all values of
  every channel within :data:`CONSTANT_TOL` of one value) is not run again: the network's output on the first
  tile with that value is reused. The input differs from the representative tile by at most the tolerance
  (float32 rounding of the resampling, about 1e-6), so the blended logits change by far less than any logit
  margin and no label can change; tiles that hold one voxel of anything else run as usual. A model whose lower
  bound lies below the air values (air then stays noisy after normalisation) simply finds no constant tiles.
* **Accumulation in float32** (nnU-Net accumulates the blended logits in float16 on the CPU), and tiles are
  run in batches.

The counts of run and reused tiles are returned so that the saving is recorded per case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnunetv2_cta.errors import ConfigurationError, GeometryError

if TYPE_CHECKING:
    import torch

#: a tile whose values (per channel) span at most this much (normalised units) counts as constant
CONSTANT_TOL = 1e-4


@dataclass
class TileCounts:
    """Tiles of one sliding-window pass: ``total``, ``run`` through the network and ``reused`` (constant)."""

    total: int = 0
    run: int = 0
    reused: int = 0

    def to_dict(self) -> dict[str, int | float]:
        saved = self.reused / self.total if self.total else 0.0
        return {
            "total": self.total,
            "run": self.run,
            "reused": self.reused,
            "saved_fraction": round(saved, 4),
        }


def tile_starts(shape: Sequence[int], patch: Sequence[int], step: float) -> list[list[int]]:
    """nnU-Net's tile positions per axis (``compute_steps_for_sliding_window``): as many tiles as a step of
    ``step x patch`` needs, spread evenly from 0 to ``size - patch``.

    Example (110 voxels, patch 64, step 0.5):
        >>> tile_starts((110,), (64,), 0.5)
        [[0, 23, 46]]
    """
    if not 0 < step <= 1:
        raise ConfigurationError(f"tile step must be in (0, 1], got {step!r}")
    if len(shape) != len(patch) or any(s < p for s, p in zip(shape, patch)):
        raise GeometryError(f"volume {tuple(shape)} must be at least the patch {tuple(patch)} on every axis")
    starts = []
    for size, p in zip(shape, patch):
        n = int(np.ceil((size - p) / (p * step))) + 1
        stride = (size - p) / (n - 1) if n > 1 else 0.0
        starts.append([int(np.round(stride * i)) for i in range(n)])
    return starts


def gaussian_weights(patch: Sequence[int]) -> torch.Tensor:
    """nnU-Net's tile weight (``compute_gaussian(patch, 1/8, 10)``: float16 values, zeros lifted to the
    minimum), as float32."""
    import torch
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian

    return compute_gaussian(
        tuple(int(p) for p in patch), 1.0 / 8, 10, torch.float16, torch.device("cpu")
    ).float()


def _pad(data: torch.Tensor, patch: Sequence[int]) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Zero-pad ``(C, z, y, x)`` to at least ``patch``, centred as nnU-Net's ``pad_nd_image``; the crop back."""
    import torch.nn.functional as F

    shape = data.shape[1:]
    below = [max(p - s, 0) // 2 for s, p in zip(shape, patch)]
    above = [max(p - s, 0) - b for s, p, b in zip(shape, patch, below)]
    if not any(below) and not any(above):
        return data, tuple(slice(None) for _ in shape)
    pads = [v for b, a in zip(reversed(below), reversed(above)) for v in (b, a)]
    crop = tuple(slice(b, b + s) for b, s in zip(below, shape))
    return F.pad(data, pads, value=0.0), crop


def _constant_key(tile: torch.Tensor) -> tuple[float, ...] | None:
    """Per-channel value of a constant tile (rounded to the tolerance), or ``None``."""
    flat = tile.reshape(tile.shape[0], -1)
    low, high = flat.min(1).values, flat.max(1).values
    if bool(((high - low) <= CONSTANT_TOL).all()):
        return tuple(round(float(v) / CONSTANT_TOL) for v in low)
    return None


def sliding_window_logits(
    predict: Callable[[torch.Tensor], torch.Tensor],
    data: torch.Tensor,
    patch: Sequence[int],
    num_outputs: int,
    *,
    step: float = 0.5,
    batch_size: int = 2,
    device: str | torch.device = "cpu",
    progress: bool = False,
    on_first_tile: Callable[[], None] | None = None,
    wait_rows: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, TileCounts]:
    """Gaussian-blended sliding-window logits of ``data`` ``(C, z, y, x)`` (preprocessed, float32).

    Args:
        predict: the network (with any test-time mirroring): ``(B, C, *patch)`` on ``device`` -> ``(B,
            num_outputs, *patch)`` logits.
        patch: tile size ``(z, y, x)``.
        num_outputs: output channels.
        step: tile step as a fraction of the patch (nnU-Net: 0.5).
        batch_size: tiles per network call.
        device: where the network runs and the logits are blended.
        progress: a tqdm bar over the tiles.
        on_first_tile: called once, just before the first network call (to time the start of the network).
        wait_rows: for ``data`` still being filled by another thread in the order of its first spatial axis:
            ``wait_rows(n)`` returns once rows ``0 .. n - 1`` are final. Tiles are read in that order, so the
            network starts on the first rows (a volume smaller than the patch waits for all of it: it is padded).

    Returns:
        ``(logits, counts)``: float32 CPU tensor ``(num_outputs, z, y, x)`` and the :class:`TileCounts`.
    """
    import torch

    if data.ndim != 4 or len(patch) != 3:
        raise GeometryError(
            f"need data (C, z, y, x) and a 3D patch, got {tuple(data.shape)} and {tuple(patch)}"
        )
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size!r}")
    device = torch.device(device)
    patch = tuple(int(p) for p in patch)
    shape = tuple(int(s) for s in data.shape[1:])
    if wait_rows is not None and any(s < p for s, p in zip(shape, patch)):
        wait_rows(shape[0])  # padding copies the volume
        wait_rows = None
    padded, crop = _pad(data.float(), patch)
    weight = gaussian_weights(patch).to(device)
    logits = torch.zeros((num_outputs, *padded.shape[1:]), dtype=torch.float32, device=device)
    norm = torch.zeros(padded.shape[1:], dtype=torch.float32, device=device)
    windows = [
        (slice(a, a + patch[0]), slice(b, b + patch[1]), slice(c, c + patch[2]))
        for a, b, c in _product(tile_starts(padded.shape[1:], patch, step))
    ]
    counts = TileCounts(total=len(windows))
    cache: dict[tuple[float, ...], torch.Tensor] = {}
    pending: list[tuple[slice, ...]] = []

    def blend(box: tuple[slice, ...], weighted: torch.Tensor) -> None:
        logits[(slice(None), *box)] += weighted
        norm[box] += weight

    def run(boxes: list[tuple[slice, ...]]) -> torch.Tensor:
        if counts.run == 0 and on_first_tile is not None:
            on_first_tile()
        x = torch.stack([padded[(slice(None), *b)] for b in boxes]).to(device)
        counts.run += len(boxes)
        return predict(x).float() * weight

    bar = _progress(len(windows), progress)
    with torch.inference_mode():
        for box in windows:
            if wait_rows is not None:
                wait_rows(box[0].stop)
            key = _constant_key(padded[(slice(None), *box)])
            if key is not None and key in cache:
                blend(box, cache[key])
                counts.reused += 1
            elif key is not None:
                cache[key] = run([box])[0]
                blend(box, cache[key])
            else:
                pending.append(box)
                if len(pending) == batch_size:
                    for b, out in zip(pending, run(pending)):
                        blend(b, out)
                    pending.clear()
            bar.update()
        if pending:
            for b, out in zip(pending, run(pending)):
                blend(b, out)
    bar.close()
    logits /= norm
    return logits[(slice(None), *crop)].cpu(), counts


def _product(starts: list[list[int]]):
    return [(a, b, c) for a in starts[0] for b in starts[1] for c in starts[2]]


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="tiles", unit="tile", disable=not enabled, leave=False)
