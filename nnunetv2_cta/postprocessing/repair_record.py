"""The "repaired gaps" record written by every repair method (gap bridging baseline, CGPM), for the QC report.

One JSON file per case, ``<case>_repairs.json``::

    {"format": "nnunetv2_cta.repaired_gaps", "version": 1, "case": "case_001", "method": "baseline",
     "gaps": [{"index_zyx": [z, y, x], "world_xyz": [x, y, z], "length_mm": 7.5, "label": 3,
               "region": "carotid", "num_voxels": 42}]}

``index_zyx`` is a voxel of the added piece (the one nearest to its centroid) as a full-volume index, and
``world_xyz`` the same point in world mm (ITK x, y, z, LPS). ``length_mm`` is the length of the added piece
along its path (baseline) or along its own centerline (CGPM). ``region`` names ``label`` in the scheme of
:mod:`nnunetv2_cta.labels`. Plain json: readers need not import this package.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.io import write_json_atomic
from nnunetv2_cta.labels import LABEL_NAMES

FORMAT = "nnunetv2_cta.repaired_gaps"
VERSION = 1


@dataclass(frozen=True)
class RepairedGap:
    """One piece added to a vessel segmentation by a repair method.

    Attributes:
        index_zyx: full-volume voxel index (z, y, x) of the added piece's central voxel.
        world_xyz: the same point in world mm (ITK x, y, z), or ``None`` without geometry.
        length_mm: length of the added piece in mm (see module docstring).
        label: label value given to the piece (2 aorta, 3 carotid, 4 intracranial).
        num_voxels: number of voxels added.
    """

    index_zyx: tuple[int, int, int]
    world_xyz: tuple[float, float, float] | None
    length_mm: float
    label: int
    num_voxels: int

    @property
    def region(self) -> str:
        return LABEL_NAMES.get(int(self.label), f"label_{int(self.label)}")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["index_zyx"] = [int(v) for v in self.index_zyx]
        out["world_xyz"] = None if self.world_xyz is None else [float(v) for v in self.world_xyz]
        out["region"] = self.region
        return out

    @classmethod
    def from_dict(cls, d: dict) -> RepairedGap:
        world = d.get("world_xyz")
        return cls(
            index_zyx=tuple(int(v) for v in d["index_zyx"]),  # type: ignore[arg-type]
            world_xyz=None if world is None else tuple(float(v) for v in world),  # type: ignore[arg-type]
            length_mm=float(d["length_mm"]),
            label=int(d["label"]),
            num_voxels=int(d["num_voxels"]),
        )


def save_repaired_gaps(path: str | os.PathLike, case: str, method: str, gaps: list[RepairedGap]) -> Path:
    """Write the repair record of one case (format in the module docstring); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "case": case,
        "method": method,
        "gaps": [g.to_dict() for g in gaps],
    }
    write_json_atomic(path, doc)
    return path


def load_repaired_gaps(path: str | os.PathLike) -> tuple[str, str, list[RepairedGap]]:
    """Read a repair record; returns ``(case, method, gaps)``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DatasetFormatError(f"cannot read repair record {str(path)!r}: {err}") from err
    if doc.get("format") != FORMAT:
        raise DatasetFormatError(f"{str(path)!r}: format must be {FORMAT!r}, got {doc.get('format')!r}")
    return doc["case"], doc["method"], [RepairedGap.from_dict(g) for g in doc["gaps"]]
