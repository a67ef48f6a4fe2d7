"""The one EXIF reader (photosort.core.exif), what indexing stores of it, and the read-once backfill of photos
indexed before it existed."""

from __future__ import annotations

import io
import os
import pickle
import sqlite3
import struct
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from PIL.ExifTags import IFD, Base

from photosort.core import exif
from photosort.core.catalog import SqliteCatalog
from photosort.core.decode import decode
from photosort.core.errors import LibraryError
from photosort.core.pipeline import run_pipeline
from photosort.core.scan import scan
from photosort.core.vectors import SqliteVectorStore
from tests.library_helpers import index_folders, old_catalog

MOMENT = "2021:07:04 12:30:00"
WHEN = datetime(2021, 7, 4, 12, 30).timestamp()  # EXIF times are local times


def tags_with(ifd0: dict | None = None, details: dict | None = None, gps: dict | None = None) -> Image.Exif:
    tags = Image.Exif()
    tags.update(ifd0 or {})
    if details:
        tags.get_ifd(IFD.Exif).update(details)
    if gps:
        tags.get_ifd(IFD.GPSInfo).update(gps)
    return tags


def jpeg(path: Path, tags: Image.Exif | None = None, colour=(200, 80, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 16), colour).save(path, "JPEG", quality=90, **({} if tags is None else {"exif": tags}))
    return path


def written(tags: Image.Exif, tmp_path: Path) -> exif.Capture:
    """What the reader makes of `tags` once written into a JPEG, read both ways (they must agree)."""
    path = jpeg(tmp_path / "photo.jpg", tags)
    from_file = exif.read_file(path)
    with Image.open(path) as image:
        assert exif.read(image) == from_file
    return from_file


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks.append((kind, data[at + 8:at + 8 + length]))
        at += length + 12
    return chunks


def png_with_exif_after_pixels(path: Path, tags: Image.Exif) -> Path:
    """A PNG whose eXIf chunk follows its pixels (the standard allows either place; Pillow writes it before)."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 90, 200)).save(buffer, "PNG", exif=tags)
    chunks = png_chunks(buffer.getvalue())
    exif_chunk = next(chunk for chunk in chunks if chunk[0] == b"eXIf")
    chunks = [chunk for chunk in chunks if chunk[0] != b"eXIf"]
    chunks.insert(len(chunks) - 1, exif_chunk)  # just before IEND
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(body)) + kind + body
                                                 + struct.pack(">I", zlib.crc32(kind + body)) for kind, body in chunks))
    return path


# Which time, and where it came from


@pytest.mark.parametrize("present, source, fraction", [
    ({"original", "digitized", "modified"}, exif.ORIGINAL, 0.045),
    ({"digitized", "modified"}, exif.DIGITIZED, 0.5),
    ({"modified"}, exif.MODIFIED, 0.25),
])
def test_the_camera_time_comes_first_with_its_own_fraction(tmp_path, present, source, fraction):
    # Each time a minute apart, so the one chosen shows; each fraction pairs with its own time only.
    ifd0, details = {}, {}
    if "original" in present:
        details |= {Base.DateTimeOriginal: MOMENT, Base.SubsecTimeOriginal: "045"}
    if "digitized" in present:
        details |= {Base.DateTimeDigitized: "2021:07:04 12:31:00", Base.SubsecTimeDigitized: "5"}
    if "modified" in present:
        ifd0 |= {Base.DateTime: "2021:07:04 12:32:00", Base.SubsecTime: "25"}
    capture = written(tags_with(ifd0, details), tmp_path)
    minutes = {exif.ORIGINAL: 0, exif.DIGITIZED: 1, exif.MODIFIED: 2}[source]
    assert capture.source == source and capture.subsecond
    assert capture.taken == pytest.approx(WHEN + 60 * minutes + fraction, abs=1e-6)
    assert capture.by_camera == (source in exif.CAMERA_SOURCES)
    assert exif.CAMERA_SOURCES == {exif.ORIGINAL, exif.DIGITIZED}


def test_a_time_without_its_fraction_is_to_the_second(tmp_path):
    # SubsecTime (IFD0's) does not belong to DateTimeOriginal.
    capture = written(tags_with({Base.SubsecTime: "999"}, {Base.DateTimeOriginal: MOMENT}), tmp_path)
    assert (capture.source, capture.taken, capture.subsecond) == (exif.ORIGINAL, WHEN, False)


@pytest.mark.parametrize("text", [
    "0000:00:00 00:00:00", "    :  :     :  :  ", "", "\x00" * 20, "2021:13:45 99:99:99", "yesterday",
    "2021:02:30 10:00:00",
])
def test_a_blank_or_malformed_time_gives_way_to_the_next(tmp_path, text):
    fallback = written(tags_with({Base.DateTime: "2022:01:02 03:04:05"}, {Base.DateTimeOriginal: text}), tmp_path)
    assert fallback.source == exif.MODIFIED and fallback.taken == datetime(2022, 1, 2, 3, 4, 5).timestamp()
    nothing = written(tags_with({}, {Base.DateTimeOriginal: text}), tmp_path)
    assert (nothing.source, nothing.taken, nothing.subsecond) == (exif.FILE, None, False)


def test_padding_is_tolerated_and_a_fraction_must_be_digits(tmp_path):
    padded = written(tags_with({}, {Base.DateTimeOriginal: f" {MOMENT}\x00\x00", Base.SubsecTimeOriginal: "07\x00 "}),
                     tmp_path)
    assert padded.source == exif.ORIGINAL and padded.subsecond
    assert padded.taken == pytest.approx(WHEN + 0.07, abs=1e-6)
    junk = written(tags_with({}, {Base.DateTimeOriginal: MOMENT, Base.SubsecTimeOriginal: "1/3"}), tmp_path)
    assert (junk.taken, junk.subsecond) == (WHEN, False)
    zero = written(tags_with({}, {Base.DateTimeOriginal: MOMENT, Base.SubsecTimeOriginal: "000"}), tmp_path)
    assert (zero.taken, zero.subsecond) == (WHEN, True)  # a fraction given, and it is zero


def test_a_camera_time_put_in_ifd0_still_counts_as_the_cameras(tmp_path):
    capture = written(tags_with({Base.DateTimeOriginal: MOMENT}), tmp_path)
    assert (capture.source, capture.taken) == (exif.ORIGINAL, WHEN)


# Camera and metadata richness


def test_camera_is_make_and_model_trimmed(tmp_path):
    assert written(tags_with({Base.Make: " Canon\x00", Base.Model: "EOS 5D  "}), tmp_path).camera == "Canon EOS 5D"
    assert written(tags_with({Base.Model: "Pixel 8"}), tmp_path).camera == "Pixel 8"
    assert written(tags_with({Base.Software: "an editor"}), tmp_path).camera == ""


def test_fields_count_ifd0_exif_and_gps_tags(tmp_path):
    tags = tags_with({Base.Make: "Canon", Base.Model: "EOS", Base.Software: "fw 1.0"},
                     {Base.DateTimeOriginal: MOMENT, Base.ExposureTime: 0.01, Base.ISOSpeedRatings: 100},
                     {1: "N", 3: "E"})  # GPSLatitudeRef, GPSLongitudeRef
    capture = written(tags, tmp_path)
    # IFD0: three tags and the two pointers to the others; then three and two.
    assert capture.fields == 5 + 3 + 2
    assert written(tags_with({Base.Make: "Canon"}), tmp_path).fields == 1


# Files of every kind


def test_a_file_without_exif_has_only_its_file_date(tmp_path):
    path = jpeg(tmp_path / "plain.jpg")
    assert exif.read_file(path) == exif.NO_EXIF == exif.Capture(None, False, exif.FILE, "", 0)
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert exif.read_file(tmp_path / "plain.png") == exif.NO_EXIF


def test_a_png_with_exif_before_or_after_its_pixels_is_read_from_its_header(tmp_path, monkeypatch):
    tags = tags_with({Base.Make: "Phone"}, {Base.DateTimeOriginal: MOMENT, Base.SubsecTimeOriginal: "5"})
    before = tmp_path / "before.png"
    Image.new("RGB", (16, 16)).save(before, "PNG", exif=tags)
    after = png_with_exif_after_pixels(tmp_path / "after.png", tags)
    assert [kind for kind, _ in png_chunks(after.read_bytes())][-3:] == [b"IDAT", b"eXIf", b"IEND"]
    decoded = decode(after, 16, 0.0)  # decoding finds it after the pixels too, and says the same
    assert decoded.capture == exif.read_file(before) and decoded.taken == pytest.approx(WHEN + 0.5)

    def no_decoding(self, *args):
        raise AssertionError("the header reader decoded pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for path in (before, after):
        capture = exif.read_file(path)
        assert (capture.source, capture.camera, capture.subsecond) == (exif.ORIGINAL, "Phone", True)
        assert capture.taken == pytest.approx(WHEN + 0.5, abs=1e-6)


def test_damaged_files_and_damaged_exif_read_as_no_exif(tmp_path):
    whole = jpeg(tmp_path / "whole.jpg", tags_with({Base.Make: "Canon"}, {Base.DateTimeOriginal: MOMENT}))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:30])  # inside the EXIF block
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(np.random.default_rng(0).bytes(4000))
    for path in (cut, noise, tmp_path / "missing.jpg"):
        assert exif.read_file(path) == exif.NO_EXIF
    # A damaged EXIF block in a readable picture: the picture decodes, with its file date.
    picture = io.BytesIO()
    Image.new("RGB", (24, 16), (10, 200, 10)).save(picture, "JPEG")
    data = picture.getvalue()
    junk = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + b"\xee" * 40
    broken = tmp_path / "broken-exif.jpg"
    broken.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk + data[2:])
    assert exif.read_file(broken).source == exif.FILE
    decoded = decode(broken, 16, 1234.5)
    assert (decoded.taken, decoded.capture.source, decoded.width) == (1234.5, exif.FILE, 24)


def test_only_a_file_that_cannot_be_opened_raises_from_read_header(tmp_path):
    with pytest.raises(FileNotFoundError):
        exif.read_header(tmp_path / "missing.jpg")
    (tmp_path / "text.jpg").write_text("not a picture")
    assert exif.read_header(tmp_path / "text.jpg") == exif.NO_EXIF


def test_orientation_is_read_by_name_and_only_as_a_number():
    assert exif.orientation_of(tags_with({Base.Orientation: 6})) == 6
    assert exif.orientation_of(tags_with({Base.Orientation: "six"})) is None
    assert exif.orientation_of(Image.Exif()) is None


def test_decoding_yields_the_capture_facts_and_they_travel_between_processes(tmp_path):
    path = jpeg(tmp_path / "a.jpg", tags_with({Base.Make: "Canon", Base.DateTime: "2024:01:01 00:00:00"},
                                              {Base.DateTimeDigitized: MOMENT}))
    decoded = decode(path, 16, 0.0)
    assert decoded.taken == WHEN
    assert (decoded.capture.source, decoded.capture.camera) == (exif.DIGITIZED, "Canon")
    assert pickle.loads(pickle.dumps(decoded.capture)) == decoded.capture  # decoders may be processes
    plain = decode(jpeg(tmp_path / "b.jpg"), 16, 777.0)
    assert (plain.taken, plain.capture) == (777.0, exif.NO_EXIF)


# What indexing stores


class MeanEncoder:
    resolution = 16

    def encode_pictures(self, pictures):
        vectors = np.concatenate([pictures.mean(axis=(2, 3)), np.ones((len(pictures), 1), np.float32)], axis=1)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def index(catalog: SqliteCatalog, tmp_path: Path) -> None:
    scan(catalog)
    run_pipeline(catalog.pending("m"), MeanEncoder(), catalog, SqliteVectorStore(catalog.db), "m",
                 tmp_path / "thumbs", workers=2)


def facts(catalog: SqliteCatalog) -> dict[str, tuple]:
    return {Path(photo.path).name: (photo.id, photo.taken, photo.taken_source, photo.camera, photo.metadata_fields)
            for photo in catalog.readable_photos()}


def test_indexing_stores_the_capture_facts_and_scans_keep_them_with_the_content(tmp_path):
    folder = tmp_path / "photos"
    jpeg(folder / "camera.jpg", tags_with({Base.Make: "Canon", Base.Model: "EOS"},
                                          {Base.DateTimeOriginal: MOMENT, Base.SubsecTimeOriginal: "25"}))
    jpeg(folder / "edited.jpg", tags_with({Base.Software: "editor", Base.DateTime: "2024:05:06 07:08:09"}))
    plain = jpeg(folder / "plain.jpg")
    os.utime(plain, (1_600_000_000, 1_600_000_000))
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    with catalog.transaction():
        catalog.add_folder(folder)
    index(catalog, tmp_path)
    found = facts(catalog)
    assert found["camera.jpg"][1:] == (pytest.approx(WHEN + 0.25), exif.ORIGINAL, "Canon EOS", 5)
    assert found["edited.jpg"][1:] == (datetime(2024, 5, 6, 7, 8, 9).timestamp(), exif.MODIFIED, "", 2)
    assert found["plain.jpg"][1:] == (1_600_000_000, exif.FILE, "", 0)

    # A touch and a move keep the facts with the content (nothing is read again); an edit in place is new
    # content, whose facts are read when it is indexed.
    os.utime(folder / "camera.jpg", (1_700_000_000, 1_700_000_000))
    (folder / "edited.jpg").rename(folder / "renamed.jpg")
    jpeg(plain, tags_with({Base.Model: "Scanner"}, {Base.DateTimeDigitized: MOMENT}), colour=(1, 2, 3))
    scan(catalog)
    assert [photo.path for photo in catalog.pending("m")] == [str(plain)]
    index(catalog, tmp_path)
    after = facts(catalog)
    assert after["camera.jpg"] == found["camera.jpg"] and after["renamed.jpg"] == found["edited.jpg"]
    assert after["plain.jpg"][0] != found["plain.jpg"][0]
    assert after["plain.jpg"][1:] == (WHEN, exif.DIGITIZED, "Scanner", 3)


def test_photosort_index_stores_the_capture_facts(tmp_path):
    folder = tmp_path / "photos"
    jpeg(folder / "camera.jpg", tags_with({Base.Make: "Canon"}, {Base.DateTimeOriginal: MOMENT}))
    plain = jpeg(folder / "plain.jpg")
    index_folders(tmp_path / "library", folder)
    rows = sqlite3.connect(tmp_path / "library" / "catalog.sqlite").execute(
        "SELECT path, taken, taken_source, camera, metadata_fields FROM photos ORDER BY path").fetchall()
    assert [row[1:] for row in rows] == [(WHEN, exif.ORIGINAL, "Canon", 3),
                                         (plain.stat().st_mtime_ns / 1e9, exif.FILE, "", 0)]


# Libraries indexed before the capture facts were stored


def old_library(tmp_path: Path, monkeypatch, files: dict[str, Path]) -> Path:
    """A library made by the photosort before the capture facts: its photos decoded, with their dates."""
    library = tmp_path / "library"
    library.mkdir()
    old_catalog(library / "catalog.sqlite", 3, tmp_path / "photos",
                {path: f"print-{name}" for name, path in files.items()})
    return library


def test_photos_indexed_before_are_read_once_from_their_headers(tmp_path, monkeypatch):
    from photosort.core.library import Library

    photos = tmp_path / "photos"
    files = {
        "camera": jpeg(photos / "camera.jpg", tags_with({Base.Make: "Canon"},
                                                        {Base.DateTimeOriginal: MOMENT, Base.SubsecTimeOriginal: "5"})),
        "plain": jpeg(photos / "plain.jpg"),
        "gone": photos / "gone.jpg",  # vanished since: read again next time, not taken as having no EXIF
    }
    library = old_library(tmp_path, monkeypatch, files)

    with pytest.raises(LibraryError, match="older photosort"):  # only a writer brings the catalog up to date
        Library(library, write=False)
    with Library(library) as opened:  # opening it for writing brings the schema up to date
        stored = opened.catalog.readable_photos()
        assert [photo.taken_source for photo in stored] == [None, None, None]
        read = {Path(photo.path).stem: photo for photo in opened.read_missing_capture(stored)}
    assert [Path(photo.path).stem for photo in stored] == list(read)  # the same photos, in the same order
    assert (read["camera"].taken, read["camera"].taken_source, read["camera"].camera,
            read["camera"].metadata_fields) == (pytest.approx(WHEN + 0.5), exif.ORIGINAL, "Canon", 4)
    assert (read["plain"].taken, read["plain"].taken_source, read["plain"].camera) == (99.0, exif.FILE, "")
    assert (read["gone"].taken, read["gone"].taken_source) == (99.0, exif.FILE)

    rows = dict(sqlite3.connect(library / "catalog.sqlite").execute(
        "SELECT path, taken_source FROM photos").fetchall())
    # Stored by their paths within their folder (schema 5)
    assert rows == {"camera.jpg": exif.ORIGINAL, "plain.jpg": exif.FILE, "gone.jpg": None}
    with Library(library, write=False) as reader:
        again = reader.catalog.readable_photos()
        (files["camera"]).unlink()  # what was stored is not read again
        assert {Path(photo.path).stem: photo for photo in reader.read_missing_capture(again)}["camera"] == \
            read["camera"]


def test_a_read_only_library_reads_the_facts_without_storing_them(tmp_path, monkeypatch):
    from photosort.core.library import Library

    camera = jpeg(tmp_path / "photos" / "camera.jpg", tags_with({}, {Base.DateTimeOriginal: MOMENT}))
    library = old_library(tmp_path, monkeypatch, {"camera": camera})
    Library(library).close()  # the schema brought up to date, the photo left unread
    with Library(library, write=False) as reader:
        (photo,) = reader.read_missing_capture(reader.catalog.readable_photos())
        assert (photo.taken, photo.taken_source) == (WHEN, exif.ORIGINAL)
    assert sqlite3.connect(library / "catalog.sqlite").execute("SELECT taken, taken_source FROM photos").fetchall() \
        == [(99.0, None)]
