"""A pause in indexing is not time spent indexing: the speed and the time left that a person reads after
resuming count only the time the run was let work."""

from __future__ import annotations

from types import SimpleNamespace

from photosort.clip import Encoder
from photosort.core import pipeline
from photosort.core.library import Library
from photosort.core.pipeline import Controls
from tests.library_helpers import TINY_MODEL, tiny_world

PAUSE_S = 1000.0  # a pause much longer than the whole run


class Clock:
    """Time that moves a millisecond a look, and by hand: a long pause without waiting for it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_paused_time_is_not_counted_in_the_speed(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(monotonic=clock))
    photos = tiny_world(tmp_path / "photos", per_kind=1)
    controls = Controls()
    reports = []

    def on_progress(progress) -> None:
        reports.append(progress)
        if len(reports) == 1:  # the person pauses after the first batch, and comes back much later
            controls.pause()
            clock.now += PAUSE_S
            controls.resume()

    with Library(tmp_path / "library") as library:
        library.set_model(str(TINY_MODEL))
        library.add_folders([tmp_path / "photos"])
        library.scan()
        library.encode_pending(Encoder.load(str(TINY_MODEL), "cpu"), batch_size=8, controls=controls,
                               on_progress=on_progress)
    assert reports[-1].done == len(photos) and len(reports) > 2
    assert reports[-1].seconds < PAUSE_S / 10  # the photos' time, not the pause's
    assert controls.paused_seconds() >= PAUSE_S
