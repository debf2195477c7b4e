"""Plausibility of one predicted case: is this output, from this model on this input, worth reading?

A segmentation network always returns a label map; whether it is an angiogram is another question. Each check
below produces a flag (one sentence) when it fails; ``predict`` puts the flags in ``record.json``
(``"plausibility"``), in the log and at the top of ``report.html``, so a flagged case is never shown as a plain
"ok".

Checks and their sources:

- **Empty vessel region**: no voxel of aorta, carotid or intracranial artery.
- **Vessel volume** outside ``VESSEL_ML_RANGE`` = 2-400 mL. Arch-to-vertex arterial lumen: aortic arch (about
  30 mm diameter, 100-150 mm in the field of view: 70-110 mL), common/internal carotids and vertebrals (6-7 and
  3-4 mm diameter, about 4 x 250 mm: 10-25 mL), intracranial arteries (about 10-20 mL); our phantom's arch-to-
  vertex trees measure 110-120 mL. The range allows twice the largest of these plus a dilated arch (aneurysm) and
  head-only scans (the Circle of Willis alone: a few mL); below 2 mL nothing usable was found.
- **Voxel spacing** of the input more than a factor ``DOMAIN_FACTOR`` = 2 away from the spacing the model was
  trained at (``plans["original_median_spacing_after_transp"]``), on any axis.
- **Field of view** (mm along z, y, x) more than a factor 2 away from the training median
  (``original_median_shape_after_transp`` x spacing): a head-only crop given to an arch-to-vertex model.
- **Synthetic training data**: a model whose ``dataset.json`` says it was trained on the phantom
  (``"phantom"`` key, written by :func:`nnunetv2_cta.phantom.write_dataset`) is not validated on real scans;
  every case it predicts says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nnunetv2_cta.labels import VESSEL_LABELS

#: plausible vessel volume of a head-and-neck CTA in mL (module docstring)
VESSEL_ML_RANGE: tuple[float, float] = (2.0, 400.0)
#: factor by which spacing or field of view may differ from the model's training median before a flag
DOMAIN_FACTOR = 2.0


def _outside(value: float, reference: float, factor: float) -> bool:
    return reference > 0 and not reference / factor <= value <= reference * factor


def check_plausibility(
    labels: np.ndarray,
    spacing: Sequence[float],
    *,
    plans: Mapping | None = None,
    dataset_json: Mapping | None = None,
    vessel_ml_range: tuple[float, float] = VESSEL_ML_RANGE,
    factor: float = DOMAIN_FACTOR,
) -> dict:
    """Flags for one predicted label map (module docstring).

    Args:
        labels: predicted label map ``[z, y, x]`` in our scheme.
        spacing: its voxel spacing in mm, ``(z, y, x)``.
        plans: the stage-1 model's nnU-Net plans (training spacing and image size); None skips the domain checks.
        dataset_json: the stage-1 model's dataset.json (synthetic-data check); None skips it.
        vessel_ml_range: plausible vessel volume in mL.
        factor: tolerated ratio to the training spacing and field of view.

    Returns:
        ``{"status": "ok" | "flagged", "flags": [sentence, ...], "vessel_ml": float}``.

    Example:
        >>> lab = np.zeros((10, 10, 10), np.uint8); lab[2:8, 5, 5] = 3
        >>> check_plausibility(lab, (1.0, 1.0, 1.0))["flags"]
        ['vessel volume 0.0 mL is outside the plausible 2-400 mL of a head-and-neck CTA']
    """
    flags: list[str] = []
    voxel_ml = float(np.prod(spacing)) / 1000.0
    vessel_ml = float(np.isin(labels, VESSEL_LABELS).sum()) * voxel_ml
    lo, hi = vessel_ml_range
    if vessel_ml == 0:
        flags.append("no vessel found: the vessel region is empty")
    elif not lo <= vessel_ml <= hi:
        flags.append(
            f"vessel volume {vessel_ml:.1f} mL is outside the plausible {lo:g}-{hi:g} mL of a head-and-neck CTA"
        )
    if plans is not None:
        train_spacing = [float(s) for s in plans.get("original_median_spacing_after_transp", [])]
        train_shape = [float(s) for s in plans.get("original_median_shape_after_transp", [])]
        if len(train_spacing) == 3 and any(
            _outside(float(s), t, factor) for s, t in zip(spacing, train_spacing, strict=True)
        ):
            flags.append(
                f"voxel spacing {tuple(round(float(s), 2) for s in spacing)} mm is far from the model's training "
                f"spacing {tuple(round(s, 2) for s in train_spacing)} mm (more than {factor:g}x on an axis)"
            )
        if len(train_shape) == 3 and len(train_spacing) == 3:
            fov = [n * s for n, s in zip(labels.shape, spacing, strict=True)]
            train_fov = [n * s for n, s in zip(train_shape, train_spacing, strict=True)]
            if any(_outside(f, t, factor) for f, t in zip(fov, train_fov, strict=True)):
                flags.append(
                    f"field of view {tuple(round(f) for f in fov)} mm (z, y, x) is far from the model's training "
                    f"field of view {tuple(round(f) for f in train_fov)} mm (more than {factor:g}x on an axis)"
                )
    if dataset_json is not None and "phantom" in dataset_json:
        flags.append(
            "the model was trained on synthetic phantom data only: its output on a real scan is not validated"
        )
    return {"status": "flagged" if flags else "ok", "flags": flags, "vessel_ml": round(vessel_ml, 2)}
