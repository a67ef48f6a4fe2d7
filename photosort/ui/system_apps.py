"""Handing a photo to the system: opening it in the system's viewer, showing it in the file manager. Either
can find nobody to answer (no viewer installed, no file manager running); the person is then told, with
where the file is, instead of a click that does nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from ..frozen import outside_environment

# An opener still running after this long has handed the file to an app (some wait until that app closes).
ANSWER_TIMEOUT_S = 5


class SystemApps(QObject):
    failed = Signal(str)  # what could not be done, and where the file is

    def open(self, path: str) -> None:
        """The photo in the system's viewer."""
        if sys.platform.startswith("linux"):
            self._in_background(self._open_on_linux, path)
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
            self._open_failed(path)

    def reveal(self, path: str) -> None:
        """The file selected in the system's file manager (its folder where that cannot be done)."""
        if sys.platform == "darwin":
            started = _started(["open", "-R", path])
        elif sys.platform == "win32":
            started = _started(["explorer", "/select,", str(Path(path))])
        else:
            self._in_background(self._reveal_on_linux, path)
            return
        if not started:
            self._reveal_failed(path)

    # Linux: asked from a thread of its own, as an opener may take seconds to answer.

    def _in_background(self, work, path: str) -> None:
        threading.Thread(target=work, args=(path,), name="system-app", daemon=True).start()

    def _open_on_linux(self, path: str) -> None:
        if not _answered(["xdg-open", path]):
            self._open_failed(path)

    def _reveal_on_linux(self, path: str) -> None:
        # The freedesktop file-manager interface selects the file; where no file manager answers it, the
        # folder is opened.
        uri = QUrl.fromLocalFile(path).toString()
        selected = _answered(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.FileManager1",
                              "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1.ShowItems",
                              f"array:string:{uri}", "string:"])
        if not selected and not _answered(["xdg-open", str(Path(path).parent)]):
            self._reveal_failed(path)

    def _open_failed(self, path: str) -> None:
        self.failed.emit(f"No app on this computer opened {Path(path).name}. The file is at {path}")

    def _reveal_failed(self, path: str) -> None:
        self.failed.emit(f"No file manager answered to show {Path(path).name}. It is in {Path(path).parent}")


def _start(command: list[str]) -> subprocess.Popen:
    # The system's programs get the environment the app was started with, not the installed app's own
    # library and plugin paths (see photosort.frozen).
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=outside_environment())


def _started(command: list[str]) -> bool:
    """Whether a command could be started; it is waited for in the background (explorer's exit code says
    nothing)."""
    try:
        process = _start(command)
    except OSError:
        return False
    threading.Thread(target=process.wait, name="system-app", daemon=True).start()
    return True


def _answered(command: list[str]) -> bool:
    """Whether a command took the request: it ended well, or is still at it after a while (an app it started
    in its place). A command that is not installed, or that ends in failure, did not."""
    try:
        process = _start(command)
    except OSError:
        return False
    try:
        return process.wait(timeout=ANSWER_TIMEOUT_S) == 0
    except subprocess.TimeoutExpired:
        return True
