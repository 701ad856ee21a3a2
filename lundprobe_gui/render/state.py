"""What the viewer shows, as plain dataclasses: the UI edits these and the scene renders them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from ..core.patient import LUNDPROBE_PRESCRIPTION_GY
from .colormaps import structure_colour

logger = logging.getLogger(__name__)

RGB = tuple[int, int, int]
Key = tuple[str, str, str]
"""A structure key: (name, source, frame)."""

CT_WINDOW = (-160.0, 200.0)
DEFAULT_ISODOSE_LEVELS = (95.0, 80.0, 60.0, 40.0, 20.0)


@dataclass
class LayerStyle:
    """How one structure layer is drawn."""

    visible: bool = False
    colour: RGB = (255, 255, 0)
    opacity: float = 1.0
    mode: Literal["outline", "fill", "both"] = "outline"
    width: int = 1


@dataclass
class BaseDisplay:
    """The greyscale base image and the MRI/sCT fusion."""

    base: Literal["mri", "sct"] = "mri"
    fusion: Literal["none", "checkerboard", "blend"] = "none"
    tile_px: int = 32
    blend: float = 0.5
    windows: dict[str, tuple[float, float]] = field(default_factory=lambda: {"sct": CT_WINDOW})
    presets: dict[str, str] = field(default_factory=lambda: {"sct": "CT"})
    """The preset each image's window came from ("" once dragged or typed)."""


@dataclass
class DoseDisplay:
    """Dose colour wash and isodose lines."""

    wash: bool = True
    lines: bool = True
    prescription_gy: float = LUNDPROBE_PRESCRIPTION_GY
    threshold_pct: float = 10.0
    opacity: float = 0.4
    levels_pct: tuple[float, ...] = DEFAULT_ISODOSE_LEVELS


@dataclass
class UncertaintyDisplay:
    """DL uncertainty heat maps."""

    visible: bool = True
    maps: set[str] = field(default_factory=set)
    scale: Literal["fixed", "per_map"] = "fixed"
    opacity: float = 0.4
    colours: str = "rainbow"
    """A name of :data:`~lundprobe_gui.render.colormaps.UNCERTAINTY_SCALES` ("rainbow": the dataset's)."""


@dataclass
class ViewerState:
    """Everything that decides the pixels of the three views (except zoom and pan)."""

    cursor: tuple[int, int, int] = (0, 0, 0)
    base: BaseDisplay = field(default_factory=BaseDisplay)
    dose: DoseDisplay = field(default_factory=DoseDisplay)
    uncertainty: UncertaintyDisplay = field(default_factory=UncertaintyDisplay)
    layers: dict[Key, LayerStyle] = field(default_factory=dict)
    structures_on: bool = True
    fiducials_on: bool = True
    hidden_sources: set[str] = field(default_factory=set)
    """Sources that must not be shown at all (reader-study blinding)."""
    uncertainty_allowed: bool = True
    dose_allowed: bool = True
    """False while a reader-study step hides the dose: no wash, isodose lines, colour bar or readout."""
    edit_map: tuple[Key, Key] | None = None
    """(base, edited) structures whose difference is painted: added in one colour, removed in another."""
    coords: Literal["LPS", "RAS"] = "LPS"
    """How the readout shows world coordinates: LPS (DICOM, SimpleITK) or RAS (NIfTI, nibabel). Files and JSON
    always use LPS."""

    def style(self, key: Key) -> LayerStyle:
        """The style of a layer, created with the default colour on first use."""
        st = self.layers.get(key)
        if st is None:
            st = LayerStyle(colour=structure_colour(key[0], None if key[1] == "clinical" else key[1]))
            self.layers[key] = st
        return st

    def is_shown(self, key: Key) -> bool:
        """Whether a structure is drawn now."""
        st = self.layers.get(key)
        return bool(self.structures_on and st is not None and st.visible and key[1] not in self.hidden_sources)

    def allowed(self, source: str) -> bool:
        """Whether a source may be shown or opened at all."""
        return source not in self.hidden_sources
