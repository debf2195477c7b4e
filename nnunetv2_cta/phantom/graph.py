"""The vessel graph JSON (format ``nnunetv2_cta.vessel_graph`` version 1) and its reader/writer.

Layout (see ``graph_format.md`` in the project notes)::

    {"format": "nnunetv2_cta.vessel_graph", "version": 1, "units": "mm",
     "coordinates": "world ITK (x, y, z), LPS, same frame as the NIfTI origin/direction",
     "label_min_radius_mm": 1.08,          # labels hold voxels within max(radius, this) of a centreline
     "borders": {"aorta_top_mm": 55.3, "skull_base_mm": 186.1},
     "segments": [{"name": "R_ICA_cervical", "kind": "artery", "label": 3, "parent": "R_CCA",
                   "generation": 2, "points": [[x, y, z], ...], "radii": [r0, ...]}, ...]}

Optional segment fields: ``pathology`` (``"stenosis"``, ``"occlusion"``, ``"aneurysm"``,
``"coiled_aneurysm"``, ``"low_flow"``), ``connects_to`` (names whose first point this segment's last point
joins: anastomoses such as ACom, PCom, the left vertebral into the basilar), ``labelled`` (``false`` when
the segment is not in the label map at all). An occluded stretch has radii 0 and is not labelled.
Readers need only ``json`` and ``numpy``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.io import write_json_atomic

GRAPH_FORMAT = "nnunetv2_cta.vessel_graph"
GRAPH_VERSION = 1


def save_vessel_graph(graph: dict, path: str | os.PathLike) -> Path:
    """Write a vessel graph dict as JSON (atomically; stable key order so equal graphs give equal bytes)."""
    path = Path(path)
    write_json_atomic(path, graph, indent=None, separators=(",", ":"))
    return path


def load_vessel_graph(path: str | os.PathLike) -> dict:
    """Read a vessel graph JSON; ``points``/``radii`` become numpy arrays ``(n, 3)`` / ``(n,)`` in mm.

    Raises:
        DatasetFormatError: the file is missing, not JSON, or not this format.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetFormatError(f"cannot read vessel graph {str(path)!r}: {err}") from err
    if data.get("format") != GRAPH_FORMAT:
        raise DatasetFormatError(
            f"{str(path)!r}: format must be {GRAPH_FORMAT!r}, got {data.get('format')!r}"
        )
    for seg in data.get("segments", []):
        seg["points"] = np.asarray(seg["points"], dtype=np.float64).reshape(-1, 3)
        seg["radii"] = np.asarray(seg["radii"], dtype=np.float64)
    return data
