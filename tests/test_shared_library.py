"""The library through the command line on both backends (a folder with SQLite, and PostgreSQL with pgvector),
and what only a shared library does: several machines at once, each with its own place for a folder, an
offline server, and a password never written down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.library_helpers import TINY_MODEL, kind_of, run, search, status, tiny_world


@pytest.fixture(params=["sqlite", "postgres"])
def library(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "library")
    return request.getfixturevalue("postgres_uri")


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


def test_index_search_tag_and_dupes_on_both_backends(library, tmp_path):
    photos = tiny_world(tmp_path / "photos", per_kind=1)
    result = ok(run(library, "index", str(tmp_path / "photos"), "--model", str(TINY_MODEL)))
    assert "32 of 32 photos indexed (32 encoded now" in result.stderr
    hits = search(library, "a red circle", k=3)
    assert kind_of(hits[0]["path"]) == ("red", "circle") and hits[0]["relevant"]
    assert search(library, "a red circle folder:photos", k=1)[0]["path"] == hits[0]["path"]
    ok(run(library, "tag", "--label", "red=a red shape"))
    ok(run(library, "tag", "--accept", "red", str(tmp_path / "photos" / "red-star-0.jpg")))
    tagged = json.loads(ok(run(library, "tag", "--json")).stdout)
    assert "red" in tagged[str(tmp_path / "photos" / "red-star-0.jpg")]
    assert search(library, "a shape tag:red", 40)  # a tag filter answers
    # Again: nothing new, nothing encoded; an edit in place is a new photo.
    (tmp_path / "photos" / "blue-star-0.jpg").write_bytes(photos[0].read_bytes())
    again = ok(run(library, "index", str(tmp_path / "photos"), "--model", str(TINY_MODEL)))
    assert "(0 encoded now, 0 new, 1 changed, 0 moved, 0 removed)" in again.stderr
    exact = json.loads(ok(run(library, "dupes", "--json", "--kind", "exact")).stdout)["clusters"]
    assert [sorted(Path(path).name for path in cluster["members"]) for cluster in exact] == \
        [sorted([photos[0].name, "blue-star-0.jpg"])]
    assert status(library)["indexed"] == 32


def machine(tmp_path: Path, name: str) -> dict[str, str]:
    """The environment of a process on another machine: its own data folder (cache, machine id)."""
    return dict(os.environ, PHOTOSORT_DATA_DIR=str(tmp_path / f"data-{name}"), PHOTOSORT_MACHINE=name,
                PYTHONUNBUFFERED="1")


def on(env: dict[str, str], library: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "photosort", "--library", library, *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_two_machines_index_their_folders_at_once(postgres_uri, tmp_path):
    first, second = tiny_world(tmp_path / "first", per_kind=2), tiny_world(tmp_path / "second", per_kind=2, seed=8)
    runs = [subprocess.Popen([sys.executable, "-m", "photosort", "--library", postgres_uri, "index", str(folder),
                              "--model", str(TINY_MODEL), "--batch-size", "4"], env=machine(tmp_path, name),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, folder in (("a", tmp_path / "first"), ("b", tmp_path / "second"))]
    encoded = 0
    for process in runs:
        _, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors
        encoded += int(errors.split(" photos indexed (")[1].split(" encoded now")[0])
    assert encoded == len(first) + len(second)  # each photo encoded once, by one machine
    # Either machine sees every photo of both, searchable.
    for name in ("a", "b"):
        counts = json.loads(ok(on(machine(tmp_path, name), postgres_uri, "status", "--json")).stdout)
        assert (counts["photos"], counts["indexed"], counts["failed"]) == (len(first) + len(second),) * 2 + (0,)
        hits = json.loads(ok(on(machine(tmp_path, name), postgres_uri, "search", "a green star", "-k", "4",
                                "--json", "--all")).stdout)
        assert {Path(hit["path"]).parent.name for hit in hits} == {"first", "second"}


def test_one_machine_s_labels_and_tags_are_the_other_s_next_answer(postgres_uri, tmp_path):
    tiny_world(tmp_path / "photos", per_kind=1)
    a, b = machine(tmp_path, "a"), machine(tmp_path, "b")
    ok(on(a, postgres_uri, "index", str(tmp_path / "photos"), "--model", str(TINY_MODEL)))
    assert json.loads(ok(on(b, postgres_uri, "tag", "--json")).stdout)  # b has read the library once
    ok(on(a, postgres_uri, "tag", "--label", "sunny=a yellow shape"))
    ok(on(a, postgres_uri, "tag", "--accept", "sunny", str(tmp_path / "photos" / "purple-circle-0.jpg")))
    seen = json.loads(ok(on(b, postgres_uri, "tag", "--json")).stdout)
    assert "sunny" in seen[str(tmp_path / "photos" / "purple-circle-0.jpg")]
    hits = json.loads(ok(on(b, postgres_uri, "search", "tag:sunny", "-k", "50", "--json")).stdout)
    assert str(tmp_path / "photos" / "purple-circle-0.jpg") in {hit["path"] for hit in hits}


def test_the_nas_at_two_places_is_one_folder(postgres_uri, tmp_path):
    """/Volumes/Photos on one machine and /mnt/photos on the other: one folder, indexed once, each machine
    finding its photos at its own place. (One disk here: the folder is renamed between the machines' turns.)"""
    mac_place, linux_place = tmp_path / "Volumes" / "Photos", tmp_path / "mnt" / "photos"
    photos = tiny_world(mac_place, per_kind=1)
    linux_place.parent.mkdir(parents=True)
    mac, linux = machine(tmp_path, "mac"), machine(tmp_path, "linux")
    ok(on(mac, postgres_uri, "index", str(mac_place), "--model", str(TINY_MODEL)))
    ok(on(mac, postgres_uri, "tag", "--label", "kept"))
    ok(on(mac, postgres_uri, "tag", "--accept", "kept", str(photos[0])))

    os.rename(mac_place, linux_place)  # the Linux machine's turn
    added = ok(on(linux, postgres_uri, "index", str(linux_place), "--model", str(TINY_MODEL)))
    assert f"{linux_place} holds the photos of the library folder {mac_place}" in added.stderr
    assert "(0 encoded now, 0 new, 0 changed, 0 moved, 0 removed)" in added.stderr
    linux_tags = json.loads(ok(on(linux, postgres_uri, "tag", "--json")).stdout)
    assert linux_tags[str(linux_place / photos[0].name)] == ["kept"]

    os.rename(linux_place, mac_place)  # the Mac's turn: its place for the folder is as it was
    mac_view = json.loads(ok(on(mac, postgres_uri, "status", "--json")).stdout)
    assert (mac_view["folders"], mac_view["photos"], mac_view["offline"]) == ([str(mac_place)], len(photos), 0)
    hits = json.loads(ok(on(mac, postgres_uri, "search", "a red circle", "-k", "1", "--json")).stdout)
    assert Path(hits[0]["path"]).parent == mac_place


def test_an_offline_server_is_one_line_and_a_password_is_never_written(postgres_uri, tmp_path):
    with_password = postgres_uri.replace("postgres:@", "postgres:hunter2@")  # the test server trusts its socket
    tiny_world(tmp_path / "photos", per_kind=1)
    env = machine(tmp_path, "a")
    ok(on(env, with_password, "index", str(tmp_path / "photos"), "--model", str(TINY_MODEL)))
    ok(on(env, with_password, "search", "a red circle", "--json"))
    written = [path for path in Path(env["PHOTOSORT_DATA_DIR"]).rglob("*") if path.is_file()
               and b"hunter2" in path.read_bytes()]
    assert written == []
    # What this machine keeps of the shared library (thumbnails) is in its own cache folder.
    (cache,) = (Path(env["PHOTOSORT_DATA_DIR"]) / "cache" / "shared-libraries").iterdir()
    assert len(list((cache / "thumbnails").rglob("*.jpg"))) == 32

    host = postgres_uri.split("host=")[1]
    gone = with_password.replace(f"host={host}", f"host={tmp_path / 'no-server'}")
    for command in (("status",), ("search", "a red circle"), ("index", str(tmp_path / "photos"))):
        result = on(env, gone, *command)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "cannot reach the library's database" in result.stderr
        assert "hunter2" not in result.stderr and "postgres:***@" in result.stderr
    # Nothing is left on this machine for a library whose server was never reached.
    caches = list((Path(env["PHOTOSORT_DATA_DIR"]) / "cache" / "shared-libraries").iterdir())
    assert len(caches) == 1


def test_search_in_postgresql_walks_pgvector_s_hnsw_index(postgres_uri, tmp_path):
    import numpy as np

    from photosort.core.postgres import PgSearchIndex, PgVectorStore, PostgresCatalog

    rng = np.random.default_rng(3)
    catalog = PostgresCatalog(postgres_uri, machine="m")
    vectors = PgVectorStore(catalog.db)
    (tmp_path / "photos").mkdir()
    stored = rng.normal(size=(200, 16)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    with catalog.transaction():
        folder = catalog.add_folder(tmp_path / "photos")
        ids = [catalog.add_photo(str(tmp_path / "photos" / f"{n}.jpg"), folder.id, 1, 1, f"f{n}") for n in range(200)]
        for photo_id in ids:
            catalog.set_decoded(photo_id, 8, 8, 0.0)
        vectors.put("m", [(f"f{n}", stored[n]) for n in range(200)])
    index = PgSearchIndex(catalog.db, "m", 16, vectors.searchable_ids("m"))
    query = stored[7] + 0.1 * stored[8]
    query /= np.linalg.norm(query)
    exact = [ids[row] for row in np.argsort(-(stored @ query))[:5]]
    assert [hit.id for hit in index.search(query, 5)] == exact
    allowed = np.array(ids[100:])
    assert {hit.id for hit in index.search(query, 5, allowed)} <= set(ids[100:])
    # The query is one the model's HNSW index answers (made with its first vectors): the planner may take it.
    # (It prefers a sort at 200 photos; the benchmark shows it walking the index at 100,000.)
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        catalog.db.execute(f"SET {setting} = off")
    plan = "\n".join(row[0] for row in catalog.db.execute("EXPLAIN " + index.query(query, 5)[0],
                                                            index.query(query, 5)[1]).fetchall())
    assert "vectors_hnsw_" in plan, plan
    catalog.close()


def test_the_desktop_app_opens_a_shared_library(qtbot, postgres_uri, tmp_path):
    from tests.gui_helpers import close_app, drop_urls, library_with_tiny_model, open_app, wait_until_indexed

    photos = tiny_world(tmp_path / "photos", per_kind=1)
    session, window = open_app(qtbot, tmp_path, library_with_tiny_model(postgres_uri))
    try:
        drop_urls(window, [tmp_path / "photos"])
        wait_until_indexed(qtbot, window, len(photos))
        with qtbot.waitSignal(session.searchDone, timeout=30_000):
            window.search_bar.search_for("red circle")
        assert kind_of(window.model.rows[0].path) == ("red", "circle")
    finally:
        close_app(session, window)
    assert status(postgres_uri)["indexed"] == len(photos)  # in the database, for every machine


def test_the_app_s_settings_name_a_shared_library_without_its_password(qtbot, postgres_uri, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    from photosort.app.settings import AppSettings
    from photosort.ui import dialogs, main_window
    from tests.gui_helpers import close_app, library_with_tiny_model, open_app

    told: list[str] = []
    monkeypatch.setattr(main_window, "ask", lambda parent, title, text, **_: told.append(text) or True)
    with_password = postgres_uri.replace("postgres:@", "postgres:hunter2@")
    session, window = open_app(qtbot, tmp_path, library_with_tiny_model(tmp_path / "library"))
    try:
        def type_it() -> None:
            dialog = next(widget for widget in QApplication.topLevelWidgets()
                          if isinstance(widget, dialogs.SettingsDialog) and widget.isVisible())
            dialog.library_edit.clear()
            QTest.keyClicks(dialog.library_edit, with_password)
            qtbot.mouseClick(dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
                             Qt.MouseButton.LeftButton)

        QTimer.singleShot(0, type_it)
        window.open_settings()
    finally:
        close_app(session, window)
    settings = AppSettings(tmp_path / "settings.ini")
    assert settings.library_name == postgres_uri.replace("postgres:@", "postgres@")
    assert "hunter2" not in (tmp_path / "settings.ini").read_text()
    assert told and "~/.pgpass" in told[0]
    # The next start opens it (the test server needs no password).
    session, window = open_app(qtbot, tmp_path, settings.library_location())
    try:
        assert session.library is not None and session.library.database == settings.library_name
    finally:
        close_app(session, window)


def test_duplicate_candidates_come_from_the_server_as_from_memory(postgres_uri):
    """A library in PostgreSQL has its server propose look-alike candidates (pgvector's HNSW index over the
    perceptual signatures): the same pairs, scores and ranks as the finder's own search in memory."""
    import numpy as np

    from photosort.core.dupes import NEAR_CANDIDATE, NEIGHBOURS, nearest_pairs
    from photosort.core.likeness import SIGNATURE_DTYPE, Face
    from photosort.core.postgres import PgVectorStore, PostgresCatalog

    rng = np.random.default_rng(5)
    looks = rng.normal(size=(60, 63))
    looks[30:] = looks[:30] + rng.normal(0, 0.3, (30, 63))  # each of the first thirty has a look-alike
    looks = (looks / np.linalg.norm(looks, axis=1, keepdims=True)).astype(SIGNATURE_DTYPE)
    prints = [f"f{number:02}" for number in range(60)]
    face = Face(np.zeros(128, np.float16), np.zeros((64, 64), np.uint8), np.zeros((2, 32, 32), np.uint8))
    catalog = PostgresCatalog(postgres_uri, machine="m")
    store = PgVectorStore(catalog.db)
    with catalog.transaction():
        store.put_signatures([(print_, look, face) for print_, look in zip(prints, looks, strict=True)]
                             + [("elsewhere", looks[0], face)])  # a content no photo of the search has
    stored = store.signatures()
    assert np.array_equal(np.stack([stored[print_] for print_ in prints]), looks)
    matrix = looks.astype(np.float32)
    from_server = store.nearest_looks(matrix, prints, NEIGHBOURS, NEAR_CANDIDATE)
    in_memory = nearest_pairs(matrix, NEIGHBOURS, NEAR_CANDIDATE)
    assert from_server.keys() == in_memory.keys() and len(in_memory) >= 30
    assert all(abs(from_server[pair][0] - in_memory[pair][0]) < 2e-3 and from_server[pair][1] == in_memory[pair][1]
               for pair in in_memory)
    catalog.close()


def test_a_shared_library_made_by_a_newer_photosort_is_refused(postgres_uri, tmp_path):
    import psycopg

    from photosort.core import postgres

    postgres.PostgresCatalog(postgres_uri).close()  # made, at this photosort's schema
    with psycopg.connect(postgres_uri, autocommit=True) as database:
        database.execute("UPDATE photosort_schema SET version = version + 1")
    result = run(postgres_uri, "status")
    assert result.returncode == 1
    assert f"made by a newer photosort (schema {len(postgres.MIGRATIONS) + 1}" in result.stderr


def test_what_the_server_refuses_mid_command_is_one_line(postgres_uri, tmp_path):
    """A role that may read but not write (a family member's account): searching works, changing says why in
    one line."""
    import psycopg

    tiny_world(tmp_path / "photos", per_kind=1)
    ok(run(postgres_uri, "index", str(tmp_path / "photos"), "--model", str(TINY_MODEL)))
    with psycopg.connect(postgres_uri, autocommit=True) as database:
        database.execute("CREATE ROLE reader LOGIN")
        database.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    reader = postgres_uri.replace("postgres:@", "reader@")
    assert search(reader, "a red circle", 3)
    refused = run(reader, "tag", "--label", "sunny")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "the library's database: permission denied" in refused.stderr


@pytest.mark.parametrize("uri, shown", [
    ("postgresql://alice:s3cret@nas/photos", "postgresql://alice:***@nas/photos"),
    ("postgresql:///photos?host=/run/pg&user=alice&password=s3cret", "postgresql:///photos?host=/run/pg&user=alice&password=***"),
    ("postgresql://alice:s3cr#t/p@ss:w%rd@/photos?host=/run/pg", "postgresql://alice:***@/photos?host=/run/pg"),
    ("postgresql://alice:s3cret@[::1/photos", "postgresql://alice:***@[::1/photos"),
    ("postgresql://alice@nas/photos", "postgresql://alice@nas/photos"),
])
def test_a_password_is_never_shown_whatever_the_uri(uri, shown, tmp_path):
    from photosort.core.postgres import shown_location, without_password

    assert shown_location(uri) == shown
    assert "s3cr" not in without_password(uri)
    result = on(machine(tmp_path, "a"), uri.replace("nas", "nas.invalid"), "status")  # no such server
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "s3cr" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_another_machine_just_added_is_that_folder(postgres_uri, tmp_path):
    """Two machines adding one folder at the same moment: the one that comes second takes the first's."""
    from photosort.core.postgres import PostgresCatalog

    (tmp_path / "photos").mkdir()
    late = PostgresCatalog(postgres_uri, machine="b")  # opened before the folder existed
    early = PostgresCatalog(postgres_uri, machine="a")
    with early.transaction():
        first = early.add_folder(tmp_path / "photos")
    with late.transaction():
        second = late.add_folder(tmp_path / "photos")
    assert second.id == first.id and [folder.path for folder in late.folders()] == [tmp_path / "photos"]
    early.close()
    late.close()


def test_a_database_without_pgvector_says_what_to_do(postgres_server, tmp_path):
    import psycopg

    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE owner_{tmp_path.name[-8:]} LOGIN")
        admin.execute(f"CREATE DATABASE owned_{tmp_path.name[-8:]} OWNER owner_{tmp_path.name[-8:]}")
    uri = postgres_server.get_uri(database=f"owned_{tmp_path.name[-8:]}").replace(
        "postgres:@", f"owner_{tmp_path.name[-8:]}@")
    result = run(uri, "status")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "CREATE EXTENSION vector" in result.stderr and "Traceback" not in result.stderr
