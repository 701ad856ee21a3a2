"""A separate process that saves one series again and again, for the data-safety tests.

Usage: ``python save_worker.py PATIENT OUT SAVES TAG START [MODE]``

* before its i-th save, waits until the file ``START.<i>`` exists, so several workers save at the
  same moment, round after round;
* saves ``CTVT_427`` from source ``step1_obsW`` ``SAVES`` times into ``OUT``, each time with one
  more voxel set at a position that depends on ``TAG`` and the save's number, so every version
  holds other bytes; prints ``SAVED <version path>`` after each save returned;
* ``MODE=version-link``: SIGKILLs itself just before the version file is linked under its final
  name (its sidecar is already there), during the first save;
* ``MODE=slow-plain``: waits 0-300 ms (at random) before each write of the plain copy, so that
  another process's newer version often lands in between: the plain copy must still end up the
  newest version.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from lundprobe_gui.io.open import open_patient
from lundprobe_gui.io.versions import VERSION_RE


def main(argv: list[str]) -> int:
    patient, out, saves, tag, start = argv[:5]
    mode = argv[5] if len(argv) > 5 else ""
    p = open_patient(patient)
    base = p.mask_obj("CTVT_427", "nnUNet").copy()
    if mode == "slow-plain":
        from lundprobe_gui.io import versions

        real_write = versions.atomic_write
        rng = random.Random(int(tag))

        def slow(path, *a, **k):
            if str(path).endswith(".nii.gz") and not VERSION_RE.match(Path(path).name):
                time.sleep(rng.uniform(0, 0.3))
            return real_write(path, *a, **k)

        versions.atomic_write = slow
    if mode == "version-link":
        real = os.link

        def link(src, dst, *a, **k):
            m = VERSION_RE.match(Path(dst).name)
            if m and m["ext"] == "nii.gz":
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst, *a, **k)

        os.link = link
    shape = base.shape
    for i in range(int(saves)):
        deadline = time.time() + 120
        while not Path(f"{start}.{i}").exists():
            if time.time() > deadline:
                return 3
            time.sleep(0.001)
        m = base.copy()
        k = (int(tag) * 1000 + i) % int(np.prod(shape))
        z, rest = divmod(k, shape[1] * shape[2])
        y, x = divmod(rest, shape[2])
        m.write(((z, z + 1), (y, y + 1), (x, x + 1)), np.ones((1, 1, 1), bool))
        path = p.save_mask("CTVT_427", m, source="step1_obsW", out_dir=out, tool=f"worker {tag}")
        print(f"SAVED {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
