"""SimpleITK is never entered from two threads at once, though patients are probed on a thread pool."""

from __future__ import annotations

import threading
import time

import SimpleITK as sitk

import lundprobe_gui as lp


def test_header_reads_of_a_discovery_never_overlap(demo_patient_path, monkeypatch):
    active, most, calls = [0], [0], [0]
    lock = threading.Lock()
    real = sitk.ImageFileReader.ReadImageInformation

    def watched(self):
        with lock:
            active[0] += 1
            calls[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.002)  # long enough for the other pool threads to arrive
        try:
            return real(self)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(sitk.ImageFileReader, "ReadImageInformation", watched)
    p = lp.open_patient(demo_patient_path)  # headers are probed on four threads
    assert calls[0] >= 40 and len(p.structures()) > 30
    assert most[0] == 1
