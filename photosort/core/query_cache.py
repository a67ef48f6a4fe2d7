"""Query vectors kept on disk in the library, per model and query text, so that a query searched before needs no
model at all: not even the text tower's weights are read.

A small SQLite file beside the catalog (`query-vectors.sqlite`), bounded to MAX_ENTRIES (the least recently used
are dropped). It is a cache: the key is a digest of everything the vector depends on (the model and its file as
it is now, and the exact prompts encoded), so a replaced checkpoint or new templates simply miss. Whatever goes
wrong with the file (damaged, locked by another process, a read-only folder, a full disk) costs the cache, never
the search: a damaged file is made anew, a locked or read-only one is passed by.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import numpy as np

CACHE_FILE = "query-vectors.sqlite"
# 2,000 queries of a 768-dimensional model: 6 MB. A person's distinct searches in a year fit.
MAX_ENTRIES = 2000
BUSY_TIMEOUT_S = 0.2  # another photosort writing: wait this long, then go on without the cache
UNIT_TOLERANCE = 1e-3  # a stored vector whose length is further than this from 1 is not one we wrote
CACHE_VERSION = 1  # the layout below; a file of another is emptied and made anew
_SCHEMA = ("CREATE TABLE query_vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL, "
           "used INTEGER NOT NULL)")


def cache_key(model_identity: str, prompts: list[str]) -> str:
    """The digest of what a query's vector depends on: the model (and its file) and each prompt encoded."""
    text = json.dumps([model_identity, prompts], ensure_ascii=True)  # one text for one list, whatever it holds
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class QueryCache:
    """Query vectors by `cache_key`, in `folder`'s cache file; opened on first use, safe to share between threads."""

    def __init__(self, folder: Path):
        self.path = folder / CACHE_FILE
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._broken = False  # the file could not be opened, or made anew: this session goes without it

    def get(self, key: str, dim: int | None = None) -> np.ndarray | None:
        """The vector kept under `key` (of `dim` dimensions, if given), else None."""
        with self._lock:
            db = self._open()
            if db is None:
                return None
            try:
                row = db.execute("SELECT vector FROM query_vectors WHERE key = ?", (key,)).fetchone()
                if row is None:
                    return None
                vector = np.frombuffer(row[0], np.float32)
                if (dim is not None and len(vector) != dim) or not _is_unit(vector):
                    return None
                self._write(db, "UPDATE query_vectors SET used = (SELECT coalesce(max(used), 0) + 1 FROM "
                                "query_vectors) WHERE key = ?", (key,))
                return vector.copy()
            except sqlite3.DatabaseError as error:
                self._recover(error)
                return None

    def put(self, key: str, vector: np.ndarray) -> None:
        """Keep `vector` under `key`, dropping the least recently used beyond MAX_ENTRIES."""
        with self._lock:
            db = self._open()
            if db is None:
                return
            blob = np.asarray(vector, np.float32).tobytes()
            try:
                self._write(db, "INSERT INTO query_vectors (key, vector, used) VALUES (?, ?, (SELECT coalesce("
                                "max(used), 0) + 1 FROM query_vectors)) ON CONFLICT (key) DO UPDATE SET "
                                "vector = excluded.vector, used = excluded.used", (key, blob),
                            "DELETE FROM query_vectors WHERE key IN (SELECT key FROM query_vectors ORDER BY used "
                            "DESC LIMIT -1 OFFSET ?)", (MAX_ENTRIES,))
            except sqlite3.DatabaseError as error:
                self._recover(error)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _open(self) -> sqlite3.Connection | None:
        if self._db is None and not self._broken:
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as error:
                self._recover(error)
        return self._db

    def _connect(self) -> sqlite3.Connection | None:
        if not self.path.parent.is_dir():
            return None  # a library not made yet: nothing to keep things in
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer
            db.execute("PRAGMA synchronous = NORMAL")  # a cache: what a power cut loses is encoded again
            if db.execute("PRAGMA user_version").fetchone()[0] != CACHE_VERSION:
                # Made by another photosort (or by something else): its vectors may not be what this one keeps.
                with db:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("DROP TABLE IF EXISTS query_vectors")
                    db.execute(_SCHEMA)
                    db.execute(f"PRAGMA user_version = {CACHE_VERSION}")
        except sqlite3.OperationalError as error:
            db.close()
            if "locked" in str(error) or not self.path.exists():
                return None  # another photosort is making it right now: without it this time, with it next
            # A folder or file this user may not write: read what is there.
            db = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                                 check_same_thread=False, isolation_level=None)
        return db

    @staticmethod
    def _write(db: sqlite3.Connection, *statements: object) -> None:
        """Statements (SQL, parameters, SQL, parameters...) in one transaction; passed by when another process
        holds the file or it cannot be written (a read-only folder, a full disk)."""
        try:
            with db:
                db.execute("BEGIN IMMEDIATE")
                for sql, parameters in zip(statements[::2], statements[1::2], strict=True):
                    db.execute(str(sql), parameters)  # type: ignore[arg-type]
        except sqlite3.OperationalError as error:
            if _is_damage(error):
                raise

    def _recover(self, error: sqlite3.DatabaseError) -> None:
        """A file that is no SQLite database, or a damaged one: made anew once; if that fails too, this session
        goes without the cache."""
        if isinstance(error, sqlite3.OperationalError) and not _is_damage(error):
            return  # busy or read-only: the next call tries again
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._broken:
            return
        self._broken = True
        try:
            for suffix in ("", "-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            self._db = self._connect()
            self._broken = self._db is None
        except (OSError, sqlite3.DatabaseError):
            self._db = None


def _is_unit(vector: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(vector))) and abs(float(np.linalg.norm(vector)) - 1.0) < UNIT_TOLERANCE


def _is_damage(error: sqlite3.DatabaseError) -> bool:
    text = str(error).lower()
    return any(sign in text for sign in ("malformed", "not a database", "disk image", "no such table"))
