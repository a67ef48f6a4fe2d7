"""`Library`: the folders a user added, their photos, one vector per photo for the library's model, and search.

Layout of a library folder::

    catalog.sqlite        photos, folders, failures and vectors (SQLite, WAL)
    index/<model>/        the HNSW index over the vectors (rebuilt from them whenever needed)
    thumbnails/ab/<fingerprint>.jpg
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..paths import user_data_dir
from .catalog import Counts, Folder, Photo, SqliteCatalog
from .decode import decode, fingerprint
from .errors import LibraryError, PhotoError
from .index import VectorIndex
from .pipeline import Controls, IndexRun, PictureEncoder, Progress, run_pipeline
from .scan import ScanReport, scan
from .vectors import SqliteVectorStore

LIBRARY_VARIABLE = "PHOTOSORT_LIBRARY"
CATALOG_FILE = "catalog.sqlite"
MODEL_KEY = "model"


def default_library_dir() -> Path:
    override = os.environ.get(LIBRARY_VARIABLE)
    return Path(override) if override else user_data_dir() / "library"


@dataclass(frozen=True)
class SearchResult:
    id: int
    path: str
    score: float


@dataclass
class Status:
    counts: Counts
    folders: list[Folder]
    model: str | None
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


class TextImageEncoder(PictureEncoder):
    dim: int

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


class Library:
    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder else default_library_dir()
        if self.folder.exists() and not self.folder.is_dir():
            raise LibraryError(f"the library {self.folder} is a file, not a folder")
        self.catalog = SqliteCatalog(self.folder / CATALOG_FILE)
        self.vectors = SqliteVectorStore(self.catalog.db)
        self._index: VectorIndex | None = None
        self.index_state = ""  # what opening the index did: loaded, updated, rebuilt (why)

    def close(self) -> None:
        self._save_index()
        self.catalog.close()

    def _save_index(self) -> None:
        """Save the index if it changed, or if the catalog moved on since it was saved (it is in line now)."""
        index = self._index
        if index is not None and (index.dirty or index.catalog_state != self.catalog.change_count):
            index.save(self.catalog.change_count)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def thumbnails(self) -> Path:
        return self.folder / "thumbnails"

    # The model

    @property
    def model(self) -> str | None:
        return self.catalog.get_meta(MODEL_KEY)

    def set_model(self, name: str) -> None:
        if name != self.model:
            with self.catalog.transaction():
                self.catalog.set_meta(MODEL_KEY, name)
            self._index = None

    # Folders and indexing

    def add_folders(self, paths: list[os.PathLike | str]) -> list[Folder]:
        folders = []
        for path in paths:
            resolved = Path(path).expanduser().resolve()
            if not resolved.is_dir():
                raise LibraryError(f"{path} is not a folder")
            with self.catalog.transaction():
                folders.append(self.catalog.add_folder(resolved))
        return folders

    def scan(self, on_file: Callable[[int], None] | None = None) -> ScanReport:
        report = scan(self.catalog, on_file)
        self._sync_index()
        return report

    def pending(self) -> list[Photo]:
        """Readable photos in online folders with no vector for the library's model yet."""
        return self.catalog.pending(self._require_model())

    def encode_pending(self, encoder: PictureEncoder, *, photos: list[Photo] | None = None, batch_size: int = 32,
                       workers: int | None = None, controls: Controls | None = None,
                       on_progress: Callable[[Progress], None] | None = None) -> IndexRun:
        """Encode `photos` (by default, what `pending()` lists), committing batch by batch."""
        model = self._require_model()
        photos = self.pending() if photos is None else photos

        def on_batch(ids: np.ndarray, vectors: np.ndarray) -> None:
            if self._index is None:
                # Opening brings in every committed vector, this batch's too; a new library's first vectors
                # tell the index its dimension.
                self.index(vectors.shape[1])
            else:
                self._index.add(ids, vectors)

        try:
            return run_pipeline(photos, encoder, self.catalog, self.vectors, model, self.thumbnails,
                                batch_size=batch_size, workers=workers, controls=controls,
                                on_progress=on_progress, on_batch=on_batch)
        finally:
            if self._index is not None:
                self._sync_index()  # exact copies of an encoded photo share its vector: they join here
                self._save_index()

    # The index

    def index(self, dim: int | None = None) -> VectorIndex | None:
        """The HNSW index for the library's model, opened (and repaired) on first use; None before any vector."""
        if self._index is None:
            model = self._require_model()
            if dim is None:
                dim = self.vectors.dimension(model)
                if dim is None:
                    return None
            self._index, self.index_state = VectorIndex.open(
                self.folder / "index" / _slug(model), model, dim, lambda: self.vectors.searchable_ids(model),
                self._vector_loader(model), self.catalog.change_count)
        return self._index

    def _vector_loader(self, model: str) -> Callable[[np.ndarray | None], tuple[np.ndarray, np.ndarray]]:
        return lambda wanted: self.vectors.photo_vectors(model, None if wanted is None else wanted.tolist())

    def _sync_index(self) -> None:
        """Bring the open index in line with the catalog: new vectors in, gone or offline photos out."""
        if self._index is not None:
            model = self._require_model()
            self._index.sync(self.vectors.searchable_ids(model), self._vector_loader(model))

    # Search

    def search(self, encoder: TextImageEncoder, text: str | None = None, image: os.PathLike | str | None = None,
               k: int = 20) -> list[SearchResult]:
        """Photos nearest a text, an example image, or both (their unit vectors averaged), best first."""
        query = self.query_vector(encoder, text, image)
        index = self.index()
        if index is None:
            return []
        hits = index.search(query, k)
        photos = self.catalog.photos_by_id(hit.id for hit in hits)
        return [SearchResult(hit.id, photos[hit.id].path, hit.score) for hit in hits if hit.id in photos]

    def query_vector(self, encoder: TextImageEncoder, text: str | None, image: os.PathLike | str | None
                     ) -> np.ndarray:
        parts = []
        if text:
            parts.append(encoder.encode_texts([text])[0])
        if image is not None:
            parts.append(self._image_vector(encoder, Path(image)))
        if not parts:
            raise LibraryError("give a text, an image, or both to search for")
        query = np.sum(parts, axis=0)
        return query / max(float(np.linalg.norm(query)), 1e-12)

    def _image_vector(self, encoder: TextImageEncoder, path: Path) -> np.ndarray:
        """A library photo's stored vector when the example is one (same content), else a fresh encoding."""
        model = self._require_model()
        try:
            stat = path.stat()
            print_ = fingerprint(path, stat.st_size)
            stored = self.vectors.vector_for_content(model, print_)
            if stored is not None:
                return stored / max(float(np.linalg.norm(stored)), 1e-12)
            decoded = decode(path, encoder.resolution, stat.st_mtime)
        except (OSError, PhotoError) as error:
            raise LibraryError(f"cannot read the example image {path}: {error}") from error
        return encoder.encode_pictures(decoded.pixels[None])[0]

    # Status

    def status(self, with_failures: bool = False) -> Status:
        model = self.model
        counts = self.catalog.counts(model or "")
        failures = [(photo.path, photo.failure or "") for photo in self.catalog.failures()] if with_failures else []
        return Status(counts, self.catalog.folders(), model, failures)

    def _require_model(self) -> str:
        model = self.model
        if not model:
            raise LibraryError("this library has no model yet: run `photosort index PATH` first")
        return model


def _slug(model: str) -> str:
    """A folder name for a model name or checkpoint path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_")[:80] or "model"
