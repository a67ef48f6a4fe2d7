"""Text queries without torch, and their vectors kept on disk (photosort.core.query_cache): a repeated query
needs no model at all, in a new process too; and nothing that happens to the cache file costs a search."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from photosort.clip import NeedsTorchError, TextEncoder
from photosort.core import query_cache
from photosort.core.library import Library
from photosort.core.query_cache import CACHE_FILE, QueryCache, cache_key
from photosort.core.search import QueryEncoder
from tests.library_helpers import TINY_MODEL, index_folders, kind_of, run, search, tiny_world, write_photo

# `photosort` in a process where importing torch fails: whatever imports it makes the command fail.
NO_TORCH = ("import sys; sys.modules['torch'] = None; from photosort.cli import main; "
            "raise SystemExit(main(sys.argv[1:]))")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("query-cache")
    tiny_world(root / "world")
    index_folders(root / "library", root / "world")
    return root / "library"


@pytest.fixture
def library(indexed, tmp_path):
    """A copy of the indexed library for one test, its query cache empty."""
    copy = shutil.copytree(indexed, tmp_path / "library")
    (copy / CACHE_FILE).unlink(missing_ok=True)
    return copy


class Counting:
    """A text encoder that counts the texts it encodes; with `broken`, it has no model to encode them with."""

    def __init__(self, model: str = str(TINY_MODEL), identity: str | None = None, broken: bool = False):
        self.inner = TextEncoder(model)
        self._identity, self.broken, self.texts = identity, broken, 0

    @property
    def identity(self) -> str | None:
        return self._identity or self.inner.identity

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if self.broken:
            raise AssertionError("the model was asked for a query whose vector is known")
        self.texts += len(texts)
        return self.inner.encode_texts(texts)


def no_full_model():
    raise AssertionError("a text query loaded the full model")


def searched(library: Path, texts: Counting, query: str = "green square") -> list[str]:
    with Library(library, write=False) as opened:
        return [result.path for result in opened.search(QueryEncoder(texts, no_full_model), query, k=5)]


def test_a_repeated_query_needs_no_model_in_a_new_session(library):
    first = Counting()
    found = searched(library, first)
    assert first.texts > 0 and kind_of(found[0]) == ("green", "square")
    assert searched(library, Counting(broken=True)) == found


def test_a_changed_model_file_or_other_prompts_are_not_answered_from_the_cache(library):
    searched(library, Counting())
    replaced = Counting(identity=f"{TINY_MODEL}\n1\n2")  # the same name, another file (size, time)
    searched(library, replaced)
    assert replaced.texts > 0
    assert cache_key("m", ["a photo of a dog."]) != cache_key("m", ["a picture of a dog."])
    assert cache_key("m", ["a", "b"]) != cache_key("m", ["a\0b"])


def test_the_model_files_identity_follows_the_file(tmp_path):
    model = Path(shutil.copyfile(TINY_MODEL, tmp_path / "model.pt"))
    encoder = TextEncoder(model)
    before = encoder.identity
    model.write_bytes(model.read_bytes() + b"\0")
    assert encoder.identity not in (before, None)
    assert TextEncoder(tmp_path / "gone.pt").identity is None


def test_the_cache_keeps_the_most_recently_used_and_no_more(tmp_path, monkeypatch):
    monkeypatch.setattr(query_cache, "MAX_ENTRIES", 10)
    cache = QueryCache(tmp_path)
    vectors = {f"q{number}": np.eye(4, dtype=np.float32)[number % 4] for number in range(30)}
    for number, (key, vector) in enumerate(vectors.items()):
        cache.put(key, vector)
        if number >= 1:
            assert cache.get("q0") is not None  # used at every step: never the least recent
    count = sqlite3.connect(tmp_path / CACHE_FILE).execute("SELECT count(*) FROM query_vectors").fetchone()[0]
    assert count == 10
    assert cache.get("q29") is not None and cache.get("q1") is None
    assert np.array_equal(cache.get("q28"), vectors["q28"])
    assert cache.get("q28", dim=8) is None  # a vector of another size is not this model's


@pytest.mark.parametrize("damage", ["garbage", "truncated", "a folder"])
def test_a_damaged_or_unusable_cache_costs_nothing_but_itself(library, damage):
    found = searched(library, Counting())
    path = library / CACHE_FILE
    if damage == "garbage":
        path.write_bytes(b"this is not a database " * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        path.unlink()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        path.mkdir()
    again = Counting()
    assert searched(library, again) == found
    assert again.texts > 0
    if damage != "a folder":  # made anew, and used from then on
        assert searched(library, Counting(broken=True)) == found


def test_two_processes_share_the_cache(tmp_path):
    one, other = QueryCache(tmp_path), QueryCache(tmp_path)
    vector = np.full(8, 8 ** -0.5, np.float32)
    one.put("key", vector)
    assert np.array_equal(other.get("key"), vector)
    other.put("second", vector)
    assert one.get("second") is not None


def test_the_search_command_never_imports_torch(library):
    command = [sys.executable, "-c", NO_TORCH, "--library", str(library), "search", "red circle", "--json"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    results = json.loads(first.stdout)
    assert kind_of(results[0]["path"]) == ("red", "circle")
    cached = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert cached.returncode == 0 and json.loads(cached.stdout) == results


def test_a_model_file_only_torch_reads_still_answers_text_queries(tmp_path):
    """A pre-2019 pickle: the numpy tower cannot read it, so the full model encodes its queries."""
    legacy = tmp_path / "legacy-tiny.pt"
    torch.save(torch.load(TINY_MODEL, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(NeedsTorchError):
        TextEncoder(legacy).encode_texts(["a red circle"])
    tiny_world(tmp_path / "world", per_kind=1)
    indexed = run(tmp_path / "library", "index", str(tmp_path / "world"), "--model", str(legacy))
    assert indexed.returncode == 0, indexed.stderr
    results = search(tmp_path / "library", "red circle")
    assert results and kind_of(results[0]["path"]) == ("red", "circle")


def test_a_model_file_replaced_while_open_is_read_again(tmp_path, small_vit_state_dict):
    """The app keeps its text tower while it runs: a checkpoint replaced in place (same name) gives the new
    file's vectors, never the old tower's under the new file's name."""
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({key: value.contiguous() for key, value in small_vit_state_dict.items()}, path)
    encoder = TextEncoder(path)
    before = encoder.encode_texts(["a red circle"])
    changed = {key: value.roll(1, dims=1) if key == "text_projection" else value
               for key, value in small_vit_state_dict.items()}
    save_file({key: value.contiguous() for key, value in changed.items()}, tmp_path / "new.safetensors")
    (tmp_path / "new.safetensors").replace(path)
    after = encoder.encode_texts(["a red circle"])
    fresh = TextEncoder(path).encode_texts(["a red circle"])
    assert np.allclose(after, fresh, atol=1e-6) and not np.allclose(after, before, atol=1e-3)


def test_labels_are_read_without_torch(library):
    """A label's prompts are texts: `photosort tag` reads them with the text tower, as search does."""
    command = [sys.executable, "-c", NO_TORCH, "--library", str(library), "tag", "--label", "reds=red circle",
               "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    tagged = [path for path, labels in json.loads(result.stdout).items() if "reds" in labels]
    assert tagged and all(kind_of(path)[0] == "red" for path in tagged)


@pytest.mark.parametrize("change", ["cut short in place", "replaced by a file only torch reads"])
def test_a_model_file_that_changed_and_cannot_be_read_is_never_used_stale(tmp_path, small_vit_state_dict, change):
    """The old tower is dropped as soon as its file changes: never a crash on pages cut off (SIGBUS), never the
    old model's vectors under the new file's name."""
    from safetensors.torch import save_file

    from photosort.clip import CheckpointError

    path = tmp_path / "model.safetensors"
    save_file({key: value.contiguous() for key, value in small_vit_state_dict.items()}, path)
    encoder = TextEncoder(path)
    encoder.encode_texts(["a red circle"])
    if change == "cut short in place":
        with path.open("r+b") as file:
            file.truncate(path.stat().st_size // 2)
        expected: type[Exception] = CheckpointError
    else:
        torch.save(small_vit_state_dict, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
        (tmp_path / "legacy.pt").replace(path)
        expected = NeedsTorchError
    for _ in range(2):
        with pytest.raises(expected):
            encoder.encode_texts(["a red circle"])


def test_a_model_file_replaced_by_another_size_of_model_says_so(tmp_path):
    """The library's photos were indexed with one checkpoint; the file under that name now holds a model of
    another embedding size: search and labels say so in one line (hnswlib, given a vector of another size,
    reads past it and corrupts the heap)."""
    model = tmp_path / "model.safetensors"
    from safetensors.torch import save_file

    from tests import reference

    save_file({key: value.contiguous() for key, value in reference.random_state_dict(reference.SMALL_VIT).items()},
              model)
    tiny_world(tmp_path / "world", per_kind=1)
    assert run(tmp_path / "library", "index", str(tmp_path / "world"), "--model", str(model)).returncode == 0
    narrower = dict(reference.SMALL_VIT, embed_dim=32)
    save_file({key: value.contiguous() for key, value in reference.random_state_dict(narrower).items()}, model)
    outside = write_photo(tmp_path / "outside" / "red.jpg", "red", "circle", seed=99)  # encoded by the new file
    for command in (["search", "red circle"], ["tag", "--label", "reds=red circle"], ["search", f"+{outside}"]):
        result = run(tmp_path / "library", *command)
        assert result.returncode == 1, (command, result.stderr)
        assert "makes vectors of 32 dimensions, but the library's photos were indexed with vectors of 64" \
            in result.stderr, result.stderr


def test_the_index_refuses_a_vector_of_another_size(tmp_path):
    from photosort.core.index import VectorIndex

    index = VectorIndex(tmp_path, "m", 8)
    index.add(np.arange(3), np.eye(3, 8, dtype=np.float32))
    with pytest.raises(ValueError, match="for an index of 8 dimensions"):
        index.search(np.ones(4, np.float32), 2)


def test_a_cache_file_of_another_layout_is_made_anew(library):
    """A cache left by another photosort (another table layout) would fail every write: it is emptied."""
    with sqlite3.connect(library / CACHE_FILE) as db:
        db.execute("CREATE TABLE query_vectors (key TEXT PRIMARY KEY, vector BLOB)")
    found = searched(library, Counting())
    assert searched(library, Counting(broken=True)) == found  # kept, and read back
