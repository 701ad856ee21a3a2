"""Qt fixtures: a main window showing the demo patient, fully loaded."""
import pytest

import lundprobe_gui as lp


@pytest.fixture()
def window(qtbot, demo_patient_path):
    from lundprobe_gui.app import make_application
    from lundprobe_gui.ui.loader import load_patient
    from lundprobe_gui.ui.main_window import MainWindow

    make_application()
    win = MainWindow()
    win.ask = lambda *a, **k: "Discard"  # never block on a modal prompt; tests that check prompts override it
    qtbot.addWidget(win)
    win.resize(1400, 900)
    patient = lp.open_patient(demo_patient_path)
    win.set_patient(patient)
    load_patient(patient)
    win._on_image_ready(patient)
    win._on_finished(patient)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.loader.cancel()
