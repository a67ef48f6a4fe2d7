"""`Library`: the folders a user added, their photos, one vector per photo for the library's model, and search
(done by photosort.core.search).

Layout of a library folder::

    catalog.sqlite        photos, folders, failures and vectors (SQLite, WAL); .state beside it: see catalog
    index/<model>/        the HNSW index over the vectors (rebuilt from them whenever needed)
    thumbnails/ab/<fingerprint>.jpg
    user-work.json        the user's own work, written after each change (see user_work)
    library.lock          held by the one process that writes (see writer_lock)

A library opened for writing takes the lock first (waiting for another writer, or refusing with `wait`
False); one opened for reading takes nothing and creates nothing.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from ..paths import machine_id, user_cache_dir, user_data_dir
from ..templates import expand, templates_for
from . import exif, resolve
from . import user_work
from .moved import same_photos
from .catalog import (MODEL_KEY, REFERENCE_KEY, BrowseRow, Counts, Folder, Photo, SqlCatalog, SqliteCatalog,
                      describe_database_error, read_photo_ids_record)
from .dupe_inputs import DuplicateInputs, same_bytes, same_pixels
from .dupes import Cluster, DuplicateFinder
from .errors import LibraryError, disk_full
from .index import SearchIndex, VectorIndex
from .labels import LabelBook
from .names import shown_path
from .pipeline import Controls, IndexRun, PictureEncoder, Progress, run_pipeline
from .query import Query
from .relevance import Background
from .scan import ScanReport, scan
# SearchResult and TextImageEncoder are in Library's own signatures: callers may import them from here too.
from .query_cache import QueryCache
from .search import Search, SearchResult, TextEncoder, TextImageEncoder, check_dimension, unit
from .postgres import (PgSearchIndex, PgVectorStore, PostgresCatalog, describe, is_database_error, is_database_uri,
                       shown_location)
from .vectors import SqliteVectorStore, VectorStore
from .writer_lock import DEFAULT_HOLDER, WriterLock

LIBRARY_VARIABLE = "PHOTOSORT_LIBRARY"
CATALOG_FILE = "catalog.sqlite"
REFERENCE_REFUSAL = "it is in a reference folder: photosort never moves those"
MATCH_SAMPLE = 32  # photos of a folder not found whose presence elsewhere tells it moved there (see same_photos)


def default_library_location() -> Path | str:
    """`$PHOTOSORT_LIBRARY` (a folder, or a PostgreSQL URI), else the library in the user data folder."""
    override = os.environ.get(LIBRARY_VARIABLE)
    return library_location(override) if override else user_data_dir() / "library"


def library_location(value: str | os.PathLike | None) -> Path | str:
    """A library given by name (None: the default): a PostgreSQL connection URI as it is, a folder as a path."""
    if value is None:
        return default_library_location()
    return str(value) if is_database_uri(value) else Path(value)


def local_folder(location: Path | str) -> Path:
    """Where a library keeps its files on this machine: its folder, or for one in PostgreSQL a cache of its
    thumbnails and search index, one per database (named without the password)."""
    if is_database_uri(location):
        key = hashlib.sha256(shown_location(str(location)).encode()).hexdigest()[:16]
        return user_cache_dir() / "shared-libraries" / key
    return Path(location).expanduser().absolute()


@dataclass(frozen=True)
class Tag:
    label: str
    source: str  # "auto": the label's decision suggests it; "user": the user accepted it
    score: float | None


@dataclass(frozen=True)
class FolderRow:
    path: Path
    photos: int
    online: bool
    reference: bool
    library: bool  # a folder of the library (else a reference folder inside one)


@dataclass
class Status:
    counts: Counts
    folders: list[Folder]
    model: str | None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _holding_lock(method: _Method) -> _Method:
    """The method runs holding the library's lock: its catalog, vectors and index are one thread's at a time."""
    @functools.wraps(method)
    def locked(self: Library, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)
    return cast(_Method, locked)


class Library:
    """One library folder. Shared between threads (the desktop app), callers hold `lock` around each call but
    `encode_pending`, which takes it only around each batch's commit, so searches go on while photos encode."""

    def __init__(self, folder: Path | str | None = None, *, write: bool = True, wait: bool = True,
                 on_wait: Callable[[str], None] | None = None, holder: str = DEFAULT_HOLDER):
        """`folder`: the library's folder, or the connection URI of a library in PostgreSQL (whose folder here
        is a per-machine cache of its thumbnails and search index: see `local_folder`)."""
        # Held by every method that reads or writes the catalog, vectors or index (re-entrant: a method may call
        # another). Scanning, encoding and duplicate finding take it around each read or commit instead, so a
        # search is not held up for their whole run; a caller holds it only to make several calls one step.
        self.lock = threading.RLock()
        location = folder if folder is not None else default_library_location()
        self.database = str(location) if is_database_uri(location) else None
        self.folder = local_folder(location)
        self.writable = write
        shared = None
        if self.database:  # the server first: one not reached leaves nothing behind on this machine
            shared = PostgresCatalog(self.database, machine=machine_id())
            self.folder.mkdir(parents=True, exist_ok=True)  # a cache: readers too may keep what they build
        if self.folder.exists() and not self.folder.is_dir():
            raise LibraryError(f"the library {self.folder} is a file, not a folder")
        self.notices: list[str] = []  # what opening or repairing did that the user should hear of, a line each
        self.writer_lock = WriterLock(self.folder)
        self.holder = holder  # how another photosort waiting for this library names this one
        self._backed_up: int | None = None  # the revision of the user's work in user-work.json
        try:
            if write:
                self.folder.mkdir(parents=True, exist_ok=True)
                self.writer_lock.acquire(wait, on_wait, holder)
        except BaseException:
            if shared is not None:
                shared.close()
            raise
        try:
            if shared is not None:
                self._open_shared(shared)
            else:
                self._open_in_folder()
            if write:
                self.catalog.on_commit.append(self._back_up_user_work)
                self._back_up_user_work()
        except BaseException:
            if shared is not None:
                shared.close()
            self.writer_lock.release()
            raise
        self._index: SearchIndex | None = None
        self._preparing = threading.Lock()  # one prepare_search reads the index at a time
        self._ours: set[int] | None = None  # the folders held by an `indexing` run
        self.index_state = ""  # what opening the index did: loaded, updated, rebuilt (why)
        self.query_cache = QueryCache(self.folder)
        self._search = Search(self.catalog, self.vectors, self.labels, self.index, self._require_model,
                              self.query_cache)

    def _open_shared(self, catalog: PostgresCatalog) -> None:
        """The stores in PostgreSQL, over one connection (a batch's vectors and photo states commit together)."""
        self.catalog: SqlCatalog = catalog
        self.vectors: VectorStore = PgVectorStore(catalog.db)
        self.work = user_work.UserWorkStore(catalog)
        self.labels = LabelBook(catalog.db, self.vectors)

    def _open_in_folder(self) -> None:
        """The stores in the folder's SQLite file; a missing catalog is made anew, with the user's saved work."""
        write = self.writable
        catalog_path = self.folder / CATALOG_FILE
        missing = write and not catalog_path.exists()
        ids_used = 0
        if missing:  # whatever was recorded of a catalog that is gone speaks of another one
            record = catalog_path.with_name(catalog_path.name + ".state")
            if record.exists() and user_work.read(self.folder) is None:
                self.notices.append("the catalog was missing and there is no saved work to restore: a new, "
                                    "empty one was made")
            ids_used = read_photo_ids_record(record)
            record.unlink(missing_ok=True)
        catalog = SqliteCatalog(catalog_path, read_only=not write, machine=machine_id())
        # The SQLite library's other stores share the catalog's connection (one file, one transaction).
        self.catalog = catalog
        self.work = user_work.UserWorkStore(catalog)
        self.vectors = SqliteVectorStore(catalog.db)
        self.labels = LabelBook(catalog.db, self.vectors)
        if missing:
            catalog.skip_photo_ids(ids_used)
            self._restore_user_work("the catalog was missing")

    @_holding_lock
    def close(self) -> None:
        try:
            self._save_index()
            self.catalog.close()
            self.query_cache.close()
        finally:
            self.writer_lock.release()

    def _save_index(self) -> None:
        """Save the index if it changed, or if the catalog moved on since it was saved (it is in line now). A
        reader saves only while no writer is at work; a full disk leaves the saved index as it was (it is
        repaired from the stored vectors next time)."""
        index = self._index
        if index is None or not (index.dirty or index.catalog_state != self.catalog.content_state):
            return
        if not self.writable and not self.writer_lock.try_acquire(self.holder):
            return
        try:
            index.save(self.catalog.content_state)
        except (OSError, RuntimeError) as error:  # hnswlib says RuntimeError when it cannot write
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self.notices.append(f"the search index was not saved ({reason}); it is rebuilt from the stored "
                                "vectors next time")
        finally:
            if not self.writable:
                self.writer_lock.release()

    def _back_up_user_work(self) -> None:
        """Write user-work.json when the user's work changed since it was last written."""
        revision = self.work.revision()
        if self._backed_up is None:
            self._backed_up = user_work.backed_up_revision(self.folder, self.catalog.library_id)
        if revision == self._backed_up:
            return
        try:
            self.work.write(self.folder)
            self._backed_up = revision
        except OSError as error:
            # The catalog holds the work; the copy is written at the next change, or at the next opening.
            self.notices.append(f"could not write {user_work.BACKUP_FILE} ({error.strerror or error})")

    @_holding_lock
    def write_user_work(self) -> None:
        """Write user-work.json now, changed or not."""
        self.work.write(self.folder)
        self._backed_up = self.work.revision()

    def _restore_user_work(self, why: str) -> None:
        backup = user_work.read(self.folder)
        if backup is None:
            return
        with self.catalog.transaction():
            restored = self.work.restore(backup)
        self.notices.append(f"{why}: {restored} from {user_work.BACKUP_FILE}; the photos are read again by "
                            "`photosort index`")

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def thumbnails(self) -> Path:
        return self.folder / "thumbnails"

    # The model

    @property
    @_holding_lock
    def model(self) -> str | None:
        return self.catalog.get_meta(MODEL_KEY)

    @_holding_lock
    def set_model(self, name: str) -> None:
        if name != self.model:
            with self.catalog.transaction():
                self.catalog.set_meta(MODEL_KEY, name)
            self._index = None

    # Folders and indexing

    @_holding_lock
    def add_folders(self, paths: list[os.PathLike | str],
                    take_as_moved: Callable[[Folder, Path], bool] | None = None) -> list[Folder]:
        """Add folders (a folder inside one already added is part of it; one around others takes them in). A
        folder whose content is that of a library folder not found here (see `moved_folder`) is taken as that
        folder at its new place when `take_as_moved(folder, path)` says so; without it, always."""
        folders = []
        for path in paths:
            resolved = self._photo_folder(path)
            known = self.catalog.folders()
            outer = next((folder for folder in known if resolved.is_relative_to(folder.path)), None)
            if outer is not None:
                folders.append(outer)
                continue
            moved = self.moved_folder(resolved)
            if moved is not None and (take_as_moved is None or take_as_moved(moved, resolved)):
                folders.append(self.move_folder(moved.path, resolved))
                continue
            with self.catalog.transaction():
                added = self.catalog.add_folder(resolved)
                for inner in known:
                    if inner.path.is_relative_to(resolved):
                        self.catalog.absorb_folder(inner.id, added.id)
            folders.append(added)
        return folders

    def _photo_folder(self, path: os.PathLike | str) -> Path:
        """`path` resolved, when it may be a folder of the library."""
        resolved = Path(path).expanduser().resolve()
        if not resolved.is_dir():
            raise LibraryError(f"{path} is not a folder")
        if resolved.is_relative_to(self.folder.resolve()):
            raise LibraryError(f"{path} is inside photosort's own library folder {self.folder}, "
                               "which holds no photos of yours")
        return resolved

    @_holding_lock
    def moved_folder(self, path: Path) -> Folder | None:
        """The library folder, not found on this machine, whose photos are at `path` now: its photos' paths
        within it, sizes and (for a few) contents match those found there."""
        for folder in self.catalog.folders():
            if not folder.online and not folder.path.is_dir() and same_photos(self.catalog.sample_of(
                    folder.id, MATCH_SAMPLE), folder.path, path):
                return folder
        return None

    @_holding_lock
    def move_folder(self, old: os.PathLike | str, new: os.PathLike | str) -> Folder:
        """The library folder at `old` is at `new` on this machine from now on: its photos, their vectors, tags
        and examples go with it, nothing read again. Other machines sharing the library keep their own place."""
        wanted = Path(old).expanduser().absolute()
        folder = next((folder for folder in self.catalog.folders() if folder.path in (wanted, wanted.resolve())),
                      None)
        if folder is None:
            raise LibraryError(f"{old} is not a folder of this library (`photosort folders` lists them)")
        place = self._photo_folder(new)
        if place == folder.path:
            return folder
        if folder.path.is_dir():
            raise LibraryError(f"{folder.path} is still there: only a folder that is not (moved, renamed, or a "
                               "drive mounted elsewhere) can be taken to a new place")
        other = next((known for known in self.catalog.folders() if known.id != folder.id and (
            place.is_relative_to(known.path) or known.path.is_relative_to(place))), None)
        if other is not None:
            raise LibraryError(f"{new} overlaps the library folder {other.path}: forget that one first with "
                               f"`photosort folders --remove {other.path}` (its files are not touched)")
        with self.catalog.transaction():
            self.catalog.move_folder(folder.id, place)
            # Reference folders in it stay protected at its new place (and at the old, for other machines).
            self.set_references([place / reference.relative_to(folder.path) for reference in self.reference_folders
                                 if reference.is_relative_to(folder.path)])
        self._sync_index()
        return next(known for known in self.catalog.folders() if known.id == folder.id)

    @_holding_lock
    def remove_folder(self, path: os.PathLike | str) -> None:
        """Forget a folder and its photos; the files themselves are not touched."""
        wanted = Path(path).expanduser().absolute()
        folder = next((folder for folder in self.catalog.folders() if folder.path in (wanted, wanted.resolve())),
                      None)
        if folder is None:
            raise LibraryError(f"{path} is not a folder of this library (`photosort folders` lists them)")
        with self.catalog.transaction():
            self.catalog.remove_folder(folder.id)
        self._sync_index()

    @_holding_lock
    def browse(self, order: str = "date", folder: Path | None = None, tag: str | None = None,
               ids: list[int] | None = None) -> list[BrowseRow]:
        """Readable photos, newest first ("date") or by path ("name"); of one folder, with one label, or these."""
        return self.catalog.browse(order, folder, tag, ids)

    @property
    @_holding_lock
    def reference_folders(self) -> list[Path]:
        """Stored as full paths, or relative to the library's folder when a library folder holds both (they
        move together: see `_stored_reference`)."""
        library = os.path.realpath(self.folder)
        return [Path(os.path.normpath(os.path.join(library, path))) if not Path(path).is_absolute() else Path(path)
                for path in json.loads(self.catalog.get_meta(REFERENCE_KEY) or "[]")]

    def _stored_reference(self, path: Path) -> str:
        library = Path(os.path.realpath(self.folder))
        if any(path.is_relative_to(folder.path) and library.is_relative_to(folder.path)
               for folder in self.catalog.folders()):
            return Path(os.path.relpath(path, library)).as_posix()
        return str(path)

    @_holding_lock
    def set_reference(self, folder: os.PathLike | str, protected: bool) -> None:
        """Mark a folder as a reference (its photos are kept first and never moved), or unmark it."""
        self.set_references([folder] if protected else [], [] if protected else [folder])

    @_holding_lock
    def set_references(self, add: Sequence[os.PathLike | str] = (), remove: Sequence[os.PathLike | str] = ()) -> None:
        """Mark folders as references and unmark others, in one change."""
        folders = {self._stored_reference(path) for path in self.reference_folders}
        folders.update(self._stored_reference(Path(path).expanduser().absolute()) for path in add)
        folders.difference_update(self._stored_reference(Path(path).expanduser().absolute()) for path in remove)
        with self.catalog.transaction():
            self.catalog.set_meta(REFERENCE_KEY, json.dumps(sorted(folders)))

    @_holding_lock
    def is_reference(self, path: str) -> bool:
        """Whether a photo lies under a reference folder: such photos are never moved, whoever asks."""
        return resolve.under_any(path, self.reference_folders)

    @_holding_lock
    def folder_rows(self) -> list[FolderRow]:
        """The library's folders and the reference folders, each with how many photos lie under it."""
        reference = self.reference_folders
        places = {folder.path: folder for folder in self.catalog.folders()}
        rows = []
        for path in sorted(set(places) | set(reference)):
            folder = places.get(path)
            online = folder.online if folder is not None else path.is_dir()
            rows.append(FolderRow(path, self.catalog.count_under(path), online,
                                  resolve.under_any(str(path) + os.sep, reference), folder is not None))
        return rows

    def scan(self, on_file: Callable[[int], None] | None = None) -> ScanReport:
        """Bring the catalog in line with the folders (never looking into the library's own folder); the lock
        is held only around each commit."""
        report = scan(self.catalog, on_file, exclude=[self.folder.resolve()], lock=self.lock)
        with self.lock:
            with self.catalog.transaction():
                self.work.apply_restored_tags()
            self._sync_index()
        return report

    @_holding_lock
    def pending(self) -> list[Photo]:
        """Readable photos in online folders with no vector for the library's model yet (during `indexing`, of
        the folders this process holds)."""
        photos = self.catalog.pending(self._require_model())
        if self._ours is not None:
            photos = [photo for photo in photos if photo.folder_id in self._ours]
        return photos

    @contextmanager
    def indexing(self) -> Iterator[None]:
        """A run of scanning and encoding that holds the folders it works on: in a library shared by machines,
        those another one is indexing now are left to it (each photo is read and encoded once)."""
        with self.lock:
            folders = [folder.id for folder in self.catalog.folders()]
        with self.catalog.scanning(folders) as ours:
            self._ours = ours
            try:
                yield
            finally:
                self._ours = None

    def encode_pending(self, encoder: PictureEncoder, *, photos: list[Photo] | None = None, batch_size: int = 32,
                       workers: int | None = None, controls: Controls | None = None,
                       on_progress: Callable[[Progress], None] | None = None,
                       decoders: Executor | None = None) -> IndexRun:
        """Encode `photos` (by default, what `pending()` lists), committing batch by batch."""
        model = self._require_model()
        if photos is None:
            with self.lock:
                photos = self.pending()

        def on_batch(ids: np.ndarray, vectors: np.ndarray) -> None:
            if self._index is None:
                # Opening brings in every committed vector, this batch's too; a new library's first vectors
                # tell the index its dimension.
                self.index(vectors.shape[1])
            else:
                self._index.add(ids, vectors)
            self.labels.tag_new(model, ids, vectors)  # in the batch's own transaction

        try:
            return run_pipeline(photos, encoder, self.catalog, self.vectors, model, self.thumbnails,
                                batch_size=batch_size, workers=workers, controls=controls,
                                on_progress=on_progress, on_batch=on_batch, lock=self.lock, decoders=decoders)
        finally:
            with self.lock:
                if self._index is not None:
                    self._sync_index()  # exact copies of an encoded photo share its vector: they join here
                    self._save_index()

    # The index

    @_holding_lock
    def index(self, dim: int | None = None) -> SearchIndex | None:
        """The HNSW index for the library's model, opened (and repaired) on first use; None before any vector.
        A library in PostgreSQL searches with the server's (pgvector's) instead."""
        if self._index is None:
            model = self._require_model()
            if dim is None:
                dim = self.vectors.dimension(model)
                if dim is None:
                    return None
            if self.database:
                self._index = PgSearchIndex(cast(PostgresCatalog, self.catalog).db, model, dim,
                                            self.vectors.searchable_ids(model))
                self.index_state = "pgvector's, in the database"
                return self._index
            self._index, self.index_state = self._read_index(model, dim, self.catalog.content_state, save=True)
        return self._index

    def _read_index(self, model: str, dim: int, state: str, save: bool) -> tuple[VectorIndex, str]:
        """The saved index, repaired from the stored vectors if it is not in line with the catalog at `state`;
        saved when repaired if `save` and no writer is at work. What it asks of the catalog takes the lock."""
        def expected_ids() -> np.ndarray:
            with self.lock:
                return self.vectors.searchable_ids(model)

        def vectors(wanted: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            with self.lock:
                return self._vector_loader(model)(wanted)

        can_save = save and (self.writable or self.writer_lock.try_acquire(self.holder))
        try:
            index, how = VectorIndex.open(self.folder / "index" / _slug(model), model, dim, expected_ids, vectors,
                                          state, self.catalog.library_id, save=can_save)
        except OSError as error:
            raise _described(error, self.folder) from error
        finally:
            if can_save and not self.writable:
                self.writer_lock.release()
        if how.startswith("rebuilt (damaged"):
            self.notices.append("the search index was damaged and has been rebuilt from the stored vectors")
        return index, how

    @_holding_lock
    def rebuild_index(self) -> None:
        """A new index from the stored vectors, saved in place of the old one."""
        if self.database:
            return  # the server's index is kept by the server
        model = self._require_model()
        ids, vectors = self.vectors.photo_vectors(model)
        index = VectorIndex(self.folder / "index" / _slug(model), model, vectors.shape[1], self.catalog.library_id)
        index.add(ids, vectors)
        index.save(self.catalog.content_state)
        self._index, self.index_state = index, "rebuilt"

    @_holding_lock
    def forget_reading(self, fingerprint_: str) -> None:
        """The photos of this content are read again at the next indexing (their thumbnail was lost)."""
        with self.catalog.transaction():
            self.catalog.forget_reading(fingerprint_)

    def _vector_loader(self, model: str) -> Callable[[np.ndarray | None], tuple[np.ndarray, np.ndarray]]:
        return lambda wanted: self.vectors.photo_vectors(model, None if wanted is None else wanted.tolist())

    def _sync_index(self) -> None:
        """Bring the open index in line with the catalog: new vectors in, gone or offline photos out. An index
        saved or loaded at the catalog's present state is in line already (asking which photos are searchable
        takes 0.4 s at 100,000 photos, with the library's lock held)."""
        if self._index is not None and self._index.catalog_state != self.catalog.content_state:
            model = self._require_model()
            self._index.sync(self.vectors.searchable_ids(model), self._vector_loader(model))

    # Search

    @_holding_lock
    def search(self, encoder: TextImageEncoder, text: str | None = None, image: os.PathLike | str | None = None,
               k: int = 20, folder: Path | None = None) -> list[SearchResult]:
        """The k photos nearest a query (see photosort.core.query) and/or an example image, best first, each
        marked relevant or not against what the query scores on the rest of the library. A query of filters
        alone lists the k newest photos that pass them, unranked. `folder`: only photos under that folder."""
        return self._search.search(encoder, text, image, k, folder)

    def prepare_search(self) -> None:
        """Open what every search reads (the index, the relevance sample) now, so that a search does not wait
        for them: the desktop app does this as the library opens, and before each search. The index's files
        are read (a quarter of a second at 100,000 photos) without holding the library's lock, so that listing
        the photos goes on meanwhile; an index in need of repair is not saved from here (the library saves it
        later). Never called while holding the lock: one caller reads, the others wait for it."""
        with self._preparing:
            with self.lock:
                model = self.model
                dim = self.vectors.dimension(model) if model else None
                if model is None or dim is None:
                    return  # no vectors yet: nothing to open
                state = self.catalog.content_state
                opened = self._index is not None or bool(self.database)  # a shared library's is the server's
            if not opened:
                read = self._read_index(model, dim, state, save=False)
                with self.lock:
                    if self._index is None and self.model == model:
                        self._index, self.index_state = read
            with self.lock:
                if self.model == model and self.index() is not None:
                    self._search.sample()

    @_holding_lock
    def background(self, vector: np.ndarray) -> Background:
        """What a query vector scores on a fixed sample of the library: the level of unrelated photos."""
        return self._search.background(vector)

    @_holding_lock
    def query_vector(self, encoder: TextImageEncoder, query: Query) -> np.ndarray:
        """The weighted sum of the terms' unit vectors (avoided terms subtract), as a unit vector."""
        return self._search.query_vector(encoder, query)

    @_holding_lock
    def text_vector(self, encoder: TextEncoder, text: str) -> np.ndarray:
        """A query text's unit vector, encoded once while the library is open. A short text is read through
        the model's template ensemble ("dog" as "a photo of dog.", ...), averaged."""
        return self._search.text_vector(encoder, text)

    # Labels and tags

    @_holding_lock
    def set_labels(self, labels: dict[str, list[str]]) -> None:
        with self.catalog.transaction():
            for name, prompts in labels.items():
                self.labels.set_label(name, prompts or [name])

    @_holding_lock
    def rename_label(self, old: str, new: str) -> None:
        labels = self.labels.labels()
        if old not in labels:
            raise LibraryError(f"there is no label {old!r}")
        if new in labels:
            raise LibraryError(f"there is a label {new!r} already")
        with self.catalog.transaction():
            self.labels.rename_label(old, new)

    @_holding_lock
    def remove_label(self, name: str) -> None:
        with self.catalog.transaction():
            if not self.labels.remove_label(name):
                raise LibraryError(f"there is no label {name!r} (labels: {', '.join(self.labels.labels()) or 'none'})")

    @_holding_lock
    def needs_encoder_for_labels(self) -> bool:
        return bool(self.model and self.labels.undecided(self.model))

    @_holding_lock
    def retag(self, encoder: TextEncoder | None = None, labels: list[str] | None = None) -> dict[str, int]:
        """Decide every label (or `labels`) again and re-tag all photos; labels never encoded for the model
        need `encoder`. Returns how many photos each label is on."""
        model = self._require_model()
        prompt_vectors = {}
        undecided = self.labels.undecided(model)
        if undecided:
            if encoder is None:
                raise LibraryError(f"the labels {', '.join(undecided)} need the model to read their prompts")
            known = self.labels.labels()
            prompt_vectors = {name: self.prompt_vector(encoder, known[name]) for name in undecided}
        with self.catalog.transaction():
            return self.labels.decide_and_tag(model, prompt_vectors, labels)

    @_holding_lock
    def prompt_vector(self, encoder: TextEncoder, prompts: list[str]) -> np.ndarray:
        """A label's prompts, each through the template ensemble, averaged as unit vectors."""
        model = self._require_model()
        templates = templates_for(model)
        vectors = [encoder.encode_texts(expand(prompt, templates)).mean(axis=0) for prompt in prompts]
        vector = unit(np.mean([unit(vector) for vector in vectors], axis=0)).astype(np.float32)
        check_dimension(vector, self.vectors.dimension(model), model)
        return vector

    @_holding_lock
    def judge(self, label: str, paths: Sequence[os.PathLike | str], verdict: int) -> list[str]:
        """The user accepts (or rejects) photos for a label; the label is decided again from them at once.
        Returns the paths that are not photos of the library."""
        if label not in self.labels.labels():
            raise LibraryError(f"there is no label {label!r}: add it with `photosort tag --label {label}`")
        found, unknown = {}, []
        for path in paths:
            resolved = shown_path(str(Path(path).expanduser().resolve()))
            photo = self.catalog.readable_photo_at(resolved)
            if photo is None:
                unknown.append(str(path))
            else:
                found[photo[0]] = photo[1]
        with self.catalog.transaction():
            self.labels.add_examples(label, found, verdict)
            if self.model and not self.labels.undecided(self.model):
                self.labels.decide_and_tag(self.model, {}, [label])
        return unknown

    @_holding_lock
    def photo_tags(self, photo_id: int) -> list[Tag]:
        """A photo's labels: suggested by a label's decision ("auto") or the user's own ("user")."""
        return [Tag(*row) for row in self.labels.tags_of_photo(photo_id)]

    @_holding_lock
    def tagged_photos(self) -> dict[str, list[str]]:
        """Every indexed photo's labels, by path (an empty list for a photo with none)."""
        ids = self.vectors.searchable_ids(self._require_model())
        photos = self.catalog.photos_by_id(ids.tolist())
        tags = self.labels.tags_of(photos)
        return {photos[photo_id].path: tags.get(photo_id, []) for photo_id in sorted(photos,
                                                                                   key=lambda i: photos[i].path)}

    # Duplicates

    def duplicates(self, reference: Sequence[Path] = (),
                   on_progress: Callable[[str, int, int], None] | None = None) -> list[Cluster]:
        """Clusters of exact, near and similar duplicates among the readable photos of online folders. The
        photos are read under the lock, then compared outside it (each store read taking it briefly)."""
        with self.lock:
            photos = self.catalog.readable_photos()
            model = self.model
        photos = self.read_missing_capture(photos)
        if on_progress:
            on_progress("reading the library", 1, 1)
        inputs = DuplicateInputs(self.catalog, self.vectors, self.lock, self.thumbnails, model, self.writable)
        by_print = {photo.fingerprint: photo for photo in photos if photo.fingerprint is not None}
        finder = DuplicateFinder(photos, inputs.signatures(photos), lambda prints: inputs.faces(prints, by_print),
                                 inputs.vectors, detail=inputs.detail, same_bytes=same_bytes,
                                 same_pixels=same_pixels, reference=reference, on_progress=on_progress,
                                 nearest=self.vectors.nearest_looks)
        return finder.clusters()

    def read_missing_capture(self, photos: list[Photo]) -> list[Photo]:
        """`photos`, those indexed by an older photosort (no `taken_source` yet) with their capture facts read
        from their files' headers (no pixel decoded): their time when the EXIF has one, where it came from, the
        camera, the count of EXIF fields. A writable library stores them, so each file is read once; a file
        that cannot be opened now (vanished, permission denied) is taken as having no EXIF time this once and
        read again next time: a passing failure must not cost a photo its capture time for good."""
        missing = [photo for photo in photos if photo.taken_source is None]
        if not missing:
            return photos
        read: dict[int, Photo] = {}
        lasting: list[tuple[int, exif.Capture]] = []
        for photo in missing:
            try:
                capture = exif.read_header(photo.file)
                lasting.append((photo.id, capture))
            except OSError:
                capture = exif.NO_EXIF
            read[photo.id] = replace(photo, taken=capture.taken if capture.taken is not None else photo.taken,
                                     taken_source=capture.source, camera=capture.camera,
                                     metadata_fields=capture.fields)
        if self.writable and lasting:
            with self.lock, self.catalog.transaction():
                for photo_id, capture in lasting:
                    self.catalog.set_capture(photo_id, capture)
        return [read.get(photo.id, photo) for photo in photos]

    @_holding_lock
    def trash_duplicates(self, steps: list[resolve.Step]) -> resolve.Outcome:
        """Move the planned photos to the system trash; the keepers take on their tags; the catalog forgets
        them at once."""
        protected = [step for step in steps if self.is_reference(step.photo.path)]
        outcome = resolve.carry_out([step for step in steps if step not in protected])
        outcome.failed += [(step, REFERENCE_REFUSAL) for step in protected]
        with self.catalog.transaction():
            for step in outcome.moved:
                self.labels.inherit(step.keep.id, [step.photo.id])
            self.catalog.delete_photos(step.photo.id for step in outcome.moved)
        self._sync_index()
        return outcome

    @_holding_lock
    def trash_photos(self, photo_ids: Sequence[int]) -> tuple[list[Photo], list[tuple[Photo, str]]]:
        """Move photos the user chose to the system trash; the catalog forgets those moved. Returns (moved,
        [(not moved, why)])."""
        photos = self.catalog.photos_by_id(photo_ids)
        moved, failed = [], []
        for photo in photos.values():
            reason = REFERENCE_REFUSAL if self.is_reference(photo.path) else resolve.move_to_trash(photo)
            if reason is None:
                moved.append(photo)
            else:
                failed.append((photo, reason))
        with self.catalog.transaction():
            self.catalog.delete_photos(photo.id for photo in moved)
        self._sync_index()
        return moved, failed

    # Status

    @_holding_lock
    def status(self, with_failures: bool = False) -> Status:
        model = self.model
        counts = self.catalog.counts(model or "")
        problems = self.catalog.scan_problems()
        counts = replace(counts, failed=counts.failed + len(problems))
        failures = sorted([(photo.path, photo.failure or "") for photo in self.catalog.failures()] + problems) \
            if with_failures else []
        return Status(counts, self.catalog.folders(), model, failures)

    def _require_model(self) -> str:
        model = self.model
        if not model:
            raise LibraryError("this library has no model yet: run `photosort index PATH` first")
        return model


def explain(error: BaseException, folder: Path) -> str:
    """One line a person can act on, for anything that stopped a command on the library in `folder`."""
    if isinstance(error, LibraryError):
        return str(error)
    if isinstance(error, sqlite3.Error):
        return str(describe_database_error(error, folder / CATALOG_FILE))
    if is_database_error(error):
        return describe(error)
    if isinstance(error, OSError):
        return str(_described(error, folder))
    if isinstance(error, MemoryError):
        return "not enough memory: close other programs, or index with a smaller --batch-size"
    return (f"unexpected {type(error).__name__}: {error} (what was committed before it is kept; please report "
            "this, with the output of the same command run with PHOTOSORT_TRACEBACK=1)")


def _described(error: OSError, folder: Path) -> LibraryError:
    if error.errno == errno.ENOSPC:
        return disk_full(folder)
    where = f" ({error.filename})" if error.filename else ""
    return LibraryError(f"{error.strerror or error}{where}")


def _slug(model: str) -> str:
    """A folder name for a model name or checkpoint path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_")[:80] or "model"
