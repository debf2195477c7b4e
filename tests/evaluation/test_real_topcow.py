"""Metrics on real Circle-of-Willis label maps (TopCoW CTA regions of interest, ../shared/data/real/topcow).

Labels: 1 BA, 2 R-PCA, 3 L-PCA, 4 R-ICA, 5 R-MCA, 6 L-ICA, 7 L-MCA, 8 R-Pcom, 9 L-Pcom, 10 Acom,
11 R-ACA, 12 L-ACA, 15 3rd-A2.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnunetv2_cta.evaluation import betti_errors, evaluate_case, find_breaks, skeletonize
from nnunetv2_cta.io import read_image

CASES = ("003", "014", "023")


def _load(real_data, case):
    path = real_data / "topcow" / f"topcow_ct_roi_{case}.nii.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return read_image(path)


@pytest.mark.parametrize("case", CASES)
def test_each_case_against_itself_is_perfect(real_data, case):
    lab, geometry = _load(real_data, case)
    labels = [int(v) for v in np.unique(lab)]
    regions = {"cow": labels[1:], "BA": [1], "R-ICA": [4]}
    out = evaluate_case(lab, lab.copy(), geometry, labels=labels, regions=regions, vessel_labels=labels[1:])
    for region, m in out["metrics"].items():
        assert m["dice"] == 1.0 and m["cldice"] == 1.0 and m["recall"] == 1.0, region
        assert m["hd95_mm"] == 0.0 and m["assd_mm"] == 0.0, region
        assert m["betti0_error"] == m["betti1_error"] == m["betti2_error"] == 0, region
        assert m["breaks"] == 0 and m["connected_recall"] == 1.0 and m["vscore"] == 1.0, region
        assert out["breaks"][region] == []


@pytest.mark.parametrize("case, label", [(c, v) for c in CASES for v in (1, 11)])
def test_cutting_a_segment_gives_one_break_at_the_cut(real_data, case, label):
    """Cut the basilar artery (1) or the right ACA (11) with a ball at the middle of its centerline."""
    lab, geometry = _load(real_data, case)
    spacing = np.asarray(geometry.spacing)
    cow = lab > 0
    skeleton = skeletonize(cow)
    points = np.argwhere(skeleton & (lab == label))
    # middle of the segment's centerline, ordered along its main direction
    centred = points * spacing - (points * spacing).mean(axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    centre = points[np.argsort(centred @ direction)[len(points) // 2]]
    zz, yy, xx = np.ogrid[: lab.shape[0], : lab.shape[1], : lab.shape[2]]
    dist_mm = np.sqrt(
        ((zz - centre[0]) * spacing[0]) ** 2
        + ((yy - centre[1]) * spacing[1]) ** 2
        + ((xx - centre[2]) * spacing[2]) ** 2
    )
    radius = 2.5  # mm: a little more than the lumen radius of these vessels (0.7..2 mm)
    pred = cow & ~(dist_mm <= radius)

    breaks = find_breaks(cow, pred, geometry.spacing, geometry)
    assert len(breaks) == 1
    (brk,) = breaks
    assert dist_mm[brk.index_zyx] <= radius  # at the cut
    assert brk.world_xyz == pytest.approx(tuple(geometry.index_to_world(brk.index_zyx)))
    # the gap is the centerline inside the ball: each of its `sides` branches runs at most one ball radius
    # from the centre plus a voxel step, and a simple cut takes at least about one radius
    assert radius <= brk.length_mm <= brk.sides * (radius + spacing.max())
    assert betti_errors(cow, pred)["betti0_error"] == 1  # one more piece


@pytest.mark.parametrize("case, label", [("003", 10), ("023", 8)])
def test_removing_a_communicating_artery_changes_betti_numbers(real_data, case, label):
    """In these ROIs the CoW ring is not closed (b1 = 0), so the Acom (10) / R-Pcom (8) is a bridge.

    Removing it splits its component in two: Betti-0 error 1, Betti-1 unchanged. The removed segment is a
    whole missing branch piece, so it is not counted as a break of the ICA/ACA centerline unless its
    neighbours are cut too; the prediction loses recall instead.
    """
    lab, geometry = _load(real_data, case)
    cow = lab > 0
    pred = cow & (lab != label)
    e = betti_errors(cow, pred)
    assert e["betti1_ref"] == 0 and e["betti1_pred"] == 0
    assert e["betti0_pred"] == e["betti0_ref"] + 1 and e["betti0_error"] == 1
    labels = [int(v) for v in np.unique(lab)]
    out = evaluate_case(
        lab,
        np.where(pred, lab, 0),
        geometry,
        labels=labels,
        regions={"cow": labels[1:]},
        vessel_labels=labels[1:],
    )
    m = out["metrics"]["cow"]
    assert m["betti0_error"] == 1 and m["recall"] < 1.0 and m["connected_recall"] < 1.0
