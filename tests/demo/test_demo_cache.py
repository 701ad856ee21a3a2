"""The cached demo patient: the full-resolution one by default, installed whole or not at all."""

import os
import subprocess
import sys

import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui import demo
from lundprobe_gui.paths import demo_patient_dir


def test_the_default_demo_patient_has_the_datasets_resolution():
    assert demo.DEFAULT_SIZE == "full"
    from lundprobe_gui.demo.grids import make_grids

    g = make_grids(demo.DEFAULT_SIZE, np.zeros(3))
    assert g.mri.spacing[:2] == (0.4688, 0.4688)


@pytest.mark.slow
def test_a_generation_is_installed_whole_and_opened_from_then_on():
    assert demo.demo_ready("small") is None
    path = demo.ensure_demo("small")
    assert demo.demo_ready("small") == path and demo.is_demo_patient(path, "small")
    assert not demo.is_demo_patient(path, "full")
    p = lp.open_patient(path)
    assert not p.problems and p.geometry.size_xyz == (256, 171, 44)
    parent = demo_patient_dir("small").parent
    assert [d.name for d in parent.iterdir()] == ["extended-small-seed0"]  # no partial folder left
    again = demo.ensure_demo("small")
    assert again == path


def test_an_interrupted_generation_is_never_opened_and_is_swept(monkeypatch):
    def broken(out, opts, progress=None):
        (out / "LUNDPROBE_0433").mkdir(parents=True)
        raise KeyboardInterrupt  # the user closed the app halfway

    monkeypatch.setattr(demo, "generate", broken)
    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo("small")
    assert demo.demo_ready("small") is None
    parent = demo_patient_dir("small").parent
    assert not any(parent.iterdir())  # its partial folder went with it
    # a partial folder of a process that was killed is swept; one of a live process is not
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = parent / f".extended-small-seed0.partial-{int(dead.stdout)}-0000"
    live = demo.partial_dir("small")
    stale.mkdir()
    live.mkdir()
    assert demo.sweep_partials("small") == 1
    assert not stale.exists() and live.exists()


@pytest.mark.slow
def test_a_generation_that_lost_the_race_leaves_the_winners_patient(tmp_path):
    first = demo.partial_dir("small")
    demo.generate(first, demo.DemoOptions(size="small"))
    winner = demo.install_generated(first, "small")
    second = demo.partial_dir("small")
    second.mkdir()
    (second / "junk").write_text("x")
    assert demo.install_generated(second, "small") == winner
    assert not second.exists() and (winner.parent / ".complete").is_file()


def test_the_background_command_writes_the_full_patient(tmp_path):
    from lundprobe_gui.ui.demo_upgrade import generator_command

    cmd = generator_command(tmp_path / "out")
    assert cmd[cmd.index("--size") + 1] == "full" and str(tmp_path / "out") in cmd
    if os.name == "posix" and cmd[0].endswith("nice"):
        assert cmd[1:3] == ["-n", "10"]  # below the window's priority
