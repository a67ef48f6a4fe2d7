"""The Library holds its own lock around what it asks of its stores: a caller on any thread may call it without
holding anything, and no two threads ever use the catalog's connection at once."""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from photosort.core.library import Library
from tests.library_helpers import write_photo


class ColourEncoder:
    """Pictures by their mean colour; each text its own fixed direction."""

    resolution = 16
    dim = 4

    def encode_pictures(self, pictures: np.ndarray) -> np.ndarray:
        means = pictures.mean(axis=(2, 3))  # [batch, 3]
        vectors = np.concatenate([means, np.ones((len(pictures), 1), np.float32)], axis=1)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        seeds = [int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") for text in texts]
        vectors = np.stack([np.random.default_rng(seed).normal(size=self.dim) for seed in seeds]).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class GuardedConnection:
    """The catalog's connection, noting each statement run without the library's lock held by its thread."""

    def __init__(self, db, lock, unlocked: list[str]):
        self._db, self._lock, self._unlocked = db, lock, unlocked

    def _check(self, what: str) -> None:
        if not self._lock._is_owned():
            self._unlocked.append(what.split("\n")[0][:80])

    def execute(self, sql, *args):
        self._check(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql, *args):
        self._check(sql)
        return self._db.executemany(sql, *args)

    def executescript(self, sql):
        self._check(sql)
        return self._db.executescript(sql)

    def __enter__(self):
        self._check("BEGIN (with)")
        return self._db.__enter__()

    def __exit__(self, *exc):
        return self._db.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._db, name)


def test_every_statement_a_method_runs_holds_the_library_lock(tmp_path):
    photos = tmp_path / "photos"
    for number, colour in enumerate(["red", "blue", "green", "red"]):
        write_photo(photos / f"{colour}-{number}.png", colour, "circle", seed=number)
    encoder = ColourEncoder()
    library = Library(tmp_path / "library")
    try:
        library.set_model("colours")
        library.add_folders([photos])
        library.scan()
        library.encode_pending(encoder)
        unlocked: list[str] = []
        guarded = GuardedConnection(library.catalog.db, library.lock, unlocked)
        library.catalog.db = library.vectors.db = library.labels.db = library.work.db = guarded
        first = library.browse()[0]

        def a_caller_holding_nothing() -> None:
            library.status(with_failures=True)
            library.folder_rows()
            assert library.model == "colours" and library.reference_folders == []
            library.set_references(add=[photos])
            library.is_reference(first.path)
            library.set_references(remove=[photos])
            library.pending()
            library.index()
            assert library.search(encoder, "red", k=2)
            library.text_vector(encoder, "blue")
            library.set_labels({"reds": ["red"]})
            library.retag(encoder)
            library.photo_tags(first.id)
            library.tagged_photos()
            library.rename_label("reds", "crimson")
            library.remove_label("crimson")
            library.rebuild_index()
            library.trash_photos([])

        failures: list[BaseException] = []

        def run() -> None:
            try:
                a_caller_holding_nothing()
            except BaseException as error:  # noqa: BLE001 - reported by the test's own thread
                failures.append(error)

        caller = threading.Thread(target=run)
        caller.start()
        caller.join()
        assert failures == [] and unlocked == []
    finally:
        library.catalog.db = getattr(library.catalog.db, "_db", library.catalog.db)
        library.close()


def test_a_second_writer_is_told_who_holds_the_library(tmp_path):
    import os
    import subprocess
    import sys

    from photosort.app.session import APP_HOLDER
    from photosort.core.writer_lock import HOLDER_FILE

    photos = tmp_path / "photos"
    write_photo(photos / "red.png", "red", "circle")
    with Library(tmp_path / "library", holder=APP_HOLDER):  # as the desktop app holds it while it is open
        refused = subprocess.run([sys.executable, "-m", "photosort", "--library", str(tmp_path / "library"),
                                  "--no-wait", "index", str(photos)], capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1
        assert f"{APP_HOLDER} (process {os.getpid()}) is using this library" in refused.stderr, refused.stderr
    assert not (tmp_path / "library" / HOLDER_FILE).exists()


def test_an_unknown_model_is_refused_before_waiting_for_the_library(tmp_path):
    import subprocess
    import sys

    from photosort.app.session import APP_HOLDER

    photos = tmp_path / "photos"
    write_photo(photos / "red.png", "red", "circle")
    with Library(tmp_path / "library", holder=APP_HOLDER):
        refused = subprocess.run([sys.executable, "-m", "photosort", "--library", str(tmp_path / "library"), "index",
                                  str(photos), "--model", "no-such-model"], capture_output=True, text=True,
                                 timeout=120)  # the old order waited here for as long as the app stayed open
    assert refused.returncode == 1 and "unknown model 'no-such-model'" in refused.stderr
    assert "is using this library" not in refused.stderr
