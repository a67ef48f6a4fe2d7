"""Typed errors of the library engine. Each message is one line a person can act on."""

from __future__ import annotations


class LibraryError(Exception):
    """The library cannot be used as asked (unreadable, newer than this app, bad arguments)."""


class NoModelError(LibraryError):
    """No CLIP model can be had: not installed, and it cannot be downloaded."""


class PhotoError(Exception):
    """One photo cannot be read; the reason is recorded and the run goes on."""


class CatalogDamaged(LibraryError):
    """The catalog file is damaged; `photosort library check` rebuilds it."""


class CatalogLost(LibraryError):
    """The catalog lacks changes it once had (its write-ahead log was removed, or it was replaced)."""


class LibraryBusy(LibraryError):
    """Another photosort is writing to this library."""


class DiskFull(LibraryError):
    """No room left where the library is kept; nothing was half-written."""


def disk_full(folder: object) -> DiskFull:
    return DiskFull(f"the disk holding the library {folder} is full: nothing was half-written; make room and run "
                    "the command again")
