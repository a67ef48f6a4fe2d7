"""The installed app, as built by `make package`: its programs started as a user starts them, with no Python
and no source tree behind them. Skipped until a bundle exists (make package runs it after building).

Everything build.spec leaves out is proven safe here: each command, the model's process and the decoding
pool, and the desktop app, run inside the bundle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import sys
from pathlib import Path

import pytest

from photosort import __version__
from tests.frozen_helpers import APP, BUNDLE, BUNDLE_INTERNAL, CLI, bundle_built
from tests.library_helpers import kind_of, tiny_world, wait_for, write_photo

pytestmark = pytest.mark.skipif(not bundle_built(), reason="no bundle built (make package)")

GUI_START_TIMEOUT_S = 120


def frozen_env(data_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTHON", "VIRTUAL_ENV", "PHOTOSORT_"))}  # nothing of the source tree
    env.update(PHOTOSORT_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen", PYTHONNOUSERSITE="1")
    return env


def cli(data_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=frozen_env(data_dir),
                          timeout=timeout, cwd=data_dir)  # a folder far from the checkout


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def test_version_says_which_build_it_is(data_dir):
    result = cli(data_dir, "--version")
    assert result.returncode == 0, result.stderr
    info = json.loads((BUNDLE_INTERNAL / "photosort" / "build_info.json").read_text())
    assert result.stdout.startswith(f"photosort {__version__} (")
    assert info["variant"] in ("cpu", "cuda", "standard") and f"torch {info['torch']}" in result.stdout


def test_index_search_and_status_with_the_bundled_model(data_dir, tmp_path):
    photos = tiny_world(tmp_path / "photos", per_kind=1)
    write_photo(tmp_path / "photos" / "phone-red-circle.heic", "red", "circle", 2, seed=3)  # HEIC, as phones
    library = str(tmp_path / "library")
    indexed = cli(data_dir, "--library", library, "index", str(tmp_path / "photos"), "--model", "tiny-shapes")
    assert indexed.returncode == 0, indexed.stderr
    status = cli(data_dir, "--library", library, "status", "--json")
    assert status.returncode == 0, status.stderr
    held = json.loads(status.stdout)
    assert (held["photos"], held["indexed"], held["failed"]) == (len(photos) + 1, len(photos) + 1, 0)
    for query, wanted in (("a photo of a blue star", ("blue", "star")), ("yellow triangles", ("yellow", "triangle"))):
        found = cli(data_dir, "--library", library, "search", query, "-k", "1", "--json", "--all")
        assert found.returncode == 0, found.stderr
        assert kind_of(json.loads(found.stdout)[0]["path"]) == wanted
    heic = cli(data_dir, "--library", library, "search", "--image", str(tmp_path / "photos" / "phone-red-circle.heic"),
               "-k", "1", "--json", "--all")
    assert heic.returncode == 0 and json.loads(heic.stdout)[0]["path"].endswith("phone-red-circle.heic"), heic.stderr


def test_the_installed_app_opens_a_shared_library(data_dir, tmp_path, postgres_uri):
    """The installers carry the PostgreSQL driver (psycopg with its libpq): a shared library works from them."""
    photos = tiny_world(tmp_path / "photos", per_kind=1)
    indexed = cli(data_dir, "--library", postgres_uri, "index", str(tmp_path / "photos"), "--model", "tiny-shapes")
    assert indexed.returncode == 0, indexed.stderr
    found = cli(data_dir, "--library", postgres_uri, "search", "a green star", "-k", "1", "--json", "--all")
    assert found.returncode == 0, found.stderr
    assert kind_of(json.loads(found.stdout)[0]["path"]) == ("green", "star")
    held = json.loads(cli(data_dir, "--library", postgres_uri, "status", "--json").stdout)
    assert held["indexed"] == len(photos)


def test_a_bad_command_gets_one_line(data_dir):
    result = cli(data_dir, "search", "--no-such-option")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads children from /proc")
def test_the_desktop_app_indexes_through_its_processes_and_closes_cleanly(data_dir, tmp_path):
    library = tmp_path / "library"
    photos = tmp_path / "photos"
    write_photo(photos / "red-circle-first.png", "red", "circle", 1, seed=1)
    indexed = cli(data_dir, "--library", str(library), "index", str(photos), "--model", "tiny-shapes")
    assert indexed.returncode == 0, indexed.stderr
    later = tiny_world(photos / "later", per_kind=1)  # found by the app's own scan when it opens
    app = subprocess.Popen([str(APP), "--library", str(library)], env=frozen_env(data_dir),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = data_dir / "logs" / "app.log"  # where the windowed program's errors go
    try:
        helpers: set[int] = set()

        def indexed_all() -> bool:
            assert app.poll() is None, f"the app ended ({app.returncode}): {log.read_text() if log.exists() else ''}"
            helpers.update(children_of(app.pid))
            status = cli(data_dir, "--library", str(library), "status", "--json")
            return status.returncode == 0 and json.loads(status.stdout)["indexed"] == len(later) + 1

        assert wait_for(indexed_all, timeout=GUI_START_TIMEOUT_S, every=0.5), log.read_text() if log.exists() else ""
        assert helpers, "the model and the decoders run in processes of their own"
        app.send_signal(signal.SIGTERM)  # as a system shutdown closes it
        assert app.wait(timeout=60) == 0, log.read_text() if log.exists() else ""
    finally:
        if app.poll() is None:
            app.kill()
    found = cli(data_dir, "--library", str(library), "search", "a photo of a red circle", "-k", "3", "--json", "--all")
    assert found.returncode == 0, found.stderr
    assert kind_of(json.loads(found.stdout)[0]["path"]) == ("red", "circle")


def test_what_the_bundle_holds_and_leaves_out():
    internal = BUNDLE_INTERNAL
    assert sorted(path.name for path in (internal / "torch" / "bin").iterdir()) == [
        "torch_shm_manager" + (".exe" if sys.platform == "win32" else "")]
    for left_out in ("scipy", "sympy", "tkinter", "_pytest", "pytest", "torch/include",
                     "PySide6/Qt/translations", "yaml", "skimage"):
        assert not (internal / left_out).exists(), left_out
    assert (internal / "photosort" / "resources" / "bpe_simple_vocab_16e6.txt.gz").is_file()
    assert (internal / "photosort" / "models" / "tiny-shapes.pt").is_file()
    assert (internal / "certifi" / "cacert.pem").is_file()  # model downloads over HTTPS
    if sys.platform.startswith("linux"):
        platforms = {path.name for path in (internal / "PySide6" / "Qt" / "plugins" / "platforms").iterdir()}
        assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= platforms  # X11 and Wayland desktops
        assert (internal / "PySide6" / "Qt" / "plugins" / "wayland-shell-integration" / "libxdg-shell.so").is_file()
        for name in ("photosort.desktop", "photosort.png", "install-desktop-entry.sh"):
            assert (BUNDLE / name).is_file(), name


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux desktop entry")
def test_the_desktop_entry_installs_for_the_user(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(["sh", str(BUNDLE / "install-desktop-entry.sh")], capture_output=True, text=True,
                            env=dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / "share")))
    assert result.returncode == 0, result.stderr
    entry = (home / "share" / "applications" / "photosort.desktop").read_text()
    assert f'Exec="{APP}"' in entry and "Icon=" + str(home / "share" / "icons") in entry
    assert (home / ".local" / "bin" / "photosort").resolve() == CLI.resolve()


def test_the_release_archive_holds_the_tested_app_and_runs_unpacked(data_dir, tmp_path):
    archives = sorted(BUNDLE.parent.glob("photosort-*.tar.gz"))
    if not archives:
        pytest.skip("no archive packed (make package)")
    with tarfile.open(archives[-1]) as archive:
        archive.extractall(tmp_path / "unpacked", filter="tar")

    def files(folder: Path) -> dict[str, int]:
        return {str(path.relative_to(folder)): path.lstat().st_size for path in folder.rglob("*")
                if not path.is_dir() or path.is_symlink()}

    unpacked = tmp_path / "unpacked" / "photosort"
    assert files(unpacked) == files(BUNDLE)  # the archive is the folder the tests above ran
    program = unpacked / CLI.name
    version = subprocess.run([str(program), "--version"], capture_output=True, text=True, env=frozen_env(data_dir))
    assert version.returncode == 0 and version.stdout.startswith("photosort "), version.stderr
    models = subprocess.run([str(program), "models", "list"], capture_output=True, text=True, env=frozen_env(data_dir))
    assert models.returncode == 0, models.stderr
    assert f"tiny-shapes  installed: {unpacked}" in models.stdout  # the demo model, found inside the unpacked app
