"""The ``lundprobe-gui`` command.

``lundprobe-gui [PATH]`` starts the app (on the demo patient when PATH is omitted); the
subcommands below work without a display. Each subcommand lives in its own module with a
``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__

logger = logging.getLogger(__name__)

SUBCOMMANDS = (
    "demo",
    "info",
    "bench",
    "screenshot",
    "metrics",
    "dvh",
    "uncertainty_edits",
    "study",
    "review",
    "verify",
    "export",
)
EXIT_USAGE = 2


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every available subcommand)."""
    parser = argparse.ArgumentParser(
        prog="lundprobe-gui",
        description="Review and correct radiotherapy contours. Without a subcommand the app starts "
        "(on the demo patient when no PATH is given).",
    )
    parser.add_argument("--version", action="version", version=f"lundprobe-gui {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="start the app (the default)")
    gui.add_argument("path", nargs="?", help="patient folder or dataset root")
    for name in SUBCOMMANDS:
        try:
            mod = importlib.import_module(f".{name}_cmd", __name__)
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(f"{name}_cmd"):
                continue
            raise
        mod.register(sub)
    return parser


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # noqa: SLF001 - argparse exposes no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return set(action.choices)
    return set()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0] not in _command_names(parser) and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command == "gui":
        from ..app import run_app

        return run_app(args.path)
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"lundprobe-gui {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
