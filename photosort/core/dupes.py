"""Duplicate clusters in three tiers, each with a suggested photo to keep.

* exact: the same bytes (same whole-file fingerprint), or the same decoded pixels.
* near: one picture re-encoded, resized, cropped by a few percent, brightened a little or converted, with
  the same colours and look: perceptual signatures propose candidates, `likeness.compare` confirms them
  (colour, where the content sits, and stronger evidence for pictures with little in them). No semantic
  model is involved. Near clusters are what `--trash` removes by default, so a person must lose nothing.
* similar: different pictures of one moment or scene, offered but never trashed by default: burst frames,
  reframings, edits of colour or tone (close CLIP vectors with the same composition; pictures that align
  closely without being the same picture; shots one camera took within two seconds). Shots whose cameras
  wrote different capture times are never near duplicates, however alike they look.

The finder works on data: the catalog's photos with their capture facts (read once, at index time, by
`exif`), signatures, faces and vectors. Reading files is its caller's (see `same_bytes`, `same_pixels`).

Clusters grow by complete linkage: two groups merge only when every photo of one is linked to every photo of
the other, so a chain a~b~c never puts a and c together when they are unrelated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
from .catalog import Photo
from .exif import CAMERA_SOURCES
from .likeness import MIN_SHARED, NEAR_MIN_CORRELATION, NOT_ALIKE, Face, Likeness, compare_many



class Kind(str, Enum):
    """What a cluster's photos are to each other. A str, so it prints and serialises as its value."""

    EXACT = "exact"  # bit-for-bit the same file, or the same decoded pixels
    NEAR = "near"  # one picture: re-encoded, resized, lightly cropped, slightly brightened, converted
    SIMILAR = "similar"  # different pictures of one moment or scene: offered, never trashed by default

    def __str__(self) -> str:
        return self.value


EXACT, NEAR, SIMILAR = Kind.EXACT, Kind.NEAR, Kind.SIMILAR
KINDS = tuple(kind.value for kind in Kind)
NEAR_WHY = "copies of one picture: re-encoded, resized, lightly cropped or brightened"
SIMILAR_WHY = "different pictures of one moment or scene: bursts, reframings, edits of colour or tone"

NEIGHBOURS = 6  # candidates looked at per photo for similar shots
NEAR_NEIGHBOURS = 3  # and for near copies (a photograph's copies sit closest; linkage checks the rest)
CHECK_CHUNK = 8192  # candidate pairs handed to the pixel check at a time (between progress reports)
# Signature cosine for a near-duplicate candidate: copies cropped by 5% went down to 0.59 on textures (brick,
# gravel); distinct photos have a median near 0. The pixel check decides, so this only bounds its work.
NEAR_CANDIDATE = 0.5
# Above this many photos, the signatures' nearest neighbours come from an HNSW graph instead of an exact
# all-pairs product (20,000 photos took 7 s exactly, most of it picking each row's nearest).
EXACT_NEIGHBOURS_LIMIT = 5_000
# Near copies sit very close: a light graph finds them. Lighter still (24 and 16) saved 5 s of 12 at 100,000
# photos but lost 4% of the planted copies (bench_dupes.py).
SIGNATURE_GRAPH_LINKS, SIGNATURE_GRAPH_EFFORT, SIGNATURE_QUERY_EFFORT = 8, 40, 40
# CLIP cosine between shots of one moment. Models that know photographs put burst frames above ~0.9.
SIMILAR_COSINE = 0.9
# The same composition: burst frames' signatures stay above this, unrelated photos rarely reach it.
SIMILAR_COMPOSITION = 0.6
# Aligned pictures this correlated, though not the same photograph, are near-identical frames.
SIMILAR_CORRELATION = 0.75
# One camera's shots this close in time are one moment: a burst, or a few quick frames of one scene.
BURST_SECONDS = 2.0
# Within a near cluster, every pair must pass the check with this much slack on the worst block (in
# tolerances: a copy's is at most 1; different pictures of the hard-negative set, tests/near_cases.py, sat at
# 1.36 and above).
LINK_SLACK = 1.25
LINK_BATCH = 32  # cross pairs checked at a time when two groups might merge: one batch, or an early no
# A similar cluster is a moment or a picture's versions, reviewed card by card: beyond this many pictures it is
# offered in parts. (Every merge checks every cross pair, so groups of look-alike pictures, plain skies say,
# grew quadratically: 100,000 photos took 82 s with no limit, 57 s with this one.)
MAX_SIMILAR = 24
FIRST_LINK_BATCH = 4  # of the similar tier, whose refusals mostly come from its least alike pairs
# A close call (worst region under 1.6 times the limit, pictures still correlated) gets a second look: the
# other way round (the alignment resamples one picture onto the other) and from the thumbnails, whose detail
# the stored 64-pixel faces lack (brick walls and star fields cropped by 3% needed it).
SECOND_LOOK_BELOW = 2.5  # worst block, in tolerances
SECOND_LOOK_CORRELATION = 0.6  # likeness.MIN_JUDGED_CORRELATION: below it, no errors are measured

RAW_SUFFIXES = frozenset({".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw"})
HIGH_EFFICIENCY_SUFFIXES = frozenset({".heic", ".heif", ".avif"})
LOSSLESS_SUFFIXES = frozenset({".png", ".tif", ".tiff"})


@dataclass
class Cluster:
    kind: Kind
    keep: Photo
    members: list[Photo]  # keep included, best first
    why: str  # what makes these photos one cluster
    keep_reason: str  # why `keep` is the suggested keeper ("your choice" once a person picks)
    # Sets (two or more) of members that are bit-for-bit the same file, keeper's set first when it has one.
    exact_copies: list[list[Photo]] = field(default_factory=list)

    def exact_set_of(self, photo: Photo) -> list[Photo]:
        """The members byte-identical to `photo`, itself included (just itself when it has no exact copy)."""
        return next((group for group in self.exact_copies if any(member.id == photo.id for member in group)),
                    [photo])

    def copy_letters(self) -> dict[int, str]:
        """Photo id -> a name for its set of byte-identical files ("A", "B", ... "Z", "AA"), for the members
        that have one: the CLI's listing and the app's cards mark the sets alike."""
        return {photo.id: _letters(number) for number, group in enumerate(self.exact_copies) for photo in group}


def _letters(number: int) -> str:
    letters = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


# Who proposes the look-alike candidates: (signatures [n, 63], their fingerprints, k, minimum score) -> pairs of
# rows (i < j) among each row's k nearest scoring at least `minimum`, with (score, nearest rank). By default
# `nearest_pairs`, here; a library in PostgreSQL asks its server (postgres.PgVectorStore.nearest_looks).
Nearest = Callable[[np.ndarray, list[str], int, float], dict[tuple[int, int], tuple[float, int]]]


class DuplicateFinder:
    """The clusters among `photos` (readable ones with a fingerprint), from data alone.

    `signatures` maps fingerprints to perceptual signatures; `faces(fingerprints)` returns those photos'
    faces, `vectors(ids)` their CLIP vectors (both asked only for candidates); `detail(photo)` makes a detailed
    face for a second look. The photos' capture facts (time, its source, camera, EXIF fields) come from the
    catalog. Files are the caller's: `same_bytes(group)` splits photos of one fingerprint into truly identical
    files (a library of older, partial fingerprints re-hashes them; by default the fingerprint is the whole
    file's hash), `same_pixels(a, b)` says whether two files decode to the same pixels. Photos under a
    `reference` folder are preferred as keepers.
    """

    def __init__(self, photos: Iterable[Photo], signatures: dict[str, np.ndarray],
                 faces: Callable[[list[str]], dict[str, Face]],
                 vectors: Callable[[list[int]], dict[int, np.ndarray]] = lambda ids: {}, *,
                 detail: Callable[[Photo], Face | None] = lambda photo: None,
                 same_bytes: Callable[[list[Photo]], list[list[Photo]]] = lambda group: [group],
                 same_pixels: Callable[[Photo, Photo], bool] = lambda a, b: False,
                 reference: Sequence[Path] = (), on_progress: Callable[[str, int, int], None] | None = None,
                 nearest: Nearest | None = None):
        self.photos = [photo for photo in photos if photo.fingerprint]
        self.signatures, self.load_vectors = signatures, vectors
        self.nearest = nearest or (lambda matrix, prints, k, minimum: nearest_pairs(matrix, k, minimum))
        self.vectors: dict[int, np.ndarray | None] = {}
        self.load_faces, self.load_detail = faces, detail
        self.split_bytes, self.pixels_equal = same_bytes, same_pixels
        self.faces: dict[str, Face] = {}
        self.details: dict[int, Face | None] = {}
        self.reference = [Path(folder) for folder in reference]
        self.on_progress = on_progress or (lambda stage, done, total: None)
        self._likeness: dict[tuple[str, str], Likeness] = {}
        self._first_looks: dict[tuple[str, str], Likeness] = {}
        self._correlation: dict[tuple[str, str], float] = {}  # grey-only checks of the similar tier
        self._alike: dict[tuple[int, int], float] = {}  # look-alike photos (ids) and their signature cosine
        self._copies: dict[int, list[Photo]] = {}  # a similar-tier unit's keeper id -> the photos it stands for
        self._bytes_group: dict[int, int] = {}  # photo id -> its group of byte-identical files

    def clusters(self) -> list[Cluster]:
        groups = self._same_bytes()
        self.on_progress("comparing bytes", 1, 1)
        near, frames = self._look_alike(groups)
        groups, near, frames = self._same_pixels(groups, near, frames)
        found, units, unit_of = self._exact_and_near(groups, near)
        return found + self._similar(units, unit_of, frames)

    # Exact and near clusters

    def _exact_and_near(self, groups: list[list[Photo]], near: dict[tuple[int, int], float]
                        ) -> tuple[list[Cluster], list[Photo], dict[int, int]]:
        """The exact and near clusters; and the units the similar tier compares (a near cluster, or a group of
        exact copies, stands as its keeper), with the unit of each group."""
        keepers = [self._best(group) for group in groups]  # a group is compared through its best copy
        near_clusters = _complete_linkage(sorted(near, key=near.__getitem__),
                                          lambda first, second: self._one_picture(keepers, near, first, second))
        self.on_progress("grouping near duplicates", 1, 1)
        # Each photo is in one exact-or-near cluster at most: exact copies of a picture that also has near
        # copies join its near cluster (marked there as exact copies), so no cluster's keeper is another
        # cluster's photo to remove.
        found: list[Cluster] = []
        units: list[Photo] = []
        unit_of: dict[int, int] = {}
        for members in near_clusters:
            photos = [photo for i in members for photo in groups[i]]
            found.append(self._cluster(NEAR, photos, NEAR_WHY))
            for i in members:
                unit_of[i] = len(units)
            units.append(found[-1].keep)
            self._copies[units[-1].id] = photos
        for i, group in enumerate(groups):
            if i in unit_of:
                continue
            if len(group) > 1:
                found.append(self._cluster(EXACT, group, "same pixels" if len({photo.fingerprint for photo in group})
                                           > 1 else "same bytes"))
            unit_of[i] = len(units)
            units.append(keepers[i])
            self._copies[keepers[i].id] = group
        return found, units, unit_of

    def _one_picture(self, keepers: list[Photo], near: dict[tuple[int, int], float], first: list[int],
                     second: list[int]) -> bool:
        """May two groups of copies merge? Every cross pair is a confirmed pair, or one that misses by little:
        two copies cropped from opposite sides differ more from each other than each from the original;
        different pictures stay far above the slack."""
        unknown = []
        for a, b in ((a, b) for a in first for b in second):
            if (min(a, b), max(a, b)) in near:
                continue
            if self._composition(keepers[a], keepers[b]) < NEAR_CANDIDATE or \
                    self._different_shots(keepers[a], keepers[b]):
                return False  # copies of one picture have close signatures, and one capture time
            unknown.append((keepers[a], keepers[b]))
        for start in range(0, len(unknown), LINK_BATCH):  # batches, stopping at the first failure
            chunk = unknown[start:start + LINK_BATCH]
            self._compare_all(chunk)
            if not all(likeness.correlation >= NEAR_MIN_CORRELATION and likeness.shared >= MIN_SHARED
                       and likeness.region_error <= LINK_SLACK for likeness in (self._compare(a, b) for a, b in chunk)):
                return False
        return True

    # Similar clusters

    def _similar(self, units: list[Photo], unit_of: dict[int, int], frames: dict[tuple[int, int], float]
                 ) -> list[Cluster]:
        candidates = self._similar_candidates(units)
        for (a, b), correlation in frames.items():
            pair = (min(unit_of[a], unit_of[b]), max(unit_of[a], unit_of[b]))
            if pair[0] != pair[1]:
                # Aligned frames are the strongest evidence (above any cosine), the most alike first: a burst's
                # two closest frames pair up before a third, less alike, can keep them apart.
                candidates[pair] = max(candidates.get(pair, 0.0), 1.0 + correlation)
        # Candidates are judged without a new pixel check (frames were found by the look-alike pass); only
        # the few pairs complete linkage asks about get one.
        strongest_first = sorted((pair for pair in candidates
                                  if candidates[pair] > 1.0 or self._one_moment(units[pair[0]], units[pair[1]])),
                                 key=lambda pair: -candidates[pair])
        self.on_progress("finding similar shots", 1, 1)

        def one_moment(first: list[int], second: list[int]) -> bool:
            if len(first) + len(second) > MAX_SIMILAR:
                return False  # offered in parts
            unknown = []
            for a, b in ((units[a], units[b]) for a in first for b in second):
                if self._one_moment(a, b):
                    continue
                if self._composition(a, b) < SIMILAR_COMPOSITION:
                    return False  # frames of one moment, and edits of one picture, share their composition
                unknown.append((a, b))
            # The least alike by their signatures first, a few at a time: a refusal usually comes early.
            unknown.sort(key=lambda pair: self._composition(*pair))
            starts = [0, FIRST_LINK_BATCH, *range(FIRST_LINK_BATCH + LINK_BATCH, len(unknown), LINK_BATCH)]
            return all(all(correlation >= SIMILAR_CORRELATION for correlation in self._correlations(unknown[start:end]))
                       for start, end in zip(starts, [*starts[1:], len(unknown)], strict=True) if start < end)

        found = [self._cluster(SIMILAR, [units[i] for i in members], SIMILAR_WHY)
                 for members in _complete_linkage(strongest_first, one_moment)]
        self.on_progress("grouping similar shots", 1, 1)
        return found

    # Exact: bytes

    def _same_bytes(self) -> list[list[Photo]]:
        by_fingerprint: dict[str, list[Photo]] = {}
        for photo in self.photos:
            by_fingerprint.setdefault(photo.known_fingerprint, []).append(photo)
        groups = [part for group in by_fingerprint.values()
                  for part in (self.split_bytes(group) if len(group) > 1 else [group])]
        self._bytes_group = {photo.id: number for number, group in enumerate(groups) for photo in group}
        return groups

    # Near: signatures propose, the pixel check confirms

    def _look_alike(self, groups: list[list[Photo]]
                    ) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
        """Pairs of groups that are one picture (with their worst block's error), and pairs that align closely
        without being one picture: frames of one moment, edits of colour or tone (with their correlation)."""
        have = [i for i, group in enumerate(groups) if self.signatures.get(group[0].known_fingerprint) is not None]
        near: dict[tuple[int, int], float] = {}
        frames: dict[tuple[int, int], float] = {}  # pair -> correlation of the aligned pictures
        if len(have) < 2:
            return near, frames
        prints = [groups[i][0].known_fingerprint for i in have]
        matrix = np.stack([self.signatures[print_] for print_ in prints]).astype(np.float32)
        nearest = self.nearest(matrix, prints, NEIGHBOURS, NEAR_CANDIDATE)
        # Kept for the similar tier, which asks CLIP only about photos that look alike.
        self._alike = {(groups[have[a]][0].id, groups[have[b]][0].id): score for (a, b), (score, _) in nearest.items()}
        candidates = [(have[a], have[b]) for (a, b), (_, rank) in nearest.items() if rank < NEAR_NEIGHBOURS]
        self.on_progress("finding look-alikes", 1, 1)
        for start in range(0, len(candidates), CHECK_CHUNK):
            chunk = candidates[start:start + CHECK_CHUNK]
            self._compare_all([(groups[a][0], groups[b][0]) for a, b in chunk])
            for first, second in chunk:
                likeness = self._verify(groups[first][0], groups[second][0])
                if likeness.same_photograph:
                    near[(first, second)] = likeness.region_error
                elif likeness.correlation >= SIMILAR_CORRELATION:
                    frames[(first, second)] = likeness.correlation
            self.on_progress("comparing look-alikes", start + len(chunk), len(candidates))
        return near, frames

    def _verify(self, a: Photo, b: Photo) -> Likeness:
        """The pixel check; photos whose cameras stamped different capture times are different shots."""
        likeness = self._compare(a, b)
        if likeness.same_photograph and self._different_shots(a, b):
            return Likeness(likeness.correlation, likeness.region_error, False)
        return likeness

    def _different_shots(self, a: Photo, b: Photo) -> bool:
        stamp_a, stamp_b = self._stamp(a), self._stamp(b)
        return bool(stamp_a and stamp_b and stamp_a != stamp_b)

    def _compare(self, a: Photo, b: Photo) -> Likeness:
        if _key(a, b) not in self._likeness:
            self._compare_all([(a, b)])
        return self._likeness[_key(a, b)]

    def _first_looks_of(self, pairs: list[tuple[Photo, Photo]]) -> list[Likeness]:
        """The stored faces' verdicts alone (enough to tell near-identical frames from different pictures),
        the missing ones made in one batch."""
        todo = [(a, b) for a, b in pairs if _key(a, b) not in self._likeness and _key(a, b) not in self._first_looks]
        self._first_looks.update(zip((_key(a, b) for a, b in todo), self._stored_looks(todo), strict=True))
        return [self._likeness.get(_key(a, b)) or self._first_looks[_key(a, b)] for a, b in pairs]

    def _correlations(self, pairs: list[tuple[Photo, Photo]]) -> list[float]:
        """How alike each pair's aligned grey levels are (frames of one moment, edits of one picture), from a
        verdict already made or, for the missing ones, a grey-only check in one batch."""
        def known(a: Photo, b: Photo) -> Likeness | None:
            return self._likeness.get(_key(a, b)) or self._first_looks.get(_key(a, b))

        todo = [(a, b) for a, b in pairs if known(a, b) is None and _key(a, b) not in self._correlation]
        self._correlation.update(zip((_key(a, b) for a, b in todo),
                                     (likeness.correlation for likeness in self._stored_looks(todo, colour=False)),
                                     strict=True))
        return [found.correlation if (found := known(a, b)) else self._correlation[_key(a, b)] for a, b in pairs]

    def _stored_looks(self, pairs: list[tuple[Photo, Photo]], colour: bool = True) -> list[Likeness]:
        """The pixel check on the stored faces; a pair missing a face is not alike."""
        faces = self._faces_of([photo for pair in pairs for photo in pair])
        usable = [number for number, (a, b) in enumerate(pairs) if a.fingerprint in faces and b.fingerprint in faces]
        found = [NOT_ALIKE] * len(pairs)
        checked = compare_many([faces[pairs[number][0].known_fingerprint] for number in usable],
                               [faces[pairs[number][1].known_fingerprint] for number in usable], colour)
        for number, likeness in zip(usable, checked, strict=True):
            found[number] = likeness
        return found

    def _faces_of(self, photos: list[Photo]) -> dict[str, Face]:
        wanted = {photo.known_fingerprint for photo in photos if photo.fingerprint not in self.faces}
        if wanted:
            self.faces.update(self.load_faces(sorted(wanted)))
        return self.faces

    def _compare_all(self, pairs: list[tuple[Photo, Photo]]) -> None:
        """The pixel check of many pairs at once, remembered: the stored faces first, then a second look at
        the close calls, from the thumbnails and both ways round (the alignment maps one picture onto the
        other)."""
        todo = [(a, b) for a, b in pairs if _key(a, b) not in self._likeness]
        if not todo:
            return
        found = self._first_looks_of(todo)
        close = [number for number, likeness in enumerate(found) if not likeness.same_photograph
                 and likeness.region_error < SECOND_LOOK_BELOW and likeness.shared >= MIN_SHARED
                 and likeness.correlation >= SECOND_LOOK_CORRELATION]
        looked: dict[int, tuple[Face, Face]] = {}  # the close calls whose two pictures have detailed faces
        for number in close:
            if (detail_a := self._detail(todo[number][0])) and (detail_b := self._detail(todo[number][1])):
                looked[number] = (detail_a, detail_b)
        for first, second in ((0, 1), (1, 0)):
            again = compare_many([details[first] for details in looked.values()],
                                 [details[second] for details in looked.values()]) if looked else []
            for number, likeness in zip(looked, again, strict=True):
                if not found[number].same_photograph:
                    found[number] = min(found[number], likeness, key=lambda result: result.region_error)
        self._likeness.update(zip((_key(a, b) for a, b in todo), found, strict=True))

    def _detail(self, photo: Photo) -> Face | None:
        if photo.id not in self.details:
            self.details[photo.id] = self.load_detail(photo)
        return self.details[photo.id]

    def _stamp(self, photo: Photo) -> tuple[str, float] | None:
        """(camera, capture time to the sub-second) when a camera wrote the time, else None."""
        return (photo.camera or "", photo.taken) if _camera_time(photo) and photo.taken is not None else None

    # Exact: pixels

    def _same_pixels(self, groups: list[list[Photo]], near: dict[tuple[int, int], float],
                     frames: dict[tuple[int, int], float]):
        """Near pairs of equal size whose decoded pixels are equal become one group; pairs are renumbered."""
        parent = list(range(len(groups)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for a, b in near:
            first, second = groups[a][0], groups[b][0]
            if (first.width, first.height) == (second.width, second.height) and root(a) != root(b) \
                    and self.pixels_equal(first, second):
                parent[root(b)] = root(a)
        merged: dict[int, list[Photo]] = {}
        for i, group in enumerate(groups):
            merged.setdefault(root(i), []).extend(group)
        renumber = {old: new for new, old in enumerate(merged)}
        new_groups = list(merged.values())

        def remap(pair: tuple[int, int]) -> tuple[int, int] | None:
            a, b = renumber[root(pair[0])], renumber[root(pair[1])]
            return None if a == b else (min(a, b), max(a, b))

        new_near: dict[tuple[int, int], float] = {}
        for pair, error in near.items():
            if (mapped := remap(pair)) is not None:
                new_near[mapped] = min(error, new_near.get(mapped, error))
        new_frames: dict[tuple[int, int], float] = {}
        for pair, correlation in frames.items():
            if (mapped := remap(pair)) is not None:
                new_frames[mapped] = max(correlation, new_frames.get(mapped, correlation))
        return new_groups, new_near, new_frames

    # Similar: CLIP, frames, capture times

    def _similar_candidates(self, units: list[Photo]) -> dict[tuple[int, int], float]:
        """Pairs of units worth asking `_one_moment` about, with how strongly CLIP relates them: look-alikes
        (shots of one moment share their composition), and one camera's shots moments apart."""
        unit_of = {photo.id: number for number, unit in enumerate(units)
                   for photo in self._copies.get(unit.id, [unit])}
        pairs = {(min(unit_of[a], unit_of[b]), max(unit_of[a], unit_of[b])) for (a, b), score in self._alike.items()
                 if score >= SIMILAR_COMPOSITION and a in unit_of and b in unit_of and unit_of[a] != unit_of[b]}
        self._vectors_of([units[i] for pair in pairs for i in pair])
        candidates = {pair: self._cosine(units[pair[0]], units[pair[1]]) for pair in pairs}
        # Shots taken moments apart: neighbours in capture time, among photos whose time is the camera's.
        times = {i: taken for i, unit in enumerate(units) if (taken := self._camera_taken(unit)) is not None}
        order = sorted(times, key=times.__getitem__)
        for position, i in enumerate(order):
            for j in order[position + 1:position + 1 + NEIGHBOURS]:
                if times[j] - times[i] > BURST_SECONDS:
                    break
                candidates.setdefault((min(i, j), max(i, j)), self._cosine(units[i], units[j]))
        return candidates

    def _vectors_of(self, photos: list[Photo]) -> None:
        wanted = sorted({photo.id for photo in photos if photo.id not in self.vectors})
        if wanted:
            found = self.load_vectors(wanted)
            self.vectors.update((photo_id, found.get(photo_id)) for photo_id in wanted)

    def _cosine(self, a: Photo, b: Photo) -> float:
        self._vectors_of([a, b])
        vector_a, vector_b = self.vectors.get(a.id), self.vectors.get(b.id)
        return float(vector_a @ vector_b) if vector_a is not None and vector_b is not None else 0.0

    def _composition(self, a: Photo, b: Photo) -> float:
        signature_a, signature_b = self.signatures.get(a.known_fingerprint), self.signatures.get(b.known_fingerprint)
        if signature_a is None or signature_b is None:
            return 0.0
        return float(np.dot(signature_a.astype(np.float32), signature_b.astype(np.float32)))

    def _camera_taken(self, unit: Photo) -> float | None:
        """The capture time a camera wrote into one of the photos a unit stands for."""
        return next((photo.taken for photo in self._copies.get(unit.id, [unit]) if _camera_time(photo)), None)

    def _unit_stamp(self, unit: Photo) -> tuple[str, float] | None:
        for photo in self._copies.get(unit.id, [unit]):
            if _camera_time(photo) and (stamp := self._stamp(photo)) is not None:
                return stamp
        return None

    def _one_moment(self, a: Photo, b: Photo) -> bool:
        """Shots of the same moment by CLIP or by the cameras' clocks (pixels are the caller's last resort)."""
        cosine = self._cosine(a, b)
        if cosine >= SIMILAR_COSINE and self._composition(a, b) >= SIMILAR_COMPOSITION:
            return True
        stamp_a, stamp_b = self._unit_stamp(a), self._unit_stamp(b)
        return bool(stamp_a and stamp_b and stamp_a[0] == stamp_b[0] and abs(stamp_a[1] - stamp_b[1]) <= BURST_SECONDS)

    # Keepers

    def _best(self, photos: list[Photo]) -> Photo:
        return min(photos, key=self._keep_rank)

    def _keep_rank(self, photo: Photo) -> tuple:
        """Smaller is better: a reference copy, then resolution, file size, format, metadata, capture time."""
        return (not self._in_reference(photo), -((photo.width or 0) * (photo.height or 0)), -photo.size,
                -_format_preference(photo.path), -self._metadata_richness(photo), photo.taken or float("inf"),
                photo.path)

    def _in_reference(self, photo: Photo) -> bool:
        path = Path(photo.path)
        return any(path.is_relative_to(folder) for folder in self.reference)

    @staticmethod
    def _metadata_richness(photo: Photo) -> int:
        return photo.metadata_fields or 0

    def _cluster(self, kind: Kind, photos: list[Photo], why: str) -> Cluster:
        ranked = sorted(photos, key=self._keep_rank)
        keep = ranked[0]
        by_bytes: dict[int, list[Photo]] = {}
        for photo in ranked:
            by_bytes.setdefault(self._bytes_group.get(photo.id, -photo.id), []).append(photo)
        exact_copies = sorted((group for group in by_bytes.values() if len(group) > 1),
                              key=lambda group: ranked.index(group[0]))
        # Why this one rather than the best other picture: beating its own identical copy says little.
        same_file = {photo.id for photo in by_bytes[self._bytes_group.get(keep.id, -keep.id)]}
        runner_up = next((photo for photo in ranked[1:] if photo.id not in same_file), ranked[1])
        return Cluster(kind, keep, ranked, why, self._why_kept(keep, runner_up), exact_copies)

    def _why_kept(self, keep: Photo, other: Photo) -> str:
        reasons = ("in a reference folder", f"highest resolution ({keep.width}x{keep.height})", "largest file",
                   f"preferred format ({Path(keep.path).suffix.lstrip('.').upper()})", "richest metadata",
                   "oldest capture time" if _camera_time(keep) else "oldest file", "first by name")
        for reason, mine, theirs in zip(reasons, self._keep_rank(keep), self._keep_rank(other), strict=False):
            if mine != theirs:
                return reason
        return "all else equal"


def _key(a: Photo, b: Photo) -> tuple[str, str]:
    """A pair of pictures, whichever comes first: verdicts are remembered by content, so a picture met again
    through another copy (a cluster's keeper rather than its first file) is not compared twice."""
    return min(a.known_fingerprint, b.known_fingerprint), max(a.known_fingerprint, b.known_fingerprint)


def _camera_time(photo: Photo) -> bool:
    """Whether the photo's capture time is one a camera wrote (the catalog falls back to the file's mtime, and
    an editor rewrites EXIF's DateTime on every save)."""
    return photo.taken is not None and photo.taken_source in CAMERA_SOURCES


def _complete_linkage(pairs: Iterable[tuple[int, int]], linked: Callable[[list[int], list[int]], bool]
                      ) -> list[list[int]]:
    """Groups grown from `pairs` (strongest first); two groups merge only if `linked(first, second)` finds
    every cross pair linked.

    A refused merge stays refused (a group only grows, and a larger group has more pairs to fail), so each
    pair of groups is examined once however many links join them."""
    group_of: dict[int, list[int]] = {}
    made: list[list[int]] = []  # every group ever made stays alive, so no id in `refused` is reused
    refused: set[tuple[int, int]] = set()

    def group(member: int) -> list[int]:
        if member not in group_of:
            group_of[member] = [member]
            made.append(group_of[member])
        return group_of[member]

    for a, b in pairs:
        first, second = group(a), group(b)
        if first is second:
            continue
        key = (min(id(first), id(second)), max(id(first), id(second)))
        if key in refused:
            continue
        if linked(first, second):
            first.extend(second)
            for member in first:
                group_of[member] = first
        else:
            refused.add(key)
    unique = {id(group): group for group in group_of.values()}
    return [sorted(group) for group in unique.values() if len(group) > 1]


def nearest_pairs(matrix: np.ndarray, k: int, minimum: float) -> dict[tuple[int, int], tuple[float, int]]:
    """Pairs (i < j) among each row's k nearest rows scoring at least `minimum`, with their score and their
    nearest rank (0: one is the other's nearest): exact for a small library, from an HNSW graph (inner
    product on unit vectors) for a large one."""
    k = min(k, len(matrix) - 1)
    if k <= 0:
        return {}
    if len(matrix) <= EXACT_NEIGHBOURS_LIMIT:
        similarities = matrix @ matrix.T  # [n, n]
        np.fill_diagonal(similarities, -np.inf)
        labels = np.argsort(-similarities, axis=1)[:, :k]
        scores = np.take_along_axis(similarities, labels, axis=1)
    else:
        import hnswlib

        graph = hnswlib.Index(space="ip", dim=matrix.shape[1])
        graph.init_index(max_elements=len(matrix), ef_construction=SIGNATURE_GRAPH_EFFORT, M=SIGNATURE_GRAPH_LINKS)
        graph.add_items(matrix, np.arange(len(matrix)))
        graph.set_ef(max(SIGNATURE_QUERY_EFFORT, k + 1))
        labels, distances = graph.knn_query(matrix, k=k + 1)
        scores = 1.0 - distances
    found: dict[tuple[int, int], tuple[float, int]] = {}
    for row in range(len(matrix)):
        rank = 0
        for other, score in zip(labels[row], scores[row], strict=True):
            if other == row:
                continue
            if score >= minimum:
                pair = (min(row, int(other)), max(row, int(other)))
                found[pair] = (float(score), min(rank, found.get(pair, (0.0, rank))[1]))
            rank += 1
    return found


def _format_preference(path: str) -> int:
    suffix = os.path.splitext(path)[1].lower()
    if suffix in RAW_SUFFIXES:
        return 3
    if suffix in HIGH_EFFICIENCY_SUFFIXES:
        return 2
    return 1 if suffix in LOSSLESS_SUFFIXES else 0
