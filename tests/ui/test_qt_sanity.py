"""The Qt binding in use must not corrupt reference counts.

PySide6-Essentials 6.12.0 decrements the refcount of None on every call of a void static method
such as ``QApplication.processEvents``: on Python 3.11 a long session then aborts with
"Fatal Python error: none_dealloc". This test fails on such a build.
"""

import sys

from PySide6 import QtCore, QtWidgets


def test_void_calls_keep_none_alive(qapp):
    w = QtWidgets.QWidget()
    before = sys.getrefcount(None)
    for _ in range(3000):
        qapp.processEvents()
        QtWidgets.QApplication.sendPostedEvents(None, 0)
        w.resize(50, 50)
    after = sys.getrefcount(None)
    assert after - before > -500, f"refcount of None fell by {before - after} over 3000 calls"


def test_binding_version_is_supported():
    import PySide6

    major, minor = (int(v) for v in PySide6.__version__.split(".")[:2])
    assert (major, minor) < (6, 12), "PySide6 6.12.0 breaks refcounts; pyproject pins <6.12"
    assert QtCore.qVersion()
