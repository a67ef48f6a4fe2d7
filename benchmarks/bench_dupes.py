"""Duplicate clustering at library scale: `Library.duplicates()` on 100,000 photos, against a 60 s budget.

The library is synthetic where it can be and real where it matters. 8% of the photos (8,000 of 100,000) are
cut from real photographs (scikit-image's samples, plus the large photos of benchmarks/fetch_wallpapers.sh when
present): tiles of 2x2 to 5x5 grids and turned tiles, so that many share a source's colours and textures
without showing the same thing, the hard case for a perceptual search (tiles of plain sky are near duplicates
of each other, and are found as such). 1% of the photos are near copies of those (re-encoded, resized,
brightened or cropped), 0.5% burst twins (a close CLIP vector, a shifted view). The other photos have
signatures and CLIP vectors drawn at random (clustered, as real CLIP vectors are). Thumbnails are real JPEGs,
as the library writes them. The baseline is the candidate search of the all-pairs tools (dupeGuru, czkawka
without a BK-tree): every pair's 64-bit perceptual hash compared, numpy's popcount doing the work.

    python benchmarks/bench_dupes.py --size 100000
    python benchmarks/bench_dupes.py --size 400 --work /tmp/dupes   # a quick run
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photosort.core import exif  # noqa: E402
from photosort.core.decode import THUMBNAIL_SIZE, thumbnail_path  # noqa: E402
from photosort.core.library import Library  # noqa: E402
from photosort.core.likeness import SIGNATURE_FREQUENCIES, face, signature  # noqa: E402
from tests.real_photos import photographs  # noqa: E402

DIM = 512
REAL_CROPS = 0.08  # of the photos
NEAR_COPIES = 0.01
BURSTS = 0.005
BUDGET_S = 60.0


def sources(wallpapers: Path) -> list[Image.Image]:
    pictures = list(photographs().values())
    for path in sorted(wallpapers.glob("*.jpg")):
        with Image.open(path) as image:
            image.draft("RGB", (1024, 1024))
            pictures.append(image.convert("RGB"))
    return pictures


def tiles(pictures: list[Image.Image]):
    """Distinct pictures cut from the sources: grid tiles, then the same tiles turned a quarter."""
    turns = (None, Image.Transpose.ROTATE_90)
    for turn in turns:
        for grid in (2, 3, 4, 5):
            for picture in pictures:
                width, height = picture.size
                for row in range(grid):
                    for column in range(grid):
                        tile = picture.crop((column * width // grid, row * height // grid,
                                             (column + 1) * width // grid, (row + 1) * height // grid))
                        tile.thumbnail((2 * THUMBNAIL_SIZE, 2 * THUMBNAIL_SIZE))  # twice its thumbnail's size
                        yield tile if turn is None else tile.transpose(turn)


def shifted_view(picture: Image.Image, rng: random.Random) -> Image.Image:
    """A burst twin: the camera moved by a tenth of the frame."""
    width, height = picture.size
    dx, dy = int(width * rng.uniform(0.08, 0.12)), int(height * rng.uniform(0.08, 0.12))
    return picture.crop((dx, dy, width, height)).resize(picture.size)


def edited(picture: Image.Image, rng: random.Random) -> Image.Image:
    width, height = picture.size
    kind = rng.randrange(4)
    if kind == 0:
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=55)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    if kind == 1:
        return picture.resize((width // 2, height // 2), Image.LANCZOS)
    if kind == 2:
        return ImageEnhance.Brightness(picture).enhance(1.15)
    return picture.crop((int(width * 0.04), 0, width, int(height * 0.96)))


def thumbnail(picture: Image.Image):
    """The thumbnail the library would write, its signature and its face."""
    small = picture.copy()
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=85)
    return buffer.getvalue(), signature(small), face(small)


def build(folder: Path, size: int, wallpapers: Path, seed: int = 1) -> list[tuple[int, int]]:
    """Write the library; return the planted near pairs (photo ids)."""
    rng, numbers = random.Random(seed), np.random.default_rng(seed)
    shutil.rmtree(folder, ignore_errors=True)
    photos_dir = folder / "photos"
    photos_dir.mkdir(parents=True)
    pictures = sources(wallpapers)
    real_crops, near_copies, bursts = (round(size * share) for share in (REAL_CROPS, NEAR_COPIES, BURSTS))
    centres = numbers.standard_normal((max(1, size // 300), DIM)).astype(np.float32)
    vectors = centres[numbers.integers(0, len(centres), size)] + numbers.standard_normal((size, DIM)).astype(
        np.float32) * (0.9 / np.sqrt(DIM))
    signature_length = SIGNATURE_FREQUENCIES ** 2 - 1
    signatures = numbers.standard_normal((size, signature_length)).astype(np.float32)
    thumbnails: dict[int, bytes] = {}
    faces = {}
    near_pairs = []
    crops = {}
    cut = tiles(pictures)
    for row in range(real_crops):
        crop = next(cut)
        if row < near_copies + bursts:
            crops[row] = crop  # copies and twins are made of these
        thumbnails[row], signatures[row], faces[row] = thumbnail(crop)
    for number in range(near_copies):
        original, copy = number, real_crops + number
        thumbnails[copy], signatures[copy], faces[copy] = thumbnail(edited(crops[original], rng))
        vectors[copy] = vectors[original] + numbers.standard_normal(DIM).astype(np.float32) * 0.05 / np.sqrt(DIM)
        near_pairs.append((original, copy))
    for number in range(bursts):
        original, twin = near_copies + number, real_crops + near_copies + number
        vectors[twin] = vectors[original] + numbers.standard_normal(DIM).astype(np.float32) * 0.3 / np.sqrt(DIM)
        thumbnails[twin], signatures[twin], faces[twin] = thumbnail(shifted_view(crops[original], rng))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    drawn = np.ones(size, bool)
    drawn[list(faces)] = False
    signatures[drawn] /= np.linalg.norm(signatures[drawn], axis=1, keepdims=True)  # the real ones are already
    blank = face(Image.new("RGB", (64, 64), (128, 128, 128)))  # drawn photos' faces are never looked at
    with Library(folder / "library") as library:
        library.set_model("synthetic")
        catalog = library.catalog
        with catalog.transaction():
            folder_row = catalog.add_folder(photos_dir.resolve())
            ids = []
            for row in range(size):
                print_ = f"{row:032x}"
                photo_id = catalog.add_photo(str(photos_dir / f"{row:06}.jpg"), folder_row.id,
                                             rng.randrange(200_000, 8_000_000), 0, print_)
                catalog.set_decoded(photo_id, 4000, 3000, 1_600_000_000.0 + row * 60, exif.NO_EXIF)
                ids.append(photo_id)
            library.vectors.put("synthetic", ((f"{row:032x}", vectors[row]) for row in range(size)))
            library.vectors.put_signatures((f"{row:032x}", signatures[row], faces.get(row, blank))
                                           for row in range(size))
        for row, data in thumbnails.items():
            path = thumbnail_path(library.thumbnails, f"{row:032x}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        library.index(DIM)  # built here, as indexing would have; saved on close
    return [(ids[a], ids[b]) for a, b in near_pairs]


def baseline_all_pairs(size: int, seed: int = 2) -> float:
    """Seconds to compare every pair of 64-bit hashes (the candidate search alone)."""
    hashes = np.random.default_rng(seed).integers(0, 2**63, size, dtype=np.int64).view(np.uint64)
    started = time.perf_counter()
    found = 0
    for start in range(0, size, 2048):
        distances = np.bitwise_count(hashes[start:start + 2048, None] ^ hashes[None, :])
        found += int(np.count_nonzero(distances <= 10))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/photosort-bench-dupes"))
    parser.add_argument("--reuse", action="store_true", help="time the library built by an earlier run")
    parser.add_argument("--wallpapers", type=Path, default=Path("/tmp/wallpapers"),
                        help="large photos to cut from too (benchmarks/fetch_wallpapers.sh), when there")
    args = parser.parse_args()
    folder = args.work / f"n{args.size}"
    if args.reuse and (folder / "planted.json").exists():
        planted = [tuple(pair) for pair in json.loads((folder / "planted.json").read_text())]
    else:
        started = time.perf_counter()
        planted = build(folder, args.size, args.wallpapers)
        (folder / "planted.json").write_text(json.dumps(planted))
        print(f"built a {args.size}-photo library in {time.perf_counter() - started:.0f} s")

    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - last[0]
        last[0] = now
        if stage == "comparing look-alikes":
            checked[0] = total

    checked = [0]

    started = time.perf_counter()
    with Library(folder / "library") as library:
        clusters = library.duplicates(on_progress=on_progress)
    elapsed = time.perf_counter() - started
    together = {frozenset(photo.id for photo in cluster.members) for cluster in clusters if cluster.kind in
                ("exact", "near")}
    found = sum(any(a in group and b in group for group in together) for a, b in planted)
    kinds = {kind: sum(cluster.kind == kind for cluster in clusters) for kind in ("exact", "near", "similar")}
    baseline = baseline_all_pairs(args.size)
    print(f"photos: {args.size}   clusters: {kinds}   planted near pairs found: {found} of {len(planted)}   "
          f"look-alike pairs checked: {checked[0]}")
    print(f"{'':34}{'seconds':>10}")
    print(f"{'photosort dupes (all tiers)':34}{elapsed:10.1f}   budget {BUDGET_S:.0f} s")
    for stage, seconds in stages.items():
        print(f"{'  ' + stage:34}{seconds:10.1f}")
    print(f"{'all-pairs 64-bit hash, candidates':34}{baseline:10.1f}   (baseline: the search alone)")


if __name__ == "__main__":
    main()
