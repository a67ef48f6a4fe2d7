"""The search bar: results as you type (debounced), and photos dropped on it become "more like this"."""

from __future__ import annotations

import shlex

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLineEdit

from ..app.session import is_image_name
from .drops import accept_without_moving

TYPING_PAUSE_MS = 250  # a query runs once typing pauses this long: one search per thought, not per key


def more_like(path: str) -> str:
    """The query for photos like this one (the query language's example-photo term, quoted for any name)."""
    return "+" + shlex.quote(path)


class SearchBar(QLineEdit):
    queryChanged = Signal(str)  # the settled query; empty: back to browsing

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setPlaceholderText("Search your photos: kids on a beach at sunset, -people, tag:family, "
                                "after:2024-01-01 …  (Ctrl+F)")
        self.setClearButtonEnabled(True)
        self.setAccessibleName("Search")
        self.setAcceptDrops(True)
        self._timer = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._timer.timeout.connect(self._settled)
        self.textEdited.connect(lambda _: self._timer.start())
        self.returnPressed.connect(self._settled)
        self.textChanged.connect(lambda text: None if text else self._settled())  # the clear button

    def _settled(self) -> None:
        self._timer.stop()
        self.queryChanged.emit(self.text().strip())

    def search_for(self, text: str) -> None:
        self.setText(text)
        self._settled()

    def _image_paths(self, event) -> list[str]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        return [url.toLocalFile() for url in urls if url.isLocalFile() and is_image_name(url.toLocalFile())]

    def dragEnterEvent(self, event) -> None:
        if self._image_paths(event):
            accept_without_moving(event)
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if self._image_paths(event):
            accept_without_moving(event)
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        paths = self._image_paths(event)
        if paths:
            if accept_without_moving(event):
                self.search_for(" ".join(more_like(path) for path in paths))
        else:
            super().dropEvent(event)
