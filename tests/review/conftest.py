"""A small dataset of three multi-label cases and a review folder made from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lundprobe_gui.demo.other_layouts import write_label_table, write_multilabel_case
from lundprobe_gui.review import init_review

NAMES = {1: "R_II+III+Va", 2: "L_II+III+Va", 3: "R_IV+Vb"}


@pytest.fixture()
def dataset(tmp_path) -> Path:
    root = tmp_path / "ds"
    for i, case in enumerate(("case01", "case02", "case03")):
        write_multilabel_case(root / case, seed=20 + i, names=NAMES, table=None)
    write_label_table(root / "labels.json", NAMES)
    return root


@pytest.fixture()
def review_dir(dataset, tmp_path) -> Path:
    out = tmp_path / "review_R1"
    init_review(out, dataset, "R1")
    return out
