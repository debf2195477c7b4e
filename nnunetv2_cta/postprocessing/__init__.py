"""Post-processing of vessel segmentations: gap bridging (classic baseline) and the repair record.

- :func:`~nnunetv2_cta.postprocessing.gap_bridging.bridge_gaps` — reconnect interrupted vessels along
  minimal-cost paths through the CT (numpy/scipy/cc3d/edt/dijkstra3d; no torch, no nnunetv2).
- :class:`~nnunetv2_cta.postprocessing.repair_record.RepairedGap`, :func:`save_repaired_gaps`,
  :func:`load_repaired_gaps` — the per-case list of repaired gaps for the QC report.

The CGPM inference glue (:mod:`nnunetv2_cta.postprocessing.cgpm`) imports torch and nnunetv2 and is not
imported here.
"""

from __future__ import annotations

from nnunetv2_cta.postprocessing.gap_bridging import bridge_gaps, hu_cost
from nnunetv2_cta.postprocessing.repair_record import RepairedGap, load_repaired_gaps, save_repaired_gaps

__all__ = ["RepairedGap", "bridge_gaps", "hu_cost", "load_repaired_gaps", "save_repaired_gaps"]
