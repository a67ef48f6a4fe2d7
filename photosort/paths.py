"""Where photosort finds its own files and keeps the user's data.

Plain Python with no Qt or torch, so every layer may use it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "photosort"


DATA_DIR_VARIABLE = "PHOTOSORT_DATA_DIR"  # a data folder set apart: the library, models and settings


def app_root() -> Path:
    """The folder holding `resources/` and `models/`: the unpacked bundle when frozen, else the checkout."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return app_root() / "resources"


def bundled_models_dir() -> Path:
    """Checkpoints shipped with the app (the small demo model)."""
    return app_root() / "models"


def user_data_dir() -> Path:
    """Per-user data; `PHOTOSORT_DATA_DIR` overrides it (tests, portable installs)."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_models_dir() -> Path:
    """Where downloaded and imported checkpoints go."""
    return user_data_dir() / "models"
