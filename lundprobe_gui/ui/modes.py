"""Modes that can take the main window over (a reader study, an AI review).

The main window does not know its modes: each mode registers its installer here (the ``ui``
package does it on import), and the window calls every installer once its own menus and docks
exist. A mode builds on the window, never the other way round (an import-linter contract).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Installer = Callable[[Any], object]
"""Adds a mode's menu and dock to a main window and returns the mode."""

_INSTALLERS: list[Installer] = []


def register_mode(install: Installer) -> Installer:
    """Add a mode's installer (once; in the order modes are registered, which is their menus' order).

    Parameters
    ----------
    install : callable
        Called with the main window once its menus and docks exist.

    Returns
    -------
    callable
        ``install``, so this can be used as a decorator.
    """
    if install not in _INSTALLERS:
        _INSTALLERS.append(install)
    return install


def install_modes(window: Any) -> list[object]:
    """Install every registered mode on ``window``; returns the modes in registration order."""
    return [install(window) for install in _INSTALLERS]
