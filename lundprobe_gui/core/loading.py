"""Loading a patient's layers in a chosen order: the one loader behind the viewer, study and review modes.

A :class:`LoadPlan` says what to read and in which order: ``first`` (read one after the other, so
the first image can be shown as soon as they are in) and ``rest`` (read by a small thread pool, in
list order). The viewer's plan (:func:`viewer_plan`) puts the MRI first; a study case's plan adds
its start masks to ``first`` and leaves out everything the step hides. :func:`load_plan` runs a
plan and reports through plain callables, so it runs the same with or without Qt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

from .memory import release_free_memory
from .volume import Volume

if TYPE_CHECKING:  # the patient model calls this module: no import of it at run time
    from .patient import Patient, StructureRef

logger = logging.getLogger(__name__)

Layer = Union[Volume, "StructureRef"]
"""A layer a plan reads: an image, dose or uncertainty volume, or a structure's mask."""


@dataclass
class LoadPlan:
    """What to load, in order.

    Attributes
    ----------
    first : list of Volume or StructureRef
        Read one after the other before the first image is reported.
    rest : list of Volume or StructureRef
        Read afterwards by the thread pool, started in list order.
    """

    first: list[Layer] = field(default_factory=list)
    rest: list[Layer] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.first) + len(self.rest)


def layer_path(layer: Layer) -> str:
    """The file a layer is read from, as reported to progress callbacks."""
    return str(layer.path)


def _load(patient: Patient, layer: Layer) -> bool:
    if isinstance(layer, Volume):
        return patient.load_volume(layer)
    return patient.try_load_mask(layer)


def main_image(patient: Patient) -> Volume | None:
    """The reference frame's image shown first: the MRI, else the frame's first image."""
    images = patient.reference_frame.images
    return images.get("image") or next(iter(images.values()), None)


def viewer_plan(patient: Patient) -> LoadPlan:
    """Every layer of the patient in display priority order.

    The MRI first; then the clinical CTV (the crosshair moves to it when it loads), the doses that
    are shown (a dose kept on standby is resampled only if it is ever shown), the clinical
    structures, the uncertainty maps and other images, and last the other sources' structures.

    Parameters
    ----------
    patient : Patient
        An opened patient.

    Returns
    -------
    LoadPlan
    """
    frame = patient.reference_frame
    mri = main_image(patient)
    plan = LoadPlan(first=[mri] if mri is not None else [])
    refs = list(frame.structures.values())  # one step: the GUI thread may add a saved edit meanwhile
    clinical = [r for r in refs if r.source == "clinical"]
    ctv = frame.structures.get(("CTVT_427", "clinical")) or next(iter(clinical), None)
    if ctv is not None:
        plan.rest.append(ctv)
    standby = frame.standby()
    plan.rest += [v for v in frame.doses.values() if not any(v is s for s in standby)]
    plan.rest += [r for r in clinical if r is not ctv]
    plan.rest += list(frame.uncertainty.values())
    plan.rest += [v for v in frame.images.values() if v is not mri]
    plan.rest += [r for r in refs if r.source != "clinical"]
    return plan


def load_plan(
    patient: Patient,
    plan: LoadPlan,
    cancel: threading.Event | None = None,
    *,
    on_image: Callable[[], None] | None = None,
    on_layer: Callable[[int, int, str], None] | None = None,
    workers: int = 2,
) -> bool:
    """Read a plan's layers into the patient.

    Parameters
    ----------
    patient : Patient
        The patient the plan was made for.
    plan : LoadPlan
        What to read and in which order.
    cancel : threading.Event, optional
        When set, no further layer is started and no further callback is made.
    on_image : callable, optional
        Called once ``plan.first`` is read.
    on_layer : callable, optional
        ``on_layer(done, total, path)`` after each layer of ``plan.rest``.
    workers : int
        Threads reading ``plan.rest``.

    Returns
    -------
    bool
        False when the load was cancelled.
    """
    cancel = cancel or threading.Event()
    for layer in plan.first:
        if cancel.is_set():
            return False
        _load(patient, layer)
    if cancel.is_set():
        return False
    if on_image is not None:
        on_image()
    total = len(plan.rest)

    def run(layer: Layer) -> str:
        if not cancel.is_set():
            _load(patient, layer)
        return layer_path(layer)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, path in enumerate(pool.map(run, plan.rest), start=1):
            if not cancel.is_set() and on_layer is not None:
                on_layer(done, total, path)
    release_free_memory()
    return not cancel.is_set()


__all__ = ["Layer", "LoadPlan", "layer_path", "load_plan", "main_image", "viewer_plan"]
