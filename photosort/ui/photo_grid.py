"""The photo grid: a list model over plain rows, a delegate that paints thumbnails, and the view.

The model holds light rows (the catalog's `BrowseRow`s, or search hits with their score) and nothing else;
thumbnails come from the `ThumbnailLoader` off the UI thread and the model asks the view to repaint a cell
when its picture arrives. With uniform cell sizes the view lays out 100,000 rows without asking for each.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelection,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QFontMetrics, QImage, QPainter, QPalette, QPixmap, QRegion
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from ..app.session import BrowseRow
from ..app.thumbnails import ThumbnailLoader, picture_key, picture_sources

THUMBNAIL_SIDE = 160  # the cell's picture; the library's thumbnails are 256 px, so they are only scaled down
CELL = QSize(THUMBNAIL_SIDE + 16, THUMBNAIL_SIDE + 40)

PIXMAP_CACHE = 1000  # thumbnails kept ready to paint: many screens of scrolling back, at most ~100 MB
CAPTION_CACHE = 20_000  # shortened file names kept for painting
SMALL_CHANGE = 200  # rows added or removed at once that are reported one run at a time (an import's arrivals)

CELL_PICTURE = "cell"  # the grid's thumbnails, among the loader's other pictures

# Custom roles: what the rest of the UI reads off an index.
RowRole = Qt.ItemDataRole.UserRole + 1
ScoreRole = Qt.ItemDataRole.UserRole + 2
RelevantRole = Qt.ItemDataRole.UserRole + 3


Score = tuple[float, bool]  # a search's score for a photo, and whether it stands out


class PhotoListModel(QAbstractListModel):
    def __init__(self, loader: ThumbnailLoader, thumbnails: Path | None = None, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.thumbnails = thumbnails  # the library's thumbnail folder
        self.rows: list[BrowseRow] = []
        self.scores: dict[int, Score] = {}  # by photo id, while showing search results
        self._ids = np.zeros(0, np.int64)  # the rows' photo ids, in order
        self._pixmaps: OrderedDict[tuple, QPixmap] = OrderedDict()  # what was painted lately, newest last
        # Photos whose picture could not be read: not asked for again at every repaint, only once the
        # contents change (an indexing pass may have written their thumbnails since).
        self._unreadable: set[tuple] = set()
        self._waiting: dict[tuple, set[int]] = {}  # pictures asked for: the photos (by id) that show each
        loader.loaded.connect(self._picture_arrived)

    # Qt's model interface

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(row.path).name
        if role == RowRole:
            return row
        if role == Qt.ItemDataRole.DecorationRole:
            return self.picture(row)
        score = self.scores.get(row.id)
        if role == ScoreRole:
            return None if score is None else score[0]
        if role == RelevantRole:
            return True if score is None else score[1]
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = row.path
            if score is not None:
                tip += f"\nmatch {score[0]:.3f}" + ("" if score[1] else " (weak)")
            return tip + ("" if row.online else "\nits folder is offline")
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes) -> QMimeData:
        """Photos dragged out of the grid are their files: onto the search bar, or into another app."""
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(self.rows[index.row()].path) for index in indexes])
        return mime

    # Thumbnails

    def picture(self, row: BrowseRow) -> QPixmap | None:
        key = picture_key(CELL_PICTURE, row)
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return pixmap
        image = self.loader.cached(key)
        if image is not None:
            pixmap = QPixmap.fromImage(image)
            self.loader.forget(key)  # kept here from now on, as a pixmap
            self._pixmaps[key] = pixmap
            while len(self._pixmaps) > PIXMAP_CACHE:
                self._pixmaps.popitem(last=False)
            return pixmap
        if key in self._unreadable:
            return None
        self._waiting.setdefault(key, set()).add(row.id)
        self.loader.request(key, picture_sources(row, self.thumbnails, thumbnail_first=True), THUMBNAIL_SIDE)
        return None

    def _picture_arrived(self, key: object, image: QImage) -> None:
        photos = self._waiting.pop(key, None) if isinstance(key, tuple) else None
        if photos is None:
            return  # another view's picture
        if image.isNull():
            self._unreadable.add(key)
            return
        for photo_id in photos:  # each cell showing it (copies share a picture), if it is still listed
            row = self.row_of(photo_id)
            if row is not None:
                index = self.index(row)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    # Contents

    def set_rows(self, rows: list[BrowseRow], scores: dict[int, Score] | None = None,
                 ids: np.ndarray | None = None) -> bool:
        """New contents (`ids`: the rows' ids, when the caller has them already). Rows that stay keep their
        cells, and the view its selection: a few removals and insertions are reported as such, so a photo
        arriving during an import does not reset the grid. The comparison runs in numpy: a few milliseconds
        for 100,000 photos. Whether the model was reset (the photos are others, or in another order)."""
        self.scores = scores or {}
        self._unreadable.clear()
        new_ids = np.fromiter((row.id for row in rows), np.int64, len(rows)) if ids is None else ids
        old_ids = self._ids
        if np.array_equal(old_ids, new_ids):
            self.rows = rows
            if rows:
                self.dataChanged.emit(self.index(0), self.index(len(rows) - 1))
            return False
        staying = np.isin(old_ids, new_ids)  # [old]
        arriving = ~np.isin(new_ids, old_ids)  # [new]
        changed = int(len(staying) - staying.sum() + arriving.sum())
        if changed > max(SMALL_CHANGE, len(old_ids) // 4) or \
                not np.array_equal(old_ids[staying], new_ids[~arriving]):
            # Browsing to a search and back, a new sort order: one reset costs the view one layout, where
            # thousands of scattered removals and insertions would cost it one each.
            self.beginResetModel()
            self.rows, self._ids = rows, new_ids
            self._waiting.clear()  # requests dropped unserved (scrolled past) are forgotten; what shows asks again
            self.endResetModel()
            return True
        for start, end in reversed(_runs(~staying)):  # removals, bottom up
            self.beginRemoveRows(QModelIndex(), start, end - 1)
            del self.rows[start:end]
            self._ids = np.delete(self._ids, np.s_[start:end])
            self.endRemoveRows()
        for start, end in _runs(arriving):  # insertions, top down: positions in the new order
            self.beginInsertRows(QModelIndex(), start, end - 1)
            self.rows[start:start] = rows[start:end]
            self._ids = np.insert(self._ids, start, new_ids[start:end])
            self.endInsertRows()
        self.rows = rows  # the same photos now, in their newest state (a size or date read since)
        if rows:
            self.dataChanged.emit(self.index(0), self.index(len(rows) - 1))
        return False

    def row_of(self, photo_id: int) -> int | None:
        found = np.flatnonzero(self._ids == photo_id)
        return int(found[0]) if len(found) else None


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


class PhotoDelegate(QStyledItemDelegate):
    """A thumbnail centred in its cell, the file name under it, and a search's score when there is one.

    It reads the model's rows directly: each `index.data()` is a round trip through Qt, and painting a
    screen of cells while photos are indexed must take as little of the interpreter as it can."""

    def __init__(self, model: PhotoListModel, parent=None):
        super().__init__(parent)
        self.model = model
        self._captions: dict[tuple, str] = {}

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:
        return CELL

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        self.paint_cell(painter, option.rect, index.row(), bool(option.state & QStyle.StateFlag.State_Selected),
                        option.palette, option.fontMetrics)

    def paint_cell(self, painter: QPainter, cell: QRect, number: int, selected: bool, palette: QPalette,
                   metrics: QFontMetrics) -> None:
        if number >= len(self.model.rows):
            return
        row = self.model.rows[number]
        rect = cell.adjusted(4, 4, -4, -4)
        painter.save()
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        picture_box = QRect(rect.left() + 4, rect.top() + 4, rect.width() - 8, THUMBNAIL_SIDE)
        pixmap = self.model.picture(row)
        if pixmap is not None:
            size = pixmap.size().scaled(picture_box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(picture_box.center())
            if not row.online:
                painter.setOpacity(0.45)  # its folder is offline: shown from the library's thumbnail
            painter.drawPixmap(target, pixmap)
            painter.setOpacity(1.0)
        else:
            placeholder = palette.color(QPalette.ColorRole.Mid)
            placeholder.setAlpha(60)
            painter.fillRect(picture_box.adjusted(20, 20, -20, -20), placeholder)
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.setPen(palette.color(text_role))
        text_box = QRect(rect.left() + 2, picture_box.bottom() + 4, rect.width() - 4,
                         rect.bottom() - picture_box.bottom() - 4)
        score = self.model.scores.get(row.id)
        if score is not None and not score[1]:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(text_box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         self._caption(row, score, metrics, text_box.width()))
        painter.restore()

    def _caption(self, row: BrowseRow, score, metrics, width: int) -> str:
        """The file name (after the score, in a search), shortened to fit; measured once per cell."""
        key = (row.id, row.path, score, width)
        caption = self._captions.get(key)
        if caption is None:
            name = Path(row.path).name
            if score is not None:
                name = f"{score[0]:.2f}{'' if score[1] else ' weak'} · {name}"
            caption = metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width)
            if len(self._captions) > CAPTION_CACHE:
                self._captions.clear()
            self._captions[key] = caption
        return caption


class GridGeometry:
    """Where every cell of the grid lies, for a viewport `width` wide: the one source the painting, the clicks,
    the keyboard and the scroll range all read. Columns of at least a cell's width fill the whole width, the
    spare pixels shared among them, so the grid ends at the window's edge."""

    def __init__(self, width: int, count: int):
        self.columns = max(1, width // CELL.width())
        self.cell_width = max(CELL.width(), width // self.columns)
        self.count = count
        self.lines = -(-count // self.columns)
        self.height = self.lines * CELL.height()

    def cell(self, number: int) -> QRect:
        """The cell of photo `number`, in the grid's own coordinates (0, 0 the top left of the first line)."""
        line, column = divmod(number, self.columns)
        return QRect(column * self.cell_width, line * CELL.height(), self.cell_width, CELL.height())

    def number_at(self, x: int, y: int) -> int | None:
        if x < 0 or y < 0:
            return None
        column, line = x // self.cell_width, y // CELL.height()
        number = line * self.columns + column
        return number if column < self.columns and number < self.count else None

    def numbers_in(self, area: QRect) -> list[tuple[int, int]]:
        """(first, last) photo numbers of each line's part of `area` (grid coordinates)."""
        first_column = max(0, area.left() // self.cell_width)
        last_column = min(self.columns - 1, area.right() // self.cell_width)
        spans = []
        for line in range(max(0, area.top() // CELL.height()), min(self.lines - 1, area.bottom() // CELL.height()) + 1):
            first, last = line * self.columns + first_column, min(line * self.columns + last_column, self.count - 1)
            if first_column <= last_column and first <= last:
                spans.append((first, last))
        return spans


class PhotoGrid(QAbstractItemView):
    """The grid view. Space opens the viewer, Delete asks to move the selection to the trash, Enter opens
    the photo in the system's viewer; arrows move as in any grid.

    Every cell has the same size, so where each lies is arithmetic (`GridGeometry`): laying out 100,000
    photos costs nothing, and what is painted at a place is what a click there selects."""

    viewRequested = Signal()
    trashRequested = Signal()
    openRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setAccessibleName("Photos")

    def setModel(self, model) -> None:
        super().setModel(model)
        self.setItemDelegate(PhotoDelegate(model, self))
        for change in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.layoutChanged):
            change.connect(self._contents_changed)

    def _contents_changed(self, *_) -> None:
        self.updateGeometries()
        self.viewport().update()

    # Geometry: QAbstractItemView's questions, all answered by GridGeometry

    def geometry_now(self) -> GridGeometry:
        model = self.model()
        return GridGeometry(self.viewport().width(), model.rowCount() if model is not None else 0)

    def updateGeometries(self) -> None:
        geometry = self.geometry_now()
        bar = self.verticalScrollBar()
        bar.setSingleStep(CELL.height() // 4)
        bar.setPageStep(max(self.viewport().height(), 1))
        bar.setRange(0, max(0, geometry.height - self.viewport().height()))
        super().updateGeometries()

    def horizontalOffset(self) -> int:
        return 0

    def verticalOffset(self) -> int:
        return self.verticalScrollBar().value()

    def visualRect(self, index) -> QRect:
        if not index.isValid():
            return QRect()
        return self.geometry_now().cell(index.row()).translated(0, -self.verticalOffset())

    def indexAt(self, point) -> QModelIndex:
        number = self.geometry_now().number_at(point.x(), point.y() + self.verticalOffset())
        return self.model().index(number, 0) if number is not None else QModelIndex()

    def isIndexHidden(self, index) -> bool:
        return False

    def scrollTo(self, index, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        if not index.isValid():
            return
        cell = self.geometry_now().cell(index.row())
        bar, height = self.verticalScrollBar(), self.viewport().height()
        if hint == QAbstractItemView.ScrollHint.PositionAtTop:
            bar.setValue(cell.top())
        elif hint == QAbstractItemView.ScrollHint.PositionAtBottom:
            bar.setValue(cell.bottom() + 1 - height)
        elif hint == QAbstractItemView.ScrollHint.PositionAtCenter:
            bar.setValue(cell.center().y() - height // 2)
        elif cell.top() < bar.value():
            bar.setValue(cell.top())
        elif cell.bottom() + 1 > bar.value() + height:
            bar.setValue(cell.bottom() + 1 - height)

    def moveCursor(self, action, modifiers) -> QModelIndex:
        model = self.model()
        count = model.rowCount()
        if not count:
            return QModelIndex()
        geometry = self.geometry_now()
        current = self.currentIndex().row() if self.currentIndex().isValid() else 0
        lines_a_page = max(1, self.viewport().height() // CELL.height())
        moves = QAbstractItemView.CursorAction
        target = {
            moves.MoveLeft: current - 1, moves.MovePrevious: current - 1,
            moves.MoveRight: current + 1, moves.MoveNext: current + 1,
            moves.MoveUp: current - geometry.columns, moves.MoveDown: current + geometry.columns,
            moves.MovePageUp: current - lines_a_page * geometry.columns,
            moves.MovePageDown: current + lines_a_page * geometry.columns,
            moves.MoveHome: 0, moves.MoveEnd: count - 1,
        }.get(action, current)
        if action in (moves.MoveUp, moves.MovePageUp) and target < 0:
            target = current % geometry.columns  # the top line, same column
        if action in (moves.MoveDown, moves.MovePageDown) and target >= count:
            target = count - 1
        return model.index(min(max(target, 0), count - 1), 0)

    def setSelection(self, rect: QRect, command) -> None:
        """What a click or a drag across cells selects: the cells under `rect` (viewport coordinates)."""
        area = rect.normalized().translated(0, self.verticalOffset())
        model = self.model()
        selection = QItemSelection()
        for first, last in self.geometry_now().numbers_in(area):
            selection.select(model.index(first, 0), model.index(last, 0))
        self.selectionModel().select(selection, command)

    def visualRegionForSelection(self, selection) -> QRegion:
        # The painting is one pass over what is visible: repainting the whole viewport costs no more.
        return QRegion(self.viewport().rect()) if not selection.isEmpty() else QRegion()

    def paintEvent(self, event) -> None:
        """Every visible cell in one pass. Qt's own painting calls into Python once per cell, and each call
        waits its turn for the interpreter while photos are being indexed; one call waits once."""
        model, delegate = self.model(), self.itemDelegate()
        if not isinstance(delegate, PhotoDelegate) or not model.rowCount():
            return
        painter = QPainter(self.viewport())
        geometry = self.geometry_now()
        top = self.verticalOffset()
        current = self.currentIndex().row()
        selection = self.selectionModel()
        palette, metrics = self.palette(), self.fontMetrics()
        for first, last in geometry.numbers_in(event.rect().translated(0, top)):
            for number in range(first, last + 1):
                cell = geometry.cell(number).translated(0, -top)
                delegate.paint_cell(painter, cell, number, selection.isRowSelected(number), palette, metrics)
                if number == current and self.hasFocus():
                    painter.setPen(palette.color(QPalette.ColorRole.Highlight))
                    painter.drawRect(cell.adjusted(2, 2, -3, -3))
        painter.end()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.updateGeometries()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            self.viewRequested.emit()
        elif key == Qt.Key.Key_Delete:
            self.trashRequested.emit()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.openRequested.emit()
        else:
            super().keyPressEvent(event)

    def selected_rows(self) -> list[BrowseRow]:
        rows = sorted(index.row() for index in self.selectionModel().selectedIndexes())
        return [self.model().index(row).data(RowRole) for row in rows]

    def current_row(self) -> BrowseRow | None:
        index = self.currentIndex()
        return index.data(RowRole) if index.isValid() else None
