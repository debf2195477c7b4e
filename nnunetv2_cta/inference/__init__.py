"""The deployable pipeline behind ``nnunetv2_cta predict`` (see :mod:`.pipeline`).

Importing :mod:`.pipeline` is light; the models (:mod:`.model`) import torch and nnunetv2 when loaded.
"""

from nnunetv2_cta.inference.pipeline import REPAIR_MODES, PredictSettings, predict
from nnunetv2_cta.inference.record import CaseResult, PredictedCase

__all__ = ["REPAIR_MODES", "CaseResult", "PredictSettings", "PredictedCase", "predict"]
