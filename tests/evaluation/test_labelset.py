"""Label sets for ``evaluate`` (dataset.json, --labels, our scheme) and TopCoW's class-average Dice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnunetv2_cta.cli import main
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError
from nnunetv2_cta.evaluation.case import DEFAULT_REGIONS
from nnunetv2_cta.evaluation.class_average import class_average_dice
from nnunetv2_cta.evaluation.labelset import (
    default_label_set,
    label_set_from_dataset_json,
    label_set_from_values,
)
from nnunetv2_cta.io import Geometry, write_image
from nnunetv2_cta.labels import LABELS, REGION_LABELS

TOPCOW_LABELS = {
    "background": 0, "BA": 1, "R-PCA": 2, "L-PCA": 3, "R-ICA": 4, "R-MCA": 5, "L-ICA": 6, "L-MCA": 7,
    "R-Pcom": 8, "L-Pcom": 9, "Acom": 10, "R-ACA": 11, "L-ACA": 12, "3rd-A2": 15,
}  # fmt: skip


def test_our_scheme_from_every_source_is_the_default():
    default = default_label_set()
    assert default.regions == DEFAULT_REGIONS and default.vessel_labels == (2, 3, 4)
    assert default.labels == (0, 1, 2, 3, 4) and default.classes == (1, 2, 3, 4)
    from_json = label_set_from_dataset_json({"labels": LABELS})
    assert from_json.regions == DEFAULT_REGIONS and from_json.vessel_labels == (2, 3, 4)
    assert label_set_from_values([4, 3, 2, 1, 0]) == default
    # region-based dataset.json: the listed 'vessels' region is kept, no merged copy is added
    regions = label_set_from_dataset_json({"labels": REGION_LABELS}).regions
    assert regions == {
        "bone": (1,),
        "aorta": (2,),
        "carotid": (3,),
        "intracranial": (4,),
        "vessels": (2, 3, 4),
    }


def test_topcow_dataset_json_gives_one_region_per_class_plus_merged_vessels(tmp_path):
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"labels": TOPCOW_LABELS, "channel_names": {"0": "CT"}}))
    ls = label_set_from_dataset_json(path)
    assert ls.labels == (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15)
    assert list(ls.regions)[:3] == ["BA", "R-PCA", "L-PCA"] and ls.regions["3rd-A2"] == (15,)
    assert ls.regions["vessels"] == ls.classes == ls.vessel_labels  # every CoW class is a vessel
    assert len(ls.regions) == 14 and ls.source == str(path)
    # explicit vessel labels: the merged region follows them
    assert label_set_from_dataset_json(path, vessel_labels=[4, 6]).regions["vessels"] == (4, 6)


def test_bare_values_and_a_bone_label():
    ls = label_set_from_values([0, 1, 7, 9])
    assert ls.regions == {"label_1": (1,), "label_7": (7,), "label_9": (9,), "vessels": (1, 7, 9)}
    with_bone = label_set_from_dataset_json({"labels": {"background": 0, "Bone": 1, "artery": 2, "vein": 5}})
    assert with_bone.vessel_labels == (2, 5) and with_bone.regions["vessels"] == (2, 5)
    # a single vessel label needs no merged region
    assert (
        "vessels" not in label_set_from_dataset_json({"labels": {"background": 0, "bone": 1, "a": 2}}).regions
    )


@pytest.mark.parametrize(
    "dataset, match",
    [
        ({}, "needs a non-empty 'labels' mapping"),
        ({"labels": {"a": 1}}, "needs a background label with value 0"),
        ({"labels": {"background": 0, "a": "1"}}, r"label 'a' must be a non-negative integer .* got '1'"),
        ({"labels": {"background": 0, "a": -2}}, r"label 'a' must be a non-negative integer .* got -2"),
        ({"labels": {"background": 0, "a": 1, "b": 1}}, "label value 1 is named twice, 'a' and 'b'"),
        ({"labels": {"background": 0, "a": [0, 1]}}, "must not contain the background 0"),
        ({"labels": {"background": 0}}, "declares no foreground label"),
    ],
)
def test_bad_dataset_json(dataset, match):
    with pytest.raises(DatasetFormatError, match=match):
        label_set_from_dataset_json(dataset)


def test_bad_files_and_vessel_labels(tmp_path):
    with pytest.raises(DatasetFormatError, match=r"dataset.json '.*nope.json' does not exist"):
        label_set_from_dataset_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{labels")
    with pytest.raises(DatasetFormatError, match=r"'.*bad.json' is not readable JSON"):
        label_set_from_dataset_json(tmp_path / "bad.json")
    with pytest.raises(ConfigurationError, match=r"vessel labels \[13\] are not foreground labels of"):
        label_set_from_dataset_json({"labels": TOPCOW_LABELS}, vessel_labels=[1, 13])
    with pytest.raises(DatasetFormatError, match=r"label values must be >= 0, got \[-1\]"):
        label_set_from_values([0, -1, 2])


# --- TopCoW's class-average Dice, values worked out by hand ---


def _eight_cubes():
    """TopCoW's end-to-end example rebuilt: an 8^3 cube of eight 4^3 sub-cubes labelled 1..8.

    Prediction: 1, 3, 5, 7 exact; 2 with its middle 2x2x2 hollow (56 voxels); 4 missing; 6 and 8 with a
    2x2 column through them removed ("solid donut", 48 voxels).
    """
    gt = np.zeros((8, 8, 8), np.uint8)
    corners = [(z, y, x) for z in (0, 4) for y in (0, 4) for x in (0, 4)]
    for label, (z, y, x) in enumerate(corners, start=1):
        gt[z : z + 4, y : y + 4, x : x + 4] = label
    pred = gt.copy()
    z, y, x = corners[1]
    pred[z + 1 : z + 3, y + 1 : y + 3, x + 1 : x + 3] = 0
    pred[pred == 4] = 0
    for label in (6, 8):
        z, y, x = corners[label - 1]
        pred[z : z + 4, y + 1 : y + 3, x + 1 : x + 3] = 0
    return gt, pred


def test_class_average_dice_by_hand():
    gt, pred = _eight_cubes()
    r = class_average_dice(gt, pred, range(1, 9))
    per_class = {"1": 1.0, "2": 2 * 56 / (64 + 56), "3": 1.0, "4": 0.0, "5": 1.0, "6": 2 * 48 / (64 + 48)}
    per_class.update({"7": 1.0, "8": 2 * 48 / (64 + 48)})
    assert r["per_class"] == pytest.approx(per_class)
    assert r["dice"] == pytest.approx(np.mean(list(per_class.values())))
    assert r["dice"] == pytest.approx(0.8309523809523809)  # TopCoW's published figure for this example
    assert r["merged_dice"] == pytest.approx(2 * 408 / (408 + 512))  # 512 - 8 - 64 - 16 - 16 = 408 predicted
    # a class absent on both sides is left out; one on one side only scores 0; classes outside the list too
    r = class_average_dice(gt, pred, [1, 4, 9])
    assert (
        r["classes"] == [1, 4] and r["dice"] == 0.5 and r["merged_dice"] == pytest.approx(2 * 64 / (128 + 64))
    )
    # nothing on either side: 0 (TopCoW's rule), not 1
    empty = np.zeros_like(gt)
    assert class_average_dice(empty, empty, [1, 2]) == {"dice": 0.0, "per_class": {}, "classes": [],
                                                         "merged_dice": 0.0}  # fmt: skip
    with pytest.raises(ValueError, match=r"one shape, got \(8, 8, 8\) and \(8, 8, 7\)"):
        class_average_dice(gt, gt[..., :7], [1])


def test_cli_with_dataset_json_reports_class_average_and_names_an_undeclared_value(tmp_path, capsys):
    gt, pred = _eight_cubes()
    geometry = Geometry((1.0, 1.0, 1.0))
    write_image(tmp_path / "gt" / "c.nii.gz", gt, geometry)
    write_image(tmp_path / "pred" / "c.nii.gz", pred, geometry)
    labels = {"background": 0, **{f"seg{v}": v for v in range(1, 9)}}
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    argv = ["evaluate", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")]
    assert main([*argv, "-o", str(tmp_path / "out"), "--dataset-json", str(tmp_path / "dataset.json")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["mean"]) == {f"seg{v}" for v in range(1, 9)} | {"vessels"}
    assert summary["mean"]["seg2"]["dice"] == pytest.approx(2 * 56 / 120)
    assert summary["mean"]["seg4"]["dice"] == 0.0 and summary["mean"]["seg4"]["empty_prediction"] == 1.0
    assert summary["class_average"]["dice"] == pytest.approx(0.8309523809523809)
    assert summary["metric_per_case"][0]["class_average"]["classes"] == list(range(1, 9))
    assert "class-average Dice (TopCoW rules) 0.831, merged vessel Dice 0.887" in capsys.readouterr().out

    # a value the dataset.json does not declare: one line naming it, exit 2 (tqdm's bar aside)
    labels.pop("seg8")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    assert main([*argv, "-o", str(tmp_path / "o2"), "--dataset-json", str(tmp_path / "dataset.json")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("nnunetv2_cta")]
    assert (
        len(err) == 1
        and "label values [8] are not among the declared labels [0, 1, 2, 3, 4, 5, 6, 7]" in err[0]
    )
    # the default (our scheme) on these maps names the foreign values
    assert main([*argv, "-o", str(tmp_path / "o3.json")]) == 2
    assert (
        "label values [5, 6, 7, 8] are not among the declared labels [0, 1, 2, 3, 4]"
        in capsys.readouterr().err
    )
    # --labels with another set: one region per value
    assert main([*argv, "-o", str(tmp_path / "o4.json"), "--labels", *map(str, range(9))]) == 0
    assert "label_8" in json.loads((tmp_path / "o4.json").read_text())["mean"]
    with pytest.raises(SystemExit):  # --labels and --dataset-json exclude each other
        main(
            [
                *argv,
                "-o",
                str(tmp_path / "o5.json"),
                "--labels",
                "0",
                "1",
                "-dj",
                str(tmp_path / "dataset.json"),
            ]
        )
