"""Watching the library folders: file events, debounced, turned into a rescan and an encoding run.

Events only say that something changed; the rescan (stat only for unchanged files) says what. A burst of
events (a camera import, a sync client) settles into one rescan once the folders have been quiet for
`quiet_s`, and once every file touched has kept its size across a check `quiet_s` apart, so a file still
being written is read when it is whole. Folder roots are polled too: a drive plugged back in comes online.

When acting on changes fails (a full disk, a library that cannot be written for a while), the watcher says
so through `on_error(error, retry_in_s)` and tries again after a pause that doubles up to a few minutes,
with every change seen meanwhile: once the cause is gone, it goes on by itself. Nothing under `exclude` (the
library's own folder, when it lies inside a watched one) is an event.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from .names import is_ignored_name, is_image_name

DEFAULT_QUIET_S = 1.0
ROOT_POLL_S = 5.0  # how often folder roots are checked for coming back or going away
FIRST_RETRY_S = 2.0  # the pause after a first failure; each failure in a row doubles it...
LONGEST_RETRY_S = 300.0  # ...up to this


class _Changes(FileSystemEventHandler):
    def __init__(self, exclude: list[str]) -> None:
        self.exclude = exclude
        self.lock = threading.Lock()
        self.touched: set[str] = set()
        self.last_event = 0.0

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory and event.event_type == "modified":
            return  # a folder's own mtime moves whenever a file in it does: that file's event says more
        if event.event_type in ("opened", "closed_no_write"):
            return  # reading a file (our own decoding included) changes nothing
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        relevant = [os.fsdecode(path) for path in paths if path and _matters(os.fsdecode(path), event.is_directory)
                    and not any(os.fsdecode(path).startswith(place) for place in self.exclude)]
        if not relevant:
            return
        with self.lock:
            self.touched.update(relevant)
            self.last_event = time.monotonic()

    def take_if_settled(self, quiet_s: float, sizes: dict[str, int | None]) -> set[str] | None:
        """The touched paths once quiet and stable in size; None while still settling."""
        with self.lock:
            if not self.touched or time.monotonic() - self.last_event < quiet_s:
                return None
            current = {path: _size(path) for path in self.touched}
            if any(sizes.get(path, -1) != size for path, size in current.items()):
                sizes.clear()
                sizes.update(current)
                self.last_event = time.monotonic()  # look again after another quiet spell
                return None
            touched, self.touched = self.touched, set()
            sizes.clear()
            return touched


def _matters(path: str, is_directory: bool) -> bool:
    name = os.path.basename(path)
    if is_ignored_name(name):
        return False
    return is_directory or is_image_name(name)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


class Watcher:
    """Calls `on_settled(paths)` after changes settle, from its own thread; `stop()` ends it."""

    def __init__(self, folders: list[Path], on_settled: Callable[[set[str]], None],
                 quiet_s: float = DEFAULT_QUIET_S, exclude: Sequence[Path] = (),
                 on_error: Callable[[Exception, float], None] | None = None):
        self.folders = folders
        self.on_settled = on_settled
        self.on_error = on_error
        self.quiet_s = quiet_s
        # A folder itself and everything in it ("library/..."), never a neighbour that shares its name's start.
        self._changes = _Changes([prefix for path in exclude for prefix in (str(path), str(path) + os.sep)])
        self._retry: set[str] | None = None  # changes to act on again after a failure
        self._retry_at = 0.0
        self._failures = 0
        self._observer = Observer()
        self._watched: dict[Path, ObservedWatch] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watcher", daemon=True)

    def start(self) -> None:
        self._refresh_roots()
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._observer.stop()
        self._observer.join(timeout=10)

    def _refresh_roots(self) -> bool:
        """Schedule folders that appeared, drop those that vanished; True when any did either."""
        changed = False
        for folder in self.folders:
            present = folder.is_dir()
            if present and folder not in self._watched:
                try:
                    self._watched[folder] = self._observer.schedule(self._changes, str(folder), recursive=True)
                    changed = True
                except OSError:
                    continue
            elif not present and folder in self._watched:
                self._observer.unschedule(self._watched.pop(folder))
                changed = True
        return changed

    def trigger(self, paths: set[str]) -> None:
        """Act on `paths` from the watcher's thread as soon as it runs, with its retries (a first full pass)."""
        self._retry, self._retry_at = set(paths), 0.0

    def _loop(self) -> None:
        sizes: dict[str, int | None] = {}
        next_poll = time.monotonic() + ROOT_POLL_S
        while not self._stop.wait(min(0.25, self.quiet_s / 2)):
            changed: set[str] = set()
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + ROOT_POLL_S
                if self._refresh_roots():
                    changed |= {str(folder) for folder in self.folders}
            changed |= self._changes.take_if_settled(self.quiet_s, sizes) or set()
            if self._retry is not None:
                changed |= self._retry
                if time.monotonic() < self._retry_at:  # still pausing after a failure: keep them for then
                    self._retry = changed
                    continue
            if changed or self._retry is not None:
                self._act(changed)

    def _act(self, changed: set[str]) -> None:
        try:
            self.on_settled(changed)
        except Exception as error:  # noqa: BLE001 - said, then tried again: the watcher never dies of it
            self._failures += 1
            pause = min(LONGEST_RETRY_S, FIRST_RETRY_S * 2 ** (self._failures - 1))
            self._retry, self._retry_at = changed, time.monotonic() + pause
            if self.on_error is not None:
                self.on_error(error, pause)
            return
        self._retry, self._failures = None, 0
