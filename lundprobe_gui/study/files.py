"""Where a study keeps its files, relative to the study folder.

```
<study>/study.json                 the definition (written by ``study init``; ``study add-observer`` rewrites it)
<study>/study.lock                 present while an administrator command rewrites study.json
<study>/sessions/<observer>.json   an observer's progress (atomically rewritten after every change)
<study>/sessions/<observer>.lock   present while a session of that observer is open
<study>/sessions/<observer>.events.jsonl   the observer's interaction log (appended)
<study>/audit.log                  append-only JSON lines: the seal, admin actions, finished cases, save links
<study>/output/<patient>/MR_StorT2/observerData/mask_<S>_step<k>_<obs>[_v<NNN>].nii.gz (+ .json)
<study>/results.csv                written by ``study export``
<study>/export/<patient>/MR_StorT2/observerData/mask_<S>_step<k>_<obs>.nii.gz
```
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..io.small_files import SmallFileError, parse_json, read_small_bytes
from .errors import CorruptStudyFile

logger = logging.getLogger(__name__)

STUDY_FILE = "study.json"
DEFINITION_LOCK = "study.lock"
SESSIONS_DIR = "sessions"
OUTPUT_DIR = "output"
EXPORT_DIR = "export"
AUDIT_FILE = "audit.log"
RESULTS_FILE = "results.csv"


def study_file(study_dir: Path) -> Path:
    """``<study>/study.json``."""
    return Path(study_dir) / STUDY_FILE


def definition_lock_file(study_dir: Path) -> Path:
    """``<study>/study.lock``: held while an administrator command rewrites ``study.json``."""
    return Path(study_dir) / DEFINITION_LOCK


def sessions_dir(study_dir: Path) -> Path:
    """``<study>/sessions``."""
    return Path(study_dir) / SESSIONS_DIR


def session_file(study_dir: Path, observer: str) -> Path:
    """``<study>/sessions/<observer>.json`` (the observer ID must already be validated)."""
    return sessions_dir(study_dir) / f"{observer}.json"


def events_file(study_dir: Path, observer: str) -> Path:
    """``<study>/sessions/<observer>.events.jsonl``: the observer's interaction log."""
    return sessions_dir(study_dir) / f"{observer}.events.jsonl"


def lock_file(study_dir: Path, observer: str) -> Path:
    """``<study>/sessions/<observer>.lock``."""
    return sessions_dir(study_dir) / f"{observer}.lock"


def output_root(study_dir: Path) -> Path:
    """``<study>/output``: the ``out_dir`` given to ``Patient.save_mask``."""
    return Path(study_dir) / OUTPUT_DIR


def audit_file(study_dir: Path) -> Path:
    """``<study>/audit.log``."""
    return Path(study_dir) / AUDIT_FILE


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, turning every failure into :class:`CorruptStudyFile` with a clear message."""
    return read_json_bytes(path, what)[1]


def read_json_bytes(path: Path, what: str) -> tuple[bytes, Any]:
    """(bytes, parsed JSON) of a file, every failure a :class:`CorruptStudyFile` with a clear message."""
    try:
        raw = read_small_bytes(path, what=what)
    except FileNotFoundError:
        raise CorruptStudyFile(f"{path}: {what} not found") from None
    except SmallFileError as e:
        raise CorruptStudyFile(str(e)) from e
    except OSError as e:
        raise CorruptStudyFile(f"{path}: cannot read the {what} ({e.strerror or e})") from e
    try:
        return raw, parse_json(raw)
    except UnicodeDecodeError as e:
        raise CorruptStudyFile(f"{path}: the {what} is not UTF-8 text ({e}); it was left untouched") from e
    except json.JSONDecodeError as e:
        raise CorruptStudyFile(
            f"{path}: the {what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
            "it was left untouched: restore it from a backup"
        ) from e
    except ValueError as e:
        raise CorruptStudyFile(f"{path}: the {what} is not usable JSON ({e}); it was left untouched") from e
