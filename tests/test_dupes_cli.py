"""Duplicate clusters through `photosort dupes`, measured on real photographs with generated copies and bursts."""

import itertools
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from photosort.core.catalog import Photo
from photosort.core.dupes import DuplicateFinder
from photosort.core.library import Library
from photosort.core.resolve import plan
from tests.library_helpers import index_folders, run, trashed_names
from tests.real_photos import build, camera_exif, photographs


def pairs(groups) -> set[tuple[str, str]]:
    return {pair for group in groups for pair in itertools.combinations(sorted(group), 2)}


def dupes(library: Path, *args: str) -> dict:
    result = run(library, "dupes", "--json", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def real_library(tmp_path_factory):
    root = tmp_path_factory.mktemp("dupes")
    truth = build(root / "photos")
    index_folders(root / "library", root / "photos")
    return truth, root / "library", dupes(root / "library")


def test_exact_and_near_duplicates_are_found_precisely(real_library):
    truth, _, found = real_library
    clusters = found["clusters"]
    assert {cluster["kind"] for cluster in clusters} == {"near", "similar"}
    for cluster in clusters:
        assert cluster["keep"] in cluster["members"] and len(cluster["members"]) >= 2 and cluster["reason"]
    # Each photo is in one exact or near cluster at most; a photograph with near copies gathers its exact
    # copies (same bytes: a backup; same pixels: a PNG saved twice) in its near cluster.
    predicted = [set(cluster["members"]) for cluster in clusters if cluster["kind"] in ("exact", "near")]
    assert sum(map(len, predicted)) == len(set().union(*predicted))
    found_pairs, true_pairs = pairs(predicted), pairs(truth.same)
    precision = len(found_pairs & true_pairs) / len(found_pairs)
    recall = len(found_pairs & true_pairs) / len(true_pairs)
    print(f"exact+near pairs: precision {precision:.4f} recall {recall:.4f} ({len(true_pairs)} true pairs)")
    assert precision >= 0.99 and recall >= 0.95
    # Distinct photographs never share an exact or near cluster (burst frames are distinct photographs too).
    photograph_of = {path: number for number, group in enumerate(truth.same) for path in group}
    for group in predicted:
        assert len({photograph_of.get(path, path) for path in group}) == 1, group


def test_bursts_are_similar_never_near(real_library):
    truth, _, found = real_library
    frames = {path for shots in truth.bursts for path in shots if Path(path).stem.startswith("burst")}
    near_or_exact = {member for cluster in found["clusters"] if cluster["kind"] != "similar"
                     for member in cluster["members"]}
    assert not frames & near_or_exact
    similar = [set(cluster["members"]) for cluster in found["clusters"] if cluster["kind"] == "similar"]
    in_similar = {path for group in similar for path in group}
    print(f"burst frames in similar clusters: {len(frames & in_similar)} of {len(frames)}")
    assert frames <= in_similar
    # A similar cluster holds shots of one moment only (a photograph is there through its keeper).
    moment_of = {}
    for number, shots in enumerate(truth.bursts):
        for shot in shots:
            for same in truth.same:
                for path in (same if shot in same else {shot}):
                    moment_of[path] = number
    for group in similar:
        assert len({moment_of.get(path, path) for path in group}) == 1, group


def test_copies_with_nothing_else_are_exact_clusters(tmp_path):
    picture = photographs()["rocket"]
    folder = tmp_path / "photos"
    (folder / "backup").mkdir(parents=True)
    picture.save(folder / "rocket.jpg", quality=90)
    shutil.copy(folder / "rocket.jpg", folder / "backup" / "rocket.jpg")
    other = photographs()["coffee"]
    other.save(folder / "coffee.png", compress_level=1)
    other.save(folder / "coffee-again.png", compress_level=9)  # other bytes, the same pixels
    index_folders(tmp_path / "library", folder)
    found = {frozenset(Path(member).name for member in cluster["members"]): cluster
             for cluster in dupes(tmp_path / "library")["clusters"]}
    assert set(found) == {frozenset({"rocket.jpg"}), frozenset({"coffee.png", "coffee-again.png"})}
    assert found[frozenset({"rocket.jpg"})]["kind"] == "exact"
    assert found[frozenset({"rocket.jpg"})]["reason"].startswith("same bytes")
    pixels = found[frozenset({"coffee.png", "coffee-again.png"})]
    assert pixels["kind"] == "exact" and pixels["reason"].startswith("same pixels")
    assert Path(pixels["keep"]).name == "coffee.png"  # the larger file


def test_keep_rule_order(tmp_path):
    """Resolution, then file size, then format (RAW, HEIC over JPEG), then metadata, then the oldest."""
    picture = photographs()["coffee"]
    plain, rich = tmp_path / "plain.jpg", tmp_path / "rich.jpg"
    picture.save(plain, quality=90)
    picture.save(rich, quality=90, exif=camera_exif("2020:01:01 10:00:00", "00"))

    def photo(number, path, width=600, height=400, size=1000, taken=0.0):
        return Photo(number, str(path), 1, size, 0, f"print{number}", width, height, taken, "ok", None)

    def keep(*photos):
        finder = DuplicateFinder(photos, {}, lambda fingerprints: {})
        return finder._cluster("near", list(photos), "test").keep.id

    assert keep(photo(1, plain, size=5000), photo(2, plain, width=1200, height=800)) == 2  # resolution first
    assert keep(photo(1, plain, size=900), photo(2, plain, size=1000)) == 2  # then the larger file
    assert keep(photo(1, tmp_path / "a.jpg"), photo(2, tmp_path / "a.heic")) == 2  # then HEIC over JPEG
    assert keep(photo(1, tmp_path / "a.heic"), photo(2, tmp_path / "a.dng")) == 2  # and RAW over HEIC
    assert keep(photo(1, plain), photo(2, rich)) == 2  # then richer metadata
    assert keep(photo(1, plain, taken=200.0), photo(2, plain, taken=100.0)) == 2  # then the oldest capture


@pytest.fixture
def small_library(tmp_path, monkeypatch):
    """Two photographs with copies and bursts, plus a reference folder holding one of the copies."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the system trash, inside the test's folder
    truth = build(tmp_path / "photos", names=["astronaut", "chelsea"])
    reference = tmp_path / "photos" / "archive"
    reference.mkdir()
    shutil.copy(tmp_path / "photos" / "edits" / "chelsea" / "half.jpg", reference / "chelsea-half.jpg")
    index_folders(tmp_path / "library", tmp_path / "photos")
    return truth, tmp_path / "library", reference, tmp_path / "xdg" / "Trash" / "files"


def test_trash_moves_all_but_the_keeper_and_the_keeper_keeps_the_tags(small_library):
    truth, library, reference, trash = small_library
    before = dupes(library, "--reference", str(reference))
    planned = run(library, "dupes", "--trash", "--dry-run", "--reference", str(reference))
    assert planned.returncode == 0 and "would move to trash:" in planned.stderr
    assert not trash.exists() or not any(trash.iterdir())  # a dry run moves nothing
    assert dupes(library, "--reference", str(reference)) == before

    astronaut = [cluster for cluster in before["clusters"] if cluster["kind"] == "near"
                 and "astronaut" in cluster["keep"]][0]
    victim = next(member for member in astronaut["members"] if member != astronaut["keep"])
    assert run(library, "tag", "--accept", "favourite", victim).returncode == 0

    result = run(library, "dupes", "--trash", "--reference", str(reference))
    assert result.returncode == 0, result.stderr
    # Everything in exact and near clusters but each keeper is in the trash; nothing was deleted outright.
    doomed = {member for cluster in before["clusters"] if cluster["kind"] in ("exact", "near")
              for member in cluster["members"] if member != cluster["keep"]
              and not Path(member).is_relative_to(reference)}
    assert doomed and all(not Path(path).exists() for path in doomed)
    assert len(list(trash.iterdir())) == len(doomed)
    for cluster in before["clusters"]:
        assert Path(cluster["keep"]).exists()
    assert (reference / "chelsea-half.jpg").exists()  # a reference copy is never touched...
    chelsea = [cluster for cluster in before["clusters"] if cluster["kind"] == "near" and "chelsea" in cluster["keep"]]
    assert chelsea[0]["keep"] == str(reference / "chelsea-half.jpg")  # ...and is the one kept
    # Burst frames (similar) are different photos: they stay unless asked for.
    assert all(Path(path).exists() for shots in truth.bursts for path in shots if "burst" in path)
    # The keeper took the trashed photo's tag; the library forgot the trashed photos.
    tags = json.loads(run(library, "tag", "--json").stdout)
    assert "favourite" in tags[astronaut["keep"]] and victim not in tags
    after = dupes(library)
    assert not [cluster for cluster in after["clusters"] if cluster["kind"] in ("exact", "near")
                and not all(Path(member).is_relative_to(reference) or member == cluster["keep"]
                            for member in cluster["members"])]


def test_a_file_changed_after_the_clusters_were_shown_is_left_alone(small_library):
    """The app shows clusters, the user edits a photo, then resolves: that photo is not what was judged."""
    _, library_dir, _, _ = small_library
    with Library(library_dir) as library:
        clusters = [cluster for cluster in library.duplicates() if cluster.kind == "near"]
        steps = plan(clusters[:1]).steps
        edited, untouched = steps[0].photo, steps[1:]
        with Image.open(edited.path) as image:
            image.load()
            image.copy().save(edited.path, "JPEG", quality=40)
        outcome = library.trash_duplicates(steps)
    assert Path(edited.path).exists()
    assert [(step.photo.path, "changed since the library read it" in reason) for step, reason in outcome.failed] \
        == [(edited.path, True)]
    assert len(outcome.moved) == len(untouched) and all(not Path(step.photo.path).exists() for step in untouched)
    assert {Path(step.photo.path).name for step in untouched} <= trashed_names()  # in-process: the trash of this run


def test_dupes_explains_bad_arguments(small_library, tmp_path):
    _, library, _, _ = small_library
    assert "--dry-run goes with --trash" in run(library, "dupes", "--dry-run").stderr
    assert "not a folder" in run(library, "dupes", "--reference", str(tmp_path / "nowhere")).stderr
    empty = run(tmp_path / "empty-library", "dupes")
    assert empty.returncode != 0 and "run `photosort index PATH` first" in empty.stderr
