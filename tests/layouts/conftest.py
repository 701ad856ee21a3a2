"""Small generated examples of the StructSeg, multi-label and plain-folder layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lundprobe_gui.demo.other_layouts import (
    THORAX_LABELS,
    write_multilabel_case,
    write_plain_folder,
    write_structseg_dataset,
)


@pytest.fixture(scope="session")
def examples(tmp_path_factory) -> Path:
    """Read-only-by-convention examples of every layout (one folder each)."""
    root = tmp_path_factory.mktemp("layouts")
    write_structseg_dataset(root / "structseg", 2, seed=3)
    write_structseg_dataset(root / "structseg_thorax", 1, seed=4, labels=THORAX_LABELS, table="csv")
    write_multilabel_case(root / "multilabel_json" / "npc1", seed=5, table="json")
    write_multilabel_case(root / "multilabel_csv" / "npc2", seed=6, table="csv", image="ct")
    write_multilabel_case(root / "multilabel_none" / "npc3", seed=7, table=None)
    write_plain_folder(root / "plain" / "case1", seed=8, mismatch=True, four_d=True)
    return root


@pytest.fixture()
def copy_of(examples, tmp_path):
    """A private copy of one example folder that a test may change."""

    def _copy(rel: str) -> Path:
        dst = tmp_path / "copy" / rel
        shutil.copytree(examples / rel, dst)
        return dst

    return _copy
