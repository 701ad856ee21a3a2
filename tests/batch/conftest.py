"""A small dataset and a 2-worker Dask cluster started in this process, shared by the batch tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lundprobe_gui.demo import DemoOptions, generate


@pytest.fixture(scope="session")
def batch_root(tmp_path_factory) -> Path:
    """Three small extended patients (read-only by convention)."""
    root = tmp_path_factory.mktemp("batch") / "ds"
    generate(root, DemoOptions(patients=3, part="extended", size="small", seed=11))
    return root


@pytest.fixture()
def root_copy(batch_root, tmp_path) -> Path:
    """A private copy of :func:`batch_root` that a test may change."""
    dst = tmp_path / "ds"
    shutil.copytree(batch_root, dst)
    return dst


@pytest.fixture(scope="module")
def cluster_address():
    """The address of a LocalCluster with 2 single-threaded worker processes."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        yield cluster.scheduler_address
