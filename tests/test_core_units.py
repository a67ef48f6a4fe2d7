"""The engine's parts on their own: catalog migrations, decoding, the pipeline's commits and controls, the watcher."""

import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photosort.core import catalog as catalog_module
from photosort.core.catalog import OK, SqliteCatalog
from photosort.core.decode import MAX_PIXELS, decode, fingerprint
from photosort.core.errors import LibraryError, PhotoError
from photosort.core.exif import NO_EXIF, ORIGINAL, Capture
from photosort.core.pipeline import Controls, run_pipeline
from photosort.core.scan import scan
from photosort.core.vectors import SqliteVectorStore
from photosort.core.watcher import Watcher
from tests.library_helpers import old_catalog, png_bomb, wait_for, write_photo

# Catalog


def test_a_new_catalog_is_at_the_latest_schema_in_wal_mode(tmp_path):
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    assert catalog.schema_version == len(catalog_module.MIGRATIONS)
    assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_run_step_by_step_and_keep_the_data(tmp_path, monkeypatch):
    path = tmp_path / "catalog.sqlite"
    catalog = SqliteCatalog(path)
    with catalog.transaction():
        folder = catalog.add_folder(tmp_path)
        catalog.add_photo(str(tmp_path / "a.jpg"), folder.id, 10, 1, "print")
    catalog.close()
    step_two = "ALTER TABLE photos ADD COLUMN rating INTEGER NOT NULL DEFAULT 0;"
    monkeypatch.setattr(catalog_module, "MIGRATIONS", (*catalog_module.MIGRATIONS, step_two))
    migrated = SqliteCatalog(path)
    assert migrated.schema_version == len(catalog_module.MIGRATIONS)
    assert migrated.db.execute("SELECT path, rating FROM photos").fetchall() == [("a.jpg", 0)]


def test_the_capture_facts_step_keeps_decoded_photos_and_marks_them_unread(tmp_path, monkeypatch):
    """Photos indexed before the catalog stored what the EXIF says (step 4) keep their size and date, and read as
    not read yet (a NULL source), for the duplicate finder to read once; new readings store all of it."""
    path = tmp_path / "catalog.sqlite"
    photo_id = old_catalog(path, 3, tmp_path, {tmp_path / "a.jpg": "print"}, size=10, width=4, height=3,
                           taken=12.5)[tmp_path / "a.jpg"]
    migrated = SqliteCatalog(path)
    folder = migrated.folders()[0]
    assert migrated.schema_version == len(catalog_module.MIGRATIONS)
    (photo,) = migrated.readable_photos()
    assert (photo.width, photo.height, photo.taken) == (4, 3, 12.5)
    assert (photo.taken_source, photo.camera, photo.metadata_fields) == (None, None, None)
    capture = Capture(taken=99.25, subsecond=True, source=ORIGINAL, camera="Canon EOS", fields=7)
    with migrated.transaction():
        migrated.set_capture(photo_id, capture)
    (photo,) = migrated.photos_by_id([photo_id]).values()
    assert (photo.taken, photo.taken_source, photo.camera, photo.metadata_fields) == (99.25, ORIGINAL, "Canon EOS", 7)
    with migrated.transaction():  # no capture time: the stored date stays
        migrated.set_capture(photo_id, NO_EXIF)
    (photo,) = migrated.photos_in(folder.id).values()
    assert (photo.taken, photo.taken_source, photo.camera, photo.metadata_fields) == (99.25, "file", "", 0)
    with migrated.transaction():
        migrated.set_decoded(photo_id, 8, 6, 50.0, capture)
    (photo,) = migrated.photos_in(folder.id).values()
    assert (photo.width, photo.taken, photo.taken_source, photo.camera) == (8, 50.0, ORIGINAL, "Canon EOS")
    with migrated.transaction():  # read again: what the old content said goes with it
        migrated.reread_photo(photo_id, 11, 2, "other")
    (photo,) = migrated.photos_by_id([photo_id]).values()
    assert (photo.taken, photo.taken_source, photo.camera, photo.metadata_fields) == (None, None, None, None)


def test_a_catalog_from_a_newer_app_is_refused_not_damaged(tmp_path):
    path = tmp_path / "catalog.sqlite"
    SqliteCatalog(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(LibraryError, match="newer photosort"):
        SqliteCatalog(path)


def test_a_catalog_that_is_not_a_database_is_a_library_error(tmp_path):
    (tmp_path / "catalog.sqlite").write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(LibraryError, match="is damaged .*photosort library check"):
        SqliteCatalog(tmp_path / "catalog.sqlite")


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    with pytest.raises(RuntimeError), catalog.transaction():
        catalog.add_folder(tmp_path)
        raise RuntimeError("crash")
    assert catalog.folders() == []


# Decoding


def test_fingerprint_follows_content_not_name(tmp_path):
    first = write_photo(tmp_path / "a.jpg", "red", "circle")
    copy = tmp_path / "b.jpg"
    copy.write_bytes(first.read_bytes())
    other = write_photo(tmp_path / "c.jpg", "red", "circle", seed=9)
    size = first.stat().st_size
    assert fingerprint(first, size) == fingerprint(copy, size) != fingerprint(other, other.stat().st_size)


def test_gif_first_frame_and_exif_orientation(tmp_path):
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    decoded = decode(tmp_path / "anim.gif", 16, 0.0)
    thumbnail = Image.open(__import__("io").BytesIO(decoded.thumbnail)).convert("RGB")
    red, _, blue = thumbnail.getpixel((5, 5))
    assert red > 200 and blue < 60  # the first frame, red

    picture = Image.new("RGB", (60, 30))
    picture.paste((255, 255, 255), (0, 0, 30, 30))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the white half ends on top
    exif.get_ifd(0x8769)[0x9003] = "2021:07:04 12:30:00"
    picture.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    decoded = decode(tmp_path / "rotated.jpg", 16, 0.0)
    assert (decoded.width, decoded.height) == (30, 60)
    shown = Image.open(__import__("io").BytesIO(decoded.thumbnail)).convert("L")
    assert shown.size[1] > shown.size[0]
    assert shown.getpixel((shown.width // 2, 5)) > 200 > 60 > shown.getpixel((shown.width // 2, shown.height - 5))
    assert time.localtime(decoded.taken)[:5] == (2021, 7, 4, 12, 30)


def test_jpeg_draft_decoding_stays_faithful(tmp_path):
    rng = np.random.default_rng(0)
    smooth = rng.standard_normal((30, 40, 3)).cumsum(0).cumsum(1)
    smooth = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    Image.fromarray(smooth).resize((4000, 3000), Image.Resampling.BICUBIC).save(tmp_path / "big.jpg", quality=90)
    from photosort.clip.preprocess import MEAN, STD, Preprocess

    exact = Preprocess(224)(Image.open(tmp_path / "big.jpg")).numpy()
    fast = decode(tmp_path / "big.jpg", 224, 0.0).pixels
    to_unit = lambda pixels: pixels * STD[:, None, None] + MEAN[:, None, None]  # noqa: E731
    psnr = 10 * np.log10(1 / np.mean((to_unit(fast) - to_unit(exact)) ** 2))
    assert psnr > 35


def test_decompression_bombs_are_refused_from_the_header(tmp_path):
    png_bomb(tmp_path / "bomb.png", side=int(MAX_PIXELS ** 0.5) + 10)  # just over the limit
    assert (tmp_path / "bomb.png").stat().st_size < 1000
    with pytest.raises(PhotoError, match="too large"):
        decode(tmp_path / "bomb.png", 16, 0.0)


# Pipeline


class CountingEncoder:
    resolution = 16
    dim = 4

    def __init__(self):
        self.batches = []

    def encode_pictures(self, pictures):
        self.batches.append(len(pictures))
        means = pictures.mean(axis=(2, 3))  # [batch, 3]
        vectors = np.concatenate([means, np.ones((len(pictures), 1), np.float32)], axis=1)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def catalogued(tmp_path, count):
    folder = tmp_path / "photos"
    for number in range(count):
        write_photo(folder / f"{number:02}.png", "red", "circle", seed=number)
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    with catalog.transaction():
        catalog.add_folder(folder)
    scan(catalog)
    return folder, catalog


def test_each_batch_commits_and_a_vanished_file_is_recorded(tmp_path):
    folder, catalog = catalogued(tmp_path, 10)
    (folder / "03.png").unlink()  # gone between the scan and the decode
    encoder, committed = CountingEncoder(), []
    vectors = SqliteVectorStore(catalog.db)
    run = run_pipeline(catalog.pending("m"), encoder, catalog, vectors, "m", tmp_path / "thumbs", batch_size=4,
                       on_batch=lambda ids, _: committed.append(len(ids)))
    assert (run.encoded, run.failed) == (9, 1)
    assert encoder.batches == [3, 4, 2] and committed == [3, 4, 2]
    assert [photo.failure for photo in catalog.failures()] == ["the file vanished before it could be read"]
    # The one that failed is tried again at the next run (a failure is often passing); the others are done.
    assert [photo.path for photo in catalog.pending("m")] == [str(folder / "03.png")]
    assert len(vectors.searchable_ids("m")) == 9
    assert len(list((tmp_path / "thumbs").rglob("*.jpg"))) == 9


def test_each_batch_hands_on_exactly_the_vectors_it_stored(tmp_path):
    """The index is built from what each batch hands on, and rebuilt from the store: the two must agree to the
    bit, or a search gives other scores after a repair than before it."""
    _, catalog = catalogued(tmp_path, 6)
    vectors, handed_on = SqliteVectorStore(catalog.db), {}
    run_pipeline(catalog.pending("m"), CountingEncoder(), catalog, vectors, "m", tmp_path / "thumbs", batch_size=4,
                 on_batch=lambda ids, batch: handed_on.update(zip(ids.tolist(), batch, strict=True)))
    ids, stored = vectors.photo_vectors("m")
    assert sorted(handed_on) == sorted(ids.tolist())
    for photo_id, vector in zip(ids.tolist(), stored, strict=True):
        assert handed_on[photo_id].dtype == vector.dtype and np.array_equal(handed_on[photo_id], vector)


def test_cancel_stops_between_batches_and_keeps_what_was_committed(tmp_path):
    _, catalog = catalogued(tmp_path, 12)
    controls = Controls()
    vectors = SqliteVectorStore(catalog.db)
    run = run_pipeline(catalog.pending("m"), CountingEncoder(), catalog, vectors, "m", tmp_path / "thumbs",
                       batch_size=4, controls=controls, on_batch=lambda *_: controls.cancel())
    assert run.cancelled and run.encoded == 4
    assert len(catalog.pending("m")) == 8  # the rest waits for the next run


class ObservedControls(Controls):
    """Controls that tell when the run has come to wait on them while paused."""

    def __init__(self):
        super().__init__()
        self.held = threading.Event()

    def wait_while_paused(self) -> None:
        if self.paused:
            self.held.set()
        super().wait_while_paused()


def test_pause_holds_the_run_until_resumed(tmp_path):
    _, catalog = catalogued(tmp_path, 8)
    controls = ObservedControls()
    vectors = SqliteVectorStore(catalog.db)
    progress = []

    def on_progress(state):
        progress.append(state.done)
        if state.done == 4:
            controls.pause()
    worker = threading.Thread(target=run_pipeline, args=(catalog.pending("m"), CountingEncoder(), catalog, vectors,
                                                         "m", tmp_path / "thumbs"),
                              kwargs=dict(batch_size=4, controls=controls, on_progress=on_progress))
    worker.start()
    assert controls.held.wait(10)
    # That the run stays held can only be seen over some time: the last batch, already decoded, would commit
    # well within it were the pause ignored.
    worker.join(0.3)
    assert worker.is_alive() and progress == [4]
    controls.resume()
    worker.join(10)
    assert progress == [4, 8]


# Watcher


def test_the_watcher_waits_for_a_file_to_stop_growing(tmp_path):
    settled = []
    watcher = Watcher([tmp_path], settled.append, quiet_s=0.3)
    watcher.start()  # returns with the folder watched: what is written from now on is seen
    try:
        with open(tmp_path / "slow.jpg", "wb") as file:
            for _ in range(6):
                file.write(os.urandom(1000))
                file.flush()
                time.sleep(0.2)  # the writer's pace, under the quiet time: still one burst
            assert settled == []
        (tmp_path / ".hidden.jpg").write_bytes(b"x")
        (tmp_path / "download.jpg.part").write_bytes(b"x")
        wait_for(lambda: settled, 10)
    finally:
        watcher.stop()
    assert len(settled) == 1 and {Path(path).name for path in settled[0]} == {"slow.jpg"}


def test_a_catalogued_photo_is_ok_until_it_fails(tmp_path):
    _, catalog = catalogued(tmp_path, 1)
    (photo,) = catalog.pending("m")
    assert photo.state == OK


def test_a_subfolder_that_cannot_be_listed_keeps_its_photos(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    write_photo(folder / "top.png", "red", "circle")
    write_photo(folder / "locked" / "inside.png", "blue", "star")
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    with catalog.transaction():
        catalog.add_folder(folder)
    scan(catalog)
    real_scandir = os.scandir

    def refuse_locked(path):  # as a folder without read permission would (the tests run as root)
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)
    monkeypatch.setattr("photosort.core.scan.os.scandir", refuse_locked)
    report = scan(catalog)
    assert report.removed == 0
    assert {Path(path).name for path in catalog.photos_in(catalog.folders()[0].id)} == {"top.png", "inside.png"}
