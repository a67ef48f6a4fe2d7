"""The sidebar: the library's folders (add, remove, rescan, protect; offline ones marked) and its labels."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..app.session import FolderState, LabelState
from .dialogs import ask

ALL_PHOTOS = "All photos"
PathRole = Qt.ItemDataRole.UserRole + 1
LabelRole = Qt.ItemDataRole.UserRole + 2


class FolderList(QWidget):
    """'All photos' and each folder; clicking one shows its photos."""

    chosen = Signal(object)  # a folder's Path, or None for all photos
    clicked = Signal(object)  # the same, at every click: one on the folder already chosen means "back to it"
    addRequested = Signal()
    removeRequested = Signal(object)
    rescanRequested = Signal()
    referenceToggled = Signal(object, bool)
    duplicatesRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        header.addWidget(QLabel("<b>Library</b>"), 1)
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self.addRequested)
        header.addWidget(self.add_button)
        layout.addLayout(header)
        self.list = QListWidget()
        self.list.setAccessibleName("Folders")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.itemClicked.connect(lambda item: self.clicked.emit(item.data(PathRole)))
        layout.addWidget(self.list)
        self.duplicates_button = QPushButton("Find duplicates")
        self.duplicates_button.clicked.connect(self.duplicatesRequested)
        layout.addWidget(self.duplicates_button)
        self.folders: list[FolderState] = []
        self.set_folders([])

    def set_folders(self, folders: list[FolderState]) -> None:
        current, chosen = self.current_folder(), self.list.currentRow() >= 0
        self.folders = folders
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItem(QListWidgetItem(ALL_PHOTOS))
        for folder in folders:
            marks = ([] if folder.online else ["offline"]) + (["reference"] if folder.reference else [])
            item = QListWidgetItem(folder.path.name or str(folder.path))
            item.setText(item.text() + (f"  ({', '.join(marks)})" if marks else ""))
            item.setToolTip(str(folder.path) + ("\nOffline: its photos are kept until it returns." if not folder.online
                                                else "") + ("\nReference: duplicates here are never moved." if
                                                            folder.reference else ""))
            item.setData(PathRole, folder.path)
            if not folder.online:
                item.setForeground(self.palette().placeholderText())
            self.list.addItem(item)
        self.list.blockSignals(False)
        if chosen or self.list.count() == 1:
            self.select(current)

    def clear_choice(self) -> None:
        """No folder highlighted: the view is a label's, across the whole library."""
        self.list.blockSignals(True)
        self.list.setCurrentRow(-1)
        self.list.clearSelection()
        self.list.blockSignals(False)

    def select(self, folder: Path | None) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(PathRole) == folder:
                self.list.blockSignals(True)
                self.list.setCurrentRow(row)
                self.list.blockSignals(False)
                return

    def current_folder(self) -> Path | None:
        item = self.list.currentItem()
        return item.data(PathRole) if item is not None else None

    def _current_changed(self, item: QListWidgetItem | None, _previous) -> None:
        self.chosen.emit(item.data(PathRole) if item is not None else None)

    def _menu(self, position) -> None:
        item = self.list.itemAt(position)
        path = item.data(PathRole) if item is not None else None
        menu = QMenu(self)
        menu.addAction("Add folder…", self.addRequested)
        menu.addAction("Rescan folders", self.rescanRequested)
        if path is not None:
            state = next((folder for folder in self.folders if folder.path == path), None)
            protect = QAction("Reference folder (never move its photos)", menu, checkable=True)
            protect.setChecked(bool(state and state.reference))
            protect.toggled.connect(lambda on: self.referenceToggled.emit(path, on))
            menu.addAction(protect)
            menu.addSeparator()
            menu.addAction("Remove from library…", lambda: self._confirm_remove(path))
        menu.exec(self.list.viewport().mapToGlobal(position))

    def _confirm_remove(self, path: Path) -> None:
        if ask(self, "Remove folder", f"Remove {path} from the library?\n\nThe photos stay on disk; the library "
               "forgets them and their tags."):
            self.removeRequested.emit(path)


class LabelList(QWidget):
    """The labels with how many photos each is on; create, edit, remove, run auto-tagging, filter by one."""

    chosen = Signal(object)  # a label's name, or None
    saveRequested = Signal(str, list, object)  # name, prompts, previous name (None: a new label)
    removeRequested = Signal(str)
    retagRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Tags</b>"))
        self.list = QListWidget()
        self.list.setAccessibleName("Labels")
        self.list.itemClicked.connect(self._clicked)
        self.list.itemDoubleClicked.connect(lambda item: self.edit(item.data(LabelRole)))
        layout.addWidget(self.list)
        buttons = QGridLayout()  # two by two: the sidebar stays narrow
        self.new_button = QPushButton("New…")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        self.retag_button = QPushButton("Tag photos")
        self.retag_button.setToolTip("Decide every label again for every photo")
        for number, button in enumerate((self.new_button, self.edit_button, self.remove_button, self.retag_button)):
            buttons.addWidget(button, *divmod(number, 2))
        layout.addLayout(buttons)
        self.new_button.clicked.connect(lambda: self.edit(None))
        self.edit_button.clicked.connect(lambda: self.edit(self.current_label()))
        self.remove_button.clicked.connect(self._remove)
        self.retag_button.clicked.connect(self._retag)
        self.labels: dict[str, LabelState] = {}
        self._filter: str | None = None
        self.set_labels([])

    def set_labels(self, labels: list[LabelState], shown: str | None = None) -> None:
        """The labels, with `shown` (the label whose photos are on screen) highlighted."""
        self.labels = {label.name: label for label in labels}
        self._filter = shown if shown in self.labels else None
        self.list.blockSignals(True)
        self.list.clear()
        for label in labels:
            item = QListWidgetItem(f"{label.name}  ({label.photos:,})")
            item.setData(LabelRole, label.name)
            item.setToolTip("; ".join(label.prompts))
            self.list.addItem(item)
            if label.name == self._filter:
                self.list.setCurrentItem(item)  # highlighted, and what Edit and Remove act on
        if not labels:
            hint = QListWidgetItem("No labels yet")
            hint.setToolTip("New… makes one: a name, and what it looks like in words")
            hint.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(hint)
        self.list.blockSignals(False)
        self.retag_button.setText("Tag photos")
        self._enable()

    def current_label(self) -> str | None:
        """The label highlighted: the one Edit and Remove act on."""
        chosen = self.list.selectedItems()
        return chosen[0].data(LabelRole) if chosen else None

    def _enable(self) -> None:
        chosen = self.current_label() is not None
        self.edit_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)
        self.retag_button.setEnabled(bool(self.labels) and self.retag_button.text() == "Tag photos")

    def _retag(self) -> None:
        """Busy until the labels come back decided (`set_labels`): the click is seen to do something."""
        self.retag_button.setText("Tagging…")
        self.retag_button.setEnabled(False)
        self.retagRequested.emit()

    def _clicked(self, item: QListWidgetItem) -> None:
        name = item.data(LabelRole)
        if name is None:
            return
        self._filter = None if name == self._filter else name  # a second click shows all photos again
        if self._filter is None:
            self.list.clearSelection()
        self._enable()
        self.chosen.emit(self._filter)

    def clear_filter(self) -> None:
        self._filter = None
        self.list.clearSelection()
        self._enable()

    def edit(self, name: str | None) -> None:
        state = self.labels.get(name) if name else None
        dialog = LabelDialog(state, set(self.labels) - {name}, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.saveRequested.emit(dialog.name(), dialog.prompts(), name)

    def _remove(self) -> None:
        name = self.current_label()
        if name and ask(self, "Remove label", f"Remove the label “{name}” from every photo?"):
            self.removeRequested.emit(name)


class LabelDialog(QDialog):
    """A label: its name, and what it looks like in words (a prompt a line)."""

    def __init__(self, state: LabelState | None, taken: set[str], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Edit label" if state else "New label")
        self.taken = taken
        form = QFormLayout(self)
        self.name_edit = QLineEdit(state.name if state else "")
        self.name_edit.setPlaceholderText("beach")
        self.prompts_edit = QPlainTextEdit("\n".join(state.prompts) if state else "")
        self.prompts_edit.setTabChangesFocus(True)  # Tab goes on to the buttons; Enter makes a new line
        self.prompts_edit.setPlaceholderText("a sandy beach by the sea\npeople swimming in the sea\n"
                                             "(one description a line; empty: the name itself)")
        self.problem = QLabel()
        form.addRow("Name", self.name_edit)
        form.addRow("Looks like", self.prompts_edit)
        form.addRow(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.name_edit.textChanged.connect(self._check)
        self._check()

    def name(self) -> str:
        return self.name_edit.text().strip()

    def prompts(self) -> list[str]:
        return [line.strip() for line in self.prompts_edit.toPlainText().splitlines() if line.strip()]

    def _check(self) -> None:
        name = self.name()
        problem = "" if name else "A label needs a name."
        if name in self.taken:
            problem = f"There is a label “{name}” already."
        self.problem.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
