"""Search and tag quality on the tiny model's world, where every right answer is known.

Builds two libraries with the bundled tiny-shapes model: the world alone (96 photos, 3 of each colour-shape
pair) and the world mixed with 19 real photographs. Prints, side by side with their baselines:

* the relevance cutoff's precision, recall and F1 over the 32 colour-shape queries, against the best single
  fixed cosine threshold (chosen knowing the answers, which no real system can do);
* precision at 3 with short queries read through the template ensemble, against the bare words;
* a label's held-out accuracy from its prompt alone, then after 3 accepted and 3 rejected photos.

    python benchmarks/bench_relevance.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photosort.clip import Encoder, shapes  # noqa: E402
from photosort.core.library import Library  # noqa: E402
from photosort.core.relevance import background  # noqa: E402
from photosort.core.tags import decide  # noqa: E402
from photosort.templates import expand, templates_for  # noqa: E402
from tests.library_helpers import TINY_MODEL, index_folders, kind_of, tiny_world  # noqa: E402
from tests.real_photos import photographs  # noqa: E402

QUERIES = [f"{colour} {shape}" for colour in shapes.COLOURS for shape in shapes.SHAPES]
WARM = {"red", "orange", "yellow"}


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / max(precision + recall, 1e-9)


def cutoff_quality(library: Library, encoder) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
    ids, vectors = library.vectors.photo_vectors(library.model)
    photos = library.catalog.photos_by_id(ids.tolist())
    kinds = [kind_of(photos[photo_id].path) for photo_id in ids]
    runs = []
    for query in QUERIES:
        scores = vectors @ library.text_vector(encoder, query)
        truth = np.array([kind == tuple(query.split()) for kind in kinds])
        runs.append((scores, truth))

    def pooled(rule) -> tuple[float, float, float]:
        hits = marked = relevant = 0
        for scores, truth in runs:
            chosen = rule(scores)
            hits += int((chosen & truth).sum())
            marked += int(chosen.sum())
            relevant += int(truth.sum())
        precision, recall = hits / max(marked, 1), hits / relevant
        return precision, recall, f1(precision, recall)

    adaptive = pooled(lambda scores: scores >= background(scores).relevance_cutoff(float(scores.max())))
    fixed = max(((threshold, *pooled(lambda scores, t=threshold: scores >= t))
                 for threshold in np.arange(0.2, 0.95, 0.005)), key=lambda row: row[3])
    return adaptive, fixed


def precision_at_3(library: Library, encoder, templated: bool) -> float:
    ids, vectors = library.vectors.photo_vectors(library.model)
    photos = library.catalog.photos_by_id(ids.tolist())
    kinds = [kind_of(photos[photo_id].path) for photo_id in ids]
    found = []
    for query in QUERIES + list(shapes.COLOURS) + list(shapes.SHAPES):
        prompts = expand(query, templates_for(library.model)) if templated else [query]
        vector = encoder.encode_texts(prompts).mean(axis=0)
        best = np.argsort(-(vectors @ (vector / np.linalg.norm(vector))))[:3]
        words = query.split()
        found += [all(word in kinds[row] for word in words) for row in best]
    return float(np.mean(found))


def tag_accuracy(library: Library, encoder) -> tuple[float, float]:
    ids, vectors = library.vectors.photo_vectors(library.model)
    photos = library.catalog.photos_by_id(ids.tolist())
    warm = np.array([kind_of(photos[photo_id].path)[0] in WARM for photo_id in ids])
    names = [Path(photos[photo_id].path).stem for photo_id in ids]
    accepted = [names.index(name) for name in ("red-circle-0", "orange-star-1", "yellow-square-2")]
    rejected = [names.index(name) for name in ("blue-circle-0", "green-star-1", "purple-square-2")]
    held_out = np.setdiff1d(np.arange(len(ids)), accepted + rejected)
    prompt = library.prompt_vector(encoder, ["warm colours"])

    def accuracy(decision) -> float:
        return float(((vectors[held_out] @ decision.direction >= decision.threshold) == warm[held_out]).mean())

    empty = np.zeros((0, vectors.shape[1]), np.float32)
    return (accuracy(decide(prompt, vectors, empty, empty)),
            accuracy(decide(prompt, vectors, vectors[accepted], vectors[rejected])))


def main() -> None:
    encoder = Encoder.load(str(TINY_MODEL), "cpu")
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        tiny_world(root / "world")
        (root / "real").mkdir()
        for name, picture in photographs().items():
            picture.save(root / "real" / f"{name}.jpg", quality=92)
        index_folders(root / "alone", root / "world")
        index_folders(root / "mixed", root / "world", root / "real")
        print(f"{'relevance marks, 32 queries':44}{'precision':>10}{'recall':>8}{'F1':>7}")
        for name in ("alone", "mixed"):
            with Library(root / name) as library:
                adaptive, fixed = cutoff_quality(library, encoder)
            print(f"{name + ': adaptive cutoff':44}{adaptive[0]:10.3f}{adaptive[1]:8.3f}{adaptive[2]:7.3f}")
            print(f"{name + f': best fixed cosine ({fixed[0]:.3f}, oracle)':44}{fixed[1]:10.3f}{fixed[2]:8.3f}"
                  f"{fixed[3]:7.3f}")
        with Library(root / "alone") as library:
            bare, ensemble = precision_at_3(library, encoder, False), precision_at_3(library, encoder, True)
            print(f"\nprecision at 3, 44 short queries: bare words {bare:.3f}, template ensemble {ensemble:.3f}")
            before, after = tag_accuracy(library, encoder)
            print(f"label 'warm colours', held-out accuracy: prompt alone {before:.3f}, "
                  f"after 3 accepted + 3 rejected {after:.3f}")


if __name__ == "__main__":
    main()
