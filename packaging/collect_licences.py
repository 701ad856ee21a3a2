"""Copy the licences of everything the bundle ships into BUNDLE/licenses/ (run with the build venv's python).

    python packaging/collect_licences.py dist/lundprobe-gui

Redistributing a binary bundle means redistributing numpy, scipy, Qt (LGPLv3), SimpleITK... so
their licence texts must travel with it. The list is the runtime dependency closure of the
installed lundprobe-gui distribution (test extras excluded), plus Python itself.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT_DIST = "lundprobe-gui"
LICENCE_FILE = re.compile(r"(licen[cs]e|copying|notice|authors)", re.IGNORECASE)

QT_NOTE = """\
PySide6 and the Qt libraries are used under the GNU Lesser General Public License v3
(https://www.gnu.org/licenses/lgpl-3.0.html). They are shipped as separate shared libraries in
_internal/PySide6/ and _internal/PySide6/Qt/lib/; you may replace them with your own compatible
builds. Their source code is available from https://code.qt.io and https://download.qt.io.
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str = ROOT_DIST) -> list[md.Distribution]:
    """The installed distributions ``root`` needs at run time (its extras are not followed)."""
    seen: dict[str, md.Distribution] = {}
    todo = [root]
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional or platform-specific requirement that is not installed
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(seen.values(), key=lambda d: _norm(d.metadata["Name"]))


def _licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    lic = (meta.get("License") or "").strip().splitlines()
    if len(lic) == 1 and len(lic[0]) < 80:  # not a whole licence text pasted into the field
        return lic[0]
    return ", ".join(classifiers) or "see the files"


def system_library_licences(bundle: Path, out: Path) -> list[str]:
    """Debian copyright files of the system libraries PyInstaller bundled (glib, fontconfig, ICU...).

    Looked up with dpkg where the build ran on Debian/Ubuntu; elsewhere nothing is done.
    """
    if shutil.which("dpkg") is None:
        return []
    libs = [p for p in (bundle / "_internal").glob("lib*.so*") if p.is_file() and not p.is_symlink()]
    if not libs:
        return []
    # One dpkg call for all (it exits 1 when some library is not from a package: that is fine).
    res = subprocess.run(
        ["dpkg", "-S", *(f"*/{lib.name}" for lib in libs)], capture_output=True, text=True, check=False
    )
    packages = {line.split(":")[0] for line in res.stdout.splitlines()}  # "libglib2.0-0:amd64: /usr/..."
    rows = []
    if packages:
        (out / "system").mkdir()
    for pkg in sorted(packages):
        copyright_file = Path("/usr/share/doc") / pkg / "copyright"
        if copyright_file.is_file():
            shutil.copyfile(copyright_file, out / "system" / f"{pkg}.copyright")
            rows.append(f"{pkg} (Debian package): see system/{pkg}.copyright")
    return rows


def main(bundle: Path) -> int:
    """Write BUNDLE/licenses/ and its index THIRD-PARTY.txt."""
    out = bundle / "licenses"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rows = []
    for dist in closure():
        name, version = dist.metadata["Name"], dist.version
        dest = out / f"{_norm(name)}-{version}"
        dest.mkdir()
        for f in dist.files or []:
            if LICENCE_FILE.search(f.name) and not f.name.endswith(".py"):
                src = Path(dist.locate_file(f))
                if src.is_file():  # vendored libraries' licences share names: keep their paths
                    inside = f.name if ".dist-info/" in str(f) else str(f).replace("/", "__")
                    shutil.copyfile(src, dest / inside)
        if _norm(name) in ("pyside6-essentials", "shiboken6"):
            (dest / "LGPL-NOTE.txt").write_text(QT_NOTE, encoding="utf-8")
        (dest / "METADATA").write_text(dist.read_text("METADATA") or "", encoding="utf-8")
        rows.append(f"{name} {version}: {_licence_of(dist)}")
    py_licence = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "LICENSE.txt"
    if not py_licence.is_file():
        py_licence = Path(sys.base_prefix) / "LICENSE.txt"  # Windows layout
    if py_licence.is_file():
        (out / "python").mkdir()
        shutil.copyfile(py_licence, out / "python" / "LICENSE.txt")
        rows.append(f"Python {sys.version.split()[0]}: PSF-2.0")
    rows += system_library_licences(bundle, out)
    (out / "THIRD-PARTY.txt").write_text(
        "Software shipped in this bundle, with its licence (full texts in the folders beside this file).\n\n"
        + "\n".join(rows)
        + "\n",
        encoding="utf-8",
    )
    print(f"licences of {len(rows)} packages -> {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
