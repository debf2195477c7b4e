"""Phantom round trips of the NCCT-CTA and 3D-DSA converters (the figures behind
tests/conversion/test_phantom_round_trips.py), over several seeds.

NCCT-CTA: tiny preset (3 mm), CTA moved by a rotation of (2, -3, 6) degrees about x, y, z and a shift of
(4, -3, 5) mm, registered back with ``register_pair`` (default settings). Reports the converter's
HU-thresholded bone Dice (its quality figure) and the Dice of the carried-over labels against the truth.
DSA: ``dsa_labels`` with default (Otsu) thresholds on the phantom's fill + subtracted volumes.

    OMP_NUM_THREADS=1 python benchmarks/conversion_phantom.py --seeds 5 11 23 42
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import SimpleITK as sitk

from nnunetv2_cta.conversion.dsa import dsa_labels
from nnunetv2_cta.conversion.ncct_cta import dice, register_pair, resample_onto
from nnunetv2_cta.labels import BONE, VESSEL_LABELS
from nnunetv2_cta.phantom import generate_anatomy, render_case


def ncct_cta(seed: int) -> None:
    anatomy = generate_anatomy(seed, preset="tiny", variants=())
    cta, ncct = render_case(anatomy, "cta"), render_case(anatomy, "ncct")
    g, shape = cta.geometry, cta.image.shape
    motion = sitk.Euler3DTransform()
    motion.SetCenter([float(c) for c in g.index_to_world(tuple((n - 1) / 2 for n in shape))])
    motion.SetRotation(*np.radians([2.0, -3.0, 6.0]))
    motion.SetTranslation((4.0, -3.0, 5.0))
    moved = resample_onto(cta.image.astype(np.float32), g, shape, g, motion, nearest=False, default=-1000)
    moved_labels = resample_onto(cta.labels, g, shape, g, motion, nearest=True, default=0)
    t0 = time.perf_counter()
    labels, report = register_pair(ncct.image, g, np.round(moved).astype(np.int16), g, moved_labels)
    seconds = time.perf_counter() - t0
    truth = ncct.labels
    vessels = np.isin(labels, VESSEL_LABELS), np.isin(truth, VESSEL_LABELS)
    print(
        f"ncct-cta seed {seed}: register_pair {seconds:.1f} s; HU bone Dice {report['bone_dice_before']:.3f} "
        f"-> {report['bone_dice']:.3f}; label bone Dice {dice(moved_labels == BONE, truth == BONE):.3f} -> "
        f"{dice(labels == BONE, truth == BONE):.3f}; vessels (2-4) "
        f"{dice(np.isin(moved_labels, VESSEL_LABELS), vessels[1]):.3f} -> {dice(*vessels):.3f}; "
        f"cortical HU CTA {cta.info['cortical']:.0f} / NCCT {ncct.info['cortical']:.0f}"
    )


def dsa(seed: int, spacing: float) -> None:
    case = render_case(generate_anatomy(seed, preset="tiny", variants=()), "dsa", spacing=spacing)
    t0 = time.perf_counter()
    labels, report = dsa_labels(
        case.image.astype(np.float32), case.subtracted.astype(np.float32), case.geometry.spacing
    )
    seconds = time.perf_counter() - t0
    fixed, _ = dsa_labels(
        case.image.astype(np.float32),
        case.subtracted.astype(np.float32),
        case.geometry.spacing,
        bone_threshold=400,
    )
    truth_vessels = np.isin(case.labels, VESSEL_LABELS)
    print(
        f"dsa seed {seed} @{spacing} mm {case.image.shape}: dsa_labels {seconds:.2f} s; vessel Dice "
        f"{dice(labels == 4, truth_vessels):.3f}; bone Dice {dice(labels == BONE, case.labels == BONE):.3f} "
        f"(Otsu threshold {report['bone_threshold']:.0f}, cancellous {case.info['cancellous']:.0f}; "
        f"with bone_threshold=400: {dice(fixed == BONE, case.labels == BONE):.3f}); vessel threshold "
        f"{report['vessel_threshold']:.0f}, components removed {report['vessel_components_removed']}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[5, 11, 23, 42])
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, SimpleITK {sitk.Version.VersionString()}")
    for seed in args.seeds:
        ncct_cta(seed)
    for spacing in (2.5, 1.5):
        for seed in args.seeds:
            dsa(seed, spacing)


if __name__ == "__main__":
    main()
