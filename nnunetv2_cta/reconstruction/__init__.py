"""Reconstructions of a head-and-neck CTA and the per-case QC report.

Bone-free CTA (:func:`bone_free_ct`), maximum intensity projections (:func:`render_mips`), a volume
rendering of the labelled arteries (:func:`render_vr`), named centerline paths found from the label map
(:func:`centerline_paths`) and straightened curved planar reformations along them (:func:`render_cpr`),
suspected remaining breaks (:func:`suspected_breaks`) and the HTML report (:func:`write_report`);
:func:`reconstruct_case` makes all images of one case. numpy/scipy/matplotlib only: no torch, no nnunetv2.

Typical use::

    from nnunetv2_cta.reconstruction import reconstruct_case, suspected_breaks, write_report
    out = reconstruct_case(ct, labels, geometry, "out", "case_001", record=record)
    record["suspected_breaks"] = suspected_breaks(labels, geometry)
    write_report("out/case_001_report.html", record, out["images"])
"""

from nnunetv2_cta.reconstruction.bone import bone_free_ct
from nnunetv2_cta.reconstruction.break_search import suspected_breaks
from nnunetv2_cta.reconstruction.cpr import render_cpr, straightened_cpr
from nnunetv2_cta.reconstruction.mip import mip_image, render_mips
from nnunetv2_cta.reconstruction.paths import PATH_NAMES, centerline_paths, path_length_mm
from nnunetv2_cta.reconstruction.reconstruct import reconstruct_case
from nnunetv2_cta.reconstruction.report import write_report
from nnunetv2_cta.reconstruction.vr import render_vr

__all__ = [
    "PATH_NAMES",
    "bone_free_ct",
    "centerline_paths",
    "mip_image",
    "path_length_mm",
    "reconstruct_case",
    "render_cpr",
    "render_mips",
    "render_vr",
    "straightened_cpr",
    "suspected_breaks",
    "write_report",
]
