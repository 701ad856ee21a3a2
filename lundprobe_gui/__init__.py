"""lundprobe_gui: review and correct radiotherapy contours."""

from __future__ import annotations

__version__ = "0.1.0"

from .core.geometry import Geometry  # noqa: E402
from .core.mask import Mask  # noqa: E402
from .core.patient import Fiducial, Frame, Patient, Problem, StructureRef  # noqa: E402
from .core.saved import SavedVersion  # noqa: E402
from .core.volume import Volume  # noqa: E402
from .io.open import NoImageError, list_patients, open_patient  # noqa: E402

__all__ = [
    "Geometry",
    "Mask",
    "Fiducial",
    "Frame",
    "Patient",
    "Problem",
    "StructureRef",
    "SavedVersion",
    "Volume",
    "NoImageError",
    "list_patients",
    "open_patient",
    "__version__",
]
