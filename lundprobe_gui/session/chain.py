"""A hash chain of a session's saved states, kept in an append-only log beside it.

Before each save of a state file, one link is appended to the log: the revision, the sha256 of
the bytes about to be written and the sha256 of the previous save. When the session opens again
(and when the results are exported), the file must be the last linked state: a file edited
outside the app (a rating changed, a finished case set back, a completion back-dated) no longer
matches. A save that was linked but never reached the disk (a crash, a full disk) is allowed for:
its successor links to the state before it, and the file may still hold that older state.

The chain detects casual or accidental edits. Anyone who can write the log as well as the state
can recompute it; that is out of scope (see docs/study.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Link:
    """One saved state: its revision, sha256, and the sha256 of the save before it (None for the first)."""

    revision: int
    sha256: str
    prev: str | None


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of :func:`verify_chain`: ``ok``, a ``reason`` when not, and how many links were read."""

    ok: bool
    reason: str = ""
    links: int = 0
    started: bool = True
    """False when the log holds no link yet (a state saved before chaining existed)."""


def verify_chain(links: Iterable[Link], file_sha256: str | None) -> ChainCheck:
    """Check that the links form one chain and that the file holds its newest state.

    Parameters
    ----------
    links : iterable of Link
        The links in log order.
    file_sha256 : str or None
        sha256 of the state file now (None when there is no file).
    """
    confirmed: str | None = None
    pending: Link | None = None
    n = 0
    for link in links:
        n += 1
        if pending is None:
            pending = link
            continue
        if link.prev == pending.sha256:
            confirmed, pending = pending.sha256, link
        elif link.prev == confirmed:
            logger.info(
                "revision %d was linked but never written; the chain goes on from the state before it", link.revision
            )
            pending = link
        else:
            return ChainCheck(
                False,
                f"the saved states are not one chain at revision {link.revision} "
                "(a state was written that the log never linked)",
                n,
            )
    if pending is None:
        return ChainCheck(True, "", 0, started=False)
    if file_sha256 == pending.sha256 or (file_sha256 is not None and file_sha256 == confirmed):
        return ChainCheck(True, "", n)
    return ChainCheck(
        False,
        f"the file is not the state the app saved last (revision {pending.revision}); it was changed outside the app",
        n,
    )
