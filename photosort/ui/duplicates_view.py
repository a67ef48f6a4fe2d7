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

from ..app.duplicates import EXACT, KINDS, NEAR, SIMILAR, Cluster, trash_plan
from ..app.thumbnails import ThumbnailLoader, picture_key, picture_sources
from .dialogs import ask
from .preview import file_size
from .words import plural

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
        self.key = picture_key("dupe", photo)
        loader.loaded.connect(self._arrived)
        sources = picture_sources(photo, thumbnails, thumbnail_first=True)
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
        self.find_button.clicked.connect(self.find)
        bar.addWidget(self.find_button)
        kinds = QHBoxLayout()  # a line of its own: the page fits a narrow window
        self.kind_boxes = {}
        for kind in KINDS:
            box = QCheckBox(kind.capitalize(), checked=True)
            box.setToolTip(KIND_WORDS[kind])
            box.toggled.connect(lambda _: self._refill(self.list.currentRow()))
            self.kind_boxes[kind] = box
            kinds.addWidget(box)
        kinds.addStretch()
        bar.addStretch()
        self.trash_all_button = QPushButton("Move all others to trash…")
        self.trash_all_button.setToolTip("Every listed exact and near cluster: all but the kept photo")
        self.trash_all_button.clicked.connect(self._trash_all)
        bar.addWidget(self.trash_all_button)
        layout.addLayout(bar)
        layout.addLayout(kinds)
        self.summary = QLabel("Compare the library's photos to find copies and look-alikes.", wordWrap=True)
        layout.addWidget(self.summary)
        splitter = QSplitter()
        self.list = QListWidget()
        self.list.setAccessibleName("Duplicate clusters")
        # Each description wraps to the list's width (a long file name is shortened in its middle): read whole,
        # never behind a sideways scroll.
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSpacing(3)  # one cluster's lines apart from the next one's
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

    @property
    def finding(self) -> bool:
        return not self.find_button.isEnabled()

    def find(self) -> None:
        if self.finding:
            return
        self.find_button.setEnabled(False)
        self.summary.setText("Comparing…")
        self.findRequested.emit()

    def progress(self, stage: str, done: int, total: int) -> None:
        self.summary.setText(f"{stage}: {done:,} of {total:,}" if total > 1 else f"{stage}…")

    def set_clusters(self, clusters: list[Cluster]) -> None:
        self.find_button.setEnabled(True)
        self.clusters = clusters
        self._refill()

    def forget(self, photo_ids: frozenset[int]) -> None:
        """Photos gone to the trash leave their clusters; a cluster left with one photo is no cluster. The
        list stays where the person was."""
        if not photo_ids or not any(member.id in photo_ids for cluster in self.clusters for member in cluster.members):
            return
        row = self.list.currentRow()
        remaining = []
        for cluster in self.clusters:
            members = [member for member in cluster.members if member.id not in photo_ids]
            if len(members) < 2:
                continue
            if len(members) < len(cluster.members):
                keep = cluster.keep if cluster.keep.id not in photo_ids else members[0]
                exact = [group for group in ([m for m in group if m.id not in photo_ids]
                                             for group in cluster.exact_copies) if len(group) > 1]
                cluster = replace(cluster, members=members, keep=keep, exact_copies=exact,
                                  keep_reason=cluster.keep_reason if keep is cluster.keep else "your choice")
            remaining.append(cluster)
        self.clusters = remaining
        self._refill(row)

    def failed(self) -> None:
        self.find_button.setEnabled(True)
        self.summary.setText("Could not compare the photos.")

    def visible_clusters(self) -> list[Cluster]:
        return [cluster for cluster in self.clusters if self.kind_boxes[cluster.kind].isChecked()]

    def _refill(self, row: int = 0) -> None:
        """List the clusters shown, and show the one at `row` (the next, where that one has gone)."""
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
            self.summary.setText(f"{plural(len(shown), 'cluster', 'clusters')}; "
                                 f"{plural(len(steps), 'copy', 'copies')} ({freed}) can go" if shown
                                 else "No duplicates found.")
        self.trash_all_button.setEnabled(bool(steps))
        if shown:
            self.list.setCurrentRow(min(max(row, 0), len(shown) - 1))
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
        self._refill(self.list.currentRow())

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
        kept = len(plan.protected)
        protected = "" if not kept else "\n1 photo in a reference folder stays where it is." if kept == 1 else \
            f"\n{kept:,} photos in reference folders stay where they are."
        files = plural(len(plan.steps), "file", "files")
        if ask(self, "Move to trash", f"Move {files} ({file_size(size)}) to the trash?\n"
               f"The kept photo of each cluster stays and takes on their tags.{protected}\n"
               "You can restore them from the system trash."):
            self.trashRequested.emit(clusters)  # they leave the list once they are in the trash: `forget`
