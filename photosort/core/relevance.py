"""Which results of a query are relevant: a cutoff that adapts to each query instead of a fixed score.

A fixed cosine cutoff fails because every query has its own level: one query's junk scores higher than another
query's good matches. Scoring the query against a sample of the library shows that level: most photos are
unrelated to any one query, so the bulk of those scores (their median and spread) is what "unrelated" looks
like for this query. A result counts when it stands above that bulk and is close to the query's best match:
photos that share only part of a query ("red square" for "red circle") stand above the bulk too, but
further from the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_SIZE = 4096  # library photos a query is also scored against: enough for stable quantiles
# A relevant result stands this many standard deviations above the unrelated bulk...
RELEVANT_Z = 1.5
# ...and within the top tenth of the span from that bulk to the query's best match. Chosen on the tiny model's
# world and on a folder mixing it with real photographs (benchmarks/bench_relevance.py): F1 0.86 and 0.80
# there, against 0.88 and 0.87 for the best fixed cosine threshold picked with the answers known (that
# model happens to score all its own queries on one scale; CLIP models do not, which is what this is for).
NEAR_BEST = 0.9
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation
MIN_SPREAD = 1e-3  # a library of near-identical photos has no spread to speak of


@dataclass(frozen=True)
class Background:
    centre: float
    spread: float

    def z(self, scores: np.ndarray | float) -> np.ndarray | float:
        return (np.asarray(scores) - self.centre) / self.spread

    def cutoff(self, z: float = RELEVANT_Z) -> float:
        return self.centre + z * self.spread

    def relevance_cutoff(self, best: float, near_best: float = NEAR_BEST, z: float = RELEVANT_Z) -> float:
        """The score from which a result is relevant, for a query whose best match scores `best`."""
        return max(self.cutoff(z), self.centre + near_best * (best - self.centre))


def background(scores: np.ndarray) -> Background:
    """The level and spread of the bulk of `scores` (robust to the few relevant ones among them)."""
    scores = np.asarray(scores, np.float64)
    if len(scores) == 0:
        return Background(0.0, 1.0)
    centre = float(np.median(scores))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(scores - centre)))
    return Background(centre, max(spread, MIN_SPREAD))


def sample_ids(ids: np.ndarray, size: int = SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """A fixed random sample of the library, so the same query gets the same cutoff run after run."""
    ids = np.sort(np.asarray(ids, np.int64))
    if len(ids) <= size:
        return ids
    return np.sort(np.random.default_rng(seed).choice(ids, size, replace=False))
