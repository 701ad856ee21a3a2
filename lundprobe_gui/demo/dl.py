"""Synthetic nnU-Net output: 10 folds, their ensemble, the uncertainty map, and observers' edits.

Each fold's softmax is a sigmoid of the DL shape's signed distance plus a fold-specific smooth
perturbation whose amplitude (the "difficulty") is largest at the base and apex, as in real
prostate and rectum models. The uncertainty is the voxel-wise standard deviation of the folds'
softmax, so it is non-zero only near the DL boundary and at most 0.5. Observers edit the ensemble
with local bumps; in step 2 the edits are damped where the difficulty (and so the uncertainty)
is low, reproducing the published finding that low-uncertainty regions were edited less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.geometry import Geometry
from ..core.mask import Box
from .anatomy import Coords, Ellipsoid, Tube, Wobble
from .grids import world_box_to_index_box, world_coords

N_FOLDS = 10
TAU_MM = 0.8
OBSERVER_STYLE = {"obsB": (3, 2.2, 0.8), "obsC": (3, -1.8, 0.7), "obsD": (2, 1.2, 0.5), "obsE": (4, 2.6, 0.9)}
"""observer -> (number of edited regions, mean edit depth in mm, share of regions that add)."""


@dataclass
class DLResult:
    """Everything the extended part holds for one structure, on the box ``box`` of the MRI grid."""

    box: Box
    ensemble: np.ndarray
    folds: list[np.ndarray]
    uncertainty: np.ndarray
    observers: dict[str, np.ndarray]


def _dl_shape(shape: Ellipsoid | Tube, rng: np.random.Generator) -> Ellipsoid | Tube:
    """The model's systematic error: slightly shifted, scaled and re-wobbled."""
    shift = rng.normal(0, 1.0, 3)
    if isinstance(shape, Ellipsoid):
        return Ellipsoid(
            shape.centre + shift,
            shape.radii * rng.uniform(0.95, 1.03),
            Wobble.random(rng, shape.wobble.amplitude * 0.9 + 0.02),
        )
    return Tube(
        shape.centre + shift,
        shape.radii * rng.uniform(0.94, 1.04),
        shape.z_range,
        shape.curve,
        Wobble.random(rng, shape.wobble.amplitude * 0.9 + 0.02),
    )


def _extent_z(shape: Ellipsoid | Tube) -> tuple[float, float]:
    if isinstance(shape, Ellipsoid):
        return shape.centre[2], shape.radii[2]
    lo, hi = shape.z_range
    return (lo + hi) / 2.0, (hi - lo) / 2.0


def _difficulty(c: Coords, shape: Ellipsoid | Tube) -> np.ndarray:
    """Perturbation amplitude in mm: small mid-gland, large at base and apex."""
    zc, rz = _extent_z(shape)
    t = np.clip(np.abs(c[2] - np.float32(zc)) / np.float32(rz), 0, 1)
    return np.float32(0.35) + np.float32(2.6) * t**3


def _field(c: Coords, rng: np.random.Generator, n: int = 5, wavelength: float = 25.0) -> np.ndarray:
    """A smooth random field with values of order 1."""
    acc = np.zeros(c[0].shape, np.float32)
    for _ in range(n):
        k = rng.normal(0, 1, 3)
        k = (k / np.linalg.norm(k) * 2 * np.pi / wavelength * rng.uniform(0.6, 1.4)).astype(np.float32)
        acc += np.sin(c[0] * k[0] + c[1] * k[1] + c[2] * k[2] + np.float32(rng.uniform(0, 6.28)))
    return acc * np.float32(np.sqrt(2.0 / n))


def _bumps(
    c: Coords, shape: Ellipsoid | Tube, rng: np.random.Generator, style: tuple[int, float, float], toward_ends: bool
) -> np.ndarray:
    """Local edits: Gaussian bumps (mm of boundary displacement; positive adds) on the boundary."""
    count, depth, p_add = style
    acc = np.zeros(c[0].shape, np.float32)
    zc, rz = _extent_z(shape)
    centre = shape.centre
    for _ in range(count):
        u = rng.normal(0, 1, 3)
        if toward_ends:
            u[2] = np.sign(u[2] or 1.0) * (abs(u[2]) + 1.2)
        u /= np.linalg.norm(u)
        if isinstance(shape, Ellipsoid):
            q = centre + shape.radii * u
        else:
            q = np.array([centre[0] + shape.radii[0] * u[0], centre[1] + shape.radii[1] * u[1], zc + rz * 0.8 * u[2]])
        sigma = np.float32(rng.uniform(7.0, 12.0))
        amp = np.float32(abs(rng.normal(depth, 0.6)) * (1 if rng.random() < p_add else -1))
        d2 = (c[0] - np.float32(q[0])) ** 2 + (c[1] - np.float32(q[1])) ** 2 + (c[2] - np.float32(q[2])) ** 2
        acc += amp * np.exp(-d2 / (2 * sigma * sigma))
    return acc


def synth_dl(
    geom: Geometry,
    shape: Ellipsoid | Tube,
    rng: np.random.Generator,
    observers: tuple[str, ...] = tuple(OBSERVER_STYLE),
) -> DLResult | None:
    """Folds, ensemble, uncertainty and observers' step 1/2 edits for one structure on ``geom``."""
    dl = _dl_shape(shape, rng)
    lo, hi = dl.bounds(12.0)
    box = world_box_to_index_box(geom, lo, hi)
    if box is None:
        return None
    c = world_coords(geom, box)
    sdf = dl.sdf(c)
    amp = _difficulty(c, dl)
    probs = []
    for _ in range(N_FOLDS):
        pert = amp * _field(c, rng)
        probs.append(1.0 / (1.0 + np.exp((sdf + pert) / np.float32(TAU_MM))))
    p = np.stack(probs)
    mean = p.mean(axis=0)
    unc = p.std(axis=0).astype(np.float32)
    unc[unc < 0.01] = 0.0  # the map is non-zero only where the folds really disagree
    ensemble = mean > 0.5
    folds = [pi > 0.5 for pi in p]
    mean = np.clip(mean, 1e-6, 1 - 1e-6)
    sdf_ens = -np.float32(TAU_MM) * np.log(mean / (1 - mean))
    weight2 = np.float32(0.3) + np.float32(0.7) * (amp - amp.min()) / max(float(amp.max() - amp.min()), 1e-6)
    edits: dict[str, np.ndarray] = {}
    for obs in observers:
        style = OBSERVER_STYLE.get(obs, (3, 1.5, 0.5))
        e1 = _bumps(c, dl, rng, style, toward_ends=False) + np.float32(0.25) * _field(c, rng, 3, 40.0)
        e2 = (_bumps(c, dl, rng, style, toward_ends=True) + np.float32(0.25) * _field(c, rng, 3, 40.0)) * weight2
        edits[f"step1_{obs}"] = sdf_ens - e1 < 0
        edits[f"step2_{obs}"] = sdf_ens - e2 < 0
    return DLResult(box, ensemble, folds, unc, edits)
