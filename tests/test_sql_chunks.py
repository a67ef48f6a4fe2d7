"""Queries over more values than one statement may bind (photosort.core.sql), and the stores that use them."""

import sqlite3

import numpy as np
import pytest

from photosort.core import sql
from photosort.core.catalog import SqliteCatalog
from photosort.core.labels import LabelBook
from photosort.core.likeness import PROFILE_SAMPLES, Face
from photosort.core.sql import IN_CHUNK, MARKS, select_in_chunks
from photosort.core.vectors import SqliteVectorStore

OLD_SQLITE_LIMIT = 999  # SQLITE_MAX_VARIABLE_NUMBER before SQLite 3.32
MANY = 2 * IN_CHUNK + 123  # three chunks, the last one short, and more than the old limit


def as_old_sqlite(db: sqlite3.Connection) -> sqlite3.Connection:
    """The connection refusing more bound parameters than an SQLite before 3.32 would: a query that binds all the
    values at once fails with "too many SQL variables"."""
    if not hasattr(db, "setlimit"):  # Python 3.11 and later
        pytest.skip("no Connection.setlimit in this Python")
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, OLD_SQLITE_LIMIT)
    return db


@pytest.fixture
def db():
    db = as_old_sqlite(sqlite3.connect(":memory:"))
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL)")
    db.executemany("INSERT INTO items VALUES (?, ?, ?)",
                   [(n, "even" if n % 2 == 0 else "odd", f"item {n:05}") for n in range(MANY + 50)])
    yield db
    db.close()


def test_the_old_limit_is_real(db):
    """What the chunks are for: all the values in one statement are refused."""
    with pytest.raises(sqlite3.OperationalError, match="too many SQL variables"):
        db.execute(f"SELECT id FROM items WHERE id IN ({','.join('?' * MANY)})", list(range(MANY))).fetchall()


def test_every_value_is_matched_one_query_a_chunk(db):
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    rows = list(select_in_chunks(db, f"SELECT id, name FROM items WHERE id IN ({MARKS}) ORDER BY id",
                                 (n for n in range(MANY))))  # any iterable, a generator too
    assert rows == [(n, f"item {n:05}") for n in range(MANY)]
    assert len(statements) == 3
    assert [statement.count(",") for statement in statements] == [IN_CHUNK, IN_CHUNK, MANY - 2 * IN_CHUNK]


def test_parameters_ahead_of_and_behind_the_values_are_bound_in_every_chunk(db):
    ahead = select_in_chunks(db, f"SELECT id FROM items WHERE kind = ? AND id IN ({MARKS})", range(MANY),
                             before=("even",))
    assert sorted(row[0] for row in ahead) == list(range(0, MANY, 2))
    behind = select_in_chunks(db, f"SELECT id FROM items WHERE id IN ({MARKS}) AND kind = ? AND name > ?",
                              range(MANY), after=("odd", "item 00100"))
    assert sorted(row[0] for row in behind) == list(range(101, MANY, 2))


def test_order_holds_within_each_chunk(db, monkeypatch):
    monkeypatch.setattr(sql, "IN_CHUNK", 3)
    rows = select_in_chunks(db, f"SELECT id FROM items WHERE id IN ({MARKS}) ORDER BY id DESC", [0, 1, 2, 3, 4])
    assert [row[0] for row in rows] == [2, 1, 0, 4, 3]


def test_no_values_no_query(db):
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    assert list(select_in_chunks(db, f"SELECT id FROM items WHERE id IN ({MARKS})", [])) == []
    assert statements == []


def test_a_query_without_its_marks_is_refused(db):
    with pytest.raises(ValueError, match="no IN"):
        list(select_in_chunks(db, "SELECT id FROM items WHERE id IN (?)", [1]))


def test_the_stores_read_more_ids_than_an_old_sqlite_binds(tmp_path):
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    as_old_sqlite(catalog.db)
    with catalog.transaction():
        folder = catalog.add_folder(tmp_path)
        ids = [catalog.add_photo(str(tmp_path / f"{n:05}.jpg"), folder.id, 10, 1, f"print {n}") for n in range(MANY)]
    vectors = SqliteVectorStore(catalog.db)
    with catalog.transaction():
        vectors.put("m", [(f"print {n}", np.full(4, n % 7, np.float32)) for n in range(0, MANY, 2)])
        catalog.db.executemany("INSERT INTO labels (name, prompts, added) VALUES (?, '[]', 0)", [("b",), ("A",)])
        catalog.db.executemany("INSERT INTO tags (photo_id, label, score, source) VALUES (?, ?, NULL, 'user')",
                               [(photo_id, label) for photo_id in ids for label in ("b", "A")])

    assert sorted(catalog.photos_by_id(ids)) == ids
    assert catalog.content_ids("m", [f"print {n}" for n in range(MANY)]) == {f"print {n}" for n in range(0, MANY, 2)}
    assert catalog.content_ids("other", [f"print {n}" for n in range(MANY)]) == set()  # the model is bound too
    found, stored = vectors.photo_vectors("m", ids)
    assert found.tolist() == ids[::2] and stored.shape == (len(ids[::2]), 4)
    assert np.array_equal(stored[:, 0], [n % 7 for n in range(0, MANY, 2)])
    assert vectors.photo_vectors("other", ids)[0].size == 0
    book = LabelBook(catalog.db, vectors)
    assert book.tags_of(ids) == {photo_id: ["A", "b"] for photo_id in ids}
    assert book._fingerprints(np.array(ids, np.int64)) == {photo_id: f"print {n}" for n, photo_id in enumerate(ids)}
    face = Face(np.zeros(2 * PROFILE_SAMPLES, np.float16), np.zeros((8, 8), np.uint8), np.zeros((2, 4, 4), np.uint8))
    with catalog.transaction():
        vectors.put_signatures([(f"print {n}", np.zeros(63, np.float32), face) for n in range(0, MANY, 3)])
        catalog.db.execute("UPDATE signatures SET face = x'00' WHERE fingerprint = 'print 0'")  # an older format
    assert set(vectors.faces([f"print {n}" for n in range(MANY)])) == {f"print {n}" for n in range(3, MANY, 3)}
    catalog.close()
