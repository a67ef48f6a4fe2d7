"""Library scale, through the command line as a user meets it:

- startup: a fresh `photosort search` process on a 100,000-photo library (catalog, vectors and a saved
  index), the text tower's weights read, until the results are printed (benchmarks/bench_query.py measures
  this side by side with the torch path, phase by phase);
- a whole text query (encoding included) in a warm process, at 100,000 photos;
- re-running `photosort index` over 10,000 unchanged photos (stat only), indexed with the bundled tiny model.

The model is a random ViT-B-32-256 in safetensors, the recommended model's shape and format. The library's
rows and vectors are synthetic (clustered unit vectors), written through the engine's own catalog and store.

    python benchmarks/bench_library.py
    python benchmarks/bench_library.py --photos 300 --rescan 20 --shape small --repeats 1   # a quick run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_clip import SHAPES  # noqa: E402
from benchmarks.bench_search import clustered_vectors  # noqa: E402
from photosort.core.library import Library  # noqa: E402
from photosort.paths import bundled_models_dir  # noqa: E402
from tests import reference  # noqa: E402

QUERIES = ("kids on a beach at sunset", "a dog in the snow", "receipts", "birthday cake candles",
           "mountain lake at dawn", "my passport", "red car", "grandma's garden")


def write_checkpoint(path: Path, shape: str) -> None:
    from safetensors.torch import save_file

    state = reference.random_state_dict(SHAPES[shape], seed=0)
    save_file({key: value.contiguous() for key, value in state.items()}, path)


FILE_TIME_NS = 1_700_000_000 * 10**9  # the modification time of every synthetic photo's file


def synthetic_library(folder: Path, photos: Path, model: str, count: int, dim: int, with_files: bool = False) -> None:
    """A library of `count` photos with vectors, as indexing would leave it, and its saved index. `with_files`:
    each photo has a one-byte file as recorded, so that a scan (the app's, as it starts) finds nothing changed."""
    vectors = clustered_vectors(count, seed=1, dim=dim)
    size, mtime_ns = (1, FILE_TIME_NS) if with_files else (1000, 1)
    if with_files:
        photos.mkdir(parents=True, exist_ok=True)
        for number in range(count):
            path = photos / f"{number:06}.jpg"
            path.write_bytes(b"x")
            os.utime(path, ns=(FILE_TIME_NS, FILE_TIME_NS))
    with Library(folder) as library:
        library.set_model(model)
        (catalogue_folder,) = library.add_folders([photos])
        catalog = library.catalog
        with catalog.transaction():
            catalog.db.executemany(
                "INSERT INTO photos (path, folder_id, size, mtime_ns, fingerprint, state) VALUES (?, ?, ?, ?, ?, 'ok')",
                ((f"{number:06}.jpg", catalogue_folder.id, size, mtime_ns, f"{number:032x}")  # within the folder
                 for number in range(count)))
            library.vectors.put(model, ((f"{number:032x}", vectors[number]) for number in range(count)))
        library.index()  # built now and saved on close, as after an indexing run


def timed_process(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "photosort", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--rescan", type=int, default=10_000)
    parser.add_argument("--shape", choices=list(SHAPES), default="ViT-B-32-256")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes, and re-runs of the index")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        model = work / "random.safetensors"
        write_checkpoint(model, args.shape)
        (work / "photos").mkdir()
        started = time.perf_counter()
        synthetic_library(work / "library", work / "photos", str(model), args.photos, SHAPES[args.shape]["embed_dim"])
        print(f"built a {args.photos:,}-photo library in {time.perf_counter() - started:.0f} s")

        runs = [timed_process("--library", str(work / "library"), "search", QUERIES[run % len(QUERIES)], "-k", "20")
                for run in range(args.repeats)]  # each a new query: none is answered from the query cache
        print(f"startup + first query, fresh process: best {min(runs):.2f} s, worst {max(runs):.2f} s (budget 1 s)")

        from photosort.cli.library import query_encoder

        with Library(work / "library") as library:
            encoder = query_encoder(str(model))  # what `photosort search` encodes with: the numpy text tower
            library.query_cache.get = lambda *args: None  # each query encoded, not read back from the last run
            library.search(encoder, "warm up")
            times = []
            for query in QUERIES * 3:
                started = time.perf_counter()
                library.search(encoder, query, k=20)
                times.append(time.perf_counter() - started)
        print(f"whole text query at {args.photos:,} photos (encode + search + catalog): median "
              f"{1000 * float(np.median(times)):.0f} ms, worst {1000 * max(times):.0f} ms (budget 100 ms)")

        rescan_folder = work / "many"
        rescan_folder.mkdir()
        rng = np.random.default_rng(0)
        for number in range(args.rescan):  # small distinct JPEGs, indexed with the bundled tiny model
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
            Image.fromarray(pixels).save(rescan_folder / f"{number:05}.jpg", quality=80)
        library = str(work / "rescan-library")
        tiny = str(bundled_models_dir() / "tiny-shapes.pt")
        first = timed_process("--library", library, "index", str(rescan_folder), "--model", tiny)
        rerun = [timed_process("--library", library, "index", str(rescan_folder)) for _ in range(args.repeats)]
        print(f"index over {args.rescan:,} new photos: {first:.1f} s; re-run with none changed: best "
              f"{min(rerun):.2f} s, worst {max(rerun):.2f} s (whole process)")


if __name__ == "__main__":
    main()
