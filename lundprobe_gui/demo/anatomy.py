"""Plausible pelvic anatomy as implicit shapes in world (LPS) millimetres.

Each organ is a perturbed ellipsoid or tube with an approximate signed distance in mm (negative
inside), so it can be sampled on any grid: the MRI, the sCT and the dose grid all see one anatomy.
LPS: +x is the patient's left, +y posterior, +z superior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Coords = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Wobble:
    """A smooth random radial perturbation: sum of a few sinusoids of the direction vector."""

    amplitude: float
    waves: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    phases: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @classmethod
    def random(cls, rng: np.random.Generator, amplitude: float, n: int = 4) -> Wobble:
        """Random wobble of the given relative amplitude."""
        return cls(amplitude, rng.normal(0, 1.6, (n, 3)).astype(np.float32), rng.uniform(0, 6.28, n).astype(np.float32))

    def __call__(self, ux: np.ndarray, uy: np.ndarray, uz: np.ndarray) -> np.ndarray | float:
        if self.amplitude == 0 or len(self.phases) == 0:
            return 0.0
        acc = np.zeros(np.broadcast_shapes(ux.shape, uy.shape, uz.shape), np.float32)
        for w, ph in zip(self.waves, self.phases):
            acc += np.sin(ux * w[0] + uy * w[1] + uz * w[2] + ph)
        return acc * np.float32(self.amplitude / np.sqrt(len(self.phases)))


@dataclass
class Ellipsoid:
    """A perturbed ellipsoid; ``sdf`` approximates the signed distance in mm."""

    centre: np.ndarray
    radii: np.ndarray
    wobble: Wobble = field(default_factory=lambda: Wobble(0.0))

    def sdf(self, c: Coords) -> np.ndarray:
        """Approximate signed distance (mm, negative inside) at world coordinates ``c``."""
        dx = (c[0] - np.float32(self.centre[0])) / np.float32(self.radii[0])
        dy = (c[1] - np.float32(self.centre[1])) / np.float32(self.radii[1])
        dz = (c[2] - np.float32(self.centre[2])) / np.float32(self.radii[2])
        r = np.sqrt(dx * dx + dy * dy + dz * dz) + np.float32(1e-6)
        limit = 1.0 + self.wobble(dx / r, dy / r, dz / r)
        return (r - limit) * np.float32(min(self.radii))

    def bounds(self, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """World box that holds the shape (plus a margin in mm)."""
        ext = self.radii * (1.0 + 1.5 * self.wobble.amplitude) + margin
        return self.centre - ext, self.centre + ext


@dataclass
class Tube:
    """A tube along z whose centre line curves posteriorly (the rectum); elliptic cross-section."""

    centre: np.ndarray
    radii: np.ndarray
    z_range: tuple[float, float]
    curve: float = 0.004
    wobble: Wobble = field(default_factory=lambda: Wobble(0.0))

    def sdf(self, c: Coords) -> np.ndarray:
        """Approximate signed distance in mm."""
        zc = c[2] - np.float32(self.centre[2])
        yc = np.float32(self.centre[1]) + np.float32(self.curve) * zc * zc
        dx = (c[0] - np.float32(self.centre[0])) / np.float32(self.radii[0])
        dy = (c[1] - yc) / np.float32(self.radii[1])
        r = np.sqrt(dx * dx + dy * dy) + np.float32(1e-6)
        limit = 1.0 + self.wobble(dx / r, dy / r, zc / np.float32(60.0))
        radial = (r - limit) * np.float32(min(self.radii[:2]))
        lo, hi = self.z_range
        axial = np.maximum(np.float32(lo) - c[2], c[2] - np.float32(hi))
        return np.maximum(radial, axial)

    def bounds(self, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """World box of the tube."""
        lo, hi = self.z_range
        zmax = max(abs(lo - self.centre[2]), abs(hi - self.centre[2]))
        ext = np.array([self.radii[0] * 1.3, self.radii[1] * 1.3 + self.curve * zmax**2, 0.0]) + margin
        a = np.array([self.centre[0] - ext[0], self.centre[1] - self.radii[1] * 1.3 - margin, lo - margin])
        b = np.array([self.centre[0] + ext[0], self.centre[1] + ext[1], hi + margin])
        return a, b


@dataclass
class Anatomy:
    """All the shapes of one synthetic patient."""

    centre: np.ndarray
    body_radii: np.ndarray
    organs: dict[str, Ellipsoid | Tube]
    bones: list[Ellipsoid]
    fiducials: np.ndarray

    def body_sdf(self, c: Coords) -> np.ndarray:
        """Body outline: an elliptic cylinder joined with the genitalia."""
        dx = (c[0] - np.float32(self.centre[0])) / np.float32(self.body_radii[0])
        dy = (c[1] - np.float32(self.centre[1] + 5.0)) / np.float32(self.body_radii[1])
        cyl = (np.sqrt(dx * dx + dy * dy) - 1.0) * np.float32(min(self.body_radii))
        return np.minimum(cyl, self.organs["Genitalia"].sdf(c) - 3.0)


def make_anatomy(rng: np.random.Generator, centre: np.ndarray) -> Anatomy:
    """Random but plausible pelvic anatomy around ``centre`` (the prostate)."""
    c = np.asarray(centre, float)

    def jit(scale: float) -> np.ndarray:
        return rng.normal(0, scale, 3)

    prostate = Ellipsoid(c + jit(1.0), np.array([22.0, 16.5, 19.0]) * rng.uniform(0.85, 1.15), Wobble.random(rng, 0.07))
    organs: dict[str, Ellipsoid | Tube] = {
        "CTVT_427": prostate,
        "Bladder": Ellipsoid(
            c + np.array([0.0, -22.0, 44.0]) + jit(3.0),
            np.array([38.0, 30.0, 27.0]) * rng.uniform(0.8, 1.2),
            Wobble.random(rng, 0.08),
        ),
        "Rectum": Tube(
            c + np.array([0.0, 33.0, 0.0]) + jit(1.5),
            np.array([17.0, 13.0]) * rng.uniform(0.9, 1.1),
            (c[2] - 52.0, c[2] + 55.0),
            0.0035,
            Wobble.random(rng, 0.1),
        ),
        "FemoralHead_L": Ellipsoid(
            c + np.array([96.0, 2.0, 14.0]) + jit(2.0), np.full(3, 24.0), Wobble.random(rng, 0.02)
        ),
        "FemoralHead_R": Ellipsoid(
            c + np.array([-96.0, 2.0, 14.0]) + jit(2.0), np.full(3, 24.0), Wobble.random(rng, 0.02)
        ),
        "PenileBulb": Ellipsoid(
            c + np.array([0.0, 8.0, -36.0]) + jit(1.0), np.array([12.0, 10.0, 9.0]), Wobble.random(rng, 0.05)
        ),
        "Genitalia": Ellipsoid(
            c + np.array([0.0, -100.0, -88.0]) + jit(3.0), np.array([42.0, 34.0, 30.0]), Wobble.random(rng, 0.06)
        ),
    }
    bones = [
        Ellipsoid(c + np.array([0.0, -44.0, -6.0]), np.array([16.0, 8.0, 22.0])),  # pubic symphysis
        Ellipsoid(c + np.array([55.0, 32.0, -22.0]), np.array([12.0, 20.0, 30.0])),  # ischia
        Ellipsoid(c + np.array([-55.0, 32.0, -22.0]), np.array([12.0, 20.0, 30.0])),
        Ellipsoid(c + np.array([0.0, 78.0, 60.0]), np.array([28.0, 14.0, 48.0])),  # sacrum
        Ellipsoid(c + np.array([128.0, 8.0, -20.0]), np.array([16.0, 16.0, 60.0])),  # femoral shafts
        Ellipsoid(c + np.array([-128.0, 8.0, -20.0]), np.array([16.0, 16.0, 60.0])),
    ]
    # Three gold markers well inside the prostate (base, mid, apex), as implanted clinically.
    pr = prostate.radii
    fids = np.array(
        [
            prostate.centre + np.array([-0.35 * pr[0], 0.1 * pr[1], 0.4 * pr[2]]),
            prostate.centre + np.array([0.35 * pr[0], -0.15 * pr[1], 0.05 * pr[2]]),
            prostate.centre + np.array([0.05 * pr[0], 0.2 * pr[1], -0.45 * pr[2]]),
        ]
    )
    fids += rng.normal(0, 1.0, fids.shape)
    return Anatomy(c, np.array([172.0, 112.0]) * rng.uniform(0.92, 1.05), organs, bones, fids)
