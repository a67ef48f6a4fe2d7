"""Thumbnails for the grid and the preview: read off the UI thread, newest request first, kept in memory.

The library writes a 256-pixel thumbnail of each photo as it indexes it; a photo not indexed yet is read from
its own file, scaled while it decodes (JPEG's DCT scaling makes that cheap). Requests are served last in,
first out and the queue is bounded: scrolling fast through 100,000 photos reads only what comes to rest on
screen, not everything that flew past.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader

from ..core.decode import thumbnail_path

# Pictures read but not yet shown (the grid keeps what it shows as pixmaps): a few screens' worth, ~40 MB.
CACHE_ITEMS = 400
QUEUE_LIMIT = 256  # requests beyond this are dropped, oldest first: they have long scrolled out of view
DECODE_THREADS = 2  # image decoding is CPU work: more threads would take cores from indexing


def read_image(sources: list[Path], side: int) -> QImage | None:
    """The first readable source, turned upright by its EXIF orientation and scaled to fit side x side."""
    for source in sources:
        reader = QImageReader(str(source))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and (size.width() > side or size.height() > side):
            reader.setScaledSize(size.scaled(QSize(side, side), Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if not image.isNull():
            return image
    return None


def picture_key(kind: str, photo) -> tuple:
    """What a picture of `photo` (a browse row, a duplicate's photo) is requested and cached under: its content,
    the fingerprint, never its row id (a deleted photo's id goes to the next one added). A photo not
    fingerprinted yet goes by its path, size and date, which an edit changes."""
    return kind, photo.fingerprint or (photo.path, photo.size, getattr(photo, "taken", None))


def picture_sources(photo, thumbnails: Path | None, thumbnail_first: bool) -> list[Path]:
    """Where a picture of `photo` can be read: its file, and the library's thumbnail of it (which serves
    when its folder is offline), the thumbnail first where a small picture will do."""
    sources = [Path(photo.path)]
    if thumbnails is not None and photo.fingerprint:
        thumbnail = thumbnail_path(thumbnails, photo.fingerprint)
        sources.insert(0 if thumbnail_first else 1, thumbnail)
    return sources


class _Signals(QObject):
    loaded = Signal(object, QImage)  # key, image (a null image: could not be read)


class ThumbnailLoader(QObject):
    """`request(key, sources, side)`; `loaded(key, image)` arrives on the UI thread. Cached by key."""

    loaded = Signal(object, QImage)

    def __init__(self, parent: QObject | None = None, threads: int = DECODE_THREADS):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setObjectName("thumbnails")
        self._pool.setMaxThreadCount(threads)
        self._cache: OrderedDict[object, QImage] = OrderedDict()
        self._queue: deque[tuple[object, list[Path], int]] = deque()
        self._queued: set[object] = set()
        self._lock = threading.Lock()
        self._signals = _Signals()
        self._signals.loaded.connect(self._store)

    def cached(self, key: object) -> QImage | None:
        image = self._cache.get(key)
        if image is not None:
            self._cache.move_to_end(key)
        return image

    def request(self, key: object, sources: list[Path], side: int) -> None:
        with self._lock:
            if key in self._queued:
                return
            self._queue.append((key, sources, side))
            self._queued.add(key)
            while len(self._queue) > QUEUE_LIMIT:
                dropped, _, _ = self._queue.popleft()
                self._queued.discard(dropped)
        self._pool.start(_Read(self))

    def forget(self, key: object) -> None:
        self._cache.pop(key, None)

    def _next(self) -> tuple[object, list[Path], int] | None:
        with self._lock:
            if not self._queue:
                return None
            return self._queue.pop()  # the newest: what is on screen now

    def _done(self, key: object) -> None:
        with self._lock:
            self._queued.discard(key)

    def _store(self, key: object, image: QImage) -> None:
        if not image.isNull():
            self._cache[key] = image
            while len(self._cache) > CACHE_ITEMS:
                self._cache.popitem(last=False)
        self.loaded.emit(key, image)

    def shutdown(self) -> None:
        """Drop what is queued and wait for the reads in flight (the window is closing)."""
        with self._lock:
            self._queue.clear()
            self._queued.clear()
        self._pool.waitForDone()


class _Read(QRunnable):
    """Takes whichever request is newest when it runs (one runnable per request, so none is left unserved)."""

    def __init__(self, loader: ThumbnailLoader):
        super().__init__()
        self.loader = loader

    def run(self) -> None:
        item = self.loader._next()
        if item is None:
            return
        key, sources, side = item
        image = read_image(sources, side) or QImage()
        self.loader._done(key)
        try:
            self.loader._signals.loaded.emit(key, image)
        except RuntimeError:
            pass  # the app closed while this was being read
