"""Search over a library: a query (see photosort.core.query) and/or example photos, scored against the stored
vectors of the library's model, through its HNSW index or exactly, and each result marked relevant or not (see
photosort.core.relevance).

`Search` is given what it reads (the catalog, the vector store, the labels, the open index and the library's
model) and keeps what it may reuse while the library is open: the vectors of recent query texts, and the sample
that tells the level of unrelated photos. Query vectors are also kept on disk (photosort.core.query_cache), so a
query searched before needs no model in a new process either. It takes no lock: as with the library's other
calls, callers hold the library's lock around each call.
"""

from __future__ import annotations

import os
import shlex
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from ..templates import expand, is_short_query, templates_for
from .catalog import PhotoFilter, SqlCatalog
from .decode import decode, fingerprint
from .errors import LibraryError, PhotoError
from .index import SearchIndex
from .labels import LabelBook
from .pipeline import PictureEncoder
from .query import Query, Term, parse
from .query_cache import QueryCache, cache_key
from .relevance import Background, background, sample_ids
from .vectors import VectorStore

TEXT_CACHE_SIZE = 512  # query texts whose vectors are kept while the app runs
# A filtered search scores the photos that pass the filters directly (exact) when they are at most this many;
# beyond, the index is searched with the filter. Exact scoring reads this many vectors at a time (100 MB at 512
# dimensions).
EXACT_FILTER_LIMIT = 50_000


@dataclass(frozen=True)
class SearchResult:
    id: int
    path: str
    score: float  # the cosine to the query; 0.0 where the results are not ranked
    relevant: bool = True  # stands out from what the query scores on unrelated photos (always, unranked)
    ranked: bool = True  # False: a query of filters alone, whose photos come newest first, with no score


class TextImageEncoder(PictureEncoder, Protocol):
    """What search and tagging need of a model: pictures and texts in one space (photosort.clip.Encoder, and the
    app's RemoteEncoder, are such)."""

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


class TextEncoder(Protocol):
    """What a query's texts need: photosort.clip.TextEncoder (numpy, no torch), or a full model."""

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


class QueryEncoder:
    """A search's encoder: texts through a light text encoder (photosort.clip.TextEncoder: no torch, weights read
    on the first text not already known), example photos through the full model, made only when a query has
    one. A model file the light encoder cannot read (`cannot_read`: the errors it raises for a format only torch
    reads) has its texts encoded by the full model instead."""

    def __init__(self, texts: TextEncoder, full: Callable[[], TextImageEncoder],
                 cannot_read: tuple[type[Exception], ...] = ()):
        self.texts = texts
        self._make_full = full
        self._cannot_read = cannot_read
        self._full: TextImageEncoder | None = None
        self._texts_need_full = False  # the light encoder could not read the model's file

    @property
    def identity(self) -> str | None:
        """The text encoder's model and file, for the query cache (None: do not cache)."""
        return getattr(self.texts, "identity", None)

    def full(self) -> TextImageEncoder:
        if self._full is None:
            self._full = self._make_full()
        return self._full

    @property
    def resolution(self) -> int:
        return self.full().resolution

    def encode_pictures(self, pictures: np.ndarray) -> np.ndarray:
        return self.full().encode_pictures(pictures)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if not self._texts_need_full:
            try:
                return self.texts.encode_texts(texts)
            except self._cannot_read:
                self._texts_need_full = True
        return self.full().encode_texts(texts)


class Search:
    """The library's search. `index` opens the library's index (None before any vector); `model` names the
    library's model, raising LibraryError when it has none yet."""

    def __init__(self, catalog: SqlCatalog, vectors: VectorStore, labels: LabelBook,
                 index: Callable[[], SearchIndex | None], model: Callable[[], str], cache: QueryCache | None = None):
        self.catalog = catalog
        self.vectors = vectors
        self.labels = labels
        self._open_index = index
        self._require_model = model
        self.cache = cache
        self._texts: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._sample: tuple[str, np.ndarray] | None = None  # (catalog state, vectors) for relevance

    def search(self, encoder: TextImageEncoder, text: str | None = None, image: os.PathLike | str | None = None,
               k: int = 20, folder: Path | None = None) -> list[SearchResult]:
        """The k photos nearest a query (see photosort.core.query) and/or an example image, best first, each
        marked relevant or not against what the query scores on the rest of the library. A query of filters
        alone lists the k newest photos that pass them, unranked. `folder`: only photos under that folder."""
        query = parse(text) if text else Query()
        if image is not None:
            query.terms.append(Term(1.0, image=str(image)))
        if not query.terms and not query.filtered:
            raise LibraryError("give a text, an image, or both to search for")
        self._check_filters(query)
        query.terms = [replace(term, image=str(self._example_path(term.image))) if term.image else term
                       for term in query.terms]
        vector = self.query_vector(encoder, query) if query.terms else None
        index = self._open_index()
        if index is None:
            return []
        allowed = None
        if query.filtered or folder is not None:
            allowed = np.intersect1d(self._filter_ids(query, folder), index.ids)
        if vector is None:
            return [SearchResult(row.id, row.path, 0.0, ranked=False)
                    for row in self.catalog.browse("date", ids=None if allowed is None else allowed.tolist())[:k]]
        hits = self._hits(index, vector, allowed, k)
        photos = self.catalog.photos_by_id(photo_id for photo_id, _ in hits)
        # An example photo matches itself perfectly: the cutoff is set by the best of the others, or "more like
        # this" would show the photo alone.
        examples = {str(Path(term.image).expanduser().resolve()) for term in query.terms if term.image}
        others = [score for photo_id, score in hits if photo_id in photos and photos[photo_id].path not in examples]
        cutoff = self.background(vector).relevance_cutoff(max(others, default=1.0))
        return [SearchResult(photo_id, photos[photo_id].path, score, score >= cutoff)
                for photo_id, score in hits if photo_id in photos]

    def background(self, vector: np.ndarray) -> Background:
        """What a query vector scores on a fixed sample of the library: the level of unrelated photos."""
        sample = self.sample()
        return background(sample @ vector if len(sample) else np.zeros(0))

    def sample(self) -> np.ndarray:
        """[n, dim] vectors of a fixed sample of the searchable photos, read again once the catalog changed."""
        state = self.catalog.content_state
        if self._sample is None or self._sample[0] != state:
            model = self._require_model()
            index = self._open_index()  # holds the searchable photos: no query over the whole catalog
            wanted = sample_ids(index.ids if index is not None else self.vectors.searchable_ids(model))
            self._sample = (state, self.vectors.photo_vectors(model, wanted.tolist())[1])
        return self._sample[1]

    def _check_filters(self, query: Query) -> None:
        """A tag or folder filter that names nothing of the library is a slip to point out: an empty result
        would pass for "no such photos"."""
        names = list(self.labels.labels()) if query.tags else []
        known = {name.casefold() for name in names}
        for label in query.tags:
            if label.casefold() not in known:
                raise LibraryError(f"tag:{label}: there is no label {label!r} " + (
                    f"(labels: {', '.join(names)})" if names else "(this library has no labels yet)"))
        for folder in query.folders:
            if not self.catalog.filtered_ids(PhotoFilter(folders=(folder,)), limit=1):
                raise LibraryError(f"folder:{folder}: no folder of the library matches it (give a folder's name, "
                                   "the end of its path, or its full path)")

    def _example_path(self, name: str) -> Path:
        """An example photo's file: the file the term names, else the library's photo of that file name (a
        name alone, so that a photo can be asked for wherever the command runs)."""
        path = Path(name).expanduser()
        if path.exists() or Path(name).name != name:
            return path  # a path to nothing is reported when the example is read
        wanted = name.casefold()
        matches = [found for found in self.catalog.readable_paths()
                   if found.rpartition(os.sep)[2].casefold() == wanted]
        if not matches:
            raise LibraryError(f"no photo named {name} in the library, and no such file")
        if len(matches) > 1:
            raise LibraryError(f"{len(matches)} photos of the library are named {name}: give the one you mean "
                               f"with its folder, e.g. +{shlex.quote(matches[0])}")
        return Path(matches[0])

    def _hits(self, index: SearchIndex, vector: np.ndarray, allowed: np.ndarray | None, k: int
              ) -> list[tuple[int, float]]:
        """The k best (id, score) among the allowed photos (None: all)."""
        candidates = index.ids if allowed is None else allowed
        # Every candidate wanted (the last page of results), or few enough: all are scored, exactly.
        if k >= len(candidates) or (allowed is not None and len(allowed) <= EXACT_FILTER_LIMIT):
            return self._exact_hits(candidates, vector, k)
        try:
            found = np.array([hit.id for hit in index.search(vector, k, allowed=allowed)], np.int64)
        except RuntimeError:  # hnswlib's walk reached fewer than k photos: many identical copies cut its graph up
            found = candidates
        # Scored again from the stored vectors (the index keeps them at another precision), as the exact path
        # scores: near ties keep their order whatever k is, and a longer page starts as the shorter one did.
        return self._exact_hits(found, vector, k)

    def _exact_hits(self, ids: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k best of these photos by their stored vectors, scored a bounded number at a time."""
        model = self._require_model()
        found, scored = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
        for start in range(0, len(ids), EXACT_FILTER_LIMIT):
            chunk_ids, vectors = self.vectors.photo_vectors(model, ids[start:start + EXACT_FILTER_LIMIT].tolist())
            if len(chunk_ids):
                found.append(chunk_ids)
                scored.append(vectors @ vector)
        ids, scores = np.concatenate(found), np.concatenate(scored)
        best = np.lexsort((ids, -scores))[:k]  # equal scores (copies of a photo) by id: the same order every time
        return [(int(ids[row]), float(scores[row])) for row in best]

    def _filter_ids(self, query: Query, within: Path | None = None) -> np.ndarray:
        """Ids of the photos that pass the query's filters (folder, tag, dates) and lie under `within`."""
        ids = self.catalog.filtered_ids(PhotoFilter(
            folders=tuple(query.folders), within=Path(within).expanduser().resolve() if within is not None else None,
            tags=tuple(query.tags), after=query.after, before=query.before))
        return np.unique(np.fromiter(ids, np.int64, len(ids)))

    def query_vector(self, encoder: TextImageEncoder, query: Query) -> np.ndarray:
        """The weighted sum of the terms' unit vectors (avoided terms subtract), as a unit vector."""
        total: np.ndarray | float = 0.0
        model = self._require_model()
        stored = self.vectors.dimension(model)
        for term in query.terms:
            if term.text is not None:
                part = self.text_vector(encoder, term.text)
            else:
                assert term.image is not None  # a term is a text or an example photo
                part = self._image_vector(encoder, Path(term.image).expanduser())
            check_dimension(part, stored, model)
            total += term.weight * part
        norm = float(np.linalg.norm(total))
        if norm < 1e-6:
            raise LibraryError("the query's terms cancel each other out")
        return np.asarray(total, np.float32) / norm

    def text_vector(self, encoder: TextEncoder, text: str) -> np.ndarray:
        """A query text's unit vector, encoded once while the library is open, and kept on disk for the next
        time when the encoder says what its vectors depend on (`identity`: the model and its file as it is).
        A short text is read through the model's template ensemble ("dog" as "a photo of dog.", ...),
        averaged."""
        model = self._require_model()
        identity: str | None = getattr(encoder, "identity", None)
        key = (identity or model, text)
        if key in self._texts:
            self._texts.move_to_end(key)
            return self._texts[key]
        prompts = expand(text, templates_for(model)) if is_short_query(text) else [text]
        cache = self.cache if identity is not None else None
        stored_key = cache_key(identity, prompts) if identity is not None else ""
        vector = cache.get(stored_key, self.vectors.dimension(model)) if cache is not None else None
        if vector is None:
            vector = unit(encoder.encode_texts(prompts).mean(axis=0))
            if cache is not None:
                cache.put(stored_key, vector)
        self._texts[key] = vector
        if len(self._texts) > TEXT_CACHE_SIZE:
            self._texts.popitem(last=False)
        return vector

    def _image_vector(self, encoder: TextImageEncoder, path: Path) -> np.ndarray:
        """A library photo's stored vector when the example is one (same content), else a fresh encoding."""
        model = self._require_model()
        try:
            stat = path.stat()
            print_ = fingerprint(path, stat.st_size)
            stored = self.vectors.vector_for_content(model, print_)
            if stored is not None:
                return unit(stored)
            decoded = decode(path, encoder.resolution, stat.st_mtime)
        except (OSError, PhotoError) as error:
            raise LibraryError(f"cannot read the example image {path}: {error}") from error
        return encoder.encode_pictures(decoded.pixels[None])[0]


def check_dimension(vector: np.ndarray, stored: int | None, model: str) -> None:
    """A vector the model makes now must have the dimension of the photos' stored ones (`stored`; None before
    any): a checkpoint file replaced by another model's under the same name does not (and the index would be
    asked for a vector of another size)."""
    if stored is not None and len(vector) != stored:
        raise LibraryError(f"the model {model} makes vectors of {len(vector)} dimensions, but the library's photos "
                           f"were indexed with vectors of {stored}: its file has changed since. Put the file the "
                           "photos were indexed with back, or give the new one a name of its own and run "
                           "`photosort index --model FILE` with it")


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)
