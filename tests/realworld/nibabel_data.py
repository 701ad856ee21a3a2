"""Where nibabel keeps its own test images: files nobody on this project wrote."""

from __future__ import annotations

from pathlib import Path

import nibabel

NIBABEL_DATA = Path(nibabel.__file__).parent / "tests" / "data"
