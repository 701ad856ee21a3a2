"""The reader-study protocol, without Qt: definition, blinding, randomisation, sessions and results.

Public API (see ``docs/study.md``)::

    from lundprobe_gui.study import InitOptions, init_study, ObserverSession, export_study, study_status

    init_study("study", InitOptions(dataset_root="ds", observers=["obs1", "obs2"], seed=7))
    with ObserverSession("study", "obs1") as s:
        ...
    export_study("study")
"""

from __future__ import annotations

from .admin import AdminAuth, authorise_admin, break_session_lock
from .audit import append_audit, read_audit
from .chain import accept_session_file, check_session_chain
from .clock import iso_utc, parse_iso, to_epoch
from .create import InitOptions, init_study
from .definition import StepRules, StudyDefinition, default_steps, load_study
from .errors import (
    AdminRequired,
    CaseLocked,
    ClockRefused,
    CorruptStudyFile,
    DefinitionChanged,
    NoCurrentCase,
    RatingFrozen,
    RatingsIncomplete,
    SessionLocked,
    StepLocked,
    StudyError,
)
from .export import ExportReport, export_study
from .integrity import IntegrityReport, check_study
from .observers import ObserversAdded, add_observers
from .outputs import edit_counts
from .presets import AI_ACCEPTABILITY_5, CONFIDENCE_5, PRESETS, QUALITY_4, preset_questions
from .questions import Choice, Question, load_questions_file
from .randomise import RECIPE, CaseSlot, case_order, case_plan, pseudonym
from .results import RESULT_COLUMNS, result_columns, write_results
from .seal import SealState, check_definition, definition_sha256, reseal, seal_state
from .session import ObserverSession
from .session_work import check_patient_files
from .status import StepSummary, format_status, study_report, study_status
from .timing import ActiveTimeRow, recompute_active_time
from .views import ACTIVE, COMPLETE, WAITING, CaseView, Progress, SavedEdit
from .visibility import Visibility, hide_published_own_edits, source_category

__all__ = [
    "ACTIVE",
    "AI_ACCEPTABILITY_5",
    "COMPLETE",
    "CONFIDENCE_5",
    "PRESETS",
    "QUALITY_4",
    "RECIPE",
    "RESULT_COLUMNS",
    "WAITING",
    "ActiveTimeRow",
    "AdminAuth",
    "AdminRequired",
    "CaseLocked",
    "CaseSlot",
    "CaseView",
    "Choice",
    "ClockRefused",
    "CorruptStudyFile",
    "DefinitionChanged",
    "ExportReport",
    "InitOptions",
    "IntegrityReport",
    "NoCurrentCase",
    "ObserverSession",
    "ObserversAdded",
    "Progress",
    "Question",
    "RatingFrozen",
    "RatingsIncomplete",
    "SavedEdit",
    "SealState",
    "SessionLocked",
    "StepLocked",
    "StepRules",
    "StepSummary",
    "StudyDefinition",
    "StudyError",
    "Visibility",
    "accept_session_file",
    "add_observers",
    "append_audit",
    "authorise_admin",
    "break_session_lock",
    "case_order",
    "case_plan",
    "check_definition",
    "check_patient_files",
    "check_session_chain",
    "check_study",
    "default_steps",
    "definition_sha256",
    "edit_counts",
    "export_study",
    "format_status",
    "hide_published_own_edits",
    "init_study",
    "iso_utc",
    "load_questions_file",
    "load_study",
    "parse_iso",
    "preset_questions",
    "pseudonym",
    "read_audit",
    "recompute_active_time",
    "reseal",
    "result_columns",
    "seal_state",
    "source_category",
    "study_report",
    "study_status",
    "to_epoch",
    "write_results",
]
