"""The vector index: an HNSW graph (hnswlib, cosine) over the stored vectors, the accelerator of search.

Labels are catalog photo ids. The index is never the source of truth: on open, one that is missing, corrupt,
for another model or out of step with the stored vectors is repaired from them (a few additions and
removals, or a rebuild), never by encoding photos again.

On disk, a save writes `hnsw-<n>.bin` and `hnsw-<n>.ids.npy` (the live labels: hnswlib keeps deleted labels in
its file), fsyncs them, then atomically replaces `hnsw.json`, which names them with their checksums and the
catalog they were made from: a crash mid-save leaves the previous pair in force. hnswlib trusts its file
completely (damaged bytes crash the process), so a file is handed to it only once its checksum matches.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from typing import Protocol
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np

MANIFEST = "hnsw.json"
# Graph degree and build effort: about 200 bytes of links per photo, and a 1,000,000-photo build in about
# 8 minutes on two cores. The search effort is set by benchmarks/bench_search.py on clustered vectors: at
# 1,000,000 photos recall@10 was 0.78 at 96, 0.92 at 200, 0.98 at 400 and 0.997 at 800 (the misses are
# queries stranded in the wrong cluster), and 800 still answers in about 4 ms.
LINKS_PER_NODE = 16
BUILD_EFFORT = 120
SEARCH_EFFORT = 800
INITIAL_CAPACITY = 1024
ADD_CHUNK = 50_000  # vectors handed to hnswlib at a time (a 100 MB copy at 512 dimensions)
GROWTH = 1.5  # capacity grows by half when full: amortised O(1) insertion, at most a third unused
# A vector the index holds for a photo is the stored one when their cosine is at least this: float32 rounding
# leaves them within 1e-6, while a vector of another photo is far below.
MATCHING_COSINE = 0.9999
CHECKSUM_CHUNK = 1 << 22  # CRC-32 runs at about 3 GB/s here: a 100,000-photo graph is checked in 0.1 s


@dataclass(frozen=True)
class Hit:
    id: int
    score: float  # cosine similarity


class SearchIndex(Protocol):
    """What search and the library ask of an index: this module's hnswlib one, or pgvector's in a library in
    PostgreSQL (postgres.PgSearchIndex)."""
    dirty: bool
    catalog_state: str | None

    @property
    def ids(self) -> np.ndarray: ...
    def __len__(self) -> int: ...
    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[Hit]: ...
    def sync(self, expected_ids: np.ndarray,
             load_vectors: Callable[[np.ndarray | None], tuple[np.ndarray, np.ndarray]]) -> None: ...
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def save(self, catalog_state: str | None = None) -> None: ...
    def mismatches(self, ids: np.ndarray, vectors: np.ndarray) -> int: ...


class VectorIndex:
    def __init__(self, folder: Path, model: str, dim: int, catalog_id: str = ""):
        self.folder, self.model, self.dim, self.catalog_id = folder, model, dim, catalog_id
        self._live = np.zeros(0, np.int64)  # sorted
        self._graph = self._empty(INITIAL_CAPACITY)
        self._generation = 0
        self.catalog_state: str | None = None  # the catalog's change count the saved index reflects
        self.dirty = False

    @staticmethod
    def _new_graph(dim: int) -> hnswlib.Index:
        return hnswlib.Index(space="cosine", dim=dim)

    def _empty(self, capacity: int) -> hnswlib.Index:
        graph = self._new_graph(self.dim)
        graph.init_index(max_elements=capacity, ef_construction=BUILD_EFFORT, M=LINKS_PER_NODE,
                         allow_replace_deleted=True)
        graph.set_ef(SEARCH_EFFORT)
        return graph

    def __len__(self) -> int:
        return len(self._live)

    @property
    def ids(self) -> np.ndarray:
        return self._live

    # Opening and repair

    @classmethod
    def open(cls, folder: Path, model: str, dim: int, expected_ids: np.ndarray | Callable[[], np.ndarray],
             load_vectors: Callable[[np.ndarray | None], tuple[np.ndarray, np.ndarray]],
             catalog_state: str | None = None, catalog_id: str = "",
             save: bool = True) -> tuple[VectorIndex, str]:
        """The index in `folder`, brought in line with `expected_ids`; and what was done ("loaded", ...).

        `load_vectors(ids)` returns (ids, vectors) from the vector store; None asks for all of them. When the
        index was saved at `catalog_state` (the catalog's change count), it is current as it is, and the
        expected ids (a query over every photo: half a second at 100,000) are not even asked for. An index saved
        for another catalog (`catalog_id`: one rebuilt, or replaced) is rebuilt. `save`: whether a repaired index
        is saved (a reader that may not write keeps it in memory).
        """
        index = cls(folder, model, dim, catalog_id)
        reason = index._load()
        if reason is None and catalog_state is not None and index.catalog_state == catalog_state:
            return index, "loaded"
        if callable(expected_ids):
            expected_ids = expected_ids()
        if reason is None:
            expected = np.unique(expected_ids)
            missing = np.setdiff1d(expected, index._live, assume_unique=True)
            extra = np.setdiff1d(index._live, expected, assume_unique=True)
            if len(missing) + len(extra) == 0:
                return index, "loaded"
            if len(missing) + len(extra) < max(1000, len(expected) // 2):
                index.sync(expected, load_vectors)
                return index, (f"updated ({len(missing)} added, {len(extra)} removed)"
                               + index._saved(save, catalog_state))
            reason = "out of date"
        ids, vectors = load_vectors(None)
        index = cls(folder, model, dim, catalog_id)
        index.add(ids, vectors)
        return index, f"rebuilt ({reason})" + index._saved(save, catalog_state)

    def _load(self) -> str | None:
        """Load the saved index; None when it is usable, else why it is not."""
        manifest_path = self.folder / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            return "missing"
        except (OSError, ValueError):
            return "unreadable manifest"
        if not isinstance(manifest, dict):
            return "unreadable manifest"
        if manifest.get("model") != self.model or manifest.get("dim") != self.dim:
            return "made for another model"
        if manifest.get("catalog") != self.catalog_id:
            return "made for another catalog"
        try:
            for kind in ("graph", "ids"):
                if checksum(self.folder / manifest[kind]) != manifest["checksums"][kind]:
                    return f"damaged (the {kind} file does not match its checksum)"
        except FileNotFoundError:
            return "damaged (a file is missing)"
        except (KeyError, TypeError, OSError):
            return "unreadable manifest"
        try:
            live = np.load(self.folder / manifest["ids"], allow_pickle=False)
            graph = self._new_graph(self.dim)
            graph.load_index(str(self.folder / manifest["graph"]), max_elements=0, allow_replace_deleted=True)
        except (KeyError, OSError, ValueError, RuntimeError, MemoryError):
            return "corrupt"
        if live.dtype != np.int64 or live.ndim != 1 or graph.get_current_count() < len(live) \
                or graph.element_count != int(manifest.get("elements", -1)):
            return "corrupt"
        graph.set_ef(SEARCH_EFFORT)
        self._graph, self._live, self._generation = graph, np.sort(live), int(manifest.get("generation", 0))
        self.catalog_state = manifest.get("catalog_state")
        return None

    # Changes

    def sync(self, expected_ids: np.ndarray,
             load_vectors: Callable[[np.ndarray | None], tuple[np.ndarray, np.ndarray]]) -> None:
        """Hold exactly `expected_ids`: add the missing (vectors from `load_vectors`), remove the rest."""
        self.remove(np.setdiff1d(self._live, expected_ids))
        missing = np.setdiff1d(expected_ids, self._live)
        if len(missing):
            self.add(*load_vectors(missing))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace entries. [n] ids, [n, dim] vectors."""
        if len(ids) == 0:
            return
        ids = np.asarray(ids, np.int64)
        replaced = np.intersect1d(ids, self._live)
        if len(replaced):
            self.remove(replaced)
        needed = self._graph.get_current_count() + len(ids)
        capacity = self._graph.get_max_elements()
        if needed > capacity:
            self._graph.resize_index(max(needed, int(capacity * GROWTH)))
        # replace_deleted reuses the slots of removed photos, so deletions do not grow the file. In chunks:
        # hnswlib normalises a copy of what it is given, which for a whole large library is gigabytes.
        for start in range(0, len(ids), ADD_CHUNK):
            chunk = np.asarray(vectors[start:start + ADD_CHUNK], np.float32)
            self._graph.add_items(chunk, ids[start:start + ADD_CHUNK], replace_deleted=True)
        self._live = np.union1d(self._live, ids)
        self.dirty = True

    def remove(self, ids: np.ndarray) -> None:
        ids = np.intersect1d(np.asarray(ids, np.int64), self._live)
        for photo_id in ids:
            self._graph.mark_deleted(int(photo_id))
        self._live = np.setdiff1d(self._live, ids, assume_unique=True)
        self.dirty = self.dirty or len(ids) > 0

    def mismatches(self, ids: np.ndarray, vectors: np.ndarray) -> int:
        """How many of these stored vectors ([n] ids, [n, dim]) the index lacks or holds otherwise; with the ids it
        holds beyond them."""
        extra = len(np.setdiff1d(self._live, ids))
        present = np.isin(ids, self._live)
        wrong = int((~present).sum())
        if present.any():
            held = np.asarray(self._graph.get_items(ids[present]), np.float32)  # normalised on insertion
            expected = vectors[present] / np.maximum(np.linalg.norm(vectors[present], axis=1, keepdims=True), 1e-12)
            wrong += int((np.sum(held * expected, axis=1) < MATCHING_COSINE).sum())
        return wrong + extra

    # Queries

    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[Hit]:
        """The k nearest photos to a unit vector, best first; only among `allowed` ids when given."""
        if np.shape(vector) != (self.dim,):  # hnswlib reads dim floats whatever it is given
            raise ValueError(f"a query vector of shape {np.shape(vector)} for an index of {self.dim} dimensions")
        k = min(k, len(self._live) if allowed is None else len(allowed))
        if k <= 0:
            return []
        self._graph.set_ef(max(SEARCH_EFFORT, k))
        permitted = None
        if allowed is not None:
            allowed_set = set(np.asarray(allowed, np.int64).tolist())
            permitted = allowed_set.__contains__
        labels, distances = self._graph.knn_query(np.asarray(vector, np.float32).reshape(1, -1), k=k,
                                                  filter=permitted)
        return [Hit(int(label), 1.0 - float(distance)) for label, distance in zip(labels[0], distances[0],
                                                                                   strict=True)]

    # Saving

    def _saved(self, save: bool, catalog_state: str | None) -> str:
        """Save a repaired index when allowed; what to add to the report when it was not saved. The index is a
        cache: one that cannot be saved (a full disk) still answers, and is repaired again next time."""
        if not save:
            return ""
        try:
            self.save(catalog_state)
        except (OSError, RuntimeError) as error:
            return f", not saved: {getattr(error, 'strerror', None) or error}"
        return ""

    def save(self, catalog_state: str | None = None) -> None:
        """Write the index atomically: new files first, then the manifest naming them, then old files go.

        `catalog_state`: the catalog's change count this index is in line with (None: not known)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        # Never a name the manifest in force may hold: its files stay whole until the new manifest replaces it.
        generation = max([self._generation, *(_generation_of(path) for path in self.folder.glob("hnsw-*"))]) + 1
        graph_name, ids_name = f"hnsw-{generation}.bin", f"hnsw-{generation}.ids.npy"
        temporary = self.folder / (MANIFEST + ".tmp")
        try:
            self._graph.save_index(str(self.folder / graph_name))
            with open(self.folder / ids_name, "wb") as file:
                np.save(file, self._live, allow_pickle=False)
            for name in (graph_name, ids_name):
                _fsync(self.folder / name)
            manifest = {"model": self.model, "dim": self.dim, "graph": graph_name, "ids": ids_name,
                        "generation": generation, "elements": self._graph.element_count,
                        "catalog": self.catalog_id, "catalog_state": catalog_state,
                        "checksums": {kind: checksum(self.folder / name)
                                      for kind, name in (("graph", graph_name), ("ids", ids_name))}}
            temporary.write_text(json.dumps(manifest))
            _fsync(temporary)
            os.replace(temporary, self.folder / MANIFEST)
        except (OSError, RuntimeError):  # a full disk: the index in force stays as it was, whole
            for name in (graph_name, ids_name, temporary.name):
                (self.folder / name).unlink(missing_ok=True)
            raise
        _fsync_folder(self.folder)
        self._generation, self.catalog_state, self.dirty = generation, catalog_state, False
        for stale in self.folder.glob("hnsw-*"):
            if stale.name not in (graph_name, ids_name):
                stale.unlink(missing_ok=True)


def _generation_of(path: Path) -> int:
    number = path.name.removeprefix("hnsw-").split(".")[0]
    return int(number) if number.isdigit() else 0


def checksum(path: Path) -> str:
    """CRC-32 of a file: enough to tell damaged bytes (this is no defence against a forger)."""
    value = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHECKSUM_CHUNK):
            value = zlib.crc32(chunk, value)
    return f"{value:08x}"


def _fsync(path: Path) -> None:
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a folder for fsync; its rename is already durable
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
