"""Starting the desktop app: `photosort` with no command."""

from __future__ import annotations

import gc
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..app.session import LibrarySession
from ..app.settings import AppSettings
from ..paths import APP_NAME
from .main_window import MainWindow, app_icon


def build(library_folder: Path | str, settings: AppSettings | None = None, watch: bool = True,
          **window_options) -> tuple[LibrarySession, MainWindow]:
    """The session and its window, the library opening in the background (tests build the same way)."""
    settings = settings or AppSettings()
    session = LibrarySession(library_folder, device=settings.device, watch=watch)
    window = MainWindow(session, settings, **window_options)
    session.open()
    # Python's collector stops every thread while it walks the heap: with Qt's and the app's objects that
    # took 80 ms at a time here, a visible hitch. What exists once the window is built lives as long as the
    # app: set it aside, so collections walk only what came since.
    gc.collect()
    gc.freeze()
    return session, window


SIGNAL_CHECK_MS = 250  # Python runs signal handlers only between its own instructions: look in this often


def _quit_on_signals(app: QApplication, window) -> None:
    """Ctrl+C in the terminal that started the app, or a system shutdown's SIGTERM, closes it as the close
    button does: the layout is saved, the batch in flight commits, the index is written."""
    def close(*_) -> None:
        window.close()
        app.quit()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, close)
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)  # gives Python the chance to run a pending handler
    ticker.start(SIGNAL_CHECK_MS)


def run_app(library_folder: Path | str | None) -> int:
    """The desktop app on a library: the one named (--library), else the one its settings name."""
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName(APP_NAME)
    app.setWindowIcon(app_icon())
    settings = AppSettings()
    session, window = build(library_folder or settings.library_location(), settings)
    window.show()
    _quit_on_signals(app, window)
    try:
        return app.exec()
    finally:
        session.close()  # the batch in flight commits, the index is saved, the model process ends
