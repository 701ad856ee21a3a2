"""Timing of the render path on a full 682 x 1024 axial slice (not collected by pytest).

Run with ``taskset -c 0 python tests/render/bench_compose.py`` to stay on one core. Reports
the best of several repeats, since a shared machine only ever adds time.
"""

from __future__ import annotations

import timeit

import numpy as np

from lundprobe_gui.render import colormaps, compose, overlay, window

H, W = 682, 1024
STRUCTURES = {  # name: (centre row, centre col, radius rows, radius cols)
    "BODY": (341, 512, 320, 490),
    "PTVT_427": (340, 512, 70, 90),
    "CTVT_427": (340, 512, 55, 72),
    "Bladder": (250, 512, 60, 100),
    "Rectum": (430, 512, 30, 35),
    "FemoralHead_L": (330, 750, 50, 50),
    "FemoralHead_R": (330, 274, 50, 50),
    "PenileBulb": (500, 512, 15, 20),
    "Genitalia": (560, 512, 40, 60),
}


def scene(unc_radius: float = 80.0):
    """MRI-like int16 image, 9 structures, a dose peaked on the PTV, an uncertainty ring."""
    rng = np.random.default_rng(0)
    img = rng.normal(400, 80, (H, W)).astype(np.int16)
    y, x = np.ogrid[:H, :W]
    structs = {n: ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1 for n, (cy, cx, ry, rx) in STRUCTURES.items()}
    r = np.sqrt((y - 340.0) ** 2 + ((x - 512.0) / 1.3) ** 2)
    dose = (45.7 * np.exp(-((r / 150.0) ** 2))).astype(np.float32)
    unc = (0.5 * np.exp(-(((r - unc_radius) / 25.0) ** 2))).astype(np.float32)
    unc[unc < 0.01] = 0.0
    return img, structs, dose, unc


def build(img, structs, dose, unc):
    base = window.apply_window(img, *window.preset_range("CT"))
    layers: list = [overlay.dose_wash_layer(dose, 45.7), overlay.uncertainty_layer(unc)]
    for name, m in structs.items():
        layers += overlay.structure_layers(m, colormaps.structure_colour(name))
    layers += [iso.layer() for iso in overlay.isodose_lines(dose, 42.7, dose_max=45.7)]
    return base, [layer for layer in layers if layer is not None]


def best_ms(fn, number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e3


def main() -> None:
    img, structs, dose, unc = scene()
    base, layers = build(img, structs, dose, unc)
    wash, unc_layer = layers[0], layers[1]
    print(
        f"slice {H}x{W}; dose wash box {wash.rgba.shape[:2]} "
        f"({wash.rgba.shape[0] * wash.rgba.shape[1] / (H * W):.0%} of the slice), "
        f"uncertainty box {unc_layer.rgba.shape[:2]}, {len(layers)} layers"
    )
    out = np.empty((H, W, 3), np.uint8)

    def comp(ls, reuse=True):
        return lambda: compose.compose_slice(base, ls, out=out if reuse else None)

    print(f"compose_slice, all layers, reused out : {best_ms(comp(layers), 100):6.2f} ms")
    print(f"compose_slice, all layers, new out    : {best_ms(comp(layers, False), 100):6.2f} ms")
    print(f"  base only (grey -> RGB)             : {best_ms(comp([]), 100):6.2f} ms")
    print(f"  + dose wash                         : {best_ms(comp([wash]), 100):6.2f} ms")
    print(f"  + uncertainty                       : {best_ms(comp([unc_layer]), 100):6.2f} ms")
    print(f"  + 9 outlines + 5 isodose lines      : {best_ms(comp(layers[2:]), 100):6.2f} ms")
    big = overlay.uncertainty_layer(scene(unc_radius=160.0)[3])
    print(
        f"stress: uncertainty box {big.rgba.shape[:2]} instead -> "
        f"{best_ms(comp([wash, big, *layers[2:]]), 100):6.2f} ms"
    )
    print("building the layers (once per slice change):")
    print(f"  apply_window int16                  : {best_ms(lambda: window.apply_window(img, -160, 200), 50):6.2f} ms")
    print(f"  dose_wash_layer                     : {best_ms(lambda: overlay.dose_wash_layer(dose, 45.7), 20):6.2f} ms")
    print(f"  uncertainty_layer                   : {best_ms(lambda: overlay.uncertainty_layer(unc), 20):6.2f} ms")
    print(
        f"  9 structure outlines (full slices)  : "
        f"{best_ms(lambda: [overlay.structure_layers(m, (1, 2, 3)) for m in structs.values()], 20):6.2f} ms"
    )
    print(
        f"  5 isodose lines                     : "
        f"{best_ms(lambda: [i.layer() for i in overlay.isodose_lines(dose, 42.7, dose_max=45.7)], 20):6.2f} ms"
    )
    print(
        f"  everything incl. compose            : "
        f"{best_ms(lambda: compose.compose_slice(*build(img, structs, dose, unc), out=out), 10):6.2f} ms"
    )


if __name__ == "__main__":
    main()
