"""What the library-integrity tests (issue 12) share: photosort run as a user runs it (and as a crash ends it),
damage done to library files, and the consistency check every test ends with.

The check is done in this process, on the library folder the commands left behind, through the engine's own
classes: the catalog lists every photo file exactly once, readable and measured; every photo has a stored
vector; the index holds exactly those photos, each with its own stored vector; every photo is its own nearest
neighbour. A library that passes it answers searches as if it had never been damaged.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from tests.library_helpers import TINY_MODEL, tiny_world

CRASH = Path(__file__).with_name("crash.py")
KILLED = -9  # subprocess's returncode for a process that SIGKILL ended
# Commands run outside a test's own data folder (module fixtures) still never touch the real one.
_DATA = tempfile.mkdtemp(prefix="photosort-robustness-data-")
TAIL = 2500  # characters of a command's output shown when a test fails


def environment() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("PHOTOSORT_DATA_DIR", _DATA)
    return env


def photosort(library: Path, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    """`photosort --library LIBRARY ARGS...` in its own process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "photosort", "--library", str(library), *map(str, args)],
                          capture_output=True, text=True, env=environment(), timeout=timeout)


def crash(point: str, n: int, library: Path, *args, mutate: str | None = None, count: bool = False,
          timeout: float = 300) -> subprocess.CompletedProcess:
    """photosort through tests/robustness/crash.py: killed at (or, with `mutate`, changing things at) the N-th
    time it reaches `point`."""
    action = ["mutate", mutate] if mutate is not None else ["count"] if count else []
    return subprocess.run([sys.executable, str(CRASH), point, str(n), *action, "--", "--library", str(library),
                           *map(str, args)], capture_output=True, text=True, env=environment(), timeout=timeout)


def times_reached(point: str, library: Path, *args) -> int:
    """How many times a run of photosort reaches `point` (crash.py's count action)."""
    result = crash(point, 0, library, *args, count=True)
    assert_succeeded(result, f"counting {point}")
    line = next(line for line in result.stderr.splitlines() if line.startswith(f"crash.py: {point} reached"))
    return int(line.split()[3])


def index_args(folder: Path, batch_size: int = 4) -> list[str]:
    return ["index", str(folder), "--model", str(TINY_MODEL), "--batch-size", str(batch_size)]


def describe(result: subprocess.CompletedProcess, what: str = "") -> str:
    command = " ".join(map(str, result.args[2:])) if isinstance(result.args, list) else str(result.args)
    return (f"{what or command}: exit {result.returncode}\n--- stdout ---\n{result.stdout[-TAIL:]}\n"
            f"--- stderr ---\n{result.stderr[-TAIL:]}")


def assert_clean(result: subprocess.CompletedProcess, what: str = "") -> None:
    """The contract of every command: exit 0, or a non-zero exit whose stderr ends in one "photosort: ..."
    line; never a traceback, never death by a signal (a negative returncode: -11 is a segmentation fault)."""
    assert result.returncode >= 0, f"crashed with signal {-result.returncode}\n" + describe(result, what)
    assert "Traceback" not in result.stderr, "a traceback\n" + describe(result, what)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("photosort: "), \
            "a failure not told in one 'photosort: ' line\n" + describe(result, what)


def assert_succeeded(result: subprocess.CompletedProcess, what: str = "") -> None:
    assert_clean(result, what)
    assert result.returncode == 0, describe(result, what)


def assert_killed(result: subprocess.CompletedProcess, point: str, n: int) -> None:
    assert result.returncode == KILLED, \
        f"photosort was not killed at the {n}th {point}\n" + describe(result, f"crash.py {point} {n}")


# Photos

def photo_folder(folder: Path, count: int, seed: int = 5) -> list[Path]:
    """`count` photos of the tiny model's world, named colour-shape-N.jpg: the first 8 of every colour, the
    first 12 with red-circle-0 and red-square-0 (the photos the tests tag), 32 with every colour and shape."""
    from photosort.clip import shapes

    kinds = len(shapes.COLOURS) * len(shapes.SHAPES)
    written = tiny_world(folder, per_kind=-(-count // kinds), seed=seed)
    colours, figures = list(shapes.COLOURS), list(shapes.SHAPES)
    order = {(colours[i % len(colours)], figures[(i + i // len(colours)) % len(figures)]): i for i in range(kinds)}

    def rank(path: Path) -> tuple[int, int]:
        colour, shape, number = path.stem.split("-")
        return int(number), order[colour, shape]

    ordered = sorted(written, key=rank)
    for extra in ordered[count:]:
        extra.unlink()
    return sorted(ordered[:count])


def image_files(folder: Path) -> set[str]:
    """The photo files under a folder as the library names them (resolved; hidden and temporary files out)."""
    from photosort.core.names import is_ignored_name, is_image_name

    found = set()
    for directory, folders, files in os.walk(Path(folder).resolve()):
        folders[:] = [name for name in folders if not is_ignored_name(name)]
        found.update(os.path.join(directory, name) for name in files
                     if is_image_name(name) and not is_ignored_name(name))
    return found


def copy_library(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, symlinks=True)
    return destination


# Damage

DAMAGES = ("truncate-half", "truncate-0", "random-start", "random-middle", "random-end", "delete")
RANDOM_SPAN = 4096  # bytes overwritten, or a tenth of the file when that is less


def damage(path: Path, how: str, seed: int = 12) -> None:
    """Damage one file the way disks, sync tools and crashes do. Random bytes replace 4 KB (or a tenth of the
    file, whichever is smaller) at its start, middle or end; every byte replaced is changed."""
    size = path.stat().st_size
    if how == "delete":
        path.unlink()
    elif how == "truncate-half":
        os.truncate(path, size // 2)
    elif how == "truncate-0":
        os.truncate(path, 0)
    elif how.startswith("random-"):
        span = max(1, min(RANDOM_SPAN, size // 10))
        offset = {"random-start": 0, "random-middle": max(0, (size - span) // 2),
                  "random-end": max(0, size - span)}[how]
        rng = random.Random(f"{seed}:{path.name}:{how}")
        with open(path, "r+b") as file:
            file.seek(offset)
            old = file.read(span).ljust(span, b"\0")
            file.seek(offset)
            file.write(bytes(byte ^ rng.randrange(1, 256) for byte in old))
    else:
        raise ValueError(f"unknown damage {how!r}")


def library_files(library: Path) -> list[Path]:
    """Every file of a library folder, found by walking it (whatever the engine keeps there)."""
    return sorted(path for path in Path(library).rglob("*") if path.is_file() and not path.is_symlink())


# Consistency

def check_consistency(library: Path, *folders: Path, thumbnails: bool = False) -> dict[str, int]:
    """Assert the library is whole and right for the photos now in `folders` (see the module's docstring), its
    catalog passing SQLite's own integrity check;
    `thumbnails`: also that every thumbnail there is a whole picture (a cache may lack one, never hold half of
    one). Returns the photo ids by path."""
    from PIL import Image

    from photosort.core.decode import thumbnail_path
    from photosort.core.library import Library

    expected = set().union(*(image_files(folder) for folder in folders))
    problems: list[str] = []
    with Library(Path(library)) as opened:
        integrity = [row[0] for row in opened.catalog.db.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append(f"- SQLite's integrity check of the catalog: {integrity[:5]}")
        rows = opened.catalog.db.execute("SELECT id, path, state, width, fingerprint FROM photos_here").fetchall()
        listed = Counter(path for _, path, *_ in rows)
        _report(problems, "listed more than once", [path for path, times in listed.items() if times > 1])
        _report(problems, "photo files missing from the catalog", sorted(expected - set(listed)))
        _report(problems, "catalog rows for files that are not there", sorted(set(listed) - expected))
        _report(problems, "photos not read (state, width)",
                [(path, state, width) for _, path, state, width, _ in rows if state != "ok" or width is None])
        ids_by_path = {path: photo_id for photo_id, path, *_ in rows}
        photo_ids = set(ids_by_path.values())

        model = opened.model
        assert model, "the library has no model"
        ids, vectors = opened.vectors.photo_vectors(model)
        ids = np.asarray(ids, np.int64)
        names = {photo_id: path for path, photo_id in ids_by_path.items()}
        _report(problems, "photos with no stored vector",
                sorted(names.get(photo_id, photo_id) for photo_id in photo_ids - set(ids.tolist())))

        index = opened.index()
        held = set() if index is None else set(np.asarray(index.ids).tolist())
        _report(problems, "photos missing from the index",
                sorted(names.get(photo_id, photo_id) for photo_id in set(ids.tolist()) - held))
        _report(problems, "index entries for no stored vector (gone or unknown photos)",
                sorted(held - set(ids.tolist())))
        if index is not None:
            unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            wrong, strangers = [], []
            for photo_id, vector in zip(ids.tolist(), unit, strict=True):
                if photo_id not in held:
                    continue
                stored = np.asarray(index._graph.get_items([photo_id]), np.float32).reshape(-1)  # normalised
                cosine = float(stored @ vector)
                if cosine < 0.999 or float(np.abs(stored - vector).max()) > 1e-3:
                    wrong.append((names.get(photo_id), round(cosine, 4)))
                first = index.search(vector, 1)
                # Only a photo of the very same vector (a copy of the same content) may tie with it.
                if not first or (first[0].id != photo_id and first[0].score < 1.0 - 1e-6):
                    strangers.append((names.get(photo_id), names.get(first[0].id) if first else None))
            _report(problems, "index vectors that are not the photo's stored vector (path, cosine)", wrong)
            _report(problems, "photos whose own vector finds another photo first (photo, found)", strangers)

        if thumbnails:
            broken = []
            for _, _, _, _, print_ in rows:
                thumbnail = thumbnail_path(opened.thumbnails, print_) if print_ else None
                if thumbnail is not None and thumbnail.exists():
                    try:
                        with Image.open(thumbnail) as picture:
                            picture.load()
                    except Exception as error:  # noqa: BLE001 - any failure to read is the finding
                        broken.append((str(thumbnail), f"{type(error).__name__}: {error}"))
            _report(problems, "thumbnails that are not whole pictures", broken)
    assert not problems, f"the library {library} is not consistent:\n" + "\n".join(problems)
    return ids_by_path


def _report(problems: list[str], what: str, items: list) -> None:
    if items:
        shown = ", ".join(map(str, items[:8])) + (f" ... ({len(items)} in all)" if len(items) > 8 else "")
        problems.append(f"- {what}: {shown}")


def check_contents(library: Path, *folders: Path) -> None:
    """Assert each photo's stored vector is the vector of the file's content now: no vector was kept for what
    a file held when it was scanned rather than what it holds (the file changed while it was being read)."""
    from photosort.clip import Encoder
    from photosort.core.decode import decode
    from photosort.core.library import Library
    from photosort.core.vectors import as_stored

    encoder = Encoder.load(TINY_MODEL, "cpu")
    wrong = []
    with Library(Path(library)) as opened:
        rows = dict(opened.catalog.db.execute("SELECT path, id FROM photos_here").fetchall())
        ids, vectors = opened.vectors.photo_vectors(opened.model)
        stored = dict(zip(np.asarray(ids).tolist(), vectors, strict=True))
    for path in sorted(set().union(*(image_files(folder) for folder in folders))):
        vector = stored.get(rows.get(path))
        if vector is None:
            wrong.append((path, "no vector"))
            continue
        pixels = decode(path, encoder.resolution, os.stat(path).st_mtime).pixels
        fresh = as_stored(encoder.encode_pictures(pixels[None]))[0]
        cosine = float(fresh @ vector / max(np.linalg.norm(fresh) * np.linalg.norm(vector), 1e-12))
        if cosine < 0.99:
            wrong.append((path, round(cosine, 3)))
    assert not wrong, f"stored vectors that are not of the file's content (path, cosine): {wrong}"


# The user's work

def user_labels(library: Path) -> dict[str, set[str]]:
    """The labels the user put on photos themselves (source "user"), by path: read in this process."""
    from photosort.core.library import Library

    with Library(Path(library)) as opened:
        paths = dict(opened.catalog.db.execute("SELECT id, path FROM photos_here").fetchall())
        found: dict[str, set[str]] = {}
        for photo_id, path in paths.items():
            labels = {tag.label for tag in opened.photo_tags(photo_id) if tag.source == "user"}
            if labels:
                found[path] = labels
    return found


def tags_json(library: Path) -> dict[str, list[str]]:
    """`photosort tag --json`: every indexed photo's labels, by path."""
    result = photosort(library, "tag", "--json")
    assert_succeeded(result, "tag --json")
    return json.loads(result.stdout)


def tag_red_by_hand(library: Path, photos: Path) -> list[Path]:
    """The user's own work: a label "red" accepted on two photos; returns those photos."""
    accepted = [photos / "red-circle-0.jpg", photos / "red-square-0.jpg"]
    tagging = photosort(library, "tag", "--label", "red", "--accept", "red", *accepted)
    assert_succeeded(tagging, "tag")
    assert "not a photo of this library" not in tagging.stderr, tagging.stderr
    return accepted


def assert_user_tags_kept(library: Path, label: str, paths: list[Path]) -> None:
    wanted = [str(Path(path).resolve()) for path in paths]
    mine = user_labels(library)
    lost = [path for path in wanted if label not in mine.get(path, set())]
    assert not lost, f"the user's {label!r} tag is gone from {lost} (user tags now: {mine})"
    shown = tags_json(library)
    assert all(label in shown.get(path, []) for path in wanted), f"`tag --json` lost {label!r}: {shown}"
