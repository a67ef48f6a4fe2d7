"""Vector search at library scale: latency and recall@10 of the HNSW index against exact search, and memory.

Synthetic CLIP-like vectors: unit vectors around a few thousand cluster centres (photos of one trip, one pet,
one document type sit close together), 512 dimensions as ViT-B/32's. Queries are fresh vectors from the
same distribution. Exact search (one matrix product over all vectors) is the baseline, for speed and for
recall. Built indexes are cached under --cache, as a 1,000,000-photo build takes minutes on two cores.

    python benchmarks/bench_search.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photosort.core.index import VectorIndex  # noqa: E402

DIM = 512
PHOTOS_PER_CLUSTER = 300
SPREAD = 0.9  # noise norm relative to the centre's: clusters overlap as real embeddings do
K = 10


def clustered_vectors(count: int, seed: int, dim: int = DIM) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, count // PHOTOS_PER_CLUSTER), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.empty((count, dim), np.float32)
    for start in range(0, count, 100_000):
        stop = min(count, start + 100_000)
        chosen = centres[rng.integers(0, len(centres), stop - start)]
        noise = rng.standard_normal((stop - start, dim)).astype(np.float32) * (SPREAD / np.sqrt(dim))
        block = chosen + noise
        vectors[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(count: int, cache: Path, queries: int) -> None:
    vectors = clustered_vectors(count, seed=count)
    ids = np.arange(1, count + 1, dtype=np.int64)
    folder = cache / f"n{count}"
    before = rss_mb()
    started = time.perf_counter()
    index, state = VectorIndex.open(folder, "synthetic", DIM, ids,
                                    lambda wanted: (ids, vectors) if wanted is None else (wanted, vectors[wanted - 1]))
    opened = time.perf_counter() - started
    memory = rss_mb() - before
    rng = np.random.default_rng(12345)
    picks = rng.integers(0, count, queries)
    noise = rng.standard_normal((queries, DIM)).astype(np.float32) * (SPREAD / np.sqrt(DIM))
    query_vectors = vectors[picks] + noise
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)

    # Exact answers first, in their own loop: a 2 GB scan between two HNSW queries would evict the graph
    # from the CPU caches and time something no app does.
    exact_times, exact_ids = [], []
    for query in query_vectors:
        started = time.perf_counter()
        scores = vectors @ query  # [count]
        exact_ids.append(set(ids[np.argpartition(-scores, K)[:K]].tolist()))
        exact_times.append(time.perf_counter() - started)
    index.search(query_vectors[0], K)  # warm up
    hnsw_times, recalls = [], []
    for query, exact in zip(query_vectors, exact_ids, strict=True):
        started = time.perf_counter()
        hits = index.search(query, K)
        hnsw_times.append(time.perf_counter() - started)
        recalls.append(len({hit.id for hit in hits} & exact) / K)
    ms = lambda values, q: 1000 * float(np.percentile(values, q))  # noqa: E731
    print(f"{count:>9,} photos  index {state} in {opened:.1f} s, +{memory:,.0f} MB resident")
    print(f"{'':>9}  HNSW   p50 {ms(hnsw_times, 50):6.2f} ms  p95 {ms(hnsw_times, 95):6.2f} ms  "
          f"recall@{K} {np.mean(recalls):.4f} (min {np.min(recalls):.1f})")
    print(f"{'':>9}  exact  p50 {ms(exact_times, 50):6.2f} ms  p95 {ms(exact_times, 95):6.2f} ms  "
          f"(numpy matrix-vector product, the baseline)")
    print(f"{'':>9}  speed-up {np.median(exact_times) / np.median(hnsw_times):.0f}x at p50", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "photosort-bench-search")
    args = parser.parse_args()
    for count in args.sizes:
        bench(count, args.cache, args.queries)


if __name__ == "__main__":
    main()
