"""The repair stage's loss term on what the first stage missed: BCE over the gaps and a margin around them.

The CGPM receives the CT and the first stage's segmentation and is trained to output the full label map. Over
a whole patch, copying its input is almost optimal (the gap voxels are a tiny fraction of the patch), so a
network trained on the plain loss learns to copy, or to drop thin vessels. This term puts the repair itself
into the objective:

- **gap**: voxels that are vessel in the target but not in the first-stage input (cuts, dropped and faded
  segments, the first stage's own misses);
- **region of the term**: the gap grown by ``margin`` voxels (Chebyshev distance), so that background
  beside the gap is in it too and over-growing the bridge costs as much as leaving it open;
- **value**: binary cross-entropy of the vessel output channels against the target, averaged over that
  region (each gap counts by its size, not by the size of the patch). A batch without gaps contributes 0.

Example (one vessel channel, a 1x1x5 target with a one-voxel gap in the input, margin 1: three voxels
count; logits 0 everywhere give ``log 2`` each):
    >>> import torch
    >>> target = torch.tensor([[[[[1.0, 1, 1, 1, 1]]]]])
    >>> given = torch.tensor([[[[1.0, 1, 0, 1, 1]]]])
    >>> round(float(gap_loss(torch.zeros(1, 1, 1, 1, 5), target, given, margin=1)), 4)
    0.6931
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnunetv2_cta.errors import ConfigurationError


def gap_mask(target_vessel: torch.Tensor, given_vessel: torch.Tensor, margin: int = 2) -> torch.Tensor:
    """Boolean ``(B, *spatial)`` region of the term: target vessel not given, grown by ``margin`` voxels.

    Args:
        target_vessel: ``(B, *spatial)`` target vessel mask (any value > 0.5 is vessel).
        given_vessel: ``(B, *spatial)`` first-stage vessel mask (or probability) the network received.
        margin: growth in voxels (0: the gap voxels only).
    """
    if target_vessel.shape != given_vessel.shape:
        raise ConfigurationError(
            f"target and given vessel masks differ in shape: {tuple(target_vessel.shape)} vs "
            f"{tuple(given_vessel.shape)}"
        )
    if margin < 0:
        raise ConfigurationError(f"margin must be >= 0 voxels, got {margin!r}")
    gap = ((target_vessel > 0.5) & (given_vessel < 0.5)).float()
    if margin:
        size = 2 * margin + 1
        pool = F.max_pool3d if gap.ndim == 4 else F.max_pool2d
        gap = pool(gap[:, None], size, stride=1, padding=margin)[:, 0]
    return gap > 0


def gap_loss(
    logits: torch.Tensor, target: torch.Tensor, given_vessel: torch.Tensor, margin: int = 2
) -> torch.Tensor:
    """Mean BCE of ``logits`` ``(B, C, *spatial)`` against binary ``target`` (same shape) over :func:`gap_mask`.

    The gap is where channel 0 of ``target`` (the all-vessels region) is set and ``given_vessel``
    ``(B, *spatial)`` is not; every channel is scored there (which vessel it is matters too).
    """
    if logits.shape != target.shape:
        raise ConfigurationError(
            f"logits and target differ in shape: {tuple(logits.shape)} vs {tuple(target.shape)}"
        )
    region = gap_mask(target[:, 0], given_vessel, margin)
    if not region.any():
        return logits.sum() * 0.0  # keeps the graph (and the device) of the output
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return bce.permute(1, 0, *range(2, bce.ndim))[:, region].mean()
