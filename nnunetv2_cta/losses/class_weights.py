"""Attenuated inverse-frequency class weights for the cross-entropy term."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nnunetv2_cta.errors import ConfigurationError


def attenuated_class_weights(
    voxel_counts: Sequence[float] | torch.Tensor, power: float = 1.0 / 3.0
) -> torch.Tensor:
    """Balanced inverse-frequency weights raised to ``power`` (cube root by default).

    The balanced weight of class ``c`` is ``N / (C n_c)`` (``N`` voxels, ``C`` classes, ``n_c`` voxels of
    class ``c``; 1 for every class when all are equally frequent). Plain inverse frequency over-weights tiny
    structures by orders of magnitude; the cube root keeps the ordering but compresses the range (the
    attenuation the head-CT neuroanatomy segmentation study found best for small structures). A class with
    zero voxels gets the weight of the rarest present class.

    Args:
        voxel_counts: voxel count per class, index = class (softmax) or region channel; >= 0, not all 0.
        power: attenuation exponent in (0, 1]; 1 gives the plain balanced weights.

    Returns:
        float32 tensor ``(C,)``.

    Example:
        >>> attenuated_class_weights([900, 90, 10]).round(decimals=3)
        tensor([0.7180, 1.5470, 3.2180])
    """
    counts = torch.as_tensor(voxel_counts, dtype=torch.float64).flatten()
    if counts.numel() < 1 or bool((counts < 0).any()) or not bool(torch.isfinite(counts).all()):
        raise ConfigurationError(f"voxel_counts must be finite and >= 0, got {voxel_counts!r}")
    if float(counts.sum()) <= 0:
        raise ConfigurationError(f"voxel_counts must not all be zero, got {voxel_counts!r}")
    if not 0 < power <= 1:
        raise ConfigurationError(f"power must be in (0, 1], got {power!r}")
    present = counts > 0
    rarest = counts[present].min()
    counts = torch.where(present, counts, rarest)
    balanced = counts.sum() / (counts.numel() * counts)
    return balanced.pow(power).to(torch.float32)
