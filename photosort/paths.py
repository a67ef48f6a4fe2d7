"""Where photosort finds its own files and keeps the user's data.

Plain Python with no Qt or torch, so every layer may use it.
"""

from __future__ import annotations

import os
import socket
import uuid
from importlib import resources
from pathlib import Path

import platformdirs

APP_NAME = "photosort"


DATA_DIR_VARIABLE = "PHOTOSORT_DATA_DIR"  # a data folder set apart: the library, models and settings


def package_path(*parts: str) -> Path:
    """A file or folder shipped inside the `photosort` package, as a path on disk.

    `importlib.resources` finds the package data wherever the package lives: a source checkout, an installed
    wheel, or a PyInstaller bundle (which unpacks it under `photosort/` in its folder). Callers need real paths
    (torch and Qt open files by name), and photosort is never run from a zip, so anything else is an error.
    """
    found = resources.files(__package__ or APP_NAME).joinpath("/".join(parts))
    if not isinstance(found, Path):
        raise RuntimeError(f"photosort's data {'/'.join(parts)} is not a file on disk ({found!r}): "
                           "install photosort unzipped")
    return found


def resources_dir() -> Path:
    """The vocabulary, prompt templates and icons."""
    return package_path("resources")


def bundled_models_dir() -> Path:
    """Checkpoints shipped with the app: the small demo model, and a real model in an offline installer."""
    return package_path("models")


def user_data_dir() -> Path:
    """Per-user data; `PHOTOSORT_DATA_DIR` overrides it (tests, portable installs)."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_cache_dir() -> Path:
    """What this machine keeps and can make again (a shared library's thumbnails and search index)."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    return Path(override) / "cache" if override else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def app_log_file() -> Path:
    """Where the windowed app, which has no console, writes its errors (one run's worth)."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    folder = Path(override) / "logs" if override else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    return folder / "app.log"


def user_models_dir() -> Path:
    """Where downloaded and imported checkpoints go."""
    return user_data_dir() / "models"


MACHINE_VARIABLE = "PHOTOSORT_MACHINE"  # names this machine apart from the file below (tests, shared libraries)
MACHINE_FILE = "machine-id"


def machine_id() -> str:
    """This machine's name in a library: where it finds a library folder is its own (a drive mounted at another
    place, a NAS seen from two computers). Random, made once and kept in the data folder; the host's name
    where that folder cannot be written."""
    override = os.environ.get(MACHINE_VARIABLE)
    if override:
        return override
    path = user_data_dir() / MACHINE_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    except (OSError, ValueError):
        return socket.gethostname()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        made = path.with_name(f"{MACHINE_FILE}.{os.getpid()}.tmp")
        made.write_text(uuid.uuid4().hex, encoding="ascii")
        try:
            os.link(made, path)  # whole or not at all; of two first runs at once, the first one's stays
        except FileExistsError:
            pass
        finally:
            made.unlink(missing_ok=True)
    except OSError:
        return socket.gethostname()
    return machine_id()
