from __future__ import annotations

import re

import numpy as np
import pytest

from nnunetv2_cta.errors import DatasetFormatError
from nnunetv2_cta.reconstruction import reconstruct_case, suspected_breaks, write_report


def _png(path):
    from matplotlib import image as mpimg

    path.parent.mkdir(parents=True, exist_ok=True)
    mpimg.imsave(path, np.zeros((4, 4)), cmap="gray")
    return path


def test_report_escapes_and_references_existing_images(tmp_path):
    imgs = {"mip_anterior": _png(tmp_path / "img" / "a.png"), "<b>odd</b>": _png(tmp_path / "b.png")}
    record = {
        "case": "<script>alert(1)</script>",
        "model": "m & co",
        "versions": {"nnunetv2_cta": "0.1<"},
        "timings_s": {"segmentation": 12.345},
        "volumes_ml": {"aorta": 81.234},
        "repaired_gaps": [
            {"world_xyz": [1, 2, 3], "length_mm": 7.5, "region": "carotid\"'", "method": "cgpm"}
        ],
        "suspected_breaks": [{"position_mm": [4.0, 5.0, 6.0], "gap_mm": 9.0, "region": "intracranial"}],
    }
    page = write_report(tmp_path / "report" / "c.html", record, imgs)
    text = page.read_text()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "m &amp; co" in text and "0.1&lt;" in text and "&lt;b&gt;odd&lt;/b&gt;" in text
    assert "carotid&quot;&#x27;" in text
    assert "12.35" in text and "81.23" in text and "(1.0, 2.0, 3.0)" in text and "(4.0, 5.0, 6.0)" in text
    srcs = re.findall(r"<img src='([^']+)'", text)
    assert srcs == ["../img/a.png", "../b.png"]  # relative to the page
    for src in srcs:
        assert (page.parent / src).is_file()
    assert not list(page.parent.glob(".tmp_*"))


def test_report_tolerates_missing_keys_and_rejects_missing_images(tmp_path):
    page = write_report(tmp_path / "r.html", {}, {})
    text = page.read_text()
    assert text.count("n/a") >= 4  # model, versions, volumes, timings
    assert "What to verify" in text
    with pytest.raises(DatasetFormatError, match=r"report images must exist, missing: .*nope\.png"):
        write_report(tmp_path / "r.html", {}, {"x": tmp_path / "nope.png"})


def test_reconstruct_case_on_phantom(tiny_cta, tmp_path):
    record: dict = {"case": "tiny"}
    out = reconstruct_case(
        tiny_cta.image, tiny_cta.labels, tiny_cta.geometry, tmp_path, "tiny", record=record
    )
    assert out["bone_free"].shape == tiny_cta.image.shape
    assert out["bone_free"][tiny_cta.labels == 1].max() <= 300
    names = set(out["images"])
    assert {"mip_anterior", "mip_lateral", "mip_axial", "vr_anterior", "vr_left"} <= names
    assert {"cpr_right_carotid", "cpr_left_carotid", "cpr_vertebrobasilar"} <= names
    assert all(p.is_file() for p in out["images"].values())
    assert all(150.0 < v < 400.0 for v in out["paths"].values()), out["paths"]
    assert set(record["timings_s"]) == {
        "recon_bone_free",
        "recon_mips",
        "recon_vr",
        "recon_paths",
        "recon_cprs",
    }
    record["suspected_breaks"] = suspected_breaks(tiny_cta.labels, tiny_cta.geometry)
    page = write_report(tmp_path / "tiny.html", record, out["images"])
    assert page.read_text().count("<img ") == len(out["images"])


def test_real_head_cta_crop(real_data, tmp_path):
    """A real head CTA crop (HU, no labels): labels faked by threshold; nothing must crash."""
    from nnunetv2_cta.io import read_image
    from nnunetv2_cta.reconstruction import bone_free_ct, centerline_paths, render_mips, render_vr

    ct, geo = read_image(real_data / "topcow" / "head_cta_cow_crop.mha")
    labels = np.zeros(ct.shape, np.uint8)
    labels[ct > 700] = 1
    labels[(ct > 200) & (ct <= 700)] = 4
    bf = bone_free_ct(ct, labels, geo.spacing)
    assert bf[labels == 1].max() <= 300
    assert len(render_mips(bf, geo.spacing, tmp_path, "real")) == 3
    assert render_vr(labels, geo.spacing, tmp_path / "vr.png").is_file()
    paths = centerline_paths(labels, geo.spacing)
    assert set(paths) <= {"right_carotid", "left_carotid", "vertebrobasilar"}
