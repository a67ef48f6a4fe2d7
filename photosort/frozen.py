"""Running as the installed app: a PyInstaller bundle, possibly windowed (no console at all).

Plain Python with no Qt or torch, so every layer may use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

# PyInstaller's bootloader points the dynamic loader at the bundle and keeps the value it found under this
# suffix; its Qt start-up hook points Qt at the bundle's plugins and QML; on Windows it puts the bundle first on
# PATH. A program we start (a file manager, an image viewer: often Qt programs themselves) would load our
# libraries and plugins instead of its own, and may crash: it gets the environment the app was started with.
_LOADER_VARIABLES = ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "LIBPATH")
_SAVED_SUFFIX = "_ORIG"
_PATH_LISTS = ("PATH", "QT_PLUGIN_PATH", "QML2_IMPORT_PATH", *_LOADER_VARIABLES)
_BOOTLOADER_PREFIXES = ("_PYI_", "_MEIPASS")  # how a bundle's processes recognise each other


def bundle_dir() -> Path | None:
    """The unpacked bundle's folder when running frozen, else None."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    return Path(frozen_root) if frozen_root else None


def is_frozen() -> bool:
    return bundle_dir() is not None


def outside_environment(environ: Mapping[str, str] | None = None, bundle: Path | None = None) -> dict[str, str]:
    """The environment for programs that are not ours, without what the bundle's start-up put in it."""
    environ = dict(os.environ if environ is None else environ)
    bundle = bundle_dir() if bundle is None else bundle
    if bundle is None:
        return environ
    for name in _LOADER_VARIABLES:
        saved = environ.pop(name + _SAVED_SUFFIX, None)
        if saved is not None:
            environ[name] = saved
    for name in _PATH_LISTS:
        if name not in environ:
            continue
        kept = [entry for entry in environ[name].split(os.pathsep) if entry and not _is_inside(entry, bundle)]
        if kept:
            environ[name] = os.pathsep.join(kept)
        else:
            del environ[name]
    return {name: value for name, value in environ.items() if not name.startswith(_BOOTLOADER_PREFIXES)}


def _is_inside(entry: str, folder: Path) -> bool:
    try:
        return Path(entry).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def ensure_standard_streams(log_file: Path) -> None:
    """A windowed app has no console: `sys.stdout` and `sys.stderr` are None, and the first print, flush or
    traceback would fail. Output goes nowhere, and errors to `log_file` (one run's worth) for whoever asks."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - open for the process's life
    if sys.stderr is None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            sys.stderr = open(log_file, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError:
            sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
