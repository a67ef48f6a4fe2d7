"""The catalog: every photo of the library's folders, in SQLite (WAL), with step-by-step schema migrations.

`Catalog` is the storage interface the engine uses; `SqliteCatalog` the embedded default. A later shared
library (PostgreSQL) implements the same methods.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import CatalogDamaged, CatalogLost, LibraryError, disk_full
from .sql import MARKS, select_in_chunks

if TYPE_CHECKING:  # the catalog stores what `exif` read, and needs none of Pillow to do it
    from .exif import Capture

# Photo states. A photo is "ok" once read; "failed" carries the reason in `failure`.
OK = "ok"
FAILED = "failed"

# Schema steps, applied in order from the database's `user_version`: never edit a released step, add one.
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        online INTEGER NOT NULL DEFAULT 1,
        added REAL NOT NULL
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint TEXT,
        width INTEGER,
        height INTEGER,
        taken REAL,
        state TEXT NOT NULL,
        failure TEXT
    );
    CREATE INDEX photos_by_folder ON photos(folder_id);
    CREATE INDEX photos_by_fingerprint ON photos(fingerprint);
    CREATE TABLE vectors (
        model TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model, fingerprint)
    ) WITHOUT ROWID;
    """,
    # Perceptual signatures (duplicates), and labels with their examples and the tags they put on photos.
    """
    CREATE TABLE signatures (fingerprint TEXT PRIMARY KEY, signature BLOB NOT NULL, face BLOB NOT NULL)
        WITHOUT ROWID;
    CREATE TABLE labels (name TEXT PRIMARY KEY, prompts TEXT NOT NULL, added REAL NOT NULL);
    CREATE TABLE label_examples (
        label TEXT NOT NULL REFERENCES labels(name) ON DELETE CASCADE ON UPDATE CASCADE,
        fingerprint TEXT NOT NULL,
        verdict INTEGER NOT NULL,
        PRIMARY KEY (label, fingerprint)
    ) WITHOUT ROWID;
    CREATE TABLE label_decisions (
        label TEXT NOT NULL REFERENCES labels(name) ON DELETE CASCADE ON UPDATE CASCADE,
        model TEXT NOT NULL,
        prompt_vector BLOB NOT NULL,
        direction BLOB NOT NULL,
        threshold REAL NOT NULL,
        PRIMARY KEY (label, model)
    ) WITHOUT ROWID;
    CREATE TABLE tags (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        label TEXT NOT NULL REFERENCES labels(name) ON DELETE CASCADE ON UPDATE CASCADE,
        score REAL,
        source TEXT NOT NULL,
        PRIMARY KEY (photo_id, label)
    ) WITHOUT ROWID;
    CREATE INDEX tags_by_label ON tags(label);
    """,
    # Photo ids are never reused (AUTOINCREMENT): whatever is keyed by id (the index, the grid's pictures) can
    # never take a deleted photo's place for a new one. A name that is not valid UTF-8 is kept as its raw bytes
    # (`path` is then its escaped display form). Folders that could not be listed, tags waiting for their
    # photos after a restore, the library's identity, and a revision count of the user's own work (labels,
    # examples, user tags, folders, reference folders, model), which triggers keep, so its backup follows it.
    """
    CREATE TABLE photos_v3 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL UNIQUE,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint TEXT,
        width INTEGER,
        height INTEGER,
        taken REAL,
        state TEXT NOT NULL,
        failure TEXT,
        raw_path BLOB
    );
    INSERT INTO photos_v3 (id, path, folder_id, size, mtime_ns, fingerprint, width, height, taken, state, failure)
        SELECT id, path, folder_id, size, mtime_ns, fingerprint, width, height, taken, state, failure FROM photos;
    DROP TABLE photos;
    ALTER TABLE photos_v3 RENAME TO photos;
    CREATE INDEX photos_by_folder ON photos(folder_id);
    CREATE INDEX photos_by_fingerprint ON photos(fingerprint);
    CREATE TABLE scan_problems (
        path TEXT PRIMARY KEY,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        reason TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE restored_tags (
        fingerprint TEXT NOT NULL,
        label TEXT NOT NULL REFERENCES labels(name) ON DELETE CASCADE ON UPDATE CASCADE,
        PRIMARY KEY (fingerprint, label)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO meta (key, value) VALUES ('library_id', lower(hex(randomblob(16))));
    INSERT OR IGNORE INTO meta (key, value) VALUES ('user_work', '0');
    """ + "".join(
        f"CREATE TRIGGER user_work_{table}_{event.lower()} AFTER {event} ON {table} {when} BEGIN "
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'user_work'; END;\n"
        for table, events, when in (
            ("labels", ("INSERT", "UPDATE", "DELETE"), ""),
            ("label_examples", ("INSERT", "UPDATE", "DELETE"), ""),
            ("folders", ("INSERT", "DELETE"), ""),
            ("tags", ("INSERT",), "WHEN NEW.source = 'user'"),
            ("tags", ("DELETE",), "WHEN OLD.source = 'user'"),
            ("meta", ("INSERT", "UPDATE"), "WHEN NEW.key IN ('model', 'reference_folders')"),
        ) for event in events),
    # What the EXIF says of a photo's taking, read at index time (see exif): where `taken` came from, the
    # camera, and how many EXIF fields the file kept. A NULL source: not read yet, the photo was indexed by an
    # older photosort (Library.read_missing_capture reads it).
    """
    ALTER TABLE photos ADD COLUMN taken_source TEXT;
    ALTER TABLE photos ADD COLUMN camera TEXT;
    ALTER TABLE photos ADD COLUMN metadata_fields INTEGER;
    """,
    # Photos by their path within their folder (see `relative_paths`), and each machine's place for a folder
    # found elsewhere there (a drive mounted at another place, a NAS seen from two computers).
    lambda db: relative_paths(db),
)
PHOTOS_TABLE = """
    CREATE TABLE photos_v5 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL,
        folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint TEXT,
        width INTEGER,
        height INTEGER,
        taken REAL,
        state TEXT NOT NULL,
        failure TEXT,
        raw_path BLOB,
        taken_source TEXT,
        camera TEXT,
        metadata_fields INTEGER,
        UNIQUE (folder_id, path)
    )"""


def relative_paths(db: sqlite3.Connection) -> None:
    """The fifth schema step: photos move from their full path to their path within their folder, "/" between
    names whatever the system (`raw_path` likewise, as bytes), unique within their folder; a table of the
    places a machine found a folder at."""
    db.execute("CREATE TABLE folder_places (folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE, "
               "machine TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (folder_id, machine)) WITHOUT ROWID")
    ids_used = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'photos'").fetchone()
    db.execute(PHOTOS_TABLE)
    roots = {folder_id: _prefix(path) for folder_id, path in db.execute("SELECT id, path FROM folders")}
    columns = ("id, path, folder_id, size, mtime_ns, fingerprint, width, height, taken, state, failure, raw_path, "
               "taken_source, camera, metadata_fields")
    db.executemany(f"INSERT INTO photos_v5 ({columns}) VALUES ({', '.join('?' * 15)})", (
        (row[0], _relative(row[1], roots[row[2]]), *row[2:11],
         row[11][len(os.fsencode(roots[row[2]])):] if row[11] is not None else None, *row[12:])
        for row in db.execute(f"SELECT {columns} FROM photos").fetchall()))
    db.execute("DROP TABLE photos")
    db.execute("ALTER TABLE photos_v5 RENAME TO photos")
    db.execute("CREATE INDEX photos_by_fingerprint ON photos(fingerprint)")
    if ids_used is not None:  # the highest id ever handed out, deleted ones included, stays the same
        db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'photos'", (ids_used[0],))
        if db.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'photos'").fetchone() is None:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('photos', ?)", (ids_used[0],))


def _prefix(root: str) -> str:
    """What a photo's full path starts with, in a folder at `root`."""
    return root.rstrip(os.sep) + os.sep


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a place that cannot even be looked at (permissions, a dead network mount) is not there
        return False


def _relative(path: str, prefix: str) -> str:
    """A photo's path within its folder, as stored: "/" between names."""
    if not path.startswith(prefix):
        raise ValueError(f"{path} is not in the folder {prefix}")
    return path[len(prefix):].replace(os.sep, "/")


# A photo's full path on this machine, in SQL over photos as p joined to `roots_here` as f (see place_roots).
HERE_PATH = "f.prefix || p.path" if os.sep == "/" else "f.prefix || replace(p.path, '/', '\\')"
BUSY_TIMEOUT_S = 30  # how long a statement waits for another connection's write to end
MODEL_KEY = "model"
REFERENCE_KEY = "reference_folders"  # folders whose photos are never moved to the trash (JSON list)
USER_WORK_KEY = "user_work"  # the revision of the user's own work (see the third migration)
LIBRARY_ID_KEY = "library_id"  # random, made with the catalog: what is saved beside it names the catalog it fits


@dataclass(frozen=True)
class Folder:
    id: int
    path: Path
    online: bool


@dataclass(frozen=True)
class Photo:
    id: int
    path: str
    folder_id: int
    size: int
    mtime_ns: int
    fingerprint: str | None
    width: int | None
    height: int | None
    taken: float | None
    state: str
    failure: str | None
    raw_path: bytes | None = None  # the name's bytes when they are not valid UTF-8 (`path` shows them escaped)
    taken_source: str | None = None  # where `taken` came from (exif.ORIGINAL ... exif.FILE); None: not read yet
    camera: str | None = None  # EXIF "Make Model", "" when the file names none
    metadata_fields: int | None = None  # how many EXIF fields the file kept

    @property
    def file(self) -> str:
        """What to open: the path itself, or the raw name (as Python's file functions take undecodable bytes)."""
        return os.fsdecode(self.raw_path) if self.raw_path is not None else self.path

    @property
    def known_fingerprint(self) -> str:
        """`fingerprint`, of a photo that has one: one read without error (the catalog's readable and pending
        photos, the duplicate finder's). A photo without one there is a bug, never a state to go on in."""
        if self.fingerprint is None:
            raise ValueError(f"photo {self.id} ({self.path}) has no fingerprint: its file was never read")
        return self.fingerprint


@dataclass(frozen=True)
class BrowseRow:
    """What the photo grid shows of a photo: light enough for a list of 100,000."""
    id: int
    path: str
    taken: float  # capture time, else the file's modification time
    size: int
    width: int | None
    height: int | None
    fingerprint: str | None
    online: bool


BROWSE_ORDERS = {"date": f"COALESCE(p.taken, p.mtime_ns / 1e9) DESC, {HERE_PATH}",
                 "name": f"lower({HERE_PATH}), {HERE_PATH}"}


@dataclass(frozen=True)
class PhotoFilter:
    """Which photos a search may return: all of its parts hold (an empty filter passes every photo)."""

    folders: tuple[str, ...] = ()  # `folder:` terms: a folder's name, the end of its path, or its path
    within: Path | None = None  # the folder the person is looking in
    tags: tuple[str, ...] = ()  # labels the photo carries, whatever their case
    after: float | None = None  # capture time, seconds since the epoch
    before: float | None = None


@dataclass(frozen=True)
class Counts:
    photos: int  # image files known, online or not
    indexed: int  # photos with a vector for the library's model
    failed: int
    offline: int  # photos in folders that are not there now


class Catalog(Protocol):
    def close(self) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    @property
    def change_count(self) -> int: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    @property
    def content_state(self) -> str: ...
    def add_folder(self, path: Path) -> Folder: ...
    def folders(self) -> list[Folder]: ...
    def scanning(self, folder_ids: list[int]) -> AbstractContextManager[set[int]]: ...
    def move_folder(self, folder_id: int, path: Path) -> None: ...
    def set_folder_online(self, folder_id: int, online: bool) -> None: ...
    def remove_folder(self, folder_id: int) -> None: ...
    def absorb_folder(self, inner_id: int, outer_id: int) -> None: ...
    def browse(self, order: str, folder: Path | None = None, tag: str | None = None,
               ids: list[int] | None = None) -> list[BrowseRow]: ...
    def photos_in(self, folder_id: int, after: int = 0, limit: int | None = None) -> dict[str, Photo]: ...
    def photos_by_id(self, ids: Iterable[int]) -> dict[int, Photo]: ...
    def sample_of(self, folder_id: int, count: int) -> list[Photo]: ...
    def readable_photo_at(self, path: str) -> tuple[int, str] | None: ...
    def readable_paths(self) -> list[str]: ...
    def count_under(self, folder: Path) -> int: ...
    def forget_reading(self, fingerprint: str) -> None: ...
    def filtered_ids(self, photos: PhotoFilter, limit: int | None = None) -> list[int]: ...
    def add_photo(self, path: str, folder_id: int, size: int, mtime_ns: int, fingerprint: str | None,
                  state: str = OK, failure: str | None = None, raw_path: bytes | None = None) -> int: ...
    def move_photo(self, photo_id: int, path: str, folder_id: int, mtime_ns: int,
                   raw_path: bytes | None = None) -> None: ...
    def touch_photo(self, photo_id: int, size: int, mtime_ns: int) -> None: ...
    def set_aside(self, photo_id: int) -> None: ...
    def reread_photo(self, photo_id: int, size: int, mtime_ns: int, fingerprint: str) -> None: ...
    def replace_photo(self, old: Photo, size: int, mtime_ns: int, fingerprint: str) -> int: ...
    def set_scan_problems(self, folder_id: int, problems: dict[str, str]) -> None: ...
    def scan_problems(self) -> list[tuple[str, str]]: ...
    def delete_photos(self, ids: Iterable[int]) -> None: ...
    def set_decoded(self, photo_id: int, width: int, height: int, taken: float,
                    capture: Capture | None = None) -> None: ...
    def set_capture(self, photo_id: int, capture: Capture) -> None: ...
    def set_failed(self, photo_id: int, reason: str) -> None: ...
    def readable_photos(self) -> list[Photo]: ...
    def failures(self) -> list[Photo]: ...
    def content_ids(self, model: str, fingerprints: Iterable[str]) -> set[str]: ...
    def pending(self, model: str) -> list[Photo]: ...
    def counts(self, model: str) -> Counts: ...


class SqlCatalog:
    """The catalog's SQL, the same for SQLite and PostgreSQL (`postgres.PostgresCatalog`): `db` is a connection
    that takes "?" parameters and counts the rows it changed (`total_changes`). Subclasses open it, bring its
    schema up to date, and say how a write transaction begins."""

    db: Any
    machine: str  # whose places of the folders apply (see `move_folder`)
    library_dir: Path | None  # where the library's own files are, when on this machine (see `_located`)
    on_commit: list[Callable[[], None]]  # called after each commit that changed something
    _depth: int = 0
    _BEGIN = "BEGIN"
    _IDS_IN = "p.id IN (SELECT value FROM json_each(?))"  # any number of ids in one parameter (a JSON list)
    _TEMP_VIEW = "CREATE TEMP VIEW IF NOT EXISTS"

    def _committed(self) -> None:
        """After a commit that changed something."""

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def scanning(self, folder_ids: list[int]) -> Iterator[set[int]]:
        """The folders of `folder_ids` this process may scan now, held for it until the block ends: all of them,
        where one process writes at a time (the library's lock file)."""
        yield set(folder_ids)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all; nested uses join the outer transaction."""
        if self._depth == 0:
            self.db.execute(self._BEGIN)
            changes_before = self.db.total_changes
        self._depth += 1
        changed = False
        try:
            yield
            if self._depth == 1 and self.db.total_changes != changes_before:
                # Committed with the changes it counts: the index compares it to know it is current.
                self.db.execute("INSERT INTO meta (key, value) VALUES ('changes', '1') ON CONFLICT (key) "
                                "DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)")
                changed = True
        except BaseException:
            self._depth -= 1
            if self._depth == 0 and self.db.in_transaction:  # SQLite rolls back by itself on a full disk
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")
            if changed:
                self._committed()
                for callback in self.on_commit:
                    callback()

    @property
    def library_id(self) -> str:
        return self.get_meta(LIBRARY_ID_KEY) or ""

    @property
    def content_state(self) -> str:
        """What the searchable photos depend on: the change count, and which folders are not there on this
        machine now. What is built from the catalog (the index, a sample of it) is current while it holds."""
        offline = [folder_id for (folder_id,) in self.db.execute("SELECT id FROM roots_here WHERE online = 0 "
                                                                 "ORDER BY id")]
        return f"{self.change_count}" + (f" without {offline}" if offline else "")

    @property
    def change_count(self) -> int:
        """How many write transactions have changed the catalog: equal counts, equal contents."""
        return int(self.get_meta("changes") or 0)

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
                        "excluded.value", (key, value))

    # Folders. A folder is stored as the place it was added at: a full path, or one relative to the library's
    # own folder when the library is kept inside it, so that the two move together. A machine that finds the
    # folder elsewhere (a drive mounted at another place, the NAS seen from another computer) keeps its own
    # place for it in `folder_places`. Where each folder is on this machine, and whether it is there now, is in
    # the connection's own table `roots_here`, which every query over photos joins; the view `photos_here` is
    # the photos with their full paths here (and their folder online or not), for whoever reads the catalog.

    def place_roots(self) -> None:
        """Fill `roots_here` from the stored folders and this machine's places for them."""
        rows = self.db.execute("SELECT f.id, f.path, h.path FROM folders f LEFT JOIN folder_places h "
                               "ON h.folder_id = f.id AND h.machine = ?", (self.machine,)).fetchall()
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS roots_here (id INTEGER PRIMARY KEY, root TEXT NOT NULL, "
                        "prefix TEXT NOT NULL, online INTEGER NOT NULL)")
        self.db.execute(f"{self._TEMP_VIEW} photos_here AS SELECT p.id, {HERE_PATH} AS path, "
                        "p.folder_id, p.size, p.mtime_ns, p.fingerprint, p.width, p.height, p.taken, p.state, "
                        "p.failure, p.taken_source, p.camera, p.metadata_fields, f.online "
                        "FROM photos p JOIN roots_here f ON f.id = p.folder_id")
        self.db.execute("DELETE FROM roots_here")
        places = [(folder_id, self._located(stored, here)) for folder_id, stored, here in rows]
        self.db.executemany("INSERT INTO roots_here (id, root, prefix, online) VALUES (?, ?, ?, ?)",
                            [(folder_id, str(root), _prefix(str(root)), int(_is_folder(root)))
                             for folder_id, root in places])

    def _located(self, stored: str, here: str | None) -> Path:
        """Where a folder stored as `stored` is on this machine (`here`: this machine's own place for it)."""
        if here is not None:
            return Path(here)
        if Path(stored).is_absolute():
            return Path(stored)
        if self.library_dir is None:  # a library not on this machine: nothing is relative to it
            return Path(stored)
        return Path(os.path.realpath(self.library_dir / stored))

    def _stored(self, path: Path) -> str:
        """How a folder at `path` is stored: relative to the library's folder when that lies inside it."""
        if self.library_dir is None:
            return str(path)
        library = Path(os.path.realpath(self.library_dir))
        if library.is_relative_to(path):
            return Path(os.path.relpath(path, library)).as_posix()
        return str(path)

    def add_folder(self, path: Path) -> Folder:
        known = next((folder for folder in self.folders() if folder.path == path), None)
        if known is not None:
            return known
        stored = self._stored(path)
        elsewhere = self.db.execute("SELECT id FROM folders WHERE path = ?", (stored,)).fetchone()
        if elsewhere is not None:
            self.place_roots()  # another machine may have added it a moment ago
            known = next(folder for folder in self.folders() if folder.id == elsewhere[0])
            if known.path == path:
                return known
            # The folder first added here moved away (this machine found it elsewhere): its name is free for a
            # new folder. The one that moved is stored at its new place from now on (another machine still
            # looking for it at the old one finds it by its photos, as this one did).
            self.db.execute("UPDATE folders SET path = ? WHERE id = ?", (self._stored(known.path), elsewhere[0]))
            self.db.execute("DELETE FROM folder_places WHERE folder_id = ? AND machine = ?",
                            (elsewhere[0], self.machine))
        # Another machine may add the same folder at the same moment: then it is that one.
        self.db.execute("INSERT INTO folders (path, added) VALUES (?, ?) ON CONFLICT (path) DO NOTHING",
                        (stored, time.time()))
        row = self.db.execute("SELECT id FROM folders WHERE path = ?", (stored,)).fetchone()
        self.place_roots()
        return next(folder for folder in self.folders() if folder.id == row[0])

    def folders(self) -> list[Folder]:
        rows = self.db.execute("SELECT id, root, online FROM roots_here ORDER BY root").fetchall()
        return [Folder(id_, Path(root), bool(online)) for id_, root, online in rows]

    def move_folder(self, folder_id: int, path: Path) -> None:
        """The folder is at `path` on this machine from now on (its photos with it); other machines keep theirs."""
        stored = self.db.execute("SELECT path FROM folders WHERE id = ?", (folder_id,)).fetchone()[0]
        self.db.execute("DELETE FROM folder_places WHERE folder_id = ? AND machine = ?", (folder_id, self.machine))
        if self._located(stored, None) != path:
            self.db.execute("INSERT INTO folder_places (folder_id, machine, path) VALUES (?, ?, ?)",
                            (folder_id, self.machine, str(path)))
        self.place_roots()

    def set_folder_online(self, folder_id: int, online: bool) -> None:
        """Whether the folder is there, on this machine, now (found by a scan)."""
        self.db.execute("UPDATE roots_here SET online = ? WHERE id = ?", (int(online), folder_id))

    def remove_folder(self, folder_id: int) -> None:
        """Forget a folder and its photos (and so their tags); vectors stay, keyed by content, for a return."""
        self.db.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
        self.place_roots()

    def absorb_folder(self, inner_id: int, outer_id: int) -> None:
        """A folder added around one already in the library takes over its photos, ids and all."""
        prefixes = dict(self.db.execute("SELECT id, prefix FROM roots_here WHERE id IN (?, ?)", (inner_id, outer_id)))
        between = _relative(prefixes[inner_id], prefixes[outer_id])  # "inner/", from the outer folder
        self.db.execute("UPDATE photos SET folder_id = ?, path = ? || path WHERE folder_id = ?",
                        (outer_id, between, inner_id))
        self.db.executemany("UPDATE photos SET raw_path = ? WHERE id = ?", [
            (os.fsencode(between) + raw, photo_id) for photo_id, raw in self.db.execute(
                "SELECT id, raw_path FROM photos WHERE folder_id = ? AND raw_path IS NOT NULL", (outer_id,))])
        self.db.execute("DELETE FROM folders WHERE id = ?", (inner_id,))
        self.place_roots()

    def _in_folder(self, path: str) -> tuple[int, str] | None:
        """(folder id, path within it) of a full path, when it lies in a folder of the library."""
        for folder_id, prefix in self.db.execute("SELECT id, prefix FROM roots_here"):
            if path.startswith(prefix):
                return folder_id, _relative(path, prefix)
        return None

    def browse(self, order: str, folder: Path | None = None, tag: str | None = None,
               ids: list[int] | None = None) -> list[BrowseRow]:
        """Readable photos, in `order` (a key of BROWSE_ORDERS): of one library folder, with one label, or these
        `ids`, when given."""
        clauses, values = ["p.state = ?"], [OK]
        if folder is not None:
            clauses.append("f.root = ?")
            values.append(str(folder))
        if tag is not None:
            clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.photo_id = p.id AND t.label = ?)")
            values.append(tag)
        if ids is not None:
            clauses.append(self._IDS_IN)
            values.append(json.dumps(ids))
        rows = self.db.execute(
            f"SELECT p.id, {HERE_PATH}, COALESCE(p.taken, p.mtime_ns / 1e9), p.size, p.width, p.height, "
            f"p.fingerprint, f.online FROM photos p JOIN roots_here f ON f.id = p.folder_id "
            f"WHERE {' AND '.join(clauses)} ORDER BY {BROWSE_ORDERS[order]}", values)
        return [BrowseRow(photo_id, path, taken, size, width, height, print_, bool(online))
                for photo_id, path, taken, size, width, height, print_, online in rows]

    # Photos: read with their full path here (the folder's place, then the path within it)

    _COLUMNS = (f"p.id, {HERE_PATH}, p.folder_id, p.size, p.mtime_ns, p.fingerprint, p.width, p.height, p.taken, "
                "p.state, p.failure, p.raw_path, p.taken_source, p.camera, p.metadata_fields, f.prefix")
    _FROM = "FROM photos p JOIN roots_here f ON f.id = p.folder_id"

    @staticmethod
    def _photo(row: Sequence) -> Photo:
        """A Photo of a row of _COLUMNS: the raw name too becomes a full path."""
        *fields, prefix = row
        if fields[11] is not None:
            fields[11] = os.fsencode(prefix) + fields[11]
        return Photo(*fields)

    def photos_in(self, folder_id: int, after: int = 0, limit: int | None = None) -> dict[str, Photo]:
        """A folder's photos by path: those whose id is above `after`, and the `limit` first of them by id."""
        sql = f"SELECT {self._COLUMNS} {self._FROM} WHERE p.folder_id = ? AND p.id > ?"
        if limit is not None:
            sql += f" ORDER BY p.id LIMIT {int(limit)}"
        return {row[1]: self._photo(row) for row in self.db.execute(sql, (folder_id, after))}

    def photos_by_id(self, ids: Iterable[int]) -> dict[int, Photo]:
        return {row[0]: self._photo(row) for row in select_in_chunks(
            self.db, f"SELECT {self._COLUMNS} {self._FROM} WHERE p.id IN ({MARKS})", ids)}

    def sample_of(self, folder_id: int, count: int) -> list[Photo]:
        """Up to `count` readable photos of a folder, spread over it (every n-th by path)."""
        ids = [photo_id for (photo_id,) in self.db.execute(
            "SELECT id FROM photos WHERE folder_id = ? AND state = ? ORDER BY path", (folder_id, OK))]
        chosen = ids[::max(1, len(ids) // max(count, 1))][:count]  # only these are read whole
        photos = self.photos_by_id(chosen)
        return [photos[photo_id] for photo_id in chosen if photo_id in photos]

    def readable_photo_at(self, path: str) -> tuple[int, str] | None:
        """(id, fingerprint) of the readable photo at `path`, if the catalog has one."""
        place = self._in_folder(path)
        if place is None:
            return None
        row = self.db.execute("SELECT id, fingerprint FROM photos WHERE folder_id = ? AND path = ? AND state = ? "
                              "AND fingerprint IS NOT NULL", (*place, OK)).fetchone()
        return (row[0], row[1]) if row else None

    def readable_paths(self) -> list[str]:
        return [path for (path,) in self.db.execute(f"SELECT {HERE_PATH} {self._FROM} WHERE p.state = ?", (OK,))]

    def count_under(self, folder: Path) -> int:
        """Photos anywhere below `folder` (its own and its subfolders')."""
        prefix = _prefix(str(folder))
        return self.db.execute(f"SELECT COUNT(*) {self._FROM} WHERE substr({HERE_PATH}, 1, ?) = ?",
                               (len(prefix), prefix)).fetchone()[0]

    def forget_reading(self, fingerprint: str) -> None:
        """The photos of this content count as not yet read (decoded) at the next indexing."""
        self.db.execute("UPDATE photos SET width = NULL WHERE fingerprint = ?", (fingerprint,))

    def filtered_ids(self, photos: PhotoFilter, limit: int | None = None) -> list[int]:
        """Ids of the photos that pass the filter (at most `limit` of them)."""
        clauses: list[str] = ["1 = 1"]  # all pass, until a part of the filter says otherwise
        values: list[str | float] = []
        for folder in photos.folders:
            clause, folder_values = _folder_clause(folder)
            clauses.append(clause)
            values += folder_values
        if photos.within is not None:
            clause, folder_values = _under_clause(photos.within)
            clauses.append(clause)
            values += folder_values
        for label in photos.tags:
            clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.photo_id = p.id AND lower(t.label) = lower(?))")
            values.append(label)
        if photos.after is not None:
            clauses.append("p.taken >= ?")
            values.append(photos.after)
        if photos.before is not None:
            clauses.append("p.taken < ?")
            values.append(photos.before)
        bounded = f" LIMIT {int(limit)}" if limit is not None else ""
        return [row[0] for row in self.db.execute(
            f"SELECT p.id {self._FROM} WHERE {' AND '.join(clauses)}{bounded}", values)]

    def add_photo(self, path: str, folder_id: int, size: int, mtime_ns: int, fingerprint: str | None,
                  state: str = OK, failure: str | None = None, raw_path: bytes | None = None) -> int:
        stored, raw = self._within(folder_id, path, raw_path)
        return self.db.execute(
            "INSERT INTO photos (path, folder_id, size, mtime_ns, fingerprint, state, failure, raw_path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (stored, folder_id, size, mtime_ns, fingerprint, state, failure, raw)).fetchone()[0]

    def _within(self, folder_id: int, path: str, raw_path: bytes | None) -> tuple[str, bytes | None]:
        """A full path (and raw name) as stored: within the folder."""
        prefix = self.db.execute("SELECT prefix FROM roots_here WHERE id = ?", (folder_id,)).fetchone()[0]
        raw = raw_path[len(os.fsencode(prefix)):] if raw_path is not None else None
        return _relative(path, prefix), raw

    def move_photo(self, photo_id: int, path: str, folder_id: int, mtime_ns: int,
                   raw_path: bytes | None = None) -> None:
        """A renamed or moved file: same content, same id, so its vector, tags and index entry stay."""
        stored, raw = self._within(folder_id, path, raw_path)
        self.db.execute("UPDATE photos SET path = ?, folder_id = ?, mtime_ns = ?, raw_path = ? WHERE id = ?",
                        (stored, folder_id, mtime_ns, raw, photo_id))

    def touch_photo(self, photo_id: int, size: int, mtime_ns: int) -> None:
        """A file whose date changed but not its content (a restore, a sync tool): only the stat moves on."""
        self.db.execute("UPDATE photos SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, photo_id))

    def set_aside(self, photo_id: int) -> None:
        """Free a photo's path for another photo in this transaction (its content left it); the photo is moved
        to its new path, or removed, before the transaction ends. A path within a folder never starts with /."""
        self.db.execute("UPDATE photos SET path = '/' || CAST(id AS TEXT) WHERE id = ?", (photo_id,))

    def reread_photo(self, photo_id: int, size: int, mtime_ns: int, fingerprint: str) -> None:
        """A file that could not be read before and can now: it is read (decoded) again, same id."""
        self.db.execute("UPDATE photos SET size = ?, mtime_ns = ?, fingerprint = ?, state = ?, failure = NULL, "
                        "width = NULL, height = NULL, taken = NULL, taken_source = NULL, camera = NULL, "
                        "metadata_fields = NULL WHERE id = ?",
                        (size, mtime_ns, fingerprint, OK, photo_id))

    def replace_photo(self, old: Photo, size: int, mtime_ns: int, fingerprint: str) -> int:
        """A photo edited in place: new content is a new photo (a new id, never a reused one, so nothing keyed
        by id can show the old picture), which keeps the tags the user gave the old one."""
        user_tags = self.db.execute("SELECT label, score, source FROM tags WHERE photo_id = ? AND source = 'user'",
                                    (old.id,)).fetchall()
        self.db.execute("DELETE FROM photos WHERE id = ?", (old.id,))
        new_id = self.add_photo(old.path, old.folder_id, size, mtime_ns, fingerprint, raw_path=old.raw_path)
        self.db.executemany("INSERT INTO tags (photo_id, label, score, source) VALUES (?, ?, ?, ?)",
                            [(new_id, *tag) for tag in user_tags])
        return new_id

    def set_scan_problems(self, folder_id: int, problems: dict[str, str]) -> None:
        """What a scan of one folder could not look into (a subfolder it cannot list, a name too long)."""
        self.db.execute("DELETE FROM scan_problems WHERE folder_id = ?", (folder_id,))
        self.db.executemany("INSERT INTO scan_problems (path, folder_id, reason) VALUES (?, ?, ?) ON CONFLICT (path) "
                            "DO UPDATE SET folder_id = excluded.folder_id, reason = excluded.reason",
                            [(path, folder_id, reason) for path, reason in problems.items()])

    def scan_problems(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT path, reason FROM scan_problems ORDER BY path").fetchall()

    def delete_photos(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM photos WHERE id = ?", [(photo_id,) for photo_id in ids])

    def set_decoded(self, photo_id: int, width: int, height: int, taken: float,
                    capture: Capture | None = None) -> None:
        """A photo read: its size as shown, its date (capture time, else mtime) and what its EXIF says of its
        taking (None: left unread, for `set_capture` later)."""
        facts = (None, None, None) if capture is None else (capture.source, capture.camera, capture.fields)
        self.db.execute("UPDATE photos SET width = ?, height = ?, taken = ?, state = ?, failure = NULL, "
                        "taken_source = ?, camera = ?, metadata_fields = ? WHERE id = ?",
                        (width, height, taken, OK, *facts, photo_id))

    def set_capture(self, photo_id: int, capture: Capture) -> None:
        """What the photo's EXIF says of its taking; its capture time, when it has one, becomes its date."""
        self.db.execute("UPDATE photos SET taken = COALESCE(?, taken), taken_source = ?, camera = ?, "
                        "metadata_fields = ? WHERE id = ?",
                        (capture.taken, capture.source, capture.camera, capture.fields, photo_id))

    def set_failed(self, photo_id: int, reason: str) -> None:
        self.db.execute("UPDATE photos SET state = ?, failure = ? WHERE id = ?", (FAILED, reason, photo_id))

    def readable_photos(self) -> list[Photo]:
        """Photos read without error in folders that are online now."""
        rows = self.db.execute(f"SELECT {self._COLUMNS} {self._FROM} WHERE p.state = ? AND f.online = 1 "
                               f"AND p.width IS NOT NULL ORDER BY {HERE_PATH}", (OK,))
        return [self._photo(row) for row in rows]

    def failures(self) -> list[Photo]:
        rows = self.db.execute(f"SELECT {self._COLUMNS} {self._FROM} WHERE p.state = ? ORDER BY {HERE_PATH}",
                               (FAILED,))
        return [self._photo(row) for row in rows]

    def pending(self, model: str) -> list[Photo]:
        """Photos in online folders to read: not read yet (no size, date or signature: a copy of content already
        encoded is read for those too), with no vector for `model` yet, or that could not be decoded last time
        (tried again at every run: a failure is often passing)."""
        rows = self.db.execute(
            f"SELECT {self._COLUMNS} {self._FROM} "
            "WHERE f.online = 1 AND p.fingerprint IS NOT NULL AND (p.state = ? OR p.width IS NULL OR NOT EXISTS "
            f"(SELECT 1 FROM vectors v WHERE v.model = ? AND v.fingerprint = p.fingerprint)) ORDER BY {HERE_PATH}",
            (FAILED, model))
        return [self._photo(row) for row in rows]

    def content_ids(self, model: str, fingerprints: Iterable[str]) -> set[str]:
        """Those of `fingerprints` that have a vector for `model` already."""
        return {print_ for (print_,) in select_in_chunks(
            self.db, f"SELECT fingerprint FROM vectors WHERE model = ? AND fingerprint IN ({MARKS})", fingerprints,
            before=(model,))}

    def counts(self, model: str) -> Counts:
        photos, failed, offline = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN p.state = ? THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(1 - f.online), 0) {self._FROM}", (FAILED,)).fetchone()
        indexed = self.db.execute(
            "SELECT COUNT(*) FROM photos p WHERE p.state = ? AND p.width IS NOT NULL AND EXISTS "
            "(SELECT 1 FROM vectors v WHERE v.model = ? AND v.fingerprint = p.fingerprint)",
            (OK, model)).fetchone()[0]
        return Counts(photos, indexed, failed, offline)



class SqliteCatalog(SqlCatalog):
    """The catalog in one SQLite file. One writer at a time (the library's lock file); WAL lets readers go on.

    Beside it, `<file>.state` records the library's identity and how many changes were committed. SQLite keeps
    recent commits in its `-wal` file until a checkpoint: should that file be removed after a crash, the
    catalog silently goes back in time. The record tells, and opening then refuses with a message.
    """

    def __init__(self, path: Path, read_only: bool = False, check_state: bool = True, machine: str = ""):
        self.path = path
        self.read_only = read_only
        self.machine = machine
        self.library_dir: Path | None = path.parent
        self.on_commit = []
        try:
            if read_only:
                self.db = _connect_read_only(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                # The engine hands work to threads; all writes still go through one thread at a time.
                self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                          check_same_thread=False)
                _use_wal(self.db)
                self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable up to the last checkpoint
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self.place_roots()
            if check_state:
                self.check_state()
        except sqlite3.DatabaseError as error:
            raise describe_database_error(error, path) from error
        except OSError as error:
            raise LibraryError(f"cannot open the library folder {path.parent}: {error.strerror or error}") from error

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise LibraryError(f"the library at {self.path.parent} was made by a newer photosort "
                               f"(schema {version}, this one knows {len(MIGRATIONS)})")
        if version == len(MIGRATIONS):
            return
        if self.read_only and version == 0:
            raise CatalogDamaged(f"the library catalog {self.path} is empty or damaged: run `photosort library "
                                 "check` to rebuild it")
        if self.read_only:
            raise LibraryError(f"the library at {self.path.parent} was made by an older photosort: run "
                               "`photosort index` on it once to bring it up to date")
        # A step may rebuild a table: dropping the old one must not cascade into the tables that refer to it.
        self.db.execute("PRAGMA foreign_keys=OFF")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                # Read again under the write lock: another process may have made or updated it meanwhile.
                for step in range(self.schema_version, len(MIGRATIONS)):
                    migration = MIGRATIONS[step]
                    if callable(migration):
                        migration(self.db)
                    else:
                        for statement in _statements(migration):
                            self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {step + 1}")
                if self.db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise sqlite3.DatabaseError("foreign keys broken by the schema update")
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        finally:
            self.db.execute("PRAGMA foreign_keys=ON")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    @property
    def state_path(self) -> Path:
        return self.path.with_name(self.path.name + ".state")

    def check_state(self) -> None:
        """Refuse a catalog that lacks commits its state record has seen (see the class's comment)."""
        try:
            record = json.loads(self.state_path.read_text())
            known_id, known_changes = str(record["library_id"]), int(record["changes"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            return  # a damaged record proves nothing; the next commit writes it anew
        if known_id != self.library_id or known_changes > self.change_count:
            lost = "" if known_id != self.library_id else f" (its last {known_changes - self.change_count} changes)"
            raise CatalogLost(f"the library catalog {self.path} has lost what it held{lost}: its -wal file was "
                              "removed or damaged, or the catalog was replaced. Run `photosort library check` "
                              "to rebuild it from what is left and from your saved work")

    @property
    def photo_ids_used(self) -> int:
        """The highest photo id ever handed out (SQLite's AUTOINCREMENT record)."""
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'photos'").fetchone()
        return int(row[0]) if row else 0

    def skip_photo_ids(self, used: int) -> None:
        """Never hand out ids up to `used`: a catalog made anew keeps the promise of the one it replaces."""
        if used > self.photo_ids_used:
            with self.transaction():
                if self.db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'photos'", (used,)).rowcount == 0:
                    self.db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('photos', ?)", (used,))

    def accept_state(self) -> None:
        """Take the catalog as it is now as the library's state (after `library check` rebuilt what it could)."""
        self._write_state()

    def _write_state(self) -> None:
        try:
            temporary = self.state_path.with_name(self.state_path.name + ".tmp")
            temporary.write_text(json.dumps({"library_id": self.library_id, "changes": self.change_count,
                                             "photo_ids": self.photo_ids_used}))
            os.replace(temporary, self.state_path)
        except OSError:
            pass  # the record only helps tell a lost -wal file; the commit itself stands

    def close(self) -> None:
        if not self.read_only:
            try:
                # A clean exit leaves everything in the main file and an empty -wal file.
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError:
                pass  # another connection is reading; the checkpoint happens later
        self.db.close()

    _BEGIN = "BEGIN IMMEDIATE"

    def _committed(self) -> None:
        self._write_state()


def read_photo_ids_record(record: Path) -> int:
    """The highest photo id a catalog's state record (`<catalog>.state`) has seen; 0 when there is none."""
    try:
        return int(json.loads(record.read_text()).get("photo_ids", 0))
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open for reading only, never creating a file; a catalog on read-only media too (immutable: nobody can
    change what cannot be written)."""
    if not path.is_file():
        raise LibraryError(f"there is no photosort library in {path.parent}: `photosort index PATH` makes one")
    uri = path.resolve().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:  # WAL needs its -shm file, which a read-only folder cannot hold
        db.close()
    if os.access(path.parent, os.W_OK):
        raise LibraryError(f"cannot read the library catalog {path}")
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to write-ahead logging. Switching needs the file to itself for a moment and, unlike other
    statements, is refused at once rather than waited for when another process holds it (two processes making
    a new library at once): it is tried again for as long as any statement would wait."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, one by one (executescript would commit first)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip().strip(";").strip():
                yield pending
            pending = ""
    if pending.strip():
        yield pending


def describe_database_error(error: sqlite3.Error, path: Path) -> LibraryError:
    """One line a person can act on, for what SQLite says about the catalog."""
    message = str(error)
    lowered = message.lower()
    if "full" in lowered and "disk" in lowered or getattr(error, "sqlite_errorcode", None) == 13:
        return disk_full(path.parent)
    if any(sign in lowered for sign in ("malformed", "not a database", "corrupt", "disk i/o error")):
        return CatalogDamaged(f"the library catalog {path} is damaged ({message}): run `photosort library check` "
                              "to repair it")
    if "locked" in lowered or "busy" in lowered:
        return LibraryError(f"the library catalog {path} is busy ({message}): another program holds it; "
                            "try again")
    if "readonly" in lowered or "read-only" in lowered:
        return LibraryError(f"the library {path.parent} cannot be written ({message})")
    return LibraryError(f"the library catalog {path}: {message}")


def _folder_clause(folder: str) -> tuple[str, list[str | float]]:
    """SQL (over photos as p) for a `folder:` filter: under that path, or under a folder of that name or path end
    anywhere in the library."""
    place = Path(folder).expanduser()
    if place.is_absolute() or place.is_dir():
        return _under_clause(place.resolve())
    return (f"(? || lower({HERE_PATH})) LIKE ? ESCAPE '\\'",
            [os.sep, "%" + _like_escape(os.sep + folder.strip(os.sep).lower() + os.sep) + "%"])


def _under_clause(folder: Path) -> tuple[str, list[str | float]]:
    return f"{HERE_PATH} LIKE ? ESCAPE '\\'", [_like_escape(str(folder).rstrip(os.sep) + os.sep) + "%"]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
