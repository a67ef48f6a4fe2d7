"""Issue 12's numbered defects, one test each (or a few), through the command line as a user meets them.

Each was reproduced on the code before the fix; the test names say what must hold now.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from photosort.core import watcher as watcher_module
from tests.library_helpers import TINY_MODEL, wait_for, write_photo
from tests.robustness.helpers import (assert_clean, assert_succeeded, check_consistency, check_contents, damage,
                                      environment, photosort)

KINDS = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star"), ("purple", "circle"),
         ("orange", "square")]


@pytest.fixture
def album(tmp_path) -> Path:
    folder = tmp_path / "album"
    for colour, shape in KINDS:
        write_photo(folder / f"{colour}-{shape}.jpg", colour, shape, quality=92)
    return folder


def index(library: Path, *folders: Path, extra: tuple = ()) -> subprocess.CompletedProcess:
    result = photosort(library, "index", *folders, "--model", TINY_MODEL, *extra)
    assert_succeeded(result)
    return result


def first_hit(library: Path, image: Path) -> dict:
    result = photosort(library, "search", "--image", image, "-k", "1", "--all", "--json")
    assert_succeeded(result)
    return json.loads(result.stdout)[0]


def catalog_rows(library: Path, query: str, *values) -> list[tuple]:
    from photosort.core.library import Library

    with Library(library, write=False) as opened:
        return opened.catalog.db.execute(query, values).fetchall()


# 1. Stale vectors after an edit; ids reused after a delete then an add.

def test_a_photo_edited_in_place_is_found_by_its_new_content(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    # Same names, new content: each photo now shows the next kind's shape.
    for (colour, shape), (new_colour, new_shape) in zip(KINDS[:5], KINDS[1:6], strict=True):
        write_photo(album / f"{colour}-{shape}.jpg", new_colour, new_shape, seed=3, quality=80)
    result = index(library, album)
    assert "5 changed" in result.stderr and "(5 encoded now" in result.stderr
    edited = album / "red-circle.jpg"  # the oldest photo: before, its search found the old picture's vector
    hit = first_hit(library, edited)
    assert hit["path"] == str(edited.resolve()) and hit["score"] > 0.999
    check_consistency(library, album)
    check_contents(library, album)  # every stored vector is the vector of what its file holds now


def test_a_new_photo_never_takes_a_deleted_photo_s_id_or_vector(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    before = dict(catalog_rows(library, "SELECT path, id FROM photos_here"))
    newest = album / "orange-square.jpg"  # the highest id: SQLite would hand it out again
    newest.unlink()
    index(library, album)
    newcomer = write_photo(album / "white-star.jpg", "white", "star")
    index(library, album)
    after = dict(catalog_rows(library, "SELECT path, id FROM photos_here"))
    assert after[str(newcomer.resolve())] > max(before.values())
    assert first_hit(library, newcomer)["path"] == str(newcomer.resolve())
    check_consistency(library, album)


def test_two_photos_that_swap_names_keep_their_ids_and_the_user_s_tags(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    assert_succeeded(photosort(library, "tag", "--accept", "mine", album / "red-circle.jpg"))
    before = dict(catalog_rows(library, "SELECT fingerprint, id FROM photos_here"))
    red, blue = album / "red-circle.jpg", album / "blue-square.jpg"
    red.rename(album / "swap")
    blue.rename(red)
    (album / "swap").rename(blue)
    result = index(library, album)
    assert "2 moved" in result.stderr and "0 changed" in result.stderr
    assert dict(catalog_rows(library, "SELECT fingerprint, id FROM photos_here")) == before
    tags = json.loads(photosort(library, "tag", "--json").stdout)
    assert tags[str(blue.resolve())] == ["mine"]  # the red circle's content, now under the other name
    assert "mine" not in tags[str(red.resolve())]
    check_consistency(library, album)


# 2. A new modification time alone must not wipe what the library knew.

def test_touching_photos_keeps_their_ids_tags_metadata_and_vectors(tmp_path, album):
    library = tmp_path / "library"
    shutil.copy(album / "red-circle.jpg", album / "red-circle-copy.jpg")
    index(library, album)
    assert_succeeded(photosort(library, "tag", "--accept", "favourite", album / "red-circle.jpg"))
    before = catalog_rows(library, "SELECT id, path, width, height, taken, fingerprint FROM photos_here ORDER BY path")
    dupes_before = photosort(library, "dupes", "--json")
    for path in album.iterdir():
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))  # a restore from backup
    result = index(library, album)
    assert "0 changed" in result.stderr and "(0 encoded now" in result.stderr
    after = catalog_rows(library, "SELECT id, path, width, height, taken, fingerprint FROM photos_here ORDER BY path")
    assert after == before and all(row[2] is not None for row in after)
    tags = json.loads(photosort(library, "tag", "--json").stdout)
    assert tags[str((album / "red-circle.jpg").resolve())] == ["favourite"]
    assert json.loads(photosort(library, "dupes", "--json").stdout) == json.loads(dupes_before.stdout)
    assert json.loads(dupes_before.stdout)["clusters"]  # the copy: an exact cluster
    dated = photosort(library, "search", "a red circle after:2000-01-01", "--all", "--json")
    assert_succeeded(dated)
    assert len(json.loads(dated.stdout)) == 7


# 3. Reference folders, enforced by the engine whoever asks.

def test_reference_folders_are_listed_marked_and_never_trashed(tmp_path, album):
    library = tmp_path / "library"
    originals = album / "originals"
    originals.mkdir()
    shutil.copy(album / "red-circle.jpg", originals / "red-circle.jpg")
    index(library, album)
    marked = photosort(library, "folders", "--reference", originals, "--json")
    assert_succeeded(marked)
    rows = {row["path"]: row for row in json.loads(marked.stdout)}
    assert rows[str(originals.resolve())]["reference"] and rows[str(originals.resolve())]["photos"] == 1
    assert rows[str(album.resolve())] == {"path": str(album.resolve()), "photos": 7, "online": True,
                                          "reference": False, "library_folder": True}
    # Whoever asks, the engine refuses to move a photo under a reference folder.
    from photosort.core.library import Library

    with Library(library) as opened:
        (photo_id,) = [row[0] for row in opened.catalog.db.execute(
            "SELECT id FROM photos_here WHERE path = ?", (str((originals / "red-circle.jpg").resolve()),))]
        moved, failed = opened.trash_photos([photo_id])
    assert moved == [] and "reference folder" in failed[0][1]
    assert (originals / "red-circle.jpg").exists()
    trashed = photosort(library, "dupes", "--trash")
    assert_succeeded(trashed)
    assert (originals / "red-circle.jpg").exists() and not (album / "red-circle.jpg").exists()
    unmarked = photosort(library, "folders", "--no-reference", originals, "--json")
    assert not {row["path"]: row for row in json.loads(unmarked.stdout)}.get(str(originals.resolve()), {}) \
        .get("reference")


def test_dupes_reference_is_remembered(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    assert_succeeded(photosort(library, "dupes", "--reference", album / ".."))  # a folder around the album
    listed = json.loads(photosort(library, "folders", "--json").stdout)
    assert any(row["reference"] and row["path"] == str(album.parent.resolve()) for row in listed)


# 4. A damaged index file: detected before native code reads it, rebuilt, said in one line.

def test_damaged_index_bytes_are_detected_and_rebuilt(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    expected = json.loads(photosort(library, "search", "a yellow star", "--all", "--json").stdout)
    (graph,) = library.glob("index/*/hnsw-*.bin")
    damage(graph, "random-middle")
    result = photosort(library, "search", "a yellow star", "--all", "--json")
    assert_succeeded(result)
    assert json.loads(result.stdout) == expected
    assert "damaged and has been rebuilt" in result.stderr
    check_consistency(library, album)


# 5. Copies of content already indexed are read for their own size, date and signature.

def test_a_copy_of_indexed_content_is_read_and_found_by_dupes(tmp_path, album):
    library = tmp_path / "library"
    (album / "notes.jpg").write_text("not a picture")  # unreadable: reported, never "not indexed yet"
    index(library, album)
    copy = album / "later" / "red-circle-again.jpg"
    copy.parent.mkdir()
    shutil.copy(album / "red-circle.jpg", copy)
    result = index(library, album)
    assert "(0 encoded now" in result.stderr
    ((width, height),) = catalog_rows(library, "SELECT width, height FROM photos_here WHERE path = ?",
                                      str(copy.resolve()))
    assert width and height
    dupes = photosort(library, "dupes", "--json")
    clusters = json.loads(dupes.stdout)["clusters"]
    assert any(str(copy.resolve()) in cluster["members"] for cluster in clusters)
    assert "not indexed yet" not in dupes.stderr
    assert json.loads(photosort(library, "status", "--json").stdout)["indexed"] == 7


# 6. The watcher: a failure is said, retried with back-off, and the watch goes on once the cause is gone.

def test_the_watcher_reports_failures_retries_with_back_off_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(watcher_module, "FIRST_RETRY_S", 0.05)
    (tmp_path / "photos").mkdir()
    failures: list[float] = []
    delivered = threading.Event()
    attempts = []

    def act(paths: set[str]) -> None:
        attempts.append(paths)
        if len(attempts) <= 3:
            raise OSError(28, "No space left on device")
        delivered.set()

    watcher = watcher_module.Watcher([tmp_path / "photos"], act, quiet_s=0.05,
                                     on_error=lambda error, pause: failures.append(pause))
    watcher.trigger({"first pass"})
    watcher.start()
    try:
        assert delivered.wait(30)
    finally:
        watcher.stop()
    assert failures == [0.05, 0.1, 0.2]  # each pause doubles
    assert all(paths == {"first pass"} for paths in attempts)  # what failed is what is tried again


def test_the_watcher_ignores_the_library_inside_a_watched_folder(tmp_path):
    photos = tmp_path / "photos"
    library = photos / "library"
    (library / "thumbnails").mkdir(parents=True)
    seen: list[set[str]] = []
    arrived = threading.Event()

    def act(paths: set[str]) -> None:
        seen.append(paths)
        arrived.set()

    watcher = watcher_module.Watcher([photos], act, quiet_s=0.05, exclude=[library])
    watcher.start()
    try:
        write_photo(library / "thumbnails" / "ab.jpg", "red", "circle")
        write_photo(photos / "new.jpg", "blue", "square")
        assert arrived.wait(30)
    finally:
        watcher.stop()
    assert seen == [{str(photos / "new.jpg")}]


# 7. Temporary failures are retried at every run.

def test_a_file_that_failed_for_a_moment_is_read_at_the_next_run(tmp_path, album, monkeypatch):
    from photosort.clip import Encoder
    from photosort.core import pipeline
    from photosort.core.errors import PhotoError
    from photosort.core.library import Library

    real_decode = pipeline.decode

    def denied(path, *args):
        if Path(path).name == "red-circle.jpg":
            raise PhotoError("permission denied")
        return real_decode(path, *args)

    encoder = Encoder.load(TINY_MODEL, "cpu")
    with Library(tmp_path / "library") as library:
        library.set_model(str(TINY_MODEL))
        library.add_folders([album])
        library.scan()
        monkeypatch.setattr(pipeline, "decode", denied)
        assert library.encode_pending(encoder).failed == 1
        assert library.status().counts.failed == 1
        monkeypatch.setattr(pipeline, "decode", real_decode)
        library.scan()  # nothing about the file changed: same size, same date
        assert [Path(photo.path).name for photo in library.pending()] == ["red-circle.jpg"]
        assert library.encode_pending(encoder).encoded == 1
        assert library.status().counts.failed == 0 and library.status().counts.indexed == 6


# 8. Every command ends in one line; one writer at a time.

def test_a_second_writer_waits_or_with_no_wait_stops_in_one_line(tmp_path, album):
    from photosort.core.writer_lock import WriterLock

    library = tmp_path / "library"
    index(library, album)
    held = WriterLock(library)
    held.acquire()
    try:
        refused = photosort(library, "--no-wait", "index", album)
        assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == \
            f"photosort: a photosort command (process {os.getpid()}) is using this library; try again when it has " \
            "finished or is closed (or leave out --no-wait)"
        reader = photosort(library, "search", "a red circle", "--json")  # readers never wait
        assert_succeeded(reader)
        waiting = subprocess.Popen([sys.executable, "-m", "photosort", "--library", str(library), "index",
                                    str(album)], stderr=subprocess.PIPE, text=True, env=environment())
        assert waiting.stderr.readline().strip() == \
            f"photosort: a photosort command (process {os.getpid()}) is using this library; waiting until it has " \
            "finished or is closed…"
    finally:
        held.release()
    assert waiting.wait(120) == 0
    waiting.stderr.close()


def test_two_index_runs_at_once_both_finish_and_the_library_is_whole(tmp_path, album):
    library = tmp_path / "library"
    runs = [subprocess.Popen([sys.executable, "-m", "photosort", "--library", str(library), "index", str(album),
                              "--model", str(TINY_MODEL)], stderr=subprocess.PIPE, text=True, env=environment())
            for _ in range(2)]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    assert not any("Traceback" in error for error in errors)
    check_consistency(library, album)


def test_a_damaged_catalog_page_ends_every_command_in_one_line(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    damage(library / "catalog.sqlite", "random-middle")
    for args in (("status",), ("search", "a red circle"), ("index", album), ("tag", "--json"), ("dupes",)):
        assert_clean(photosort(library, *args))
    assert_succeeded(photosort(library, "library", "check"))
    index(library, album)
    check_consistency(library, album)


# 9. The library's own folder is never scanned.

def test_a_library_inside_an_indexed_folder_never_indexes_itself(tmp_path, album):
    library = album / "photosort-library"
    for _ in range(3):
        index(library, album)
    assert json.loads(photosort(library, "status", "--json").stdout)["photos"] == 6
    refused = photosort(library, "index", library / "thumbnails")
    assert refused.returncode == 1 and "own library folder" in refused.stderr


# 11. Nothing is skipped without a word.

def test_unlistable_folders_long_paths_and_avif_are_indexed_or_reported(tmp_path, album, monkeypatch):
    from photosort.core import scan as scan_module
    from photosort.core.library import Library

    write_photo(album / "phone" / "white-star.avif", "white", "star")
    # A folder nested beyond the system's path limit (4096 bytes on Linux), made step by step.
    deep = os.open(album, os.O_RDONLY)
    for _ in range(25):
        os.mkdir("d" * 200, dir_fd=deep)
        inner = os.open("d" * 200, os.O_RDONLY, dir_fd=deep)
        os.close(deep)
        deep = inner
    os.close(deep)
    private = album / "private"
    private.mkdir()
    write_photo(private / "white-circle.jpg", "white", "circle")
    real_scandir = os.scandir

    def scandir(path):  # as root, permissions do not stop listing: refuse it the way the OS would
        if str(path) == str(private.resolve()):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(scan_module.os, "scandir", scandir)
    with Library(tmp_path / "library") as library:
        library.set_model(str(TINY_MODEL))
        library.add_folders([album])
        report = library.scan()
        status = library.status(with_failures=True)
    reasons = dict(status.failures)
    assert "Permission denied" in reasons[str(private.resolve())]
    assert any("File name too long" in reason for path, reason in reasons.items() if "ddddd" in path)
    assert report.added == 7  # the six JPEGs and the AVIF
    assert status.counts.failed == len(reasons) == 2


def test_avif_photos_are_indexed(tmp_path, album):
    write_photo(album / "white-star.avif", "white", "star")
    library = tmp_path / "library"
    index(library, album)
    assert json.loads(photosort(library, "status", "--json").stdout)["indexed"] == 7
    assert first_hit(library, album / "white-star.avif")["path"].endswith("white-star.avif")


# 12. Names that are not valid UTF-8 are indexed, stored losslessly, shown escaped.

def test_names_that_are_not_utf8_are_indexed_and_can_be_trashed(tmp_path, album):
    library = tmp_path / "library"
    raw = os.path.join(os.fsencode(album), b"caf\xe9-\xff.jpg")
    write_photo(Path(os.fsdecode(raw)), "white", "circle")
    shutil.copy(os.fsdecode(raw), album / "copy-of-cafe.jpg")
    index(library, album)
    status = json.loads(photosort(library, "status", "--json", "--failed").stdout)
    assert status["indexed"] == 8 and status["failed"] == 0
    shown = str(album.resolve() / "caf\\xe9-\\xff.jpg")
    result = photosort(library, "search", "a white circle", "-k", "2", "--all", "--json")
    assert shown in {hit["path"] for hit in json.loads(result.stdout)}
    ((stored,),) = catalog_rows(library, "SELECT p.raw_path FROM photos p JOIN photos_here h ON h.id = p.id "
                                "WHERE h.path = ?", shown)
    assert stored == b"caf\xe9-\xff.jpg"  # within its folder, as the path is
    # The keeper rule keeps one of the exact pair; trashing the other moves the real file, whichever it is.
    assert_succeeded(photosort(library, "dupes", "--trash"))
    assert os.path.exists(raw) != (album / "copy-of-cafe.jpg").exists()


# 13. Smaller ones.

def test_status_on_a_folder_that_is_no_library_creates_nothing(tmp_path):
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    result = photosort(elsewhere, "status")
    assert result.returncode == 1 and "there is no photosort library" in result.stderr
    assert list(elsewhere.iterdir()) == []


def waiting_to_create(catalog: Path, go: Path, marks: list[Path]) -> list[subprocess.Popen]:
    """A process per mark that creates `catalog` once `go` exists, returned when every one has imported and
    waits (each leaves its mark then), or one has ended early: the start signal is what makes them collide."""
    code = ("import os, sys, time; from pathlib import Path; from photosort.core.catalog import SqliteCatalog\n"
            "Path(sys.argv[3]).touch()\n"
            "while not os.path.exists(sys.argv[2]): time.sleep(0.001)\n"
            "SqliteCatalog(Path(sys.argv[1])).close()")
    runs = [subprocess.Popen([sys.executable, "-c", code, str(catalog), str(go), str(mark)], stderr=subprocess.PIPE,
                             text=True, env=environment()) for mark in marks]
    assert wait_for(lambda: all(mark.exists() for mark in marks) or any(run.poll() is not None for run in runs), 120)
    return runs


def test_a_new_library_created_by_processes_at_once(tmp_path):
    """Processes that all start making the same new catalog at one moment (they wait for a start signal)."""
    go = tmp_path / "go"
    for attempt in range(3):
        catalog = tmp_path / f"library-{attempt}" / "catalog.sqlite"
        runs = waiting_to_create(catalog, go, [tmp_path / f"ready-{attempt}-{number}" for number in range(6)])
        go.touch()
        assert [(run.wait(60), run.stderr.read()) for run in runs] == [(0, "")] * 6
        go.unlink()


def test_a_read_only_library_can_be_read(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    mounted = tmp_path / "read-only"
    mounted.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(library), str(mounted)], capture_output=True).returncode:
        pytest.skip("a read-only mount needs root and mount rights")
    try:
        if os.access(mounted, os.W_OK) and subprocess.run(["touch", str(mounted / "probe")]).returncode == 0:
            pytest.skip("the bind mount is not read-only here")
        status = photosort(mounted, "status", "--json")
        assert_succeeded(status)
        assert json.loads(status.stdout)["indexed"] == 6
        hits = photosort(mounted, "search", "a red circle", "-k", "1", "--all", "--json")
        assert_succeeded(hits)
        assert json.loads(hits.stdout)[0]["path"].endswith("red-circle.jpg")
        assert_clean(photosort(mounted, "index", album))  # writing is refused in one line
    finally:
        subprocess.run(["umount", str(mounted)])


def test_a_removed_wal_file_is_detected_and_check_restores_the_user_s_work(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    assert_succeeded(photosort(library, "tag", "--accept", "favourite", album / "red-circle.jpg"))
    # A crash leaves the latest commits in the -wal file: keep a copy of the library as the crash left it.
    crashed = tmp_path / "crashed"
    from photosort.core.library import Library

    with Library(library) as opened:
        opened.catalog.db.execute("PRAGMA wal_autocheckpoint=0")
        opened.set_labels({"kept": ["kept"]})
        shutil.copytree(library, crashed)
    (crashed / "catalog.sqlite-wal").unlink()
    status = photosort(crashed, "status")
    assert status.returncode == 1 and "lost" in status.stderr and "library check" in status.stderr
    check = photosort(crashed, "library", "check")
    assert_succeeded(check)
    assert "restored" in check.stdout
    index(crashed, album)
    labels = json.loads(photosort(crashed, "tag", "--json").stdout)
    assert labels[str((album / "red-circle.jpg").resolve())] == ["favourite"]


# The user's work, backed up and restored.

def test_the_user_s_work_is_backed_up_and_restored_when_the_catalog_is_lost(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    assert_succeeded(photosort(library, "tag", "--label", "warm=red things|orange things"))
    assert_succeeded(photosort(library, "tag", "--accept", "warm", album / "red-circle.jpg",
                               album / "orange-square.jpg"))
    assert_succeeded(photosort(library, "tag", "--reject", "warm", album / "yellow-star.jpg"))
    assert_succeeded(photosort(library, "folders", "--reference", album))
    backup = json.loads((library / "user-work.json").read_text())
    assert [label["name"] for label in backup["labels"]] == ["warm"]
    assert backup["labels"][0]["prompts"] == ["red things", "orange things"]
    assert len(backup["user_tags"]) == 2 and backup["reference_folders"] == [str(album.resolve())]
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        (library / name).unlink(missing_ok=True)
    rebuilt = index(library, album)
    assert "restored" in rebuilt.stderr
    tags = json.loads(photosort(library, "tag", "--json").stdout)
    assert "warm" in tags[str((album / "red-circle.jpg").resolve())]
    assert "warm" not in tags[str((album / "yellow-star.jpg").resolve())]
    listed = json.loads(photosort(library, "folders", "--json").stdout)
    assert [row["reference"] for row in listed] == [True]
    check_consistency(library, album)


def test_a_rebuilt_catalog_never_hands_out_an_old_photo_id(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    used = max(photo_id for (photo_id,) in catalog_rows(library, "SELECT id FROM photos_here"))
    damage(library / "catalog.sqlite", "random-start")
    assert_succeeded(photosort(library, "library", "check"))
    index(library, album)
    assert min(photo_id for (photo_id,) in catalog_rows(library, "SELECT id FROM photos_here")) > used
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
        (library / name).unlink(missing_ok=True)
    used = used + len(KINDS)
    index(library, album)
    assert min(photo_id for (photo_id,) in catalog_rows(library, "SELECT id FROM photos_here")) > used


def test_labels_on_a_library_with_no_photo_to_tag(tmp_path, album):
    library = tmp_path / "library"
    empty = tmp_path / "empty"
    empty.mkdir()
    index(library, empty)
    result = photosort(library, "tag", "--label", "warm=red things")
    assert_succeeded(result)
    assert result.stdout.strip() == "warm: 0 photos"
    index(library, album)
    album.rename(tmp_path / "unplugged")  # its photos are kept, offline, with no vector to tag
    assert_succeeded(photosort(library, "dupes"))
    assert_succeeded(photosort(library, "tag", "--label", "cold=blue things"))
    assert_succeeded(photosort(library, "tag", "--json"))


def test_library_check_reports_each_step_on_a_healthy_library(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    result = photosort(library, "library", "check")
    assert_succeeded(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "catalog: integrity check passed"
    assert lines[1].startswith("index: 6 entries match the stored vectors")
    assert lines[2] == "thumbnails: 6 whole" and lines[3].startswith("your work: saved")
