"""The vector store: one CLIP vector per photo content and model, the source of truth the index is built from.

Vectors are keyed by content fingerprint, not by path: a renamed, moved or copied photo finds its vector
without being encoded again. They are kept as float16, half the space of float32 at a cosine error (~1e-3)
far below what separates search results.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any, Protocol

import numpy as np

from .dupes import nearest_pairs
from .likeness import SIGNATURE_DTYPE, Face
from .sql import MARKS, select_in_chunks

STORED_DTYPE = np.float16


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """Vectors as the store gives them back (float16 precision, as float32). Whatever is built from fresh
    vectors (the index, tags) uses these, so it is the same as what a rebuild from the store would make."""
    return np.asarray(vectors, STORED_DTYPE).astype(np.float32)


class VectorStore(Protocol):
    def put(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None: ...
    def photo_vectors(self, model: str, photo_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]: ...
    def searchable_ids(self, model: str) -> np.ndarray: ...
    def vector_for_content(self, model: str, fingerprint: str) -> np.ndarray | None: ...
    def dimension(self, model: str) -> int | None: ...
    def put_signatures(self, items: Iterable[tuple[str, np.ndarray, Face]]) -> None: ...
    def signatures(self) -> dict[str, np.ndarray]: ...
    def faces(self, fingerprints: list[str]) -> dict[str, Face]: ...
    def nearest_looks(self, matrix: np.ndarray, prints: list[str], k: int, minimum: float
                      ) -> dict[tuple[int, int], tuple[float, int]]: ...


class SqlVectorStore:
    """What the SQLite and PostgreSQL vector stores share: the searchable photos, and the perceptual signatures
    and faces (photosort.core.likeness), one per content, whatever the model. `db`: the catalog's connection,
    so a batch's vectors and photo states commit together."""

    def __init__(self, db: Any):
        self.db = db

    def searchable_ids(self, model: str) -> np.ndarray:
        """Ids of the photos the index should hold: readable, online, with a vector for `model`."""
        rows = self.db.execute(
            "SELECT p.id FROM photos p JOIN roots_here f ON f.id = p.folder_id "
            "WHERE p.state = 'ok' AND f.online = 1 AND EXISTS "
            "(SELECT 1 FROM vectors v WHERE v.model = ? AND v.fingerprint = p.fingerprint)", (model,)).fetchall()
        return np.fromiter((row[0] for row in rows), np.int64, len(rows))

    def put_signatures(self, items: Iterable[tuple[str, np.ndarray, Face]]) -> None:
        rows = sorted((print_, np.asarray(value, SIGNATURE_DTYPE).tobytes(), face.to_bytes())
                      for print_, value, face in items)  # one order for every writer of a shared library
        self.db.executemany("INSERT INTO signatures (fingerprint, signature, face) VALUES (?, ?, ?) ON CONFLICT "
                            "(fingerprint) DO UPDATE SET signature = excluded.signature, face = excluded.face", rows)

    def signatures(self) -> dict[str, np.ndarray]:
        return {fingerprint: np.frombuffer(blob, SIGNATURE_DTYPE)
                for fingerprint, blob in self.db.execute("SELECT fingerprint, signature FROM signatures")}

    def nearest_looks(self, matrix: np.ndarray, prints: list[str], k: int, minimum: float
                      ) -> dict[tuple[int, int], tuple[float, int]]:
        """The duplicate finder's look-alike candidates among these signatures (`matrix`, of `prints`): see
        dupes.Nearest. Found here, in memory."""
        return nearest_pairs(matrix, k, minimum)

    def faces(self, fingerprints: list[str]) -> dict[str, Face]:
        """The faces stored for these fingerprints; one stored in an older format is left out (made again)."""
        found = {}
        for fingerprint, blob in select_in_chunks(
                self.db, f"SELECT fingerprint, face FROM signatures WHERE fingerprint IN ({MARKS})", fingerprints):
            if (stored := Face.from_bytes(blob)) is not None:
                found[fingerprint] = stored
        return found


class SqliteVectorStore(SqlVectorStore):
    """Vectors in the catalog's own SQLite file, as float16 bytes."""

    def put(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO vectors (model, fingerprint, vector) VALUES (?, ?, ?)",
            [(model, fingerprint, np.asarray(vector, STORED_DTYPE).tobytes()) for fingerprint, vector in items])

    def photo_vectors(self, model: str, photo_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids [n] int64, vectors [n, dim] float32) of readable photos in online folders, or of `photo_ids`."""
        query = ("SELECT p.id, v.vector FROM photos p JOIN roots_here f ON f.id = p.folder_id "
                 "JOIN vectors v ON v.model = ? AND v.fingerprint = p.fingerprint "
                 "WHERE p.state = 'ok' AND f.online = 1")
        if photo_ids is None:
            parts = self._read(self.db.execute(query, (model,)))
        else:
            # CROSS JOIN keeps SQLite's join order: from the few photos asked for to their vectors (left to
            # its planner, it walked every vector of the model first: 3.6 s a chunk at 100,000 photos).
            parts = self._read(select_in_chunks(
                self.db, "SELECT p.id, v.vector FROM photos p CROSS JOIN roots_here f CROSS JOIN vectors v "
                f"WHERE p.id IN ({MARKS}) AND f.id = p.folder_id AND v.model = ? "
                "AND v.fingerprint = p.fingerprint AND p.state = 'ok' AND f.online = 1", photo_ids, after=(model,)))
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.concatenate([ids for ids, _ in parts]), np.concatenate([vectors for _, vectors in parts])

    @staticmethod
    def _read(rows_read: Iterable[tuple[int, bytes]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Rows of (id, vector blob) in blocks: a million rows never sit in memory as Python objects."""
        parts, remaining = [], iter(rows_read)
        while rows := list(islice(remaining, 20_000)):
            ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
            vectors = np.frombuffer(b"".join(row[1] for row in rows), STORED_DTYPE).reshape(len(rows), -1)
            parts.append((ids, vectors.astype(np.float32)))
        return parts

    def vector_for_content(self, model: str, fingerprint: str) -> np.ndarray | None:
        row = self.db.execute("SELECT vector FROM vectors WHERE model = ? AND fingerprint = ?",
                              (model, fingerprint)).fetchone()
        return np.frombuffer(row[0], STORED_DTYPE).astype(np.float32) if row else None

    def dimension(self, model: str) -> int | None:
        """The length of the model's vectors; None before the first is stored."""
        row = self.db.execute("SELECT length(vector) FROM vectors WHERE model = ? LIMIT 1", (model,)).fetchone()
        return row[0] // np.dtype(STORED_DTYPE).itemsize if row else None
