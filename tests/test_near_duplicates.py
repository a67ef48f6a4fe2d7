"""What "near" means: copies of one picture, never two pictures a person would want both of.

The pixel check (`likeness`) on each class of hard negatives and copies from tests/near_cases.py, and the
finder on made-up data (no files): exact copies marked inside a near cluster, capture times from the catalog,
edits offered as similar.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from photosort.core import exif
from photosort.core.catalog import Photo
from photosort.core.dupes import EXACT, NEAR, SIMILAR, DuplicateFinder, Kind
from photosort.core.likeness import FACE_MAGIC, Face, compare, face, signature
from tests import near_cases
from tests.real_photos import photographs

SIMILAR_CORRELATION = 0.75  # dupes.SIMILAR_CORRELATION: aligned pictures this alike are offered as similar


def as_stored(case: near_cases.Case, written: dict[str, bytes] | None = None) -> Image.Image:
    """The picture as the library reads it back: encoded in the case's format, then decoded."""
    data = case.data(written if written is not None else {})
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def faces_of(cases: list[near_cases.Case]) -> dict[str, Face]:
    written: dict[str, bytes] = {}
    found = {}
    for case in cases:
        written[case.name] = case.data(written)
        with Image.open(io.BytesIO(written[case.name])) as image:
            found[case.name] = face(image.convert("RGB"))
    return found


def joined_pairs(cases: list[near_cases.Case]) -> list[tuple[str, str]]:
    """Pairs of different pictures the check calls one picture."""
    faces = faces_of(cases)
    return [(a.name, b.name) for number, a in enumerate(cases) for b in cases[number + 1:]
            if a.picture != b.picture and compare(faces[a.name], faces[b.name]).same_photograph]


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return photographs()


def test_shape_pictures_of_other_colours_or_places_are_never_near():
    assert joined_pairs(near_cases.shape_pictures()) == []


def test_colour_versions_of_one_design_are_never_near():
    assert joined_pairs(near_cases.colour_versions()) == []


def test_colour_and_tone_edits_are_similar_not_near(photos):
    cases = near_cases.colour_edits("coffee", near_cases._fit(photos["coffee"]))
    assert joined_pairs(cases) == []
    faces = faces_of(cases)
    original = faces[cases[0].name]
    for edit in cases[1:]:  # aligned and alike: the finder offers them as similar pictures
        assert compare(original, faces[edit.name]).correlation >= SIMILAR_CORRELATION, edit.name


def test_low_texture_scenes_with_the_subject_elsewhere_are_never_near():
    assert joined_pairs(near_cases.low_texture_scenes(12)) == []


def test_documents_with_other_text_in_one_layout_are_never_near():
    assert joined_pairs(near_cases.documents(4)) == []


@pytest.mark.parametrize("exif_times", [False, True])
def test_burst_frames_reframed_by_5_to_15_percent_are_never_near(photos, exif_times):
    """Without EXIF times the pixels alone must tell (with them, the finder's capture-time rule also does)."""
    cases = near_cases.burst(photos["chelsea"], "chelsea", random.Random(3), exif=exif_times)
    assert joined_pairs(cases) == []


def test_the_same_place_zoomed_is_never_near(photos):
    assert joined_pairs(near_cases.zooms(near_cases._fit(photos["rocket"]), "rocket")) == []


@pytest.mark.parametrize("source", ["photo", "low-texture", "design"])
def test_copies_are_near_whatever_the_picture_holds(photos, source):
    """Re-encoded (q30-95), resized (25-80%), cropped (1-5%), brightened or darkened by 15%, converted: each
    copy is the original's near duplicate, also for a plain sky with one small subject."""
    picture = {"photo": near_cases._fit(photos["astronaut"]), "low-texture": near_cases.low_texture_scene(200),
               "design": near_cases.design((0.6, 0.5), seed=9)}[source]
    cases = near_cases.copies(picture, source, "copies")
    faces = faces_of(cases)
    original = faces[cases[0].name]
    missed = [case.name for case in cases[1:] if not compare(original, faces[case.name]).same_photograph]
    assert missed == []


def test_faces_stored_before_colour_was_compared_are_made_again():
    made = face(near_cases.design((0.6, 0.5)))
    again = Face.from_bytes(made.to_bytes())
    assert again is not None and np.array_equal(again.luma, made.luma) and np.array_equal(again.chroma, made.chroma)
    old_format = made.profiles.tobytes() + made.luma.tobytes()  # profiles and grey levels only
    assert not old_format.startswith(FACE_MAGIC) and Face.from_bytes(old_format) is None


# The finder, on made-up data


def photo(number: int, print_: str, *, taken: float = 1_600_000_000.0, source: str | None = exif.FILE,
          camera: str = "", fields: int = 0, size: int = 100_000) -> Photo:
    return Photo(number, f"/photos/{number:03}.jpg", 1, size, 0, print_, 640, 480, taken, "ok", None,
                 taken_source=source, camera=camera, metadata_fields=fields)


def finder(photos: list[Photo], pictures: dict[str, Image.Image], **options) -> DuplicateFinder:
    """A finder over photos whose fingerprints name their pictures."""
    signatures = {print_: signature(picture) for print_, picture in pictures.items()}
    faces = {print_: face(picture) for print_, picture in pictures.items()}
    return DuplicateFinder(photos, signatures, lambda prints: {p: faces[p] for p in prints if p in faces},
                           **options)


def jpeg(picture: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_exact_copies_are_marked_inside_their_near_cluster(photos):
    picture = near_cases._fit(photos["chelsea"])
    pictures = {"original": picture, "smaller": picture.resize((320, 240), Image.LANCZOS)}
    backup, original, smaller = photo(1, "original"), photo(2, "original"), photo(3, "smaller")
    cluster, = finder([backup, original, smaller], pictures).clusters()
    assert cluster.kind is NEAR and cluster.kind == "near" and str(cluster.kind) == "near"
    assert [sorted(member.id for member in group) for group in cluster.exact_copies] == [[1, 2]]
    assert {member.id for member in cluster.exact_set_of(backup)} == {1, 2}
    assert cluster.exact_set_of(smaller) == [smaller]
    assert cluster.why and cluster.keep_reason and "keep" not in cluster.why


def test_a_group_of_exact_copies_alone_is_an_exact_cluster(photos):
    picture = near_cases._fit(photos["rocket"])
    cluster, = finder([photo(1, "rocket"), photo(2, "rocket")], {"rocket": picture}).clusters()
    assert cluster.kind is EXACT and cluster.why == "same bytes" and len(cluster.exact_copies) == 1


def test_files_of_one_fingerprint_that_differ_are_split(photos):
    """The caller re-reads groups of one fingerprint: an older library's partial fingerprints can collide."""
    picture = near_cases._fit(photos["rocket"])
    first, second = photo(1, "rocket"), photo(2, "rocket")
    found = finder([first, second], {"rocket": picture},
                   same_bytes=lambda group: [[member] for member in group]).clusters()
    assert [cluster.kind for cluster in found] != [Kind.EXACT]


def test_camera_times_that_differ_mean_different_shots(photos):
    """A copy keeps its camera's DateTimeOriginal; two shots with two camera times are never one picture. An
    editor's DateTime (rewritten on save) says nothing of the moment."""
    picture = near_cases._fit(photos["coffee"])
    pictures = {"a": picture, "b": jpeg(picture, 70)}
    by_camera = [photo(1, "a", taken=100.0, source=exif.ORIGINAL, camera="X"),
                 photo(2, "b", taken=100.5, source=exif.ORIGINAL, camera="X")]
    kinds = [cluster.kind for cluster in finder(by_camera, pictures).clusters()]
    assert NEAR not in kinds
    by_editor = [photo(1, "a", taken=100.0, source=exif.MODIFIED), photo(2, "b", taken=5000.0, source=exif.MODIFIED)]
    assert [cluster.kind for cluster in finder(by_editor, pictures).clusters()] == [NEAR]
    same_moment = [photo(1, "a", taken=100.0, source=exif.ORIGINAL, camera="X"),
                   photo(2, "b", taken=100.0, source=exif.DIGITIZED, camera="X")]
    assert [cluster.kind for cluster in finder(same_moment, pictures).clusters()] == [NEAR]


def test_a_colour_edit_is_offered_as_similar_never_near(photos):
    cases = near_cases.colour_edits("chelsea", near_cases._fit(photos["chelsea"]))
    pictures = {case.name: as_stored(case) for case in cases[:4]}  # original, black and white, sepia, hue
    found = finder([photo(number, name) for number, name in enumerate(pictures, 1)], pictures).clusters()
    assert [cluster.kind for cluster in found] == [SIMILAR]
    assert len(found[0].members) == len(pictures) and found[0].exact_copies == []


def test_the_keeper_has_the_richest_metadata_when_all_else_is_equal(photos):
    picture = near_cases._fit(photos["rocket"])
    pictures = {"a": picture, "b": jpeg(picture, 95)}
    plain, rich = photo(1, "a"), photo(2, "b", fields=12)
    cluster, = finder([plain, rich], pictures).clusters()
    assert cluster.keep.id == 2 and cluster.keep_reason == "richest metadata"


def test_a_library_whose_faces_predate_colour_compares_with_faces_made_again(tmp_path, photos):
    """Faces stored by an older photosort (grey levels only) are made again from the thumbnails when first
    needed, kept, and compared in colour: the old library's colour edit is no longer a near duplicate."""
    from photosort.core.decode import thumbnail_path
    from photosort.core.library import Library

    picture = near_cases._fit(photos["coffee"])
    pictures = {"a" * 32: picture, "b" * 32: jpeg(picture, 60),
                "c" * 32: as_stored(near_cases.colour_edits("coffee", picture)[2])}  # sepia
    with Library(tmp_path / "library") as library:
        library.set_model("none")
        folder = library.catalog.add_folder(tmp_path)
        for number, (print_, shown) in enumerate(pictures.items()):
            photo_id = library.catalog.add_photo(str(tmp_path / f"{number}.jpg"), folder.id, 1000 + number, 0, print_)
            library.catalog.set_decoded(photo_id, *shown.size, 1_600_000_000.0 + number)
            thumbnail = thumbnail_path(library.thumbnails, print_)
            thumbnail.parent.mkdir(parents=True, exist_ok=True)
            shown.save(thumbnail, quality=90)
            made = face(shown)
            old_face = made.profiles.tobytes() + made.luma.tobytes()
            library.vectors.db.execute("INSERT INTO signatures (fingerprint, signature, face) VALUES (?, ?, ?)",
                                       (print_, signature(shown).tobytes(), old_face))
        found = library.duplicates()
        assert [(cluster.kind, sorted(member.fingerprint[0] for member in cluster.members))
                for cluster in found if cluster.kind != SIMILAR] == [(NEAR, ["a", "b"])]
        assert set(library.vectors.faces(list(pictures))) == set(pictures)  # made again, and kept


@pytest.mark.parametrize("factor", [0.65, 0.7, 1.45, 1.6])
def test_brightness_changed_by_a_third_is_an_edit_of_tone_not_a_copy(photos, factor):
    """Brightened or darkened by 15% is a copy (and two such copies, one each way, are copies of each other:
    a gain of 1.35); by a third or more it is an edit a person made."""
    from PIL import ImageEnhance

    picture = near_cases._fit(photos["chelsea"])
    original, edited = face(jpeg(picture, 92)), face(jpeg(ImageEnhance.Brightness(picture).enhance(factor), 92))
    likeness = compare(original, edited)
    assert not likeness.same_photograph
    assert likeness.correlation >= SIMILAR_CORRELATION  # offered as similar


def test_animations_that_share_their_first_frame_are_not_the_same_pixels(tmp_path):
    from PIL import ImageDraw

    from photosort.core.dupe_inputs import same_pixels

    def animation(name: str, colours: list[str]) -> Photo:
        frames = [Image.new("RGB", (120, 120), "white") for _ in colours]
        for number, (frame, colour) in enumerate(zip(frames, colours, strict=True)):
            ImageDraw.Draw(frame).ellipse((10 + 30 * number, 40, 50 + 30 * number, 80), fill=colour)
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=100, loop=0)
        return Photo(len(name), str(tmp_path / name), 1, 0, 0, name, 120, 120, None, "ok", None)

    first, other = animation("a.gif", ["red", "red", "red"]), animation("b.gif", ["red", "blue", "green"])
    same = animation("c.gif", ["red", "red", "red"])
    assert not same_pixels(first, other)
    assert same_pixels(first, same)


def test_the_keep_reason_says_file_date_when_no_camera_wrote_one(photos):
    picture = near_cases._fit(photos["rocket"])
    older = photo(1, "a", taken=100.0, source=exif.FILE)
    newer = photo(2, "a", taken=200.0, source=exif.FILE)
    cluster, = finder([newer, older], {"a": picture}).clusters()
    assert cluster.keep.id == 1 and cluster.keep_reason == "oldest file"


def test_a_long_burst_is_offered_in_parts():
    """Thirty frames one camera took within two seconds: all offered as similar, in clusters a person can
    review (at most MAX_SIMILAR pictures each), none of them near."""
    from photosort.core.dupes import MAX_SIMILAR

    pictures = {f"{number:032x}": near_cases.shape_picture(
        "red", (128, 128, 128), [(0.3 + number * 0.03, 0.5, 0.1)]) for number in range(30)}
    frames = [photo(number, print_, taken=1000.0 + number * 0.05, source=exif.ORIGINAL, camera="X")
              for number, print_ in enumerate(pictures)]
    found = finder(frames, pictures).clusters()
    assert {cluster.kind for cluster in found} == {SIMILAR}
    assert max(len(cluster.members) for cluster in found) <= MAX_SIMILAR
    assert sum(len(cluster.members) for cluster in found) == 30
