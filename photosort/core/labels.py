"""The library's labels, the user's examples for them, their decisions per model, and the tags they put on photos.

Tags come from two sources: "auto" (a label's decision) and "user" (accepted by the user, or inherited by the
photo kept when its duplicates went to the trash). Re-tagging replaces only automatic tags; a rejected photo
never gets that label automatically again. Examples are kept by content (fingerprint), so they survive renames.
"""

from __future__ import annotations

import json
from typing import Any
import time
from collections.abc import Iterable

import numpy as np

from .sql import MARKS, select_in_chunks
from .tags import Decision, decide
from .vectors import VectorStore

AUTO, USER = "auto", "user"
ACCEPT, REJECT = 1, -1


class LabelBook:
    def __init__(self, db: Any, vectors: VectorStore):
        self.db, self.vectors = db, vectors

    # Labels

    def labels(self) -> dict[str, list[str]]:
        """Each label's prompts, by name."""
        return {name: json.loads(prompts) for name, prompts in
                self.db.execute("SELECT name, prompts FROM labels ORDER BY lower(name), name")}

    def set_label(self, name: str, prompts: list[str]) -> bool:
        """Add a label or change its prompts; True when its decisions must be made again."""
        stored = self.labels().get(name)
        if stored == prompts:
            return False
        if stored is None:
            self.db.execute("INSERT INTO labels (name, prompts, added) VALUES (?, ?, ?)",
                            (name, json.dumps(prompts), time.time()))
        else:
            self.db.execute("UPDATE labels SET prompts = ? WHERE name = ?", (json.dumps(prompts), name))
            self.db.execute("DELETE FROM label_decisions WHERE label = ?", (name,))
        return True

    def rename_label(self, old: str, new: str) -> None:
        """The label's examples, decisions and tags follow it to its new name."""
        self.db.execute("UPDATE labels SET name = ? WHERE name = ?", (new, old))

    def remove_label(self, name: str) -> bool:
        return self.db.execute("DELETE FROM labels WHERE name = ?", (name,)).rowcount > 0

    def undecided(self, model: str) -> list[str]:
        """Labels with no decision for `model` yet: their prompts must be encoded."""
        return [name for (name,) in self.db.execute(
            "SELECT name FROM labels WHERE name NOT IN (SELECT label FROM label_decisions WHERE model = ?) "
            "ORDER BY name", (model,))]

    # Examples

    def add_examples(self, label: str, photos: dict[int, str], verdict: int) -> None:
        """The user's verdict on photos (id -> fingerprint) for a label; their tags follow at once."""
        self.db.executemany("INSERT INTO label_examples (label, fingerprint, verdict) VALUES (?, ?, ?) "
                            "ON CONFLICT (label, fingerprint) DO UPDATE SET verdict = excluded.verdict",
                            [(label, fingerprint, verdict) for fingerprint in photos.values()])
        if verdict == ACCEPT:
            self.db.executemany("INSERT INTO tags (photo_id, label, score, source) VALUES (?, ?, NULL, ?) "
                                "ON CONFLICT (photo_id, label) DO UPDATE SET score = NULL, source = excluded.source",
                                [(photo_id, label, USER) for photo_id in photos])
        else:
            self.db.executemany("DELETE FROM tags WHERE photo_id = ? AND label = ?",
                                [(photo_id, label) for photo_id in photos])

    def _examples(self, label: str, model: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        found: dict[int, list[np.ndarray]] = {ACCEPT: [], REJECT: []}
        for fingerprint, verdict in self.db.execute(
                "SELECT fingerprint, verdict FROM label_examples WHERE label = ?", (label,)):
            vector = self.vectors.vector_for_content(model, fingerprint)
            if vector is not None:
                found[verdict].append(vector)
        accepted, rejected = (np.array(found[verdict], np.float32).reshape(len(found[verdict]), dim)
                              for verdict in (ACCEPT, REJECT))
        return accepted, rejected

    # Decisions and tags

    def decide_and_tag(self, model: str, prompt_vectors: dict[str, np.ndarray],
                       labels: Iterable[str] | None = None) -> dict[str, int]:
        """Make the decisions of `labels` (all by default) and re-tag every photo with them: a matrix product
        over the stored vectors. `prompt_vectors` gives the prompts' vectors of labels encoded just now.
        Returns how many photos each label is on."""
        ids, library = self.vectors.photo_vectors(model)
        counts = {}
        for label in (self.labels() if labels is None else labels):
            prompt_vector = prompt_vectors.get(label)
            if prompt_vector is None:
                row = self.db.execute("SELECT prompt_vector FROM label_decisions WHERE label = ? AND model = ?",
                                      (label, model)).fetchone()
                if row is None:
                    continue  # its prompts are not encoded for this model yet
                prompt_vector = np.frombuffer(row[0], np.float32)
            dim = len(prompt_vector)
            accepted, rejected = self._examples(label, model, dim)
            # No photo indexed (or all offline): decided on its prompts alone, tagging nothing.
            decision = decide(prompt_vector, library.reshape(len(library), dim), accepted, rejected)
            self.db.execute("INSERT INTO label_decisions (label, model, prompt_vector, direction, threshold) "
                            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (label, model) DO UPDATE SET prompt_vector = "
                            "excluded.prompt_vector, direction = excluded.direction, threshold = excluded.threshold",
                            (label, model, np.asarray(prompt_vector, np.float32).tobytes(),
                             decision.direction.tobytes(), decision.threshold))
            self.db.execute("DELETE FROM tags WHERE label = ? AND source = ?", (label, AUTO))
            counts[label] = self._tag(label, decision, ids, library)
        return counts

    def tag_new(self, model: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Newly indexed photos get the labels whose decisions they pass."""
        for label, direction, threshold in self.db.execute(
                "SELECT label, direction, threshold FROM label_decisions WHERE model = ?", (model,)).fetchall():
            self._tag(label, Decision(np.frombuffer(direction, np.float32), threshold), ids, vectors)

    def _tag(self, label: str, decision: Decision, ids: np.ndarray, vectors: np.ndarray) -> int:
        if len(ids) == 0:
            return self._count(label)
        scores = vectors @ decision.direction  # [n]
        chosen = np.nonzero(scores >= decision.threshold)[0]
        rejected = {fingerprint for (fingerprint,) in self.db.execute(
            "SELECT fingerprint FROM label_examples WHERE label = ? AND verdict = ?", (label, REJECT))}
        if rejected and len(chosen):
            prints = self._fingerprints(ids[chosen])
            chosen = chosen[np.array([prints.get(int(ids[row])) not in rejected for row in chosen], bool)]
        self.db.executemany("INSERT INTO tags (photo_id, label, score, source) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING",
                            [(int(ids[row]), label, float(scores[row]), AUTO) for row in chosen])
        return self._count(label)

    def _count(self, label: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM tags WHERE label = ?", (label,)).fetchone()[0]

    def _fingerprints(self, ids: np.ndarray) -> dict[int, str]:
        return dict(select_in_chunks(self.db, f"SELECT id, fingerprint FROM photos WHERE id IN ({MARKS})",
                                     (int(photo_id) for photo_id in ids)))

    def tags_of(self, ids: Iterable[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for photo_id, label in select_in_chunks(
                self.db, f"SELECT photo_id, label FROM tags WHERE photo_id IN ({MARKS}) ORDER BY lower(label), label",
                ids):
            found.setdefault(photo_id, []).append(label)
        return found

    def tags_of_photo(self, photo_id: int) -> list[tuple[str, str, float | None]]:
        """(label, source, score) of each of a photo's tags, by label."""
        return self.db.execute("SELECT label, source, score FROM tags WHERE photo_id = ? "
                               "ORDER BY lower(label), label", (photo_id,)).fetchall()

    def counts(self) -> dict[str, int]:
        """How many photos each label is on (zero included)."""
        return dict(self.db.execute("SELECT l.name, COUNT(t.photo_id) FROM labels l LEFT JOIN tags t "
                                    "ON t.label = l.name GROUP BY l.name ORDER BY lower(l.name), l.name"))

    def inherit(self, keep_id: int, from_ids: Iterable[int]) -> None:
        """The kept photo takes on the tags of the photos it replaces, as the user's own."""
        for photo_id in from_ids:
            self.db.execute("INSERT INTO tags (photo_id, label, score, source) "
                            "SELECT ?, label, score, ? FROM tags WHERE photo_id = ? ON CONFLICT DO NOTHING",
                            (keep_id, USER, photo_id))

