"""A tiny pure-Python event emitter, so models can say "changed" without Qt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class Emitter:
    """Holds callbacks and calls them in connection order.

    A failing callback is logged and does not stop the others: one broken view must not
    prevent the rest of the window from updating.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        """Add a callback (once)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Remove a callback if it is connected."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any, **kwargs: Any) -> None:
        """Call every callback."""
        for cb in list(self._callbacks):
            try:
                cb(*args, **kwargs)
            except Exception:
                logger.exception("event callback %r failed", cb)
