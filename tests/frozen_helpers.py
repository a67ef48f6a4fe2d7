"""Where `make package` puts the installed app, and how the tests start its programs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dist" / "photosort"
BUNDLE_INTERNAL = BUNDLE / "_internal"
_EXE = ".exe" if sys.platform == "win32" else ""
CLI = BUNDLE / f"photosort{_EXE}"  # the console program
# The windowed program (in photosort.app on macOS); on Linux the one program is both.
APP = CLI if sys.platform.startswith("linux") else BUNDLE / f"photosort-app{_EXE}"


def bundle_built() -> bool:
    return CLI.is_file() and APP.is_file()
