"""What library integrity costs (issue 12), side by side with what it replaced:

- content keys: the whole-file SHA-256 that scanning now computes for each new or changed file, against the
  old key (the size and both 64 KiB ends), over a folder of photo-sized files (page cache warm, and cold when
  this process may drop the cache);
- a rescan after `touch` on every file (each file hashed again, nothing re-encoded) against a rescan of
  unchanged files (stat only);
- opening a saved index of 100,000 vectors: the CRC-32 check of its files before hnswlib reads them, against
  the load itself.

    python benchmarks/bench_integrity.py [--files 400] [--megabytes 4] [--vectors 100000] [--warm-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_search import clustered_vectors  # noqa: E402
from photosort.core.catalog import SqliteCatalog  # noqa: E402
from photosort.core.decode import fingerprint  # noqa: E402
from photosort.core.index import VectorIndex, checksum  # noqa: E402
from photosort.core.scan import scan  # noqa: E402

ENDS = 64 * 1024


def ends_fingerprint(path: Path, size: int) -> str:
    """The content key before this issue: the size and the first and last 64 KiB (the baseline)."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as file:
        digest.update(file.read(ENDS))
        if size > 2 * ENDS:
            file.seek(-ENDS, os.SEEK_END)
            digest.update(file.read(ENDS))
    return digest.hexdigest()


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def content_keys(folder: Path, files: int, megabytes: int, caches: tuple[str, ...]) -> None:
    rng = np.random.default_rng(0)
    paths = []
    for number in range(files):
        path = folder / f"{number:05}.jpg"
        path.write_bytes(rng.integers(0, 256, megabytes << 20, dtype=np.uint8).tobytes())
        paths.append(path)
    total = files * megabytes
    for cache in caches:
        results = {}
        for name, key in (("ends (before)", ends_fingerprint), ("whole-file SHA-256", fingerprint)):
            if cache == "cold" and not drop_page_cache():
                print("cold cache: cannot drop the page cache here (needs root); skipped")
                return
            results[name] = timed(lambda key=key: [key(path, path.stat().st_size) for path in paths])
        print(f"content keys, {files} files of {megabytes} MB, {cache} cache: " + "; ".join(
            f"{name} {seconds:.2f} s ({total / seconds:,.0f} MB/s)" for name, seconds in results.items()))


def rescans(folder: Path, library: Path) -> None:
    catalog = SqliteCatalog(library / "catalog.sqlite")
    with catalog.transaction():
        catalog.add_folder(folder.resolve())
    first = timed(lambda: scan(catalog))
    unchanged = timed(lambda: scan(catalog))
    for path in folder.iterdir():
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    touched = [None]
    seconds = timed(lambda: touched.__setitem__(0, scan(catalog)))
    catalog.close()
    print(f"scan of new files (hashing with {os.cpu_count()} cores): {first:.2f} s; rescan unchanged: "
          f"{unchanged * 1000:.0f} ms; rescan after touching every file: {seconds:.2f} s "
          f"({touched[0].touched} kept as they were, {touched[0].changed} changed)")


def index_open(folder: Path, count: int) -> None:
    vectors = clustered_vectors(count, seed=1)
    ids = np.arange(1, count + 1, dtype=np.int64)
    index = VectorIndex(folder, "bench", vectors.shape[1], "catalog")
    index.add(ids, vectors)
    index.save(1)
    files = sorted(folder.glob("hnsw-*"))
    size = sum(path.stat().st_size for path in files) / 1e6
    check = min(timed(lambda: [checksum(path) for path in files]) for _ in range(3))
    opened = min(timed(lambda: VectorIndex.open(folder, "bench", vectors.shape[1], ids, lambda _: (ids, vectors),
                                                1, "catalog")) for _ in range(3))
    print(f"index of {count:,} vectors ({size:,.0f} MB on disk): open {opened:.2f} s, of which the checksum "
          f"check {check:.2f} s ({100 * check / opened:.0f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--megabytes", type=int, default=4)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--warm-only", action="store_true",
                        help="no cold-cache figures: they drop the page cache of the whole machine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "photos").mkdir()
        content_keys(work / "photos", args.files, args.megabytes, ("warm",) if args.warm_only else ("warm", "cold"))
        rescans(work / "photos", work / "library")
        index_open(work / "index", args.vectors)


if __name__ == "__main__":
    main()
