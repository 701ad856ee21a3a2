"""Confirming the scale of a dose whose values are not Gy, and the world-coordinate convention of the readout."""

from __future__ import annotations

import logging
import math

from PySide6 import QtWidgets

from ..core.patient import LUNDPROBE_PRESCRIPTION_GY
from ..core.volume import Volume

logger = logging.getLogger(__name__)


def suggested_scale(vol: Volume, prescription_gy: float) -> float:
    """A round factor that would put the maximum a little above the prescription (a guess the user confirms)."""
    if not vol.vmax > 0:
        return 1.0
    raw = 1.07 * prescription_gy / vol.vmax * vol.scale
    return float(f"{raw:.1g}") if math.isfinite(raw) and raw > 0 else 1.0


def _maximum_note(vol: Volume) -> str:
    # a resampled copy's maximum is lower than the file's (linear interpolation): say which one is quoted
    stored = vol.vmax / vol.scale
    if getattr(vol, "resampled_from", None) is not None:
        return (
            f"Maximum after resampling onto the image grid {stored:,.0f} (the file's own maximum is in the line above)"
        )
    return f"Stored maximum {stored:,.0f}"


def ask_dose_scale(window) -> bool:
    """Ask for the Gy per stored unit of the shown frame's dose that is not in Gy; True once applied.

    The dose stays hidden (and out of every DVH) until a scale is confirmed here.
    """
    patient = window.patient
    if patient is None:
        return False
    flagged = [v for v in patient.reference_frame.doses.values() if v.unit_problem]
    if not flagged:
        QtWidgets.QMessageBox.information(
            window, "Dose scale", "Every dose of this patient has plausible values in Gy; nothing to confirm."
        )
        return False
    vol = flagged[0]
    factor, ok = QtWidgets.QInputDialog.getDouble(
        window,
        "Dose scale",
        f"{vol.path.name}: {vol.unit_problem}.\n\n"
        "Gy per stored unit (for an RTDOSE: its DoseGridScaling). "
        f"{_maximum_note(vol)}.",
        suggested_scale(vol, patient.prescription_gy or LUNDPROBE_PRESCRIPTION_GY),
        1e-12,
        1e6,
        12,
    )
    if not ok:
        return False
    patient.confirm_dose_scale(vol, factor)
    window.refresh_layers()
    window.show_problems()
    window.statusBar().showMessage(f"{vol.path.name}: shown at {factor:g} Gy per unit, maximum {vol.vmax:.2f} Gy", 8000)
    return True


def set_coordinate_convention(window, ras: bool) -> None:
    """Show world coordinates in RAS (True) or LPS in the readout, and remember the choice."""
    window.coords = "RAS" if ras else "LPS"
    window.settings.setValue("coords", window.coords)
    if window.state is not None:
        window.state.coords = window.coords
        window.tri.update_readout()
