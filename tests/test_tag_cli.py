"""Auto-tagging against the user's own labels, through `photosort tag`, on the tiny model's world."""

import json
import shutil
import uuid
from pathlib import Path

import pytest

from tests.library_helpers import index_folders, kind_of, run, tiny_world, write_photo
from tests.postgres_server import copy_database, new_database

WARM = {"red", "orange", "yellow"}
# The tiny model learnt colour and shape together ("red stars"), so a label says it through several prompts.
REDS = "reds=" + "|".join(f"red {shape}s" for shape in ("circle", "square", "triangle", "star"))
STARS = "stars=" + "|".join(f"{colour} stars" for colour in ("red", "blue", "green", "yellow", "white", "black"))
BLUES = "blues=" + "|".join(f"blue {shape}s" for shape in ("circle", "square", "triangle", "star"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world_library(request, tmp_path_factory):
    """The tiny world indexed once per backend: a library folder, or a database on the test server."""
    root = tmp_path_factory.mktemp("tags")
    tiny_world(root / "world")
    if request.param == "sqlite":
        library: Path | str = root / "library"
    else:
        library = new_database(request.getfixturevalue("postgres_server"), f"tags_{uuid.uuid4().hex[:8]}")
    index_folders(library, root / "world")
    return root / "world", library


@pytest.fixture
def library(world_library, tmp_path):
    """A copy of the indexed library this test may change (the photos stay where they are)."""
    _, original = world_library
    if isinstance(original, Path):
        copy = tmp_path / "library"
        shutil.copytree(original, copy)
        return copy
    return copy_database(original, f"copy_{uuid.uuid4().hex[:8]}")


def tag(library: Path, *args: str) -> dict[str, list[str]]:
    result = run(library, "tag", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def accuracy(tags: dict[str, list[str]], label: str, truth, skip=()) -> float:
    judged = [path for path in tags if path not in skip]
    return sum((label in tags[path]) == truth(path) for path in judged) / len(judged)


def test_labels_tag_every_photo_independently(world_library, library):
    world, _ = world_library
    tags = tag(library, "--label", REDS, "--label", STARS)
    assert len(tags) == 96 and all(isinstance(labels, list) for labels in tags.values())
    assert set(tags) == {str(path.resolve()) for path in world.iterdir()}
    reds = {path for path, labels in tags.items() if "reds" in labels}
    stars = {path for path, labels in tags.items() if "stars" in labels}
    assert reds and stars and any(labels == [] for labels in tags.values())
    assert sum(kind_of(path)[0] == "red" for path in reds) / len(reds) >= 0.8
    assert sum(kind_of(path)[1] == "star" for path in stars) / len(stars) >= 0.8
    # Labels do not compete: a second label meaning the same lands on the same photos (a softmax over the
    # labels would split them between the two).
    twins = tag(library, "--label", "crimson=" + REDS.split("=", 1)[1])
    assert {path for path, labels in twins.items() if "crimson" in labels} == reds
    assert all("reds" in labels for labels in twins.values() if "crimson" in labels)
    tag(library, "--remove", "crimson")
    # A new label decides on its own: the other labels keep exactly their photos.
    more = tag(library, "--label", BLUES)
    assert {path for path, labels in more.items() if "reds" in labels} == reds
    assert {path for path, labels in more.items() if "stars" in labels} == stars
    assert any("blues" in labels for labels in more.values())
    summary = run(library, "tag")
    assert summary.returncode == 0 and "blues:" in summary.stdout and "reds:" in summary.stdout
    removed = tag(library, "--remove", "stars")
    assert not any("stars" in labels for labels in removed.values())
    assert {path for path, labels in removed.items() if "reds" in labels} == reds


def test_accepted_and_rejected_photos_teach_a_label_the_words_miss(world_library, library):
    world, _ = world_library

    def warm(path: str) -> bool:
        return kind_of(path)[0] in WARM

    examples_yes = [world / "red-circle-0.jpg", world / "orange-star-1.jpg", world / "yellow-square-2.jpg"]
    examples_no = [world / "blue-circle-0.jpg", world / "green-star-1.jpg", world / "purple-square-2.jpg"]
    held_out = {str(path.resolve()) for path in examples_yes + examples_no}
    before = accuracy(tag(library, "--label", "warm=warm colours"), "warm", warm, held_out)
    tag(library, "--accept", "warm", *map(str, examples_yes))
    after = accuracy(tag(library, "--reject", "warm", *map(str, examples_no)), "warm", warm, held_out)
    print(f"warm colours, held-out accuracy: {before:.3f} before, {after:.3f} after 3 + 3 examples")
    assert after >= before + 0.15, (before, after)
    final = tag(library)
    assert all("warm" in final[str(path.resolve())] for path in examples_yes)
    assert not any("warm" in final[str(path.resolve())] for path in examples_no)


def test_new_photos_are_tagged_as_they_are_indexed(library, tmp_path):
    tagged_before = tag(library, "--label", REDS)
    added = tmp_path / "new"
    for number in range(4):
        write_photo(added / f"red-circle-{number}.jpg", "red", "circle", seed=100 + number)
        write_photo(added / f"blue-square-{number}.jpg", "blue", "square", seed=200 + number)
    index_folders(library, added)
    listing = run(library, "tag", "--json")  # no re-tagging asked for: the index run did it
    tags = json.loads(listing.stdout)
    assert len(tags) == len(tagged_before) + 8
    new_reds = [path for path, labels in tags.items() if Path(path).parent == added.resolve() and "reds" in labels]
    assert len(new_reds) >= 3 and all(kind_of(path)[0] == "red" for path in new_reds)


def test_mistakes_are_reported_plainly(library, tmp_path):
    unknown = run(library, "tag", "--remove", "nope")
    assert unknown.returncode != 0 and "no label 'nope'" in unknown.stderr
    stray = write_photo(tmp_path / "elsewhere.jpg", "red", "circle")
    result = run(library, "tag", "--accept", "reds", str(stray))
    assert result.returncode == 0 and "not a photo of this library" in result.stderr
    assert run(library, "tag", "--accept", "reds").returncode != 0
    assert "Traceback" not in result.stderr
