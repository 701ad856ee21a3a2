"""``screenshot``'s arguments and side effects: --cursor, --cursor-lps, --cursor-ras; a folder as OUT; recent patients.

The grid is read from nibabel's own oblique test image (a file nobody on the team wrote); the
expected voxel comes from nibabel's affine (RAS), never from the app's geometry code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from lundprobe_gui.cli import CliError, main
from lundprobe_gui.cli.screenshot_cmd import cursor_index
from lundprobe_gui.core.geometry import Geometry

OBLIQUE = Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz"


def _args(cursor: str | None = None, lps: str | None = None, ras: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(cursor=cursor, cursor_lps=lps, cursor_ras=ras)


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Geometry, np.ndarray, tuple[int, int, int]]:
    """The first volume of nibabel's example4d (oblique, 128 x 96 x 24) as a 3D grid, and its RAS affine."""
    img = nib.load(OBLIQUE)
    vol = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., 0], img.affine)
    path = tmp_path_factory.mktemp("grid") / "vol.nii.gz"
    nib.save(vol, path)
    geometry = Geometry.from_sitk(sitk.ReadImage(str(path)))
    return geometry, vol.affine, vol.shape


def test_a_world_point_names_the_voxel_nibabels_affine_puts_there(grid) -> None:
    geometry, affine, shape = grid
    assert abs(affine[0, 1]) > 1e-3 or abs(affine[1, 0]) > 1e-3 or abs(affine[2, 1]) > 1e-3  # oblique
    for i, j, k in [(0, 0, 0), (70, 31, 11), (shape[0] - 1, shape[1] - 1, shape[2] - 1)]:
        ras = affine @ np.array([i, j, k, 1.0])
        text = ",".join(f"{v:.4f}" for v in ras[:3])
        assert cursor_index(_args(ras=text), geometry) == (k, j, i)
        lps = f"{-ras[0]:.4f},{-ras[1]:.4f},{ras[2]:.4f}"
        assert cursor_index(_args(lps=lps), geometry) == (k, j, i)
        assert cursor_index(_args(cursor=f"{i},{j},{k}"), geometry) == (k, j, i)
    assert cursor_index(_args(), geometry) is None


@pytest.mark.parametrize(
    "args,message",
    [
        (_args(cursor="128,0,0"), "--cursor 128,0,0 is voxel (128, 0, 0), outside the reference image's 128 x 96 x 24"),
        (_args(cursor="-1,0,0"), "is voxel (-1, 0, 0), outside"),
        (_args(cursor="1,2"), "--cursor must be three numbers X,Y,Z, not '1,2'"),
        (_args(lps="a,b,c"), "--cursor-lps must be three numbers"),
        (_args(ras="nan,0,0"), "--cursor-ras must be finite numbers"),
        (_args(ras="0,0,5000"), "--cursor-ras 0,0,5000 is voxel"),
    ],
)
def test_a_point_outside_the_image_or_not_a_point_is_refused(grid, args, message) -> None:
    with pytest.raises(CliError) as e:
        cursor_index(args, grid[0])
    assert message in str(e.value)


def test_the_command_refuses_an_outside_cursor_in_one_line(demo_patient_path, tmp_path, capsys) -> None:
    out = tmp_path / "shot.png"
    assert main(["screenshot", str(demo_patient_path), str(out), "--cursor", "9999,0,0", "--size", "640x400"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outside the reference image" in err[0] and "Traceback" not in err[0]
    assert not out.exists()
    with pytest.raises(SystemExit) as refused:
        main(["screenshot", str(demo_patient_path), str(out), "--cursor", "1,2,3", "--cursor-lps", "0,0,0"])
    assert refused.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_a_folder_named_as_the_output_is_refused_before_rendering(demo_patient_path, tmp_path, capsys) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    assert main(["screenshot", str(demo_patient_path), str(folder), "--size", "640x400"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lundprobe-gui screenshot: {folder} is a folder: give the name of the file to write"]
    assert list(folder.iterdir()) == []


def test_a_screenshot_leaves_the_recent_patients_alone(demo_patient_path, tmp_path, qapp) -> None:
    from PySide6.QtCore import QSettings

    QSettings().setValue("recent", ["/data/LUNDPROBE_0001"])
    out = tmp_path / "shot.png"
    assert main(["screenshot", str(demo_patient_path), str(out), "--size", "640x400", "--quiet"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert QSettings().value("recent") == ["/data/LUNDPROBE_0001"]
