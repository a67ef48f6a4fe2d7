"""The storage contract: what the library engine relies on from its stores (catalog, vectors, labels), asked
through their interfaces only. Every backend runs the same tests: SQLite, and PostgreSQL with pgvector (a real
server the tests start)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from photosort.core.catalog import OK, PhotoFilter, SqlCatalog, SqliteCatalog
from photosort.core.labels import LabelBook
from photosort.core.postgres import PgVectorStore, PostgresCatalog
from photosort.core.vectors import SqliteVectorStore, VectorStore

MODEL = "m"
DAY = 86_400.0


@dataclass
class Stores:
    catalog: SqlCatalog
    vectors: VectorStore
    labels: LabelBook
    on_machine: Callable[[str], SqlCatalog]  # the same catalog, opened by another machine


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request, tmp_path):
    others: list = []
    if request.param == "sqlite":
        path = tmp_path / "catalog.db"

        def on_machine(machine: str) -> SqlCatalog:
            others.append(SqliteCatalog(path, machine=machine))
            return others[-1]

        catalog: SqlCatalog = SqliteCatalog(path, machine="first")
        vectors: VectorStore = SqliteVectorStore(catalog.db)
    else:
        uri = request.getfixturevalue("postgres_uri")

        def on_machine(machine: str) -> SqlCatalog:
            others.append(PostgresCatalog(uri, machine=machine))
            return others[-1]

        catalog = PostgresCatalog(uri, machine="first")
        vectors = PgVectorStore(catalog.db)
    yield Stores(catalog, vectors, LabelBook(catalog.db, vectors), on_machine)
    for opened in (catalog, *others):
        opened.close()


def add(stores: Stores, path: Path, fingerprint: str, taken: float = 0.0, state: str = OK) -> int:
    """A photo as a scan and a decode leave it."""
    folder = next((known for known in stores.catalog.folders() if path.is_relative_to(known.path)), None)
    with stores.catalog.transaction():
        if folder is None:
            path.parent.mkdir(parents=True, exist_ok=True)  # a folder not there is offline: its photos hide
            folder = stores.catalog.add_folder(path.parent)
        photo_id = stores.catalog.add_photo(str(path), folder.id, 1000, 1, fingerprint if state == OK else None,
                                            state=state, failure=None if state == OK else "unreadable")
        if state == OK:
            stores.catalog.set_decoded(photo_id, 64, 48, taken)
    return photo_id


def vector(*values: float) -> np.ndarray:
    found = np.array(values, np.float32)
    return found / np.linalg.norm(found)


def test_a_photo_id_is_never_handed_out_twice(stores, tmp_path):
    first = add(stores, tmp_path / "a" / "1.jpg", "f1")
    with stores.catalog.transaction():
        stores.catalog.delete_photos([first])
    # The index and the app's pictures are keyed by id: a new photo must not take the deleted one's.
    assert add(stores, tmp_path / "a" / "2.jpg", "f2") != first


def test_a_moved_photo_keeps_its_id_and_its_vector(stores, tmp_path):
    photo = add(stores, tmp_path / "a" / "1.jpg", "f1")
    with stores.catalog.transaction():
        stores.vectors.put(MODEL, [("f1", vector(1, 0, 0))])
        stores.catalog.move_photo(photo, str(tmp_path / "a" / "renamed.jpg"), stores.catalog.folders()[0].id, 2)
    ids, vectors = stores.vectors.photo_vectors(MODEL)
    assert ids.tolist() == [photo] and np.allclose(vectors[0], vector(1, 0, 0))
    assert stores.catalog.readable_photo_at(str(tmp_path / "a" / "renamed.jpg")) == (photo, "f1")
    assert stores.catalog.readable_photo_at(str(tmp_path / "a" / "1.jpg")) is None


def test_a_photo_edited_in_place_waits_to_be_encoded_again(stores, tmp_path):
    photo = add(stores, tmp_path / "a" / "1.jpg", "f1")
    with stores.catalog.transaction():
        stores.vectors.put(MODEL, [("f1", vector(1, 0, 0))])
    assert stores.catalog.pending(MODEL) == []
    with stores.catalog.transaction():
        stores.catalog.reread_photo(photo, 2000, 2, "f1-edited")
    assert [pending.id for pending in stores.catalog.pending(MODEL)] == [photo]
    assert stores.catalog.content_ids(MODEL, ["f1-edited"]) == set()


def test_vectors_of_each_model_are_kept_apart(stores, tmp_path):
    add(stores, tmp_path / "a" / "1.jpg", "f1")
    with stores.catalog.transaction():
        stores.vectors.put(MODEL, [("f1", vector(1, 0, 0))])
        stores.vectors.put("other", [("f1", vector(0, 1, 0, 0))])
    assert stores.vectors.dimension(MODEL) == 3 and stores.vectors.dimension("other") == 4
    assert np.allclose(stores.vectors.vector_for_content("other", "f1"), vector(0, 1, 0, 0))
    assert stores.vectors.vector_for_content("unknown", "f1") is None


def test_a_failed_transaction_leaves_nothing_behind(stores, tmp_path):
    add(stores, tmp_path / "a" / "1.jpg", "f1")
    with pytest.raises(RuntimeError), stores.catalog.transaction():
        stores.catalog.delete_photos([photo.id for photo in stores.catalog.readable_photos()])
        stores.vectors.put(MODEL, [("f1", vector(1, 0, 0))])
        raise RuntimeError("the disk filled up")
    assert len(stores.catalog.readable_photos()) == 1 and stores.vectors.dimension(MODEL) is None


def test_filters_by_folder_name_place_and_date(stores, tmp_path):
    trip = add(stores, tmp_path / "Photos" / "Beach 2024" / "1.jpg", "f1", taken=10 * DAY)
    odd = add(stores, tmp_path / "Photos" / "100%_done" / "2.jpg", "f2", taken=20 * DAY)
    other = add(stores, tmp_path / "Photos" / "100xxdone" / "3.jpg", "f3", taken=30 * DAY)
    catalog = stores.catalog

    def ids(**parts) -> set[int]:
        return set(catalog.filtered_ids(PhotoFilter(**parts)))

    assert ids() == {trip, odd, other}
    assert ids(folders=("beach 2024",)) == {trip}  # a folder's name, whatever its case
    assert ids(folders=("100%_done",)) == {odd}  # % and _ are the name's own characters, not wildcards
    assert ids(folders=(str(tmp_path / "Photos" / "100xxdone"),)) == {other}  # a full path
    assert ids(within=tmp_path / "Photos" / "Beach 2024") == {trip}
    assert ids(after=15 * DAY) == {odd, other} and ids(before=20 * DAY) == {trip}  # after inclusive, before not
    assert ids(after=15 * DAY, before=25 * DAY, folders=("photos",)) == {odd}
    assert len(catalog.filtered_ids(PhotoFilter(), limit=1)) == 1


def test_counts_under_a_folder_stop_at_its_name(stores, tmp_path):
    add(stores, tmp_path / "a" / "b" / "1.jpg", "f1")
    add(stores, tmp_path / "a" / "b" / "deeper" / "2.jpg", "f2")
    add(stores, tmp_path / "a" / "bc" / "3.jpg", "f3")  # a sibling whose name starts the same
    assert stores.catalog.count_under(tmp_path / "a" / "b") == 2
    assert stores.catalog.count_under(tmp_path / "a") == 3


def test_only_readable_photos_are_found_by_path(stores, tmp_path):
    add(stores, tmp_path / "a" / "broken.jpg", "", state="failed")
    readable = add(stores, tmp_path / "a" / "fine.jpg", "f2")
    assert stores.catalog.readable_photo_at(str(tmp_path / "a" / "broken.jpg")) is None
    assert stores.catalog.readable_paths() == [str(tmp_path / "a" / "fine.jpg")]
    assert stores.catalog.readable_photo_at(str(tmp_path / "a" / "fine.jpg")) == (readable, "f2")


def test_labels_are_renamed_and_removed_with_their_examples(stores, tmp_path):
    photo = add(stores, tmp_path / "a" / "1.jpg", "f1")
    with stores.catalog.transaction():
        stores.labels.set_label("Sea", ["the sea"])
        stores.labels.add_examples("Sea", {photo: "f1"}, 1)
        stores.labels.rename_label("Sea", "Ocean")
    assert stores.labels.labels() == {"Ocean": ["the sea"]}
    with stores.catalog.transaction():
        assert stores.labels.remove_label("Ocean")
    assert stores.labels.labels() == {} and stores.labels.tags_of([photo]) == {}


def test_photos_are_found_through_each_machine_s_place_for_their_folder(stores, tmp_path):
    (tmp_path / "Volumes" / "Photos" / "trip").mkdir(parents=True)
    with stores.catalog.transaction():
        stores.catalog.add_folder(tmp_path / "Volumes" / "Photos")
    photo = add(stores, tmp_path / "Volumes" / "Photos" / "trip" / "1.jpg", "f1")
    other = stores.on_machine("second")
    folder = other.folders()[0]
    assert folder.path == tmp_path / "Volumes" / "Photos" and folder.online  # where it was added, by default
    there = tmp_path / "mnt" / "photos"
    there.mkdir(parents=True)
    with other.transaction():
        other.move_folder(folder.id, there)
    assert other.photos_by_id([photo])[photo].path == str(there / "trip" / "1.jpg")
    assert other.readable_photo_at(str(there / "trip" / "1.jpg")) == (photo, "f1")
    assert [photo.path for photo in other.sample_of(folder.id, 5)] == [str(there / "trip" / "1.jpg")]
    assert other.count_under(there / "trip") == 1
    assert other.filtered_ids(PhotoFilter(within=there)) == [photo]
    # The first machine still finds it where it always was; a third one, where it was added.
    first = tmp_path / "Volumes" / "Photos" / "trip" / "1.jpg"
    assert stores.catalog.photos_by_id([photo])[photo].path == str(first)
    assert stores.on_machine("third").readable_photo_at(str(first)) == (photo, "f1")
    # A photo the second machine adds is at its place within the folder for everyone.
    with other.transaction():
        added = other.add_photo(str(there / "new.jpg"), folder.id, 10, 1, "f2")
    assert stores.catalog.photos_by_id([added])[added].path == str(tmp_path / "Volumes" / "Photos" / "new.jpg")


def test_a_folder_not_there_hides_its_photos_from_search_but_keeps_them(stores, tmp_path):
    photo = add(stores, tmp_path / "drive" / "1.jpg", "f1")
    with stores.catalog.transaction():
        stores.vectors.put(MODEL, [("f1", vector(1, 0, 0))])
    (tmp_path / "drive").rename(tmp_path / "unplugged")
    reopened = stores.on_machine("first")  # opened again: the folder is looked for
    assert not reopened.folders()[0].online
    assert reopened.counts(MODEL).offline == 1 and reopened.photos_by_id([photo])
    assert type(stores.vectors)(reopened.db).searchable_ids(MODEL).tolist() == []
    assert reopened.content_state != stores.catalog.content_state  # what was built for the online folder is not


def test_two_photos_swap_names_within_one_transaction(stores, tmp_path):
    """A scan that finds two files' names swapped frees each path (set_aside) before moving the photos there."""
    first, second = add(stores, tmp_path / "a" / "1.jpg", "f1"), add(stores, tmp_path / "a" / "2.jpg", "f2")
    folder = stores.catalog.folders()[0].id
    with stores.catalog.transaction():
        stores.catalog.set_aside(first)
        stores.catalog.set_aside(second)
        stores.catalog.move_photo(first, str(tmp_path / "a" / "2.jpg"), folder, 5)
        stores.catalog.move_photo(second, str(tmp_path / "a" / "1.jpg"), folder, 5)
    assert stores.catalog.readable_photo_at(str(tmp_path / "a" / "2.jpg")) == (first, "f1")
    assert stores.catalog.readable_photo_at(str(tmp_path / "a" / "1.jpg")) == (second, "f2")
    assert sorted(stores.catalog.photos_in(folder)) == [str(tmp_path / "a" / "1.jpg"), str(tmp_path / "a" / "2.jpg")]
