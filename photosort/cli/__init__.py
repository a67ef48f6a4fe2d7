"""photosort's command line; with no command, the desktop app."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import NoReturn

from .parser import build_parser


def _run_gui(args: argparse.Namespace) -> int:
    from ..core.library import library_location

    if sys.platform.startswith("linux") and not any(os.environ.get(name) for name in
                                                    ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        # Qt would abort with a page about platform plugins: one line says it better.
        print("photosort: no display to open the desktop app on (DISPLAY is not set). The commands "
              "(`photosort --help`) work without one.", file=sys.stderr)
        return 1
    try:
        from ..ui.app import run_app
    except ImportError as error:  # a Qt that cannot start here (no display libraries): say so, plainly
        print(f"photosort: the desktop app cannot start: {error}. The commands (`photosort --help`) still work.",
              file=sys.stderr)
        return 1
    named = args.library or os.environ.get("PHOTOSORT_LIBRARY")
    return run_app(library_location(named) if named else None)  # else the app's settings say


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return _run_gui(args)
    from ..clip import ClipError
    from ..core.library import explain, library_location, local_folder

    try:
        return args.run(args)
    except ClipError as error:
        print(f"photosort: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("photosort: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every command ends in one line, never a traceback
        if os.environ.get("PHOTOSORT_TRACEBACK"):  # for whoever debugs photosort itself
            raise
        print(f"photosort: {explain(error, local_folder(library_location(args.library)))}", file=sys.stderr)
        return 1


def run() -> NoReturn:
    """The process entry point: `main`, then an exit that skips interpreter teardown.

    Tearing torch down takes about 0.7 s on this project's machine, a quarter of `photosort search`'s whole
    start-to-answer time. Everything that matters is closed by then (the library's `with` blocks commit and
    close the catalog and save the index), so only the freeing of memory the OS reclaims anyway is skipped.
    """
    import multiprocessing

    from ..frozen import ensure_standard_streams
    from ..paths import app_log_file

    ensure_standard_streams(app_log_file())  # the windowed app has none
    multiprocessing.freeze_support()  # the model's process, in a frozen (PyInstaller) app
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, KeyboardInterrupt is handled
        code = main()
    except KeyboardInterrupt:  # before a command took over (parsing, importing what it needs)
        print("photosort: interrupted", file=sys.stderr)
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
