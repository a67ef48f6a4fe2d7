"""Duplicate clusters through `photosort dupes`, measured on real photographs with generated copies and bursts."""

import itertools
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from photosort.core.catalog import Photo
from photosort.core.dupes import DuplicateFinder
from photosort.core.library import Library
from photosort.core.resolve import plan
from tests.library_helpers import index_folders, run, trashed_names
from tests.real_photos import build, photographs


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
        assert cluster["keep"] in cluster["members"] and len(cluster["members"]) >= 2
        assert cluster["why"] and cluster["keep_reason"]
        for copies in cluster["exact_copies"]:  # sets of identical files, each within its cluster
            assert len(copies) >= 2 and set(copies) <= set(cluster["members"])
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
    assert found[frozenset({"rocket.jpg"})]["why"].startswith("same bytes")
    pixels = found[frozenset({"coffee.png", "coffee-again.png"})]
    assert pixels["kind"] == "exact" and pixels["why"].startswith("same pixels")
    assert pixels["exact_copies"] == []  # the same pixels, but not the same file
    assert Path(pixels["keep"]).name == "coffee.png"  # the larger file


def test_identical_files_within_a_near_cluster_are_reported_and_marked(tmp_path):
    """A photo, a backup of it (the same bytes) and a smaller re-encoded copy: one near cluster, in which the
    two identical files are told apart from the copy that merely looks the same."""
    folder = tmp_path / "photos"
    (folder / "backup").mkdir(parents=True)
    picture = photographs()["rocket"]
    picture.save(folder / "rocket.jpg", quality=90)
    shutil.copy(folder / "rocket.jpg", folder / "backup" / "rocket.jpg")
    picture.resize((picture.width // 2, picture.height // 2), Image.LANCZOS).save(folder / "small.jpg", quality=80)
    index_folders(tmp_path / "library", folder)
    identical = {str(folder / "rocket.jpg"), str(folder / "backup" / "rocket.jpg")}

    cluster, = dupes(tmp_path / "library")["clusters"]
    assert cluster["kind"] == "near" and cluster["why"]
    assert set(cluster["members"]) == identical | {str(folder / "small.jpg")}
    assert cluster["keep"] in identical and cluster["keep_reason"]  # full size beats the small copy
    assert [set(copies) for copies in cluster["exact_copies"]] == [identical]

    listing = run(tmp_path / "library", "dupes")
    assert listing.returncode == 0, listing.stderr
    header, *members = listing.stdout.splitlines()
    assert header == f"near: {cluster['why']}; keep: {cluster['keep_reason']}"
    # "  keep  PATH  [identical file A]": who is kept, the file, and the letter its identical copies share.
    rows = [re.fullmatch(r"  (keep|    )  (.+?)(?:  \[identical file (\w+)\])?", line).groups() for line in members]
    assert sorted(rows) == sorted([("keep" if path == cluster["keep"] else "    ", path, "A") for path in identical]
                                  + [("    ", str(folder / "small.jpg"), None)])


def test_a_copy_added_after_its_original_was_indexed_is_found(tmp_path):
    """The backup's content was indexed already (through the original), so indexing never decodes it again;
    it must still be read for its size and date and join its original's cluster."""
    folder = tmp_path / "photos"
    folder.mkdir()
    picture = photographs()["chelsea"]
    picture.save(folder / "chelsea.jpg", quality=90)
    index_folders(tmp_path / "library", folder)
    assert dupes(tmp_path / "library")["clusters"] == []
    (folder / "later").mkdir()
    shutil.copy(folder / "chelsea.jpg", folder / "later" / "chelsea.jpg")
    picture.resize((picture.width // 2, picture.height // 2), Image.LANCZOS).save(folder / "later" / "half.jpg",
                                                                                  quality=85)
    index_folders(tmp_path / "library", folder)
    cluster, = dupes(tmp_path / "library")["clusters"]
    assert cluster["kind"] == "near" and len(cluster["members"]) == 3
    assert [sorted(Path(path).parent.name for path in copies) for copies in cluster["exact_copies"]] == \
        [["later", "photos"]]


def test_edits_and_other_pictures_are_offered_never_near(tmp_path):
    """Through the command, as a user meets it: a black-and-white and a sepia edit of a photo are similar
    pictures (offered, never trashed); circles of other colours or places share no cluster with each other as
    near duplicates; the photo's re-saved copy is its near duplicate."""
    from tests import near_cases

    folder = tmp_path / "photos"
    photo = near_cases._fit(photographs()["coffee"])
    cases = near_cases.colour_edits("coffee", photo)[:3] + near_cases.shape_pictures()[:4]
    cases.append(near_cases.Case("coffee-resaved.jpg", "copies", "coffee", photo, {"quality": 60}))
    where = near_cases.write(cases, folder)
    index_folders(tmp_path / "library", folder)
    result = run(tmp_path / "library", "dupes", "--json", "--trash", "--dry-run")
    assert result.returncode == 0, result.stderr
    clusters = json.loads(result.stdout)["clusters"]
    near = [cluster for cluster in clusters if cluster["kind"] in ("exact", "near")]
    assert [sorted(where[path].name for path in cluster["members"]) for cluster in near] == \
        [["coffee-original.jpg", "coffee-resaved.jpg"]]
    similar = [cluster for cluster in clusters if cluster["kind"] == "similar"]
    offered = {where[path].name for cluster in similar for path in cluster["members"]}
    assert {"coffee-bw.jpg", "coffee-sepia.jpg"} <= offered
    would_move = [line.split(": ", 1)[1].split("  (keeping")[0] for line in result.stderr.splitlines()
                  if line.startswith("would move to trash")]
    assert [where[path].name for path in would_move] == ["coffee-resaved.jpg"]  # the edits are never trashed


def test_keep_rule_order(tmp_path):
    """Resolution, then file size, then format (RAW, HEIC over JPEG), then metadata, then the oldest."""
    def photo(number, path, width=600, height=400, size=1000, taken=0.0, fields=0):
        return Photo(number, str(path), 1, size, 0, f"print{number}", width, height, taken, "ok", None,
                     metadata_fields=fields)

    def keep(*photos):
        finder = DuplicateFinder(photos, {}, lambda fingerprints: {})
        return finder._cluster("near", list(photos), "test").keep.id

    plain = tmp_path / "plain.jpg"
    assert keep(photo(1, plain, size=5000), photo(2, plain, width=1200, height=800)) == 2  # resolution first
    assert keep(photo(1, plain, size=900), photo(2, plain, size=1000)) == 2  # then the larger file
    assert keep(photo(1, tmp_path / "a.jpg"), photo(2, tmp_path / "a.heic")) == 2  # then HEIC over JPEG
    assert keep(photo(1, tmp_path / "a.heic"), photo(2, tmp_path / "a.dng")) == 2  # and RAW over HEIC
    assert keep(photo(1, plain), photo(2, plain, fields=9)) == 2  # then richer metadata (EXIF fields kept)
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
