"""The ``nnunetv2_cta convert`` command: argument wiring, summary output, CTAError -> exit code 2."""

from __future__ import annotations

import numpy as np

from nnunetv2_cta.cli import main


def test_cli_nifti_pairs_and_used_id(tmp_path, helpers, capsys, nnunet_dirs):
    image, labels = helpers.head_phantom()
    helpers.write_case(tmp_path / "img", "a_0000.nii.gz", image)
    helpers.write_case(tmp_path / "lab", "a.nii.gz", np.where(labels == 4, 9, labels).astype(np.uint8))
    argv = ["convert", "nifti-pairs", str(tmp_path / "img"), str(tmp_path / "lab"), "-d", "940", "-n", "Cli"]
    assert main([*argv, "--map-labels", "1:1,9:4", "--no-progress"]) == 0
    assert "wrote 1 case(s)" in capsys.readouterr().out
    assert (nnunet_dirs["nnUNet_raw"] / "Dataset940_Cli" / "labelsTr" / "a.nii.gz").is_file()
    assert main([*argv, "--map-labels", "1:1,9:4", "--no-progress"]) == 2
    assert "dataset id 940 is already used" in capsys.readouterr().err
    assert main([*argv, "--map-labels", "1:9", "--overwrite"]) == 2
    assert "label mapping targets must be in" in capsys.readouterr().err


def test_cli_dicom(tmp_path, helpers, capsys):
    vol = (np.arange(3 * 4 * 5).reshape(3, 4, 5) + 1000).astype(np.uint16)
    helpers.write_dicom_series(tmp_path / "in", vol, [(0, 0, k) for k in range(3)])
    assert main(["convert", "dicom", str(tmp_path / "in"), str(tmp_path / "out"), "--select", "largest"]) == 0
    assert len(list((tmp_path / "out").glob("series_*.nii.gz"))) == 1
    assert main(["convert", "dicom", str(tmp_path / "in"), str(tmp_path / "out2"), "--select", "1.2.3"]) == 2
    assert "nothing matches '1.2.3'" in capsys.readouterr().err
