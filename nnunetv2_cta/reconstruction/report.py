"""The per-case QC report: one HTML page for the technologist who checks and sends the reconstructions.

The page is plain HTML with inline CSS (no JavaScript, no external resources); images are referenced by
paths RELATIVE to the page, so the output folder can be moved or zipped as a whole. Every string taken
from ``record`` is escaped (:func:`html.escape`). Missing keys show as "n/a".

``record`` keys read (all optional)::

    {"case": "case_001", "model": "Dataset123 3d_fullres nnUNetTrainerCTA", "versions": {"nnunetv2_cta": ...},
     "timings_s": {"segmentation": 41.2, ...}, "volumes_ml": {"aorta": 80.1, "carotid": 12.3, ...},
     "repaired_gaps": [{"world_xyz": [x, y, z], "length_mm": 7.5, "region": "carotid", "method": "cgpm"}],
     "suspected_breaks": [{"position_mm": [x, y, z], "gap_mm": 6.0, "region": "carotid"}],
     "paths_mm": {"right_carotid": 190.3}, "notes": ["..."],
     "plausibility": {"status": "ok" | ..., "flags": ["vessel volume 410 mL > 250 mL", ...]},
     "images_not_made": {"cpr_vertebrobasilar": "why"}}

At the very top, a non-empty ``plausibility.flags`` list gives a red "Check this case" banner listing the
flags; ``plausibility.status == "ok"`` (and no flags) a small green line. Every standard image of
:data:`CAPTIONS` that is not in ``images`` gets a line saying why: ``images_not_made[name]`` when the caller
knows, else, for a CPR, what ``paths_mm`` shows (no path found, or a path shorter than
:data:`~nnunetv2_cta.reconstruction.reconstruct.MIN_CPR_MM`). With a segmentation without vessels
(``volumes_ml["vessels"] == 0``) the break count reads "not applicable", never a reassuring green 0.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.io import write_text_atomic

logger = logging.getLogger(__name__)

NA = "n/a"
#: what the suspected-break search cannot see (measured: it flags 28 % of the evaluation's breaks in stage-1
#: predictions of 8 held-out phantoms, and none of the 37 left after the demo's repair; README, QC section)
BREAK_SEARCH_LIMIT = (
    "this search finds only a vessel interrupted between two facing ends; a vessel that stops, "
    "takes a wrong course or is missing is not counted"
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f;
max-width:1200px}
h1{font-size:22px;margin-bottom:4px}h3{font-size:14px;margin:14px 0 4px 0;color:#333}h2{font-size:17px;border-bottom:1px solid #ccc;padding-bottom:3px;
margin-top:28px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left}th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#555;font-size:13px}.warn{color:#a10;font-weight:600}.ok{color:#070}
figure{display:inline-block;margin:6px 10px 10px 0;vertical-align:top}
figure img{max-height:520px;max-width:100%;border:1px solid #ddd;background:#111}
figcaption{font-size:12px;color:#444;max-width:420px}
figure.cpr img{max-height:none;background:#fff}
ul.check li{margin:3px 0}
.banner{background:#fde8e8;border:2px solid #c00;color:#900;padding:8px 14px;margin:0 0 14px 0}
.banner h2{margin:0 0 4px 0;border:none;color:#c00;font-size:18px}.banner ul{margin:4px 0}
.plausible{color:#070;font-size:13px;margin:0 0 10px 0}
ul.notmade li{margin:2px 0;color:#555;font-size:13px}
"""

#: Captions of the standard image names written by :func:`~nnunetv2_cta.reconstruction.reconstruct_case`.
CAPTIONS = {
    "mip_anterior": "Bone-free MIP, anterior view (patient's right on the image left, head up).",
    "mip_lateral": "Bone-free MIP, lateral view (anterior on the image left).",
    "mip_axial": "Bone-free MIP, axial view from the feet (patient's right on the image left).",
    "vr_anterior": "Volume rendering of the segmented arteries, anterior view. Red aorta, orange neck "
    "arteries, blue intracranial arteries.",
    "vr_left": "Volume rendering, seen from the patient's left.",
    "cpr_right_carotid": "Straightened CPR, right carotid (CCA to intracranial ICA), distal end at the top.",
    "cpr_left_carotid": "Straightened CPR, left carotid (CCA to intracranial ICA), distal end at the top.",
    "cpr_vertebrobasilar": "Straightened CPR, dominant vertebral artery to the basilar top, distal at the top.",
    "repairs_anterior": "Bone-free MIP, anterior view, with the voxels the repair added in red; each repaired gap "
    "is ringed in yellow and numbered as in the table of repaired gaps.",
}


def _e(value) -> str:
    return NA if value is None else html.escape(str(value))


def _num(value, fmt: str = "{:.1f}") -> str:
    try:
        return html.escape(fmt.format(float(value)))
    except (TypeError, ValueError):
        return _e(value) if value not in (None, "") else NA


def _xyz(value) -> str:
    try:
        return html.escape("(" + ", ".join(f"{float(v):.1f}" for v in value) + ")")
    except (TypeError, ValueError):
        return _e(value)


def _kv_table(mapping, header: tuple[str, str], fmt: str = "{:.1f}") -> str:
    if not isinstance(mapping, dict) or not mapping:
        return f"<p>{NA}</p>"
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td class='num'>{_num(v, fmt)}</td></tr>" for k, v in mapping.items()
    )
    return f"<table><tr><th>{_e(header[0])}</th><th>{_e(header[1])}</th></tr>{rows}</table>"


def _rows(items, columns) -> str:
    """A table of dicts; ``columns`` = [(header, key or callable)]."""
    if not isinstance(items, (list, tuple)) or not items:
        return "<p class='ok'>none</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h, _ in columns)
    body = ""
    for i, item in enumerate(items, start=1):
        item = item if isinstance(item, dict) else {}
        cells = "".join(f"<td>{fn(item, i)}</td>" for _, fn in columns)
        body += f"<tr>{cells}</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _relative(image: Path, page_dir: Path) -> str:
    try:
        rel = os.path.relpath(image.resolve(), page_dir.resolve())
    except ValueError as err:  # another drive (Windows)
        raise ConfigurationError(
            f"image {str(image)!r} cannot be referenced relative to {str(page_dir)!r}"
        ) from err
    return Path(rel).as_posix()


def _banner(record: dict) -> str:
    """Red "Check this case" banner for plausibility flags, a green line for status "ok", else nothing."""
    plaus = record.get("plausibility")
    if not isinstance(plaus, dict):
        return ""
    flags = plaus.get("flags")
    if isinstance(flags, (list, tuple)) and flags:
        items = "".join(f"<li>{_e(f)}</li>" for f in flags)
        return (
            "<div class='banner' role='alert'><h2>&#9888; Check this case</h2>"
            f"<p>The segmentation looks implausible:</p><ul>{items}</ul></div>"
        )
    if plaus.get("status") == "ok":
        return "<p class='plausible'>&#10003; Plausibility checks passed.</p>"
    return ""


def _why_not_made(name: str, record: dict) -> str:
    """Why the standard image ``name`` is missing, from what the record says."""
    from nnunetv2_cta.reconstruction.reconstruct import MIN_CPR_MM

    given = record.get("images_not_made")
    if isinstance(given, dict) and given.get(name):
        return str(given[name])
    paths = record.get("paths_mm")
    if name.startswith("cpr_") and isinstance(paths, dict):
        path = name[len("cpr_") :].replace("_", " ")
        length = paths.get(name[len("cpr_") :])
        if length is None:
            return (
                f"no {path} centerline path was found in the label map (the artery is not segmented from "
                "one end to the other, or not connected)"
            )
        try:
            if float(length) < MIN_CPR_MM:
                return f"the {path} path is only {float(length):.1f} mm long (< {MIN_CPR_MM:g} mm): too short for a CPR"
        except (TypeError, ValueError):
            pass
    return "not made; no reason recorded (were the reconstructions run?)"


def _vessels_empty(record: dict) -> bool:
    volumes = record.get("volumes_ml")
    if not isinstance(volumes, dict) or "vessels" not in volumes:
        return False
    try:
        return float(volumes["vessels"]) <= 0.0
    except (TypeError, ValueError):
        return False


def write_report(
    html_path: str | os.PathLike, record: dict | None, images: dict[str, str | os.PathLike]
) -> Path:
    """Write the QC report of one case (contents in the module docstring); atomic write.

    Args:
        html_path: the page to write (``.html``).
        record: plain JSON-able dict of facts about the case (keys in the module docstring; missing ones
            are shown as "n/a").
        images: ``{name: path}`` of PNGs to show; names from :data:`CAPTIONS` get a standard caption.
            Every image must exist (it is referenced by a relative path, not embedded).

    Returns:
        ``html_path``.

    Raises:
        DatasetFormatError: an image file does not exist.
    """
    html_path = Path(html_path)
    record = dict(record or {})
    if not isinstance(images, dict):
        raise ConfigurationError(f"images must be a dict {{name: path}}, got {type(images).__name__}")
    page_dir = html_path.parent
    page_dir.mkdir(parents=True, exist_ok=True)
    missing = [str(p) for p in images.values() if not Path(p).is_file()]
    if missing:
        raise DatasetFormatError(f"report images must exist, missing: {missing!r}")

    gaps = record.get("repaired_gaps")
    breaks = record.get("suspected_breaks")
    n_gaps = len(gaps) if isinstance(gaps, list) else 0
    n_breaks = len(breaks) if isinstance(breaks, list) else 0
    version_text = _version_text(record.get("versions"))
    gap_table = _gap_table(gaps, record)
    break_table = _break_table(breaks)
    figures = _figures(images, page_dir, record)
    if _vessels_empty(record):
        breaks_html = "<b class='warn'>not applicable (no vessel segmented)</b>"
    elif n_breaks:
        breaks_html = f'<b class="warn">{n_breaks}</b>'
    else:  # not a green light: the search sees only interruptions between two facing vessel ends
        breaks_html = f"<b>0</b> <span class='meta'>({_e(BREAK_SEARCH_LIMIT)})</span>"
    notes = record.get("notes")
    notes_html = (
        "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"
        if isinstance(notes, list) and notes
        else ""
    )
    checklist = _checklist(n_gaps, n_breaks)
    case = record.get("case")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CTA report {_e(case)}</title>
<style>{CSS}</style></head><body>
{_banner(record)}
<h1>Head-and-neck CTA: {_e(case)}</h1>
<p class="meta">Model: {_e(record.get("model"))}<br>Versions: {version_text}<br>
Created: {_e(record.get("created"))}</p>
<p>Repaired gaps: <b>{n_gaps}</b> &middot; suspected remaining breaks:
{breaks_html}</p>
{notes_html}
<h2>What to verify</h2>
<ul class="check">{"".join(f"<li>&#9744; {_e(c)}</li>" for c in checklist)}</ul>
<h2>Images</h2>
{figures or f"<p>{NA}</p>"}
<h2>Vessel volumes</h2>
{_kv_table(record.get("volumes_ml"), ("region", "volume mL"), "{:.2f}")}
<h2>Centerline paths</h2>
{_kv_table(record.get("paths_mm"), ("path", "length mm"))}
<h2>Repaired gaps</h2>
{gap_table}
<h2>Suspected remaining breaks</h2>
{break_table}
<h2>Timings</h2>
{_kv_table(record.get("timings_s"), ("step", "seconds"), "{:.2f}")}
</body></html>
"""
    write_text_atomic(html_path, page)
    return html_path


def _version_text(versions) -> str:
    if isinstance(versions, dict) and versions:
        return ", ".join(f"{_e(k)} {_e(v)}" for k, v in versions.items())
    return NA


def _gap_table(gaps, record: dict) -> str:
    return _rows(
        gaps,
        [
            ("#", lambda g, i: str(i)),
            ("location (x, y, z) mm", lambda g, i: _xyz(g.get("world_xyz", g.get("position_mm")))),
            (
                "voxel (z, y, x)",
                lambda g, i: _xyz(g.get("index_zyx")) if g.get("index_zyx") is not None else NA,
            ),
            ("length mm", lambda g, i: _num(g.get("length_mm"))),
            ("region", lambda g, i: _e(g.get("region"))),
            ("method", lambda g, i: _e(g.get("method", record.get("repair_method")))),
        ],
    )


def _break_table(breaks) -> str:
    return _rows(
        breaks,
        [
            ("#", lambda b, i: str(i)),
            ("position (x, y, z) mm", lambda b, i: _xyz(b.get("position_mm"))),
            (
                "voxel (z, y, x)",
                lambda b, i: _xyz(b.get("index_zyx")) if b.get("index_zyx") is not None else NA,
            ),
            ("gap mm", lambda b, i: _num(b.get("gap_mm"))),
            ("region", lambda b, i: _e(b.get("region"))),
        ],
    )


_GROUPS = {"mip_": "Bone-free MIPs", "vr_": "Volume renderings", "cpr_": "Straightened CPRs"}


def _figures(images: dict, page_dir: Path, record: dict) -> str:
    """The images grouped by kind (MIPs, VRs, CPRs, other), each group followed by the standard ones not made."""
    figures = ""
    for prefix, heading in [*_GROUPS.items(), ("", "Other images")]:
        names = [
            n
            for n in images
            if str(n).startswith(prefix) and (prefix or not any(str(n).startswith(g) for g in _GROUPS))
        ]
        missing = [n for n in CAPTIONS if n.startswith(prefix) and n not in images] if prefix else []
        if not names and not missing:
            continue
        figures += f"<h3>{_e(heading)}</h3>"
        for name in names:
            caption = CAPTIONS.get(str(name), str(name))
            css = " class='cpr'" if prefix == "cpr_" else ""
            src = html.escape(_relative(Path(images[name]), page_dir), quote=True)
            figures += (
                f"<figure{css}><img src='{src}' alt='{_e(name)}'><figcaption><b>{_e(name)}</b>: "
                f"{_e(caption)}</figcaption></figure>"
            )
        if missing:  # a line for every standard image that was not made, and why
            figures += (
                "<ul class='notmade'>"
                + "".join(
                    f"<li>Not made: <b>{_e(n)}</b>: {_e(_why_not_made(n, record))}</li>" for n in missing
                )
                + "</ul>"
            )
    return figures


def _checklist(n_gaps: int, n_breaks: int) -> list[str]:
    """The "What to verify" items, with the counts of repaired gaps and suspected breaks."""
    return [
        "The bone-free MIPs show the arch, both carotid and both vertebral arteries and the Circle of Willis; "
        "no bone left that hides an artery, no artery removed with the bone (carotid canal, vertebral foramina).",
        f"Each repaired gap ({n_gaps}) lies on a real vessel course in the CT (check it on the CPR and the source "
        "slices); a bridge across a true occlusion must be removed.",
        f"Each suspected remaining break ({n_breaks}) is a real stenosis/occlusion or a segmentation miss; "
        "look at the source images at the listed position. Follow every artery on the MIPs as well: "
        + BREAK_SEARCH_LIMIT
        + ".",
        "The CPRs follow the lumen from end to end (a continuous bright band); a band that leaves the lumen "
        "means the centerline is wrong, not the vessel.",
        "Labels: aorta red, neck arteries orange, intracranial blue in the VR; region borders at the aortic "
        "arch and at the skull base.",
        "Veins, the sigmoid sinus and calcified plaque are not labelled as artery.",
    ]
