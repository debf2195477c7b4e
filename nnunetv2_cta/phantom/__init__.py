"""Digital head-and-neck angiography phantom: seeded anatomy → CTA / NCCT / 3D-DSA with exact labels.

Typical use::

    from nnunetv2_cta.phantom import generate_anatomy, render_case, write_case
    anatomy = generate_anatomy(7, preset="train", pathologies=["stenosis"])
    case = render_case(anatomy, "cta")          # case.image int16 HU [z, y, x], case.labels uint8
    write_case(case, "out", "case_007")

or a whole nnU-Net raw dataset with :func:`write_dataset` (CLI ``nnunetv2_cta phantom``). Pure numpy/scipy:
this subpackage imports neither torch nor nnunetv2.
"""

from nnunetv2_cta.phantom.anatomy import PATHOLOGIES, VARIANTS, Anatomy, Segment, generate_anatomy
from nnunetv2_cta.phantom.graph import load_vessel_graph, save_vessel_graph
from nnunetv2_cta.phantom.modalities import MODALITIES, PhantomCase, render_case
from nnunetv2_cta.phantom.presets import PRESETS, get_preset
from nnunetv2_cta.phantom.preview import save_preview_png
from nnunetv2_cta.phantom.real_geometry import render_from_vessel_mask
from nnunetv2_cta.phantom.writer import write_case, write_dataset, write_nifti

__all__ = [
    "MODALITIES",
    "PATHOLOGIES",
    "PRESETS",
    "VARIANTS",
    "Anatomy",
    "PhantomCase",
    "Segment",
    "generate_anatomy",
    "get_preset",
    "load_vessel_graph",
    "render_case",
    "render_from_vessel_mask",
    "save_preview_png",
    "save_vessel_graph",
    "write_case",
    "write_dataset",
    "write_nifti",
]
