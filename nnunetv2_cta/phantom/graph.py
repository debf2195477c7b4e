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


def load_vessel_graph(path: str | os.PathLike, *, arrays: bool = True) -> dict:
    """Read a vessel graph JSON and check its header: the one reader of this format.

    Args:
        path: a ``<case>_graph.json`` file.
        arrays: turn every segment's ``points`` / ``radii`` into numpy arrays ``(n, 3)`` / ``(n,)`` (mm);
            ``False`` leaves the JSON lists as written (for callers that need only plain :mod:`json`).

    Raises:
        DatasetFormatError: the file is missing or not JSON, ``format`` is not :data:`GRAPH_FORMAT`,
            ``segments`` is not a list, or (with ``arrays``) a segment's points or radii are malformed or
            differ in number.

    Example:
        >>> save_vessel_graph({"format": GRAPH_FORMAT, "segments": [{"name": "A", "points": [[0, 0, 0]],
        ...     "radii": [1.5]}]}, tmp / "g.json")  # doctest: +SKIP
        >>> load_vessel_graph(tmp / "g.json")["segments"][0]["points"].shape  # doctest: +SKIP
        (1, 3)
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetFormatError(f"cannot read vessel graph {str(path)!r}: {err}") from err
    if not isinstance(data, dict) or data.get("format") != GRAPH_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise DatasetFormatError(f"{str(path)!r}: 'format' must be {GRAPH_FORMAT!r}, got {got!r}")
    if not isinstance(data.get("segments"), list):
        raise DatasetFormatError(f"{str(path)!r}: 'segments' must be a list")
    if arrays:
        for k, seg in enumerate(data["segments"]):
            try:
                seg["points"] = np.asarray(seg["points"], dtype=np.float64).reshape(-1, 3)
                seg["radii"] = np.asarray(seg["radii"], dtype=np.float64).reshape(-1)
            except (KeyError, TypeError, ValueError) as err:
                name = seg.get("name", k) if isinstance(seg, dict) else k
                raise DatasetFormatError(
                    f"{str(path)!r}: segment {name!r} needs 'points' (n x 3 mm) and 'radii' (n mm): {err!r}"
                ) from err
            if len(seg["points"]) != len(seg["radii"]):
                raise DatasetFormatError(
                    f"{str(path)!r}: segment {seg.get('name', k)!r}: "
                    f"{len(seg['points'])} points but {len(seg['radii'])} radii"
                )
    return data
