"""Fast checks of the packaging inputs (no build): icons, desktop entry, AppStream file, scripts."""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import lundprobe_gui
from lundprobe_gui import app as app_module

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "packaging"
APP_ID = "org.lundprobe.lundprobe_gui"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def _load(name: str):
    """Import a module from packaging/ (not a package: it is run as scripts)."""
    spec = importlib.util.spec_from_file_location(f"_packaging_{name}", PKG / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_lists_every_package():
    # A package missing here is missing from `pip install .` and from the desktop bundle.
    unlisted = _load("check_sources").unlisted_packages()
    assert not unlisted, f"add {unlisted} to [tool.setuptools] packages in pyproject.toml"


@pytest.mark.parametrize("size", SIZES)
def test_icon_pngs_have_their_size(size):
    assert _png_size(ROOT / "resources" / "icons" / f"lundprobe-gui-{size}.png") == (size, size)


def test_icon_svg_is_square_xml():
    root = ET.parse(ROOT / "resources" / "lundprobe-gui.svg").getroot()
    assert root.tag.endswith("svg")
    assert root.get("viewBox") == "0 0 512 512"


def test_windows_and_macos_icons_exist():
    ico = (PKG / "windows" / "lundprobe-gui.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00" and struct.unpack("<H", ico[4:6])[0] >= 6  # ICO with 6+ sizes
    assert (PKG / "macos" / "lundprobe-gui.icns").read_bytes()[:4] == b"icns"


def test_package_data_ships_the_icons():
    # pyproject's package-data must carry resources/icons/* and the SVG into the wheel.
    data = _pyproject()["tool"]["setuptools"]["package-data"]["lundprobe_gui.resources"]
    assert "icons/*" in data and "*.svg" in data


def test_app_icon_has_every_size(qapp):
    from lundprobe_gui.ui.icon import app_icon

    icon = app_icon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} >= set(SIZES)


def _desktop() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(PKG / "linux" / f"{APP_ID}.desktop", encoding="utf-8")
    return cp


def test_desktop_entry_matches_the_app():
    e = _desktop()["Desktop Entry"]
    assert e["Type"] == "Application"
    assert e["Exec"].split()[0] == "lundprobe-gui"
    assert e["Icon"] == "lundprobe-gui"  # the hicolor name install-desktop-entry.sh installs
    assert e["StartupWMClass"] == app_module.APPLICATION  # Qt's X11 WM_CLASS is the application name
    assert e["Terminal"] == "false"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_entry_validates():
    r = subprocess.run(
        ["desktop-file-validate", str(PKG / "linux" / f"{APP_ID}.desktop")], capture_output=True, text=True
    )
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_metainfo_matches_the_project():
    root = ET.parse(PKG / "linux" / f"{APP_ID}.metainfo.xml").getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert root.findtext("provides/binary") == "lundprobe-gui"
    assert root.findtext("project_license") == _pyproject()["project"]["license"]["text"]
    newest = root.find("releases/release").get("version")
    assert newest == _pyproject()["project"]["version"] == lundprobe_gui.__version__


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates():
    r = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(PKG / "linux" / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("script", ["build.sh", "ci-check.sh", "linux/install-desktop-entry.sh"])
def test_shell_scripts_parse(script):
    r = subprocess.run(["bash", "-n", str(PKG / script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_spec_and_helpers_compile():
    for name in ("lundprobe-gui.spec", "launcher.py", "prune.py", "make_icons.py", "collect_licences.py"):
        compile((PKG / name).read_text(encoding="utf-8"), name, "exec")


def test_prune_drops_embedded_plugins_and_dangling_symlinks():
    prune = _load("prune")
    assert prune.dropped("PySide6/Qt/plugins/platforms/libqvnc.so")
    assert prune.dropped("PySide6/Qt/translations/qtbase_de.qm")
    assert prune.dropped("scipy/ndimage/tests/data/x.npy")
    for keep in (
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "lundprobe_gui/resources/colours.json",
    ):
        assert not prune.dropped(keep), keep
    binaries = [("PySide6/Qt/lib/libQt6Core.so.6", "/nowhere/libQt6Core.so.6", "BINARY")]
    datas = [
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("libQt6Network.so.6", "PySide6/Qt/lib/libQt6Network.so.6", "SYMLINK"),
        ("PySide6/Qt/translations/qt_fr.qm", "/nowhere/qt_fr.qm", "DATA"),
    ]
    assert [d[0] for d in prune.prune_datas(datas, binaries)] == ["libQt6Core.so.6"]


def _fake_bundle(folder: Path) -> Path:
    """The top of an unpacked bundle, as build.sh lays it out, with a stand-in executable."""
    (folder / "share" / "icons").mkdir(parents=True)
    shutil.copy(PKG / "linux" / f"{APP_ID}.desktop", folder / "share")
    shutil.copy(PKG / "linux" / f"{APP_ID}.metainfo.xml", folder / "share")
    for s in SIZES:
        shutil.copy(ROOT / "resources" / "icons" / f"lundprobe-gui-{s}.png", folder / "share" / "icons")
    shutil.copy(ROOT / "resources" / "lundprobe-gui.svg", folder / "share" / "icons")
    shutil.copy(PKG / "linux" / "install-desktop-entry.sh", folder)
    exe = folder / "lundprobe-gui"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return folder


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop entry")
def test_install_desktop_entry_points_at_the_bundle(tmp_path):
    bundle = _fake_bundle(tmp_path / "My Apps & Tools" / "lundprobe-gui")
    data = tmp_path / "xdg-data"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(data)}
    r = subprocess.run(["sh", str(bundle / "install-desktop-entry.sh")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    entry = (data / "applications" / f"{APP_ID}.desktop").read_text()
    assert f'Exec="{bundle}/lundprobe-gui" %f' in entry
    assert f"TryExec={bundle}/lundprobe-gui" in entry
    for s in SIZES:
        assert (data / "icons" / "hicolor" / f"{s}x{s}" / "apps" / "lundprobe-gui.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "lundprobe-gui.svg").is_file()
    r = subprocess.run(
        ["sh", str(bundle / "install-desktop-entry.sh"), "--remove"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert not (data / "applications" / f"{APP_ID}.desktop").exists()
    assert not (data / "icons" / "hicolor" / "16x16" / "apps" / "lundprobe-gui.png").exists()


def test_licence_collection_names_qt_and_numpy(tmp_path):
    r = subprocess.run(
        [sys.executable, str(PKG / "collect_licences.py"), str(tmp_path)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    index = (tmp_path / "licenses" / "THIRD-PARTY.txt").read_text()
    for name in ("PySide6", "numpy", "SimpleITK", "lundprobe-gui", "Python"):
        assert name.lower() in index.lower(), name
    assert list((tmp_path / "licenses").glob("pyside6-essentials-*/LGPL-NOTE.txt"))
