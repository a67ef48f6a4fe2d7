"""The photo grid with 100,000 photos: the longest stall of the UI thread for what a person does with it.

    .venv/bin/python benchmarks/bench_gui.py [--photos 100000] [--settle-ms 600]

Each action (open the library, arrivals during an import, a search and back, jumping to the end, scrolling)
is timed as the longest gap between ticks of a 2 ms timer on the UI thread, for photosort's grid and for the
textbook baseline: a QListView in icon mode with Qt's per-item painting through a Python delegate, a model
reset for every change. Rows only: no photo files are read (thumbnails stay placeholders), so this measures
the grid itself. Runs on Qt's offscreen platform unless a display is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QListView, QStyledItemDelegate  # noqa: E402

from photosort.app.thumbnails import ThumbnailLoader  # noqa: E402
from photosort.core.catalog import BrowseRow  # noqa: E402
from photosort.ui.photo_grid import CELL, PhotoGrid, PhotoListModel  # noqa: E402

STALL_BUDGET_MS = 100
TOP = QModelIndex()  # the parent of a list's rows


class BaselineModel(QAbstractListModel):
    """What a first version looks like: rows behind a reset, data() for every role the view asks."""

    def __init__(self):
        super().__init__()
        self.rows: list[BrowseRow] = []

    def rowCount(self, parent=TOP) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(self.rows[index.row()].path).name
        return None

    def set_rows(self, rows: list[BrowseRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()


class BaselineDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index) -> QSize:
        return CELL


def baseline_view(model: BaselineModel) -> QListView:
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setUniformItemSizes(True)
    view.setGridSize(CELL)
    view.setItemDelegate(BaselineDelegate(view))
    view.setModel(model)
    return view


def rows(ids) -> list[BrowseRow]:
    return [BrowseRow(i, f"/library/2024/IMG_{i:06d}.jpg", 1.7e9 - i, 3_000_000, 4032, 3024, None, True)
            for i in ids]


class Probe:
    def __init__(self, app: QApplication, settle_s: float):
        self.app = app
        self.settle_s = settle_s
        self.longest = 0.0
        self.last = time.perf_counter()
        self.timer = QTimer(interval=2)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def measure(self, action) -> float:
        """The longest stall while `action` runs and the view settles."""
        for _ in range(20):
            self.app.processEvents()
        self.longest, self.last = 0.0, time.perf_counter()
        QTimer.singleShot(0, action)
        end = time.perf_counter() + self.settle_s
        while time.perf_counter() < end:
            self.app.processEvents()
        return self.longest * 1000


def scenario(app: QApplication, probe: Probe, view, model, count: int) -> dict[str, float]:
    everything = rows(range(count))
    arrivals = rows(range(-100, 0)) + everything  # an import: 100 newer photos at the top
    hits = rows(range(0, count, max(1, count // 300)))[:300]
    scroll = view.verticalScrollBar()
    view.resize(1300, 850)
    view.show()
    results = {"open the library": probe.measure(lambda: model.set_rows(everything))}
    results["100 photos arrive"] = probe.measure(lambda: model.set_rows(arrivals))
    results["a search (300 hits)"] = probe.measure(lambda: model.set_rows(hits))
    results["back to all photos"] = probe.measure(lambda: model.set_rows(arrivals))
    results["jump to the end"] = probe.measure(lambda: scroll.setValue(scroll.maximum()))

    def scroll_a_screen() -> None:
        scroll.setValue(max(0, scroll.value() - view.viewport().height()))

    results["scroll a screen"] = probe.measure(scroll_a_screen)
    view.hide()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--settle-ms", type=int, default=600, help="how long each action is watched")
    args = parser.parse_args()
    app = QApplication(sys.argv)
    probe = Probe(app, args.settle_ms / 1000)
    ours_model = PhotoListModel(ThumbnailLoader())
    ours = PhotoGrid()
    ours.setModel(ours_model)
    baseline_model = BaselineModel()
    measured_ours = scenario(app, probe, ours, ours_model, args.photos)
    measured_base = scenario(app, probe, baseline_view(baseline_model), baseline_model, args.photos)
    print(f"longest UI stall, {args.photos:,} photos (budget {STALL_BUDGET_MS} ms)")
    print(f"{'action':<24}{'photosort':>12}{'baseline':>12}")
    for action, ours_ms in measured_ours.items():
        print(f"{action:<24}{ours_ms:>9.0f} ms{measured_base[action]:>9.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
