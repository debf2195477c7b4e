"""The console command: import-light help, env exports, plan's bad-input paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnunetv2_cta.cli import main
from nnunetv2_cta.environment import ext_trainer_dir, ext_trainer_value, shell_exports

BIN = Path(sys.executable).parent


def test_help_imports_no_heavy_modules():
    code = (
        "import sys; from nnunetv2_cta.cli import build_parser; build_parser().format_help(); "
        "print(sorted(m for m in ('torch', 'nnunetv2', 'numpy', 'scipy', 'SimpleITK') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_env_output_evaluates_in_bash_and_warns_about_unset_paths():
    environ = {k: v for k, v in os.environ.items() if not k.startswith("nnUNet_")}
    environ["PATH"] = f"{BIN}{os.pathsep}{environ.get('PATH', '')}"
    script = 'eval "$(nnunetv2_cta env)" && printf %s "$nnUNet_extTrainer"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=environ, check=True)
    assert proc.stdout == str(ext_trainer_dir())
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        assert f"{var} is not set" in proc.stderr


def test_env_keeps_other_extension_folders_once():
    ours = str(ext_trainer_dir())
    assert ext_trainer_value("/other/trainers") == f"{ours}{os.pathsep}/other/trainers"
    assert ext_trainer_value(f"{ours}{os.pathsep}/other/trainers") == f"{ours}{os.pathsep}/other/trainers"
    exports, warnings = shell_exports(
        {"nnUNet_raw": "/r", "nnUNet_preprocessed": "/p", "nnUNet_results": "/s"}
    )
    assert warnings == [] and exports[0].startswith("export nnUNet_extTrainer=")


def test_ext_folder_holds_only_the_reexport_module_and_nnunet_finds_our_trainers(monkeypatch):
    modules = sorted(p.name for p in ext_trainer_dir().glob("*.py"))
    assert modules == ["__init__.py", "nnunetv2_cta_trainers.py"]
    monkeypatch.setenv("nnUNet_extTrainer", ext_trainer_value(""))
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    from nnunetv2_cta.trainers import TRAINERS

    for name in TRAINERS:
        assert recursive_find_trainer_class_by_name(name).__name__ == name


def test_unknown_trainer_suggests_close_names():
    from nnunetv2_cta.errors import ConfigurationError
    from nnunetv2_cta.trainers import get_trainer_class

    with pytest.raises(ConfigurationError, match="did you mean 'nnUNetTrainerCTA_Base'"):
        get_trainer_class("nnUNetTrainerCTA_Bsae")


def _plan(capsys, *args) -> tuple[int, str]:
    code = main(["plan", *args])
    return code, capsys.readouterr().err.strip()


def test_plan_unset_paths(capsys, monkeypatch):
    monkeypatch.delenv("nnUNet_preprocessed")
    code, err = _plan(capsys, "-d", "952", "--preset", "cpu")
    assert code == 2 and "nnUNet_preprocessed not set" in err and len(err.splitlines()) == 1


def test_plan_unknown_dataset_lists_available(capsys, synthetic_dataset_factory):
    synthetic_dataset_factory(953, n_cases=1, test_cases=0)
    code, err = _plan(capsys, "-d", "999", "--preset", "cpu")
    assert code == 2 and "dataset '999' not found" in err and "Dataset953_Synthetic" in err
    code, err = _plan(capsys, "-d", "nine", "--preset", "cpu")
    assert code == 2 and "got 'nine'" in err


def test_plan_unknown_preset(capsys, synthetic_dataset_factory):
    synthetic_dataset_factory(954, n_cases=1, test_cases=0)
    code, err = _plan(capsys, "-d", "954", "--preset", "XXL")
    assert code == 2 and "unknown preset 'XXL'" in err


def test_plan_without_ct_channel_writes_nothing(capsys, synthetic_dataset_factory, nnunet_dirs):
    synthetic_dataset_factory(955, n_cases=1, test_cases=0, channel_name="MRI")
    code, err = _plan(capsys, "-d", "955", "--preset", "cpu")
    assert code == 2 and "'MRI'" in err and "no CT channel" in err
    assert not (nnunet_dirs["nnUNet_preprocessed"] / "Dataset955_Synthetic").exists()


def test_plan_refuses_existing_plans_without_overwrite(capsys, synthetic_dataset_factory, nnunet_dirs):
    synthetic_dataset_factory(956, n_cases=2, test_cases=0)
    plans = nnunet_dirs["nnUNet_preprocessed"] / "Dataset956_Synthetic" / "nnUNetCTAPlans_cpu.json"
    plans.parent.mkdir(parents=True)
    plans.write_text(json.dumps({"plans_name": "precious"}))
    code, err = _plan(capsys, "-d", "956", "--preset", "cpu")
    assert code == 2 and "exists; pass --overwrite" in err
    assert json.loads(plans.read_text()) == {"plans_name": "precious"}


def test_plan_rejects_unknown_configuration_and_cleans_up(capsys, synthetic_dataset_factory, nnunet_dirs):
    synthetic_dataset_factory(957, n_cases=2, test_cases=0)
    code, err = _plan(capsys, "-d", "957", "--preset", "cpu", "-np", "1", "-c", "3d_lowres")
    assert code == 2 and "'3d_lowres'" in err and "available" in err
    # issue 16, fault 5: the fingerprint and dataset.json of the failed run were left behind
    assert not (nnunet_dirs["nnUNet_preprocessed"] / "Dataset957_Synthetic").exists()
