"""The seal of ``study.json``: its sha256, recorded in the audit log when the study is created.

Every session open, ``study status`` and ``study export`` compare the file with its seal, and a
changed definition is refused (:class:`DefinitionChanged`): un-blinding step 1 or shortening the
washout mid-study cannot go unnoticed. An administrator who changed it on purpose re-seals it
(``study reseal``), which the audit log records with the old and the new hash. A study created
before sealing existed is sealed, with an audit line, by its first administrator command.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..io.small_files import read_small_bytes
from .admin import AdminAuth, reason_text
from .audit import append_audit, read_audit
from .errors import CorruptStudyFile, DefinitionChanged, StudyError
from .files import study_file

logger = logging.getLogger(__name__)

SEAL_EVENTS = ("study_created", "definition_sealed", "definition_resealed", "observers_added")
SEAL_RETRIES = 3
SEAL_RETRY_S = 0.05
"""A definition that does not match its seal is read again this often, this far apart, before it is refused:
an administrator's change (``study add-observer``) renames the new ``study.json`` into place and then appends
its seal, and a session opening in between must not be refused for it."""


def definition_sha256(study_dir: str | Path) -> str:
    """sha256 of the bytes of ``study.json``."""
    path = study_file(Path(study_dir))
    try:
        return hashlib.sha256(read_small_bytes(path, what="study definition")).hexdigest()
    except OSError as e:
        raise CorruptStudyFile(f"{path}: cannot read the study definition ({e.strerror or e})") from e


@dataclass(frozen=True)
class SealState:
    """The definition's seal: ``sealed`` (a seal exists), the sealed and actual hashes, when it was sealed."""

    sealed: bool
    expected: str | None
    actual: str
    sealed_at: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the file is the sealed definition (an unsealed old study is ok until an admin seals it)."""
        return not self.sealed or self.expected == self.actual

    def message(self, study_dir: Path | str) -> str:
        """Why the definition is refused, with what to do."""
        return (
            f"{study_file(Path(study_dir))} was changed after it was sealed on {self.sealed_at} "
            f"(sha256 {self.actual[:12]}..., sealed {str(self.expected)[:12]}...); the study refuses a changed "
            "definition. If the change was intended, the administrator can re-seal it: "
            f"lundprobe-gui study reseal {study_dir} --admin --reason TEXT"
        )


def seal_state(study_dir: str | Path, audit: Iterable[dict] | None = None) -> SealState:
    """Compare ``study.json`` with its newest seal in the audit log."""
    entries = read_audit(study_dir) if audit is None else audit
    expected, at = None, None
    for e in entries:
        if e.get("event") in SEAL_EVENTS and e.get("definition_sha256"):
            expected, at = str(e["definition_sha256"]), e.get("logged_at") or e.get("time")
    return SealState(expected is not None, expected, definition_sha256(study_dir), at)


def check_definition(study_dir: str | Path, audit: Iterable[dict] | None = None) -> SealState:
    """The seal state, or :class:`DefinitionChanged` when ``study.json`` is not the sealed definition."""
    st = seal_state(study_dir, audit)
    for _ in range(SEAL_RETRIES):
        if st.ok:
            break
        time.sleep(SEAL_RETRY_S)
        st = seal_state(study_dir)
    if not st.ok:
        raise DefinitionChanged(st.message(study_dir))
    if not st.sealed:
        logger.warning("%s is not sealed yet (created before sealing); an admin command seals it", study_dir)
    return st


def seal_if_unsealed(study_dir: str | Path, admin: AdminAuth) -> bool:
    """Seal an old study's definition as it is now (the first administrator command does this); True if sealed now."""
    st = seal_state(study_dir)
    if st.sealed:
        return False
    append_audit(
        study_dir,
        "definition_sealed",
        definition_sha256=st.actual,
        by=admin.by,
        method=admin.method,
        reason="sealed by the first administrator command (the study predates sealing)",
    )
    logger.info("sealed the definition of %s", study_dir)
    return True


def reseal(study_dir: str | Path, admin: AdminAuth, reason: str = "") -> SealState:
    """Accept the current ``study.json`` as the definition (admin only; logged with both hashes)."""
    if not isinstance(admin, AdminAuth):
        raise StudyError("re-sealing the study definition needs the administrator")
    reason = reason_text(reason)
    st = seal_state(study_dir)
    append_audit(
        study_dir,
        "definition_resealed",
        definition_sha256=st.actual,
        previous_sha256=st.expected,
        by=admin.by,
        method=admin.method,
        reason=reason,
    )
    return seal_state(study_dir)
