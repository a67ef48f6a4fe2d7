"""The preview pane beside the grid, the full-size viewer (Space), and opening or revealing a photo."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..app.session import BrowseRow, PhotoDetails
from ..app.thumbnails import ThumbnailLoader, picture_key, picture_sources

PREVIEW_SIDE = 512
VIEWER_SIDE = 2560  # the viewer decodes at most this size: a 50 MP photo need not be decoded whole


def file_size(size: int) -> str:
    """Bytes as a person reads them: 840 KB, 3.2 MB, 1.05 GB."""
    if size < 1e6:
        return f"{max(size, 1) / 1e3:.0f} KB"
    return f"{size / 1e6:.1f} MB" if size < 1e9 else f"{size / 1e9:.2f} GB"


def describe(row: BrowseRow) -> str:
    taken = datetime.fromtimestamp(row.taken).strftime("%Y-%m-%d %H:%M")
    size = f"{row.width} × {row.height}" if row.width and row.height else "size not read yet"
    return f"{taken} · {size} · {file_size(row.size)}" + ("" if row.online else " · folder offline")


class TagChip(QWidget):
    """One label on the photo: suggested ones can be accepted or rejected with one click."""

    judged = Signal(str, bool)

    def __init__(self, label: str, suggested: bool, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        text = QLabel(f"{label}" + (" (suggested)" if suggested else ""))
        layout.addWidget(text, 1)
        if suggested:
            accept = QToolButton(text="✓", toolTip=f"Yes, this is {label}")
            accept.setAccessibleName(f"accept {label}")
            accept.clicked.connect(lambda: self.judged.emit(label, True))
            layout.addWidget(accept)
        reject = QToolButton(text="✗", toolTip=f"No, this is not {label}")
        reject.setAccessibleName(f"reject {label}")
        reject.clicked.connect(lambda: self.judged.emit(label, False))
        layout.addWidget(reject)


class PreviewPane(QWidget):
    judged = Signal(str, int, str, bool)  # label, photo id, path, accept
    openRequested = Signal(str)  # a path, for the system's viewer
    revealRequested = Signal(str)  # a path, for the file manager

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.thumbnails: Path | None = None
        self.row: BrowseRow | None = None
        self.key: tuple | None = None  # the picture asked for
        layout = QVBoxLayout(self)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(160, 160)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.name = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts = QLabel(wordWrap=True)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Open in the system's viewer (Enter)")
        self.reveal_button = QPushButton("Show in folder")
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.reveal_button)
        self.tags_box = QVBoxLayout()
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.name)
        layout.addWidget(self.facts)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("<b>Tags</b>"))
        layout.addLayout(self.tags_box)
        layout.addStretch()
        self.open_button.clicked.connect(lambda: self.row and self.openRequested.emit(self.row.path))
        self.reveal_button.clicked.connect(lambda: self.row and self.revealRequested.emit(self.row.path))
        loader.loaded.connect(self._arrived)
        self.show_row(None)

    def show_row(self, row: BrowseRow | None) -> None:
        self.row = row
        for button in (self.open_button, self.reveal_button):
            button.setEnabled(row is not None)
        self._clear_tags()
        if row is None:
            self.picture.setText("Select a photo")
            self.name.setText("")
            self.facts.setText("")
            return
        self.name.setText(Path(row.path).name)
        self.name.setToolTip(row.path)
        self.facts.setText(describe(row))
        self.picture.setProperty("full", None)
        self.picture.setText("…")
        self.key = picture_key("preview", row)
        self.loader.request(self.key, picture_sources(row, self.thumbnails, thumbnail_first=False), PREVIEW_SIDE)

    def show_details(self, details: PhotoDetails) -> None:
        if self.row is None or details.id != self.row.id:
            return
        self._clear_tags()
        if not details.tags:
            self.tags_box.addWidget(QLabel("none"))
        for tag in details.tags:
            chip = TagChip(tag.label, tag.suggested)
            chip.judged.connect(lambda label, accept, row=self.row: self.judged.emit(label, row.id, row.path, accept))
            self.tags_box.addWidget(chip)

    def _clear_tags(self) -> None:
        while self.tags_box.count():
            widget = self.tags_box.takeAt(0).widget()
            if widget is not None:
                widget.setParent(None)  # gone from the pane now, not when Qt next deletes what it was asked to
                widget.deleteLater()

    def _arrived(self, key: object, image: QImage) -> None:
        if self.row is not None and key == self.key:
            self.loader.forget(key)  # a 512-pixel picture: shown, not kept
            if image.isNull():
                self.picture.setText("This photo cannot be shown")
            else:
                self._show_image(image)

    def _show_image(self, image: QImage) -> None:
        pixmap = QPixmap.fromImage(image)
        self.picture.setPixmap(pixmap.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))
        self.picture.setProperty("full", pixmap)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        full = self.picture.property("full")
        if isinstance(full, QPixmap) and self.row is not None:
            self.picture.setPixmap(full.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))


class Viewer(QDialog):
    """The photo full-screen; arrows step through the grid, Space or Escape close it."""

    step = Signal(int)

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.setWindowTitle("photosort")
        self.loader = loader
        self.row: BrowseRow | None = None
        self.key: tuple | None = None
        self.full: QPixmap | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.picture)
        self.caption = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.caption)
        for key in (Qt.Key.Key_Space, Qt.Key.Key_Escape):
            QShortcut(QKeySequence(key), self, self.close)
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.step.emit(-1))
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.step.emit(1))
        loader.loaded.connect(self._arrived)

    def show_row(self, row: BrowseRow) -> None:
        self.row, self.full = row, None
        self.setWindowTitle(f"{Path(row.path).name} — photosort")
        self.caption.setText(f"{row.path}   {describe(row)}")
        self.picture.setText("…")
        self.key = picture_key("full", row)
        self.loader.request(self.key, [Path(row.path)], VIEWER_SIDE)

    def _arrived(self, key: object, image: QImage) -> None:
        if self.row is not None and key == self.key:
            self.loader.forget(key)  # full-size pictures are too big to keep around
            if image.isNull():
                self.picture.setText("This photo cannot be shown (is its folder offline?)")
                return
            self.full = QPixmap.fromImage(image)
            self._fit()

    def _fit(self) -> None:
        if self.full is not None:
            self.picture.setPixmap(self.full.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()
