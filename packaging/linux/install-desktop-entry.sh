#!/bin/sh
# Add lundprobe-gui to this user's application menu (icon included), or remove it again.
#   ./install-desktop-entry.sh            install for the current user (no root needed)
#   ./install-desktop-entry.sh --remove   undo
# Shipped at the top of the unpacked bundle, next to the lundprobe-gui executable. The menu entry
# points at this folder, so run it again after moving the folder.
set -eu
ID=org.lundprobe.lundprobe_gui
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPS=$DATA/applications
ICONS=$DATA/icons/hicolor

if [ "${1:-}" = "--remove" ]; then
  rm -f "$APPS/$ID.desktop" "$DATA/metainfo/$ID.metainfo.xml"
  for f in "$ICONS"/*/apps/lundprobe-gui.png "$ICONS"/scalable/apps/lundprobe-gui.svg; do rm -f "$f"; done
  echo "removed $ID"
  exit 0
fi

[ -x "$HERE/lundprobe-gui" ] || { echo "no lundprobe-gui executable in $HERE" >&2; exit 1; }
mkdir -p "$APPS" "$DATA/metainfo"
for png in "$HERE"/share/icons/lundprobe-gui-*.png; do
  size=${png##*-}; size=${size%.png}
  mkdir -p "$ICONS/${size}x${size}/apps"
  cp "$png" "$ICONS/${size}x${size}/apps/lundprobe-gui.png"
done
mkdir -p "$ICONS/scalable/apps"
cp "$HERE/share/icons/lundprobe-gui.svg" "$ICONS/scalable/apps/lundprobe-gui.svg"
cp "$HERE/share/$ID.metainfo.xml" "$DATA/metainfo/"
# Exec needs an absolute path (the bundle is not on PATH); quote it for folders with spaces, and
# escape what sed's replacement would otherwise read as special (& | \).
ESC=$(printf '%s' "$HERE" | sed 's/[&|\\]/\\&/g')
sed -e "s|^Exec=.*|Exec=\"$ESC/lundprobe-gui\" %f|" -e "s|^TryExec=.*|TryExec=$ESC/lundprobe-gui|" \
  "$HERE/share/$ID.desktop" > "$APPS/$ID.desktop"
chmod 644 "$APPS/$ID.desktop"
# Refresh the caches where the tools exist; desktops also notice new files on their own.
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$APPS" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
echo "installed $APPS/$ID.desktop -> $HERE/lundprobe-gui"
