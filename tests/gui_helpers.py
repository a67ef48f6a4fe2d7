"""Building the desktop app in a test: its own library, settings and data folder, and waiting on it."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from photosort.app.settings import AppSettings
from photosort.core.library import Library
from photosort.ui.app import build
from tests.library_helpers import TINY_MODEL

INDEXING_TIMEOUT_MS = 120_000


def library_with_tiny_model(folder: Path) -> Path:
    """A new library that already uses the bundled demo model (so no first-run dialog)."""
    with Library(folder) as library:
        library.set_model(str(TINY_MODEL))
    return folder


def open_app(qtbot, tmp_path: Path, library: Path | None = None, **options):
    """The session and its shown window over `library` (a new, model-less one by default)."""
    library = library or tmp_path / "library"
    settings = AppSettings(tmp_path / "settings.ini")
    session, window = build(library, settings, **options)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: session.library is not None, timeout=30_000)
    return session, window


def close_app(session, window) -> None:
    window.close()
    session.close()


FILE_MANAGER_ACTIONS = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction | Qt.DropAction.LinkAction


def drop_urls(widget, paths: list[Path], actions=FILE_MANAGER_ACTIONS,
              modifiers=Qt.KeyboardModifier.ShiftModifier, expect_accepted: bool = True) -> QDropEvent:
    """Drop files or folders on a widget as a file manager does: enter, move, then drop, offering a copy, a
    move or a link, and proposing a move (Shift held, or a drag within one disk)."""
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    buttons = Qt.MouseButton.LeftButton
    enter = QDragEnterEvent(centre, actions, mime, buttons, modifiers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted() == expect_accepted, "the widget refused the drag" if expect_accepted else \
        "the widget took a drag that could only move the files"
    if not expect_accepted:
        return enter
    QApplication.sendEvent(widget, QDragMoveEvent(centre, actions, mime, buttons, modifiers))
    drop = QDropEvent(QPointF(centre), actions, mime, buttons, modifiers)
    QApplication.sendEvent(widget, drop)
    assert drop.dropAction() != Qt.DropAction.MoveAction, "a drop accepted as a move: the originals may go"
    return drop


def indexed(window, photos: int) -> bool:
    """Whether the grid lists `photos` photos and an indexing pass ended with nothing left to encode. (Read off
    the session's reports, never by asking the library: that would make the caller itself block the UI.)"""
    last = window.session.last_pass
    return window.model.rowCount() == photos and window.indexing_status.state.phase == "idle" and \
        last is not None and last.done == last.total


def wait_until_indexed(qtbot, window, photos: int) -> None:
    qtbot.waitUntil(lambda: indexed(window, photos), timeout=INDEXING_TIMEOUT_MS)


def click_cell(qtbot, window, row: int, button=Qt.MouseButton.LeftButton) -> None:
    """Click the photo at `row` of the grid where it is painted, scrolling it into view first as a person
    would."""
    grid = window.grid
    index = window.model.index(row)
    grid.scrollTo(index)
    qtbot.mouseClick(grid.viewport(), button, Qt.KeyboardModifier.NoModifier, grid.visualRect(index).center())
    assert grid.currentIndex().row() == row


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
