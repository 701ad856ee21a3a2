"""The render layer must stay importable and usable without Qt (import-linter contract)."""

from __future__ import annotations

import subprocess
import sys


def test_render_imports_no_qt_or_ui():
    code = (
        "import sys\n"
        "import lundprobe_gui.render.slicing, lundprobe_gui.render.window, lundprobe_gui.render.colormaps\n"
        "import lundprobe_gui.render.overlay, lundprobe_gui.render.compose\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')\n"
        "             or m.startswith('lundprobe_gui.ui'))\n"
        "print(','.join(bad))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""
