"""A library survives `photosort index` being killed (SIGKILL: no cleanup at all) at any point of its work.

Each test kills an index run at a named point of the engine (tests/robustness/crash.py: while the scan reads
files, before the scan commits, mid-encoding, with a batch stored but not committed, mid-thumbnail, while the
index files or its manifest are saved, while the user's work is backed up, before the library closes), then
runs `index` again as the user would, and proves:

- the re-run succeeds (exit 0, no traceback), without the user doing anything else;
- the library is consistent (tests/robustness/helpers.check_consistency): every photo once, read, with its
  vector; the index holds exactly those vectors, each its photo's own; no thumbnail is half a picture;
- the user's tags made before the crash are still there.

The default tests kill each point once, mid-run; the slow ones try every call of each point (or a spread of
them), and kills at random moments.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.robustness.helpers import (assert_clean, assert_killed, assert_succeeded,
                                      assert_user_tags_kept, check_consistency, copy_library, crash, environment,
                                      index_args, photo_folder, photosort, tag_red_by_hand, times_reached)

PHOTOS = 24  # with --batch-size 4: six batches
EARLY = ("red-", "blue-")  # the photos indexed (and tagged) before the killed run, in the tagged library


@dataclass(frozen=True)
class World:
    photos: Path  # PHOTOS photos; the killed runs index it
    tagged: Path  # a library that indexed EARLY photos of it (the others came later) with the user's tags
    accepted: list[Path]  # the photos the user tagged "red" themselves


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("kill")
    staging, photos = root / "staging", root / "photos"
    files = photo_folder(staging, PHOTOS)
    photos.mkdir()
    later = []
    for file in files:
        if file.name.startswith(EARLY):
            shutil.move(file, photos / file.name)
        else:
            later.append(file)
    tagged = root / "tagged-library"
    assert_succeeded(photosort(tagged, *index_args(photos)), "index of the early photos")
    accepted = tag_red_by_hand(tagged, photos)
    for file in later:
        shutil.move(file, photos / file.name)
    return World(photos, tagged, accepted)


@dataclass(frozen=True)
class Kill:
    point: str
    n: int  # the call killed: mid-run for today's engine
    tagged: bool  # from the tagged library (else an empty one)

    def command(self, world: World) -> list[str]:
        if self.point == "user-work":  # the backup of the user's work is written when that work changes
            return ["tag", "--label", "blue", "--accept", "blue", str(world.photos / "blue-circle-0.jpg")]
        return index_args(world.photos)


KILLS = [
    Kill("scan", 12, tagged=False),  # half the files fingerprinted, nothing committed
    Kill("scan-commit", 1, tagged=True),  # the scan's writes made, not committed
    Kill("encode", 3, tagged=False),  # two batches committed, the third being encoded
    Kill("batch-commit", 3, tagged=True),  # a batch's vectors stored, its transaction open
    Kill("thumbnail", 10, tagged=False),  # a thumbnail's temporary file written, not renamed
    Kill("index-save", 1, tagged=True),  # index data files written, not synced, manifest not yet replaced
    Kill("manifest-write", 1, tagged=False),  # the new manifest written to its temporary name only
    Kill("after-manifest-rename", 1, tagged=False),  # new manifest in force, old files still there
    Kill("user-work", 1, tagged=True),  # `tag` killed while it backs the user's work up
    Kill("close", 1, tagged=True),  # all committed, the write-ahead log not folded into the catalog
]


def killed_then_rerun(world: World, library: Path, kill: Kill) -> None:
    """Kill a run at `kill`, run `index` again, and check everything the module promises."""
    if kill.tagged:
        copy_library(world.tagged, library)
    result = crash(kill.point, kill.n, library, *kill.command(world))
    assert_killed(result, kill.point, kill.n)
    assert_clean(photosort(library, "status"), "status after the kill")
    assert_succeeded(photosort(library, *index_args(world.photos)), "index after the kill")
    check_consistency(library, world.photos, thumbnails=True)
    if kill.tagged:
        assert_user_tags_kept(library, "red", world.accepted)


@pytest.mark.parametrize("kill", KILLS, ids=[kill.point for kill in KILLS])
def test_killed_index_run_recovers(tmp_path, world, kill):
    """Killed once at this point, mid-run: the next `index` brings the library back, whole, tags and all."""
    killed_then_rerun(world, tmp_path / "library", kill)


SPREAD = 6  # calls tried per point in the slow test: the first, the last and evenly between


@pytest.mark.slow
@pytest.mark.parametrize("kill", KILLS, ids=[kill.point for kill in KILLS])
def test_killed_at_every_call_recovers(tmp_path, world, kill):
    """The same, killed at the first, the last and calls spread between, of each point (counted first)."""
    census = tmp_path / "census"
    if kill.tagged:
        copy_library(world.tagged, census)
    reached = times_reached(kill.point, census, *kill.command(world))
    assert reached > 0, f"a run never reaches {kill.point}"
    for n in sorted({int(round(value)) for value in np.linspace(1, reached, min(reached, SPREAD))}):
        killed_then_rerun(world, tmp_path / f"library-{n}", Kill(kill.point, n, kill.tagged))


@pytest.mark.slow
def test_kills_at_random_moments(tmp_path):
    """Killed at random moments (0.5 to 8 s in, twice in a row): the next complete run leaves it consistent."""
    photos = tmp_path / "photos"
    photo_folder(photos, 96)
    rng = random.Random(1234)
    for round_ in range(6):
        library = tmp_path / f"library-{round_}"
        for _ in range(2):
            process = subprocess.Popen([sys.executable, "-m", "photosort", "--library", str(library),
                                        *index_args(photos)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=environment())
            time.sleep(rng.uniform(0.5, 8.0))
            process.send_signal(signal.SIGKILL)
            out, err = process.communicate(timeout=60)
            result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
            if result.returncode != -9:  # it finished first: a finished run must have been a clean one
                assert_clean(result, "index before the kill")
        again = photosort(library, *index_args(photos))
        assert_succeeded(again, f"index after the kills of round {round_}")
        check_consistency(library, photos, thumbnails=True)
