"""A wheel built from the tree, installed into a clean virtual environment, answers a search: its package data
(vocabulary, prompt templates, icons, the demo model) travels with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.library_helpers import kind_of, tiny_world

ROOT = Path(__file__).resolve().parent.parent


def test_a_wheel_installs_into_a_clean_environment_and_answers_a_search(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "wheels"), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "wheels").glob("photosort-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("photosort/resources/bpe_simple_vocab_16e6.txt.gz", "photosort/resources/prompt_templates/photo.txt",
                 "photosort/resources/icons/photosort.svg", "photosort/models/tiny-shapes.pt"):
        assert data in names, data

    clean = tmp_path / "clean"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(clean)], check=True)
    python = clean / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The libraries already installed (torch, Qt: gigabytes) are lent to the clean environment after its own
    # packages; photosort itself comes from the wheel alone.
    (site / "lent-libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, cwd=tmp_path)

    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH",)}
    env["PHOTOSORT_DATA_DIR"] = str(tmp_path / "data")

    def photosort(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-m", "photosort", "--library", str(tmp_path / "library"), *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)

    where = subprocess.run([python, "-c", "import photosort; print(photosort.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, check=True).stdout
    assert Path(where).is_relative_to(clean)
    tiny_world(tmp_path / "photos", per_kind=1)
    indexed = photosort("index", str(tmp_path / "photos"), "--model", "tiny-shapes")
    assert indexed.returncode == 0, indexed.stderr
    found = photosort("search", "a photo of a green square", "-k", "1", "--json", "--all")
    assert found.returncode == 0, found.stderr
    assert kind_of(json.loads(found.stdout)[0]["path"]) == ("green", "square")
