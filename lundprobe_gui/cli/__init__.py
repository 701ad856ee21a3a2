"""The ``lundprobe-gui`` command.

``lundprobe-gui [PATH]`` starts the app (on the demo patient when PATH is omitted); the
subcommands below work without a display. Each subcommand lives in its own module with a
``register(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from ..version import __version__

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
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE, what a shell reports for a command whose reader closed the pipe (`yes | head`)."""
QUIET_HELP = "no warnings, notes or progress on stderr (errors still are)"
_quiet = False


def warn(message: str) -> None:
    """Print a warning or note to stderr, unless the command runs with ``--quiet``."""
    if not _quiet:
        print(message, file=sys.stderr)


def quiet() -> bool:
    """Whether the running command was given ``--quiet``."""
    return _quiet


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
    for command in sub.choices.values():
        _add_quiet(command)
    return parser


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    """Give a command ``--quiet`` (on its own subcommands, when it has some) unless it has one."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001 - argparse has no public view of its actions
    for action in groups:
        for child in action.choices.values():
            _add_quiet(child)
    # only on the leaves: a subcommand's own default would overwrite a parent's --quiet
    if not groups and not any("--quiet" in a.option_strings for a in parser._actions):  # noqa: SLF001 - argparse has no public view of its actions
        parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # noqa: SLF001 - argparse exposes no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001 - argparse has no public view of its actions
            return set(action.choices)
    return set()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0] not in _command_names(parser) and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    global _quiet
    _quiet = bool(getattr(args, "quiet", False))
    level = logging.ERROR if _quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    was = root.level
    root.setLevel(level)  # also when logging was configured before (tests, embedding)
    if _quiet:
        logging.disable(logging.WARNING)  # libraries with their own handlers (pydicom) too
    try:
        with warnings.catch_warnings():
            if _quiet:
                warnings.simplefilter("ignore")
            return _run(args)
    finally:
        root.setLevel(was)
        logging.disable(logging.NOTSET)
        _quiet = False


def _run(args: argparse.Namespace) -> int:
    if args.command == "gui":
        from ..app import run_app

        return run_app(args.path)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here rather than in the interpreter's exit
        return code
    except CliError as e:
        print(f"lundprobe-gui {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`... | head`): stop quietly, as other command-line tools do
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured in-process)
        pass
