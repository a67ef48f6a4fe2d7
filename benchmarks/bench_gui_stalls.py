"""The longest stall of the app's UI thread while 2,400 photos are indexed, searched as they are typed and
scrolled, over several runs, side by side with the 100 ms budget.

Each run is a fresh process, as the app is: it builds the desktop app over a new library that uses the bundled
tiny model (Qt's offscreen platform), adds a folder of photos, types queries while they are indexed, scrolls
all along, then searches the finished library. A 5 ms timer on the UI thread is the probe: the longest gap
between two of its ticks is the longest stall.

    python benchmarks/bench_gui_stalls.py [--photos 2400] [--runs 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The screen of the app's tests, a laptop's: the offscreen default (800 x 600) is smaller than the app's window.
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={ROOT / 'tests' / 'offscreen-screen.json'}")
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from photosort.app.settings import AppSettings  # noqa: E402
from photosort.clip import shapes  # noqa: E402
from photosort.ui.app import build  # noqa: E402
from tests.gui_helpers import indexed, library_with_tiny_model  # noqa: E402

BUDGET_MS = 100
TICK_MS = 5  # the probe: a timer this fast shows any stall longer than itself
TYPING_MS = 400  # a query typed this often while photos are indexed
SCROLL_MS = 50
TIMEOUT_S = 300
QUERIES = ["red circle", "two blue stars", "a green square", "yellow triangles", "white star", "purple circle"]
FIGURE = re.compile(r"longest UI stall (\d+) ms over (\d+) ticks, (\d+) searches")
# A run starts through -c, not as this script: the app's own processes are spawned, and import their parent's
# main module again; the app's main module is photosort's, never a benchmark with Qt and its widgets in it.
ONE_RUN = ("import sys; from pathlib import Path; from benchmarks.bench_gui_stalls import one_run; "
           "one_run(Path(sys.argv[1]), Path(sys.argv[2]))")


def many_photos(folder: Path, count: int, seed: int = 3) -> None:
    """`count` distinct photos of the tiny world: each rendered scene saved at several JPEG qualities and
    mirror images, so every file has its own bytes (and vector) without rendering every one."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    kinds = shapes.all_scene_kinds()
    variants = [(quality, mirror) for quality in (60, 75, 90) for mirror in (False, True)]
    made = 0
    while made < count:
        colour, shape, number = kinds[made // len(variants) % len(kinds)]
        picture = shapes.render(shapes.Scene(colour, shape, number, shapes.background_for(rng, colour,
                                                                                          shapes.TRAINING)), rng)
        picture = picture.convert("RGB")
        for quality, mirror in variants[:count - made]:
            image = picture.transpose(0) if mirror else picture
            image.save(folder / f"{colour}-{shape}-{made}.jpg", quality=quality)
            made += 1


class StallProbe:
    """A fast timer on the UI thread; the longest gap between its ticks is the longest stall."""

    def __init__(self):
        self.longest = 0.0
        self.ticks = 0
        self._last = time.perf_counter()
        self.timer = QTimer(interval=TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now
        self.ticks += 1

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def wait_until(condition, what: str) -> None:
    """Runs an event loop, as the app's own, until `condition()` holds: the probe ticks meanwhile. (Never
    QTest.qWait: it sleeps between passes over the events, a stall of its own.)"""
    deadline = time.monotonic() + TIMEOUT_S
    loop = QEventLoop()
    check = QTimer(interval=10)
    check.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline else None)
    check.start()
    loop.exec()
    check.stop()
    if not condition():
        raise SystemExit(f"no {what} within {TIMEOUT_S} s")


def one_run(photos: Path, work: Path) -> None:
    """The scenario, in this process: prints its figures."""
    count = sum(1 for _ in photos.iterdir())
    _app = QApplication(sys.argv)  # held for the run: the widgets need it alive
    session, window = build(library_with_tiny_model(work / "library"), AppSettings(work / "settings.ini"))
    window.show()
    wait_until(lambda: session.library is not None, "library")
    probe = StallProbe()
    searches = []
    session.searchDone.connect(lambda generation, hits: searches.append(len(hits)))
    typing = QTimer(interval=TYPING_MS)
    queries = itertools.cycle(QUERIES)
    typing.timeout.connect(lambda: window.search_bar.search_for(next(queries)))
    scroll_bar = window.grid.verticalScrollBar()
    scrolling = QTimer(interval=SCROLL_MS)
    scrolling.timeout.connect(lambda: scroll_bar.setValue((scroll_bar.value() + 300) % max(scroll_bar.maximum(), 1)))
    try:
        probe.start()
        scrolling.start()
        window.add_folders([photos])
        wait_until(lambda: window.indexing_status.state.phase == "indexing", "indexing")
        typing.start()  # searching as you type while photos are indexed
        wait_until(lambda: len(searches) >= 3, "search while indexing")
        typing.stop()
        window.search_bar.search_for("")
        wait_until(lambda: indexed(window, count), "finished index")
        for query in QUERIES:  # and on the finished library
            done = len(searches)
            window.search_bar.search_for(query)
            wait_until(lambda done=done: len(searches) > done, f"search for {query!r}")
        probe.stop()
        print(f"longest UI stall {probe.longest * 1000:.0f} ms over {probe.ticks} ticks, {len(searches)} searches",
              flush=True)
    finally:
        typing.stop()
        scrolling.stop()
        window.close()
        session.close()


def measured_run(photos: Path) -> tuple[int, int, int]:
    """(longest stall in ms, ticks, searches) of one run, in a process of its own."""
    with tempfile.TemporaryDirectory(prefix="photosort-bench-stalls-") as work:
        # The app's own data (models, device probe) stays in the run's folder, never the person's.
        env = dict(os.environ, PHOTOSORT_DATA_DIR=work)
        result = subprocess.run([sys.executable, "-c", ONE_RUN, str(photos), work], cwd=ROOT, capture_output=True,
                                text=True, env=env)
    found = FIGURE.search(result.stdout)
    if result.returncode != 0 or not found:
        raise SystemExit(f"the run failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    stall, ticks, searches = map(int, found.groups())
    return stall, ticks, searches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="photosort-bench-stalls-") as folder:
        photos = Path(folder) / "photos"
        many_photos(photos, args.photos)
        print(f"longest UI stall while {args.photos:,} photos are indexed, searched as typed and scrolled "
              f"(budget {BUDGET_MS} ms)")
        stalls = []
        for number in range(1, args.runs + 1):
            stall, ticks, searches = measured_run(photos)
            stalls.append(stall)
            print(f"run {number}: {stall:4} ms  budget {BUDGET_MS} ms{'  OVER' if stall >= BUDGET_MS else ''}"
                  f"   ({ticks:,} ticks, {searches} searches)", flush=True)
    over = sum(stall >= BUDGET_MS for stall in stalls)
    print(f"longest UI stall over {args.runs} runs: {', '.join(map(str, stalls))} ms (min {min(stalls)}, max "
          f"{max(stalls)}); budget {BUDGET_MS} ms, {over} runs over it")


if __name__ == "__main__":
    main()
