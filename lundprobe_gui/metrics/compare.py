"""The comparison set of a patient: which contour pairs are compared, and their metric rows.

For every structure that has a DL (nnU-Net) mask or observer edits in the reference frame, the
set holds these (reference, test) pairs, in this order (docs/metrics.md repeats it):

``dl_vs_observer``
    ``nnUNet`` against every observer's mask of every step (how much each oncologist edited
    the DL proposal in that step).
``intra_observer``
    Each observer's step k against the same observer's later step k' (step 1 against step 2).
``inter_observer``
    Observers pairwise within one step; the reference is the observer that sorts first. Given the
    arm of each observer's steps (a crossover, where a step mixes the arms), within one arm instead,
    whatever the step of each mask.
``clinical_vs_dl``
    ``clinical`` against ``nnUNet``.
``clinical_vs_observer``
    ``clinical`` against every observer's mask of every step.
``fold_vs_ensemble``
    ``nnUNet`` (the ensemble) against each ``nnUNet_fold_<n>``.
``start_vs_edit``, ``dl_vs_edit``, ``clinical_vs_edit``
    A saved edit read back from an output folder (``StructureRef.version`` set, e.g. source
    ``corrected_<user>``) against the mask its editing started from (recorded in its first
    version's sidecar), against ``nnUNet`` and against ``clinical``; the last two only for a
    source that is not an observer's (those are compared above already). A pair equal to an
    earlier one is listed once.

A pair is listed only when both masks exist. Sources are recognised by the dataset's names:
``clinical``, ``nnUNet``, ``nnUNet_fold_<n>`` and ``step<k>_<observer>`` (so observers created
in the app, such as ``step1_obsF``, take part too); any other source is left out.

Each row is :func:`~lundprobe_gui.metrics.pair.pair_metrics` of the pair, prefixed with the
patient, structure, comparison kind and the two source names. The pairs of a structure are
computed together on a :class:`~lundprobe_gui.metrics.group.MaskGroup`, which gives the same
numbers with each mask's distance maps computed once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import TYPE_CHECKING, cast

from .crop import MaskLike
from .group import MaskGroup
from .pair import PAIR_METRIC_KEYS, pair_metrics

if TYPE_CHECKING:  # the model is only needed for type hints; metrics stays importable alone
    from ..core.patient import Patient

logger = logging.getLogger(__name__)

DL_SOURCE = "nnUNet"
CLINICAL_SOURCE = "clinical"
DEFAULT_TOLERANCE_MM = 2.0

KINDS = (
    "dl_vs_observer",
    "intra_observer",
    "inter_observer",
    "clinical_vs_dl",
    "clinical_vs_observer",
    "fold_vs_ensemble",
    "start_vs_edit",
    "dl_vs_edit",
    "clinical_vs_edit",
)
"""Comparison kinds, in the order rows are listed."""

KIND_LABELS = {
    "dl_vs_observer": "DL vs observer",
    "intra_observer": "Step 1 vs step 2",
    "inter_observer": "Inter-observer",
    "clinical_vs_dl": "Clinical vs DL",
    "clinical_vs_observer": "Clinical vs observer",
    "fold_vs_ensemble": "Fold vs ensemble",
    "start_vs_edit": "Start vs saved edit",
    "dl_vs_edit": "DL vs saved edit",
    "clinical_vs_edit": "Clinical vs saved edit",
}
"""Short human-readable names of the kinds (table filters, plots)."""

ROW_ID_KEYS = ("patient", "structure", "observer", "step", "source")
"""The keys every row of ``metrics``, ``dvh`` and ``uncertainty-edits`` starts with (see :func:`source_keys`)."""

METRICS_ROW_KEYS = (*ROW_ID_KEYS, "comparison", "reference", "test", *PAIR_METRIC_KEYS)
"""Keys of one metrics row, in column order: ``observer``, ``step`` and ``source`` describe the test mask."""

_OBSERVER_SOURCE = re.compile(r"^step(\d+)_(.+)$")
_FOLD_SOURCE = re.compile(r"^nnUNet_fold_(\d+)$")

ProgressFn = Callable[[int, int], None]
MaskGetter = Callable[[str, str, str], MaskLike]


def parse_observer_source(source: str) -> tuple[int, str] | None:
    """``(step, observer)`` of a source named ``step<k>_<observer>``, else None.

    Examples
    --------
    >>> parse_observer_source("step2_obsC")
    (2, 'obsC')
    >>> parse_observer_source("nnUNet") is None
    True
    """
    m = _OBSERVER_SOURCE.match(source)
    return (int(m.group(1)), m.group(2)) if m else None


def source_keys(source: str) -> dict:
    """The ``observer``, ``step`` and ``source`` keys of a row about a mask of ``source``.

    An observer mask ``step<k>_<observer>`` gives its observer and step (an int); any other source
    (``nnUNet``, ``clinical``, a fold) leaves them None.

    Examples
    --------
    >>> source_keys("step2_obsC")
    {'observer': 'obsC', 'step': 2, 'source': 'step2_obsC'}
    >>> source_keys("nnUNet")
    {'observer': None, 'step': None, 'source': 'nnUNet'}
    """
    parsed = parse_observer_source(source)
    step, observer = parsed if parsed is not None else (None, None)
    return {"observer": observer, "step": step, "source": source}


def fold_number(source: str) -> int | None:
    """``n`` of a source named ``nnUNet_fold_<n>``, else None."""
    m = _FOLD_SOURCE.match(source)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Comparison:
    """One (reference, test) pair of a structure.

    Attributes
    ----------
    structure : str
        Structure name, e.g. ``CTVT_427``.
    reference, test : str
        Source names; ``reference`` is the first argument of ``pair_metrics``.
    kind : str
        One of :data:`KINDS`.
    frame : str
        Frame both masks live in.
    """

    structure: str
    reference: str
    test: str
    kind: str
    frame: str = "MRI"

    @property
    def reference_key(self) -> tuple[str, str, str]:
        """(name, source, frame) of the reference mask."""
        return (self.structure, self.reference, self.frame)

    @property
    def test_key(self) -> tuple[str, str, str]:
        """(name, source, frame) of the test mask."""
        return (self.structure, self.test, self.frame)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _observer_sort_key(source: str) -> tuple[int, str]:
    step, obs = cast("tuple[int, str]", parse_observer_source(source))  # only observer sources come here
    return (step, obs)


def plan_structure(
    structure: str, sources: Iterable[str], frame: str = "MRI", arm_of: Mapping[tuple[str, int], str] | None = None
) -> list[Comparison]:
    """The comparison set of one structure, given the sources it exists in.

    Parameters
    ----------
    structure : str
        Structure name.
    sources : iterable of str
        Sources that have a mask of this structure.
    frame : str
        Frame name stored in the comparisons.
    arm_of : mapping, optional
        ``(observer, step) -> arm`` (a crossover, where a step mixes the arms): ``inter_observer``
        pairs the observers within an arm instead of a step, whatever the step of each mask
        (arms by name, then observers; an observer mask whose step has no arm is left out).

    Returns
    -------
    list of Comparison
        In the order of :data:`KINDS`, then by step, observer and fold number.
    """
    have = set(sources)
    observers = sorted((s for s in have if parse_observer_source(s)), key=_observer_sort_key)
    folds = sorted((s for s in have if fold_number(s) is not None), key=lambda s: fold_number(s) or 0)
    dl = DL_SOURCE in have
    clinical = CLINICAL_SOURCE in have
    out: list[Comparison] = []

    def add(ref: str, test: str, kind: str) -> None:
        out.append(Comparison(structure, ref, test, kind, frame))

    if dl:
        for s in observers:
            add(DL_SOURCE, s, "dl_vs_observer")
    by_observer: dict[str, list[str]] = {}
    by_step: dict[int, list[str]] = {}
    for s in observers:
        step, obs = cast("tuple[int, str]", parse_observer_source(s))  # observers: sources that parse
        by_observer.setdefault(obs, []).append(s)
        by_step.setdefault(step, []).append(s)
    for obs in sorted(by_observer):
        for a, b in combinations(by_observer[obs], 2):  # already in step order
            add(a, b, "intra_observer")
    if arm_of is None:
        for step in sorted(by_step):
            for a, b in combinations(by_step[step], 2):  # already in observer order
                add(a, b, "inter_observer")
    else:
        for a, b in _arm_pairs(observers, arm_of):
            add(a, b, "inter_observer")
    if clinical and dl:
        add(CLINICAL_SOURCE, DL_SOURCE, "clinical_vs_dl")
    if clinical:
        for s in observers:
            add(CLINICAL_SOURCE, s, "clinical_vs_observer")
    if dl:
        for s in folds:
            add(DL_SOURCE, s, "fold_vs_ensemble")
    return out


def _arm_pairs(observers: Sequence[str], arm_of: Mapping[tuple[str, int], str]) -> list[tuple[str, str]]:
    """Observer sources pairwise within each arm: arms by name, the observer that sorts first the reference."""
    by_arm: dict[str, list[tuple[str, int, str]]] = {}
    for s in observers:
        step, obs = cast("tuple[int, str]", parse_observer_source(s))
        if (obs, step) in arm_of:
            by_arm.setdefault(arm_of[(obs, step)], []).append((obs, step, s))
    return [
        (a[2], b[2])
        for arm in sorted(by_arm)
        for a, b in combinations(sorted(by_arm[arm]), 2)
        if a[0] != b[0]  # one observer's two masks in one arm are not two observers
    ]


def plan_comparisons(
    available: Iterable[tuple[str, str]], frame: str = "MRI", arm_of: Mapping[tuple[str, int], str] | None = None
) -> list[Comparison]:
    """The comparison set of every structure among ``available`` (name, source) pairs.

    Structures are taken in name order; a structure with only a clinical mask gives nothing.

    Parameters
    ----------
    available : iterable of (str, str)
        (structure name, source) of every mask in the frame.
    frame : str
        Frame name stored in the comparisons.
    arm_of : mapping, optional
        ``(observer, step) -> arm``: inter-observer pairs within an arm (see :func:`plan_structure`).

    Returns
    -------
    list of Comparison
    """
    by_name: dict[str, set[str]] = {}
    for name, source in available:
        by_name.setdefault(name, set()).add(source)
    out: list[Comparison] = []
    for name in sorted(by_name):
        out.extend(plan_structure(name, by_name[name], frame, arm_of))
    return out


def patient_comparisons(
    patient: Patient, frame: str | None = None, arm_of: Mapping[tuple[str, int], str] | None = None
) -> list[Comparison]:
    """The comparison set of a patient in a frame (the reference frame by default).

    Parameters
    ----------
    patient : Patient
        An opened patient (headers are enough; nothing is loaded).
    frame : str, optional
        Frame name; DL masks and observer edits live in the MRI frame.
    arm_of : mapping, optional
        ``(observer, step) -> arm``: inter-observer pairs within an arm (see :func:`plan_structure`).

    Returns
    -------
    list of Comparison
    """
    fname = frame or patient.reference_frame.name
    refs = patient.structures(fname)
    out = plan_comparisons(((r.name, r.source) for r in refs), fname, arm_of)
    have = {(r.name, r.source) for r in refs}
    seen = {(c.structure, c.reference, c.test) for c in out}
    for r in sorted((r for r in refs if r.version is not None), key=lambda r: (r.name, r.source)):
        history = patient.versions(r.name, r.source, fname)
        start = history[0].started_from if history else None
        pairs = [(start, "start_vs_edit")]
        if parse_observer_source(r.source) is None:
            pairs += [(DL_SOURCE, "dl_vs_edit"), (CLINICAL_SOURCE, "clinical_vs_edit")]
        for ref_source, kind in pairs:
            if (
                ref_source
                and ref_source != r.source
                and (r.name, ref_source) in have
                and (r.name, ref_source, r.source) not in seen
            ):
                seen.add((r.name, ref_source, r.source))
                out.append(Comparison(r.name, ref_source, r.source, kind, fname))
    return out


def metrics_row(
    patient_id: str,
    comparison: Comparison,
    reference: MaskLike,
    test: MaskLike,
    spacing_zyx: Sequence[float],
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
) -> dict:
    """One metrics row: the identifying columns followed by :func:`pair_metrics`.

    Parameters
    ----------
    patient_id : str
        Patient column.
    comparison : Comparison
        The pair.
    reference, test : numpy.ndarray or Mask
        The two masks.
    spacing_zyx : sequence of float
        Voxel spacing in mm, array-axis order.
    tolerance_mm : float
        Surface Dice tolerance.

    Returns
    -------
    dict
        Keys :data:`METRICS_ROW_KEYS`.
    """
    return _row(patient_id, comparison, pair_metrics(reference, test, spacing_zyx, tolerance_mm=tolerance_mm))


def _row(patient_id: str, comparison: Comparison, values: dict) -> dict:
    row: dict = {
        "patient": patient_id,
        "structure": comparison.structure,
        **source_keys(comparison.test),
        "comparison": comparison.kind,
        "reference": comparison.reference,
        "test": comparison.test,
    }
    row.update(values)
    return row


def compare_patient(
    patient: Patient,
    comparisons: Sequence[Comparison] | None = None,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    mask_getter: MaskGetter | None = None,
    warnings: list[str] | None = None,
) -> list[dict]:
    """Metric rows of a patient's comparisons, computed in this process.

    The pairs of one structure share a :class:`~lundprobe_gui.metrics.group.MaskGroup`, so each
    mask's surface and distance maps are computed once however many pairs it is in; the numbers
    are those of ``pair_metrics`` on each pair. A pair whose mask cannot be loaded is skipped.

    Parameters
    ----------
    patient : Patient
        The patient.
    comparisons : sequence of Comparison, optional
        Defaults to :func:`patient_comparisons`.
    tolerance_mm : float
        Surface Dice tolerance.
    progress : callable, optional
        Called as ``progress(done, total)`` after each pair.
    should_stop : callable, optional
        Checked before each pair; once it returns True the remaining pairs are skipped and the
        rows done so far are returned.
    mask_getter : callable, optional
        ``mask_getter(name, source, frame)`` returning the mask to use, e.g. to include a working
        copy that is being edited; defaults to ``patient.mask_obj`` (which loads on first use and
        caches). It may raise KeyError or ValueError for a mask that cannot be had.
    warnings : list of str, optional
        Receives one message per mask that could not be had.

    Returns
    -------
    list of dict
        Rows (keys :data:`METRICS_ROW_KEYS`) in the order of ``comparisons``.
    """
    comps = list(patient_comparisons(patient) if comparisons is None else comparisons)
    get = mask_getter or patient.mask_obj
    total, done = len(comps), 0
    rows: dict[int, dict] = {}
    by_structure: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(comps):
        by_structure.setdefault((c.structure, c.frame), []).append(i)

    def stop() -> bool:
        return should_stop is not None and bool(should_stop())

    for (structure, frame), indices in by_structure.items():
        masks = {}
        for source in dict.fromkeys(s for i in indices for s in (comps[i].reference, comps[i].test)):
            if stop():  # decoding a mask takes a while: check between masks too
                return [rows[i] for i in sorted(rows)]
            try:
                mask = get(structure, source, frame)
                if mask is None:
                    raise KeyError("no mask")
                masks[source] = mask
            except (KeyError, ValueError) as e:
                msg = f"{patient.id}: {structure} ({source}) cannot be loaded: {e}"
                logger.warning("%s", msg)
                if warnings is not None:
                    warnings.append(msg)
        group = MaskGroup(masks, patient.frames[frame].geometry.spacing_zyx) if masks else None
        for i in indices:
            if stop():
                return [rows[i] for i in sorted(rows)]
            c = comps[i]
            if group is not None and c.reference in masks and c.test in masks:
                rows[i] = _row(patient.id, c, group.pair_metrics(c.reference, c.test, tolerance_mm))
            done += 1
            if progress is not None:
                progress(done, total)
    return [rows[i] for i in sorted(rows)]
