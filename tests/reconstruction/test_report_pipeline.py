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


# --- the report in a real browser (issue 18 item 3) ---

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
)  # fmt: skip

# appended to a copy of the page: after load, the <body> carries the images that did not decode
_IMAGE_CHECK = (
    "<script>window.addEventListener('load',()=>{const b=[...document.images]"
    ".filter(i=>!(i.complete&&i.naturalWidth>0)).map(i=>i.getAttribute('src'));"
    "document.body.setAttribute('data-broken',JSON.stringify(b));"
    "document.body.setAttribute('data-images',String(document.images.length));});</script>"
)


def _chromium(args, profile):
    import subprocess

    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def render_report_screenshot(page, png, profile, *, size=(1280, 3400)) -> dict:
    """Load ``page`` in headless Chromium: ``{"images": n, "broken": [src, ...]}`` and a screenshot PNG."""
    import json as _json

    check = page.with_name(f"_check_{page.name}")
    check.write_text(page.read_text().replace("</body>", _IMAGE_CHECK + "</body>"))
    try:
        dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", check.as_uri()], profile).stdout
    finally:
        check.unlink()
    found = re.search(r"<body[^>]*data-broken=\"([^\"]*)\"[^>]*data-images=\"(\d+)\"", dom)
    assert found, f"the image check did not run; DOM starts {dom[:300]!r}"
    broken = _json.loads(found.group(1).replace("&quot;", '"'))
    _chromium([f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", page.as_uri()], profile)
    return {"images": int(found.group(2)), "broken": broken}


def phantom_report(tiny_cta, out_dir, *, case="PhantomCTA_0006") -> tuple:
    """A report built from ``reconstruct_case`` on the tiny phantom, with two plausibility flags and the
    vertebrobasilar CPR taken out as if no path had been found (its image and path length removed)."""
    record: dict = {"case": case, "model": "nnUNetTrainerCTA / nnUNetCTAPlans_cpu / 3d_fullres (folds all)"}
    out = reconstruct_case(tiny_cta.image, tiny_cta.labels, tiny_cta.geometry, out_dir, case, record=record)
    images = dict(out["images"])
    images.pop("cpr_vertebrobasilar").unlink()
    record["paths_mm"].pop("vertebrobasilar")
    record["suspected_breaks"] = suspected_breaks(tiny_cta.labels, tiny_cta.geometry)
    record["volumes_ml"] = {"bone": 1200.0, "vessels": 410.2}
    record["plausibility"] = {
        "status": "implausible",
        "flags": ["vessel volume 410.2 mL > 250 mL (flooded stage 1?)", "no intracranial artery <found>"],
    }
    return write_report(out_dir / "report.html", record, images), record, images


def test_report_banner_and_not_made_lines(tiny_cta, tmp_path):
    page, _, images = phantom_report(tiny_cta, tmp_path)
    text = page.read_text()
    body = text[text.index("<body>") :]
    assert body.index("Check this case") < body.index("<h1>")  # the banner is the first thing
    assert "no intracranial artery &lt;found&gt;" in body and "410.2 mL &gt; 250 mL" in body
    assert (
        "<li>Not made: <b>cpr_vertebrobasilar</b>: no vertebrobasilar centerline path was found in the label map"
        in body
    )
    assert body.count("<img ") == len(images) == 7
    assert body.count("<figure class='cpr'>") == 2 and body.count("Not made:") == 1
    assert body.index("<h3>Bone-free MIPs</h3>") < body.index("<h3>Volume renderings</h3>")
    # status ok: a small green line instead; no plausibility key: neither
    ok = write_report(tmp_path / "ok.html", {"plausibility": {"status": "ok", "flags": []}}, {}).read_text()
    assert "Plausibility checks passed" in ok and "Check this case" not in ok
    plain = write_report(tmp_path / "plain.html", {}, {}).read_text()
    assert "Plausibility" not in plain and "Check this case" not in plain
    # every standard image missing gets a line; a short path says how short; a caller's reason wins
    rec = {"paths_mm": {"right_carotid": 12.34}, "images_not_made": {"vr_left": "VR switched off"}}
    text = write_report(tmp_path / "r.html", rec, {}).read_text()
    assert text.count("<ul class='notmade'><li>") == 3 and text.count("<li>Not made: <b>") == 8  # per group
    assert "the right carotid path is only 12.3 mm long (&lt; 20 mm): too short for a CPR" in text
    assert "<b>vr_left</b>: VR switched off" in text
    assert "<b>mip_anterior</b>: not made; no reason recorded" in text


def test_report_with_no_vessels_does_not_show_zero_breaks_as_good(tmp_path):
    text = write_report(tmp_path / "r.html", {"volumes_ml": {"vessels": 0.0}, "suspected_breaks": []}, {})
    text = text.read_text()
    assert "suspected remaining breaks:\n<b class='warn'>not applicable (no vessel segmented)</b>" in text
    # zero found is not shown as good either: the search cannot see most kinds of break
    text = write_report(tmp_path / "r.html", {"volumes_ml": {"vessels": 3.0}, "suspected_breaks": []}, {})
    text = text.read_text()
    assert (
        "suspected remaining breaks:\n<b>0</b> <span class='meta'>(this search finds only a vessel interrupted"
        in text
    )
    assert '<b class="ok">0</b>' not in text and "Follow every artery on the MIPs as well" in text
    breaks = [{"position_mm": [1, 2, 3], "index_zyx": [3, 2, 1], "gap_mm": 4.0, "region": "carotid"}]
    text = write_report(tmp_path / "r.html", {"volumes_ml": {"vessels": 3.0}, "suspected_breaks": breaks}, {})
    assert '<b class="warn">1</b>' in text.read_text()


@pytest.mark.skipif(
    not __import__("os").path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is absent (Debian: apt-get install chromium)",
)
def test_report_in_headless_chromium(tiny_cta, tmp_path):
    from matplotlib import image as mpimg

    page, _, images = phantom_report(tiny_cta, tmp_path / "case")
    png = tmp_path / "report.png"
    loaded = render_report_screenshot(page, png, tmp_path / "profile")
    assert loaded == {"images": len(images), "broken": []}
    shot = mpimg.imread(png)
    assert shot.shape[:2] == (3400, 1280)
    # the red banner fills the top of the page: its pink background (#fde8e8) at the left margin, 30 px down
    assert shot[30, 40, :3] == pytest.approx([0xFD / 255, 0xE8 / 255, 0xE8 / 255], abs=0.02)
    # a broken image is caught: remove one and load again
    next(iter(images.values())).unlink()
    assert len(render_report_screenshot(page, png, tmp_path / "profile")["broken"]) == 1
