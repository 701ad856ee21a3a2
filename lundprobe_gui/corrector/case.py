"""One correction case: start mask, target and what the user sees, cropped to where they matter."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.mask import Box, Mask, clip_box, union_box
from ..edit.apply import apply_region
from ..edit.constraint import read_image
from ..edit.margin import margin_region

logger = logging.getLogger(__name__)

PAD_MM = 12.0
"""The crop reaches this far around the start mask, the target and the folds."""


@dataclass(eq=False)
class CorrectionCase:
    """A start mask and a target on a small grid, with the image, uncertainty and folds there.

    Attributes
    ----------
    patient, structure, target_name : str
        Where it comes from (``target_name`` e.g. ``step2_obsB`` or ``shrink_1mm``).
    kind : str
        ``observer`` (an observer's edit) or ``uniform`` (an edit that ignores uncertainty).
    spacing_zyx : tuple of float
    image, uncertainty : numpy.ndarray
        Float blocks of the crop.
    start, target : Mask
        On the crop's grid.
    folds : list of Mask
        On the crop's grid (may be empty).
    """

    patient: str
    structure: str
    target_name: str
    kind: str
    spacing_zyx: tuple[float, float, float]
    image: np.ndarray
    uncertainty: np.ndarray
    start: Mask
    target: Mask
    folds: list[Mask]

    @property
    def label(self) -> str:
        """``patient/structure/target``."""
        return f"{self.patient}/{self.structure}/{self.target_name}"


def crop_box(masks: Sequence[Mask], spacing_zyx: Sequence[float], shape: Sequence[int]) -> Box | None:
    """Union of the masks' boxes padded by :data:`PAD_MM`, clipped to the grid."""
    box: Box | None = None
    for m in masks:
        box = union_box(box, m.bbox())
    if box is None:
        return None
    pad = [int(math.ceil(PAD_MM / s)) for s in spacing_zyx]
    return clip_box(tuple((a - p, b + p) for (a, b), p in zip(box, pad)), shape)  # type: ignore[arg-type]


def _crop(m: Mask, box: Box) -> Mask:
    return Mask(tuple(b - a for a, b in box), m.read(box))


def uniform_shrink(start: Mask, margin_mm: float, spacing_zyx: Sequence[float]) -> Mask:
    """The start mask shrunk by ``margin_mm`` everywhere: an edit that ignores the uncertainty."""
    out = start.copy()
    found = margin_region(start, -abs(margin_mm), spacing_zyx)
    if found is not None:
        region, mode = found
        apply_region(out, region, mode)
    return out


def make_case(
    patient: str,
    structure: str,
    target_name: str,
    kind: str,
    start: Mask,
    target: Mask,
    folds: Sequence[Mask],
    image: Any,
    uncertainty: Any | None,
    spacing_zyx: Sequence[float],
) -> CorrectionCase | None:
    """Crop everything to the neighbourhood of the start mask, the target and the folds."""
    box = crop_box([start, target, *folds], spacing_zyx, start.shape)
    if box is None:
        return None
    img = np.asarray(read_image(image, box), np.float32)
    unc = (
        np.asarray(read_image(uncertainty, box), np.float32)
        if uncertainty is not None
        else np.zeros(img.shape, np.float32)
    )
    return CorrectionCase(
        patient,
        structure,
        target_name,
        kind,
        tuple(float(s) for s in spacing_zyx),  # type: ignore[arg-type]
        img,
        unc,
        _crop(start, box),
        _crop(target, box),
        [_crop(f, box) for f in folds],
    )


def cases_for_patient(
    patient: Any,
    structures: Sequence[str] = ("CTVT_427", "Rectum"),
    step: int = 2,
    shrink_mm: Sequence[float] = (1.0, 3.0),
) -> list[CorrectionCase]:
    """The cases of one opened patient: its step-``step`` observer edits, and uniform shrinks.

    Parameters
    ----------
    patient : Patient
        An opened patient (``lundprobe_gui.open_patient``).
    structures : sequence of str
        DL structures to correct.
    step : int
        Reader-study step whose edits are the observer targets.
    shrink_mm : sequence of float
        Margins of the uniform-shrink targets.
    """
    out: list[CorrectionCase] = []
    sp = patient.geometry.spacing_zyx
    image = patient.image()
    if image is None:
        raise ValueError(f"{patient.id}: no image")
    for name in structures:
        try:
            start = patient.mask_obj(name, "nnUNet")
        except (KeyError, ValueError) as e:
            logger.warning("%s: no DL mask of %s (%s)", patient.id, name, e)
            continue
        sources = sorted({r.source for r in patient.structures() if r.name == name})
        folds = [patient.mask_obj(name, s) for s in sources if s.startswith("nnUNet_fold_")]
        unc = patient.uncertainty(name)
        targets = [(s, "observer", patient.mask_obj(name, s)) for s in sources if s.startswith(f"step{step}_obs")]
        targets += [(f"shrink_{m:g}mm", "uniform", uniform_shrink(start, m, sp)) for m in shrink_mm]
        for tname, kind, target in targets:
            case = make_case(patient.id, name, tname, kind, start, target, folds, image, unc, sp)
            if case is not None:
                out.append(case)
    return out
