"""Time each reconstruction function on one clinical-preset phantom CTA (700x512x512 at 0.5 mm).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/reconstruction_speed.py [--preset clinical] [--seed 3]
        [--repeat 1] [--out DIR]

Prints the machine, the case size, the wall time of bone_free_ct, render_mips (3 views), render_vr
(anterior), centerline_paths, render_cpr (each path), suspected_breaks, write_report and reconstruct_case
(all images), the best of ``--repeat`` runs each, and the peak resident memory. ``--out`` keeps the images.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path


def _best(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="clinical")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from nnunetv2_cta.phantom import generate_anatomy, render_case
    from nnunetv2_cta.reconstruction import (
        bone_free_ct,
        centerline_paths,
        reconstruct_case,
        render_cpr,
        render_mips,
        render_vr,
        suspected_breaks,
        write_report,
    )

    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, python {platform.python_version()}"
    )
    t0 = time.perf_counter()
    case = render_case(generate_anatomy(args.seed, preset=args.preset), "cta")
    print(
        f"phantom {args.preset} seed {args.seed}: {case.image.shape} at {case.geometry.spacing} mm, "
        f"rendered in {time.perf_counter() - t0:.1f} s"
    )
    ct, labels, geo = case.image, case.labels, case.geometry
    out = args.out or Path(tempfile.mkdtemp(prefix="recon_bench_"))
    rows = []

    t, bf = _best(lambda: bone_free_ct(ct, labels, geo.spacing), args.repeat)
    rows.append(("bone_free_ct", t))
    t, _ = _best(lambda: render_mips(bf, geo.spacing, out, "bench"), args.repeat)
    rows.append(("render_mips (3 views)", t))
    t, _ = _best(
        lambda: render_vr(labels, geo.spacing, out / "bench_vr_anterior.png", title="phantom"), args.repeat
    )
    rows.append(("render_vr (anterior)", t))
    t, paths = _best(lambda: centerline_paths(labels, geo.spacing), args.repeat)
    rows.append((f"centerline_paths ({len(paths)} found)", t))
    for name, p in paths.items():
        t, _ = _best(
            lambda p=p, name=name: render_cpr(bf, p, geo.spacing, out / f"bench_cpr_{name}.png", title=name),
            args.repeat,
        )
        rows.append((f"render_cpr {name}", t))
    t, breaks = _best(lambda: suspected_breaks(labels, geo), args.repeat)
    rows.append((f"suspected_breaks ({len(breaks)} found)", t))
    record: dict = {"case": "bench"}
    t, result = _best(
        lambda: reconstruct_case(ct, labels, geo, out / "case", "bench", record=record), args.repeat
    )
    rows.append(("reconstruct_case (all images)", t))
    record["suspected_breaks"] = breaks
    t, _ = _best(lambda: write_report(out / "case" / "bench.html", record, result["images"]), args.repeat)
    rows.append(("write_report", t))

    print("| step | seconds |\n|---|---|")
    for name, t in rows:
        print(f"| {name} | {t:.2f} |")
    print(f"paths (mm): {result['paths']}")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
    print(f"images in {out}")


if __name__ == "__main__":
    main()
