"""11. The patient model changes only on the GUI thread: a loader or a save thread that adds structures, drops a
volume that failed to load or reports a problem hands the change to the GUI thread, which iterates the model
meanwhile without "dictionary changed size during iteration".

Without the binding these tests fail: the worker adds keys to ``Frame.structures`` while the GUI thread loops
over it (thread switches are forced every few microseconds).
"""

from __future__ import annotations

import queue
import shutil
import sys
import threading

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.core.patient import StructureRef

from .helpers import TINY, block_mask


@pytest.fixture()
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _iterate_while(patient, worker: threading.Thread, between=lambda: None) -> int:
    """Loop over the model the way the views do until the worker ends; returns the loops made."""
    frame = patient.frames["MRI"]
    loops = 0
    while worker.is_alive() or loops < 3:
        for key, ref in frame.structures.items():  # the layer panel's loop
            assert ref.key[:2] == key
        for _ in frame.volumes():
            pass
        loops += 1
        between()
    return loops


def test_a_worker_adding_structures_never_changes_the_model_under_the_gui_thread(tiny_root, fast_switching, figures):
    p = lp.open_patient(tiny_root / "LUNDPROBE_0001")
    posted: queue.SimpleQueue = queue.SimpleQueue()
    p.bind_thread(posted.put)  # this thread is the GUI thread
    path = p.structure("Bladder").path
    applied_in: set[int] = set()
    p.changed.connect(lambda what: applied_in.add(threading.get_ident()))

    def loader() -> None:  # like a loader or a save thread registering what it found or wrote
        for i in range(3000):
            p.register_structure(StructureRef(f"S{i}", "step1_obsF", "MRI", path))

    t = threading.Thread(target=loader)
    t.start()

    def drain() -> None:
        while not posted.empty():
            posted.get()()

    loops = _iterate_while(p, t, drain)
    t.join()
    drain()
    assert len([r for r in p.structures() if r.source == "step1_obsF"]) == 3000
    assert applied_in == {threading.get_ident()}  # every change ran in the GUI thread
    figures["gui_loops_while_adding"] = loops


def test_a_failed_volume_is_dropped_in_the_gui_thread(tiny_root, tmp_path):
    shutil.copytree(tiny_root, tmp_path / "ds")
    pat = tmp_path / "ds" / "LUNDPROBE_0001"
    dose = pat / "MR_StorT2" / "dose_interpolated.nii.gz"
    p = lp.open_patient(pat)
    dose.write_bytes(dose.read_bytes()[:60])  # broken after opening: the load fails
    posted: queue.SimpleQueue = queue.SimpleQueue()
    p.bind_thread(posted.put)
    vol = p.frames["MRI"].doses["dose_interpolated"]
    t = threading.Thread(target=p.load_volume, args=(vol,))
    t.start()
    t.join()
    assert "dose_interpolated" in p.frames["MRI"].doses  # not yet: the GUI thread has not run the change
    assert [x for x in p.problems if x.path == str(dose)]  # the problem is recorded at once
    while not posted.empty():
        posted.get()()
    assert "dose_interpolated" not in p.frames["MRI"].doses


@pytest.mark.slow
def test_the_window_loads_and_saves_while_the_gui_thread_iterates(tiny_root, tmp_path, qtbot, fast_switching):
    from lundprobe_gui.ui import gui_thread
    from lundprobe_gui.ui.main_window import MainWindow

    shutil.copytree(tiny_root, tmp_path / "ds")
    w = MainWindow()
    qtbot.addWidget(w)
    p = lp.open_patient(tmp_path / "ds" / "LUNDPROBE_0001")
    gui_thread.bind(p)
    assert p.owner_thread == threading.get_ident()
    m = block_mask(TINY)

    def saver() -> None:  # the editor's save thread: every save registers the new version
        for i in range(40):
            p.save_mask(f"S{i}", m, source="step1_obsF", out_dir=tmp_path / "out")

    t = threading.Thread(target=saver)
    t.start()
    _iterate_while(p, t, lambda: qtbot.wait(1))
    t.join()
    qtbot.waitUntil(lambda: len([r for r in p.structures() if r.source == "step1_obsF"]) == 40, timeout=5000)
    assert np.array_equal(p.mask("S7", "step1_obsF"), m.astype(bool))
