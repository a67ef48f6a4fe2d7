"""The app's own preferences (window layout, device, sort order, the library to open), kept by Qt where each
system keeps them."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from ..core.library import default_library_location, library_location
from ..core.postgres import is_database_uri, without_password
from ..devices import AUTO, known_device
from ..paths import APP_NAME, DATA_DIR_VARIABLE

SETTINGS_FILE = "settings.ini"



class AppSettings:
    def __init__(self, path: Path | None = None):
        # A file of its own where asked, and wherever the data folder is set apart (`PHOTOSORT_DATA_DIR`: tests,
        # a portable install on a USB stick), so nothing of the app is read from or left in the user's own
        # settings; the system's place otherwise.
        path = path or isolated_settings_file()
        self._store = QSettings(str(path), QSettings.Format.IniFormat) if path else QSettings(APP_NAME, APP_NAME)

    @property
    def location(self) -> str:
        return self._store.fileName()

    def _get(self, key: str, default: str) -> str:
        value = self._store.value(key, default)
        return value if isinstance(value, str) else default

    @property
    def device(self) -> str:
        return known_device(self._get("device", AUTO))

    @device.setter
    def device(self, value: str) -> None:
        self._store.setValue("device", value)

    @property
    def library_name(self) -> str:
        """The library the app opens when the command line names none: a folder, or a shared library's
        PostgreSQL URI (kept without a password); "" for the default one."""
        return self._get("library", "")

    def set_library_name(self, value: str) -> bool:
        """Keep `value` as the library; False when it held a password, which is left out."""
        value = value.strip()
        kept = without_password(value) if is_database_uri(value) else value
        self._store.setValue("library", kept)
        return kept == value

    def library_location(self) -> Path | str:
        return library_location(self.library_name) if self.library_name else default_library_location()

    @property
    def order(self) -> str:
        return self._get("order", "date")

    @order.setter
    def order(self, value: str) -> None:
        self._store.setValue("order", value)

    def layout(self, name: str) -> QByteArray | None:
        value = self._store.value(f"layout/{name}")
        return value if isinstance(value, QByteArray) else None

    def set_layout(self, name: str, state: QByteArray) -> None:
        self._store.setValue(f"layout/{name}", state)

    def sync(self) -> None:
        self._store.sync()


def isolated_settings_file() -> Path | None:
    """The settings file inside a data folder set apart by `PHOTOSORT_DATA_DIR`, if one is."""
    folder = os.environ.get(DATA_DIR_VARIABLE)
    return Path(folder).expanduser() / SETTINGS_FILE if folder else None
