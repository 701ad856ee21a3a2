"""What a saved version of an edited structure records: the rows of its history."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SavedVersion:
    """One saved version of a structure's series, as its provenance sidecar describes it.

    Attributes
    ----------
    number : int
        The version number (``_v003`` is 3).
    path : str
        The version's file.
    time : str
        When it was saved (ISO 8601, UTC).
    tool, user : str
        What saved it and who.
    added_cc, removed_cc : float or None
        Volume added to and removed from the start mask, in cc.
    dice_vs_start : float or None
        Dice of the version against its start mask.
    started_from : str or None
        The source the editing started from (``nnUNet``...), when recorded.
    voxels : int or None
        Voxels inside.
    voxel_sha256 : str
        Hash of the voxel array (equal hashes: equal masks).
    """

    number: int
    path: str
    time: str = ""
    tool: str = ""
    user: str = ""
    added_cc: float | None = None
    removed_cc: float | None = None
    dice_vs_start: float | None = None
    started_from: str | None = None
    voxels: int | None = None
    voxel_sha256: str = ""

    @property
    def label(self) -> str:
        """``v003``."""
        return f"v{self.number:03d}"

    def summary(self) -> str:
        """One short line for a history list: version, time of day, added/removed cc, Dice vs start."""
        parts = [self.label, self.time[11:16]]  # the time of day (UTC); the date is in the tooltip
        if self.added_cc is not None and self.removed_cc is not None:
            parts.append(f"+{self.added_cc:.2f} -{self.removed_cc:.2f} cc")
        if self.dice_vs_start is not None:
            parts.append(f"Dice {self.dice_vs_start:.3f}")
        return "  ".join(parts)

    def details(self) -> str:
        """Everything the sidecar says about this version, for a tooltip."""
        lines = [f"{self.label} saved {self.time} by {self.user or 'unknown'} with {self.tool or 'unknown tool'}"]
        if self.started_from:
            lines.append(f"started from {self.started_from}")
        if self.added_cc is not None and self.removed_cc is not None:
            lines.append(f"added {self.added_cc:.3f} cc, removed {self.removed_cc:.3f} cc")
        if self.dice_vs_start is not None:
            lines.append(f"Dice vs start {self.dice_vs_start:.4f}")
        lines.append(self.path)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)
