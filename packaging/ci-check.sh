#!/usr/bin/env bash
# Build the Linux bundle, then prove the frozen app works where there is no Python: unpack the
# archive into an empty folder and run it with a bare environment (env -i, PATH=/usr/bin:/bin,
# an empty HOME), offscreen:
#   --version; demo (writes a small patient); info on it; screenshot of it (a real PNG, not blank);
#   metrics/dvh/uncertainty-edits on it (when the version has them);
#   no arguments (the double-click path: generates and opens the demo patient, keeps running);
#   the same under Xvfb with the real X11 (xcb) plugin when xvfb-run is installed.
#
#   bash packaging/ci-check.sh              build (reusing build/pkg-venv), then check
#   bash packaging/ci-check.sh --no-build   check the archive already in dist/
#   BUILD_ARGS=--fresh bash packaging/ci-check.sh
# Prints sizes and timings; exits non-zero on the first failure. KEEP=1 keeps the temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${1:-}" != "--no-build" ]; then
  # shellcheck disable=SC2086
  bash packaging/build.sh ${BUILD_ARGS:-} >/dev/null
fi
ARCHIVE=$(ls -t dist/lundprobe-gui-*-linux-*.tar.gz 2>/dev/null | head -1)
[ -n "$ARCHIVE" ] || { echo "no archive in dist/: run packaging/build.sh" >&2; exit 1; }
VERSION=$(basename "$ARCHIVE" | sed -E 's/^lundprobe-gui-(.*)-linux-.*\.tar\.gz$/\1/')

T=$(mktemp -d)
GUI_PID=""
cleanup() {
  [ -n "$GUI_PID" ] && kill -- "-$GUI_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
mkdir -p "$T/home"
tar -C "$T" -xzf "$ARCHIVE"
APP=$T/lundprobe-gui/lundprobe-gui
INTERNAL=$T/lundprobe-gui/_internal
[ -x "$APP" ] || fail "no executable in the archive"

# The bare environment a user's double-click gives: no Python, no venv, no PYTHONPATH.
BARE=(env -i PATH=/usr/bin:/bin HOME="$T/home" QT_QPA_PLATFORM=offscreen)
bare() { "${BARE[@]}" "$@"; }
# Seconds (3 decimals) a command takes; its output goes to $T/out.txt.
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$T/out.txt" 2>"$T/err.txt" || { cat "$T/out.txt" "$T/err.txt" >&2; return 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

# 1. What must be inside: resources for importlib.resources, and the X11 libraries users lack.
for f in lundprobe_gui/resources/colours.json lundprobe_gui/resources/lundprobe-gui.svg \
         lundprobe_gui/resources/icons/lundprobe-gui-256.png PySide6/Qt/plugins/platforms/libqxcb.so \
         PySide6/Qt/plugins/platforms/libqoffscreen.so PySide6/Qt/plugins/platforms/libqwayland.so \
         libxcb-cursor.so.0 libxcb-icccm.so.4 libxcb-keysyms.so.1; do
  [ -e "$INTERNAL/$f" ] || fail "missing from the bundle: $f"
done
if find "$INTERNAL" -xtype l | grep -q .; then fail "dangling symlinks: $(find "$INTERNAL" -xtype l)"; fi
ok "bundle contents"

# 2. --version, cold (first run after unpacking) and warm.
cold=$(timed bare "$APP" --version) || fail "--version"
grep -qx "lundprobe-gui $VERSION" "$T/out.txt" || fail "--version printed $(cat "$T/out.txt")"
warm=$(timed bare "$APP" --version)
ok "--version: $(cat "$T/out.txt") (${cold} s first run, ${warm} s warm)"

# 3. demo + info on the patient it writes.
t=$(timed bare "$APP" demo "$T/data" --size small) || fail "demo"
PATIENT=$(head -1 "$T/out.txt")
[ -d "$PATIENT" ] || fail "demo printed no patient folder"
ok "demo: $PATIENT ($t s)"
t=$(timed bare "$APP" info "$PATIENT") || fail "info"
grep -q "^Frames:" "$T/out.txt" && grep -q "CTVT_427" "$T/out.txt" || fail "info output: $(cat "$T/out.txt")"
grep -q "^Problems: none" "$T/out.txt" || fail "info found problems: $(cat "$T/out.txt")"
ok "info ($t s)"

# 4. screenshot: a 1600x1000 PNG with real content (a blank window compresses to a few kB).
SHOT=$T/screenshot.png
t=$(timed bare "$APP" screenshot "$PATIENT" "$SHOT") || fail "screenshot"
[ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "not a PNG"
dims=$(od -An -tu1 -j16 -N8 "$SHOT" | awk '{printf "%d x %d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}')
[ "$dims" = "1600 x 1000" ] || fail "screenshot is $dims"
size=$(stat -c %s "$SHOT")
[ "$size" -gt 60000 ] || fail "screenshot looks blank ($size bytes)"
ok "screenshot: $dims, $size bytes ($t s)"
[ -n "${SCREENSHOT_OUT:-}" ] && cp "$SHOT" "$SCREENSHOT_OUT"

# 4b. The analysis commands that exist in this version (scipy/skimage code paths the above miss).
commands=$(bare "$APP" --help)
for cmd in metrics dvh uncertainty-edits; do
  grep -qE "^ +$cmd( |\$)" <<<"$commands" || continue
  t=$(timed bare "$APP" "$cmd" "$PATIENT" --json) || fail "$cmd"
  ok "$cmd ($t s)"
done

# 5. No arguments = the double-click: the demo patient is generated, opened, and the app keeps running.
#    $1: label; the rest: the command. Waits for the demo cache, then 5 s more, then ends the app.
#    setsid gives the app (and xvfb-run's Xvfb) a process group of its own, ended as a whole.
start_and_watch() {
  local label=$1 demo i
  shift
  rm -rf "$T/home/.cache"
  setsid "$@" >"$T/gui.log" 2>&1 &
  GUI_PID=$!
  demo=""
  for i in $(seq 1 120); do
    demo=$(ls -d "$T"/home/.cache/lundprobe/lundprobe-gui/demo/*/.complete 2>/dev/null | head -1 || true)
    [ -n "$demo" ] && break
    kill -0 "$GUI_PID" 2>/dev/null || { cat "$T/gui.log" >&2; fail "$label: the app exited during start-up"; }
    sleep 0.5
  done
  [ -n "$demo" ] || { cat "$T/gui.log" >&2; fail "$label: no demo patient after 60 s"; }
  sleep 5
  kill -0 "$GUI_PID" 2>/dev/null || { cat "$T/gui.log" >&2; fail "$label: the app exited after opening the demo"; }
  ! grep -q "Traceback\|ERROR" "$T/gui.log" || { cat "$T/gui.log" >&2; fail "$label: errors in the log"; }
  kill -- "-$GUI_PID"
  wait "$GUI_PID" 2>/dev/null || true
  GUI_PID=""
  ok "$label: started, generated and opened the demo patient"
}
start_and_watch "no arguments, offscreen" "${BARE[@]}" "$APP"

# 6. A real X server, the platform plugin picked by Qt itself (xcb), as on a desktop.
if command -v xvfb-run >/dev/null 2>&1; then
  # xvfb-run sets DISPLAY/XAUTHORITY for the command; env -i must pass them on explicitly.
  start_and_watch "no arguments, X11 (Xvfb)" xvfb-run -a -s "-screen 0 1600x1000x24" sh -c \
    'exec env -i PATH=/usr/bin:/bin HOME="$1" DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" "$2"' _ "$T/home" "$APP"
else
  echo "skip: xvfb-run not installed, X11 start not checked"
fi

echo "sizes: $(du -sh "$ROOT/dist/lundprobe-gui" | cut -f1) unpacked, $(du -sh "$ARCHIVE" | cut -f1) archive ($ARCHIVE)"
echo "PASS: the bundle works without Python"
