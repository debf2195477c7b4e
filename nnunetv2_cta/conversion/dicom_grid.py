"""The slice grid of a sorted DICOM series: spacing analysis, gantry-tilt stacking, uniform resampling.

Steps 4 and 5 of :mod:`nnunetv2_cta.conversion.dicom` (see its docstring for the method): positions are mm
along the slice normal, stacks are ``[k, y, x]`` float32 HU.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError, SpacingError

# the messages are those of read_dicom_series: its logger, as before these helpers moved here
logger = logging.getLogger("nnunetv2_cta.conversion.dicom")

#: Gaps larger than this multiple of the usual spacing are examined as missing slices.
GAP_FACTOR = 1.5
#: Two gaps are "the same spacing" within max(this mm, 1 % of the usual spacing).
SPACING_ATOL_MM = 0.02


@dataclass
class SpacingReport:
    """Slice-spacing analysis of one sorted series (positions along the normal, mm)."""

    positions_mm: np.ndarray
    usual_mm: float
    uniform: bool
    missing: list[dict]
    distinct_mm: list[float]


def analyse_spacing(positions_mm: np.ndarray) -> SpacingReport:
    """Classify the gaps between sorted slice positions (:mod:`nnunetv2_cta.conversion.dicom` docstring, step 5).

    Example: positions 0, 4, 8, 15, 22 -> usual 4 mm? No: gaps 4, 4, 7, 7 tie, the smaller (4) wins;
    7-mm gaps come in a run, so they are uneven spacing, not missing slices.
    """
    s = np.asarray(positions_mm, dtype=np.float64)
    gaps = np.diff(s)
    rounded = Counter(np.round(gaps, 2).tolist())
    best = max(rounded.values())
    usual = min(g for g, c in rounded.items() if c == best)
    usual = float(np.mean(gaps[np.abs(gaps - usual) <= 0.006]))
    tol = max(SPACING_ATOL_MM, 0.01 * usual)
    same = np.abs(gaps - usual) <= tol
    missing = []
    for i, g in enumerate(gaps):
        if g <= GAP_FACTOR * usual:
            continue
        neighbours = [gaps[j] for j in (i - 1, i + 1) if 0 <= j < len(gaps)]
        if any(abs(n - g) <= max(SPACING_ATOL_MM, 0.01 * g) for n in neighbours):
            continue  # part of a run reconstructed at this larger spacing
        missing.append(
            {
                "after_slice": i,
                "gap_mm": round(float(g), 3),
                "estimated_missing_slices": max(1, round(g / usual) - 1),
            }
        )
    distinct = sorted({round(float(g), 2) for g in gaps})
    return SpacingReport(s, usual, bool(np.all(same)), missing, distinct)


def check_slice_spacing(report: SpacingReport, sid: str, *, uneven: str, allow_gaps: bool) -> None:
    """Refuse missing slices (unless ``allow_gaps``) and uneven spacing (with ``uneven="error"``)."""
    if report.missing and not allow_gaps:
        desc = "; ".join(
            f"gap of {m['gap_mm']:.2f} mm after slice {m['after_slice']} (~{m['estimated_missing_slices']} missing)"
            for m in report.missing
        )
        raise DatasetFormatError(
            f"{sid}: missing slices at the usual spacing {report.usual_mm:.3f} mm: {desc}; "
            "pass allow_gaps (--allow-gaps) to interpolate across them"
        )
    if not report.uniform and not report.missing and uneven == "error":
        raise SpacingError(
            f"{sid}: uneven slice spacing, gaps {report.distinct_mm} mm; "
            "pass uneven='resample' (--uneven resample) to interpolate onto a uniform grid"
        )


def untilted_stack(
    hu: list[np.ndarray], u_px: np.ndarray, v_px: np.ndarray, tilted: bool
) -> tuple[np.ndarray, tuple[int, int]]:
    """Stack the decoded slices ``[k, y, x]``; under gantry tilt shift each in-plane onto an enlarged grid.

    Returns the float32 stack (padding: the lowest HU of the series) and ``(a_lo, b_lo)``, the (non-positive)
    pixel offsets of the enlarged grid along x and y relative to the first slice.
    """
    from scipy import ndimage

    rows, cols = hu[0].shape
    fill = float(min(h.min() for h in hu))
    a_lo, a_hi = (min(0, math.floor(u_px.min())), max(0, math.ceil(u_px.max()))) if tilted else (0, 0)
    b_lo, b_hi = (min(0, math.floor(v_px.min())), max(0, math.ceil(v_px.max()))) if tilted else (0, 0)
    out_rows, out_cols = rows + b_hi - b_lo, cols + a_hi - a_lo
    stackarr = np.full((len(hu), out_rows, out_cols), fill, dtype=np.float32)
    for k, h in enumerate(hu):
        stackarr[k, -b_lo : -b_lo + rows, -a_lo : -a_lo + cols] = h
        if tilted and (abs(u_px[k]) > 1e-6 or abs(v_px[k]) > 1e-6):
            stackarr[k] = ndimage.shift(stackarr[k], (v_px[k], u_px[k]), order=1, mode="constant", cval=fill)
    return stackarr, (a_lo, b_lo)


def uniform_along_normal(
    stackarr: np.ndarray, s: np.ndarray, report: SpacingReport, sid: str
) -> tuple[np.ndarray, float]:
    """``(volume, dz)``: the stack as is when uniform, else resampled linearly along the normal.

    ``s`` are the slice positions (mm) along the normal; the first and last slice keep their positions.
    """
    extent = float(s[-1] - s[0])
    if report.uniform:
        return stackarr, extent / (len(s) - 1)
    _, out_rows, out_cols = stackarr.shape
    n_out = round(extent / report.usual_mm) + 1
    dz = extent / (n_out - 1)
    targets = s[0] + dz * np.arange(n_out)
    volume = np.empty((n_out, out_rows, out_cols), dtype=np.float32)
    for m, t in enumerate(targets):
        k = int(np.clip(np.searchsorted(s, t, side="right") - 1, 0, len(s) - 2))
        w = float(np.clip((t - s[k]) / (s[k + 1] - s[k]), 0.0, 1.0))
        volume[m] = stackarr[k] if w == 0 else (1 - w) * stackarr[k] + w * stackarr[k + 1]
    logger.warning(
        "%s: uneven slice spacing (gaps %s mm) resampled linearly to %d slices at %.4f mm",
        sid,
        report.distinct_mm,
        n_out,
        dz,
    )
    return volume, dz
