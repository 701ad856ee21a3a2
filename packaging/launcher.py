"""Entry script of the frozen app (PyInstaller runs this instead of the console-script shim)."""

import multiprocessing
import os
import sys


def _main() -> int:
    # A windowed build (Windows/macOS, no console) has no stdout/stderr; argparse's --version,
    # logging and print would raise on None, so send them nowhere instead.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives for the process
    from lundprobe_gui.cli import main

    return main()


if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless unless a dependency ever spawns worker processes
    sys.exit(_main())
