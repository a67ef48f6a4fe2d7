"""A damaged library file never crashes photosort, and `photosort library check` repairs the library.

For each kind of library file (the catalog, its write-ahead log, the index graph, its ids, its manifest, a
thumbnail, the backup of the user's work) and each kind of damage (cut to half, cut to nothing, random bytes
at the start, middle or end, deleted), starting from a library that indexed a folder and holds the user's tags:

- `status`, `search` and `index` each end with exit 0 or one "photosort: ..." line: no traceback, and no death
  by a signal (random bytes in the index graph made hnswlib read out of bounds: SIGSEGV);
- `photosort library check` then exits 0 (the library is healthy, or repaired) and says what it did;
- after one more `index`, the library is consistent (helpers.check_consistency) and the user's own tags are
  still there (from the catalog, or restored from user-work.json when the catalog was lost).

The default cases cover each file kind with one or two damages; the slow ones the whole cross product, and
every file found by walking the library folder (whatever the engine keeps there), damaged alone and all at
once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.robustness.helpers import (DAMAGES, KILLED, assert_clean, assert_succeeded, check_consistency,
                                      copy_library, crash, damage, index_args, library_files, photo_folder,
                                      photosort, tag_red_by_hand, user_labels)

PHOTOS = 12


@dataclass(frozen=True)
class Indexed:
    photos: Path
    library: Path  # indexed, closed cleanly, with the user's "red" tag on `accepted`
    with_log: Path  # indexed, then killed before closing: the catalog's write-ahead log holds the run
    accepted: list[Path]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Indexed:
    root = tmp_path_factory.mktemp("damage")
    photos = root / "photos"
    photo_folder(photos, PHOTOS)
    library = root / "library"
    assert_succeeded(photosort(library, *index_args(photos)), "index")
    accepted = tag_red_by_hand(library, photos)
    with_log = root / "with-log"
    result = crash("close", 1, with_log, *index_args(photos))
    assert result.returncode == KILLED, result.stderr
    return Indexed(photos, library, with_log, accepted)


# The library files, by kind: (which template library, glob patterns under it).
KINDS = {
    "catalog": ("library", ["catalog.sqlite"]),
    "catalog-log": ("with_log", ["catalog.sqlite-wal"]),
    "graph": ("library", ["index/*/hnsw-*.bin"]),
    "ids": ("library", ["index/*/hnsw-*.ids.npy"]),
    "manifest": ("library", ["index/*/hnsw.json"]),
    "thumbnail": ("library", ["thumbnails/*/*.jpg"]),
    "user-work": ("library", ["user-work.json"]),
    "lock": ("library", ["library.lock"]),
}
# Each kind with one or two damages; random bytes in the middle of the graph crashed the process (SIGSEGV).
DEFAULT = {
    ("catalog", "random-middle"), ("catalog", "random-start"), ("catalog", "truncate-half"), ("catalog", "delete"),
    ("catalog-log", "random-middle"),
    ("graph", "random-middle"), ("graph", "truncate-half"),
    ("ids", "random-end"),
    ("manifest", "random-middle"), ("manifest", "delete"),
    ("thumbnail", "truncate-half"),
    ("user-work", "random-middle"),
}
CASES = [pytest.param(kind, how, id=f"{kind}-{how}", marks=() if (kind, how) in DEFAULT else pytest.mark.slow)
         for kind in KINDS for how in DAMAGES]


def prepare(indexed: Indexed, kind: str, destination: Path) -> list[Path]:
    """A copy of the template library for `kind`, and the files of that kind in it (the first of several)."""
    template, patterns = KINDS[kind]
    library = copy_library(getattr(indexed, template), destination)
    found = sorted(path for pattern in patterns for path in library.glob(pattern))
    if not found:
        if kind in ("catalog-log", "lock"):
            pytest.skip(f"this engine leaves no {patterns[0]} in the library")
        pytest.fail(f"the library has no {patterns[0]}: {[str(p) for p in library_files(library)]}")
    return found[:1]


def survives(library: Path, photos: Path, accepted: list[Path] | None) -> None:
    """Commands on the damaged library fail in one line at worst; `library check` repairs; the library is then
    whole, and the user's tags (when `accepted` is given) are kept."""
    for args in (["status"], ["search", "a red circle", "--all", "--json"], index_args(photos)):
        result = photosort(library, *args)
        assert_clean(result, f"{args[0]} on the damaged library")
        if args[0] == "search" and result.returncode == 0:
            assert isinstance(json.loads(result.stdout), list), result.stdout
    check = photosort(library, "library", "check")
    assert_succeeded(check, "library check")
    assert check.stdout.strip(), "library check reports nothing on stdout"
    assert_succeeded(photosort(library, *index_args(photos)), "index after library check")
    check_consistency(library, photos)
    if accepted is not None:
        labels = user_labels(library)
        lost = [str(path) for path in accepted if "red" not in labels.get(str(path.resolve()), set())]
        assert not lost, f"the user's 'red' tag was lost from {lost}; user tags now: {labels}"


@pytest.mark.parametrize(("kind", "how"), CASES)
def test_damaged_file(tmp_path, indexed, kind, how):
    """One library file damaged one way: no crash, `library check` repairs, the user's tags survive."""
    library = tmp_path / "library"
    (target,) = prepare(indexed, kind, library)
    damage(target, how)
    # The run left in the log was never told to the user as done: its tags are not asked for.
    survives(library, indexed.photos, None if kind == "catalog-log" else indexed.accepted)


def test_check_on_a_healthy_library(tmp_path, indexed):
    """`library check` on a library with nothing wrong: exit 0, and it stays as it was."""
    library = copy_library(indexed.library, tmp_path / "library")
    check = photosort(library, "library", "check")
    assert_succeeded(check, "library check")
    check_consistency(library, indexed.photos)
    assert user_labels(library) == {str(path.resolve()): {"red"} for path in indexed.accepted}


def test_every_file_damaged_at_once(tmp_path, indexed):
    """Random bytes in the middle of every file of the library (catalog, index, thumbnails, backups): still
    no crash, and `library check` then `index` bring the library back (the user's tags may be lost)."""
    library = copy_library(indexed.library, tmp_path / "library")
    for path in library_files(library):
        damage(path, "random-middle")
    survives(library, indexed.photos, None)


def walked(library: Path) -> list[Path]:
    """Every file of the library, relative to it; of the thumbnails (alike, and many) only the first two."""
    files = [path.relative_to(library) for path in library_files(library)]
    thumbnails = [path for path in files if path.parts[0] == "thumbnails"]
    return [path for path in files if path not in thumbnails[2:]]


@pytest.mark.slow
@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("template", ["library", "with_log"])
def test_every_file_found_damaged_alone(tmp_path, indexed, template, how):
    """Each file found by walking the library folder, damaged alone: none crashes a command or defeats
    `library check` (a file the engine added since these tests were written included)."""
    source = getattr(indexed, template)
    failures = []
    for number, relative in enumerate(walked(source)):
        library = copy_library(source, tmp_path / f"library-{number}")
        damage(library / relative, how)
        try:
            survives(library, indexed.photos, indexed.accepted if template == "library" else None)
        except AssertionError as error:
            failures.append(f"{relative} ({how}): {str(error)[:1500]}")
    assert not failures, "\n\n".join(failures)
