"""`python -m photosort`: the command line (photosort.cli); with no command, the desktop app.

Ctrl+C while the command line's modules import ends in one line, as at any other moment."""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_while_starting(*_: object) -> None:
    # Ctrl+C while the modules below import: one line, as at any other moment, not a traceback from inside numpy.
    sys.stderr.write("photosort: interrupted\n")
    os._exit(130)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupted_while_starting)

from .cli import run  # noqa: E402

if __name__ == "__main__":
    run()
