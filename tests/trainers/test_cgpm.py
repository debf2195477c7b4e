"""CGPM repair stage: plans configuration, merge rules, repair inputs, and the stock-nnU-Net chain on CPU.

Dataset ids 970-979. The chain test trains ``nnUNetTrainerCTA_CGPM_tiny`` (2 x 4 iterations) with stock
``nnUNetv2_train`` from simulated breaks only, then runs ``nnunetv2_cta repair`` (3 min on the shared 2-core
machine: marked slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnunetv2_cta.cgpm.merge import merge_cgpm
from nnunetv2_cta.cgpm.plans import add_cgpm_configuration
from nnunetv2_cta.cli import main as cli_main
from nnunetv2_cta.errors import ConfigurationError, DatasetFormatError, GeometryError, OutputExistsError
from nnunetv2_cta.io import Geometry, read_image, write_image
from nnunetv2_cta.postprocessing.repair import repair_folder
from nnunetv2_cta.postprocessing.repair_record import load_repaired_gaps

BIN = Path(sys.executable).parent
TRAINER = "nnUNetTrainerCTA_CGPM_tiny"


def _plans(tmp_path: Path) -> Path:
    path = tmp_path / "plans.json"
    path.write_text(
        json.dumps({"plans_name": "P", "configurations": {"3d_fullres": {"patch_size": [48, 48, 48]}}})
    )
    return path


def test_add_cgpm_configuration(tmp_path):
    path = _plans(tmp_path)
    plans = add_cgpm_configuration(path, first_stage_trainer="nnUNetTrainerCTA")
    assert plans == json.loads(path.read_text())
    assert plans["configurations"]["3d_cgpm"] == {
        "inherits_from": "3d_fullres",
        "previous_stage": "3d_fullres",
        "next_stage": None,
    }
    assert plans["configurations"]["3d_fullres"]["next_stage"] == ["3d_cgpm"]
    assert plans["cta"]["cgpm"]["first_stage_trainer"] == "nnUNetTrainerCTA"
    with pytest.raises(OutputExistsError, match="already has a configuration '3d_cgpm'"):
        add_cgpm_configuration(path)
    plans = add_cgpm_configuration(path, overwrite=True)
    assert plans["configurations"]["3d_fullres"]["next_stage"] == ["3d_cgpm"]  # not listed twice
    with pytest.raises(
        ConfigurationError, match=r"first_stage must be a configuration of plans.json, got '2d'"
    ):
        add_cgpm_configuration(path, "2d")
    with pytest.raises(ConfigurationError, match="name must differ from first_stage"):
        add_cgpm_configuration(path, name="3d_fullres")


def _two_pieces():
    """Stage 1: a carotid tube (radius 2, 1 mm voxels) along x cut at x = 20..27; CT 400 HU lumen, 40 HU else."""
    stage1 = np.zeros((16, 16, 48), np.uint8)
    z, y, x = np.indices(stage1.shape)
    tube = (z - 8) ** 2 + (y - 8) ** 2 <= 4
    stage1[tube] = 3
    ct = np.where(tube, 400, 40).astype(np.int16)
    stage1[:, :, 20:28] = 0
    return stage1, ct, tube, x


def test_merge_adds_only_bridges():
    stage1, ct, tube, x = _two_pieces()
    pred = np.zeros_like(stage1)
    pred[tube] = 4  # the model says: all intracranial, gap filled
    pred[0:2, 0:2, 0:2] = 3  # a stray blob far from the tree
    merged, gaps = merge_cgpm(stage1, pred, ct, Geometry(spacing=(1, 1, 1)))
    added = merged != stage1
    np.testing.assert_array_equal(added, tube & (x >= 20) & (x < 28))  # only the gap, not the blob
    assert set(np.unique(merged[added])) == {4}  # the prediction's label for the new piece
    assert np.all(merged[stage1 > 0] == stage1[stage1 > 0])  # stage 1 never changed
    (gap,) = gaps
    assert gap.num_voxels == int(added.sum()) and gap.label == 4
    assert gap.length_mm == pytest.approx(8.0)  # centerline of the joined tube inside the 8-voxel piece


@pytest.mark.parametrize("flaw", ["bone_hu", "no_contrast", "flood"])
def test_merge_refuses(flaw):
    stage1, ct, tube, _ = _two_pieces()
    pred = np.zeros_like(stage1)
    pred[tube] = 3
    if flaw == "bone_hu":
        ct[:, :, 22:25] = 1200  # bone across the gap: the piece is split, no part touches both sides
    elif flaw == "no_contrast":
        ct[:, :, 20:28] = 30
    else:
        pred[:] = 3  # a flood: one piece as large as the volume (> max_bridge_mm)
    merged, gaps = merge_cgpm(stage1, pred, ct, Geometry(spacing=(1, 1, 1)))
    assert gaps == [] and np.array_equal(merged, stage1)


@pytest.fixture
def repair_inputs(tmp_path):
    stage1, ct, _, _ = _two_pieces()
    g = Geometry(spacing=(1.0, 1.0, 1.0), origin=(5.0, 6.0, 7.0))
    write_image(tmp_path / "img" / "c1_0000.nii.gz", ct, g)
    write_image(tmp_path / "seg" / "c1.nii.gz", stage1, g)
    return tmp_path, stage1, ct, g


def test_repair_folder_baseline_and_cli(repair_inputs):
    root, stage1, _, g = repair_inputs
    results = repair_folder(root / "img", root / "seg", root / "out", baseline=True)
    assert results[0]["case"] == "c1" and results[0]["num_gaps"] == 1
    out, og = read_image(root / "out" / "c1.nii.gz")
    assert og.mismatch(g) is None and out.shape == stage1.shape
    case, method, gaps = load_repaired_gaps(root / "out" / "c1_repairs.json")
    assert (case, method, len(gaps)) == ("c1", "baseline", 1)
    args = ["repair", "-i", str(root / "img"), "-s", str(root / "seg"), "-o", str(root / "out"), "--baseline"]
    assert cli_main(args) == 2  # output folder not empty
    assert cli_main([*args, "--overwrite"]) == 0


def test_repair_bad_input(repair_inputs):
    root, stage1, _, g = repair_inputs
    img, seg = root / "img", root / "seg"
    with pytest.raises(ConfigurationError, match="exactly one of a model folder"):
        repair_folder(img, seg, root / "o")
    write_image(seg / "c1.nii.gz", stage1, Geometry(spacing=(1.0, 1.0, 2.0), origin=(5.0, 6.0, 7.0)))
    with pytest.raises(
        GeometryError, match=r"case 'c1': stage-1 segmentation vs image: spacing \(1.0, 1.0, 2.0\)"
    ):
        repair_folder(img, seg, root / "o", baseline=True)
    write_image(seg / "c1.nii.gz", stage1[:, :, :40], g)
    with pytest.raises(
        GeometryError, match=r"case 'c1'.*shape \(16, 16, 40\) != reference shape \(16, 16, 48\)"
    ):
        repair_folder(img, seg, root / "o", baseline=True)
    bad = stage1.copy()
    bad[0, 0, 0] = 7
    write_image(seg / "c1.nii.gz", bad, g)
    with pytest.raises(DatasetFormatError, match=r"case 'c1': stage-1 segmentation: label values \[7\]"):
        repair_folder(img, seg, root / "o", baseline=True)
    bone_only = np.where(stage1 > 0, 1, 0).astype(np.uint8)
    write_image(seg / "c1.nii.gz", bone_only, g)  # no vessel: passed through unchanged, with a note
    (result,) = repair_folder(img, seg, root / "nv", baseline=True)
    assert result["method"] == "none" and result["num_gaps"] == 0 and "no vessel voxels" in result["note"]
    assert np.array_equal(read_image(root / "nv" / "c1.nii.gz")[0], bone_only)
    (seg / "c1.nii.gz").unlink()
    with pytest.raises(DatasetFormatError, match="case 'c1': no stage-1 segmentation"):
        repair_folder(img, seg, root / "o", baseline=True)
    assert not (root / "o").exists()  # nothing written when a case is bad
    with pytest.raises(ConfigurationError, match=r"must hold nnU-Net's plans\.json"):
        repair_folder(img, root / "img", root / "o", root)


# ---- the chain with stock nnU-Net (about 2.5 min on 2 cores) ------------------------------------------


def _run(*cmd: str) -> subprocess.CompletedProcess:
    from nnunetv2_cta.environment import ext_trainer_value

    env = dict(os.environ, nnUNet_extTrainer=ext_trainer_value(""), OMP_NUM_THREADS="2", nnUNet_n_proc_DA="0")
    env.update(nnUNet_def_n_proc="1", nnUNet_compile="false")
    proc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"{cmd[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_cgpm_train_and_repair_chain(nnunet_dirs, tmp_path):
    from nnunetv2_cta.phantom import write_dataset
    from nnunetv2_cta.planners.plan import plan_dataset
    from nnunetv2_cta.transforms.break_simulation import simulate_breaks

    raw = write_dataset(cases=5, test_cases=1, dataset_id=970, name="CgpmTiny", preset="tiny", regions=True)
    # plan adds 3d_cgpm; no first-stage trainer: the CGPM trains from simulated breaks only
    plans_file = plan_dataset(970, preset="cpu", num_processes=1, cgpm_first_stage_trainer=None)
    assert json.loads(plans_file.read_text())["configurations"]["3d_cgpm"]["previous_stage"] == "3d_fullres"

    _run(
        "nnUNetv2_train", "970", "3d_cgpm", "0", "-tr", TRAINER, "-p", "nnUNetCTAPlans_cpu", "-device", "cpu"
    )
    model = nnunet_dirs["nnUNet_results"] / raw.name / f"{TRAINER}__nnUNetCTAPlans_cpu__3d_cgpm"
    assert (model / "fold_0" / "checkpoint_final.pth").is_file()
    simulated = sorted((model / "fold_0" / "simulated_previous_stage").iterdir())
    assert len(simulated) == 5  # one broken ground truth per training case

    case = "CgpmTiny_0005"
    gt, geometry = read_image(raw / "labelsTs" / f"{case}.nii.gz")
    vessel = gt >= 2
    broken, _ = simulate_breaks(vessel, np.random.default_rng(0), 2, spacing=geometry.spacing)
    stage1 = gt.copy()
    stage1[vessel & ~broken] = 0
    write_image(tmp_path / "stage1" / f"{case}.nii.gz", stage1, geometry)
    out = tmp_path / "repaired"
    _run(
        "nnunetv2_cta",
        "repair",
        "-i",
        str(raw / "imagesTs"),
        "-s",
        str(tmp_path / "stage1"),
        "-o",
        str(out),
        "-m",
        str(model),
    )
    repaired, rg = read_image(out / f"{case}.nii.gz")
    assert repaired.shape == gt.shape and rg.mismatch(geometry) is None
    assert set(np.unique(repaired)) <= {0, 1, 2, 3, 4}
    assert np.all(repaired[stage1 > 0] == stage1[stage1 > 0])  # no stage-1 voxel changed
    assert load_repaired_gaps(out / f"{case}_repairs.json")[1] == "cgpm"

    # a model trained for 1 CT channel, given 2 channels per case
    two = tmp_path / "two"
    img, g = read_image(raw / "imagesTs" / f"{case}_0000.nii.gz")
    write_image(two / f"{case}_0000.nii.gz", img, g)
    write_image(two / f"{case}_0001.nii.gz", img, g)
    with pytest.raises(
        ConfigurationError, match=rf"case '{case}' has 2 image channel\(s\) but the model .* for 1"
    ):
        repair_folder(two, tmp_path / "stage1", tmp_path / "o2", model)
