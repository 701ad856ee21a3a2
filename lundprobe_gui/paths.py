"""Per-user folders (cache, data) in the platform's usual places, without Qt.

They match what Qt's ``QStandardPaths`` gives for organisation "lundprobe" and application
"lundprobe-gui", so the CLI and the GUI share one demo cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ORGANISATION = "lundprobe"
APPLICATION = "lundprobe-gui"


def user_cache_dir() -> Path:
    """The per-user cache folder (``LUNDPROBE_CACHE`` overrides it)."""
    env = os.environ.get("LUNDPROBE_CACHE")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / ORGANISATION / APPLICATION / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / ORGANISATION / APPLICATION
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / ORGANISATION / APPLICATION


def user_data_dir() -> Path:
    """The per-user data folder (recovery area, settings that are not QSettings)."""
    env = os.environ.get("LUNDPROBE_DATA")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
        return base / ORGANISATION / APPLICATION
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / ORGANISATION / APPLICATION
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / ORGANISATION / APPLICATION


def demo_patient_dir(size: str = "small", part: str = "extended", seed: int = 0) -> Path:
    """Where the cached demo dataset of this kind lives."""
    return user_cache_dir() / "demo" / f"{part}-{size}-seed{seed}"


def demo_edits_dir(patient_dir: str | os.PathLike) -> Path | None:
    """Where edits of a cached demo patient are saved by default: a data folder, which the system does not
    clean as it may a cache (None for any other patient)."""
    demo = user_cache_dir() / "demo"
    try:
        rel = Path(os.path.abspath(patient_dir)).relative_to(os.path.abspath(demo))
    except ValueError:
        return None
    return user_data_dir() / "demo_edits" / rel.parts[0] if rel.parts else None
