"""Folders of real photo files for the library tests, and the `photosort` command run as a user runs it."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pillow_heif
from PIL import Image

from photosort.clip import shapes
from photosort.paths import bundled_models_dir

TINY_MODEL = bundled_models_dir() / "tiny-shapes.pt"

pillow_heif.register_heif_opener()  # so the tests can write HEIC files as phones do


def run(library: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "photosort", "--library", str(library), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def wait_for(condition: Callable[[], object], timeout: float = 60.0, every: float = 0.05) -> bool:
    """Whether `condition()` came true within `timeout` seconds, asked every `every` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


def status(library: Path, *extra: str) -> dict:
    result = run(library, "status", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def search(library: Path, query: str, k: int = 5, *extra: str) -> list[dict]:
    """The k nearest photos, weak matches included (`--all`) unless `extra` says otherwise."""
    result = run(library, "search", query, "-k", str(k), "--json", *(extra or ("--all",)))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def trashed_names() -> set[str]:
    """Names in this test process's system trash. The trash library reads XDG_DATA_HOME once, when first
    imported (conftest points it at a temporary folder first), so it is asked where its trash is."""
    from send2trash import plat_other

    files = Path(plat_other.HOMETRASH) / "files"
    assert str(files).startswith(tempfile.gettempdir())  # never the real trash of whoever runs the tests
    return {path.name for path in files.iterdir()} if files.is_dir() else set()


def shape_photo(colour: str, shape: str, count: int = 1, seed: int = 0) -> Image.Image:
    import random

    rng = random.Random(seed)
    return shapes.render(shapes.Scene(colour, shape, count, "grey"), rng)


def write_photo(path: Path, colour: str, shape: str, count: int = 1, seed: int = 0, **save_options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape_photo(colour, shape, count, seed).save(path, **save_options)
    return path


def png_bomb(path: Path, side: int = 100_000) -> None:
    """A tiny valid PNG whose header claims side x side pixels: decoding it would need ~30 GB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))


def tiny_world(folder: Path, per_kind: int = 3, seed: int = 5) -> list[Path]:
    """Photos of the tiny model's world, named colour-shape-N.jpg: every colour and shape, counts and
    backgrounds at random. The name is the right answer."""
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for colour in shapes.COLOURS:
        for shape in shapes.SHAPES:
            for number in range(per_kind):
                scene = shapes.Scene(colour, shape, rng.choice(shapes.COUNTS),
                                     shapes.background_for(rng, colour, shapes.TRAINING))
                path = folder / f"{colour}-{shape}-{number}.jpg"
                shapes.render(scene, rng).convert("RGB").save(path, quality=90)
                written.append(path)
    return written


def kind_of(path: str) -> tuple[str, str]:
    """(colour, shape) of a tiny-world photo, from its name; ("", name) for any other photo."""
    parts = Path(path).stem.split("-")
    return (parts[0], parts[1]) if len(parts) == 3 else ("", Path(path).stem)


def index_folders(library: Path, *folders: Path) -> None:
    result = run(library, "index", *map(str, folders), "--model", str(TINY_MODEL))
    assert result.returncode == 0, result.stderr


def old_catalog(path: Path, version: int, folder: Path, photos: dict[Path, str], size: int = 1, width: int = 24,
                height: int = 16, taken: float = 99.0) -> dict[Path, int]:
    """A catalog as an older photosort left it: schema `version`, photos by their full paths, each decoded
    (`width` x `height`, dated `taken`) with its fingerprint. Returns their ids."""
    import sqlite3

    from photosort.core import catalog as catalog_module

    db = sqlite3.connect(path, isolation_level=None)
    for step in catalog_module.MIGRATIONS[:version]:
        assert isinstance(step, str), "an older catalog is made by the SQL steps before the first in Python"
        for statement in catalog_module._statements(step):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    folder_id = db.execute("INSERT INTO folders (path, added) VALUES (?, 0) RETURNING id", (str(folder),)).fetchone()[0]
    ids = {file: db.execute("INSERT INTO photos (path, folder_id, size, mtime_ns, fingerprint, width, height, taken, "
                            "state) VALUES (?, ?, ?, 1, ?, ?, ?, ?, 'ok') RETURNING id",
                            (str(file), folder_id, size, print_, width, height, taken)).fetchone()[0]
           for file, print_ in photos.items()}
    db.close()
    return ids
