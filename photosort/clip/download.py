"""Fetching checkpoint files: resumable, checksummed, written atomically.

The bytes go to `<file>.part`; an interrupted transfer is resumed from there with an HTTP range request, by the
retries of one call or by a later call. Only a complete file whose checksum matches is renamed into place, so
a models folder never holds a half-written checkpoint under its real name.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .errors import ChecksumError, DownloadError

CHUNK_BYTES = 1 << 20  # read size; also how often progress is reported
HASH_CHUNK_BYTES = 8 << 20
CONNECT_TIMEOUT_S = 30  # a stalled connection fails after this long without data, and is resumed
RETRIES = 3  # resumed attempts after a dropped connection, within one call
PARTIAL_SUFFIX = ".part"
VERIFIED_SUFFIX = ".verified"  # remembers a checked file's size and mtime, so it is hashed once, not each start
USER_AGENT = "photosort"

Progress = Callable[[int, "int | None"], None]  # (bytes done, bytes in all when known)


class DownloadCancelled(DownloadError):
    """The caller asked to stop; the partial file is kept for a later resume."""


def tls_context() -> ssl.SSLContext:
    """Certificates checked against the system's authorities and Mozilla's (certifi): the installed app and
    python.org's macOS Python may find no system store, and a company's own authority lives only there."""
    import certifi

    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    return context


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + VERIFIED_SUFFIX)


def _fingerprint(path: Path, sha256: str) -> dict:
    stat = path.stat()
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def is_verified(path: Path, sha256: str) -> bool:
    """Whether `path` has this checksum: read from its stamp when the file is unchanged, else computed."""
    try:
        if json.loads(_stamp_path(path).read_text()) == _fingerprint(path, sha256):
            return True
    except (OSError, ValueError):
        pass
    if sha256_of(path) != sha256:
        return False
    record_verified(path, sha256)
    return True


def record_verified(path: Path, sha256: str) -> None:
    """Remember that `path`, as it is now, has this checksum."""
    try:
        _stamp_path(path).write_text(json.dumps(_fingerprint(path, sha256)))
    except OSError:  # a read-only models folder (inside an app bundle) is checked again next time
        pass


def download(url: str, destination: Path, sha256: str | None = None, progress: Progress | None = None,
             should_cancel: Callable[[], bool] | None = None, retries: int = RETRIES) -> Path:
    """Download `url` to `destination`, resuming any `.part` left by an earlier try; returns `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + PARTIAL_SUFFIX)
    resumed = partial.exists() and partial.stat().st_size > 0
    _transfer_with_retries(url, partial, progress, should_cancel, retries)
    actual = sha256_of(partial) if sha256 else None
    if actual != sha256 and resumed:
        # The kept part may be from another version of the file: one more try, from the first byte.
        partial.unlink()
        _transfer_with_retries(url, partial, progress, should_cancel, retries)
        actual = sha256_of(partial)
    if actual != sha256:
        partial.unlink()
        raise ChecksumError(f"{url} arrived with checksum {actual}, not the published {sha256}; "
                            "the file was discarded")
    commit_partial(partial, destination)
    if sha256 is not None:
        record_verified(destination, sha256)
    return destination


def _transfer_with_retries(url: str, partial: Path, progress: Progress | None,
                           should_cancel: Callable[[], bool] | None, retries: int) -> None:
    attempt = 0
    while True:
        try:
            return _transfer(url, partial, progress, should_cancel)
        except DownloadCancelled:
            raise
        except (urllib.error.HTTPError, ValueError) as error:  # the server answered no: retrying cannot help
            raise DownloadError(str(error)) from error
        except (OSError, http.client.HTTPException) as error:  # dropped, refused or stalled connection
            attempt += 1
            if attempt > retries:
                kept = partial.stat().st_size if partial.exists() else 0
                resume = f"; {kept} bytes kept in {partial}, the next try resumes from there" if kept else ""
                raise DownloadError(f"{getattr(error, 'reason', error)}{resume}") from error


def _transfer(url: str, partial: Path, progress: Progress | None, should_cancel: Callable[[], bool] | None) -> None:
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S, context=tls_context())
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the partial file is no prefix of this resource: start afresh
            partial.unlink()
            return _transfer(url, partial, progress, should_cancel)
        raise
    with response:
        if response.status == 206:
            total = _total_from_content_range(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # the server ignored the range: the whole file comes again
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
        done = offset
        with partial.open(mode) as file:
            if progress:
                progress(done, total)
            while chunk := response.read(CHUNK_BYTES):
                file.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
                if should_cancel and should_cancel():
                    raise DownloadCancelled(f"download of {url} cancelled at {done} bytes; it resumes next time")
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)


def _total_from_content_range(header: str | None) -> int | None:
    match = re.fullmatch(r"bytes \d+-\d+/(\d+)", (header or "").strip())
    return int(match.group(1)) if match else None


def commit_partial(partial: Path, destination: Path) -> None:
    """Move a finished `.part` file into place durably: its bytes on disk first, then the rename."""
    _sync(partial)
    os.replace(partial, destination)
    _sync_folder(destination.parent)


def _sync(path: Path) -> None:
    with path.open("rb+") as file:
        os.fsync(file.fileno())


def _sync_folder(folder: Path) -> None:
    if os.name == "posix":  # a rename is durable only once its folder is synced; Windows has no folder fsync
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
