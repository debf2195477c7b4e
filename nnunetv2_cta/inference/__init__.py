"""The deployable pipeline behind ``nnunetv2_cta predict`` (see :mod:`.pipeline`).

Importing :mod:`.pipeline` is light; the models (:mod:`.model`) import torch and nnunetv2 when loaded.
"""

from nnunetv2_cta.inference.pipeline import REPAIR_MODES, PredictSettings, predict

__all__ = ["REPAIR_MODES", "PredictSettings", "predict"]
