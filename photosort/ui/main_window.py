"""The main window: sidebar (folders, tags), the grid or the duplicates view, the preview pane, the search bar,
and the indexing status. Widgets only: every piece of work goes through `LibrarySession`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..app.models import ModelService, installed_choice, recommended_model
from ..app.session import (
    SEARCH_PAGE,
    FolderState,
    IndexingState,
    LibrarySession,
    LibraryTotals,
    SearchHit,
    TrashReport,
    View,
)
from ..app.settings import AppSettings
from ..app.thumbnails import ThumbnailLoader
from ..build_info import gpu_build_advice
from ..paths import resources_dir
from .drops import accept_without_moving
from .dialogs import FailuresDialog, ModelDialog, SettingsDialog, ask
from .duplicates_view import DuplicatesView
from .photo_grid import PhotoGrid, PhotoListModel
from .preview import PreviewPane, Viewer, file_size
from .search_bar import SearchBar, more_like
from .sidebar import FolderList, LabelList
from .system_apps import SystemApps
from .words import plural

WELCOME, GRID, DUPLICATES = range(3)
FIRST_SIZE = QSize(1400, 900)
BUSY_TEXT = "paused · indexing 100,000 of 100,000 · 999.9 photos/s · 59 min left"  # the longest progress line
SCREEN_SHARE = 0.9  # of the screen's free area, at most, for the first window
ICON = "icons/photosort.svg"
GPU_ADVICE_MS = 30_000  # long enough to read and note the address (it is in Settings too)


def app_icon() -> QIcon:
    return QIcon(str(resources_dir() / ICON))


def model_label(model: str) -> str:
    """A model's name as a person reads it: a checkpoint file by its name, not its whole path."""
    path = Path(model)
    return path.stem if path.suffix in (".pt", ".pth", ".bin", ".safetensors") else model


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 90:
        return f"{seconds:.0f} s left"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min left"
    return f"{seconds / 3600:.1f} h left"


class Welcome(QWidget):
    """First run (or an empty library): what to do, in one sentence, and the button to do it."""

    def __init__(self, add_folder, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch()
        title = QLabel("<h1>Welcome to photosort</h1>", alignment=Qt.AlignmentFlag.AlignCenter)
        text = QLabel("Drag your photo folders onto this window, or add one with the button below.<br>"
                      "photosort looks at every photo in the folders you add, so that you can find them by "
                      "describing them — <i>kids on a beach at sunset</i> — tag them with your own labels, and clear "
                      "out duplicates. Your photos are never changed or uploaded.",
                      alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        text.setMaximumWidth(640)
        button = QPushButton("Add folder…")
        button.setAccessibleName("Add folder")
        button.clicked.connect(add_folder)
        layout.addWidget(title)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(text)
        row.addStretch()
        layout.addLayout(row)
        button_row = QHBoxLayout()
        button_row.addStretch()
        button_row.addWidget(button)
        button_row.addStretch()
        layout.addLayout(button_row)
        layout.addStretch()


class IndexingStatus(QWidget):
    """Status bar: the library's totals ("5,000 photos · 4,990 indexed · 10 unreadable"), or while indexing
    "indexing 1,234 of 5,000 · 45 photos/s · 2 min left" with a bar and pause/resume."""

    def __init__(self, session: LibrarySession, parent=None):
        super().__init__(parent)
        self.session = session
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self._busy_width = self._width_of(BUSY_TEXT)  # measured once, not at every progress report
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(200)
        self.bar.setTextVisible(False)
        self.pause_button = QToolButton(text="Pause")
        self.pause_button.clicked.connect(self._toggle)
        self.failures_button = QToolButton()
        self.failures_button.setVisible(False)
        self.failures_button.clicked.connect(session.list_failures)
        for widget in (self.label, self.bar, self.pause_button, self.failures_button):
            layout.addWidget(widget)
        self.totals: LibraryTotals | None = None
        self.show_state(IndexingState("idle"))

    def _toggle(self) -> None:
        if self.session.paused:
            self.session.resume()
        else:
            self.session.pause()

    def show_state(self, state: IndexingState) -> None:
        self.state = state
        busy = state.phase != "idle"
        if self.bar.isVisibleTo(self) != busy:
            self.bar.setVisible(busy)
            self.pause_button.setVisible(busy)
        self.pause_button.setText("Resume" if state.paused else "Pause")
        # A width of its own while indexing: a label that grew with its text would lay the whole window out
        # again at every progress report. Otherwise as wide as the totals, leaving the status bar's messages room.
        self._fit(self._busy_width if busy else self._width_of(describe_totals(self.totals)))
        if state.phase == "indexing":
            self.bar.setRange(0, max(state.total, 1))
            self.bar.setValue(state.done)
            parts = [f"indexing {state.done:,} of {state.total:,}"]
            if not state.paused:  # no speed and no time left while nothing moves
                parts += [f"{state.rate:.1f} photos/s", format_duration(state.seconds_left)]
            self.label.setText(("paused · " if state.paused else "") + " · ".join(part for part in parts if part))
        elif busy:
            self.bar.setRange(0, 0)
            self.label.setText(("paused · " if state.paused else "") + state.phase + "…")
        else:
            self.label.setText(describe_totals(self.totals))

    def show_totals(self, totals: LibraryTotals) -> None:
        self.totals = totals
        if self.state.phase == "idle":
            self._fit(self._width_of(describe_totals(totals)))
            self.label.setText(describe_totals(totals))
        self.failures_button.setText(f"{totals.unreadable:,} could not be read")
        self.failures_button.setVisible(totals.unreadable > 0)


    def _width_of(self, text: str) -> int:
        return self.label.fontMetrics().horizontalAdvance(text) + 8

    def _fit(self, width: int) -> None:
        if width != self.label.width():
            self.label.setFixedWidth(width)


def describe_totals(totals: LibraryTotals | None) -> str:
    """'5,000 photos · 4,990 indexed · 10 unreadable · 120 offline', the parts that are not zero."""
    if totals is None:
        return ""
    parts = [plural(totals.photos, "photo", "photos"), f"{totals.indexed:,} indexed"]
    parts += [f"{totals.unreadable:,} unreadable"] if totals.unreadable else []
    parts += [f"{totals.offline:,} offline"] if totals.offline else []
    return " · ".join(parts)


class MainWindow(QMainWindow):
    def __init__(self, session: LibrarySession, settings: AppSettings, models: ModelService | None = None,
                 recommended=None):
        super().__init__()
        self.session, self.settings = session, settings
        self.models = models or ModelService(self)
        self.recommended = recommended or recommended_model()
        self.setWindowTitle("photosort")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.folders: list[FolderState] = []
        self.results: list[SearchHit] | None = None
        self.show_weak = False
        self.query = ""
        self.search_limit = SEARCH_PAGE
        self.paging = False  # the search running is the next page of the one on screen
        self.search_folder: Path | None = None  # the folder the results on screen were searched in
        self.model_dialog: ModelDialog | None = None
        self.pending_folders: list[Path] = []
        self.switching_to: str | None = None  # a model being downloaded for the library to switch to

        self.system_apps = SystemApps(self)
        self.loader = ThumbnailLoader(self)
        self.model = PhotoListModel(self.loader, parent=self)
        self.grid = PhotoGrid()
        self.grid.setModel(self.model)
        self.preview = PreviewPane(self.loader)
        self.viewer = Viewer(self.loader, self)
        self.duplicates = DuplicatesView(self.loader)
        self.folder_list = FolderList()
        self.label_list = LabelList()
        self.search_bar = SearchBar()
        self.order_box = QComboBox()
        self.order_box.addItem("Newest first", "date")
        self.order_box.addItem("By name", "name")
        self.order_box.setCurrentIndex(max(self.order_box.findData(settings.order), 0))
        self._build_layout()
        self._connect()
        self._restore_layout()
        session.view = View(order=self.order_box.currentData())

    # Layout

    def _build_layout(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        add = QAction("Add folder…", self)
        add.triggered.connect(self.add_folder_dialog)
        toolbar.addAction(add)
        toolbar.addWidget(self.search_bar)
        toolbar.addWidget(self.order_box)
        settings = QAction("Settings…", self)
        settings.triggered.connect(self.open_settings)
        toolbar.addAction(settings)
        self.addToolBar(toolbar)

        sidebar = QSplitter(Qt.Orientation.Vertical)
        sidebar.addWidget(self.folder_list)
        sidebar.addWidget(self.label_list)
        self.sidebar = sidebar

        grid_page = QWidget()
        grid_layout = QVBoxLayout(grid_page)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        self.results_bar = QWidget()
        results_layout = QHBoxLayout(self.results_bar)
        results_layout.setContentsMargins(6, 2, 6, 2)
        self.results_label = QLabel()
        self.more_button = QPushButton("Show more")
        self.more_button.clicked.connect(self.toggle_weak)
        self.next_button = QPushButton("Show more results")
        self.next_button.clicked.connect(self.show_next_page)
        self.all_button = QPushButton("Show all photos")
        self.all_button.clicked.connect(self.show_all)
        self.results_label.setWordWrap(True)  # an error's long text wraps, never widens the window
        self.results_label.setTextFormat(Qt.TextFormat.PlainText)
        results_layout.addWidget(self.results_label, 1)
        results_layout.addWidget(self.more_button)
        results_layout.addWidget(self.next_button)
        results_layout.addWidget(self.all_button)
        self.results_bar.setVisible(False)
        grid_layout.addWidget(self.results_bar)
        grid_layout.addWidget(self.grid)

        self.pages = QStackedWidget()
        self.pages.addWidget(Welcome(self.add_folder_dialog))
        self.pages.addWidget(grid_page)
        self.pages.addWidget(self.duplicates)

        self.splitter = QSplitter()
        self.splitter.addWidget(sidebar)
        self.splitter.addWidget(self.pages)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 900, 320])
        self.pages.currentChanged.connect(lambda page: self.preview.setVisible(page == GRID))
        self.setCentralWidget(self.splitter)

        self.indexing_status = IndexingStatus(self.session)
        self.statusBar().addPermanentWidget(self.indexing_status)
        # The first size: roomy, within the screen (a laptop's 1366 x 768 shows the status bar too).
        screen = self.screen().availableGeometry()
        self.resize(min(FIRST_SIZE.width(), int(screen.width() * SCREEN_SHARE)),
                    min(FIRST_SIZE.height(), int(screen.height() * SCREEN_SHARE)))

    def _connect(self) -> None:
        session = self.session
        session.opened.connect(self._opened)
        session.photosChanged.connect(self._photos_changed)
        session.foldersChanged.connect(self._folders_changed)
        session.labelsChanged.connect(self._labels_changed)
        session.indexing.connect(self.indexing_status.show_state)
        session.totalsChanged.connect(self.indexing_status.show_totals)
        session.indexed.connect(self._indexed)
        session.searchDone.connect(self._search_done)
        session.searchFailed.connect(self._search_failed)
        session.photoDetails.connect(self.preview.show_details)
        session.duplicatesProgress.connect(self.duplicates.progress)
        session.duplicatesFound.connect(self.duplicates.set_clusters)
        session.trashed.connect(self._trashed)
        session.modelNeeded.connect(self.ask_for_model)
        # Bound methods, never lambdas, for the session's signals: Qt forgets those when the window goes.
        session.modelReady.connect(self._model_ready)
        session.failures.connect(self._show_failures)
        session.error.connect(self.show_error)
        session.message.connect(self._show_message)

        self.search_bar.queryChanged.connect(self.search)
        self.order_box.currentIndexChanged.connect(self._order_changed)
        self.grid.selectionModel().currentChanged.connect(lambda *_: self._current_changed())
        self.grid.viewRequested.connect(self.view_current)
        self.grid.trashRequested.connect(self.trash_selection)
        self.grid.openRequested.connect(lambda: self._with_current(lambda row: self.system_apps.open(row.path)))
        self.preview.openRequested.connect(self.system_apps.open)
        self.preview.revealRequested.connect(self.system_apps.reveal)
        self.system_apps.failed.connect(self.show_error)
        self.grid.doubleClicked.connect(lambda _: self.view_current())
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.viewer.step.connect(self._step_viewer)
        self.preview.judged.connect(self.session.judge)

        self.folder_list.chosen.connect(self._folder_chosen)
        self.folder_list.clicked.connect(self._folder_clicked)
        self.folder_list.addRequested.connect(self.add_folder_dialog)
        self.folder_list.removeRequested.connect(session.remove_folder)
        self.folder_list.rescanRequested.connect(session.rescan)
        self.folder_list.referenceToggled.connect(session.set_reference)
        self.folder_list.duplicatesRequested.connect(self.show_duplicates)
        self.label_list.chosen.connect(self._label_chosen)
        self.label_list.saveRequested.connect(session.save_label)
        self.label_list.removeRequested.connect(session.remove_label)
        self.label_list.retagRequested.connect(session.retag)
        self.duplicates.findRequested.connect(session.find_duplicates)
        self.duplicates.trashRequested.connect(session.trash_duplicates)
        self.models.downloaded.connect(self._model_downloaded)
        self.models.downloadFailed.connect(self._model_download_failed)
        self.models.downloadProgress.connect(self._model_download_progress)

        find = QAction(self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self.focus_search)
        self.addAction(find)
        quit_action = QAction(self)
        # Ctrl+Q (Cmd+Q on a Mac) on every system: the system's own binding for quitting is empty on some.
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        self.addAction(quit_action)
        back = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.duplicates)  # from the duplicates to the photos
        back.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        back.activated.connect(lambda: self.pages.setCurrentIndex(GRID if self.folders else WELCOME))

    def _restore_layout(self) -> None:
        geometry = self.settings.layout("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        for name, widget in (("splitter", self.splitter), ("sidebar", self.sidebar)):
            state = self.settings.layout(name)
            if state is not None:
                widget.restoreState(state)
        state = self.settings.layout("window")
        if state is not None:
            self.restoreState(state)

    def save_layout(self) -> None:
        self.settings.set_layout("geometry", self.saveGeometry())
        self.settings.set_layout("window", self.saveState())
        self.settings.set_layout("splitter", self.splitter.saveState())
        self.settings.set_layout("sidebar", self.sidebar.saveState())
        self.settings.order = self.order_box.currentData()
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.save_layout()
        self.viewer.close()
        self.loader.shutdown()
        super().closeEvent(event)

    # The library

    def _opened(self, folder: Path) -> None:
        self.model.thumbnails = self.preview.thumbnails = self.duplicates.thumbnails = folder / "thumbnails"
        advice = gpu_build_advice()  # a CPU build on a computer with an NVIDIA GPU: say a faster build exists
        if advice:
            self.statusBar().showMessage(advice, GPU_ADVICE_MS)
        if self.pending_folders and self.session.model_name is not None:
            folders, self.pending_folders = self.pending_folders, []
            self.add_folders(folders)

    def _folders_changed(self, folders: list[FolderState]) -> None:
        self.folders = folders
        self.folder_list.set_folders(folders)
        self.duplicates.reference = [folder.path for folder in folders if folder.reference]
        if self.pages.currentIndex() == WELCOME and folders:
            self.pages.setCurrentIndex(GRID)
        elif not folders:
            self.pages.setCurrentIndex(WELCOME)

    def _photos_changed(self, rows) -> None:
        if self.results is None:
            current, place = self.grid.current_row(), self.grid.currentIndex().row()
            reset = self.model.set_rows(rows)
            self._keep_current(current, None if reset else place)
            self._show_filter(len(rows))

    def _show_filter(self, count: int) -> None:
        """A bar over the grid while it shows one label's photos, with the way back to all of them."""
        tag = self.session.view.tag
        if self.results is None:
            self.results_bar.setVisible(tag is not None)
            self.more_button.setVisible(False)
            self.all_button.setVisible(tag is not None)
            if tag is not None:
                self.results_label.setText(f"{plural(count, 'photo', 'photos')} tagged “{tag}”")

    def show_all(self) -> None:
        self.label_list.clear_filter()
        self._leave_search()
        self.session.show(View(self.session.view.order, self.session.view.folder, None))

    def _labels_changed(self, labels) -> None:
        self.label_list.set_labels(labels, self.session.view.tag if self.results is None else None)
        row = self.preview.row
        if row is not None:  # its tags, by their names now (a label renamed, removed, decided again)
            self.session.details(row.id, row.path)

    def _keep_current(self, current, place: int | None = None) -> None:
        """After new contents, the photo that was current stays current (and in view) if it is still there;
        one that left the same list (trashed, deleted on disk) gives its `place` to the photo now there,
        chosen as a click would choose it."""
        row = self.model.row_of(current.id) if current is not None else None
        if row is None and current is not None and place is not None and self.model.rowCount():
            row = min(place, self.model.rowCount() - 1)
            self.grid.setCurrentIndex(self.model.index(row))
        elif row is not None and self.grid.currentIndex().row() != row:
            self.grid.setCurrentIndex(self.model.index(row))
        self._current_changed()

    def _indexed(self, state: IndexingState) -> None:
        if self.query:
            self.search(self.query, self.search_limit, in_background=True)  # new photos may match it

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a photo folder", str(Path.home()))
        if folder:
            self.add_folders([Path(folder)])

    def add_folders(self, folders: list[Path]) -> None:
        if not self.session.is_open:  # still opening: added once it is open
            self.pending_folders += folders
            return
        if self.session.model_name is None:
            self.pending_folders += folders  # added once a model is chosen
            self.ask_for_model()
            return
        self.session.add_folders(folders, self._take_as_moved)
        self.pages.setCurrentIndex(GRID)

    def _take_as_moved(self, old: Path, new: Path) -> bool:
        return ask(self, "A folder moved?", f"{new} holds the photos of the library folder {old}, which is not "
                   "there any more.\n\nTake it as that folder at its new place? Its photos keep their tags and "
                   "are not read again. (No: add it as a folder of its own.)")

    def ask_for_model(self) -> None:
        """No model yet: use a published one already installed, else ask (the first-run dialog)."""
        installed = installed_choice()
        if installed is not None:
            self._model_chosen(installed)
            return
        if self.model_dialog is None:
            self.model_dialog = ModelDialog(self.models, self.recommended, self)
            self.model_dialog.chosen.connect(self._model_chosen)
            self.model_dialog.finished.connect(lambda _: setattr(self, "model_dialog", None))
        self.model_dialog.open()

    def _model_chosen(self, model: str) -> None:
        self.session.use_model(model)
        if self.pending_folders:
            folders, self.pending_folders = self.pending_folders, []
            QTimer.singleShot(0, lambda: self.session.add_folders(folders, self._take_as_moved))

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.session.model_name, self.settings.device, self.folders, self.models, self,
                                library=self.settings.library_name)
        if dialog.exec():
            if dialog.library_name() != self.settings.library_name:
                whole = self.settings.set_library_name(dialog.library_name())
                self.statusBar().showMessage(f"photosort opens {self.settings.library_name or 'the default library'}"
                                             " at its next start")
                if not whole:
                    ask(self, "Library", "The password was left out of the library's address: photosort keeps "
                        "none. Put it in ~/.pgpass (PGPASSFILE names another file), where PostgreSQL finds it.",
                        information=True)
            self.settings.device = dialog.device()
            self.session.set_device(dialog.device())
            if self.session.is_open and dialog.model() != self.session.model_name:
                self.change_model(dialog.model())

    def change_model(self, model: str) -> None:
        """Index the library again with another model. One not on this computer is downloaded first, its size
        said before asking; the library switches only once it is on disk, so search goes on meanwhile."""
        current = model_label(self.session.model_name or "")
        info = self.models.to_download(model)
        if info is None:
            if ask(self, "Change model", f"Index every photo again with {model_label(model)}? Search and tags "
                   f"use {current} until that is done."):
                self.session.use_model(model)
            return
        size = f"{info.size_mb:,} MB" if info.size_mb else "its file"
        if ask(self, "Change model", f"{info.name} is not on this computer yet. Download it ({size}, once), "
               f"then index every photo again with it?\n\nSearch keeps using {current} until then."):
            self.switching_to = info.name
            self.statusBar().showMessage(f"Downloading {info.name}…")
            self.models.download(info)

    def _model_downloaded(self, model: str) -> None:
        if model == self.switching_to:
            self.switching_to = None
            self.session.use_model(model)

    def _model_download_failed(self, message: str, offline: bool) -> None:
        if self.switching_to is not None:
            model, self.switching_to = self.switching_to, None
            why = "you seem to be offline" if offline else message
            self.show_error(f"{model} could not be downloaded ({why}). The library goes on with "
                            f"{model_label(self.session.model_name or '')}.")

    def _model_download_progress(self, done: int, total: int) -> None:
        if self.switching_to is not None and total:
            self.statusBar().showMessage(f"Downloading {self.switching_to}: {done / 1e6:,.0f} of "
                                         f"{total / 1e6:,.0f} MB")

    # Drag and drop of folders

    def _dropped_folders(self, event) -> list[Path]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        return [Path(url.toLocalFile()) for url in urls if url.isLocalFile() and Path(url.toLocalFile()).is_dir()]

    def dragEnterEvent(self, event) -> None:
        if self._dropped_folders(event):
            accept_without_moving(event)

    def dragMoveEvent(self, event) -> None:
        if self._dropped_folders(event):
            accept_without_moving(event)

    def dropEvent(self, event) -> None:
        folders = self._dropped_folders(event)
        if folders and accept_without_moving(event):
            self.add_folders(folders)

    # Browsing

    def _order_changed(self) -> None:
        self.settings.order = self.order_box.currentData()
        self.session.show(View(self.order_box.currentData(), self.session.view.folder, self.session.view.tag))

    def _folder_chosen(self, folder: Path | None) -> None:
        """A folder (or all photos) in the sidebar: its photos, or the search on screen run again within it."""
        self.pages.setCurrentIndex(GRID if self.folders else WELCOME)
        self.label_list.clear_filter()
        view = View(self.session.view.order, folder, None)
        if self.query:
            self.session.view = view
            self.search(self.query)
        else:
            self._leave_search()
            self.session.show(view)

    def _folder_clicked(self, folder: Path | None) -> None:
        """A click on the folder already chosen, from another page (the duplicates): back to its photos."""
        if self.pages.currentIndex() != GRID and self.folders:
            self._folder_chosen(folder)

    def _label_chosen(self, label: str | None) -> None:
        """A label in the sidebar: its photos across the library (one choice in the sidebar at a time)."""
        self.pages.setCurrentIndex(GRID)
        self._leave_search()
        if label is None:
            self.folder_list.select(None)
        else:
            self.folder_list.clear_choice()
        self.session.show(View(self.session.view.order, None, label))

    def _current_changed(self) -> None:
        row = self.grid.current_row()
        if row is None or self.preview.row is None or row.id != self.preview.row.id:
            self.preview.show_row(row)
            if row is not None:
                self.session.details(row.id, row.path)

    def _with_current(self, action) -> None:
        row = self.grid.current_row()
        if row is not None:
            action(row)

    def view_current(self) -> None:
        row = self.grid.current_row()
        if row is not None:
            self.viewer.show_row(row)
            self.viewer.showFullScreen()  # the photo, as large as the screen shows it
            self.viewer.raise_()
            self.viewer.activateWindow()

    def _step_viewer(self, step: int) -> None:
        index = self.grid.currentIndex()
        target = self.model.index(min(max(index.row() + step, 0), self.model.rowCount() - 1))
        if target.isValid():
            self.grid.setCurrentIndex(target)
            self.viewer.show_row(self.grid.current_row())

    def _grid_menu(self, position) -> None:
        index = self.grid.indexAt(position)
        if not index.isValid():
            return
        row = self.grid.current_row() if self.grid.currentIndex() == index else self.model.rows[index.row()]
        menu = QMenu(self)
        menu.addAction("More like this", lambda: self.more_like(row.path))
        menu.addAction("View (Space)", self.view_current)
        menu.addAction("Open in the system viewer", lambda: self.system_apps.open(row.path))
        menu.addAction("Show in folder", lambda: self.system_apps.reveal(row.path))
        menu.addSeparator()
        menu.addAction("Move to trash… (Del)", self.trash_selection)
        menu.exec(self.grid.viewport().mapToGlobal(position))

    def trash_selection(self) -> None:
        rows = self.grid.selected_rows()
        if not rows:
            return
        size = file_size(sum(row.size for row in rows))
        if len(rows) == 1:  # its folder too: two photos can share a name
            question = f"Move “{Path(rows[0].path).name}” ({size}, in {Path(rows[0].path).parent}) to the trash?" \
                       "\nYou can restore it from the system trash."
        else:
            question = f"Move these {len(rows):,} photos ({size}) to the trash?\n" \
                       "You can restore them from the system trash."
        if ask(self, "Move to trash", question):
            self.session.trash_photos(rows)

    def _trashed(self, report: TrashReport) -> None:
        """What went to the trash leaves every view at once: the results on screen, the duplicate clusters."""
        self.duplicates.forget(report.moved)
        if self.results is not None and report.moved:
            self.results = [hit for hit in self.results if hit.row.id not in report.moved]
            self._show_results(keep_place=True)
        text = f"Moved {plural(len(report.moved), 'file', 'files')} ({file_size(report.freed_bytes)}) to the trash."
        if report.failures:
            text += f" {plural(len(report.failures), 'file was', 'files were')} left: " + "; ".join(
                f"{Path(path).name}: {why}" for path, why in report.failures[:3])
            self.show_error(text)
        self.statusBar().showMessage(text, 10000)

    # Search

    def focus_search(self) -> None:
        self.pages.setCurrentIndex(GRID if self.folders else self.pages.currentIndex())
        self.search_bar.setFocus()
        self.search_bar.selectAll()

    def more_like(self, path: str) -> None:
        self.search_bar.search_for(more_like(path))

    def search(self, text: str, limit: int | None = None, in_background: bool = False) -> None:
        """Search for `text` within the folder chosen in the sidebar: the best `limit` photos (a page). One run
        again `in_background` (new photos indexed) leaves the person on the page they are on."""
        self.query = text
        if not text:
            self._leave_search()
            self.session.refresh_photos()
            return
        if not self.session.is_open or self.session.model_name is None:
            return
        self.search_limit = limit or SEARCH_PAGE
        self.paging = False
        self.search_folder = self.session.view.folder
        if not in_background:
            self.pages.setCurrentIndex(GRID)
            # A search covers the folder chosen, not the label: the label's view is left.
            self.label_list.clear_filter()
            self.session.view = replace(self.session.view, tag=None)
        self.results_bar.setVisible(True)
        self.all_button.setVisible(False)
        self.next_button.setVisible(False)
        self.results_label.setText("Searching…")
        self.session.search(text, self.search_folder, self.search_limit)

    def show_next_page(self) -> None:
        """The next page of results: the same search, asked for more."""
        self.search(self.query, self.search_limit + SEARCH_PAGE)
        self.paging = True

    def _search_done(self, _generation: int, results: list[SearchHit]) -> None:
        if not self.query:
            return
        paging, self.paging = self.paging, False
        self.results = results
        if not paging:
            self.show_weak = False
        self._show_results(keep_place=paging)

    def _show_results(self, keep_place: bool = False) -> None:
        results = self.results or []
        relevant = [result for result in results if result.relevant]
        shown = results if self.show_weak else relevant
        current, scrolled = self.grid.current_row(), self.grid.verticalScrollBar().value()
        place = self.grid.currentIndex().row()
        self.model.set_rows([hit.row for hit in shown],
                            {hit.row.id: (hit.score, hit.relevant) for hit in shown if hit.ranked})
        hidden = len(results) - len(relevant)
        where = f" in {self.search_folder.name or self.search_folder}" if self.search_folder else ""
        full = len(results) >= self.search_limit  # a full page: more may follow it
        more = "+" if full else ""
        if results and not results[0].ranked:  # filters alone: the photos that pass them
            count = f"{len(results):,}+ photos" if full else plural(len(results), "photo", "photos")
            self.results_label.setText(f"{count}{where} for “{self.query}”, newest first")
        elif not results:
            self.results_label.setText(f"No photo{where} matches this search yet.")
        elif not relevant and not self.show_weak:
            self.results_label.setText(f"Nothing{where} stands out for “{self.query}”; {hidden:,}{more} weak "
                                       f"{'match' if hidden == 1 and not full else 'matches'} hidden.")
        else:
            text = f"{plural(len(relevant), 'match', 'matches')} for “{self.query}”{where}"
            if hidden:
                text += f", and {hidden:,}{more} weaker" if self.show_weak else f", {hidden:,}{more} weaker hidden"
            self.results_label.setText(text)
        self.more_button.setVisible(hidden > 0)
        self.more_button.setText("Show fewer" if self.show_weak else f"Show {hidden:,} weaker")
        # A full page may have more behind it: offered once every result of this one is on screen.
        self.next_button.setVisible(full and len(shown) == len(results))
        if keep_place and current is not None and self.model.rowCount():
            # The same photo, or the one that took its place (it went to the trash).
            kept = self.model.row_of(current.id)
            self.grid.setCurrentIndex(self.model.index(kept if kept is not None else
                                                       min(max(place, 0), self.model.rowCount() - 1)))
            self.grid.verticalScrollBar().setValue(scrolled)
        elif self.model.rowCount():
            self.grid.setCurrentIndex(self.model.index(0))
        self._current_changed()

    def toggle_weak(self) -> None:
        self.show_weak = not self.show_weak
        self._show_results(keep_place=self.show_weak)

    def _search_failed(self, _generation: int, message: str) -> None:
        """The reason, and no results: what was on screen answered another query."""
        self.results = []
        self.model.set_rows([])
        self._current_changed()
        self.results_label.setText(message)
        self.more_button.setVisible(False)
        self.next_button.setVisible(False)

    def _leave_search(self) -> None:
        if self.results is not None or self.query:
            self.results = None
            self.query = ""
            self.search_bar.clear()
        self.results_bar.setVisible(False)
        self.all_button.setVisible(False)
        self.next_button.setVisible(False)

    def show_duplicates(self) -> None:
        """The sidebar's "Find duplicates": the page, and the comparison started (its progress shows there)."""
        self.pages.setCurrentIndex(DUPLICATES)
        self.duplicates.find()

    # Errors

    def _model_ready(self, model: str, device: str) -> None:
        self.statusBar().showMessage(f"model {model_label(model)} on {device}", 8000)

    def _show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _show_failures(self, failures) -> None:
        FailuresDialog(failures, self).open()

    def show_error(self, message: str) -> None:
        """Readable, and never in the way: the status bar, and a dialog the person closes when they like."""
        self.duplicates.find_button.setEnabled(True)  # a duplicate search that failed can be tried again
        self.statusBar().showMessage(message, 15000)
        box = getattr(self, "_error_box", None)
        if box is None:
            box = QMessageBox(QMessageBox.Icon.Warning, "photosort", "", QMessageBox.StandardButton.Close, self)
            box.setWindowModality(Qt.WindowModality.NonModal)
            self._error_box = box
        box.setText(message)
        box.show()

