"""Is an image a CT? And which window preset should the viewer start with?

The rule for "CT-like" (documented in docs/layouts.md): the finite values reach -900 or below
(air is -1000 HU) and at least half of them lie in the HU range of air to dense bone,
[-1100, 3100]. MRI intensities are never that negative, and the second condition keeps out
arbitrary signed maps whose values merely go far below zero (phase images, difference maps).
Padding values outside a CT's circular field of view (-2048, -3024, -32768) cover well under
half of a slice, so they do not spoil the test.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from .volume import Volume

if TYPE_CHECKING:
    from .patient import Patient

logger = logging.getLogger(__name__)

CT_AIR_MAX_HU = -900.0
HU_RANGE = (-1100.0, 3100.0)
MIN_FRACTION_IN_HU_RANGE = 0.5
SAMPLE = 200_000

# Keys of lundprobe_gui.render.window.PRESETS; core cannot import render, a test keeps them in step.
PRESET_CT_BODY = "mediastinum"
PRESET_CT_PELVIS = "CT"
PRESET_MRI = "MRI auto"


def _values(obj: np.ndarray | Volume | Any) -> np.ndarray:
    if isinstance(obj, Volume):
        obj.load()
        data = obj.data
    else:
        data = getattr(obj, "sample", obj)  # an io.valuescan.ValueScan carries a sample
    flat = np.asarray(data).reshape(-1)
    if flat.size > SAMPLE:
        flat = flat[:: flat.size // SAMPLE + 1]
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    return flat


def looks_like_ct(values: np.ndarray | Volume | Any) -> bool:
    """Whether image values look like CT Hounsfield units.

    Parameters
    ----------
    values : numpy.ndarray, Volume or ValueScan
        A volume (loaded on demand), an array or a sample of one, or anything with a ``sample``
        array such as :class:`lundprobe_gui.io.valuescan.ValueScan`.

    Returns
    -------
    bool
        True when the minimum is at most -900 and at least half the values lie in [-1100, 3100].
    """
    flat = _values(values)
    if flat.size == 0 or flat.dtype.kind not in "iuf":
        return False
    if float(flat.min()) > CT_AIR_MAX_HU:
        return False
    inside = np.count_nonzero((flat >= HU_RANGE[0]) & (flat <= HU_RANGE[1]))
    return bool(inside >= MIN_FRACTION_IN_HU_RANGE * flat.size)


def default_window_preset(patient: Patient, frame: str | None = None) -> str:
    """The window preset a frame's base image should open with.

    Parameters
    ----------
    patient : Patient
        The open patient.
    frame : str, optional
        Frame name; the reference frame by default.

    Returns
    -------
    str
        A key of ``lundprobe_gui.render.window.PRESETS``: ``"mediastinum"`` for a CT frame
        (StructSeg, or a CT-like reference of a multi-label or plain folder), ``"CT"`` (the
        dataset's -160..200 HU pelvis window) for the LUND-PROBE sCT frame, and ``"MRI auto"``
        otherwise. A frame named ``"image"`` whose base image is already loaded is checked with
        :func:`looks_like_ct`; an unloaded one is not loaded here (the layout decided at open).
    """
    fr = patient.frames[frame] if frame else patient.reference_frame
    if fr.name == "sCT":
        return PRESET_CT_PELVIS
    if fr.name == "CT":
        return PRESET_CT_BODY
    if fr.name == "MRI":
        return PRESET_MRI
    img = fr.images.get("image")
    if img is not None and img.loaded and looks_like_ct(img):
        return PRESET_CT_BODY
    return PRESET_MRI
