"""Benchmark: phantom generation time and peak memory per preset and modality.

Each (preset, modality) runs in a fresh subprocess so its peak resident memory (``ru_maxrss``) is its own.
Usage::

    OMP_NUM_THREADS=1 python benchmarks/phantom_generation.py [--presets tiny train clinical] [--modalities cta ncct dsa] [--seed 0] [--write]

Prints one line per run (anatomy seconds, render seconds, voxels, peak RSS) and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
from nnunetv2_cta.phantom import generate_anatomy, render_case
preset, modality, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
anatomy = generate_anatomy(seed, preset=preset)
t1 = time.perf_counter()
case = render_case(anatomy, modality)
t2 = time.perf_counter()
write_s = None
if len(sys.argv) > 4:
    import tempfile
    from nnunetv2_cta.phantom import write_case
    with tempfile.TemporaryDirectory() as tmp:
        t3 = time.perf_counter()
        write_case(case, tmp, "bench")
        write_s = round(time.perf_counter() - t3, 2)
print(json.dumps({
    "preset": preset, "modality": modality, "shape": list(case.image.shape),
    "voxels_M": round(case.image.size / 1e6, 1), "segments": len(anatomy.segments),
    "anatomy_s": round(t1 - t0, 2), "render_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
    "write_s": write_s,
    "peak_rss_GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
}))
"""


def machine() -> str:
    from nnunetv2_cta.environment import cpu_model

    cpu = cpu_model()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError):
        mem = float("nan")
    return f"{cpu}, {os.cpu_count()} logical cores, {mem:.0f} GB RAM, Python {platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "train", "clinical"])
    parser.add_argument("--modalities", nargs="+", default=["cta", "ncct", "dsa"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write", action="store_true", help="also time write_case (NIfTI .nii.gz + graph JSON)"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for preset in args.presets:
        for modality in args.modalities:
            res = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    preset,
                    modality,
                    str(args.seed),
                    *(["write"] if args.write else []),
                ],
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                print(f"{preset} {modality}: FAILED\n{res.stderr[-2000:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(
                f"{preset:8s} {modality:4s} shape {tuple(r['shape'])} ({r['voxels_M']} M voxels), {r['segments']} segments: "
                f"anatomy {r['anatomy_s']} s + render {r['render_s']} s = {r['total_s']} s"
                + (f", write_case {r['write_s']} s" if r["write_s"] is not None else "")
                + f", peak RSS {r['peak_rss_GB']} GB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
