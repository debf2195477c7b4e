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


# --- evaluate on any label set: TopCoW's class-average rules on the real maps ---

TOPCOW_DATASET = {
    "labels": {
        "background": 0, "BA": 1, "R-PCA": 2, "L-PCA": 3, "R-ICA": 4, "R-MCA": 5, "L-ICA": 6, "L-MCA": 7,
        "R-Pcom": 8, "L-Pcom": 9, "Acom": 10, "R-ACA": 11, "L-ACA": 12, "3rd-A2": 15,
    }
}  # fmt: skip


def _evaluate_cli(tmp_path, pairs: dict) -> dict:
    """Write ``{case: (gt, pred, geometry)}`` as two folders and run ``evaluate --dataset-json``."""
    import json

    from nnunetv2_cta.cli import main
    from nnunetv2_cta.io import write_image

    for case, (gt, pred, geometry) in pairs.items():
        write_image(tmp_path / "gt" / f"{case}.nii.gz", gt, geometry)
        write_image(tmp_path / "pred" / f"{case}.nii.gz", pred, geometry)
    (tmp_path / "dataset.json").write_text(json.dumps(TOPCOW_DATASET))
    argv = [
        "evaluate",
        "--gt",
        str(tmp_path / "gt"),
        "--pred",
        str(tmp_path / "pred"),
        "-o",
        str(tmp_path / "o"),
    ]
    assert main([*argv, "--dataset-json", str(tmp_path / "dataset.json")]) == 0
    return json.loads((tmp_path / "o" / "summary.json").read_text())


def test_class_average_reproduces_topcows_published_figures(real_data, tmp_path):
    """TopCoW_Eval_Metrics ``test_DiceCoefficient_topcow023mr``: MR ROI 023 against its edited copy with
    both ICAs and PCAs flipped (real label maps, slightly oblique directions). Published: ClsAvgDice
    0.0005027745707794867, MergedBin 0.025192476366825846, L-ICA 0.005530520278574354, every other class 0,
    over the 11 classes present on either side."""
    gt, geometry = read_image(real_data / "topcow" / "topcow_mr_roi_023.nii.gz")
    pred, _ = read_image(real_data / "topcow" / "LPS_ICA_PCA_flipped.nii.gz")
    summary = _evaluate_cli(tmp_path, {"mr_023": (gt, pred, geometry)})
    case = summary["metric_per_case"][0]["class_average"]
    assert case["classes"] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]
    assert case["dice"] == pytest.approx(0.0005027745707794867, abs=1e-12)
    assert case["merged_dice"] == pytest.approx(0.025192476366825846, abs=1e-12)
    assert case["per_class"]["6"] == pytest.approx(0.005530520278574354, abs=1e-12)
    assert all(v == 0.0 for k, v in case["per_class"].items() if k != "6")
    # by hand from the voxel counts: L-ICA 27 shared of 8288 + 1476; merged 517 shared of 34241 + 6803
    assert case["per_class"]["6"] == pytest.approx(2 * 27 / (8288 + 1476))
    assert case["merged_dice"] == pytest.approx(2 * 517 / (34241 + 6803))


def test_evaluate_runs_on_the_raw_ct_maps_with_topcow_class_average(real_data, tmp_path):
    """The three raw CT maps, each with three typical multi-class errors made by hand: the Acom (10) left
    out, the right ICA (4) labelled as left ICA (6), and a 3x3x3 false 3rd-A2 (15) blob in an empty corner.

    TopCoW's rules then give, from the ground truth's voxel counts n_c: Dice 1 for every untouched class,
    0 for 4 and 10 (missing in the prediction), 2·n6 / (2·n6 + n4) for 6, 2·n15 / (2·n15 + 27) for 15 where
    the case has a 3rd A2 (014) else 0 (hallucinated), mean over the union of classes; merged Dice
    2(N − n10) / (2N − n10 + 27) with N all CoW voxels.
    """
    pairs, expected = {}, {}
    for case in CASES:
        gt, geometry = _load(real_data, case)
        gt = gt.astype(np.uint8)
        assert not gt[:3, :3, :3].any()
        pred = gt.copy()
        pred[pred == 10] = 0
        pred[pred == 4] = 6
        pred[:3, :3, :3] = 15
        n = {c: int(np.count_nonzero(gt == c)) for c in range(16)}
        per_class = {c: 1.0 for c in range(1, 16) if n[c] and c not in (4, 6, 10, 15)}
        per_class.update({4: 0.0, 6: 2 * n[6] / (2 * n[6] + n[4]), 15: 2 * n[15] / (2 * n[15] + 27)})
        if n[10]:
            per_class[10] = 0.0
        total = sum(n[c] for c in range(1, 16))
        expected[case] = (np.mean(list(per_class.values())), 2 * (total - n[10]) / (2 * total - n[10] + 27))
        pairs[case] = (gt, pred, geometry)
    summary = _evaluate_cli(tmp_path, pairs)
    for entry in summary["metric_per_case"]:
        dice, merged = expected[entry["case"]]
        assert entry["class_average"]["dice"] == pytest.approx(dice, abs=1e-9)
        assert entry["class_average"]["merged_dice"] == pytest.approx(merged, abs=1e-9)
    # 014: classes 1-7, 10, 11, 12, 15; untouched 1, 2, 3, 5, 7, 11, 12
    assert expected["014"][0] == pytest.approx((7 + 2 * 1066 / (2 * 1066 + 840) + 2 * 105 / 237) / 11)
    assert summary["class_average"]["dice"] == pytest.approx(np.mean([e[0] for e in expected.values()]))
    # the per-region figures sit beside it: the merged vessel tree lost only the Acom
    assert summary["metric_per_case"][0]["metrics"]["vessels"]["recall"] == pytest.approx(
        1 - 173 / sum(c for c in (557, 773, 614, 1723, 236, 950, 439, 721, 329, 173, 905, 331))
    )
    assert summary["mean"]["R-ICA"]["dice"] == 0.0 and summary["mean"]["R-ICA"]["empty_prediction"] == 1.0
