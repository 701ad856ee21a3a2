"""Fixtures of the study tests: a 3-patient synthetic dataset and fresh studies on it (no Qt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lundprobe_gui.demo import DemoOptions, generate
from lundprobe_gui.study import InitOptions, init_study

from .helpers import T0


@pytest.fixture(scope="session")
def study_dataset(tmp_path_factory) -> Path:
    """Three small extended-part patients (seed 5); tests must not modify it."""
    root = tmp_path_factory.mktemp("study-ds") / "ds"
    generate(root, DemoOptions(patients=3, size="small", seed=5))
    return root


@pytest.fixture()
def study_dir(study_dataset, tmp_path) -> Path:
    """A fresh study with observers obsX and obsY, seed 11, default rules."""
    d = tmp_path / "study"
    init_study(d, InitOptions(dataset_root=study_dataset, observers=["obsX", "obsY"], seed=11), now=T0)
    return d
