"""The user's own work, kept twice: in the catalog, and in `user-work.json` beside it, a small file a person
can read, written anew (whole, then renamed) after every change to it.

What it holds is what photosort cannot find again by looking at the photos: the folders and the model chosen,
the reference folders, the labels with their prompts and the user's verdicts, and the tags the user gave.
Photos are named by content (fingerprint), with their path for the reader. When the catalog must be rebuilt,
this restores it; tags whose photos are not catalogued yet wait in `restored_tags` until a scan finds them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import LIBRARY_ID_KEY, MODEL_KEY, REFERENCE_KEY, USER_WORK_KEY, SqlCatalog
from .labels import ACCEPT, REJECT

BACKUP_FILE = "user-work.json"
FORMAT = 1
VERDICTS = {ACCEPT: "accept", REJECT: "reject"}


@dataclass(frozen=True)
class Restored:
    labels: int
    examples: int
    tags: int
    folders: int

    def __str__(self) -> str:
        return (f"{self.folders} folders, {self.labels} labels, {self.examples} examples and {self.tags} tags "
                "of yours restored")


def revision(db: Any) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (USER_WORK_KEY,)).fetchone()
    return int(row[0]) if row else 0


def snapshot(db: Any) -> dict:
    """The user's work as the catalog holds it now."""
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN (?, ?, ?)",
                           (MODEL_KEY, REFERENCE_KEY, LIBRARY_ID_KEY)).fetchall())
    paths = {}  # a path for each fingerprint, for the person reading the file
    for print_, path in db.execute(
            "SELECT fingerprint, MIN(path) FROM photos_here WHERE fingerprint IS NOT NULL AND fingerprint IN "
            "(SELECT fingerprint FROM label_examples UNION SELECT p.fingerprint FROM tags t JOIN photos p "
            "ON p.id = t.photo_id WHERE t.source = 'user') GROUP BY fingerprint"):
        paths[print_] = path
    labels = []
    for name, prompts, added in db.execute("SELECT name, prompts, added FROM labels ORDER BY name"):
        examples = [{"fingerprint": print_, "verdict": VERDICTS.get(verdict, "accept"), "path": paths.get(print_)}
                    for print_, verdict in db.execute(
                        "SELECT fingerprint, verdict FROM label_examples WHERE label = ? ORDER BY fingerprint",
                        (name,))]
        labels.append({"name": name, "prompts": json.loads(prompts), "added": added, "examples": examples})
    tags = [{"label": label, "fingerprint": print_, "path": path} for label, print_, path in db.execute(
        "SELECT t.label, p.fingerprint, p.path FROM tags t JOIN photos_here p ON p.id = t.photo_id "
        "WHERE t.source = 'user' AND p.fingerprint IS NOT NULL UNION "
        "SELECT r.label, r.fingerprint, NULL FROM restored_tags r ORDER BY 1, 2")]
    return {
        "photosort_user_work": FORMAT,
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "revision": revision(db),
        "library_id": meta.get(LIBRARY_ID_KEY),
        "model": meta.get(MODEL_KEY),
        "folders": [path for (path,) in db.execute("SELECT path FROM folders ORDER BY path")],
        "reference_folders": json.loads(meta.get(REFERENCE_KEY) or "[]"),
        "labels": labels,
        "user_tags": tags,
    }


def write(db: Any, folder: Path) -> None:
    """Write the backup whole: a temporary file, flushed to disk, then renamed over the old one."""
    path = folder / BACKUP_FILE
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(snapshot(db), file, indent=1, ensure_ascii=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read(folder: Path) -> dict | None:
    """The backup, or None when there is none or it cannot be read."""
    try:
        backup = json.loads((folder / BACKUP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return backup if isinstance(backup, dict) and backup.get("photosort_user_work") == FORMAT else None


def backed_up_revision(folder: Path, library_id: str) -> int | None:
    backup = read(folder)
    return backup.get("revision") if backup and backup.get("library_id") == library_id else None


def restore(db: Any, backup: dict) -> Restored:
    """Merge the backup into the catalog, inside the caller's transaction; nothing the catalog has is dropped."""
    now = time.time()
    model = backup.get("model")
    if model:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (MODEL_KEY, model))
    folders = [str(path) for path in backup.get("folders", [])]
    for path in folders:
        db.execute("INSERT INTO folders (path, added) VALUES (?, ?) ON CONFLICT DO NOTHING", (path, now))
    reference = set(json.loads((db.execute("SELECT value FROM meta WHERE key = ?", (REFERENCE_KEY,)).fetchone()
                                or ["[]"])[0]))
    reference.update(str(path) for path in backup.get("reference_folders", []))
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               (REFERENCE_KEY, json.dumps(sorted(reference))))
    examples = 0
    labels = backup.get("labels", [])
    for label in labels:
        db.execute("INSERT INTO labels (name, prompts, added) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                   (label["name"], json.dumps(label.get("prompts") or [label["name"]]), label.get("added", now)))
        for example in label.get("examples", []):
            verdict = ACCEPT if example.get("verdict") == "accept" else REJECT
            examples += db.execute(
                "INSERT INTO label_examples (label, fingerprint, verdict) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (label["name"], example["fingerprint"], verdict)).rowcount
    tags = backup.get("user_tags", [])
    db.executemany("INSERT INTO restored_tags (fingerprint, label) SELECT ?, ? WHERE EXISTS "
                   "(SELECT 1 FROM labels WHERE name = ?) ON CONFLICT DO NOTHING",
                   [(tag["fingerprint"], tag["label"], tag["label"]) for tag in tags])
    apply_restored_tags(db)
    return Restored(len(labels), examples, len(tags), len(folders))


def apply_restored_tags(db: Any) -> None:
    """Restored tags whose photos are catalogued now go onto them, as the user's."""
    if db.execute("SELECT 1 FROM restored_tags LIMIT 1").fetchone() is None:
        return
    db.execute("INSERT INTO tags (photo_id, label, score, source) SELECT p.id, r.label, NULL, 'user' "
               "FROM restored_tags r JOIN photos p ON p.fingerprint = r.fingerprint WHERE p.state = 'ok' "
               "ON CONFLICT (photo_id, label) DO UPDATE SET score = NULL, source = 'user'")
    db.execute("DELETE FROM restored_tags WHERE fingerprint IN (SELECT fingerprint FROM photos WHERE state = 'ok')")


class UserWorkStore:
    """The user's work as a store of the library: its revision, its backup file, its restoring; the functions
    above over the catalog's connection (SQLite's or PostgreSQL's)."""

    def __init__(self, catalog: SqlCatalog):
        self.catalog, self.db = catalog, catalog.db

    def revision(self) -> int:
        return revision(self.db)

    def write(self, folder: Path) -> None:
        write(self.db, folder)

    def restore(self, backup: dict) -> Restored:
        restored = restore(self.db, backup)
        self.catalog.place_roots()  # the folders restored
        return restored

    def apply_restored_tags(self) -> None:
        apply_restored_tags(self.db)
