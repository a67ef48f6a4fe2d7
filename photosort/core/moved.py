"""Telling that a folder moved: the photos the library knows in a folder it cannot find any more are found, with
their sizes and contents, at the same places within another folder."""

from __future__ import annotations

import os
from pathlib import Path

from .catalog import Photo
from .decode import fingerprint
from .errors import PhotoError

PRESENT_SHARE = 0.8  # of the sample, found at the new place with their sizes: photos come and go meanwhile
HASHED = 4  # of those found, read whole and compared by content: sizes alone match by chance in a small folder


def same_photos(sample: list[Photo], old: Path, new: Path) -> bool:
    """Whether `sample` (photos of the folder at `old`) is at `new` now."""
    if not sample:
        return False  # a folder with no photos known cannot be told apart from any other
    prefix = os.fsencode(str(old).rstrip(os.sep) + os.sep)
    found = []
    for photo in sample:
        within = os.fsencode(photo.file)[len(prefix):]
        candidate = os.path.join(os.fsencode(new), within)
        try:
            if os.stat(candidate).st_size == photo.size:
                found.append((photo, candidate))
        except OSError:
            continue
    if len(found) < PRESENT_SHARE * len(sample):
        return False
    for photo, candidate in found[:HASHED]:
        try:
            if fingerprint(os.fsdecode(candidate), photo.size) != photo.fingerprint:
                return False
        except PhotoError:
            return False
    return True
