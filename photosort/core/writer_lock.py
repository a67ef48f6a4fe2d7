"""One writer at a time: `library.lock` in the library folder, locked by the process that writes.

The operating system's file lock (flock, or LockFileEx on Windows) is let go of when its process ends however
it ends, `kill -9` included, so a crash never leaves the library locked. Readers take no lock: SQLite's
write-ahead log lets them read while the writer writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import LibraryBusy, LibraryError

LOCK_FILE = "library.lock"
# Beside the lock, who holds it: the desktop app holds it for as long as it is open, a command while it runs,
# and the person waiting should know which to close.
HOLDER_FILE = "library.lock.holder"
DEFAULT_HOLDER = "a photosort command"
UNKNOWN_HOLDER = "another photosort"


def waiting_message(holder: str) -> str:
    return f"{holder} is using this library; waiting until it has finished or is closed…"


def busy_message(holder: str) -> str:
    return f"{holder} is using this library; try again when it has finished or is closed (or leave out --no-wait)"


class WriterLock:
    def __init__(self, folder: Path):
        # Not thread-local: the desktop app opens the library on one thread and closes it on another.
        self._lock = FileLock(folder / LOCK_FILE, thread_local=False, preserve_lock_file=True)
        self._holder_file = folder / HOLDER_FILE

    def acquire(self, wait: bool = True, on_wait: Callable[[str], None] | None = None,
                holder: str = DEFAULT_HOLDER) -> None:
        """Take the lock as `holder` (how another process waiting for it names this one); when another process
        holds it, wait (saying so once, naming it, through `on_wait`) or, with `wait` False, raise LibraryBusy."""
        try:
            self._lock.acquire(timeout=0)
            self._say_held_by(holder)
            return
        except Timeout:
            if not wait:
                raise LibraryBusy(busy_message(self.holder())) from None
        except OSError as error:
            raise LibraryError(f"cannot lock the library ({error.strerror or error})") from error
        if on_wait:
            on_wait(waiting_message(self.holder()))
        self._lock.acquire()
        self._say_held_by(holder)

    def holder(self) -> str:
        """Who holds the lock, as they said when they took it ("the desktop app (process 4242)")."""
        try:
            said = json.loads(self._holder_file.read_text(encoding="utf-8"))
            return f"{said['what']} (process {int(said['pid'])})"
        except (OSError, ValueError, KeyError, TypeError):
            return UNKNOWN_HOLDER

    def _say_held_by(self, holder: str) -> None:
        try:
            self._holder_file.write_text(json.dumps({"what": holder, "pid": os.getpid()}), encoding="utf-8")
        except OSError:  # only the message of someone waiting loses its name
            pass

    def try_acquire(self, holder: str = DEFAULT_HOLDER) -> bool:
        """Take the lock if it is free now; False when another process writes."""
        try:
            self._lock.acquire(timeout=0)
        except (Timeout, OSError):
            return False
        self._say_held_by(holder)
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self._holder_file.unlink(missing_ok=True)
            self._lock.release()

    @property
    def held(self) -> bool:
        return self._lock.is_locked
