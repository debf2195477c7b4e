"""Time and peak memory of the full metric set of nnunetv2_cta.evaluation on one clinical-size case.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/evaluation_speed.py [--shape 600 512 512] [--profile]

The case is a synthetic head-and-neck CTA label map (600x512x512 voxels at 0.625x0.49x0.49 mm by default):
an aortic arch (label 2), four neck arteries (common carotids and vertebrals, label 3), an intracranial
tree of four generations branching from them (label 4), and bone (label 1: vertebral column and a skull
shell). If the phantom's clinical preset is importable it is not used yet: this script builds its own tree
so that the figure does not depend on another module. The prediction is the ground truth with damage:
five ball cuts on vessels, one distal branch deleted, vessel walls one voxel thicker in the neck, and
false-positive blobs. Prints the machine, the time of evaluate_case and the peak resident memory.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import resource
import time

import numpy as np


def _segment(lab: np.ndarray, p0, p1, r0: float, r1: float, value: int, spacing) -> None:
    """Draw a tapered tube from p0 to p1 (voxel coordinates z, y, x), radii in mm, into ``lab``."""
    sp = np.asarray(spacing)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    rmax = max(r0, r1)
    margin = np.ceil(rmax / sp).astype(int) + 1
    lo = np.maximum(np.floor(np.minimum(p0, p1)).astype(int) - margin, 0)
    hi = np.minimum(np.ceil(np.maximum(p0, p1)).astype(int) + margin + 1, lab.shape)
    if np.any(hi <= lo):
        return
    grids = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    d = (p1 - p0) * sp
    length2 = float(d @ d) or 1.0
    rel = [(g - p0[i]) * sp[i] for i, g in enumerate(grids)]
    t = np.clip((rel[0] * d[0] + rel[1] * d[1] + rel[2] * d[2]) / length2, 0, 1)
    dist2 = sum((rel[i] - t * d[i]) ** 2 for i in range(3))
    radius = r0 + (r1 - r0) * t
    inside = dist2 <= radius**2
    view = lab[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    view[inside & (view != 2)] = value


def synthetic_case(shape=(600, 512, 512), spacing=(0.625, 0.488, 0.488), seed=0):
    """Ground truth and damaged prediction ``[z, y, x]`` uint8, plus the list of drawn segments."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    lab = np.zeros(shape, np.uint8)
    cy, cx = ny // 2, nx // 2
    # bone: vertebral column behind the neck arteries, skull shell at the top
    z, y, x = np.ogrid[:nz, :ny, :nx]
    col = ((y - (cy + 70)) ** 2 + (x - cx) ** 2 <= 28**2) & (z < int(0.7 * nz)) & ((z // 40) % 2 == 0)
    lab[col] = 1
    ez, ey, ex = int(0.8 * nz), cy, cx
    ell = ((z - ez) / (0.35 * nz)) ** 2 + ((y - ey) / (0.42 * ny)) ** 2 + ((x - ex) / (0.38 * nx)) ** 2
    lab[(ell <= 1.0) & (ell >= 0.85) & (z > int(0.62 * nz))] = 1
    del col, ell
    segments = []

    def seg(p0, p1, r0, r1, value):
        segments.append((tuple(p0), tuple(p1), r0, r1, value))
        _segment(lab, p0, p1, r0, r1, value, spacing)

    # aortic arch (label 2): ascending, arch, descending
    base = int(0.05 * nz)
    arch = [(base, cy + 40, cx - 60), (base + 60, cy + 10, cx - 40), (base + 80, cy, cx), (base + 60, cy + 20, cx + 45),
            (0, cy + 50, cx + 55)]  # fmt: skip
    for a, b in itertools.pairwise(arch):
        seg(a, b, 12.0, 12.0, 2)
    # neck arteries (label 3) from the arch to the skull base
    skull_base = int(0.62 * nz)
    starts = [(base + 85, cy - 5, cx - 25), (base + 85, cy - 5, cx + 25), (base + 80, cy + 30, cx - 45),
              (base + 80, cy + 30, cx + 45)]  # fmt: skip
    radii = [3.5, 3.5, 2.0, 2.0]
    tops = []
    for (sz, sy, sx), r in zip(starts, radii):
        mid = (sz + (skull_base - sz) // 2, sy + rng.integers(-10, 10), sx + rng.integers(-8, 8))
        top = (skull_base, sy + rng.integers(-15, 15), sx + rng.integers(-10, 10))
        seg((sz, sy, sx), mid, r, r, 3)
        seg(mid, top, r, r * 0.9, 3)
        tops.append((top, r * 0.9))
    # intracranial tree (label 4): four generations of branching
    frontier = [(np.array(t, float), r, np.array([1.0, 0.0, 0.0])) for t, r in tops]
    for generation in range(4):
        nxt = []
        for point, r, direction in frontier:
            for _ in range(2):
                d = direction + rng.normal(0, 0.6, 3)
                d[0] = abs(d[0]) * 0.8
                d /= np.linalg.norm(d)
                length_vox = rng.uniform(40, 70) / (generation + 1) ** 0.3
                end = np.clip(point + d * length_vox, [0, 0, 0], np.array(shape) - 1)
                r_end = max(r * 0.75, 0.6)
                seg(point, end, r, r_end, 4)
                nxt.append((end, r_end, d))
        frontier = nxt

    pred = lab.copy()
    # five ball cuts on vessel segments of different sizes, one distal branch deleted
    for k in (1, 4, 6, 12, 20):
        p0, p1, r0, _, _ = segments[k]
        c = (np.asarray(p0) + np.asarray(p1)) / 2
        rad_vox = (r0 + 1.5) / np.asarray(spacing)
        lo = np.maximum((c - rad_vox).astype(int), 0)
        hi = np.minimum((c + rad_vox).astype(int) + 2, shape)
        grids = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        ball = sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, c, rad_vox)) <= 1
        view = pred[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        view[ball & (view >= 2)] = 0
    p0, p1, r0, r1, _ = segments[-1]
    gone = np.zeros(shape, np.uint8)
    _segment(gone, p0, p1, r0 + 1, r1 + 1, 9, spacing)
    pred[(gone == 9) & (pred == 4)] = 0
    del gone
    # thicker walls in the neck (1 voxel), false-positive blobs
    from scipy import ndimage

    neck = slice(int(0.25 * nz), int(0.45 * nz))
    grown = ndimage.binary_dilation(pred[neck] == 3)
    pred[neck][grown & (pred[neck] == 0)] = 3
    for _ in range(6):
        c = rng.integers([50, 50, 50], np.array(shape) - 50)
        pred[c[0] - 3 : c[0] + 3, c[1] - 3 : c[1] + 3, c[2] - 3 : c[2] + 3] = 4
    return lab, pred, segments


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM; ru_maxrss would carry the parent's peak over exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate_saved(case_file: str, spacing, repeat: int) -> None:
    """Load a saved case and evaluate it; runs in a fresh process so that its peak RSS is the evaluation's."""
    from nnunetv2_cta.evaluation import evaluate_case
    from nnunetv2_cta.io import Geometry

    data = np.load(case_file)
    gt, pred = data["gt"], data["pred"]
    rss_loaded = peak_rss_mb()
    geometry = Geometry(tuple(spacing))
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = evaluate_case(gt, pred, geometry, case="synthetic")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak = peak_rss_mb()
    keys = ("dice", "recall", "hd95_mm", "betti0_error", "betti1_error", "cldice", "breaks", "connected_recall",
            "vscore")  # fmt: skip
    for region, m in out["metrics"].items():
        print(f"  {region:13s} " + " ".join(f"{k}={m[k]:.3f}" for k in keys if k in m))
    print(
        f"evaluate_case: wall {min(times):.1f} s (min of {len(times)}), all runs {[round(t, 1) for t in times]}"
    )
    print(
        f"evaluate_case: CPU time {min(cpu):.1f} s (single-threaded code: the wall time on an idle machine)"
    )
    print(
        f"peak RSS of the evaluating process: {peak:.0f} MB (after loading both label maps: {rss_loaded:.0f} MB)"
    )
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


def main() -> None:
    import subprocess
    import sys
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(600, 512, 512), metavar=("Z", "Y", "X"))
    parser.add_argument(
        "--spacing", type=float, nargs=3, default=(0.625, 0.488, 0.488), metavar=("Z", "Y", "X")
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--case-file", default=None, help=argparse.SUPPRESS
    )  # internal: evaluate a saved case
    args = parser.parse_args()
    if args.case_file:
        evaluate_saved(args.case_file, args.spacing, args.repeat)
        return

    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPU(s), python {platform.python_version()}"
    )
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load average {os.getloadavg()}")
    t0 = time.perf_counter()
    gt, pred, _ = synthetic_case(tuple(args.shape), tuple(args.spacing))
    print(f"built case {gt.shape} in {time.perf_counter() - t0:.1f} s; voxels per label (gt): "
          f"{ {int(v): int((gt == v).sum()) for v in range(1, 5)} }")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        case_file = os.path.join(tmp, "case.npz")
        np.savez(case_file, gt=gt, pred=pred)
        del gt, pred
        cmd = [sys.executable, __file__, "--case-file", case_file, "--repeat", str(args.repeat), "--spacing",
               *map(str, args.spacing)]  # fmt: skip
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
