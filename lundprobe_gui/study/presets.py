"""Default study settings: the published two-step protocol and the rating scales.

The published study (Rogowski et al. 2025) rated quality on a 4-point and confidence on a
5-point Likert scale; the paper's exact anchor wording is not reproduced here, so the labels
below are ours and can be edited in ``study.json`` before the study starts. The 5-point
AI-acceptability scale is quoted from the public AI-review dataset's table.
"""

from __future__ import annotations

import logging

from ..session.activetime import DEFAULT_IDLE_S, DEFAULT_TAIL_S
from .questions import Choice, Question

logger = logging.getLogger(__name__)

PRESETS = ("reader-study", "ai-acceptability")
DEFAULT_STRUCTURES = ("CTVT_427", "Rectum")
DEFAULT_OBSERVERS = ("obs1", "obs2", "obs3", "obs4")
"""Default study observers: never the published ``obsB``..``obsE``, whose edits the dataset ships
under the same file names (``mask_<S>_step<k>_obsB.nii.gz``)."""
PUBLISHED_OBSERVERS = ("obsB", "obsC", "obsD", "obsE")
DEFAULT_START_SOURCE = "nnUNet"
DEFAULT_WASHOUT_DAYS = 28.0
DEFAULT_IDLE_TIMEOUT_S = DEFAULT_IDLE_S
DEFAULT_IDLE_TAIL_S = DEFAULT_TAIL_S
UNCERTAINTY_RANGE = (0.0, 0.5)
"""The fixed colour scale of the published study, so a colour means the same in every patient."""

PUBLISHED_UNCERTAINTY_COLOURS = "rainbow"
"""The uncertainty map's colours in the published study (the dataset's rainbow), used while the dose is hidden."""
DISTINCT_UNCERTAINTY_COLOURS = "magenta"
"""The uncertainty map's colours in a step that shows the dose: one hue family the dose wash never uses."""
UNCERTAINTY_COLOURS = (PUBLISHED_UNCERTAINTY_COLOURS, DISTINCT_UNCERTAINTY_COLOURS)

HIDE_CATEGORIES = ("clinical", "dl", "folds", "other_observers", "other_steps", "dose")
"""What a step can hide: clinical masks, the DL ensemble (when it is not the starting mask), the
10 folds, other observers' edits (including the published ones), this observer's other steps, and
the dose (its wash and isodose lines; on real plans the 95 % isodose outlines the clinical target)."""
DEFAULT_HIDDEN = ("clinical", "folds", "other_observers", "other_steps", "dose")

QUALITY_4 = (
    Choice(1, "Poor: not usable, must be redone"),
    Choice(2, "Fair: major edits needed"),
    Choice(3, "Good: minor edits needed"),
    Choice(4, "Excellent: clinically acceptable as is"),
)
CONFIDENCE_5 = (
    Choice(1, "Not confident at all"),
    Choice(2, "Slightly confident"),
    Choice(3, "Moderately confident"),
    Choice(4, "Very confident"),
    Choice(5, "Completely confident"),
)
AI_ACCEPTABILITY_5 = (
    Choice(1, "Strongly disagree: unusable"),
    Choice(2, "Disagree: major edits needed; I would rather start from scratch"),
    Choice(3, "Neither: minor edits that are necessary, quicker than starting over"),
    Choice(4, "Agree: minor edits that are not necessary; stylistic, not clinically important"),
    Choice(5, "Strongly agree: use as is, clinically acceptable without change"),
)


def preset_questions(preset: str) -> tuple[Question, ...]:
    """The rating questions of a preset.

    ``reader-study``: quality (4-point), confidence (5-point), comment. ``ai-acceptability``: the
    quality question uses the 5-point AI-acceptability scale instead; confidence and comment stay.
    """
    confidence = Question(
        "confidence",
        "likert",
        "How confident are you in the DL segmentation of this structure?",
        True,
        CONFIDENCE_5,
        "confidence_5",
    )
    comment = Question("comment", "text", "Comments (optional)", False, scale="free_text")
    if preset == "reader-study":
        quality = Question(
            "quality",
            "likert",
            "How good is the starting segmentation of this structure?",
            True,
            QUALITY_4,
            "quality_4",
        )
    elif preset == "ai-acceptability":
        quality = Question(
            "quality",
            "likert",
            "The AI segmentation of this structure is clinically acceptable.",
            True,
            AI_ACCEPTABILITY_5,
            "ai_acceptability_5",
        )
    else:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return (quality, confidence, comment)
