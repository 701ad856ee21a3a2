"""A command whose reader has gone (``lundprobe-gui info P | head -1``) stops quietly, as shell tools do."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", [["info", "{patient}", "--json"], ["info", "{patient}"]])
def test_a_closed_pipe_ends_the_command_with_141_and_no_traceback(demo_patient_path, command) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        r = subprocess.run(
            [sys.executable, "-m", "lundprobe_gui", *(a.format(patient=demo_patient_path) for a in command)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert r.returncode == 141, r.stderr
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr
