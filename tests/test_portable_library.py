"""Libraries that move with their folders: photos stored by their path within their folder, a library kept
inside its folder that goes where the folder goes, a folder found at a new place (by content, or by hand with
`photosort folders --move`), and each machine's own place for a folder."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from photosort.core.catalog import SqliteCatalog
from photosort.core.library import Library
from tests.library_helpers import TINY_MODEL, index_folders, kind_of, old_catalog, run, search, status, tiny_world


def tag_json(library: Path) -> dict[str, list[str]]:
    result = run(library, "tag", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def accept(library: Path, label: str, *paths: Path) -> None:
    for args in (("--label", label), ("--accept", label, *map(str, paths))):
        result = run(library, "tag", *args)
        assert result.returncode == 0, result.stderr


def test_a_library_kept_in_its_folder_moves_with_it(tmp_path):
    drive = tmp_path / "drive"
    photos = tiny_world(drive / "Photos", per_kind=1)
    library = drive / "Photos" / ".photosort"
    index_folders(library, drive / "Photos")
    first = photos[0]
    accept(library, "mine", first)
    marked = run(library, "folders", "--reference", str(drive / "Photos"))
    assert marked.returncode == 0, marked.stderr

    mounted = tmp_path / "mounted-elsewhere"
    os.rename(drive, mounted)  # the drive mounted at another place, the library with it
    library = mounted / "Photos" / ".photosort"
    new_root = (mounted / "Photos").resolve()

    # Before any rescan: every photo online, search answers with the new paths.
    found = status(library)
    assert (found["offline"], found["offline_folders"], found["folders"]) == (0, [], [str(new_root)])
    hits = search(library, "a red circle", k=3)
    assert hits and all(Path(hit["path"]).parent == new_root for hit in hits)
    assert kind_of(hits[0]["path"]) == ("red", "circle")
    assert tag_json(library)[str(new_root / first.name)] == ["mine"]
    # A reference folder in it is protected at its new place: its photos are never trashed.
    listed = json.loads(run(library, "folders", "--json").stdout)
    assert [(row["path"], row["reference"]) for row in listed] == [(str(new_root), True)]
    # And an index run reads nothing again.
    result = run(library, "index", str(new_root), "--model", str(TINY_MODEL))
    assert result.returncode == 0, result.stderr
    assert "(0 encoded now, 0 new, 0 changed, 0 moved, 0 removed)" in result.stderr


def test_a_folder_found_at_a_new_place_is_taken_as_the_one_gone(tmp_path):
    library = tmp_path / "library"
    old = tmp_path / "usb-drive" / "Pictures"
    photos = tiny_world(old, per_kind=1)
    index_folders(library, old)
    accept(library, "mine", photos[0])
    ids = {hit["path"]: hit for hit in search(library, "a blue square", k=100)}

    new = tmp_path / "usb-drive-1" / "Pictures"
    new.parent.mkdir()
    os.rename(old, new)
    (new / photos[1].name).unlink()  # what happened to the folder meanwhile: a photo deleted, one added
    tiny_world(new / "added", per_kind=1, seed=9)
    result = run(library, "index", str(new), "--model", str(TINY_MODEL))
    assert result.returncode == 0, result.stderr
    assert f"{new.resolve()} holds the photos of the library folder {old.resolve()}" in result.stderr
    # Only the photos added are encoded; the one deleted is gone; the user's tag stayed with its photo.
    assert "(32 encoded now, 32 new, 0 changed, 0 moved, 1 removed)" in result.stderr
    found = status(library)
    assert found["folders"] == [str(new.resolve())] and found["offline"] == 0
    assert tag_json(library)[str(new.resolve() / photos[0].name)] == ["mine"]
    again = {hit["path"]: hit for hit in search(library, "a blue square", k=100)}
    assert {Path(path).name: hit["score"] for path, hit in again.items() if "added" not in path} == \
        {Path(path).name: hit["score"] for path, hit in ids.items() if Path(path).name != photos[1].name}


def test_a_folder_whose_photos_differ_is_a_new_folder(tmp_path):
    library = tmp_path / "library"
    old = tmp_path / "old"
    tiny_world(old, per_kind=1)
    index_folders(library, old)
    os.rename(old, tmp_path / "gone")
    other = tmp_path / "other"
    tiny_world(other, per_kind=1, seed=11)  # the same names, other pictures: sizes and contents differ
    result = run(library, "index", str(other), "--model", str(TINY_MODEL))
    assert result.returncode == 0, result.stderr
    assert "holds the photos" not in result.stderr
    found = status(library)
    assert sorted(found["folders"]) == sorted([str(old.resolve()), str(other.resolve())])
    assert found["offline_folders"] == [str(old.resolve())]


def test_folders_move_by_hand(tmp_path):
    library = tmp_path / "library"
    old = tmp_path / "nas" / "photos"
    tiny_world(old, per_kind=1)
    index_folders(library, old)
    assert run(library, "folders", "--reference", str(old)).returncode == 0
    new = tmp_path / "mnt" / "photos"
    new.parent.mkdir()
    os.rename(old, new)
    assert status(library)["offline_folders"] == [str(old.resolve())]

    refused = run(library, "folders", "--move", str(tmp_path / "nowhere"), str(new))
    assert refused.returncode != 0 and "not a folder of this library" in refused.stderr
    result = run(library, "folders", "--move", str(old), str(new))
    assert result.returncode == 0, result.stderr
    listed = json.loads(run(library, "folders", "--json").stdout)
    rows = [(row["path"], row["online"], row["photos"], row["reference"]) for row in listed]
    # The reference mark follows it (and stays at the old place, for a machine that still finds it there).
    assert rows == [(str(new.resolve()), True, 32, True), (str(old.resolve()), False, 0, True)]
    assert all(Path(hit["path"]).parent == new.resolve() for hit in search(library, "a green star", k=3))


def test_each_machine_keeps_its_own_place_for_a_folder(tmp_path, monkeypatch):
    """One library (a drive carried between two computers, or a shared one): the NAS at /Volumes/Photos on one
    and /mnt/photos on the other is one folder, with its photos' ids, vectors and tags."""
    library = tmp_path / "library"
    here, there = tmp_path / "Volumes" / "Photos", tmp_path / "mnt" / "photos"
    photos = tiny_world(here, per_kind=1)
    monkeypatch.setenv("PHOTOSORT_MACHINE", "mac")
    index_folders(library, here)
    before = {Path(hit["path"]).name: hit["score"] for hit in search(library, "a red star", k=4)}

    there.parent.mkdir(parents=True)
    os.rename(here, there)
    monkeypatch.setenv("PHOTOSORT_MACHINE", "linux")
    result = run(library, "index", str(there), "--model", str(TINY_MODEL))
    assert result.returncode == 0, result.stderr
    assert "(0 encoded now, 0 new, 0 changed, 0 moved, 0 removed)" in result.stderr
    assert {Path(hit["path"]).name: hit["score"] for hit in search(library, "a red star", k=4)} == before
    accept(library, "seen-on-linux", there / photos[2].name)

    os.rename(there, here)  # back on the first machine, where the folder is where it always was
    monkeypatch.setenv("PHOTOSORT_MACHINE", "mac")
    assert status(library)["folders"] == [str(here.resolve())]
    assert tag_json(library)[str(here.resolve() / photos[2].name)] == ["seen-on-linux"]


def test_schema_5_stores_photos_within_their_folder(tmp_path):
    """A catalog of full paths (schema 4) is brought to paths within folders: ids, the highest id handed out and
    what the photos are stay; names that are not text keep their bytes."""
    path = tmp_path / "catalog.sqlite"
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    ids = old_catalog(path, 4, folder, {folder / "a.jpg": "fa", folder / "sub" / "b.jpg": "fb",
                                        folder / "gone.jpg": "fg"})
    raw_name = os.path.join(os.fsencode(folder), b"caf\xe9.jpg")
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM photos WHERE id = ?", (ids[folder / "gone.jpg"],))  # the highest id, deleted
        db.execute("INSERT INTO photos (path, folder_id, size, mtime_ns, fingerprint, state, raw_path) "
                   "VALUES (?, 1, 1, 1, 'fr', 'ok', ?)", (str(folder / "caf\\xe9.jpg"), raw_name))
    catalog = SqliteCatalog(path)
    stored = dict(catalog.db.execute("SELECT fingerprint, path FROM photos"))
    assert stored == {"fa": "a.jpg", "fb": "sub/b.jpg", "fr": "caf\\xe9.jpg"}
    photos = {photo.fingerprint: photo for photo in catalog.photos_in(catalog.folders()[0].id).values()}
    assert photos["fb"].path == str(folder / "sub" / "b.jpg") and photos["fb"].id == ids[folder / "sub" / "b.jpg"]
    assert photos["fr"].file == os.fsdecode(raw_name)
    with catalog.transaction():
        new = catalog.add_photo(str(folder / "c.jpg"), catalog.folders()[0].id, 1, 1, "fc")
    assert new > ids[folder / "gone.jpg"] + 1  # never the deleted one's id, nor the one after the raw name's
    catalog.close()


def test_a_library_opened_where_its_folder_is_gone_keeps_it_offline(tmp_path):
    """A reader (search) of a library whose folder is unplugged: its photos are offline, not deleted, and come
    back with the drive; search leaves them out meanwhile."""
    library = tmp_path / "library"
    drive = tmp_path / "drive"
    tiny_world(drive, per_kind=1)
    index_folders(library, drive)
    os.rename(drive, tmp_path / "unplugged")
    assert search(library, "a red circle", k=3) == []
    assert status(library)["offline"] == 32
    os.rename(tmp_path / "unplugged", drive)
    assert search(library, "a red circle", k=3)
    with Library(library, write=False) as opened:
        assert opened.status().counts.offline == 0


@pytest.mark.parametrize("answer", [True, False])
def test_the_app_offers_to_take_a_dropped_folder_as_the_one_that_moved(qtbot, tmp_path, monkeypatch, answer):
    from photosort.ui import main_window
    from photosort.ui.photo_grid import RowRole
    from tests.gui_helpers import close_app, drop_urls, open_app, wait_until_indexed

    library, old, new = tmp_path / "library", tmp_path / "card" / "DCIM", tmp_path / "card-1" / "DCIM"
    photos = tiny_world(old, per_kind=1)
    index_folders(library, old)
    new.parent.mkdir()
    os.rename(old, new)
    questions: list[str] = []
    monkeypatch.setattr(main_window, "ask", lambda parent, title, text: questions.append(text) or answer)
    session, window = open_app(qtbot, tmp_path, library)
    try:
        qtbot.waitUntil(lambda: [state.online for state in window.folders] == [False], timeout=30_000)
        drop_urls(window, [new])
        qtbot.waitUntil(lambda: new.resolve() in {state.path for state in window.folders}, timeout=30_000)
        qtbot.waitUntil(lambda: sum(row.online and row.path.startswith(str(new.resolve()))
                                    for row in window.model.rows) == len(photos), timeout=30_000)
        wait_until_indexed(qtbot, window, len(photos) * (1 if answer else 2))
        assert len(questions) == 1 and str(old.resolve()) in questions[0] and str(new.resolve()) in questions[0]
        shown = {window.model.index(row).data(RowRole).path for row in range(window.model.rowCount())}
        # Shown at the new place; when it is a folder of its own, the old one's photos too (offline).
        assert {path for path in shown if path.startswith(str(new.resolve()))} == \
            {str(new.resolve() / photo.name) for photo in photos}
        assert len(shown) == len(photos) * (1 if answer else 2)
        folders = {state.path: state.online for state in window.folders}
        assert folders == ({new.resolve(): True} if answer else {new.resolve(): True, old.resolve(): False})
        if answer:  # its photos are not read again (a folder of its own has its copies read, not encoded)
            assert session.last_pass is not None and session.last_pass.total == 0
    finally:
        close_app(session, window)


def test_a_catalog_rebuilt_from_a_damaged_one_keeps_each_machine_s_places(tmp_path):
    from photosort.core.check import _salvage

    damaged, rebuilt = tmp_path / "damaged.sqlite", tmp_path / "rebuilt.sqlite"
    (tmp_path / "Volumes" / "Photos").mkdir(parents=True)
    (tmp_path / "mnt" / "photos").mkdir(parents=True)
    catalog = SqliteCatalog(damaged, machine="linux")
    with catalog.transaction():
        folder = catalog.add_folder(tmp_path / "Volumes" / "Photos")
        catalog.move_folder(folder.id, tmp_path / "mnt" / "photos")
    catalog.close()
    fresh = SqliteCatalog(rebuilt, machine="linux")
    with fresh.transaction():
        saved, _ = _salvage(damaged, fresh.db)
    fresh.place_roots()
    assert saved["folder places"] == 1
    assert [folder.path for folder in fresh.folders()] == [tmp_path / "mnt" / "photos"]
    fresh.close()


def test_a_new_folder_at_a_moved_folder_s_old_name_is_a_folder_of_its_own(tmp_path):
    library, old, renamed = tmp_path / "library", tmp_path / "Photos", tmp_path / "Photos-2023"
    photos = tiny_world(old, per_kind=1)
    index_folders(library, old)
    accept(library, "mine", photos[0])
    os.rename(old, renamed)
    index_folders(library, renamed)  # taken as the folder that moved
    fresh = tiny_world(old, per_kind=1, seed=40)  # a new folder where the old one was
    result = run(library, "index", str(old), "--model", str(TINY_MODEL))
    assert result.returncode == 0, result.stderr
    assert "32 new" in result.stderr and "0 removed" in result.stderr
    assert sorted(status(library)["folders"]) == sorted([str(old.resolve()), str(renamed.resolve())])
    assert status(library)["photos"] == len(photos) + len(fresh)
    assert tag_json(library)[str(renamed.resolve() / photos[0].name)] == ["mine"]


def test_folders_move_refuses_what_is_not_a_move(tmp_path):
    library, old, other = tmp_path / "library", tmp_path / "A", tmp_path / "Other"
    tiny_world(old, per_kind=1)
    tiny_world(other, per_kind=1, seed=3)
    index_folders(library, old)
    still_there = run(library, "folders", "--move", str(old), str(other))
    assert still_there.returncode == 1 and "is still there" in still_there.stderr
    os.rename(old, tmp_path / "gone")
    inside = run(library, "folders", "--move", str(old), str(library / "thumbnails"))
    assert inside.returncode == 1 and "inside photosort's own library folder" in inside.stderr
    index_folders(library, other)
    overlapping = run(library, "folders", "--move", str(old), str(other))
    assert overlapping.returncode == 1 and f"folders --remove {other.resolve()}" in overlapping.stderr
    removed = run(library, "folders", "--remove", str(other))
    assert removed.returncode == 0, removed.stderr
    assert status(library)["folders"] == [str(old.resolve())]
    os.rename(tmp_path / "gone", tmp_path / "back")
    assert run(library, "folders", "--move", str(old), str(tmp_path / "back")).returncode == 0
    assert status(library)["folders"] == [str((tmp_path / "back").resolve())]
