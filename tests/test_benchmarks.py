"""Every benchmark runs: each at a tiny size, in a process of its own, as a person runs it. Nothing is timed
here (the figures mean nothing at these sizes); a benchmark that is never run rots unseen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.library_helpers import write_photo

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
TIMEOUT_S = 300
# bench_index, bench_near and bench_relevance take 10-20 s each here (each starts photosort processes that load
# a model); the whole file about a minute of one core.


def smoke(script: str, *args: str, figures: str):
    """A run of `script` with `args` ({work}: a folder of its own; {photos}: a few photos), which prints a line
    matching `figures`."""
    return pytest.param(script, args, figures, id=Path(script).stem)


RUNS = [
    smoke("bench_clip.py", "--shape", "small", "--batches", "1", "2", "--repeats", "1",
          figures=r"matmul limit \d+ GFLOP/s"),
    smoke("bench_dupes.py", "--size", "400", "--work", "{work}", "--wallpapers", "{work}/none",
          figures=r"photosort dupes \(all tiers\) +\d+\.\d"),
    smoke("bench_frozen.py", "--photos", "32", "--runs", "1", figures=r"first search +\d+\.\d+ / +\d+\.\d+ s"),
    smoke("bench_gui.py", "--photos", "2000", "--settle-ms", "50", figures=r"scroll a screen +\d+ ms +\d+ ms"),
    smoke("bench_gui_stalls.py", "--photos", "60", "--runs", "1",
          figures=r"longest UI stall over 1 runs: \d+ ms .*budget 100 ms"),
    smoke("bench_index.py", "--photos", "{photos}", "--shape", "small", "--repeats", "1",
          figures=r"photosort index +\d+\.\d s"),
    smoke("bench_integrity.py", "--files", "10", "--megabytes", "1", "--vectors", "2000", "--warm-only",
          figures=r"index of 2,000 vectors .* open \d+\.\d+ s"),
    smoke("bench_library.py", "--photos", "300", "--rescan", "20", "--shape", "small", "--repeats", "1",
          figures=r"whole text query at 300 photos .* median \d+ ms"),
    smoke("bench_near.py", "--baseline-tree", ".", "--work", "{work}", "--wallpapers", "{work}/none",
          figures=r"this tree +recall of copies \d\.\d+"),
    smoke("bench_query.py", "--sizes", "300", "--runs", "1", "--shape", "small", "--baseline-tree", ".",
          figures=r"first search, at once +\d+\.\d+ / +\d+\.\d+ s +\d+\.\d+ / +\d+\.\d+ s"),
    smoke("bench_text_tower.py", "--shape", "small", "--runs", "1",
          figures=r"warm, 8 prompts \(median\) +\d+\.\d ms"),
    smoke("bench_relevance.py", figures=r"held-out accuracy: prompt alone \d\.\d+"),
    smoke("bench_shared.py", "--photos", "300", "--queries", "5", "--writers-photos", "4", "--shape", "small",
          figures=r"PostgreSQL +\d+ s +p50 +\d+\.\d ms"),
    smoke("bench_search.py", "--sizes", "2000", "--queries", "20", "--cache", "{work}",
          figures=r"HNSW +p50 +\d+\.\d+ ms"),
]


def few_photos(folder: Path) -> Path:
    for number, (colour, shape) in enumerate([("red", "circle"), ("blue", "star"), ("green", "square")]):
        write_photo(folder / f"{number}.jpg", colour, shape, quality=90)
    return folder


@pytest.mark.parametrize("script, args, figures", RUNS)
def test_benchmark_runs(script, args, figures, tmp_path):
    photos = few_photos(tmp_path / "photos") if "{photos}" in args else None
    command = [sys.executable, str(BENCHMARKS / script), *(arg.format(work=tmp_path, photos=photos) for arg in args)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert re.search(figures, result.stdout), result.stdout[-4000:]


def test_fetch_wallpapers_keeps_each_large_jpeg_once(tmp_path):
    """With apt-get stood in for (the packages are downloads): a package holding a large photo, a copy of it
    and a small one."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("the script unpacks Debian packages: dpkg-deb is needed")
    package = tmp_path / "package"
    backgrounds = package / "usr" / "share" / "backgrounds"
    backgrounds.mkdir(parents=True)
    Image.new("RGB", (2000, 1000), (40, 90, 160)).save(backgrounds / "large.jpg")
    shutil.copy(backgrounds / "large.jpg", backgrounds / "large-copy.jpg")
    Image.new("RGB", (800, 600), (200, 60, 30)).save(backgrounds / "small.jpg")
    (package / "DEBIAN").mkdir()
    (package / "DEBIAN" / "control").write_text("Package: wallpapers\nVersion: 1\nArchitecture: all\n"
                                                 "Maintainer: tests <tests@example.org>\nDescription: wallpapers\n")
    deb = tmp_path / "wallpapers.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(package), str(deb)], check=True, capture_output=True)
    stand_in = tmp_path / "bin" / "apt-get"
    stand_in.parent.mkdir()
    stand_in.write_text(f'#!/bin/sh\ncp "{deb}" .\n')
    stand_in.chmod(0o755)
    env = dict(os.environ, PATH=f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["bash", str(BENCHMARKS / "fetch_wallpapers.sh"), str(tmp_path / "out")], env=env,
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert f"1 photos in {tmp_path / 'out'}" in result.stdout
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_every_benchmark_has_a_smoke_run():
    smoked = {run.values[0] for run in RUNS} | {"fetch_wallpapers.sh"}
    assert {path.name for path in BENCHMARKS.iterdir() if path.suffix in (".py", ".sh")} == smoked
