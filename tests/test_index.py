"""The HNSW vector index: ids are catalog ids, deletions, growth, atomic saves, repair from stored vectors."""

import json

import numpy as np
import pytest

from photosort.core import index as index_module
from photosort.core.index import MANIFEST, VectorIndex

DIM = 16


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def stored():
    """The vector store's answer: 3000 vectors with ids 1..3000."""
    ids = np.arange(1, 3001, dtype=np.int64)
    vectors = unit(np.random.default_rng(0).standard_normal((3000, DIM)))
    return ids, vectors


def loader(stored, calls=None):
    ids, vectors = stored

    def load(wanted):
        if calls is not None:
            calls.append(None if wanted is None else len(wanted))
        if wanted is None:
            return ids, vectors
        return wanted, vectors[np.asarray(wanted) - 1]
    return load


def test_search_finds_the_nearest_and_grows_past_its_capacity(tmp_path, stored):
    ids, vectors = stored
    index = VectorIndex(tmp_path, "m", DIM)
    for start in range(0, 3000, 500):  # well past the initial capacity of 1024
        index.add(ids[start:start + 500], vectors[start:start + 500])
    assert len(index) == 3000
    exact = np.argsort(-(vectors @ vectors[41]))[:10] + 1
    hits = index.search(vectors[41], 10)
    assert hits[0].id == 42 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len({hit.id for hit in hits} & set(exact.tolist())) >= 9


def test_removed_photos_never_come_back_and_their_slots_are_reused(tmp_path, stored):
    ids, vectors = stored
    index = VectorIndex(tmp_path, "m", DIM)
    index.add(ids[:1000], vectors[:1000])
    index.remove(np.array([5, 6, 7]))
    assert 5 not in {hit.id for hit in index.search(vectors[4], 20)}
    index.add(ids[1000:1003], vectors[1000:1003])
    assert index._graph.get_current_count() == 1000  # three new photos took the three freed slots
    assert index.search(vectors[1001], 1)[0].id == 1002


def test_k_larger_than_the_library_returns_everything(tmp_path, stored):
    ids, vectors = stored
    index = VectorIndex(tmp_path, "m", DIM)
    assert index.search(vectors[0], 5) == []
    index.add(ids[:3], vectors[:3])
    assert len(index.search(vectors[0], 50)) == 3


def test_open_loads_a_saved_index_without_touching_the_vectors(tmp_path, stored):
    ids, _ = stored
    first, state = VectorIndex.open(tmp_path, "m", DIM, ids, loader(stored))
    assert state.startswith("rebuilt (missing")
    calls = []
    second, state = VectorIndex.open(tmp_path, "m", DIM, ids, loader(stored, calls))
    assert state == "loaded" and calls == [] and len(second) == 3000


def test_open_catches_up_with_a_few_changes_and_rebuilds_after_many(tmp_path, stored):
    ids, vectors = stored
    VectorIndex.open(tmp_path, "m", DIM, ids[:2900], loader((ids[:2900], vectors[:2900])))
    calls = []
    expected = np.concatenate([ids[10:2900], ids[2900:2950]])  # 10 gone, 50 new
    index, state = VectorIndex.open(tmp_path, "m", DIM, expected, loader(stored, calls))
    assert state == "updated (50 added, 10 removed)" and calls == [50]
    assert np.array_equal(index.ids, np.sort(expected))
    index, state = VectorIndex.open(tmp_path, "m", DIM, ids[:1000], loader((ids[:1000], vectors[:1000])))
    assert state == "rebuilt (out of date)" and len(index) == 1000


@pytest.mark.parametrize("damage", ["garbage graph", "truncated graph", "no manifest", "other model", "bad ids"])
def test_a_damaged_index_is_rebuilt_from_the_stored_vectors(tmp_path, stored, damage):
    ids, vectors = stored
    VectorIndex.open(tmp_path, "m", DIM, ids, loader(stored))
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    graph, id_file = tmp_path / manifest["graph"], tmp_path / manifest["ids"]
    if damage == "garbage graph":
        graph.write_bytes(np.random.default_rng(1).bytes(graph.stat().st_size))
    elif damage == "truncated graph":
        graph.write_bytes(graph.read_bytes()[:1000])
    elif damage == "no manifest":
        (tmp_path / MANIFEST).unlink()
    elif damage == "other model":
        (tmp_path / MANIFEST).write_text(json.dumps({**manifest, "model": "another"}))
    else:
        id_file.write_text("not numpy")
    index, state = VectorIndex.open(tmp_path, "m", DIM, ids, loader(stored))
    assert state.startswith("rebuilt")
    assert index.search(vectors[99], 1)[0].id == 100


def test_a_save_that_dies_midway_leaves_the_previous_index_in_force(tmp_path, stored, monkeypatch):
    ids, vectors = stored
    index, _ = VectorIndex.open(tmp_path, "m", DIM, ids[:100], loader((ids[:100], vectors[:100])))
    index.add(ids[100:200], vectors[100:200])

    def crash(path):
        raise OSError("disk full")
    monkeypatch.setattr(index_module, "_fsync", crash)
    with pytest.raises(OSError):
        index.save()
    monkeypatch.undo()
    calls = []
    reopened, state = VectorIndex.open(tmp_path, "m", DIM, ids[:100], loader(stored, calls))
    assert state == "loaded" and len(reopened) == 100 and calls == []
