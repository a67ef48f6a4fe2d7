"""The task runner: outcomes come back on the UI thread, readable; nothing is started or delivered once it is
closed (the window and the library its callbacks touch are going away)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThread

from photosort.app.tasks import TaskRunner, named_pool
from photosort.core.errors import LibraryError


def wait_until_every_outcome_is_handled(qtbot, runner: TaskRunner) -> None:
    """Until no relay is left: each is deleted once its task's outcome has reached the UI thread."""
    qtbot.waitUntil(lambda: not runner.findChildren(QObject), timeout=5000)


def test_results_and_readable_errors_arrive_on_the_ui_thread(qtbot):
    runner = TaskRunner(named_pool("test", 2))
    outcomes = []

    def record(kind):
        return lambda value: outcomes.append((kind, value, QThread.currentThread() is runner.thread()))

    def fails():
        raise LibraryError("the catalog is locked by another program")

    runner.submit(lambda: 6 * 7, record("done"), record("failed"))
    runner.submit(fails, record("done"), record("failed"))
    runner.submit(lambda: {}["missing"], record("done"), record("failed"))
    qtbot.waitUntil(lambda: len(outcomes) == 3)
    assert ("done", 42, True) in outcomes
    assert ("failed", "the catalog is locked by another program", True) in outcomes
    assert ("failed", "something went wrong: KeyError: 'missing'", True) in outcomes
    runner.pool.waitForDone()


def test_after_close_nothing_starts_and_nothing_is_delivered(qtbot):
    runner = TaskRunner(named_pool("test", 2))
    release, started, delivered = threading.Event(), [], []

    def slow():
        release.wait(10)
        return "late"

    runner.submit(slow, delivered.append, delivered.append)
    runner.close()
    runner.submit(lambda: started.append("after close"), delivered.append, delivered.append)
    from_worker = threading.Thread(target=runner.submit, args=(lambda: started.append("from a worker"),))
    from_worker.start()
    from_worker.join()
    release.set()
    runner.pool.waitForDone()
    # The worker's submission was queued to this thread before `slow` could report, so both have been handled
    # once the relay of `slow` is gone; then anything they started has run.
    wait_until_every_outcome_is_handled(qtbot, runner)
    runner.pool.waitForDone()
    assert started == [] and delivered == []


def test_only_the_newest_task_of_a_kind_is_heard_and_a_waiting_older_one_is_skipped(qtbot):
    runner = TaskRunner(named_pool("test", 1))  # one thread: the second task waits behind the first
    release, ran, delivered = threading.Event(), [], []

    def task(name, wait=False):
        def work():
            ran.append(name)
            if wait:
                release.wait(10)
            return name
        return work

    runner.submit(task("running", wait=True), delivered.append, delivered.append, latest="view")
    qtbot.waitUntil(lambda: ran == ["running"])
    runner.submit(task("waiting"), delivered.append, delivered.append, latest="view")
    runner.submit(task("other kind"), delivered.append, delivered.append)
    runner.submit(task("newest"), delivered.append, delivered.append, latest="view")
    release.set()
    qtbot.waitUntil(lambda: "newest" in delivered)
    runner.pool.waitForDone()
    wait_until_every_outcome_is_handled(qtbot, runner)
    assert "waiting" not in ran  # superseded before it started
    assert sorted(delivered) == ["newest", "other kind"]


def test_finished_tasks_leave_nothing_behind(qtbot):
    runner = TaskRunner(named_pool("test", 2))
    delivered = []
    for number in range(200):
        runner.submit(lambda number=number: number, delivered.append, latest="view" if number % 2 else None)
    qtbot.waitUntil(lambda: len(delivered) > 0 and runner.pool.activeThreadCount() == 0)
    qtbot.waitUntil(lambda: not runner.findChildren(QObject), timeout=5000)  # relays deleted once delivered
