"""The catalog: every photo of the library's folders, in SQLite (WAL), with step-by-step schema migrations.

`Catalog` is the storage interface the engine uses; `SqliteCatalog` the embedded default. A later shared
library (PostgreSQL) implements the same methods.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import LibraryError

# Photo states. A photo is "ok" once read; "failed" carries the reason in `failure`.
OK = "ok"
FAILED = "failed"

# Schema steps, applied in order from the database's `user_version`: never edit a released step, add one.
MIGRATIONS: tuple[str, ...] = (
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
)


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


BROWSE_ORDERS = {"date": "COALESCE(p.taken, p.mtime_ns / 1e9) DESC, p.path", "name": "p.path COLLATE NOCASE, p.path"}


@dataclass(frozen=True)
class Counts:
    photos: int  # image files known, online or not
    indexed: int  # photos with a vector for the library's model
    failed: int
    offline: int  # photos in folders that are not there now


class Catalog(Protocol):
    def close(self) -> None: ...
    def transaction(self) -> Iterator[None]: ...
    @property
    def change_count(self) -> int: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def add_folder(self, path: Path) -> Folder: ...
    def folders(self) -> list[Folder]: ...
    def set_folder_online(self, folder_id: int, online: bool) -> None: ...
    def remove_folder(self, folder_id: int) -> None: ...
    def absorb_folder(self, inner_id: int, outer_id: int) -> None: ...
    def browse(self, order: str, folder: Path | None = None, tag: str | None = None,
               ids: list[int] | None = None) -> list[BrowseRow]: ...
    def photos_in(self, folder_id: int) -> dict[str, Photo]: ...
    def photos_by_id(self, ids: Iterable[int]) -> dict[int, Photo]: ...
    def add_photo(self, path: str, folder_id: int, size: int, mtime_ns: int, fingerprint: str | None,
                  state: str = OK, failure: str | None = None) -> int: ...
    def move_photo(self, photo_id: int, path: str, folder_id: int, mtime_ns: int) -> None: ...
    def delete_photos(self, ids: Iterable[int]) -> None: ...
    def set_decoded(self, photo_id: int, width: int, height: int, taken: float) -> None: ...
    def set_failed(self, photo_id: int, reason: str) -> None: ...
    def readable_photos(self) -> list[Photo]: ...
    def failures(self) -> list[Photo]: ...
    def pending(self, model: str) -> list[Photo]: ...
    def counts(self, model: str) -> Counts: ...


class SqliteCatalog:
    """The catalog in one SQLite file. One writer (the indexing process); WAL lets readers go on meanwhile."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The engine hands work to threads; all writes still go through one thread at a time.
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable up to the last checkpoint
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise LibraryError(f"cannot open the library catalog {path}: {error}") from error
        except OSError as error:
            raise LibraryError(f"cannot open the library folder {path.parent}: {error.strerror or error}") from error
        self._depth = 0

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise LibraryError(f"the library at {self.path.parent} was made by a newer photosort "
                               f"(schema {version}, this one knows {len(MIGRATIONS)})")
        for step in range(version, len(MIGRATIONS)):
            # executescript commits first; the step and its version number then land together.
            self.db.executescript(f"BEGIN; {MIGRATIONS[step]}; PRAGMA user_version = {step + 1}; COMMIT;")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all; nested uses join the outer transaction."""
        if self._depth == 0:
            self.db.execute("BEGIN IMMEDIATE")
            changes_before = self.db.total_changes
        self._depth += 1
        try:
            yield
            if self._depth == 1 and self.db.total_changes != changes_before:
                # Committed with the changes it counts: the index compares it to know it is current.
                self.db.execute("INSERT INTO meta (key, value) VALUES ('changes', '1') ON CONFLICT(key) "
                                "DO UPDATE SET value = CAST(value AS INTEGER) + 1")
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    @property
    def change_count(self) -> int:
        """How many write transactions have changed the catalog: equal counts, equal contents."""
        return int(self.get_meta("changes") or 0)

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                        (key, value, value))

    # Folders

    def add_folder(self, path: Path) -> Folder:
        self.db.execute("INSERT OR IGNORE INTO folders (path, added) VALUES (?, ?)", (str(path), time.time()))
        row = self.db.execute("SELECT id, path, online FROM folders WHERE path = ?", (str(path),)).fetchone()
        return Folder(row[0], Path(row[1]), bool(row[2]))

    def folders(self) -> list[Folder]:
        rows = self.db.execute("SELECT id, path, online FROM folders ORDER BY path").fetchall()
        return [Folder(id_, Path(path), bool(online)) for id_, path, online in rows]

    def set_folder_online(self, folder_id: int, online: bool) -> None:
        self.db.execute("UPDATE folders SET online = ? WHERE id = ?", (int(online), folder_id))

    def remove_folder(self, folder_id: int) -> None:
        """Forget a folder and its photos (and so their tags); vectors stay, keyed by content, for a return."""
        self.db.execute("DELETE FROM folders WHERE id = ?", (folder_id,))

    def absorb_folder(self, inner_id: int, outer_id: int) -> None:
        """A folder added around one already in the library takes over its photos, ids and all."""
        self.db.execute("UPDATE photos SET folder_id = ? WHERE folder_id = ?", (outer_id, inner_id))
        self.db.execute("DELETE FROM folders WHERE id = ?", (inner_id,))

    def browse(self, order: str, folder: Path | None = None, tag: str | None = None,
               ids: list[int] | None = None) -> list[BrowseRow]:
        """Readable photos, in `order` (a key of BROWSE_ORDERS): of one library folder, with one label, or these
        `ids`, when given."""
        clauses, values = ["p.state = ?"], [OK]
        if folder is not None:
            clauses.append("f.path = ?")
            values.append(str(folder))
        if tag is not None:
            clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.photo_id = p.id AND t.label = ?)")
            values.append(tag)
        if ids is not None:
            clauses.append("p.id IN (SELECT value FROM json_each(?))")  # any number of ids, one parameter
            values.append(json.dumps(ids))
        rows = self.db.execute(
            "SELECT p.id, p.path, COALESCE(p.taken, p.mtime_ns / 1e9), p.size, p.width, p.height, p.fingerprint, "
            f"f.online FROM photos p JOIN folders f ON f.id = p.folder_id WHERE {' AND '.join(clauses)} "
            f"ORDER BY {BROWSE_ORDERS[order]}", values)
        return [BrowseRow(*row[:7], bool(row[7])) for row in rows]

    # Photos

    _COLUMNS = "id, path, folder_id, size, mtime_ns, fingerprint, width, height, taken, state, failure"

    def photos_in(self, folder_id: int) -> dict[str, Photo]:
        rows = self.db.execute(f"SELECT {self._COLUMNS} FROM photos WHERE folder_id = ?", (folder_id,))
        return {row[1]: Photo(*row) for row in rows}

    def photos_by_id(self, ids: Iterable[int]) -> dict[int, Photo]:
        found: dict[int, Photo] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT {self._COLUMNS} FROM photos WHERE id IN ({marks})", chunk):
                found[row[0]] = Photo(*row)
        return found

    def add_photo(self, path: str, folder_id: int, size: int, mtime_ns: int, fingerprint: str | None,
                  state: str = OK, failure: str | None = None) -> int:
        cursor = self.db.execute(
            "INSERT INTO photos (path, folder_id, size, mtime_ns, fingerprint, state, failure) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (path, folder_id, size, mtime_ns, fingerprint, state, failure))
        return cursor.lastrowid

    def move_photo(self, photo_id: int, path: str, folder_id: int, mtime_ns: int) -> None:
        """A renamed or moved file: same content, same id, so its vector and index entry stay."""
        self.db.execute("UPDATE photos SET path = ?, folder_id = ?, mtime_ns = ? WHERE id = ?",
                        (path, folder_id, mtime_ns, photo_id))

    def delete_photos(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM photos WHERE id = ?", [(photo_id,) for photo_id in ids])

    def set_decoded(self, photo_id: int, width: int, height: int, taken: float) -> None:
        self.db.execute("UPDATE photos SET width = ?, height = ?, taken = ?, state = ?, failure = NULL "
                        "WHERE id = ?", (width, height, taken, OK, photo_id))

    def set_failed(self, photo_id: int, reason: str) -> None:
        self.db.execute("UPDATE photos SET state = ?, failure = ? WHERE id = ?", (FAILED, reason, photo_id))

    def readable_photos(self) -> list[Photo]:
        """Photos read without error in folders that are online now."""
        rows = self.db.execute(
            f"SELECT {', '.join('p.' + column for column in self._COLUMNS.split(', '))} FROM photos p "
            "JOIN folders f ON f.id = p.folder_id WHERE p.state = ? AND f.online = 1 AND p.width IS NOT NULL "
            "ORDER BY p.path", (OK,))
        return [Photo(*row) for row in rows]

    def failures(self) -> list[Photo]:
        rows = self.db.execute(f"SELECT {self._COLUMNS} FROM photos WHERE state = ? ORDER BY path", (FAILED,))
        return [Photo(*row) for row in rows]

    def pending(self, model: str) -> list[Photo]:
        """Readable photos in online folders with no vector for `model` yet."""
        rows = self.db.execute(
            f"SELECT {', '.join('p.' + column for column in self._COLUMNS.split(', '))} FROM photos p "
            "JOIN folders f ON f.id = p.folder_id "
            "WHERE p.state = ? AND f.online = 1 AND NOT EXISTS "
            "(SELECT 1 FROM vectors v WHERE v.model = ? AND v.fingerprint = p.fingerprint) ORDER BY p.path",
            (OK, model))
        return [Photo(*row) for row in rows]

    def counts(self, model: str) -> Counts:
        photos, failed, offline = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(p.state = ?), 0), COALESCE(SUM(f.online = 0), 0) "
            "FROM photos p JOIN folders f ON f.id = p.folder_id", (FAILED,)).fetchone()
        indexed = self.db.execute(
            "SELECT COUNT(*) FROM photos p WHERE p.state = ? AND EXISTS "
            "(SELECT 1 FROM vectors v WHERE v.model = ? AND v.fingerprint = p.fingerprint)",
            (OK, model)).fetchone()[0]
        return Counts(photos, indexed, failed, offline)
