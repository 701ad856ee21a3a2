"""What a patient shows when it opens, and where the crosshair starts."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..core.patient import Patient
from ..render.colormaps import edit_colour
from ..render.state import ViewerState

PRIMARY_STRUCTURE = "CTVT_427"


def default_state(patient: Patient) -> ViewerState:
    """What shows on open: the image, clinical structures as outlines, saved edits and the isodose lines.

    The dose wash (D) and the uncertainty map (U) are one key away. One uncertainty map is shown at a
    time (the CTV's until another structure is edited), on a colour scale unlike the dose wash's.
    """
    state = ViewerState()
    frame = patient.reference_frame
    saved = 0
    for (name, source), ref in frame.structures.items():
        st = state.style((name, source, frame.name))
        st.visible = source == "clinical"
        if ref.version is not None:  # the user's own saved corrections show too, each in an edit colour
            st.visible, st.colour, st.width = True, edit_colour(saved), 2
            saved += 1
        elif ref.colour is not None:  # a colour the data brings (an RTSTRUCT's ROI display colour)
            st.colour = ref.colour
    state.dose.wash = False
    state.uncertainty.visible = False
    state.uncertainty.colours = "magenta"
    first = PRIMARY_STRUCTURE if PRIMARY_STRUCTURE in frame.uncertainty else next(iter(sorted(frame.uncertainty)), None)
    state.uncertainty.maps = {first} if first is not None else set()
    if patient.prescription_gy is not None:
        state.dose.prescription_gy = patient.prescription_gy
    nz, ny, nx = frame.geometry.shape_zyx
    state.cursor = (nz // 2, ny // 2, nx // 2)
    state.base.base = usable_base(patient, state.base.base)
    return state


def usable_base(patient: Patient, base: str) -> Literal["mri", "sct"]:
    """``base``, unless it is the MRI and the frame has none left (unusable) but has an sCT: then the sCT."""
    images = patient.reference_frame.images
    if base == "mri" and "image" not in images and "sCT" in images:
        return "sct"
    return "sct" if base == "sct" else "mri"


def structure_centre(patient: Patient, name: str = "CTVT_427") -> tuple[int, int, int] | None:
    """Voxel centroid (z, y, x) of the CTV (else the first loaded clinical structure), or None."""
    structures = patient.reference_frame.structures
    ref = structures.get((name, "clinical"))
    if ref is None:
        ref = next((r for r in structures.values() if r.source == "clinical" and patient.is_mask_loaded(r)), None)
        name = ref.name if ref is not None else name
    if ref is None or not patient.is_mask_loaded(ref):
        return None
    m = patient.mask_obj(name, "clinical")
    if m.is_empty():
        return None
    idx = np.argwhere(m.data)
    c = idx.mean(axis=0) + np.asarray(m.offset)
    return tuple(int(round(v)) for v in c)  # type: ignore[return-value]
