"""Pre-flight for build.sh (and a test): will a non-editable install hold the whole app?

pyproject.toml lists the packages by hand, so a new subpackage that nobody adds there is left
out of the wheel, and so out of the bundle, while the editable install used in development
still finds it. This names such packages (and missing icons) before a slow build starts.

    python packaging/check_sources.py     # exit 1 and a message when something is missing
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def unlisted_packages(root: Path = ROOT) -> list[str]:
    """Packages under lundprobe_gui/ that pyproject's [tool.setuptools] packages does not list."""
    conf = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(conf["tool"]["setuptools"]["packages"])
    found = []
    for init in sorted((root / "lundprobe_gui").rglob("__init__.py")):
        rel = init.parent.relative_to(root)
        if "__pycache__" in rel.parts or "tests" in rel.parts:
            continue
        found.append(".".join(rel.parts))
    return [p for p in found if p not in listed]


def missing_icons(root: Path = ROOT) -> list[str]:
    """Icon files the app and the desktop entry expect in resources/."""
    want = [root / "resources" / "lundprobe-gui.svg"]
    want += [root / "resources" / "icons" / f"lundprobe-gui-{s}.png" for s in ICON_SIZES]
    return [str(p.relative_to(root)) for p in want if not p.is_file()]


def main() -> int:
    """Print what is missing; exit 1 if anything is."""
    problems = [f"pyproject.toml [tool.setuptools] packages does not list {p}" for p in unlisted_packages()]
    problems += [f"missing {p} (run packaging/make_icons.py)" for p in missing_icons()]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
