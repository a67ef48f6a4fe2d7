"""Scanning: bring the catalog in line with the folders on disk, by stat alone for files that did not change.

A photo is its content (the fingerprint, a hash of the whole file):

* a new path whose content matches a photo that vanished from its old path is a move or rename: it keeps
  its id, and with it its vector, tags and index entry;
* a file whose stat changed but not its content (`touch`, a backup restore, a sync tool) keeps everything;
  only the stat is updated;
* a file whose content changed is a new photo (a new id: ids are never reused), which keeps the user's tags;
* a file that could not be read is tried again at every scan: permissions, a file that vanished or was being
  copied mid-run are rarely for good.

A folder whose root is gone (an unplugged drive) is marked offline and its photos are kept until it returns.
A subfolder that cannot be listed keeps its photos too, and is reported. Symbolic links are not followed: a
link within a folder would index its target twice, one out of it reaches beyond what the user chose, and one
that loops never ends. Folders named in `exclude` (the library's own) are never looked into.

Files are read (hashed) outside the catalog's transactions, and the changes commit in chunks, so the library
stays usable meanwhile and a crash keeps what was committed; the next scan goes on from there.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import FAILED, Catalog, Folder, Photo
from .decode import fingerprint
from .errors import PhotoError
from .names import is_ignored_name, is_image_name, shown_path

# Files whose changes commit together: small enough that the catalog is never held long, large enough that a
# scan of 100,000 new files is a few hundred transactions.
COMMIT_CHUNK = 256
READ_PAGE = 5000  # known photos read per hold of the library's lock: about 40 ms at a time
# Hashing threads: hashlib releases the interpreter lock, and files are read while others are hashed.
HASH_THREADS = 4


@dataclass
class ScanReport:
    added: int = 0
    changed: int = 0  # new content at a known path
    moved: int = 0
    removed: int = 0
    touched: int = 0  # new date, same content: nothing to read again
    failed: int = 0  # files found that cannot be read (new ones, and earlier ones still unreadable)
    recovered: int = 0  # files that could not be read before and can now
    unchanged: int = 0
    offline: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (folder, why it could not be looked into)
    busy: list[Path] = field(default_factory=list)  # folders another machine was scanning (see Catalog.scanning)


@dataclass(frozen=True)
class _Seen:
    path: str  # as shown and stored: undecodable bytes of a name escaped
    file: str  # what to open (undecodable bytes as Python carries them)
    folder_id: int
    size: int
    mtime_ns: int
    problem: str | None = None  # a reason to record instead of reading the file

    @property
    def raw(self) -> bytes | None:
        """The name's bytes, when the name is not valid text (stored so the file can be opened again)."""
        return None if self.path == self.file else os.fsencode(self.file)


def scan(catalog: Catalog, on_file: Callable[[int], None] | None = None, exclude: Sequence[Path] = (),
         lock: AbstractContextManager | None = None) -> ScanReport:
    """Rescan every library folder; `on_file(count)` is called as files are visited. `lock` is held around each
    commit (not while files are listed or read)."""
    lock = lock or nullcontext()
    report = ScanReport()
    known: dict[str, Photo] = {}
    seen: dict[str, _Seen] = {}
    unlisted: list[str] = []  # subfolders that could not be listed this time: their photos stay
    excluded = {str(path) for path in exclude}
    with lock:
        folders = catalog.folders()
    # Only one process scans a folder at a time (machines sharing a library each scan every folder).
    with catalog.scanning([folder.id for folder in folders]) as ours:
        for folder in folders:
            if folder.id not in ours:  # another machine is scanning it now: its changes are that one's to record
                report.busy.append(folder.path)
                continue
            online = folder.path.is_dir()
            if online != folder.online:
                with lock, catalog.transaction():
                    catalog.set_folder_online(folder.id, online)
            if not online:
                report.offline.append(folder.path)
                continue
            known.update(_known_photos(catalog, folder.id, lock))
            problems: dict[str, str] = {}
            for entry in _walk(folder, problems, excluded):
                seen[entry.path] = entry
                if on_file:
                    on_file(len(seen))
            unlisted += problems
            report.problems += problems.items()
            with lock, catalog.transaction():
                catalog.set_scan_problems(folder.id, problems)

        to_read: list[tuple[_Seen, Photo | None]] = []  # (file, the photo known at its path)
        for path, entry in seen.items():
            photo = known.get(path)
            if photo is None or photo.state == FAILED or (photo.size, photo.mtime_ns) != (entry.size, entry.mtime_ns):
                to_read.append((entry, photo))
            else:
                report.unchanged += 1
        vanished: dict[str, list[Photo]] = {}
        for path, photo in known.items():
            if path not in seen and not _under_any(path, unlisted):
                vanished.setdefault(photo.fingerprint or f"failed:{photo.id}", []).append(photo)

        at_known_paths = [(entry, photo) for entry, photo in to_read if photo is not None]
        at_new_paths = [entry for entry, photo in to_read if photo is None]
        with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="hash") as hashers:
            # Files whose content may have changed are read first and settled together: content that left one
            # path may have arrived at another known one (two names swapped), not only at a new one.
            prints = list(hashers.map(_fingerprint_or_reason, (entry for entry, _ in at_known_paths)))
            if at_known_paths:
                with lock, catalog.transaction():
                    _apply_changes(catalog, report, [(entry, photo, *read) for (entry, photo), read
                                                     in zip(at_known_paths, prints, strict=True)], vanished)
            for start in range(0, len(at_new_paths), COMMIT_CHUNK):
                chunk = at_new_paths[start:start + COMMIT_CHUNK]
                prints = list(hashers.map(_fingerprint_or_reason, chunk))
                with lock, catalog.transaction():
                    for entry, (print_, reason) in zip(chunk, prints, strict=True):
                        _apply_new(catalog, report, entry, print_, reason, vanished)
        removed = [photo.id for photos in vanished.values() for photo in photos]
        if removed:
            with lock, catalog.transaction():
                catalog.delete_photos(removed)
        report.removed = len(removed)
        return report


def _known_photos(catalog: Catalog, folder_id: int, lock: AbstractContextManager) -> dict[str, Photo]:
    """A folder's photos as the catalog knows them, read a page at a time: the lock is let go between pages,
    so a search or a listing asked for meanwhile waits for a page, not for 100,000 photos (0.6 s)."""
    known: dict[str, Photo] = {}
    after = 0
    while True:
        with lock:
            page = catalog.photos_in(folder_id, after, READ_PAGE)
        known.update(page)
        if len(page) < READ_PAGE:
            return known
        after = max(photo.id for photo in page.values())
        time.sleep(0)  # let a thread waiting for the lock take it now


def _apply_new(catalog: Catalog, report: ScanReport, entry: _Seen, print_: str | None, reason: str | None,
               vanished: dict[str, list[Photo]]) -> None:
    """Record a file at a path the catalog did not know: unreadable, moved here, or new."""
    if print_ is None:  # unreadable: `reason` says why
        report.failed += 1
        catalog.add_photo(entry.path, entry.folder_id, entry.size, entry.mtime_ns, None, FAILED, reason, entry.raw)
    elif vanished.get(print_):
        _move_here(catalog, vanished[print_].pop(), entry, print_)
        report.moved += 1
    else:
        catalog.add_photo(entry.path, entry.folder_id, entry.size, entry.mtime_ns, print_, raw_path=entry.raw)
        report.added += 1


def _apply_changes(catalog: Catalog, report: ScanReport, changes: list[tuple[_Seen, Photo, str | None, str | None]],
                   vanished: dict[str, list[Photo]]) -> None:
    """Record the files at known paths whose stat changed, or that could not be read before.

    A photo whose path now holds other content has left that path: it is set aside (its row keeps its id and
    tags under a placeholder path), and content that arrives elsewhere, at a known path or (later) a new one,
    takes it back: a move. What is left behind is an edit: new content, a new photo, with the old one's tags."""
    departed: dict[str, list[Photo]] = {}
    for _, photo, print_, reason in changes:
        if reason is None and photo.state != FAILED and print_ != photo.fingerprint:
            departed.setdefault(photo.known_fingerprint, []).append(photo)
            catalog.set_aside(photo.id)
    claimed: set[int] = set()  # photos set aside that moved to another path
    arrived: set[str] = set()  # paths a photo moved to
    for entry, photo, print_, _ in changes:
        if print_ is None or print_ == photo.fingerprint:  # unreadable, or the same content
            continue
        for pool in (departed, vanished):
            if pool.get(print_):
                moved = pool[print_].pop()
                claimed.add(moved.id)
                if photo.state == FAILED:  # the unreadable file that was here is gone
                    catalog.delete_photos([photo.id])
                _move_here(catalog, moved, entry, print_)
                arrived.add(entry.path)
                report.moved += 1
                break
    for entry, photo, print_, reason in changes:
        mine = photo.id not in claimed
        if entry.path in arrived:
            if mine and photo.state != FAILED:
                catalog.delete_photos([photo.id])  # overwritten by a photo moved here: its content is gone
        elif reason is not None:
            report.failed += 1
            catalog.set_failed(photo.id, reason)
        elif photo.state == FAILED and print_ == photo.fingerprint:
            catalog.touch_photo(photo.id, entry.size, entry.mtime_ns)  # its reading is tried again by indexing
            report.failed += 1
        elif photo.state == FAILED:
            assert print_ is not None  # read: no reason, so a fingerprint
            catalog.reread_photo(photo.id, entry.size, entry.mtime_ns, print_)
            report.recovered += 1
        elif print_ == photo.fingerprint:
            catalog.touch_photo(photo.id, entry.size, entry.mtime_ns)
            report.touched += 1
        elif mine:
            assert print_ is not None  # read: no reason, so a fingerprint
            catalog.replace_photo(photo, entry.size, entry.mtime_ns, print_)
            report.changed += 1
        else:  # its old content moved to another path: what is here is a new photo
            catalog.add_photo(entry.path, entry.folder_id, entry.size, entry.mtime_ns, print_, raw_path=entry.raw)
            report.changed += 1


def _move_here(catalog: Catalog, moved: Photo, entry: _Seen, print_: str) -> None:
    catalog.move_photo(moved.id, entry.path, entry.folder_id, entry.mtime_ns, entry.raw)
    if moved.state == FAILED:  # it failed where it was (renamed while it was being read): read it here
        catalog.reread_photo(moved.id, entry.size, entry.mtime_ns, print_)


def _fingerprint_or_reason(entry: _Seen) -> tuple[str | None, str | None]:
    """(fingerprint, None) for a file read; (None, the reason) for one that could not be."""
    if entry.problem:
        return None, entry.problem
    if entry.size == 0:
        return None, "empty file"
    try:
        return fingerprint(entry.file, entry.size), None
    except PhotoError as error:
        return None, str(error)


def _under_any(path: str, folders: Iterable[str]) -> bool:
    return any(path.startswith(folder + os.sep) for folder in folders)


def _walk(folder: Folder, problems: dict[str, str], excluded: set[str]) -> Iterator[_Seen]:
    """Image files under the folder, hidden files and folders left out, links reported not followed.

    Subfolders that cannot be listed go into `problems` with the reason; folders in `excluded` are skipped."""
    root = folder.path
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listing = list(entries)
        except OSError as error:
            problems[shown_path(directory)] = f"cannot list this folder: {_reason(error)}"
            continue
        for entry in listing:
            name = entry.name
            if is_ignored_name(name):
                continue
            try:
                if entry.is_symlink():
                    problem = _link_problem(entry.path, root)
                    if problem and (is_image_name(name) or _points_to_folder(entry.path)):
                        yield _Seen(shown_path(entry.path), entry.path, folder.id, 0, 0, problem)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.path not in excluded:
                        pending.append(entry.path)
                    continue
                if not is_image_name(name):
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError as error:
                if is_image_name(name):
                    yield _Seen(shown_path(entry.path), entry.path, folder.id, 0, 0, _reason(error))
                else:
                    problems[shown_path(entry.path)] = _reason(error)
                continue
            if stat.S_ISREG(info.st_mode):
                yield _Seen(shown_path(entry.path), entry.path, folder.id, info.st_size, info.st_mtime_ns)


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or "cannot be read"


def _link_problem(path: str, root: Path) -> str | None:
    try:
        target = Path(path).resolve(strict=True)
    except RuntimeError:
        return "symbolic link loop, not followed"
    except OSError:
        return "broken symbolic link"
    if Path(path).parent.resolve().is_relative_to(target):
        return "symbolic link loop (it points to a folder that holds it), not followed"
    if not target.is_relative_to(root.resolve()):
        return "link out of the library folder, not followed"
    return None  # its target inside the folder is indexed under its own name


def _points_to_folder(path: str) -> bool:
    try:
        return os.path.isdir(path)
    except OSError:
        return False
