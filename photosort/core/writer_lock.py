"""One writer at a time: `library.lock` in the library folder, locked by the process that writes.

The operating system's file lock (flock, or LockFileEx on Windows) is let go of when its process ends however
it ends, `kill -9` included, so a crash never leaves the library locked. Readers take no lock: SQLite's
write-ahead log lets them read while the writer writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import LibraryBusy, LibraryError

LOCK_FILE = "library.lock"
WAITING = "another photosort is indexing this library; waiting…"
BUSY = "another photosort is indexing this library; try again when it has finished (or leave out --no-wait)"


class WriterLock:
    def __init__(self, folder: Path):
        # Not thread-local: the desktop app opens the library on one thread and closes it on another.
        self._lock = FileLock(folder / LOCK_FILE, thread_local=False, preserve_lock_file=True)

    def acquire(self, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock; when another process holds it, wait (saying so once through `on_wait`) or, with
        `wait` False, raise LibraryBusy."""
        try:
            self._lock.acquire(timeout=0)
            return
        except Timeout:
            if not wait:
                raise LibraryBusy(BUSY) from None
        except OSError as error:
            raise LibraryError(f"cannot lock the library ({error.strerror or error})") from error
        if on_wait:
            on_wait(WAITING)
        self._lock.acquire()

    def try_acquire(self) -> bool:
        """Take the lock if it is free now; False when another process writes."""
        try:
            self._lock.acquire(timeout=0)
            return True
        except (Timeout, OSError):
            return False

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    @property
    def held(self) -> bool:
        return self._lock.is_locked
