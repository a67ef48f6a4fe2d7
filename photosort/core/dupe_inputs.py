"""What the duplicate finder needs from a library, read outside its lock.

The finder works on data (`dupes.DuplicateFinder`); this module hands it that data. The library's lock is
taken for each short read or write of the stores, never for the whole comparison (about a minute at 100,000
photos), so search and browsing go on while duplicates are compared. Files are read from here (pictures
through `decode`): thumbnails for faces made again (stored before colour was compared, or never stored) and
for a second look; whole files where the catalog's fingerprint may be an older, partial one; pixels, for
copies saved twice losslessly.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from . import decode
from .catalog import Photo, SqlCatalog
from .decode import thumbnail_path
from .likeness import DETAIL_SIDE, Face, face, signature
from .vectors import VectorStore

HASH_BLOCK = 1 << 20  # bytes read at a time when a whole file is hashed


class DuplicateInputs:
    def __init__(self, catalog: SqlCatalog, vectors: VectorStore, lock: threading.RLock,
                 thumbnails: Path, model: str | None, writable: bool):
        self.catalog, self.store, self.lock = catalog, vectors, lock
        self.thumbnails, self.model, self.writable = thumbnails, model, writable

    def signatures(self, photos: list[Photo]) -> dict[str, np.ndarray]:
        """Stored signatures, with those missing made from the thumbnails (or the photos) and kept."""
        with self.lock:
            known = self.store.signatures()
        made = [(photo.known_fingerprint, signature(picture), face(picture)) for photo in
                {photo.known_fingerprint: photo for photo in photos if photo.fingerprint not in known}.values()
                if (picture := small_picture(photo, self.thumbnails)) is not None]
        self._keep(made)
        known.update((print_, value) for print_, value, _ in made)
        return known

    def faces(self, fingerprints: list[str], photos: dict[str, Photo]) -> dict[str, Face]:
        """The stored faces; those stored in an older format are made again from the thumbnails, and kept."""
        with self.lock:
            found = self.store.faces(fingerprints)
        stale = [print_ for print_ in fingerprints if print_ not in found and print_ in photos]
        made = [(print_, signature(picture), face(picture)) for print_ in stale
                if (picture := small_picture(photos[print_], self.thumbnails)) is not None]
        self._keep(made)
        found.update((print_, made_face) for print_, _, made_face in made)
        return found

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        if not self.model:
            return {}
        with self.lock:
            found_ids, found = self.store.photo_vectors(self.model, ids)
        return dict(zip(found_ids.tolist(), found, strict=True))

    def detail(self, photo: Photo) -> Face | None:
        picture = small_picture(photo, self.thumbnails)
        return None if picture is None else face(picture, DETAIL_SIDE)

    def _keep(self, made: list[tuple[str, np.ndarray, Face]]) -> None:
        if made and self.writable:
            with self.lock, self.catalog.transaction():
                self.store.put_signatures(made)


def same_bytes(group: list[Photo]) -> list[list[Photo]]:
    """Photos of one fingerprint split by what their files hold now. A library indexed by an older photosort
    kept partial fingerprints (size and ends), which look like whole-file ones; and a file may have changed
    since the scan. Only groups of two or more are read, a handful in a library. A file unreadable now is
    never called a copy."""
    by_content: dict[str, list[Photo]] = {}
    alone = []
    for photo in group:
        content = _content_hash(photo.file)
        if content is None:
            alone.append([photo])
        else:
            by_content.setdefault(content, []).append(photo)
    return list(by_content.values()) + alone


def same_pixels(first: Photo, second: Photo) -> bool:
    """Whether two photos' files decode to the same pixels (see decode.same_pixels)."""
    return decode.same_pixels(first.file, second.file)


def small_picture(photo: Photo, thumbnails: Path) -> Image.Image | None:
    """The photo at thumbnail size: its thumbnail, or the photo itself when the thumbnail is gone."""
    return decode.small_picture([thumbnail_path(thumbnails, photo.known_fingerprint), Path(photo.file)])


def _content_hash(path: str) -> str | None:
    digest = hashlib.blake2b(digest_size=20)
    try:
        with open(path, "rb") as file:
            while block := file.read(HASH_BLOCK):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
