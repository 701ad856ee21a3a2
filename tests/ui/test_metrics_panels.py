"""The metrics, DVH and uncertainty-versus-edits widgets, driven through Qt events."""

from __future__ import annotations

import csv

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtWidgets

import lundprobe_gui as lp
from lundprobe_gui.metrics.compare import METRICS_ROW_KEYS, compare_patient, patient_comparisons
from lundprobe_gui.metrics.dvh_rows import DVH_ROW_KEYS
from lundprobe_gui.metrics.edit_rows import patient_edit_rows, pool_edit_rows
from lundprobe_gui.render.colormaps import structure_colour
from lundprobe_gui.ui.dvh_panel import DvhPanel
from lundprobe_gui.ui.metrics_panel import COLUMNS, MetricsPanel
from lundprobe_gui.ui.uncertainty_plot import UncertaintyEditsPlot

LEFT = QtCore.Qt.MouseButton.LeftButton


@pytest.fixture(scope="module")
def patient(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    p.load_all(workers=2)
    return p


def _show(qtbot, widget: QtWidgets.QWidget) -> None:
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    qtbot.waitExposed(widget)


def _wait_idle(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.is_busy() and widget.compute_btn.isEnabled(), timeout=60000)


def _answer_save_dialog(monkeypatch, path) -> None:
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), "")))


def _read_csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- metrics panel ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_metrics_panel_fills_the_table_sorts_filters_and_exports(qtbot, patient, tmp_path, monkeypatch) -> None:
    panel = MetricsPanel()
    _show(qtbot, panel)
    panel.set_patient(patient)
    assert panel.table.rowCount() == 0 and "86 comparisons" in panel.status.text()
    with qtbot.waitSignal(panel.computed, timeout=60000) as blocker:
        qtbot.mouseClick(panel.compute_btn, LEFT)
    _wait_idle(qtbot, panel)
    expected = compare_patient(patient, patient_comparisons(patient))
    assert blocker.args[0] == expected
    assert panel.table.rowCount() == 86
    assert panel.visible_rows() == expected  # the documented order until a header is clicked
    dice_col = [k for k, _ in COLUMNS].index("dice")
    assert panel.table.item(0, 3).text() == expected[0]["test"]
    assert float(panel.table.item(0, dice_col).text()) == pytest.approx(expected[0]["dice"], abs=5e-5)

    panel.structure_box.setCurrentIndex(panel.structure_box.findData("Rectum"))
    panel.kind_box.setCurrentIndex(panel.kind_box.findData("intra_observer"))
    shown = panel.visible_rows()
    assert [(r["reference"], r["test"]) for r in shown] == [
        (f"step1_{o}", f"step2_{o}") for o in ["obsB", "obsC", "obsD", "obsE"]
    ]

    header = panel.table.horizontalHeader()
    qtbot.mouseClick(header.viewport(), LEFT, pos=QtCore.QPoint(header.sectionViewportPosition(dice_col) + 5, 5))
    dice = [r["dice"] for r in panel.visible_rows()]
    assert sorted(dice) in (dice, dice[::-1]) and len(set(dice)) > 1

    out = tmp_path / "metrics.csv"
    _answer_save_dialog(monkeypatch, out)
    qtbot.mouseClick(panel.export_btn, LEFT)
    table = _read_csv(out)
    assert list(table[0]) == list(METRICS_ROW_KEYS)
    assert [(r["reference"], float(r["dice"])) for r in table] == [
        (r["reference"], r["dice"]) for r in panel.visible_rows()
    ]


def test_metrics_panel_double_click_blinding_and_stale_results(qtbot, patient) -> None:
    panel = MetricsPanel()
    _show(qtbot, panel)
    panel.set_patient(patient)
    panel.set_hidden_sources({"clinical", *(f"nnUNet_fold_{n}" for n in range(10))})
    comps = panel.comparisons()
    assert len(comps) == 2 * 24
    assert not any("clinical" in (c.reference, c.test) or c.test.startswith("nnUNet_fold") for c in comps)
    panel.refresh()
    _wait_idle(qtbot, panel)
    assert panel.table.rowCount() == 48
    rect = panel.table.visualItemRect(panel.table.item(2, 0))
    with qtbot.waitSignal(panel.pair_activated, timeout=5000) as blocker:
        # A real double click: press/release, then the double-click event (Qt needs the press).
        qtbot.mouseClick(panel.table.viewport(), LEFT, pos=rect.center())
        qtbot.mouseDClick(panel.table.viewport(), LEFT, pos=rect.center())
    c = blocker.args[0]
    row = panel.visible_rows()[2]
    assert (c.structure, c.reference, c.test, c.frame) == (row["structure"], row["reference"], row["test"], "MRI")

    # A new patient while computing: the old run's rows must never reach the table.
    panel.refresh()
    panel.set_patient(None)
    panel.wait(60)
    qtbot.wait(100)
    assert panel.table.rowCount() == 0 and panel.rows() == []


# -- DVH panel -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dvh_panel_curves_click_emits_key_and_exports(qtbot, patient, tmp_path, monkeypatch) -> None:
    panel = DvhPanel()
    _show(qtbot, panel)
    panel.set_patient(patient)
    assert [panel.frame_box.itemData(i) for i in range(panel.frame_box.count())] == ["MRI", "sCT"]
    panel.set_show_mode("clinical")
    qtbot.mouseClick(panel.compute_btn, LEFT)
    _wait_idle(qtbot, panel)
    keys = {(r.name, r.source, r.frame) for r in patient.structures("MRI", "clinical")}
    assert set(panel.curves()) == keys and panel.table.rowCount() == len(keys)
    target = ("Bladder", "clinical", "MRI")
    curve = panel.curves()[target]
    assert curve.opts["pen"].color().getRgb()[:3] == structure_colour("Bladder")

    # Hide every other curve through its table check box, then click the Bladder curve.
    for r in range(panel.table.rowCount()):
        item = panel.table.item(r, 0)
        if tuple(item.data(QtCore.Qt.ItemDataRole.UserRole + 1)) != target:
            item.setCheckState(QtCore.Qt.CheckState.Unchecked)
    assert [k for k, c in panel.curves().items() if c.isVisible()] == [target]
    x, y = curve.getData()
    i = int(np.argmin(np.abs(y - 50.0)))
    vb = panel.plot.getPlotItem().getViewBox()
    # Hiding curves changes the auto range, which pyqtgraph applies lazily: settle it before
    # mapping data coordinates to the screen.
    qtbot.wait(50)
    vb.updateAutoRange()
    QtWidgets.QApplication.processEvents()
    pos = panel.plot.mapFromScene(vb.mapViewToScene(QtCore.QPointF(float(x[i]), float(y[i]))))
    with qtbot.waitSignal(panel.structure_selected, timeout=5000) as blocker:
        qtbot.mouseClick(panel.plot.viewport(), LEFT, pos=pos)
    assert blocker.args == [target]
    assert curve.opts["pen"].width() > panel.curves()[("Rectum", "clinical", "MRI")].opts["pen"].width()

    out = tmp_path / "dvh.csv"
    _answer_save_dialog(monkeypatch, out)
    qtbot.mouseClick(panel.export_btn, LEFT)
    table = _read_csv(out)
    assert list(table[0]) == list(DVH_ROW_KEYS)
    assert {(r["structure"], r["source"]) for r in table} == {k[:2] for k in keys}
    bladder = next(r for r in table if r["structure"] == "Bladder")
    assert float(bladder["mean_gy"]) == next(r for r in panel.rows() if r["structure"] == "Bladder")["mean_gy"]


@pytest.mark.slow
def test_dvh_panel_filter_and_prescription_recompute(qtbot, patient) -> None:
    panel = DvhPanel()
    _show(qtbot, panel)
    panel.set_patient(patient, refresh=True)
    _wait_idle(qtbot, panel)
    assert {k[1] for k in panel.curves()} == {"clinical", "nnUNet"}
    v100 = {r["structure"]: r["v100_percent"] for r in panel.rows() if r["source"] == "clinical"}
    panel.set_prescription(30.0)
    qtbot.waitUntil(lambda: len(panel.curves()) == 12 and not panel.is_busy(), timeout=60000)
    higher = {r["structure"]: r["v100_percent"] for r in panel.rows() if r["source"] == "clinical"}
    assert all(higher[s] >= v100[s] for s in v100) and any(higher[s] > v100[s] for s in v100)
    panel.set_hidden_sources({"nnUNet"})
    assert {k[1] for k in panel.curves()} == {"clinical"}
    panel.set_frame("sCT")
    qtbot.waitUntil(lambda: bool(panel.curves()) and not panel.is_busy(), timeout=60000)
    assert {k[2] for k in panel.curves()} == {"sCT"}


# -- uncertainty-versus-edits plot -----------------------------------------------------------------
def test_uncertainty_plot_bars_step1_step2_per_observer_and_pooled(qtbot, patient, tmp_path, monkeypatch) -> None:
    plot = UncertaintyEditsPlot()
    _show(qtbot, plot)
    with qtbot.waitSignal(plot.computed, timeout=60000):
        plot.set_patient(patient, refresh=True)
    _wait_idle(qtbot, plot)
    rows, _ = patient_edit_rows(patient)
    assert plot.rows() == rows
    plot.set_structure("CTVT_427")
    pooled = pool_edit_rows([r for r in rows if r["structure"] == "CTVT_427"])
    values = plot.bar_values()
    assert set(values) == {1, 2}
    for step in (1, 2):
        assert values[step] == [r["fraction_edited"] for r in pooled if r["step"] == step]
    assert len(plot.bin_edges()) == 10 and plot.bin_edges()[0] == (0.0, 0.05)
    assert "step 2" in plot.status.text()

    plot.set_observer("obsC")
    plot.set_measure("edited_voxels")
    mine = [r for r in rows if (r["structure"], r["observer"]) == ("CTVT_427", "obsC")]
    assert plot.bar_values()[2] == [r["edited_voxels"] for r in mine if r["step"] == 2]
    drawn = [it for it in plot.plot.getPlotItem().items if isinstance(it, pg.BarGraphItem)]  # step 1, step 2
    assert len(drawn) == 2  # what is drawn is what bar_values reports
    assert list(drawn[0].opts["height"]) == [float(v) for v in plot.bar_values()[1]]
    assert list(drawn[1].opts["height"]) == [float(v) for v in plot.bar_values()[2]]
    assert all(x1 < x2 for x1, x2 in zip(drawn[0].opts["x"], drawn[1].opts["x"]))

    out = tmp_path / "u.csv"
    _answer_save_dialog(monkeypatch, out)
    qtbot.mouseClick(plot.export_btn, LEFT)
    table = _read_csv(out)
    assert len(table) == 20 and {r["observer"] for r in table} == {"obsC"}


def test_uncertainty_plot_accepts_precomputed_rows(qtbot) -> None:
    plot = UncertaintyEditsPlot()
    _show(qtbot, plot)
    rows = []
    for step, edited in ((1, [8, 4]), (2, [2, 4])):
        for k, e in enumerate(edited):
            rows.append(
                {
                    "patient": "P",
                    "structure": "Rectum",
                    "observer": "obsX",
                    "step": step,
                    "bin_low": k / 20,
                    "bin_high": (k + 1) / 20,
                    "edited_voxels": e,
                    "added_voxels": e,
                    "removed_voxels": 0,
                    "total_voxels": 10,
                    "fraction_edited": e / 10,
                }
            )
    plot.set_rows(rows)
    assert plot.bar_values() == {1: [0.8, 0.4], 2: [0.2, 0.4]}
    assert "50 % fewer edits in step 2" in plot.status.text()


@pytest.mark.parametrize(
    "cls,title", [(MetricsPanel, "Metrics"), (DvhPanel, "DVH"), (UncertaintyEditsPlot, "Uncertainty-versus-edits")]
)
def test_a_failing_computation_is_reported_and_the_panel_can_compute_again(qtbot, patient, cls, title) -> None:
    panel = cls()
    _show(qtbot, panel)
    panel.set_patient(patient)

    def boom(progress, should_stop):
        raise OSError("disk gone")

    panel._start_job(boom, 3, "working")
    assert not panel.compute_btn.isEnabled()
    _wait_idle(qtbot, panel)
    assert panel.status.text() == f"{title} failed: OSError: disk gone"
    assert not panel.progress_bar.isVisible()
