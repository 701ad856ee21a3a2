"""Blinding: which layers an observer may see in a step, as plain data the UI applies.

Every source is put in one category. The starting mask (``nnUNet`` by default) and the
observer's own work of the current step (``step<k>_<obs>``) are always allowed; the step's
``hidden`` categories are refused; a source of no known kind is refused too, so a new kind of
layer is hidden until the rules say otherwise. Two categories are not masks: ``dose`` (the dose
wash and isodose lines, hidden in both steps by default) and the uncertainty map, which a step
shows or not (``show_uncertainty``), in the colours the step records.

The observer's own work is read from the study's output folder. The dataset can hold published
edits under the very same source name (``step1_obsB``); a path check in :meth:`Visibility.can_open`
keeps those out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .definition import StepRules

logger = logging.getLogger(__name__)

_FOLD = re.compile(r"^nnUNet_fold_\d+$")
_STEP = re.compile(r"^step(?P<k>\d+)_(?P<obs>.+)$")


def is_fold_source(source: str) -> bool:
    """Whether a source is one of the DL model's cross-validation folds (``nnUNet_fold_<k>``)."""
    return bool(_FOLD.match(source))


def source_category(source: str, observer: str, step: int, start_source: str) -> str:
    """Category of a source for an observer in a step.

    Returns one of ``start``, ``own``, ``clinical``, ``dl``, ``folds``, ``other_steps``,
    ``other_observers``, ``unknown``.
    """
    if source == start_source:
        return "start"
    m = _STEP.match(source)
    if m:
        if m["obs"] != observer:
            return "other_observers"
        return "own" if int(m["k"]) == step else "other_steps"
    if source == "clinical":
        return "clinical"
    if source == "nnUNet":
        return "dl"
    if is_fold_source(source):
        return "folds"
    return "unknown"


@dataclass(frozen=True)
class Visibility:
    """The blinding rules of one observer in one step.

    Apply with ``state.hidden_sources = vis.hidden_sources(patient.sources())``,
    ``state.uncertainty_allowed = vis.uncertainty_allowed`` and ``state.dose_allowed =
    vis.dose_allowed`` (or :meth:`apply`), and call :meth:`can_open` before opening any layer.
    """

    step: int
    observer: str
    start_source: str
    target_source: str
    hidden_categories: frozenset[str]
    uncertainty_allowed: bool
    uncertainty_scale: str
    uncertainty_range: tuple[float, float]
    output_root: Path | None = None
    uncertainty_colours: str = "rainbow"
    tools: tuple[str, ...] | None = None

    @classmethod
    def for_step(
        cls, rules: StepRules, observer: str, start_source: str, output_root: Path | None = None
    ) -> Visibility:
        """Build from a step's rules."""
        return cls(
            rules.step,
            observer,
            start_source,
            f"step{rules.step}_{observer}",
            frozenset(rules.hidden),
            rules.show_uncertainty,
            rules.uncertainty_scale,
            (rules.uncertainty_range[0], rules.uncertainty_range[1]),
            Path(output_root).resolve() if output_root is not None else None,
            str(rules.uncertainty_colours),
            rules.tools,
        )

    @property
    def dose_allowed(self) -> bool:
        """Whether the dose (wash, isodose lines, values) may be loaded and shown."""
        return "dose" not in self.hidden_categories

    def category(self, source: str) -> str:
        """See :func:`source_category`."""
        return source_category(source, self.observer, self.step, self.start_source)

    def can_open(self, source: str, path: str | Path | None = None) -> bool:
        """Whether a layer of ``source`` may be opened or shown.

        Parameters
        ----------
        source : str
            The layer's source (``clinical``, ``nnUNet``, ``nnUNet_fold_3``, ``step1_obsB``...).
        path : path, optional
            The layer's file. For the observer's own source it must lie inside the study's output
            folder: a file of that name in the dataset is a published edit and stays hidden.
        """
        cat = self.category(source)
        if cat == "start":
            return True
        if cat == "own":
            if path is None or self.output_root is None:
                return True
            return _inside(Path(path), self.output_root)
        if cat == "unknown":
            return False
        return cat not in self.hidden_categories

    def hidden_sources(self, sources: Iterable[str]) -> set[str]:
        """The sources among ``sources`` that must be hidden (for ``ViewerState.hidden_sources``)."""
        return {s for s in sources if not self.can_open(s)}

    def apply(self, state: Any, sources: Iterable[str]) -> None:
        """Set ``state.hidden_sources`` and ``state.uncertainty_allowed`` on a ``ViewerState``-like object.

        The own source stays visible in the viewer because the UI shows its working copy (read
        through the session), never the dataset file of the same name.
        """
        state.hidden_sources = self.hidden_sources(sources)
        state.uncertainty_allowed = self.uncertainty_allowed
        state.dose_allowed = self.dose_allowed
        if not self.dose_allowed:
            state.dose.wash = state.dose.lines = False

    def to_dict(self) -> dict:
        """JSON-ready form (for logs and the UI's status line)."""
        return {
            "step": self.step,
            "observer": self.observer,
            "start_source": self.start_source,
            "target_source": self.target_source,
            "hidden": sorted(self.hidden_categories),
            "uncertainty_allowed": self.uncertainty_allowed,
            "uncertainty_scale": self.uncertainty_scale,
            "uncertainty_range": list(self.uncertainty_range),
            "uncertainty_colours": self.uncertainty_colours,
            "dose_allowed": self.dose_allowed,
            "tools": None if self.tools is None else list(self.tools),
        }


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def hide_published_own_edits(patient: Any, observer: str, frame: str, output_root: Path) -> list[tuple[str, str]]:
    """Take the dataset's edits named like this observer's own work (``step<k>_<observer>``) out of a patient model.

    A study observer may share an ID with a published observer (``obsB``); the published files are
    not this observer's work, and the model must not offer them under the observer's own name.
    Returns the (structure, source) keys removed.
    """
    fr = patient.frames.get(frame)
    if fr is None:
        return []
    out = Path(output_root).resolve()
    mine = re.compile(rf"^step\d+_{re.escape(observer)}$")
    removed = []
    for key, ref in list(fr.structures.items()):
        if mine.match(ref.source) and out not in Path(ref.path).resolve().parents:
            logger.info("hiding the dataset's %s %s: a published edit, not this study's", *key)
            del fr.structures[key]
            removed.append(key)
    return removed
