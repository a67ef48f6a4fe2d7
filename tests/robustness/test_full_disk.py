"""A full disk where the library is kept: `index` stops with one line, nothing is left half-written, and once
there is room again the next `index` finishes the job.

The library lives on a small tmpfs (6 MB) filled up by a filler file: either before the run, leaving a little
room (the run fills the rest), or from inside the run after two batches (crash.py's mutate action), leaving
none. In both cases:

- `index` exits non-zero with one "photosort: ..." line (no traceback);
- `search` and `status` on the full disk exit 0 or fail in one line;
- with the filler removed, `index` exits 0 and the library is consistent (helpers.check_consistency).

Mounting needs root; without it (or where the kernel refuses), the tests are skipped.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.robustness.helpers import (assert_clean, assert_succeeded, check_consistency, crash, describe,
                                      index_args, photo_folder, photosort)

DISK = "6m"
FILLER = "filler"
CHUNK = 64 * 1024


@pytest.fixture
def disk(tmp_path):
    """A 6 MB tmpfs, unmounted at the end whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small disk needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk with a filler file until at most `leave` bytes are free."""
    filler = disk / FILLER
    stats = os.statvfs(disk)
    wanted = max(0, stats.f_bavail * stats.f_frsize - leave)
    with open(filler, "ab") as file:
        try:
            while wanted > 0:
                wanted -= file.write(b"\0" * min(CHUNK, wanted))
            file.flush()
        except OSError:  # full already
            pass
    return filler


FILL_SCRIPT = f"""
import os
disk = {{disk!r}}
with open(os.path.join(disk, {FILLER!r}), "ab") as file:
    try:
        while True:
            file.write(b"\\0" * {CHUNK})
            file.flush()
    except OSError:
        pass
"""


def full_then_room_again(disk: Path, library: Path, photos: Path, run: subprocess.CompletedProcess) -> None:
    assert_clean(run, "index on a full disk")
    assert run.returncode != 0, "index said it succeeded on a full disk\n" + describe(run)
    for args in (["search", "a red circle", "--all", "--json"], ["status"]):
        assert_clean(photosort(library, *args), f"{args[0]} while the disk is full")
    (disk / FILLER).unlink()
    assert_succeeded(photosort(library, *index_args(photos)), "index once there is room")
    check_consistency(library, photos, thumbnails=True)


def test_disk_full_before_the_run(tmp_path, disk):
    """Only ~150 KB free when `index` starts: it fails in one line, and succeeds once there is room."""
    photos = tmp_path / "photos"
    photo_folder(photos, 32)
    library = disk / "library"
    fill(disk, 150 * 1024)
    full_then_room_again(disk, library, photos, photosort(library, *index_args(photos)))


def test_disk_fills_during_the_run(tmp_path, disk):
    """The disk fills up completely after the second batch: the run fails in one line, the next one finishes."""
    photos = tmp_path / "photos"
    photo_folder(photos, 32)
    library = disk / "library"
    run = crash("encode", 3, library, *index_args(photos), mutate=FILL_SCRIPT.format(disk=str(disk)))
    assert "crash.py: mutating at encode" in run.stderr, describe(run)
    full_then_room_again(disk, library, photos, run)
