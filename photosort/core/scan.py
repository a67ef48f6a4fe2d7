"""Scanning: bring the catalog in line with the folders on disk, by stat alone for files that did not change.

New files are fingerprinted; a new path whose fingerprint matches a photo that vanished from its old path is
a move or rename, and keeps its id (and so its vector and index entry). A folder whose root is gone (an
unplugged drive) is marked offline and its photos are kept until it returns. Symbolic links are not followed:
a link within a folder would index its target twice, one out of it reaches beyond what the user chose, and
one that loops never ends.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import FAILED, Catalog, Folder, Photo
from .decode import fingerprint
from .errors import PhotoError
from .names import is_ignored_name, is_image_name


@dataclass
class ScanReport:
    added: int = 0
    changed: int = 0
    moved: int = 0
    removed: int = 0
    failed: int = 0  # newly found files that cannot be read
    unchanged: int = 0
    offline: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Seen:
    path: str
    folder_id: int
    size: int
    mtime_ns: int
    problem: str | None = None  # a reason to record instead of reading the file


def scan(catalog: Catalog, on_file: Callable[[int], None] | None = None) -> ScanReport:
    """Rescan every library folder; `on_file(count)` is called as files are visited."""
    report = ScanReport()
    known: dict[str, Photo] = {}
    seen: dict[str, _Seen] = {}
    unlisted: list[str] = []  # subfolders that could not be listed this time
    for folder in catalog.folders():
        online = folder.path.is_dir()
        if online != folder.online:
            with catalog.transaction():
                catalog.set_folder_online(folder.id, online)
        if not online:
            report.offline.append(folder.path)
            continue
        known.update(catalog.photos_in(folder.id))
        for entry in _walk(folder, unlisted):
            seen[entry.path] = entry
            if on_file:
                on_file(len(seen))

    fresh: list[_Seen] = []
    changed: list[Photo] = []
    for path, entry in seen.items():
        photo = known.get(path)
        if photo is None:
            fresh.append(entry)
        elif (photo.size, photo.mtime_ns) != (entry.size, entry.mtime_ns):
            changed.append(photo)  # new content: a new photo, encoded afresh
        else:
            report.unchanged += 1
    vanished: dict[str, list[Photo]] = {}
    for path, photo in known.items():
        if path not in seen and not _under_any(path, unlisted):
            vanished.setdefault(photo.fingerprint or f"failed:{photo.id}", []).append(photo)
    # Files are read before the transaction, so the catalog is locked only for the writes.
    prints = {entry.path: _fingerprint_or_reason(entry) for entry in fresh + [seen[photo.path] for photo in changed]}

    with catalog.transaction():
        catalog.delete_photos(photo.id for photo in changed)
        for photo in changed:
            _add(catalog, seen[photo.path], prints[photo.path])
        report.changed = len(changed)
        for entry in fresh:
            print_, reason = prints[entry.path]
            candidates = vanished.get(print_) if print_ else None
            if candidates:
                moved = candidates.pop()
                catalog.move_photo(moved.id, entry.path, entry.folder_id, entry.mtime_ns)
                report.moved += 1
            elif _add(catalog, entry, (print_, reason)):
                report.added += 1
            else:
                report.failed += 1
        removed = [photo.id for photos in vanished.values() for photo in photos]
        catalog.delete_photos(removed)
        report.removed = len(removed)
    return report


def _add(catalog: Catalog, entry: _Seen, print_and_reason: tuple[str | None, str | None]) -> bool:
    """Catalog a file; False when it was recorded as unreadable."""
    print_, reason = print_and_reason
    if reason is not None:
        catalog.add_photo(entry.path, entry.folder_id, entry.size, entry.mtime_ns, None, FAILED, reason)
        return False
    catalog.add_photo(entry.path, entry.folder_id, entry.size, entry.mtime_ns, print_)
    return True


def _fingerprint_or_reason(entry: _Seen) -> tuple[str | None, str | None]:
    if entry.problem:
        return None, entry.problem
    if entry.size == 0:
        return None, "empty file"
    try:
        return fingerprint(entry.path, entry.size), None
    except PhotoError as error:
        return None, str(error)


def _under_any(path: str, folders: list[str]) -> bool:
    return any(path.startswith(folder + os.sep) for folder in folders)


def _walk(folder: Folder, unlisted: list[str]) -> Iterator[_Seen]:
    """Image files under the folder, hidden files and folders left out, links reported not followed.

    Subfolders that cannot be listed are appended to `unlisted`."""
    root = folder.path
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listing = list(entries)
        except OSError:
            unlisted.append(directory)  # its photos stay as they were until it can be read again
            continue
        for entry in listing:
            name = entry.name
            if is_ignored_name(name):
                continue
            try:
                if entry.is_symlink():
                    problem = _link_problem(entry.path, root)
                    if problem and (is_image_name(name) or _points_to_folder(entry.path)):
                        yield _Seen(_display(entry.path), folder.id, 0, 0, problem)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                    continue
                if not is_image_name(name):
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError as error:
                yield _Seen(_display(entry.path), folder.id, 0, 0, error.strerror or "cannot be read")
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            problem = None if _is_utf8(entry.path) else "the file name is not valid text (UTF-8)"
            yield _Seen(_display(entry.path), folder.id, info.st_size, info.st_mtime_ns, problem)


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


def _is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir hands undecodable bytes over as lone surrogates
        return False
    return True


def _display(path: str) -> str:
    """The path as text; undecodable bytes shown as \\x escapes (stable, so rescans recognise it)."""
    if _is_utf8(path):
        return path
    return os.fsencode(path).decode("utf-8", "backslashreplace")
