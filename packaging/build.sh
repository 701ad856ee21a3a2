#!/usr/bin/env bash
# Build the double-clickable Linux bundle: dist/lundprobe-gui/ and dist/lundprobe-gui-<version>-linux-<arch>.tar.gz
#
#   bash packaging/build.sh           reuse build/pkg-venv if it is there (fast rebuilds)
#   bash packaging/build.sh --fresh   new venv and a clean PyInstaller cache
#
# Environment: PYTHON (default python3, >= 3.11 with a shared libpython, which pyenv and Debian
# give), PIP_ARGS (extra pip arguments, e.g. a constraints file to pin the bundled versions).
# The app is installed NON-editable into a venv of its own, so the bundle holds only runtime
# dependencies (no pytest, hypothesis...), and built from a copy of the sources, so stale files
# in the working tree's build/lib can never end up in the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=$ROOT/build/pkg-venv
SRC=$ROOT/build/pkg-src
WORK=$ROOT/build/pyinstaller
DIST=$ROOT/dist
NAME=lundprobe-gui
PYINSTALLER_REQ="pyinstaller>=6.10,<7"  # 6.10+: the Qt 6.8+ plugin layout; 7 may change spec semantics
export PIP_DISABLE_PIP_VERSION_CHECK=1

fresh=0
[ "${1:-}" = "--fresh" ] && fresh=1
say() { printf '== %s\n' "$*" >&2; }

# 1. System libraries. PyInstaller bundles the libraries it finds on the build machine, so the xcb
#    pieces Qt's X11 plugin needs (often missing on users' desktops, libxcb-cursor0 above all)
#    must be installed here to end up inside the bundle. binutils: PyInstaller needs objdump.
QT_PKGS="libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libglib2.0-0 libdbus-1-3 libxcb-cursor0 \
libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 binutils"
if command -v dpkg >/dev/null 2>&1; then
  missing=""
  for p in $QT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing system packages:$missing"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      say "WARNING: missing$missing; the bundle will need them on users' machines (apt-get install$missing)"
    fi
  fi
fi
command -v objdump >/dev/null 2>&1 || { say "PyInstaller needs objdump: install binutils"; exit 1; }

# 2. Build venv with PyInstaller and the app (non-editable, from a clean copy of the sources).
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { say "$PYTHON is older than 3.11"; exit 1; }
"$PYTHON" packaging/check_sources.py || { say "fix the above first: the wheel, and so the bundle, would lack it"; exit 1; }
if [ "$fresh" = 1 ] || [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || { say "cannot create a venv (Debian: apt-get install python3-venv)"; exit 1; }
fi
say "copying sources to $SRC"
rm -rf "$SRC" && mkdir -p "$SRC"
tar -C "$ROOT" --exclude=./build --exclude=./dist --exclude=./.git --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=.hypothesis --exclude=.pytest_cache --exclude=.import_linter_cache \
    --exclude=.benchmarks --exclude=./.venv -cf - . | tar -C "$SRC" -xf -
say "installing PyInstaller and the app into $VENV"
# shellcheck disable=SC2086 # PIP_ARGS is a list of words on purpose
"$VENV/bin/python" -m pip install -q ${PIP_ARGS:-} "$PYINSTALLER_REQ" "$SRC"
# Same version number as last time would leave the old copy: force the app itself in again.
"$VENV/bin/python" -m pip install -q ${PIP_ARGS:-} --no-deps --force-reinstall "$SRC"
VERSION=$("$VENV/bin/python" -c 'import lundprobe_gui; print(lundprobe_gui.__version__)')
ARCH=$(uname -m)

# 3. PyInstaller, one-folder build.
say "PyInstaller (a few minutes)"
clean=""
[ "$fresh" = 1 ] && clean="--clean"
rm -rf "${DIST:?}/$NAME"
"$VENV/bin/pyinstaller" --noconfirm $clean --log-level WARN --distpath "$DIST" --workpath "$WORK" \
    packaging/lundprobe-gui.spec
BUNDLE=$DIST/$NAME

# 4. Extras at the top of the folder: the desktop entry, icons, licences, a short README.
mkdir -p "$BUNDLE/share/icons"
cp packaging/linux/org.lundprobe.lundprobe_gui.desktop packaging/linux/org.lundprobe.lundprobe_gui.metainfo.xml \
   "$BUNDLE/share/"
cp resources/icons/lundprobe-gui-*.png resources/lundprobe-gui.svg "$BUNDLE/share/icons/"
cp packaging/linux/install-desktop-entry.sh "$BUNDLE/"
chmod +x "$BUNDLE/install-desktop-entry.sh"
cp packaging/linux/README-bundle.txt "$BUNDLE/README.txt"
"$VENV/bin/python" packaging/collect_licences.py "$BUNDLE" >/dev/null
# pyenv builds libpython with debug info (23 MB -> 6 MB without); only debug sections go.
if command -v strip >/dev/null 2>&1; then
  for lib in "$BUNDLE"/_internal/libpython3*.so*; do
    [ -f "$lib" ] && [ ! -L "$lib" ] && strip --strip-debug "$lib"
  done
fi

# 5. The archive users download. Owner 0 and sorted names: the same tree gives the same listing.
ARCHIVE=$DIST/$NAME-$VERSION-linux-$ARCH.tar.gz
say "archiving $ARCHIVE"
rm -f "$ARCHIVE"
tar -C "$DIST" --owner=0 --group=0 --numeric-owner --sort=name -czf "$ARCHIVE" "$NAME"
du -sh "$BUNDLE" "$ARCHIVE" >&2
echo "$ARCHIVE"
