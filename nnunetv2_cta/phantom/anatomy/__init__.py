"""Seeded head-and-neck anatomy: arterial and venous centreline graph, bones, soft tissue, pathologies.

World frame: millimetres, ITK ``(x, y, z)``, LPS (x to the patient's left, y posterior, z superior). World
z = 0 is just below the top of the aortic arch; the skull base (inferior surface of the clivus/petrous
plate, the level of the foramen magnum) lies near z = 185 and the vertex near z = 320.

Region borders used for the labels (documented in the case's graph JSON as ``borders``):

* aorta (2) | carotid (3): the horizontal plane ``z = borders["aorta_top_mm"]``, 1.5 mm above the highest
  point of the arch lumen; every supra-aortic trunk is split where its centreline crosses it.
* carotid (3) | intracranial (4): the horizontal plane ``z = borders["skull_base_mm"]`` at the skull base:
  the internal carotid is split where it enters the carotid canal, the vertebral artery inside the foramen
  magnum. External carotid branches stay ``carotid`` wherever they run (they never enter the skull).

Each artery that crosses a border is split into two segments there; the two halves meet with flat ends on
a plane perpendicular to the centreline, so the label border is exact.

One builder module per body region, run by :func:`generate_anatomy` (:mod:`.generate`) in a fixed order:

* :mod:`.neck_arteries`: aortic arch, supra-aortic trunks, carotid bifurcations, ICA, ECA branches
* :mod:`.vertebrobasilar`: vertebral arteries and the basilar artery
* :mod:`.intracranial`: Circle of Willis (with variants) and the random distal trees
* :mod:`.veins`: jugular veins, dural sinuses, cortical veins (label 0)
* :mod:`.pathologies`: stenosis, occlusion, low flow, aneurysm/coil, calcified plaque, stent, fillings
* :mod:`.region_split`: the cut of each border-crossing artery into two labelled halves
* :mod:`.bone_shapes` and :mod:`.soft_tissue`: bones as signed distances, body outline, air, organs

:mod:`.parts` holds the data classes, :mod:`.builder` the shared tools (segment builder, per-patient
numbers, random tree growth).
"""

from nnunetv2_cta.phantom.anatomy.generate import choose_variants, generate_anatomy
from nnunetv2_cta.phantom.anatomy.parts import (
    PATHOLOGIES,
    VARIANT_PROBABILITY,
    VARIANTS,
    Anatomy,
    BoneObject,
    Finding,
    Segment,
)
from nnunetv2_cta.phantom.anatomy.pathologies import check_pathologies

__all__ = [
    "PATHOLOGIES",
    "VARIANTS",
    "VARIANT_PROBABILITY",
    "Anatomy",
    "BoneObject",
    "Finding",
    "Segment",
    "check_pathologies",
    "choose_variants",
    "generate_anatomy",
]
