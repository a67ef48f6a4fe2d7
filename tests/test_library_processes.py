"""The library across processes: the watcher, and a `kill -9` in the middle of indexing."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.library_helpers import TINY_MODEL, run, status, wait_for, write_photo


def start(library, *args):
    return subprocess.Popen([sys.executable, "-m", "photosort", "--library", str(library), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_the_watcher_picks_up_a_photo_written_in_chunks(tmp_path):
    folder, library = tmp_path / "photos", tmp_path / "library"
    write_photo(folder / "first.jpg", "red", "circle")
    assert run(library, "index", str(folder), "--model", str(TINY_MODEL)).returncode == 0
    watcher = start(library, "watch")
    try:
        assert wait_for(lambda: "watching" in (watcher.stderr.readline() or ""), 60)
        source = tmp_path / "staging.jpg"
        write_photo(source, "blue", "star", quality=95)
        data = source.read_bytes()
        with open(folder / "arriving.jpg", "wb") as file:  # written slowly, as a copy over the network
            for start_at in range(0, len(data), len(data) // 5 + 1):
                file.write(data[start_at:start_at + len(data) // 5 + 1])
                file.flush()
                time.sleep(0.4)  # the copy's pace, under the watcher's quiet time
        assert wait_for(lambda: status(library)["indexed"] == 2, 60), status(library)
        assert status(library)["failed"] == 0  # never read half-written
        (folder / "first.jpg").unlink()
        assert wait_for(lambda: status(library)["photos"] == 1, 60)
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(30)
    assert watcher.returncode == 0


def test_kill_during_indexing_then_resume_indexes_every_photo_once(tmp_path):
    folder, library = tmp_path / "photos", tmp_path / "library"
    colours, kinds = ["red", "blue", "green", "yellow"], ["circle", "square", "star"]
    for number in range(240):
        write_photo(folder / f"{number:03}.png", colours[number % 4], kinds[number % 3], seed=number)
    indexing = start(library, "index", str(folder), "--model", str(TINY_MODEL), "--batch-size", "8")
    seen = ""
    while "indexing: " not in seen or " 0 / " in seen.split("indexing: ")[-1][:8]:
        character = indexing.stderr.read(1)
        assert character, "indexing ended before it could be killed"
        seen += character
    indexing.send_signal(signal.SIGKILL)
    indexing.wait(30)
    before = status(library)
    assert 0 < before["indexed"] < 240, before

    resumed = run(library, "index", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    assert f"({240 - before['indexed']} encoded now" in resumed.stderr
    after = status(library)
    assert after["photos"] == 240 and after["indexed"] == 240 and after["failed"] == 0
    hits = json.loads(run(library, "search", "a photo of a red circle", "-k", "240", "--json", "--all").stdout)
    assert len(hits) == 240 and len({hit["path"] for hit in hits}) == 240
