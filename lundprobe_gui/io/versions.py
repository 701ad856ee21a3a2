"""Immutable versions: naming, provenance sidecars, publishing, the plain copy, orphans.

A series is one structure (or one label map) saved again and again into one folder::

    <stem>_v001.nii.gz   <stem>_v001.json     the versions, never replaced, each with its sidecar
    <stem>.nii.gz                             the plain copy: always the newest version's bytes
    .<stem>.series.json                       who owns the stem (structure + source, or the label map)

Rules that keep a version name to one series:

* a structure name or source ending in ``_v<digits>`` is refused, so no plain copy is ever named
  like a version;
* ``mask_A_B_C`` is the stem of both ``A_B`` + ``C`` and ``A`` + ``B_C``: the first series to save
  claims the stem in its ``.series.json`` (created atomically), and the other is refused;
* the plain copy is written only under a name that is not a version name.

A version is published sidecar first: the sidecar is built (and checked to serialise) before
anything is written, then claimed under its final name, then the version is linked beside it. A
kill between the two leaves a sidecar without data (swept after :data:`~.writer.STALE_PART_S`),
never data without provenance. After writing the plain copy each saver looks again: if a newer
version appeared meanwhile (another process), that one is copied, so concurrent savers always
leave the newest version in the plain copy.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.names import InvalidName, folds_case_key
from ..version import __version__
from .guard import Protected, check_target, remove_file
from .small_files import SAVED_MASK_MAX_BYTES, read_json_file, read_small_bytes
from .writer import STALE_PART_S, atomic_write, fsync_dir

logger = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^(?P<stem>.+)_v(?P<n>\d{3,})\.(?P<ext>nii\.gz|dcm|json)$")
DATA_EXTS = ("nii.gz", "dcm")
"""Version files: NIfTI masks and label maps, DICOM-SEG segmentations."""
_ENDS_LIKE_VERSION = re.compile(r"(?:^|_)v\d+$", re.IGNORECASE)
SERIES_SUFFIX = ".series.json"
MAX_SIDECAR_BYTES = 1 << 20

COMPUTED_FIELDS = frozenset(
    {
        "app",
        "app_version",
        "dtype",
        "edited_from",
        "edited_labels",
        "file",
        "file_sha256",
        "frame",
        "kind",
        "label_stats",
        "labels",
        "overwrite_other_labels",
        "patient",
        "reference_image",
        "source",
        "structure",
        "time",
        "version",
        "voxel_sha256",
        "voxels",
    }
)
"""Sidecar fields the app computes: provenance given by a caller may not set them."""


class VersionError(ValueError):
    """A save that would make a version name ambiguous, or provenance that cannot be stored."""


def check_series_name(value: str, what: str) -> str:
    """Refuse a structure name or source that ends like a version number (``_v001``, ``v2``)."""
    if _ENDS_LIKE_VERSION.search(value):
        raise InvalidName(
            f"{what} {value!r} ends like a version number (_v<digits>); the saved file would be named "
            "like a version of another series. Choose another name"
        )
    return value


def version_name(stem: str, n: int, ext: str = "nii.gz") -> str:
    """``<stem>_v<NNN>.<ext>``."""
    return f"{stem}_v{n:03d}.{ext}"


def is_complete(exts: set[str]) -> bool:
    """Whether a version number has both its data file and its sidecar."""
    return "json" in exts and any(e in exts for e in DATA_EXTS)


def data_ext(exts: set[str]) -> str | None:
    """The data file's ending among a version number's files."""
    return next((e for e in DATA_EXTS if e in exts), None)


def series_file(folder: Path, stem: str) -> Path:
    """The ``.<stem>.series.json`` that records who owns a stem."""
    return Path(folder) / f".{stem}{SERIES_SUFFIX}"


def read_json_object(path: Path, limit: int = MAX_SIDECAR_BYTES) -> dict | None:
    """A small JSON object file (a regular file under ``limit`` bytes), or None for anything else."""
    try:
        d = read_json_file(path, limit, "sidecar")
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def claim_series(folder: Path, stem: str, owner: dict[str, Any]) -> None:
    """Make ``owner`` the owner of ``stem`` in ``folder``, or refuse when another series has it.

    The owner file is created atomically, so of two savers racing for a stem one wins. A folder
    from before owner files is read from its newest sidecar.

    Raises
    ------
    VersionError
        When the stem belongs to another series (``A_B`` + ``C`` against ``A`` + ``B_C``).
    """
    path = series_file(folder, stem)
    current = read_json_object(path)
    if current is None:
        current = _owner_from_sidecars(folder, stem) or owner
        data = (json.dumps({"stem": stem, "owner": current}, indent=2) + "\n").encode()
        with contextlib.suppress(FileExistsError):  # another saver won: read what it wrote
            atomic_write(path, data, overwrite=False)
        got = read_json_object(path)
        current = got["owner"] if got and isinstance(got.get("owner"), dict) else current
    else:
        current = current.get("owner") if isinstance(current.get("owner"), dict) else {}
    if current != owner:
        raise VersionError(
            f"{folder / stem}: this file name already belongs to {_describe(current)}; {_describe(owner)} "
            "cannot share it. Rename the structure (or the source)"
        )


def refuse_case_twin(folder: Path, plain_name: str, what: str) -> None:
    """Refuse to save ``plain_name`` in a folder of a case-insensitive file system that already holds it in
    another case (``mask_rectum_x`` beside ``mask_Rectum_x``): the two series would overwrite each other.

    Raises
    ------
    InvalidName
        Naming the file already there.
    """
    key = folds_case_key(plain_name)
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    twins = [e for e in entries if e != plain_name and folds_case_key(e) == key]
    # The file system folds case when the name we want "exists" although only its twin is listed.
    if twins and plain_name not in entries and os.path.lexists(Path(folder) / plain_name):
        raise InvalidName(
            f"{what} cannot be saved in {folder}: this file system does not tell upper from lower case, and "
            f"{twins[0]} is already there; names that differ only in case would overwrite each other"
        )


def _describe(owner: dict | None) -> str:
    owner = owner or {}
    if "label_map" in owner:
        return f"the label map {owner['label_map']!r}"
    if "segmentation" in owner:
        return f"the segmentation {owner['segmentation']!r}"
    return f"structure {owner.get('structure')!r} of source {owner.get('source')!r}"


def _owner_from_sidecars(folder: Path, stem: str) -> dict | None:
    versions = series_versions(folder, stem)
    for n in sorted(versions, reverse=True):
        d = read_json_object(Path(folder) / version_name(stem, n, "json"))
        if d is None:
            continue
        if d.get("kind") == "label-map":
            return {"label_map": stem}
        if "structure" in d and "source" in d:
            return {"structure": d["structure"], "source": d["source"]}
    return None


def series_versions(folder: Path, stem: str) -> dict[int, set[str]]:
    """Version number -> which of ``nii.gz`` / ``dcm`` / ``json`` exist, for one stem."""
    out: dict[int, set[str]] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return out
    for name in names:
        m = VERSION_RE.match(name)
        if m and m["stem"] == stem:
            out.setdefault(int(m["n"]), set()).add(m["ext"])
    return out


def next_version(folder: Path, stem: str) -> int:
    """1 + the highest version number of ``stem`` taken by a version or a sidecar."""
    return max(series_versions(folder, stem), default=0) + 1


def newest_version(folder: Path, stem: str, below: int | None = None) -> int | None:
    """The highest complete version (data and sidecar) of ``stem``, optionally below a number."""
    done = [n for n, ext in series_versions(folder, stem).items() if is_complete(ext)]
    if below is not None:
        done = [n for n in done if n < below]
    return max(done, default=None)


IN_FLIGHT_S = 2.0
"""How long a sidecar without its version counts as a save in progress (its version follows within
microseconds) rather than the remains of a killed one."""


def settled_parent(folder: Path, stem: str, n: int) -> int | None:
    """The version before ``n``: the highest complete one, after waiting (up to :data:`IN_FLIGHT_S`)
    for a version that another process is publishing at this moment."""
    deadline = time.monotonic() + IN_FLIGHT_S
    while True:
        versions = series_versions(folder, stem)
        for m in sorted((m for m in versions if m < n), reverse=True):
            if is_complete(versions[m]):
                return m
            if versions[m] == {"json"} and _young(Path(folder) / version_name(stem, m, "json")):
                break  # in flight: wait for its version
        else:
            return None
        if time.monotonic() > deadline:
            return newest_version(folder, stem, below=n)
        time.sleep(0.005)


def _young(path: Path) -> bool:
    try:
        return time.time() - os.lstat(path).st_mtime < IN_FLIGHT_S
    except OSError:
        return False


# -- sidecars -----------------------------------------------------------------------------------------------
def build_sidecar(computed: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
    """One sidecar from the app's computed fields and a caller's provenance.

    ``parent``, ``tool``, ``user`` and ``stats`` and any other key may come from the caller, but
    not one of :data:`COMPUTED_FIELDS`; every value must serialise as JSON (no NaN).

    Raises
    ------
    VersionError
        Naming the keys that would overwrite computed fields, or the value that cannot be stored.
    """
    clash = sorted(set(provenance) & (COMPUTED_FIELDS | set(computed)) - {"parent", "tool", "user", "stats"})
    if clash:
        raise VersionError(f"provenance may not set the computed sidecar field(s) {', '.join(clash)}")
    side = dict(computed)
    side.setdefault("parent", None)
    side["tool"] = provenance.get("tool")
    side["user"] = provenance.get("user") or user_name()
    side["app"] = "lundprobe_gui"
    side["app_version"] = __version__
    side["stats"] = provenance.get("stats")
    for k, v in provenance.items():
        if k not in ("parent", "tool", "user", "stats"):
            side[k] = v
    for k, v in side.items():
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise VersionError(f"provenance field {k!r} cannot be stored in the sidecar ({e})") from e
    return side


def user_name() -> str:
    """The login name recorded in sidecars ("unknown" where there is none)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# -- publishing --------------------------------------------------------------------------------------------
@dataclass
class Published:
    """What :func:`publish_version` wrote."""

    path: Path
    number: int
    sidecar: Path
    plain: Path | None
    plain_is_mine: bool = True
    swept: list[Path] = field(default_factory=list)


def publish_version(
    folder: Path,
    stem: str,
    data: bytes,
    computed: dict[str, Any],
    provenance: dict[str, Any],
    owner: dict[str, Any],
    protected: Protected | None = None,
    ext: str = "nii.gz",
    plain: bool = True,
) -> Published:
    """Write ``data`` as the next version of ``stem`` with its sidecar, then update the plain copy.

    When any step fails, nothing is left under a final name: the plain copy stays the previous
    version and the version number is free again. ``ext`` is the data file's ending (``nii.gz``,
    or ``dcm`` for a DICOM-SEG segmentation, which has no plain copy: ``plain=False``).

    Raises
    ------
    VersionError
        For provenance that cannot be stored or a stem owned by another series (nothing written).
    """
    folder = Path(folder)
    provenance = dict(provenance)
    explicit_parent = provenance.pop("parent", None)
    base = build_sidecar(computed, provenance)
    base["file_sha256"] = hashlib.sha256(data).hexdigest()
    swept = sweep_orphans(folder, stem, protected=protected)
    refuse_case_twin(folder, f"{stem}.{ext}", _describe(owner))
    claim_series(folder, stem, owner)
    for _ in range(1000):
        n = next_version(folder, stem)
        path, sidecar = folder / version_name(stem, n, ext), folder / version_name(stem, n, "json")
        parent = explicit_parent
        if parent is None:
            prev = settled_parent(folder, stem, n)
            parent = version_name(stem, prev, ext) if prev is not None else None
        side = {**base, "version": n, "file": path.name, "parent": parent, "time": _utc_now()}
        blob = json.dumps(side, indent=2, allow_nan=False).encode()
        try:
            atomic_write(sidecar, blob, overwrite=False, protected=protected)
        except FileExistsError:
            continue
        try:
            atomic_write(path, data, overwrite=False, protected=protected)
        except FileExistsError:
            _withdraw(sidecar, blob, protected)  # a version of an older app without its sidecar holds n
            continue
        except BaseException:
            _withdraw(sidecar, blob, protected)
            raise
        break
    else:  # pragma: no cover - a thousand savers in one second
        raise RuntimeError(f"could not claim a new version name in {folder}")
    if not plain:
        return Published(path, n, sidecar, None, True, swept)
    try:
        mine = update_plain(folder, stem, n, data, protected)
    except BaseException:
        # withdrawn data first: the sidecar never goes before its version
        for f, own in ((path, data), (sidecar, blob)):
            _withdraw(f, own, protected)
        raise
    return Published(path, n, sidecar, folder / f"{stem}.nii.gz", mine, swept)


def _withdraw(path: Path, own: bytes, protected: Protected | None) -> None:
    try:
        if read_small_bytes(path, len(own), "file just written") != own:
            return  # not what this save wrote
        remove_file(path, protected)
    except OSError:
        pass


def read_version(folder: Path, stem: str, n: int) -> bytes | None:
    """A version's bytes when they match its sidecar's ``file_sha256``, else None (logged)."""
    path = Path(folder) / version_name(stem, n)
    side = read_json_object(Path(folder) / version_name(stem, n, "json"))
    try:
        data = read_small_bytes(path, SAVED_MASK_MAX_BYTES, "saved version")
    except OSError as e:  # a FIFO or a device in its place is refused, never waited on
        logger.error("%s cannot be read: %s", path, e)
        return None
    if side is None or side.get("file_sha256") != hashlib.sha256(data).hexdigest():
        logger.error("%s does not match the sha256 of its sidecar; not copied to the plain file", path)
        return None
    return data


def update_plain(folder: Path, stem: str, n: int, data: bytes, protected: Protected | None = None) -> bool:
    """Make ``<stem>.nii.gz`` the newest version, also when other processes save the series at once.

    Writes version ``n`` (``data``) unless a newer one exists, then looks again after every write
    and copies the newest until none newer appeared. Returns whether the plain copy holds ``n``.
    """
    plain = Path(folder) / f"{stem}.nii.gz"
    if VERSION_RE.match(plain.name):  # pragma: no cover - refused by check_series_name
        raise VersionError(f"{plain.name} is a version name; a plain copy never replaces a version")
    written = n
    for _ in range(1000):
        newest = newest_version(folder, stem)
        if newest is not None and newest > written:
            newer = read_version(folder, stem, newest)
            if newer is not None:
                written, data = newest, newer
        atomic_write(plain, data, protected=protected)
        newest = newest_version(folder, stem)
        if newest is None or newest <= written:
            return written == n
        if read_version(folder, stem, newest) is None:
            return written == n  # the newer one is damaged: the plain copy keeps the last good one
    return written == n  # pragma: no cover


def sweep_orphans(
    folder: Path, stem: str | None = None, now: float | None = None, protected: Protected | None = None
) -> list[Path]:
    """Clear what killed saves left: sidecars without their version are removed, versions without a
    sidecar (written by older app versions) are moved aside to ``.<name>.orphan``. Only files older
    than :data:`STALE_PART_S` are touched, so a save in progress elsewhere is never disturbed."""
    now = time.time() if now is None else now
    folder = Path(folder)
    moved: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return moved
    by_stem: dict[str, dict[int, set[str]]] = {}
    for name in names:
        m = VERSION_RE.match(name)
        if m and (stem is None or m["stem"] == stem):
            by_stem.setdefault(m["stem"], {}).setdefault(int(m["n"]), set()).add(m["ext"])
    for s, versions in by_stem.items():
        for n, exts in versions.items():
            if is_complete(exts):
                continue
            lone = folder / version_name(s, n, next(iter(exts)))
            try:
                if now - os.lstat(lone).st_mtime <= STALE_PART_S:
                    continue
                if "json" in exts:
                    remove_file(lone, protected)
                    logger.warning("removed %s: a sidecar whose version was never written (a killed save)", lone)
                else:
                    aside = folder / f".{lone.name}.{int(now)}.orphan"
                    check_target(lone, protected)
                    check_target(aside, protected)
                    os.rename(lone, aside)
                    logger.warning("moved %s aside to %s: a version without provenance", lone, aside.name)
                moved.append(lone)
            except OSError:
                continue
    if moved:
        fsync_dir(folder)
    return moved


def recorded_sha256s(folder: Path, stem: str) -> set[str]:
    """The ``file_sha256`` of every version of ``stem`` whose sidecar can be read."""
    out = set()
    for n, exts in series_versions(folder, stem).items():
        if "json" in exts:
            d = read_json_object(Path(folder) / version_name(stem, n, "json"))
            if d is not None and isinstance(d.get("file_sha256"), str):
                out.add(d["file_sha256"])
    return out
