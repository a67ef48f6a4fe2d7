"""The library end to end through `photosort index | search | status`, on folders of real image files."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.library_helpers import TINY_MODEL, png_bomb, run, search, status, write_photo

KINDS = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "star"),
         ("purple", "circle"), ("orange", "square")]


@pytest.fixture
def album(tmp_path):
    """Six photos, one per format family, two of them in a subfolder."""
    folder = tmp_path / "album"
    write_photo(folder / "red-circle.jpg", "red", "circle", quality=92)
    write_photo(folder / "blue-square.png", "blue", "square")
    write_photo(folder / "green-triangle.webp", "green", "triangle")
    write_photo(folder / "trip" / "yellow-star.heic", "yellow", "star")
    write_photo(folder / "trip" / "purple-circle.gif", "purple", "circle")
    write_photo(folder / "orange-square.tiff", "orange", "square")
    return folder


def index(library, *paths, model=TINY_MODEL, extra=()):
    result = run(library, "index", *map(str, paths), "--model", str(model), *extra)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def encoded_now(result) -> int:
    return int(re.search(r"\((\d+) encoded now", result.stderr).group(1))


def test_index_then_search_by_text_and_by_example(tmp_path, album):
    library = tmp_path / "library"
    result = index(library, album)
    assert encoded_now(result) == 6
    assert "indexing: 6 / 6 photos" in result.stderr  # the progress bar
    report = status(library)
    assert report["photos"] == 6 and report["indexed"] == 6 and report["failed"] == 0
    assert report["folders"] == [str(album.resolve())]
    assert report["model"] == str(TINY_MODEL.resolve())

    for colour, shape in [("red", "circle"), ("yellow", "star"), ("blue", "square")]:
        hits = search(library, f"a photo of a {colour} {shape}", k=3)
        assert Path(hits[0]["path"]).stem == f"{colour}-{shape}"
        assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    by_example = run(library, "search", "--image", str(album / "red-circle.jpg"), "-k", "2", "--json", "--all")
    assert by_example.returncode == 0, by_example.stderr
    assert Path(json.loads(by_example.stdout)[0]["path"]).name == "red-circle.jpg"
    # Text and example together: the example's own photo still ranks first for a matching text.
    both = run(library, "search", "a red circle", "--image", str(album / "red-circle.jpg"), "--json", "--all")
    assert Path(json.loads(both.stdout)[0]["path"]).name == "red-circle.jpg"


def test_rerun_reads_nothing_and_moves_keep_their_vectors(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    assert encoded_now(index(library, album)) == 0

    (album / "red-circle.jpg").rename(album / "renamed.jpg")
    (album / "elsewhere").mkdir()
    shutil.move(album / "blue-square.png", album / "elsewhere" / "blue-square.png")
    result = index(library, album)
    assert encoded_now(result) == 0 and "2 moved" in result.stderr
    assert status(library)["indexed"] == 6
    assert Path(search(library, "a photo of a red circle", k=1)[0]["path"]).name == "renamed.jpg"
    assert Path(search(library, "a photo of a blue square", k=1)[0]["path"]).parent.name == "elsewhere"


def test_deleted_and_changed_photos(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    (album / "red-circle.jpg").unlink()
    write_photo(album / "blue-square.png", "white", "star", seed=5)  # same name, new content
    os.utime(album / "blue-square.png", ns=(1, 1_000_000_000))
    result = index(library, album)
    assert encoded_now(result) == 1 and "1 changed" in result.stderr and "1 removed" in result.stderr
    report = status(library)
    assert report["photos"] == 5 and report["indexed"] == 5
    paths = [Path(hit["path"]).name for hit in search(library, "a photo of a red circle", k=5)]
    assert "red-circle.jpg" not in paths
    assert Path(search(library, "a photo of a white star", k=1)[0]["path"]).name == "blue-square.png"


def test_an_unplugged_folder_goes_offline_and_comes_back(tmp_path, album):
    library = tmp_path / "library"
    other = tmp_path / "other"
    write_photo(other / "black-triangle.jpg", "black", "triangle")
    index(library, album, other)
    unplugged = tmp_path / "unplugged"
    album.rename(unplugged)

    result = index(library, other)
    assert f"offline: {album.resolve()}" in result.stderr
    report = status(library)
    assert report["photos"] == 7 and report["offline"] == 6 and report["offline_folders"] == [str(album.resolve())]
    assert all(Path(hit["path"]).parent.name != "album" for hit in search(library, "a photo of a red circle"))

    unplugged.rename(album)
    result = index(library, other)
    assert encoded_now(result) == 0
    report = status(library)
    assert report["offline"] == 0 and report["indexed"] == 7
    assert Path(search(library, "a photo of a red circle", k=1)[0]["path"]).name == "red-circle.jpg"


def test_bad_files_are_recorded_and_the_run_goes_on(tmp_path, album):
    library = tmp_path / "library"
    (album / "empty.jpg").write_bytes(b"")
    good = (album / "red-circle.jpg").read_bytes()
    (album / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (album / "noise.jpg").write_bytes(os.urandom(5000))
    (album / "notes.png").write_text("this is text, not a picture")
    png_bomb(album / "bomb.png")
    (album / "loop").symlink_to(album, target_is_directory=True)
    outside = tmp_path / "outside.jpg"
    write_photo(outside, "white", "circle")
    (album / "outside-link.jpg").symlink_to(outside)
    bad_name = os.path.join(os.fsencode(album), b"caf\xe9.jpg")
    with open(bad_name, "wb") as file:
        file.write(good)

    result = index(library, album)
    assert encoded_now(result) == 6
    report = status(library, "--failed")
    reasons = {Path(item["path"]).name: item["reason"] for item in report["failures"]}
    assert reasons["empty.jpg"] == "empty file"
    assert "truncated" in reasons["truncated.jpg"]
    assert "not an image" in reasons["noise.jpg"] and "not an image" in reasons["notes.png"]
    assert "too large" in reasons["bomb.png"]
    assert "loop" in reasons["loop"] or "not followed" in reasons["loop"]
    assert "out of the library folder" in reasons["outside-link.jpg"]
    # A name that is not UTF-8 is indexed (a copy of red-circle.jpg: its vector is shared, nothing encoded).
    assert report["failed"] == len(reasons) == 7 and report["indexed"] == 7
    # A second run tries them again (a failure may be passing) and finds them as they were; nothing new.
    assert encoded_now(index(library, album)) == 0 and status(library)["failed"] == 7


def test_the_index_is_rebuilt_from_stored_vectors_when_lost_or_corrupt(tmp_path, album):
    library = tmp_path / "library"
    index(library, album)
    expected = search(library, "a photo of a yellow star", k=6)
    (graph,) = library.glob("index/*/hnsw-*.bin")
    graph.write_bytes(os.urandom(graph.stat().st_size))
    assert search(library, "a photo of a yellow star", k=6) == expected
    for file in library.glob("index/*/*"):
        file.unlink()
    assert search(library, "a photo of a yellow star", k=6) == expected
    assert encoded_now(index(library, album)) == 0


def test_commands_that_cannot_run_exit_non_zero_in_one_line(tmp_path, album):
    library = tmp_path / "library"
    cases = [
        run(library, "search", "a cat"),  # empty library
        run(library, "index", str(tmp_path / "no-such-folder"), "--model", str(TINY_MODEL)),
        run(library, "index", str(album), "--model", str(tmp_path / "missing.pt")),
        run(tmp_path / "album" / "red-circle.jpg", "status"),  # a library path that is a file
        run(library, "search", "a cat", "-k", "0"),  # bad arguments
        run(library, "index"),
    ]
    no_model = run(library, "index", str(album))  # the recommended model: not here, and no network in tests
    assert "photosort models import FILE" in no_model.stderr and "--model tiny-shapes" in no_model.stderr
    for result in [*cases, no_model]:
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("photosort: ")


def test_all_formats_decode_with_exif_orientation(tmp_path):
    folder = tmp_path / "rotated"
    picture = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    folder.mkdir()
    picture.save(folder / "portrait.jpg", exif=exif)
    library = tmp_path / "library"
    index(library, folder)
    from photosort.core.library import Library

    with Library(library) as opened:
        (photo,) = opened.catalog.photos_in(opened.catalog.folders()[0].id).values()
        assert (photo.width, photo.height) == (20, 40)
        (thumbnail,) = (library / "thumbnails").rglob("*.jpg")
        assert Image.open(thumbnail).size[1] > Image.open(thumbnail).size[0]
