"""Discovery of a StructSeg2019-style case: ``<root>/<n>/data.nii.gz`` (CT) and ``label.nii.gz``.

The case folder ``<root>/<n>`` is the patient. ``data`` is always the reference image, in a
single frame named ``"CT"``; ``label`` is always read as a label map, whether it holds 0/1 (one
structure, e.g. a lung GTV) or several values (organs at risk): one structure per value present,
named from a label table (``labels.json`` / ``labels.csv`` in the case folder or the dataset
root, see :mod:`lundprobe_gui.io.multilabel`) or ``label_<k>``. Any other NIfTI file in the
folder is sorted like a file of a plain folder (:mod:`lundprobe_gui.io.generic`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.patient import Patient, Problem
from . import generic

logger = logging.getLogger(__name__)

LAYOUT = "structseg"
FRAME = "CT"
DATA_NAMES = ("data.nii.gz", "data.nii")
LABEL_NAMES = ("label.nii.gz", "label.nii")


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def detect(path: Path) -> bool:
    """A StructSeg case folder holds ``data.nii.gz`` (or ``data.nii``)."""
    return _first(Path(path), DATA_NAMES) is not None


def discover(path: Path) -> Patient:
    """Build a :class:`Patient` from a StructSeg case folder (headers plus a look at the label values).

    Raises
    ------
    FileNotFoundError
        When neither ``data`` nor any other file can serve as the CT.
    """
    path = Path(path)
    data = _first(path, DATA_NAMES)
    label = _first(path, LABEL_NAMES)
    roles = generic.Roles(reference=data, label_maps=(label,) if label else (), frame=FRAME)
    patient = generic.discover(path, LAYOUT, roles)
    if label is None:
        patient.problems.append(
            Problem(str(path / LABEL_NAMES[0]), "missing", "the case has no label.nii.gz, so it has no structures")
        )
    shown = patient.image()
    if data is not None and shown is not None and shown.path != data:
        logger.warning("%s: data.nii.gz is unusable; showing %s instead", path, shown.path.name)
    return patient
