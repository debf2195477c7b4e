"""Typed exceptions of nnunetv2_cta.

Every error raised for bad input names the offending value and what was expected. The CLI turns any
:class:`CTAError` into one line on stderr and a non-zero exit; other exceptions are bugs and keep their
traceback.
"""

from __future__ import annotations


class CTAError(Exception):
    """Base class of all errors caused by the user's input or environment."""


class ConfigurationError(CTAError):
    """An environment variable, preset, plans name or option has an unusable value."""


class DatasetFormatError(CTAError):
    """A dataset folder, dataset.json, image or label map does not have the expected form."""


class GeometryError(CTAError):
    """Two images that must share a voxel grid (shape, spacing, origin, direction) do not."""


class SpacingError(GeometryError):
    """A voxel spacing is not positive or not finite."""


class ScoreTableError(CTAError):
    """A score table or evaluation summary given to model choice (``choose``) does not have the expected form."""


class OutputExistsError(CTAError):
    """An output (folder, plans file, dataset id) exists and ``overwrite`` was not requested."""


class OutputLocationError(CTAError):
    """An output path cannot be written: not writable, or a file where a folder is needed (or the reverse)."""
