"""Photos added, changed, renamed and deleted while `photosort index` runs: the next run gets everything right.

The changes are made inside the running process at a precise moment (tests/robustness/crash.py's mutate
action): after the first batch is committed, while the rest of the folder waits to be read (or mid-scan,
between the files' listing and their reading). Then one more `index` runs, and the library must hold exactly
the files there now, each read and with the vector of what the file holds now:

- the added file is there; it is a copy of the changed file's old content, so a vector kept under the old
  content's key but computed from the new content would be found for it (helpers.check_contents);
- the changed file (same name, a different shape) is its own first hit when searched for by itself;
- the renamed file is there under its new name only, read and searchable (not left "unreadable" because its
  old name vanished mid-run);
- the deleted file is gone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.library_helpers import write_photo
from tests.robustness.helpers import (assert_clean, assert_succeeded, check_consistency, check_contents, crash,
                                      index_args, photo_folder, photosort)

# The files changed are the last ones read (photos are read in path order), so they are still waiting when
# the changes are made after the first batch.
MODIFIED, RENAMED, DELETED = "zz-modified.jpg", "zz-renamed.jpg", "zz-deleted.jpg"
COPY_OF_OLD, RENAMED_TO, ARRIVED = "aa-copy-of-old.jpg", "ab-renamed-now.jpg", "ac-arrived.jpg"

MOMENTS = {
    "mid-encoding": ("encode", 2),  # the first batch of 4 committed, the model called for the second
    "mid-scan": ("scan", 1),  # every file listed, the first one read
}


@pytest.mark.parametrize("moment", MOMENTS)
def test_files_changed_during_a_run(tmp_path, moment):
    """Every kind of change made mid-run: one more `index` and the library holds what the folder holds."""
    photos = tmp_path / "photos"
    photo_folder(photos, 32)
    write_photo(photos / MODIFIED, "red", "circle", seed=11)
    write_photo(photos / RENAMED, "green", "square", seed=12)
    write_photo(photos / DELETED, "blue", "triangle", seed=13)
    new_content = write_photo(tmp_path / "new-content.jpg", "white", "star", count=2, seed=14)
    arrival = write_photo(tmp_path / "arrival.jpg", "orange", "triangle", seed=15)
    changes = f"""
import os, shutil
folder = {str(photos)!r}
def at(name):
    return os.path.join(folder, name)
shutil.copyfile(at({MODIFIED!r}), at({COPY_OF_OLD!r}))  # added: the changed file's old content
shutil.copyfile({str(new_content)!r}, at({MODIFIED!r}))  # changed in place: same name, a white star now
os.rename(at({RENAMED!r}), at({RENAMED_TO!r}))
os.unlink(at({DELETED!r}))
shutil.copyfile({str(arrival)!r}, at({ARRIVED!r}))  # added: new content
"""
    library = tmp_path / "library"
    point, n = MOMENTS[moment]
    during = crash(point, n, library, *index_args(photos), mutate=changes)
    assert f"crash.py: mutating at {point}" in during.stderr, during.stderr
    assert_clean(during, "the index run the changes were made during")

    assert_succeeded(photosort(library, *index_args(photos)), "the next index run")
    ids = check_consistency(library, photos, thumbnails=True)
    names = {Path(path).name for path in ids}
    assert {COPY_OF_OLD, ARRIVED, RENAMED_TO, MODIFIED} <= names, sorted(names)
    assert RENAMED not in names and DELETED not in names, sorted(names)
    check_contents(library, photos)

    found = photosort(library, "search", "--image", str(photos / MODIFIED), "-k", "3", "--json", "--all")
    assert_succeeded(found, "search --image the changed file")
    hits = json.loads(found.stdout)
    assert hits and Path(hits[0]["path"]).name == MODIFIED, hits
