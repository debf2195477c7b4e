"""Time ``suspected_breaks`` of this checkout against an older revision on real label maps, same machine, alternating.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/break_search_speed.py LABELS.nii.gz [LABELS2.nii.gz ...]
        [--old-rev ef9c623] [--repeat 3]

The package of ``--old-rev`` is extracted with ``git archive`` into a temporary folder. Every timed call runs in
a fresh Python process (old and new alternate, the order swapped each round, so that a load that changes during
the run hits both alike) that loads the label map from an uncompressed ``.npy`` copy and times one call of
``suspected_breaks(labels, geometry)`` with the defaults of ``predict``; the process also reports how much its
peak resident memory grew during the call. Prints per map the median and every time of each version, their
ratio, the peak-memory growth, and whether the two lists of breaks are equal (same breaks, order and values);
exits with status 1 when they are not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _worker(npy: str, geometry_json: str, out: str) -> None:
    import numpy as np

    from nnunetv2_cta.io import Geometry
    from nnunetv2_cta.reconstruction import suspected_breaks

    labels = np.load(npy)
    geometry = Geometry(**json.loads(Path(geometry_json).read_text()))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    breaks = suspected_breaks(labels, geometry.spacing, geometry=geometry)
    seconds = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    Path(out).write_text(json.dumps({"seconds": seconds, "peak_growth_mb": grown_mb, "breaks": breaks}))


def _run(package_root: Path, npy: Path, geometry_json: Path, tmp: Path) -> dict:
    out = tmp / "result.json"
    env = dict(os.environ, PYTHONPATH=str(package_root))
    cmd = [sys.executable, __file__, "--worker", str(npy), str(geometry_json), str(out)]
    subprocess.run(cmd, check=True, env=env, cwd=tmp)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", nargs="*", type=Path)
    parser.add_argument("--old-rev", default="ef9c623", help="git revision of the version to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    if not args.labels:
        parser.error("give at least one label map")

    import numpy as np

    from nnunetv2_cta.io import read_image

    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"old: {args.old_rev}, new: this checkout ({REPO}); {args.repeat} alternating runs each")
    all_equal = True
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old_root = tmp / "old"
        old_root.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.old_rev, "nnunetv2_cta"], check=True, capture_output=True
        ).stdout
        (tmp / "old.tar").write_bytes(archive)
        with tarfile.open(tmp / "old.tar") as tar:
            tar.extractall(old_root, filter="data")
        for path in args.labels:
            labels, geometry = read_image(path)
            npy, geometry_json = tmp / "labels.npy", tmp / "geometry.json"
            np.save(npy, labels)
            geometry_json.write_text(
                json.dumps(
                    {"spacing": geometry.spacing, "origin": geometry.origin, "direction": geometry.direction}
                )
            )
            runs: dict[str, list[dict]] = {"old": [], "new": []}
            for r in range(args.repeat):
                for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                    runs[name].append(_run(old_root if name == "old" else REPO, npy, geometry_json, tmp))
            old_t = [x["seconds"] for x in runs["old"]]
            new_t = [x["seconds"] for x in runs["new"]]
            equal = all(x["breaks"] == runs["old"][0]["breaks"] for x in runs["old"] + runs["new"])
            all_equal &= equal
            print(f"\n{path} {labels.shape} {labels.dtype}, spacing {geometry.spacing}")
            print(f"  breaks: {len(runs['new'][0]['breaks'])}; old and new lists equal: {equal}")
            for name, times in (("old", old_t), ("new", new_t)):
                growth = max(x["peak_growth_mb"] for x in runs[name])
                shown = ", ".join(f"{t:.2f}" for t in times)
                print(
                    f"  {name}: median {statistics.median(times):.2f} s ({shown}); peak RSS growth {growth:.0f} MB"
                )
            print(f"  ratio old/new (medians): {statistics.median(old_t) / statistics.median(new_t):.2f}x")
    sys.exit(0 if all_equal else 1)


if __name__ == "__main__":
    main()
