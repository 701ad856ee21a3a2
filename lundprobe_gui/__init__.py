"""lundprobe_gui: review and correct radiotherapy contours."""

from __future__ import annotations

from .core.geometry import Geometry
from .core.mask import Mask
from .core.patient import Fiducial, Frame, Patient, Problem, StructureRef
from .core.saved import SavedVersion
from .core.volume import Volume
from .io.open import NoImageError, list_patients, open_patient
from .version import __version__

__all__ = [
    "Fiducial",
    "Frame",
    "Geometry",
    "Mask",
    "NoImageError",
    "Patient",
    "Problem",
    "SavedVersion",
    "StructureRef",
    "Volume",
    "__version__",
    "list_patients",
    "open_patient",
]
