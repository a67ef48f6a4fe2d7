"""`LibrarySession`: the open library as the desktop app uses it, every piece of work off the UI thread.

* Short jobs (listing photos, a search, a label change) run on the "library" pool and hold the library's lock
  while they touch it. Finding duplicates runs there too, but takes about a minute at 100,000 photos: it takes
  the lock only around its own reads, so browsing and searching go on meanwhile.
* Indexing has a thread of its own: scan the folders, then encode what is new, batch by batch; the lock is
  held only while a batch commits, so browsing and searching go on meanwhile. Pause, resume and the watcher's
  wake-ups reach it through `Controls` and an event.
* The CLIP model runs in a child process (`RemoteEncoder`), loaded on first need. Search texts do not wait for
  it: they are encoded here, by the numpy text tower (photosort.clip.TextEncoder, no torch), read as the
  library opens.

Everything the widgets learn comes through this object's signals, delivered on the UI thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..clip.errors import NeedsTorchError
from ..clip.text_encoder import TextEncoder
from ..core import resolve
from ..core.catalog import BrowseRow as BrowseRow  # the grid's rows, as the widgets know them
from ..core.dupes import Cluster
from ..core.errors import LibraryError
from ..core.labels import ACCEPT, AUTO, REJECT
from ..core.library import Library
from ..core.names import is_image_name as is_image_name  # for the search bar: widgets ask the app layer
from ..core.pipeline import Controls, Progress, default_workers
from ..core.search import QueryEncoder
from ..core.watcher import Watcher
from .encoder_process import RemoteEncoder, decoder_pool
from .tasks import TaskRunner, named_pool, readable

SEARCH_PAGE = 300  # results fetched at a time: the relevant ones and weaker ones; "show more" fetches more
# Progress reports reach the UI at most this often: a fast GPU finishes batches faster than anyone reads.
PROGRESS_INTERVAL_S = 0.2
MESSAGE_LABELS = 6  # labels named in a status-bar message, at most

# Library jobs run side by side (a search while duplicates are compared), each taking the lock as it needs.
LIBRARY_THREADS = 3


@dataclass(frozen=True)
class FolderState:
    path: Path
    online: bool
    reference: bool


@dataclass(frozen=True)
class IndexingState:
    phase: str  # "scanning", "loading the model", "indexing", "idle"
    done: int = 0
    total: int = 0
    failed: int = 0
    rate: float = 0.0  # photos a second
    seconds_left: float | None = None
    paused: bool = False


@dataclass(frozen=True)
class LibraryTotals:
    """The whole library's numbers, for the status bar: they hold across passes and restarts."""
    photos: int  # image files known, online or not
    indexed: int  # with a vector for the library's model
    unreadable: int  # files that could not be read, and places that could not be scanned
    offline: int  # photos in folders that are not there now


@dataclass(frozen=True)
class View:
    """What the grid lists when it is not showing search results."""
    order: str = "date"
    folder: Path | None = None
    tag: str | None = None


@dataclass(frozen=True)
class LabelState:
    name: str
    prompts: list[str]
    photos: int


@dataclass(frozen=True)
class PhotoTag:
    label: str
    suggested: bool  # put there by auto-tagging, not yet confirmed by the person


@dataclass(frozen=True)
class PhotoDetails:
    id: int
    path: str
    tags: list[PhotoTag]


@dataclass(frozen=True)
class SearchHit:
    row: BrowseRow
    score: float
    relevant: bool
    ranked: bool = True  # False: a query of filters alone lists photos newest first, with no score


@dataclass(frozen=True)
class TrashReport:
    moved: frozenset[int]  # the ids of the photos moved to the trash
    freed_bytes: int
    failures: list[tuple[str, str]]  # (path, why it was not moved)


APP_HOLDER = "the photosort desktop app"  # it holds the library for as long as it is open


class LibrarySession(QObject):
    opened = Signal(object)  # the library folder
    photosChanged = Signal(object)  # list[BrowseRow] of the current view
    foldersChanged = Signal(object)  # list[FolderState]
    totalsChanged = Signal(object)  # LibraryTotals
    indexing = Signal(object)  # IndexingState
    indexed = Signal(object)  # IndexingState at the end of a pass
    searchDone = Signal(int, object)  # generation, list[SearchHit], best first
    searchFailed = Signal(int, str)
    labelsChanged = Signal(object)  # list[LabelState]
    photoDetails = Signal(object)  # PhotoDetails
    duplicatesProgress = Signal(str, int, int)
    duplicatesFound = Signal(object)  # list[Cluster]
    trashed = Signal(object)  # TrashReport
    modelNeeded = Signal()  # the library has no model yet: the first-run dialog
    modelReady = Signal(str, str)  # model, what it runs on
    failures = Signal(object)  # list[(path, reason)]
    error = Signal(str)
    message = Signal(str)

    def __init__(self, folder: Path, device: str = "auto", parent: QObject | None = None,
                 watch: bool = True):
        super().__init__(parent)
        self.folder = folder
        self.device = device
        self.watch = watch
        self.library: Library | None = None
        self.model_name: str | None = None  # the library's model, known without asking SQLite on the UI thread
        self.view = View()
        self._pool = named_pool("library", LIBRARY_THREADS)
        self._jobs = TaskRunner(self._pool, self)
        self._encoder: RemoteEncoder | None = None
        self._encoder_lock = threading.Lock()
        self._texts: TextEncoder | None = None  # the library model's text tower, for search
        self._texts_lock = threading.Lock()
        self._controls = Controls()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._indexer: threading.Thread | None = None
        self._decoders: ProcessPoolExecutor | None = None  # made by the indexing thread when first needed
        self._watcher: Watcher | None = None
        self._watcher_lock = threading.Lock()
        self._search_generation = 0
        self._last_state = IndexingState("idle")
        self._reported_at = 0.0  # when the last progress report went out
        self.last_pass: IndexingState | None = None  # how the latest indexing pass ended

    # Opening and closing

    @property
    def is_open(self) -> bool:
        return self.library is not None

    def open(self) -> None:
        def work() -> tuple[Library, str | None]:
            # Another photosort writing to this library (a `photosort index`) is waited for, and the window says so.
            library = Library(self.folder, on_wait=self.message.emit, holder=APP_HOLDER)
            return library, library.model

        def done(opened: tuple[Library, str | None]) -> None:
            library, self.model_name = opened
            self.library = library
            for notice in library.notices:
                self.message.emit(notice)
            library.notices.clear()
            self.opened.emit(library.folder)
            # The index and the relevance sample, read beside the grid's first listing: the first search is quick.
            self._run(lambda library: library.prepare_search(), None, lambda _: None, hold_lock=False)
            self.refresh()
            if self.model_name is None:
                self.modelNeeded.emit()
            else:
                self._prepare_text_tower()
                self._start_indexer()

        self._jobs.submit(work, done, self.error.emit)

    def close(self) -> None:
        """Stop indexing after the batch in flight, save the index, close the catalog and the model. Jobs still
        queued, and outcomes not yet delivered, are dropped: their receivers are closing too."""
        self._jobs.close()
        self._stopping.set()
        self._controls.cancel()
        self._wake.set()
        with self._watcher_lock:
            if self._watcher is not None:
                self._watcher.stop()
        if self._indexer is not None:
            self._indexer.join(timeout=60)
        if self._decoders is not None:
            self._decoders.shutdown(cancel_futures=True)
        self._pool.waitForDone()
        with self._encoder_lock:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None
        if self.library is not None:
            with self.library.lock:
                self.library.close()
            self.library = None

    def _run(self, work: Callable[[Library], Any], done: Callable[[Any], None] | None = None,
             failed: Callable[[str], None] | None = None, latest: str | None = None,
             hold_lock: bool = True) -> None:
        """A job that holds the library's lock while it runs (`latest`: see TaskRunner). With `hold_lock` False,
        `work` takes the lock itself around what it touches: for long jobs that others must not wait on."""
        def job() -> Any:
            library = self._require()
            if not hold_lock:
                return work(library)
            with library.lock:
                return work(library)
        self._jobs.submit(job, done, failed or self.error.emit, latest=latest)

    def _require(self) -> Library:
        if self.library is None:
            raise LibraryError("the library is still opening")
        return self.library

    # The model

    def use_model(self, model: str) -> None:
        """The library's model from now on; photos without its vectors are indexed again."""
        def work(library: Library) -> str:
            library.set_model(model)
            return model

        def done(_: str) -> None:
            self.model_name = model
            self._drop_encoder()
            self._prepare_text_tower()
            self.request_indexing()

        self._run(work, done)

    def set_device(self, device: str) -> None:
        if device != self.device:
            self.device = device
            self._drop_encoder()

    def _drop_encoder(self) -> None:
        def work() -> None:
            with self._encoder_lock:
                if self._encoder is not None:
                    self._encoder.close()
                    self._encoder = None
        self._jobs.submit(work)

    def encoder(self) -> RemoteEncoder:
        """The library's model, loaded in its process on first need (from a worker thread only)."""
        model = self._require().model
        if model is None:
            raise LibraryError("choose a model first")
        with self._encoder_lock:
            if self._encoder is None or self._encoder.model != model:
                if self._encoder is not None:
                    self._encoder.close()
                self._encoder = None
                self._encoder = RemoteEncoder(model, None if self.device == "auto" else self.device)
                self.modelReady.emit(model, self._encoder.info.device)
            return self._encoder

    def query_encoder(self) -> QueryEncoder:
        """A search's encoder: texts through the text tower in this process, example photos (and texts of a
        file only torch reads) through the model's process."""
        return QueryEncoder(self._text_encoder(), self.encoder, (NeedsTorchError,))

    def _text_encoder(self) -> TextEncoder:
        """The library model's text tower, one for the session (made again when the model changes)."""
        model = self._require().model
        if model is None:
            raise LibraryError("choose a model first")
        with self._texts_lock:
            if self._texts is None or self._texts.model != model:
                self._texts = TextEncoder(model)
            return self._texts

    def _prepare_text_tower(self) -> None:
        """Read the text tower (and the tokenizer) now, in the background, so that the first search answers at
        once. Only a model whose file is here: a download waits until a search asks for it."""
        def work() -> None:
            texts = self._text_encoder()
            if texts.identity is not None:
                try:
                    texts.prepare()
                except NeedsTorchError:
                    pass  # such a file's texts go through the model's process

        self._jobs.submit(work, None, lambda _: None)  # a failure here is told when a search meets it

    # Folders and the photo list

    def add_folders(self, paths: list[Path], take_as_moved: Callable[[Path, Path], bool] | None = None) -> None:
        """Add folders. One whose photos are those of a library folder not found on this machine (moved, or a
        drive mounted elsewhere) is that folder at its new place when `take_as_moved(old, new)`, asked on the
        GUI thread, says so (without it, always); else it is a folder of its own."""
        def find_moved(library: Library) -> dict[Path, Path]:
            found = {}
            for path in paths:
                folder = library.moved_folder(Path(path).expanduser().resolve())
                if folder is not None:
                    found[Path(path).expanduser().resolve()] = folder.path
            return found

        def add(moved: dict[Path, Path]) -> None:
            taken = {new for new, old in moved.items() if take_as_moved is None or take_as_moved(old, new)}
            self._run(lambda library: library.add_folders(paths, lambda _, place: place in taken), done)

        def done(_: None) -> None:
            self.refresh()
            self._restart_watcher()
            self.request_indexing()

        self._run(find_moved, add)

    def remove_folder(self, path: Path) -> None:
        def work(library: Library) -> None:
            library.remove_folder(path)
            library.set_reference(path, False)

        def done(_: None) -> None:
            if self.view.folder == path:
                self.view = replace(self.view, folder=None)
            self.refresh()
            self._restart_watcher()

        self._run(work, done)

    def set_reference(self, path: Path, protected: bool) -> None:
        self._run(lambda library: library.set_reference(path, protected), lambda _: self.refresh_folders())

    def rescan(self) -> None:
        self.request_indexing()

    def show(self, view: View) -> None:
        self.view = view
        self.refresh_photos()

    def refresh(self) -> None:
        self.refresh_folders()
        self.refresh_photos()
        self.refresh_labels()
        self.refresh_totals()

    def refresh_totals(self) -> None:
        def work(library: Library) -> LibraryTotals:
            counts = library.status().counts
            return LibraryTotals(counts.photos, counts.indexed, counts.failed, counts.offline)
        self._run(work, self.totalsChanged.emit, latest="totals")

    def refresh_photos(self) -> None:
        view = self.view  # an older browse can finish last: only the newest fills the grid
        self._run(lambda library: library.browse(view.order, view.folder, view.tag), self.photosChanged.emit,
                  latest="photos")

    def refresh_folders(self) -> None:
        def work(library: Library) -> list[FolderState]:
            reference = set(library.reference_folders)
            return [FolderState(folder.path, folder.online, folder.path in reference)
                    for folder in library.catalog.folders()]
        self._run(work, self.foldersChanged.emit)

    def refresh_labels(self) -> None:
        self._run(_label_states, self.labelsChanged.emit)

    def list_failures(self) -> None:
        self._run(lambda library: library.status(with_failures=True).failures, self.failures.emit)

    # Indexing

    def request_indexing(self) -> None:
        """Scan the folders and index what is new, on the indexing thread (soon, if it is busy)."""
        if not self._start_indexer():  # a new indexing thread makes its first pass unasked
            self._wake.set()

    def pause(self) -> None:
        self._controls.pause()
        self._report(replace(self._last_state, paused=True), force=True)

    def resume(self) -> None:
        self._controls.resume()
        self._report(replace(self._last_state, paused=False), force=True)

    @property
    def paused(self) -> bool:
        return self._controls.paused

    def _start_indexer(self) -> bool:
        """Start the indexing thread if it is not running and there is a model; whether it was started."""
        if self._indexer is None and self.library is not None and self.model_name is not None:
            self._wake.set()
            self._indexer = threading.Thread(target=self._index_loop, name="indexing", daemon=True)
            self._indexer.start()
            self._restart_watcher()
            return True
        return False

    def _index_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._index_pass()
            except Exception as error:  # noqa: BLE001 - reported; the thread lives on for the next pass
                self.error.emit(f"indexing stopped: {readable(error)}")
                self._report(IndexingState("idle"), force=True)

    def _index_pass(self) -> None:
        library = self._require()
        self._report(IndexingState("scanning", paused=self.paused), force=True)
        report = library.scan()  # takes the library's lock around each commit only
        with library.lock:
            pending = library.pending()
        self.refresh()
        if report.offline:
            self.message.emit(f"offline: {', '.join(str(path) for path in report.offline)} "
                              "(its photos are kept until it returns)")
        if pending and not self._stopping.is_set():
            self._report(IndexingState("loading the model", 0, len(pending), paused=self.paused), force=True)
            encoder = self.encoder()
            if self._decoders is None:
                self._decoders = decoder_pool(default_workers())
            try:
                run = library.encode_pending(encoder, photos=pending, controls=self._controls,
                                             on_progress=self._on_progress, decoders=self._decoders)
            except BrokenExecutor as error:  # a decoder process died (a file that crashes an image library)
                self._decoders = None
                raise LibraryError("a photo crashed the image decoder; indexing goes on at the next rescan") \
                    from error
            final = IndexingState("idle", run.encoded + run.read + run.failed, len(pending), run.failed)
            self.refresh()
        else:
            final = IndexingState("idle")
        self.last_pass = final
        self._report(final, force=True)
        self.indexed.emit(final)

    def _on_progress(self, progress: Progress) -> None:
        rate = progress.done / max(progress.seconds, 1e-6)
        left = (progress.total - progress.done) / rate if rate > 0 else None
        self._report(IndexingState("indexing", progress.done, progress.total, progress.failed, rate, left,
                                   self.paused), force=progress.done == progress.total)

    def _report(self, state: IndexingState, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._reported_at >= PROGRESS_INTERVAL_S:
            self._reported_at = now
            self._last_state = state
            self.indexing.emit(state)

    def _restart_watcher(self) -> None:
        """Watch the library's folders (again): on a worker, as watching a big tree walks all its folders."""
        if not self.watch or self.library is None or self.model_name is None or self._stopping.is_set():
            return

        def work() -> None:
            library = self._require()
            with library.lock:
                folders = [folder.path for folder in library.catalog.folders()]
            with self._watcher_lock:
                if self._watcher is not None:
                    self._watcher.stop()
                    self._watcher = None
                if not self._stopping.is_set():
                    self._watcher = Watcher(folders, lambda _: self._wake.set(), exclude=[library.folder.resolve()])
                    self._watcher.start()

        self._jobs.submit(work, None, self.error.emit)

    # Search

    def search(self, text: str, folder: Path | None = None, limit: int = SEARCH_PAGE) -> int:
        """Start a search (within `folder` if given) for the best `limit` photos; its results come with the
        generation returned here (older ones are dropped)."""
        self._search_generation += 1
        generation = self._search_generation

        def work() -> list[SearchHit]:
            encoder = self.query_encoder()
            library = self._require()
            library.prepare_search()  # the index, if not open yet, read without holding the lock
            with library.lock:
                results = library.search(encoder, text, k=limit, folder=folder)
                rows = {row.id: row for row in library.browse(ids=[result.id for result in results])}
            return [SearchHit(rows[result.id], result.score, result.relevant, result.ranked) for result in results
                    if result.id in rows]

        # A query typed over is skipped if it has not started, and never answers if it has.
        self._jobs.submit(work, lambda results: self.searchDone.emit(generation, results),
                          lambda message: self.searchFailed.emit(generation, message), latest="search")
        return generation

    # Labels and tags

    def save_label(self, name: str, prompts: list[str], previous: str | None = None) -> None:
        """Add a label or change one (its name, its prompts), then tag every photo with it."""
        def work() -> list[LabelState]:
            library = self._require()
            with library.lock:
                if previous is not None and previous != name:
                    library.rename_label(previous, name)
                library.set_labels({name: prompts or [name]})
                needs_model = library.needs_encoder_for_labels()
            encoder = self.query_encoder() if needs_model else None  # label prompts: texts alone
            with library.lock:
                library.retag(encoder, [name])
                return _label_states(library)

        def done(labels: list[LabelState]) -> None:
            if previous is not None and self.view.tag == previous:
                self.view = replace(self.view, tag=name)  # the label's view goes on under its new name
            self._labels_done(labels)

        self._jobs.submit(work, done, self.error.emit)

    def remove_label(self, name: str) -> None:
        def work(library: Library) -> list[LabelState]:
            library.remove_label(name)
            return _label_states(library)
        self._run(work, self._labels_done)

    def retag(self) -> None:
        """Decide every label again against the whole library (after many new photos, say)."""
        def work() -> list[LabelState]:
            library = self._require()
            with library.lock:
                needs_model = library.needs_encoder_for_labels()
            encoder = self.query_encoder() if needs_model else None  # label prompts: texts alone
            with library.lock:
                library.retag(encoder)
                return _label_states(library)

        def done(labels: list[LabelState]) -> None:
            self._labels_done(labels)
            tagged = ", ".join(f"{label.name} {label.photos:,}" for label in labels[:MESSAGE_LABELS])
            more = f" and {len(labels) - MESSAGE_LABELS} more labels" if len(labels) > MESSAGE_LABELS else ""
            self.message.emit(f"Every photo tagged again: {tagged}{more}")

        def failed(message: str) -> None:
            self.error.emit(message)
            self.refresh_labels()  # the labels as they are: the list stops waiting

        self._jobs.submit(work, done, failed)

    def _labels_done(self, labels: list[LabelState]) -> None:
        self.labelsChanged.emit(labels)
        if self.view.tag is not None and self.view.tag not in {label.name for label in labels}:
            self.view = replace(self.view, tag=None)
        self.refresh_photos()

    def judge(self, label: str, photo_id: int, path: str, accept: bool) -> None:
        """The person accepts or rejects a label on a photo; the label learns from it at once."""
        def work(library: Library) -> tuple[PhotoDetails, list[LabelState]]:
            library.judge(label, [path], ACCEPT if accept else REJECT)
            return _details(library, photo_id, path), _label_states(library)

        def done(result: tuple[PhotoDetails, list[LabelState]]) -> None:
            self.photoDetails.emit(result[0])
            self.labelsChanged.emit(result[1])
            if self.view.tag is not None:
                self.refresh_photos()

        self._run(work, done)

    def details(self, photo_id: int, path: str) -> None:
        self._run(lambda library: _details(library, photo_id, path),
                  self.photoDetails.emit)

    # Duplicates and the trash

    def find_duplicates(self) -> None:
        def work(library: Library) -> list[Cluster]:
            with library.lock:
                reference = library.reference_folders
            # About a minute at 100,000 photos, mostly comparing pictures: `duplicates` takes the lock only
            # around its reads of the catalog, so a search or a browse in the meantime is not held up.
            return library.duplicates(reference, self.duplicatesProgress.emit)
        self._run(work, self.duplicatesFound.emit, hold_lock=False)

    def trash_duplicates(self, clusters: list[Cluster]) -> None:
        """Everything but each cluster's keeper to the trash; reference folders are left alone."""
        def work(library: Library) -> TrashReport:
            steps = resolve.plan(clusters, library.reference_folders).steps
            outcome = library.trash_duplicates(steps)
            return TrashReport(frozenset(step.photo.id for step in outcome.moved),
                               sum(step.photo.size for step in outcome.moved),
                               [(step.photo.path, why) for step, why in outcome.failed])
        self._run(work, self._trash_done)

    def trash_photos(self, rows: list[BrowseRow]) -> None:
        def work(library: Library) -> TrashReport:
            moved, failed = library.trash_photos([row.id for row in rows])
            return TrashReport(frozenset(photo.id for photo in moved), sum(photo.size for photo in moved),
                               [(photo.path, why) for photo, why in failed])
        self._run(work, self._trash_done)

    def _trash_done(self, report: TrashReport) -> None:
        self.trashed.emit(report)
        self.refresh()

def _label_states(library: Library) -> list[LabelState]:
    counts = library.labels.counts()
    return [LabelState(name, prompts, counts.get(name, 0)) for name, prompts in library.labels.labels().items()]


def _details(library: Library, photo_id: int, path: str) -> PhotoDetails:
    tags = [PhotoTag(tag.label, tag.source == AUTO) for tag in library.photo_tags(photo_id)]
    return PhotoDetails(photo_id, path, tags)
