"""Which file names are photos, and which the library ignores (hidden, temporary, partial downloads)."""

from __future__ import annotations

import os

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff",
                            ".heic", ".heif", ".avif"})
# Names of files still being downloaded or saved, and editors' lock and backup files.
TEMPORARY_SUFFIXES = (".part", ".crdownload", ".download", ".tmp", ".temp", "~")


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def is_ignored_name(name: str) -> bool:
    """Hidden files and folders (".thumbnails", ".Trash") and temporary files."""
    lowered = name.lower()
    return name.startswith(".") or lowered.endswith(TEMPORARY_SUFFIXES) or lowered.startswith("~$")


def shown_path(path: str) -> str:
    """A path as text: bytes of a name that are not valid UTF-8 (Python carries them as lone surrogates) shown
    as \\x escapes, the same every time, so the library recognises the file by it."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
