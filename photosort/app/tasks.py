"""Running work off the UI thread and posting the outcome back to it.

A task is a plain callable run on a QThreadPool; its result (or the error it raised) comes back through a
signal, which Qt delivers on the thread that owns the receiver: the UI thread. Errors that a person can act
on (the engine's typed errors, files that cannot be read) arrive as their one-line message; anything else as
a short description, never a traceback in a dialog.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

from ..clip.errors import ClipError
from ..core.errors import LibraryError, PhotoError

log = logging.getLogger(__name__)

EXPECTED_ERRORS = (LibraryError, ClipError, PhotoError, OSError)


class _Relay(QObject):
    """Lives on the UI thread; the worker emits through it, and its slots (so the callbacks) run there."""

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, done: Callable[[Any], None] | None, failed: Callable[[str], None] | None,
                 finished: Callable[[_Relay], None], parent: QObject):
        super().__init__(parent)  # gone with its runner: a result that arrives after that is dropped
        self._done, self._failed, self._finished = done, failed, finished
        self.superseded = False  # read by the worker: a task not yet started is then not run at all
        self.succeeded.connect(self._on_success)
        self.failed.connect(self._on_failure)

    def forget(self) -> None:
        """The task may still report, but nobody is told."""
        self._done = self._failed = None

    def supersede(self) -> None:
        """A newer task of the same kind was submitted: this one's outcome is nobody's business any more."""
        self.superseded = True
        self.forget()

    @Slot(object)
    def _on_success(self, result: Any) -> None:
        self._deliver(self._done, result)

    @Slot(str)
    def _on_failure(self, message: str) -> None:
        self._deliver(self._failed, message)

    def _deliver(self, callback: Callable[[Any], None] | None, value: Any) -> None:
        try:
            if callback:
                callback(value)
        finally:
            self._finished(self)
            self.deleteLater()  # else each task would leave a child QObject on the runner for good


class _Task(QRunnable):
    def __init__(self, work: Callable[[], Any], relay: _Relay):
        super().__init__()
        self.work, self.relay = work, relay

    def run(self) -> None:
        if self.relay.superseded:
            self._report(self.relay.succeeded, None)  # unheard; it only lets the relay go
            return
        try:
            result = self.work()
        except EXPECTED_ERRORS as error:
            self._report(self.relay.failed, readable(error))
            return
        except Exception as error:  # noqa: BLE001 - reported to the person, logged with its traceback
            log.error("background task failed:\n%s", traceback.format_exc())
            self._report(self.relay.failed, f"something went wrong: {type(error).__name__}: {error}")
            return
        self._report(self.relay.succeeded, result)

    @staticmethod
    def _report(signal, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:
            pass  # the app closed while this ran: nobody is left to tell


def readable(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename + ': ' if error.filename else ''}{error.strerror}"
    return str(error) or type(error).__name__


class TaskRunner(QObject):
    """Submits callables to one pool; `done(result)` and `failed(message)` run on the UI thread. `submit` may
    be called from any thread: from a worker, the submission itself is passed to the UI thread first.

    Tasks run on several threads and finish in no set order. Where only the newest answer counts (the photos
    of the current view, the results of the query as typed so far), submit with `latest` naming the kind: a
    newer submission of that kind silences the older one, and skips it if it has not started yet.
    """

    _submission = Signal(object)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool
        self._relays: set[_Relay] = set()  # kept alive until their task reports
        self._latest: dict[str, _Relay] = {}  # the newest relay of each kind submitted with `latest`
        self._closed = False
        self._submission.connect(self._submit_here)

    def close(self) -> None:
        """From now on nothing is started and no outcome is delivered: what the callbacks would touch (the
        library, the window) is being closed. Call it on the UI thread."""
        self._closed = True
        for relay in self._relays:
            relay.forget()

    def submit(self, work: Callable[[], Any], done: Callable[[Any], None] | None = None,
               failed: Callable[[str], None] | None = None, *, latest: str | None = None) -> None:
        if QThread.currentThread() is self.thread():
            self._submit_here((work, done, failed, latest))
        else:
            self._submission.emit((work, done, failed, latest))

    @Slot(object)
    def _submit_here(self, submission: tuple) -> None:
        work, done, failed, latest = submission
        if self._closed:
            return
        relay = _Relay(done, failed, self._release, self)  # made on the UI thread: delivered there
        self._relays.add(relay)
        if latest is not None:
            older = self._latest.get(latest)
            if older is not None:
                older.supersede()
            self._latest[latest] = relay
        self.pool.start(_Task(work, relay))

    def _release(self, relay: _Relay) -> None:
        self._relays.discard(relay)
        for kind in [kind for kind, newest in self._latest.items() if newest is relay]:
            del self._latest[kind]


def named_pool(name: str, threads: int) -> QThreadPool:
    pool = QThreadPool()
    pool.setObjectName(name)
    pool.setMaxThreadCount(threads)
    return pool
