"""Study times come from :mod:`lundprobe_gui.session.clock`; these names stay importable from here."""

from __future__ import annotations

from ..session.clock import (  # noqa: F401 - re-exported under the old name
    INJECTED_CLOCK_ENV,
    MAX_SKEW_S,
    Now,
    event_time,
    injected_clock,
    iso_utc,
    parse_iso,
    to_epoch,
    wall_time,
)
