"""Shared helpers of the benchmark tests.

``run_benchmark`` points ``nnUNet_raw`` / ``nnUNet_preprocessed`` / ``nnUNet_results`` / ``nnUNet_extTrainer`` of
the process at its work folder; the ``keep_nnunet_env`` fixture restores the session's values afterwards.
User datasets written by these tests use nnU-Net ids 980-989 (the phantom datasets of a run live in its own work folder).
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def keep_nnunet_env(monkeypatch):
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results", "nnUNet_extTrainer"):
        monkeypatch.setenv(var, os.environ.get(var, "unset"))
    yield
