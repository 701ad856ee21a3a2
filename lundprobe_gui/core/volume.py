"""A scalar image (MRI, sCT, dose, uncertainty) that loads its voxels on first use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import Geometry
from .mask import Box, as_box, bbox_of, box_slices, read_block

logger = logging.getLogger(__name__)

IMPLAUSIBLE_DOSE_GY = 1000.0
"""A dose maximum above this is not a dose in Gy (an RTDOSE's stored integers without DoseGridScaling reach
millions); brachytherapy hot spots aside, no plan comes near it."""


def dose_unit_problem(maximum: float, integer_data: bool) -> str:
    """Why a dose with this maximum cannot be shown as Gy ("" when it can)."""
    if not maximum > IMPLAUSIBLE_DOSE_GY:
        return ""
    hint = " (stored integers without their scaling, like an RTDOSE read without DoseGridScaling?)"
    return (
        f"maximum {maximum:,.0f} is not a plausible dose in Gy{hint if integer_data else ''}; "
        "not shown as Gy until a scale is confirmed"
    )


@dataclass
class Slab:
    """The bounding box of the non-zero voxels of an image, decoded without the rest.

    Attributes
    ----------
    shape : tuple of int
        The full (z, y, x) shape.
    offset : tuple of int
        Full-grid (z, y, x) index of ``block[0, 0, 0]``.
    block : numpy.ndarray
        The voxels of the box (empty when every voxel is zero); every voxel outside it is zero.
    """

    shape: tuple[int, int, int]
    offset: tuple[int, int, int]
    block: np.ndarray

    def full(self) -> np.ndarray:
        """The full-size array."""
        return read_block(self.block, self.offset, as_box((0, n) for n in self.shape))


Loader = Callable[[Path], np.ndarray | Slab]


class Volume:
    """A lazily loaded 3-D scalar image.

    Dose and uncertainty maps are mostly zero, so with ``crop=True`` only the bounding box of the
    non-zero voxels is kept in memory (zero outside it), as for masks.

    Parameters
    ----------
    path : Path
        The file.
    geometry : Geometry
        Its grid, from the header.
    kind : str
        ``"image"``, ``"dose"`` or ``"uncertainty"``.
    loader : callable
        Reads the file into a (z, y, x) array, or (for a cropped volume) a :class:`Slab`;
        supplied by ``io``.
    crop : bool
        Keep only the non-zero bounding box.
    """

    def __init__(
        self, path: Path, geometry: Geometry, kind: str, loader: Loader, crop: bool = False, name: str = ""
    ) -> None:
        self.path = Path(path)
        self.geometry = geometry
        self.kind = kind
        self.name = name or self.path.name
        self._loader = loader
        self._crop = crop
        self._lock = threading.Lock()
        self.data: np.ndarray | None = None
        self.offset: tuple[int, int, int] = (0, 0, 0)
        self.vmin = 0.0
        self.vmax = 0.0
        self.resampled_from: Geometry | None = None
        """The grid of the file when its values were resampled onto :attr:`geometry` (see core/regrid.py)."""
        self.unit_problem = ""
        """Why a dose's values are not Gy (:func:`dose_unit_problem`); set on load, cleared by :meth:`set_scale`."""
        self.scale = 1.0
        """A user-confirmed factor from the stored values to Gy (1.0 unless :meth:`set_scale` was called)."""

    @property
    def loaded(self) -> bool:
        """Whether the voxels are in memory."""
        return self.data is not None

    def load(self) -> Volume:
        """Read the voxels (once; thread-safe). Errors from the loader propagate."""
        with self._lock:
            if self.data is not None:
                return self
            got = self._loader(self.path)
            if got.shape != self.geometry.shape_zyx:
                raise ValueError(f"voxel array {got.shape} does not match header size {self.geometry.shape_zyx}")
            offset = (0, 0, 0)
            if isinstance(got, Slab) and self._crop:
                arr, offset = got.block, got.offset
                if arr.size == 0:
                    arr = np.zeros((0, 0, 0), dtype=arr.dtype)
            else:
                arr = got.full() if isinstance(got, Slab) else got
                if self._crop:
                    box = bbox_of(arr)
                    if box is None:
                        arr = np.zeros((0, 0, 0), dtype=arr.dtype)
                    else:
                        arr = arr[box_slices(box)]
                        offset = (box[0][0], box[1][0], box[2][0])
            integer_data = arr.dtype.kind in "iu"
            if self.kind != "image" and arr.dtype != np.float32:
                arr = arr.astype(np.float32)
            if self.scale != 1.0:
                arr = arr * np.float32(self.scale)
            # Images stay a read-only view of the decoded buffer: copying 120 MB would delay the first image.
            arr = np.ascontiguousarray(arr)
            if self.kind != "image":
                self.vmin = float(arr.min()) if arr.size else 0.0
                self.vmax = float(arr.max()) if arr.size else 0.0
            if self.kind == "dose" and self.scale == 1.0:
                self.unit_problem = dose_unit_problem(self.vmax, integer_data)
            self.offset = offset
            self.data = arr
        return self

    def set_scale(self, factor: float) -> None:
        """Confirm that stored value x means ``x * factor`` Gy: the values are rescaled and the dose can be shown."""
        if not (np.isfinite(factor) and factor > 0):
            raise ValueError(f"a dose scale must be a positive number, not {factor!r}")
        with self._lock:
            if self.data is not None:
                self.data = np.ascontiguousarray(self.data * np.float32(factor / self.scale))
                self.vmin = float(self.data.min()) if self.data.size else 0.0
                self.vmax = float(self.data.max()) if self.data.size else 0.0
            self.scale = float(factor)
            self.unit_problem = ""

    def unload(self) -> None:
        """Drop the voxels (they load again on next use)."""
        with self._lock:
            self.data = None

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return 0 if self.data is None else int(self.data.nbytes)

    def voxels(self) -> np.ndarray:
        """The stored voxels (the cropped block for a cropped volume), loading them first."""
        self.load()
        data = self.data
        if data is None:  # unload() ran on another thread between the two lines
            raise RuntimeError(f"{self.path}: the voxels were unloaded while being read")
        return data

    @property
    def box(self) -> Box | None:
        """The stored block in full-grid indices."""
        data = self.voxels()
        if data.size == 0:
            return None
        return as_box((o, o + n) for o, n in zip(self.offset, data.shape))

    def array(self) -> np.ndarray:
        """The full-size (z, y, x) array (allocates when the volume is cropped)."""
        data = self.voxels()
        if not self._crop:
            return data
        return self.read(as_box((0, n) for n in self.geometry.shape_zyx))

    def read(self, box: Box) -> np.ndarray:
        """Values inside ``box`` (zero outside the stored block)."""
        data = self.voxels()
        if not self._crop:
            return data[box_slices(box)]
        return read_block(data, self.offset, box)

    def slice2d(self, axis: int, index: int) -> np.ndarray:
        """Full-size 2-D plane: axis 0 gives (y, x), 1 gives (z, x), 2 gives (z, y)."""
        data = self.voxels()
        if not self._crop:
            sl: list[slice | int] = [slice(None)] * 3
            sl[axis] = index
            return data[tuple(sl)]
        box = [(0, n) for n in self.geometry.shape_zyx]
        box[axis] = (index, index + 1)
        plane = self.read(as_box(box))
        return plane.reshape([n for i, n in enumerate(plane.shape) if i != axis])

    def value_at(self, z: int, y: int, x: int) -> float:
        """The value of one voxel."""
        return float(self.read(((z, z + 1), (y, y + 1), (x, x + 1)))[0, 0, 0])

    def __repr__(self) -> str:
        return f"Volume({self.kind} {self.path.name}, {self.geometry.size_xyz}, loaded={self.loaded})"
