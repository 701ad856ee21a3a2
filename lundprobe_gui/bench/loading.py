"""Discovery, loading and memory figures, each run in a fresh process so RSS is the real figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .figures import Samples

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import lundprobe_gui as lp
t1 = time.perf_counter()
p = lp.open_patient(sys.argv[1], edits=False)
t2 = time.perf_counter()
p.image().load()
t3 = time.perf_counter()
p.load_all(workers=2)
t4 = time.perf_counter()
rss = 0
with open('/proc/self/status') as fh:
    for line in fh:
        if line.startswith('VmRSS:'):
            rss = int(line.split()[1]) / 1024.0
print(json.dumps({'discovery_s': t2 - t1, 'load_mri_s': t3 - t2, 'load_all_s': t4 - t2, 'rss_loaded_mb': rss,
                  'import_s': t1 - t0, 'layers': len(p.structures()), 'problems': len(p.problems)}))
"""


def run(patient_dir: Path, repeat: int) -> Samples:
    """discovery_s, load_mri_s, load_all_s, rss_loaded_mb."""
    rows = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, str(patient_dir)], capture_output=True, text=True, check=True
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    units = {"discovery_s": "s", "load_mri_s": "s", "load_all_s": "s", "rss_loaded_mb": "MB"}
    return {k: ([r[k] for r in rows], u) for k, u in units.items()}
