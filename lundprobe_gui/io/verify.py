"""Checking saved edits against their provenance: ``lundprobe-gui verify`` and the check on reopening.

Every version's bytes are hashed (sha256) and compared with the ``file_sha256`` its sidecar
recorded when it was saved; a plain copy must hold the bytes of one of its series' versions (the
newest, else it is stale); an export folder's files must hold what its manifest recorded.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..core.patient import Problem
from .versions import VERSION_RE, data_ext, read_json_object, recorded_sha256s, version_name

logger = logging.getLogger(__name__)

EXPORT_MANIFEST = ".lundprobe-export.json"

SEVERE = ("tampered", "no-provenance", "bad-sidecar", "plain-mismatch", "export-changed")
"""Findings that mean a file is not what the app wrote (``verify`` exits with 1)."""


class TamperedFile(ValueError):
    """A saved edit whose bytes are not those its provenance recorded."""

    problem_kind = "tampered"


@dataclass
class VerifyReport:
    """What :func:`verify_folder` checked and found."""

    root: Path
    versions: int = 0
    series: int = 0
    plain_copies: int = 0
    exported: int = 0
    findings: list[Problem] = field(default_factory=list)  # one per file found wrong, ``kind`` as in SEVERE

    @property
    def ok(self) -> bool:
        """Whether nothing severe was found."""
        return not any(f.kind in SEVERE for f in self.findings)

    def counts(self) -> dict[str, int]:
        """Findings per kind."""
        return dict(Counter(f.kind for f in self.findings))

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "root": str(self.root),
            "ok": self.ok,
            "versions": self.versions,
            "series": self.series,
            "plain_copies": self.plain_copies,
            "exported_files": self.exported,
            "findings": [f.to_dict() for f in self.findings],
        }


def file_sha256(path: Path) -> str:
    """sha256 of a regular file's bytes, read in 1 MB blocks (a FIFO, device or link is an ``OSError``)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        h = hashlib.sha256()
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def verify_folder(root: str | Path) -> VerifyReport:
    """Re-hash every version under ``root`` against its sidecar; check plain copies and export manifests.

    Symbolic links are not followed. Raises ``NotADirectoryError`` when ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    rep = VerifyReport(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = Path(dirpath)
        if EXPORT_MANIFEST in filenames:
            _verify_export(folder, rep)
        stems: dict[str, dict[int, set[str]]] = {}
        for name in filenames:
            m = VERSION_RE.match(name)
            if m:
                stems.setdefault(m["stem"], {}).setdefault(int(m["n"]), set()).add(m["ext"])
            elif name.endswith(".orphan"):
                rep.findings.append(
                    Problem(
                        str(folder / name), "orphan-moved-aside", "a version without provenance, moved aside by a save"
                    )
                )
        for stem, versions in sorted(stems.items()):
            _verify_series(folder, stem, versions, rep)
    return rep


def _verify_series(folder: Path, stem: str, versions: dict[int, set[str]], rep: VerifyReport) -> None:
    rep.series += 1
    good: dict[int, str] = {}
    for n in sorted(versions):
        exts = versions[n]
        ext = data_ext(exts)
        vpath, spath = folder / version_name(stem, n, ext or "nii.gz"), folder / version_name(stem, n, "json")
        if ext is None:
            rep.findings.append(Problem(str(spath), "orphan-sidecar", "a sidecar whose version was never written"))
            continue
        rep.versions += 1
        if "json" not in exts:
            rep.findings.append(Problem(str(vpath), "no-provenance", "a version without its sidecar"))
            continue
        side = read_json_object(spath)
        if side is None or not isinstance(side.get("file_sha256"), str):
            rep.findings.append(Problem(str(spath), "bad-sidecar", "the sidecar cannot be read or records no sha256"))
            continue
        try:
            digest = file_sha256(vpath)
        except OSError as e:
            rep.findings.append(Problem(str(vpath), "unreadable", f"cannot be read ({e.strerror or e})"))
            continue
        if digest != side["file_sha256"]:
            rep.findings.append(
                Problem(
                    str(vpath),
                    "tampered",
                    f"sha256 {digest[:16]}... differs from the sidecar's {side['file_sha256'][:16]}...: "
                    "the file changed after it was saved",
                )
            )
            continue
        if side.get("file") not in (None, vpath.name) or side.get("version") not in (None, n):
            rep.findings.append(
                Problem(str(spath), "bad-sidecar", f"the sidecar describes {side.get('file')!r}, not {vpath.name}")
            )
            continue
        good[n] = digest
        parent = side.get("parent")
        if parent and Path(str(parent)).name != str(parent):
            parent = None  # a path, not a name in this folder (an explicit provenance value)
        if parent and VERSION_RE.match(str(parent)) and not (folder / str(parent)).is_file():
            rep.findings.append(Problem(str(spath), "parent-missing", f"its parent {parent} is not there"))
    plain = folder / f"{stem}.nii.gz"
    if not plain.is_file() or plain.is_symlink():
        return
    rep.plain_copies += 1
    try:
        digest = file_sha256(plain)
    except OSError as e:
        rep.findings.append(Problem(str(plain), "unreadable", f"cannot be read ({e.strerror or e})"))
        return
    if good and digest == good[max(good)]:
        return
    older = [n for n, d in good.items() if d == digest]
    if older:
        rep.findings.append(
            Problem(str(plain), "stale-plain", f"holds v{max(older):03d}, but the newest version is v{max(good):03d}")
        )
    elif good:
        rep.findings.append(Problem(str(plain), "plain-mismatch", "matches none of its series' versions (sha256)"))


def _verify_export(folder: Path, rep: VerifyReport) -> None:
    manifest = read_json_object(folder / EXPORT_MANIFEST)
    files = manifest.get("files") if manifest else None
    if not isinstance(files, dict):
        rep.findings.append(Problem(str(folder / EXPORT_MANIFEST), "bad-sidecar", "the export manifest cannot be read"))
        return
    for rel, shas in sorted(files.items()):
        path = folder / rel
        if not path.is_file() or path.is_symlink():
            continue
        rep.exported += 1
        try:
            digest = file_sha256(path)
        except OSError:
            digest = None
        if digest not in (shas if isinstance(shas, list) else []):
            rep.findings.append(Problem(str(path), "export-changed", "changed since the export wrote it (sha256)"))


def check_saved(path: str | Path) -> None:
    """On reopening a saved edit: refuse one whose bytes are not what its provenance recorded.

    A version is compared with its sidecar's ``file_sha256``; a plain copy with the versions of its
    series. A file without provenance beside it (a dataset's own file) is not checked.

    Raises
    ------
    TamperedFile
        Naming the file and saying what differs.
    """
    path = Path(path)
    m = VERSION_RE.match(path.name)
    if m and m["ext"] != "json":
        side = read_json_object(path.with_name(version_name(m["stem"], int(m["n"]), "json")))
        expected = {side["file_sha256"]} if side and isinstance(side.get("file_sha256"), str) else set()
    elif path.name.endswith(".nii.gz"):
        expected = recorded_sha256s(path.parent, path.name[: -len(".nii.gz")])
    else:
        return
    if not expected:
        return
    try:
        digest = file_sha256(path)
    except OSError:
        return  # the reader says why
    if digest not in expected:
        raise TamperedFile(
            f"{path.name} does not match the sha256 its provenance recorded (it changed after it was saved); "
            f"not shown. Run 'lundprobe-gui verify {path.parent}'"
        )
