"""`photosort library check`: look at every part of a library, repair what can be, and say what was done.

1. The catalog: SQLite's integrity check. A damaged catalog is set aside (never deleted) in
   `damaged-<time>/`; a new one is made, with what can still be read from the damaged one (the folders, the
   vectors and signatures, which are costly to compute again, the labels) and the user's work from
   `user-work.json`. A catalog that lost its latest commits (see SqliteCatalog) is taken as it is, with the
   user's work restored.
2. The search index, entry by entry against the stored vectors; rebuilt from them if any differs.
3. Thumbnails: leftovers of interrupted writes go; a damaged one goes, and its photo is read again at the
   next `index`.
4. The user's work is written to `user-work.json`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from . import user_work
from .catalog import SqliteCatalog, read_photo_ids_record
from .errors import CatalogLost, LibraryError
from .library import CATALOG_FILE, Library
from .writer_lock import WriterLock

# What a damaged catalog may still give back, table by table, in an order that satisfies foreign keys.
SALVAGED = (
    ("folders", "SELECT path, online, added FROM folders",
     "INSERT OR IGNORE INTO folders (path, online, added) VALUES (?, ?, ?)"),
    ("folder places", "SELECT f.path, h.machine, h.path FROM folder_places h JOIN folders f ON f.id = h.folder_id",
     "INSERT OR IGNORE INTO folder_places (folder_id, machine, path) SELECT id, ?2, ?3 FROM folders WHERE path = ?1"),
    ("meta", "SELECT key, value FROM meta WHERE key IN ('model', 'reference_folders')",
     "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"),
    ("labels", "SELECT name, prompts, added FROM labels",
     "INSERT OR IGNORE INTO labels (name, prompts, added) VALUES (?, ?, ?)"),
    ("label_examples", "SELECT label, fingerprint, verdict FROM label_examples",
     "INSERT OR IGNORE INTO label_examples (label, fingerprint, verdict) VALUES (?, ?, ?)"),
    ("user tags", "SELECT p.fingerprint, t.label FROM tags t JOIN photos p ON p.id = t.photo_id "
     "WHERE t.source = 'user' AND p.fingerprint IS NOT NULL",
     "INSERT OR IGNORE INTO restored_tags (fingerprint, label) VALUES (?, ?)"),
    ("vectors", "SELECT model, fingerprint, vector FROM vectors",
     "INSERT OR IGNORE INTO vectors (model, fingerprint, vector) VALUES (?, ?, ?)"),
    ("signatures", "SELECT fingerprint, signature, face FROM signatures",
     "INSERT OR IGNORE INTO signatures (fingerprint, signature, face) VALUES (?, ?, ?)"),
)


@dataclass(frozen=True)
class Step:
    line: str
    ok: bool = True  # False: a problem this check could not repair


def check_library(folder: Path, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> Iterator[Step]:
    folder = Path(folder).expanduser().absolute()
    if not (folder / CATALOG_FILE).exists() and user_work.read(folder) is None:
        yield Step(f"there is no photosort library in {folder}", ok=False)
        return
    lock = WriterLock(folder)
    lock.acquire(wait, on_wait)
    try:
        healthy = yield from _check_catalog(folder)
    finally:
        lock.release()
    if not healthy:
        return
    with Library(folder, wait=wait, on_wait=on_wait) as library:
        for notice in library.notices:
            yield Step(f"catalog: {notice}")
        library.notices.clear()
        yield _check_index(library)
        yield _check_thumbnails(library)
        library.write_user_work()
        yield Step(f"your work: saved in {user_work.BACKUP_FILE}")


def _check_catalog(folder: Path) -> Generator[Step, None, bool]:
    """Returns whether the library can be opened after this step."""
    path = folder / CATALOG_FILE
    if not path.exists():
        yield Step("catalog: missing; a new one is made from your saved work")
        return True
    problem = _integrity_problem(path)
    if problem is None:
        yield Step("catalog: integrity check passed")
        lost = yield from _check_state(path)
        return lost
    yield Step(f"catalog: damaged ({problem})")
    aside = _set_aside(path)
    yield Step(f"catalog: the damaged file is kept in {aside}")
    record = path.with_name(path.name + ".state")  # the record of the old catalog
    ids_used = read_photo_ids_record(record)
    record.unlink(missing_ok=True)
    try:
        catalog = SqliteCatalog(path)
    except LibraryError as error:
        yield Step(f"catalog: cannot make a new one: {error}", ok=False)
        return False
    try:
        with catalog.transaction():
            saved, damaged_ids_used = _salvage(aside / CATALOG_FILE, catalog.db)
        catalog.skip_photo_ids(max(ids_used, damaged_ids_used))
        with catalog.transaction():
            backup = user_work.read(folder)
            restored = user_work.restore(catalog.db, backup) if backup else None
        yield Step("catalog: rebuilt; read back from the damaged one: "
                   + (", ".join(f"{count} {what}" for what, count in saved.items()) or "nothing"))
        yield Step(f"catalog: {restored} from {user_work.BACKUP_FILE}" if restored else
                   f"catalog: no {user_work.BACKUP_FILE} to restore your work from")
        yield Step("catalog: run `photosort index` to read the photos again (stored vectors are reused)")
    finally:
        catalog.close()
    return True


def _check_state(path: Path) -> Generator[Step, None, bool]:
    """A catalog that lost commits (its -wal removed) is taken as it is, with the user's work restored."""
    catalog = SqliteCatalog(path, check_state=False)
    try:
        try:
            catalog.check_state()
            return True
        except CatalogLost as error:
            yield Step(f"catalog: {str(error).split(': its -wal')[0]}")
        backup = user_work.read(path.parent)
        if backup:
            with catalog.transaction():
                restored = user_work.restore(catalog.db, backup)
            yield Step(f"catalog: {restored} from {user_work.BACKUP_FILE}")
        catalog.accept_state()
        yield Step("catalog: taken as it is now; run `photosort index` to read what changed")
        return True
    finally:
        catalog.close()


def _integrity_problem(path: Path) -> str | None:
    try:
        catalog = SqliteCatalog(path, check_state=False)
    except LibraryError as error:
        return str(error)
    try:
        rows = catalog.db.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        catalog.close()
    return None if rows == [("ok",)] else "; ".join(str(row[0]) for row in rows[:3])


def _set_aside(path: Path) -> Path:
    aside = path.parent / time.strftime("damaged-%Y%m%d-%H%M%S")
    aside.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            shutil.move(part, aside / part.name)
    return aside


def _salvage(damaged: Path, db: sqlite3.Connection) -> tuple[dict[str, int], int]:
    """Copy what can still be read from a damaged catalog, table by table, row by row until a damaged page;
    with the highest photo id it handed out, if it can still say."""
    saved: dict[str, int] = {}
    ids_used = 0
    try:
        source = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return saved, ids_used
    try:
        try:
            row = source.execute("SELECT seq FROM sqlite_sequence WHERE name = 'photos'").fetchone()
            ids_used = int(row[0]) if row else 0
        except (sqlite3.Error, ValueError, TypeError):
            pass
        for what, select, insert in SALVAGED:
            count = 0
            try:
                for row in source.execute(select):
                    count += db.execute(insert, row).rowcount
            except sqlite3.DatabaseError:
                pass  # a damaged page: what came before it is kept
            if count:
                saved[what] = count
    finally:
        source.close()
    return saved, ids_used


def _check_index(library) -> Step:
    model = library.model
    if not model or library.vectors.dimension(model) is None:
        return Step("index: nothing indexed yet")
    index = library.index()
    ids, vectors = library.vectors.photo_vectors(model)
    wrong = index.mismatches(ids, vectors)
    if wrong:
        library.rebuild_index()
        return Step(f"index: {wrong} of {len(ids)} entries did not match the stored vectors; rebuilt from them")
    return Step(f"index: {len(ids)} entries match the stored vectors ({library.index_state})")


def _check_thumbnails(library) -> Step:
    leftovers = damaged = present = 0
    for root, _, names in os.walk(library.thumbnails):
        for name in names:
            path = Path(root, name)
            if name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                leftovers += 1
                continue
            present += 1
            try:
                with Image.open(path) as picture:
                    picture.load()
            except Exception:  # noqa: BLE001 - any way of being unreadable: it is made again
                path.unlink(missing_ok=True)
                library.forget_reading(path.stem)
                damaged += 1
    return Step(f"thumbnails: {present - damaged} whole" + (f", {damaged} damaged ones removed (their photos are "
                                                                "read again by `photosort index`)" if damaged else "")
                + (f", {leftovers} leftovers of interrupted writes removed" if leftovers else ""))
