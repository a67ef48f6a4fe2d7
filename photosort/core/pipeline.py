"""The encoding pipeline: photos decoded by worker threads while the model encodes the previous batch.

Pillow releases the GIL while it decodes and resizes, so threads overlap decoding with inference (and with
each other). Read-ahead is bounded, so memory stays flat however many photos wait. Each batch commits in one
transaction (vectors, sizes, capture times and where they came from, failures): a crash loses at most the
batch in flight, and a resumed run encodes only what has no vector yet.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .catalog import Catalog, Photo
from .decode import Decoded, decode, thumbnail_path
from .errors import PhotoError
from .vectors import VectorStore, as_stored


class PictureEncoder(Protocol):
    """What the pipeline needs of a model (photosort.clip.Encoder is one)."""

    @property
    def resolution(self) -> int: ...  # the side of the square pictures it takes

    def encode_pictures(self, pictures: np.ndarray) -> np.ndarray: ...


@dataclass
class Progress:
    done: int  # photos finished (encoded or failed)
    total: int
    encoded: int
    failed: int
    seconds: float  # time spent working: pauses are not counted


@dataclass
class IndexRun:
    encoded: int = 0  # photos the model encoded
    read: int = 0  # copies of content already encoded: read for their size, date and signature only
    failed: int = 0
    cancelled: bool = False


class Controls:
    """Pause, resume and cancel an indexing run from another thread (the GUI, a signal handler)."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._paused_at: float | None = None
        self._paused_before = 0.0  # seconds of the pauses that have ended

    def pause(self) -> None:
        with self._lock:
            if self._paused_at is None:
                self._paused_at = time.monotonic()
            self._running.clear()

    def resume(self) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._paused_before += time.monotonic() - self._paused_at
                self._paused_at = None
            self._running.set()

    def paused_seconds(self) -> float:
        """How long these controls have been paused in all, the pause going on included: a run's speed is
        its photos over the time it was let work."""
        with self._lock:
            ongoing = time.monotonic() - self._paused_at if self._paused_at is not None else 0.0
            return self._paused_before + ongoing

    def cancel(self) -> None:
        self.cancelled.set()
        self.resume()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.2):
            pass


def default_workers() -> int:
    # Inference takes the cores it can; decoding gets as many threads, as decoding waits on I/O too.
    return max(2, min(8, os.cpu_count() or 2))


def run_pipeline(photos: list[Photo], encoder: PictureEncoder, catalog: Catalog, vectors: VectorStore,
                 model: str, thumbnails: Path, *, batch_size: int = 32, workers: int | None = None,
                 controls: Controls | None = None, on_progress: Callable[[Progress], None] | None = None,
                 on_batch: Callable[[np.ndarray, np.ndarray], None] | None = None,
                 lock: AbstractContextManager | None = None, decoders: Executor | None = None) -> IndexRun:
    """Encode `photos`, committing each batch; `on_batch(ids, vectors)` sees each committed batch. `lock` is
    held around each commit and its `on_batch` (not while decoding or encoding). `decoders` decodes the
    photos (a process pool, in the desktop app, keeps that work away from the window's interpreter); by
    default, threads of this process."""
    controls = controls or Controls()
    lock = lock or nullcontext()
    run = IndexRun()
    started = time.monotonic()
    paused_before = controls.paused_seconds()
    workers = workers or default_workers()
    read_ahead = max(batch_size * 2, workers * 2)
    own_pool = decoders is None
    pool = ThreadPoolExecutor(workers, thread_name_prefix="decode") if decoders is None else decoders
    try:
        decoded = _decode_ahead(pool, photos, encoder.resolution, thumbnails, read_ahead, controls)
        for batch in _batches(decoded, batch_size):
            controls.wait_while_paused()
            if controls.cancelled.is_set():
                run.cancelled = True
                break
            good = [(photo, result) for photo, result in batch if isinstance(result, Decoded)]
            # A copy of content already encoded (or twice in this batch) is read for its own size, date and
            # signature, and shares the stored vector.
            with lock:
                stored = catalog.content_ids(model, {photo.known_fingerprint for photo, _ in good})
            fresh: dict[str, np.ndarray] = {}
            for photo, result in good:
                if photo.known_fingerprint not in stored:
                    fresh.setdefault(photo.known_fingerprint, result.pixels)
            features: dict[str, np.ndarray] = {}
            if fresh:
                encoded = as_stored(encoder.encode_pictures(np.stack(list(fresh.values()))))  # [n, dim]
                features = dict(zip(fresh, encoded, strict=True))
            with lock, catalog.transaction():
                vectors.put(model, features.items())
                vectors.put_signatures([(photo.known_fingerprint, result.signature, result.face)
                                        for photo, result in good])
                for photo, result in batch:
                    if isinstance(result, Decoded):
                        catalog.set_decoded(photo.id, result.width, result.height, result.taken, result.capture)
                    else:
                        catalog.set_failed(photo.id, result)
                if on_batch and good:
                    for print_ in stored:
                        vector = vectors.vector_for_content(model, print_)
                        assert vector is not None  # content_ids found it stored, and stored vectors are never removed
                        features[print_] = vector
                    on_batch(np.array([photo.id for photo, _ in good], np.int64),
                             np.stack([features[photo.known_fingerprint] for photo, _ in good]))
            run.encoded += len(fresh)
            run.read += len(good) - len(fresh)
            run.failed += len(batch) - len(good)
            if on_progress:
                working = time.monotonic() - started - (controls.paused_seconds() - paused_before)
                on_progress(Progress(run.encoded + run.read + run.failed, len(photos), run.encoded, run.failed,
                                     working))
        if controls.cancelled.is_set():
            run.cancelled = True
    finally:
        if own_pool:
            pool.shutdown(cancel_futures=True)
    return run


def _decode_ahead(pool: Executor, photos: Iterable[Photo], resolution: int, thumbnails: Path,
                  read_ahead: int, controls: Controls) -> Iterator[tuple[Photo, Decoded | str]]:
    """Decoded photos in order, at most `read_ahead` in flight; a failure comes as its reason."""
    queue: deque[tuple[Photo, Future]] = deque()
    pending = iter(photos)
    try:
        while True:
            while len(queue) < read_ahead and not controls.cancelled.is_set():
                photo = next(pending, None)
                if photo is None:
                    break
                queue.append((photo, pool.submit(_read, photo, resolution, thumbnails)))
            if not queue:
                return
            photo, future = queue.popleft()
            yield photo, future.result()
    finally:
        for _, future in queue:
            future.cancel()


def _read(photo: Photo, resolution: int, thumbnails: Path) -> Decoded | str:
    try:
        result = decode(photo.file, resolution, photo.mtime_ns / 1e9, photo.fingerprint)  # the scan's stat
    except PhotoError as error:  # a vanished file included: decode names it
        return str(error)
    except MemoryError:
        return "not enough memory to decode it"
    _save_thumbnail(thumbnail_path(thumbnails, photo.known_fingerprint), result.thumbnail)
    return result


def _save_thumbnail(path, data: bytes) -> None:
    """Thumbnails are a cache: written whole (temp file, rename) so a crash never leaves half a picture."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)  # a full disk costs the thumbnail, not the photo's place in the library


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
