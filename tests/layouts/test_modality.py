import numpy as np
import pytest

import lundprobe_gui as lp
from lundprobe_gui.core.modality import default_window_preset, looks_like_ct
from lundprobe_gui.demo.other_layouts import make_geometry, synth_ct, synth_mri
from lundprobe_gui.render.window import PRESETS


def test_ct_and_mri_arrays():
    g = make_geometry()
    rng = np.random.default_rng(0)
    assert looks_like_ct(synth_ct(g, rng))
    assert looks_like_ct(synth_ct(g, rng).astype(np.float32))
    assert not looks_like_ct(synth_mri(g, rng))
    assert not looks_like_ct(np.linspace(-5, 5, 1000).astype(np.float32))  # z-scored MRI
    assert not looks_like_ct(np.linspace(-30000, 30000, 1000))  # signed but not HU
    assert not looks_like_ct(np.zeros(0))


def test_ct_volume_is_loaded_on_demand(examples):
    p = lp.open_patient(examples / "structseg" / "1")
    vol = p.image()
    assert not vol.loaded and looks_like_ct(vol) and vol.loaded


@pytest.mark.parametrize(
    "rel, preset",
    [
        ("structseg/1", "mediastinum"),
        ("multilabel_csv/npc2", "mediastinum"),
        ("multilabel_json/npc1", "MRI auto"),
        ("plain/case1", "MRI auto"),
    ],
)
def test_default_window_preset(examples, rel, preset):
    assert default_window_preset(lp.open_patient(examples / rel)) == preset


def test_default_window_preset_lundprobe(demo_patient_path):
    p = lp.open_patient(demo_patient_path)
    assert default_window_preset(p) == "MRI auto"
    assert default_window_preset(p, "sCT") == "CT"


def test_preset_names_exist():
    for name in ("mediastinum", "CT", "MRI auto"):
        assert name in PRESETS
