"""The duplicates view: clusters listed by kind, one cluster's photos side by side with the suggested keeper
marked and why, files that are bit-for-bit the same marked with a shared letter, any other photo one click away
from being the keeper, and the others to the trash after a confirmation that says how many files and how much
space."""

from __future__ import annotations

from dataclasses import replace
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..app.thumbnails import ThumbnailLoader
from ..core.decode import thumbnail_path
from ..core.dupes import EXACT, KINDS, NEAR, SIMILAR, Cluster
from ..core.resolve import plan as trash_plan
from .dialogs import ask
from .preview import file_size

CARD_SIDE = 220
KIND_WORDS = {EXACT: "Exact copies", NEAR: "Same picture, copied or re-saved",
              SIMILAR: "Similar pictures (kept unless you choose)"}


def identical_note(letter: str, copies: list) -> str:
    return f"Identical file {letter} ({len(copies)} copies)"


def plain_label(text: str) -> QLabel:
    """A label that shows its text as written: a file named "<b>.jpg" is not markup."""
    return QLabel(text, wordWrap=True, textFormat=Qt.TextFormat.PlainText)


class MemberCard(QFrame):
    """One photo of a cluster: its picture, name, size and folder, the keep button, what becomes of it, and,
    when other members are the very same file, the letter their set shares."""

    def __init__(self, photo, cluster: Cluster, letter: str | None, protected: bool, loader: ThumbnailLoader,
                 thumbnails: Path | None, group: QButtonGroup, parent=None):
        super().__init__(parent)
        self.photo = photo
        keeper = photo.id == cluster.keep.id
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.picture = QLabel("…", alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedSize(CARD_SIDE, CARD_SIDE)
        layout.addWidget(self.picture)
        name = plain_label(Path(photo.path).name)
        name.setToolTip(photo.path)
        layout.addWidget(name)
        layout.addWidget(QLabel(f"{photo.width} × {photo.height} · {file_size(photo.size)}"))
        layout.addWidget(plain_label(str(Path(photo.path).parent)))
        self.identical = self._identical_label(photo, cluster, letter) if letter else None
        if self.identical is not None:
            layout.addWidget(self.identical)
        self.keep = QRadioButton("Keep this one")
        self.keep.setChecked(keeper)
        group.addButton(self.keep, photo.id)
        layout.addWidget(self.keep)
        self.note = QLabel(f"<b>Kept</b>: {escape(cluster.keep_reason)}" if keeper
                           else "reference folder: never moved" if protected
                           else "a different picture: moved only if you choose" if cluster.kind == SIMILAR
                           else "goes to the trash", wordWrap=True)
        layout.addWidget(self.note)
        layout.addStretch()
        self.key = ("dupe", photo.id)
        loader.loaded.connect(self._arrived)
        sources = [Path(photo.path)]
        if thumbnails is not None and photo.fingerprint:
            sources.insert(0, thumbnail_path(thumbnails, photo.fingerprint))
        cached = loader.cached(self.key)
        if cached is not None:
            self._arrived(self.key, cached)
        else:
            loader.request(self.key, sources, CARD_SIDE)

    @staticmethod
    def _identical_label(photo, cluster: Cluster, letter: str) -> QLabel:
        """Within a near or similar cluster the copies differ, except these: trashing one loses nothing."""
        copies = cluster.exact_set_of(photo)
        label = QLabel(f"<b>{identical_note(letter, copies)}</b>", wordWrap=True)
        others = "\n".join(other.path for other in copies if other.id != photo.id)
        label.setToolTip(f"Exact copy — identical file: the very same bytes as\n{others}")
        label.setAccessibleName(f"Exact copy — identical file {letter}")
        return label

    def _arrived(self, key: object, image: QImage) -> None:
        if key == self.key and not image.isNull():
            self.picture.setPixmap(QPixmap.fromImage(image).scaled(
                CARD_SIDE, CARD_SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


def cluster_header(cluster: Cluster) -> str:
    """The kind in words and what makes these photos one cluster; a word on the letters when some are shown."""
    header = f"<b>{KIND_WORDS[cluster.kind]}</b>: {escape(cluster.why)}"
    if cluster.exact_copies:
        header += "<br>Photos marked with the same letter are identical files: the very same bytes."
    return header


def identical_count(cluster: Cluster) -> str:
    """How many members are identical files, where some are but not all (all of them: the kind says so)."""
    identical = sum(len(group) for group in cluster.exact_copies)
    return f" ({identical} identical)" if 0 < identical < len(cluster.members) else ""


class DuplicatesView(QWidget):
    findRequested = Signal()
    trashRequested = Signal(list)  # clusters, each with the keeper the person chose

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.thumbnails: Path | None = None
        self.reference: list[Path] = []
        self.clusters: list[Cluster] = []
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.find_button = QPushButton("Find duplicates")
        self.find_button.clicked.connect(self._find)
        bar.addWidget(self.find_button)
        self.kind_boxes = {}
        for kind in KINDS:
            box = QCheckBox(kind.capitalize(), checked=True)
            box.setToolTip(KIND_WORDS[kind])
            box.toggled.connect(self._refill)
            self.kind_boxes[kind] = box
            bar.addWidget(box)
        bar.addStretch()
        self.trash_all_button = QPushButton("Move all others to trash…")
        self.trash_all_button.setToolTip("Every listed exact and near cluster: all but the kept photo")
        self.trash_all_button.clicked.connect(self._trash_all)
        bar.addWidget(self.trash_all_button)
        layout.addLayout(bar)
        self.summary = QLabel("Compare the library's photos to find copies and look-alikes.", wordWrap=True)
        layout.addWidget(self.summary)
        splitter = QSplitter()
        self.list = QListWidget()
        self.list.setAccessibleName("Duplicate clusters")
        self.list.currentRowChanged.connect(self._show_cluster)
        splitter.addWidget(self.list)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        self.header = QLabel(wordWrap=True)  # the kind of the cluster shown, and what makes it one
        right_layout.addWidget(self.header)
        self.cards_area = QScrollArea(widgetResizable=True)
        right_layout.addWidget(self.cards_area, 1)
        self.trash_button = QPushButton("Move the others to trash…")
        self.trash_button.clicked.connect(self._trash_current)
        right_layout.addWidget(self.trash_button)
        splitter.addWidget(right)
        splitter.setSizes([300, 700])
        layout.addWidget(splitter, 1)
        self.group = QButtonGroup(self)
        self.group.idClicked.connect(self._keeper_chosen)
        self._refill()

    def _find(self) -> None:
        self.find_button.setEnabled(False)
        self.summary.setText("Comparing…")
        self.findRequested.emit()

    def progress(self, stage: str, done: int, total: int) -> None:
        self.summary.setText(f"{stage}: {done:,} of {total:,}" if total > 1 else f"{stage}…")

    def set_clusters(self, clusters: list[Cluster]) -> None:
        self.find_button.setEnabled(True)
        self.clusters = clusters
        self._refill()

    def failed(self) -> None:
        self.find_button.setEnabled(True)
        self.summary.setText("Could not compare the photos.")

    def visible_clusters(self) -> list[Cluster]:
        return [cluster for cluster in self.clusters if self.kind_boxes[cluster.kind].isChecked()]

    def _refill(self) -> None:
        shown = self.visible_clusters()
        self.list.clear()
        for cluster in shown:
            plan = trash_plan([cluster], self.reference)
            freed = sum(step.photo.size for step in plan.steps)
            item = QListWidgetItem(f"{KIND_WORDS[cluster.kind]} · {len(cluster.members)} photos"
                                   f"{identical_count(cluster)} · {file_size(freed)} to free\n"
                                   f"{Path(cluster.keep.path).name}")
            self.list.addItem(item)
        steps = trash_plan([c for c in shown if c.kind != SIMILAR], self.reference).steps
        if self.clusters or not self.find_button.isEnabled():
            freed = file_size(sum(step.photo.size for step in steps))
            self.summary.setText(f"{len(shown)} clusters; {len(steps)} copies ({freed}) can go" if shown
                                 else "No duplicates found.")
        self.trash_all_button.setEnabled(bool(steps))
        if shown:
            self.list.setCurrentRow(0)
        else:
            self._show_cluster(-1)

    def _current(self) -> Cluster | None:
        row = self.list.currentRow()
        shown = self.visible_clusters()
        return shown[row] if 0 <= row < len(shown) else None

    def _show_cluster(self, _row: int) -> None:
        cluster = self._current()
        for button in self.group.buttons():
            self.group.removeButton(button)
        holder = QWidget()
        row_layout = QHBoxLayout(holder)
        row_layout.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.trash_button.setEnabled(cluster is not None)
        if cluster is None:
            self.header.setText("")
            self.cards_area.setWidget(holder)
            return
        self.header.setText(cluster_header(cluster))
        letters = cluster.copy_letters()
        for photo in cluster.members:
            protected = any(Path(photo.path).is_relative_to(folder) for folder in self.reference)
            row_layout.addWidget(MemberCard(photo, cluster, letters.get(photo.id), protected, self.loader,
                                            self.thumbnails, self.group))
        row_layout.addStretch()
        self.cards_area.setWidget(holder)

    def _keeper_chosen(self, photo_id: int) -> None:
        cluster = self._current()
        if cluster is None or cluster.keep.id == photo_id:
            return
        keep = next(photo for photo in cluster.members if photo.id == photo_id)
        chosen = replace(cluster, keep=keep, keep_reason="your choice")
        self.clusters[self.clusters.index(cluster)] = chosen
        row = self.list.currentRow()
        self._refill()
        self.list.setCurrentRow(row)

    def _trash_current(self) -> None:
        cluster = self._current()
        if cluster is not None:
            self._confirm_and_trash([cluster])

    def _trash_all(self) -> None:
        self._confirm_and_trash([cluster for cluster in self.visible_clusters() if cluster.kind != SIMILAR])

    def _confirm_and_trash(self, clusters: list[Cluster]) -> None:
        plan = trash_plan(clusters, self.reference)
        if not plan.steps:
            ask(self, "Nothing to move", "Every other photo here is in a reference folder: nothing will be moved.",
                information=True)
            return
        size = sum(step.photo.size for step in plan.steps)
        protected = f"\n{len(plan.protected)} in reference folders stay where they are." if plan.protected else ""
        files = f"{len(plan.steps)} file{'s' if len(plan.steps) > 1 else ''}"
        if ask(self, "Move to trash", f"Move {files} ({file_size(size)}) to the trash?\n"
               f"The kept photo of each cluster stays and takes on their tags.{protected}\n"
               "You can restore them from the system trash."):
            done = {id(cluster) for cluster in clusters}
            self.clusters = [cluster for cluster in self.clusters if id(cluster) not in done]
            self.trashRequested.emit(clusters)
            self._refill()
