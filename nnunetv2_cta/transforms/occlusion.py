"""Random occlusion: a box filled with one random value (metal, streaks, clips), image only."""

from __future__ import annotations

import numpy as np
import torch
from batchgeneratorsv2.transforms.base.basic_transform import ImageOnlyTransform

from nnunetv2_cta.errors import ConfigurationError


class RandomOcclusionTransform(ImageOnlyTransform):
    """Fill one random axis-aligned box of the image with a single random value.

    The paper's augmentation against metal and other artefacts. The labels are left unchanged: the network
    should keep the vessel through the artefact rather than learn a gap. Wrap it in batchgeneratorsv2's
    ``RandomTransform`` to apply it with a probability.

    Args:
        size_fraction: (low, high) edge length of the box as a fraction of the patch edge, drawn per axis,
            0 < low <= high <= 1.
        value_range: (low, high) fill value in the image's (normalised) intensity units; None = uniform
            between the sample's minimum and maximum intensity.

    Example:
        >>> img = torch.zeros(1, 10, 10, 10)
        >>> t = RandomOcclusionTransform(size_fraction=(0.5, 0.5), value_range=(7.0, 7.0))
        >>> int((t(image=img)["image"] == 7).sum())
        125
    """

    def __init__(
        self, size_fraction: tuple[float, float] = (0.05, 0.3), value_range: tuple[float, float] | None = None
    ) -> None:
        super().__init__()
        lo, hi = (float(v) for v in size_fraction)
        if not 0 < lo <= hi <= 1:
            raise ConfigurationError(
                f"size_fraction must satisfy 0 < low <= high <= 1, got {size_fraction!r}"
            )
        if value_range is not None and not float(value_range[0]) <= float(value_range[1]):
            raise ConfigurationError(f"value_range must be (low, high) with low <= high, got {value_range!r}")
        self.size_fraction = (lo, hi)
        self.value_range = None if value_range is None else (float(value_range[0]), float(value_range[1]))

    def get_parameters(self, **data_dict) -> dict:
        image = data_dict["image"]
        shape = image.shape[1:]
        box = []
        for n in shape:
            size = max(1, round(np.random.uniform(*self.size_fraction) * n))
            start = np.random.randint(0, n - size + 1)
            box.append(slice(start, start + size))
        lo, hi = (
            self.value_range if self.value_range is not None else (float(image.min()), float(image.max()))
        )
        return {"box": tuple(box), "value": float(np.random.uniform(lo, hi))}

    def _apply_to_image(self, img: torch.Tensor, **params) -> torch.Tensor:
        img[(slice(None), *params["box"])] = params["value"]
        return img
