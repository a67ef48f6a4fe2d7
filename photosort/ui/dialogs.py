"""Dialogs: confirmations, the first-run model dialog, settings, and the list of unreadable files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..app.models import DEMO_MODEL, ModelService, model_choices, partial_bytes
from ..app.session import FolderState
from ..build_info import gpu_build_advice, version_line
from ..devices import DEVICES
from .words import plural

CHECKPOINT_FILTER = "CLIP checkpoints (*.pt *.pth *.bin *.safetensors);;All files (*)"


def ask(parent: QWidget | None, title: str, text: str, information: bool = False) -> bool:
    """A yes/no question (or a note) before anything that touches files; True for yes."""
    if information:
        QMessageBox.information(parent, title, text)
        return True
    answer = QMessageBox.question(parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class ModelDialog(QDialog):
    """First run: no model yet. Offers the recommended model (what it is, its size and quality) with a
    download that can be cancelled and resumed, importing a model file, or the bundled demo model."""

    chosen = Signal(str)  # the model the library should use

    def __init__(self, models: ModelService, recommended, parent=None):
        super().__init__(parent)
        self.models, self.info = models, recommended
        self.setWindowTitle("Choose a model — photosort")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        intro = QLabel("photosort finds photos by what is in them, using a CLIP model: an AI model that runs on "
                       "this computer. Nothing leaves your machine.", wordWrap=True)
        layout.addWidget(intro)
        quality = f"{recommended.imagenet_top1:.1f}% on ImageNet zero-shot" if recommended.imagenet_top1 else ""
        details = QLabel(f"<b>Recommended: {recommended.name}</b><br>{recommended.description}<br>"
                         f"Download: {recommended.size_mb or '?'} MB, once · quality: {quality}", wordWrap=True)
        layout.addWidget(details)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.status = QLabel(wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setVisible(False)
        self.import_button = QPushButton("Import a model file…")
        self.demo_button = QPushButton("Use the demo model")
        self.demo_button.setToolTip("Bundled, no download; it knows coloured shapes only, not real photos")
        for button in (self.download_button, self.cancel_button, self.import_button, self.demo_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(models.cancel)
        self.import_button.clicked.connect(self._import)
        self.demo_button.clicked.connect(lambda: self._choose(DEMO_MODEL))
        models.downloadProgress.connect(self._progress)
        models.downloaded.connect(self._choose)
        models.downloadFailed.connect(self._failed)
        models.downloadCancelled.connect(self._cancelled)
        models.imported.connect(self._choose)
        models.importFailed.connect(self._import_failed)  # bound methods: Qt forgets them when the dialog goes
        kept = partial_bytes(recommended)
        if kept:
            self.download_button.setText("Resume download")
            self.status.setText(f"{kept / 1e6:.0f} MB were downloaded before; the download goes on from there.")

    def start_download(self) -> None:
        self._busy(True)
        self.status.setText("Connecting…")
        self.models.download(self.info)

    def _progress(self, done: int, total: int) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.0f} of {total / 1e6:.0f} MB")
        else:
            self.progress.setRange(0, 0)
        self.status.setText("Downloading…")

    def _cancelled(self, kept: int) -> None:
        self._idle(f"Download paused with {kept / 1e6:.0f} MB kept. “Resume download” goes on from there.")
        self.download_button.setText("Resume download")

    def _failed(self, message: str, offline: bool) -> None:
        if offline:
            self._idle("You seem to be offline: the model could not be downloaded. The demo model works offline, "
                       "or import a model file you have.\n\n" + message.split(". Download")[0])
        else:
            self._idle(f"The download failed: {message}")
        if partial_bytes(self.info):
            self.download_button.setText("Resume download")

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a CLIP model file", str(Path.home()), CHECKPOINT_FILTER)
        if path:
            self._busy(True)
            self.cancel_button.setVisible(False)  # checking a file is quick and cannot be stopped half-way
            self.progress.setRange(0, 0)
            self.status.setText(f"Checking {Path(path).name}…")
            self.models.import_file(Path(path))

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        for button in (self.download_button, self.import_button, self.demo_button):
            button.setEnabled(not busy)

    def _import_failed(self, message: str) -> None:
        self._idle(f"That file cannot be used: {message}")

    def _idle(self, message: str) -> None:
        self._busy(False)
        self.status.setText(message)

    def _choose(self, model: str) -> None:
        self._busy(False)
        self.chosen.emit(model)
        self.accept()


def build_text() -> str:
    """The version and build variant, and where a faster build for this computer's GPU is (as a link)."""
    text = version_line(__version__).removeprefix("photosort ")
    advice = gpu_build_advice()
    if advice:
        words, _, page = advice.rpartition(" ")
        text += f"<br>{words} <a href=\"{page}\">{page}</a>"
    return text


class SettingsDialog(QDialog):
    """The model (quality and speed shown), the device (what was detected), the folders; the theme follows the
    system's."""

    def __init__(self, current_model: str | None, device: str, folders: list[FolderState], models: ModelService,
                 parent=None, library: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Settings — photosort")
        self.setMinimumWidth(620)
        form = QFormLayout(self)
        self.model_box = QComboBox()
        for choice in model_choices():
            self.model_box.addItem(f"{choice.name}{' (recommended)' if choice.recommended else ''}", choice.name)
            self.model_box.setItemData(self.model_box.count() - 1, choice.summary or choice.description,
                                       Qt.ItemDataRole.ToolTipRole)
        index = self.model_box.findData(current_model)
        if index < 0 and current_model:  # a checkpoint file: the bundled or an imported model, by its name
            index = self.model_box.findData(Path(current_model).stem)
            if index < 0:
                self.model_box.addItem(Path(current_model).name, current_model)
                index = self.model_box.count() - 1
            else:
                self.model_box.setItemData(index, current_model)  # kept as the library names it
        self.model_box.setCurrentIndex(max(index, 0))
        self.model_facts = QLabel(wordWrap=True)
        self.model_box.currentIndexChanged.connect(self._show_facts)
        form.addRow("Model", self.model_box)
        form.addRow("", self.model_facts)
        self.device_box = QComboBox()
        for value, words in DEVICES.items():
            self.device_box.addItem(words, value)
        self.device_box.setCurrentIndex(max(self.device_box.findData(device), 0))
        form.addRow("Device", self.device_box)
        self.detected = QLabel("Looking for devices…", wordWrap=True)
        form.addRow("Detected", self.detected)
        self.folders = QListWidget()
        for folder in folders:
            self.folders.addItem(f"{folder.path}{'' if folder.online else '  (offline)'}"
                                 f"{'  (reference)' if folder.reference else ''}")
        form.addRow("Folders", self.folders)
        self.library_edit = QLineEdit(library)
        self.library_edit.setPlaceholderText("the default library, or a folder, or postgresql://user@server/database")
        form.addRow("Library", self.library_edit)
        form.addRow("", QLabel("Opened at the next start. A shared library's password goes in ~/.pgpass (or "
                               "PGPASSFILE), never here.", wordWrap=True))
        form.addRow("Theme", QLabel("Follows the system's light or dark setting."))
        self.build = QLabel(build_text(), wordWrap=True, openExternalLinks=True)
        form.addRow("This build", self.build)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        models.devices.connect(self._show_devices)
        models.probe_devices()
        self._show_facts()

    def library_name(self) -> str:
        return self.library_edit.text().strip()

    def _show_facts(self) -> None:
        name = self.model_box.currentData()
        choice = next((choice for choice in model_choices() if choice.name in (name, Path(name).stem)), None)
        if choice is not None:
            self.model_facts.setText(f"{choice.description}. {choice.summary}." if choice.summary
                                     else choice.description)

    def _show_devices(self, devices: list[tuple[str, str]]) -> None:
        self.detected.setText("\n".join(f"{device}: {words}" for device, words in devices))

    def model(self) -> str:
        return self.model_box.currentData()

    def device(self) -> str:
        return self.device_box.currentData()


class FailuresDialog(QDialog):
    """The files that could not be read, each with the reason."""

    def __init__(self, failures: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Files that could not be read — photosort")
        self.resize(800, 400)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{plural(len(failures), 'file', 'files')} could not be read. The rest of the "
                                "library is fine; these are tried again when they change."))
        table = QTableWidget(len(failures), 2)
        table.setHorizontalHeaderLabels(["File", "Why"])
        for row, (path, reason) in enumerate(failures):
            table.setItem(row, 0, QTableWidgetItem(path))
            table.setItem(row, 1, QTableWidgetItem(reason))
        table.resizeColumnsToContents()
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
