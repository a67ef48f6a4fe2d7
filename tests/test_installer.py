"""What build.spec decides, checked without running PyInstaller: what is left out, the models an offline
installer bundles, the build's record, the icons and the platform metadata."""

from __future__ import annotations

import ast
import json
import os
import plistlib
import re
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from installer import spec_support
from photosort import __version__
from photosort.clip.registry import MODELS


@pytest.mark.parametrize("destination, unused", [
    ("torch/bin/test_api", True), ("torch/bin/protoc", True), ("torch/bin/torch_shm_manager", False),
    ("torch/bin/torch_shm_manager.exe", False), ("torch/lib/libtorchbind_test.so", True),
    ("torch/lib/jitbackend_test.dll", True), ("torch/lib/libtorch_cpu.so", False), ("torch/include/ATen/ATen.h", True),
    ("PySide6/Qt/translations/qtbase_de.qm", True), ("PySide6\\translations\\qt_fr.qm", True),
    ("PySide6/Qt/plugins/platforms/libqwayland.so", False), ("photosort/models/tiny-shapes.pt", False),
])
def test_files_the_app_never_opens_are_left_out(destination, unused):
    assert spec_support.is_unused(destination) is unused


def test_a_checkpoint_file_is_bundled_under_its_name(tmp_path, small_vit_file):
    entries = spec_support.generated_package_data(tmp_path / "data", "cpu", [str(small_vit_file)])
    assert (str(tmp_path / "data" / "models" / small_vit_file.name), "photosort/models") in entries
    assert (tmp_path / "data" / "models" / small_vit_file.name).read_bytes() == small_vit_file.read_bytes()
    info = json.loads((tmp_path / "data" / "build_info.json").read_text())
    assert info["variant"] == "cpu" and info["torch"]


def test_a_file_that_is_no_clip_stops_the_build(tmp_path):
    notes = tmp_path / "notes.pt"
    notes.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="notes.pt"):
        spec_support.model_to_bundle(str(notes))


def test_a_published_model_must_be_downloaded_first(isolated_data_dir):
    name = next(iter(MODELS))
    with pytest.raises(SystemExit, match=f"photosort models download {name}"):
        spec_support.model_to_bundle(name)


def test_icons_for_every_system_come_from_the_one_svg(tmp_path, qapp):
    icons = spec_support.make_icons(tmp_path)
    assert Image.open(icons["png"]).size == (256, 256)
    assert (256, 256) in Image.open(icons["ico"]).info["sizes"]
    assert Image.open(icons["icns"]).size == (1024, 1024)
    picture = Image.open(icons["png"]).convert("RGBA")
    corner, middle = picture.getpixel((0, 0)), picture.getpixel((128, 128))
    assert corner[3] == 0 and middle[3] == 255  # drawn, on a transparent ground


def test_macos_and_windows_metadata_name_the_version(tmp_path):
    plist = spec_support.info_plist()
    assert plist["CFBundleShortVersionString"] == __version__ and plist["NSHighResolutionCapable"] is True
    assert plist["LSMinimumSystemVersion"] == spec_support.MACOS_MINIMUM
    plistlib.dumps(plist)  # a valid property list
    text = open(spec_support.windows_version_info(tmp_path), encoding="utf-8").read()
    call = ast.parse(text, mode="eval").body  # PyInstaller evaluates this text
    assert isinstance(call, ast.Call) and call.func.id == "VSVersionInfo"
    numbers = tuple(int(part) for part in __version__.split(".")) + (0,)
    assert f"filevers={numbers}" in text and f"'ProductVersion', '{__version__}'" in text


def exec_program(entry: str) -> str:
    """The program an Exec line names, unquoted as the Desktop Entry spec says a launcher does."""
    value = next(line for line in entry.splitlines() if line.startswith("Exec="))[len("Exec="):]
    value = re.sub(r"\\(.)", lambda match: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(match[1], match[1]),
                   value)  # the string's own escapes
    assert value.startswith('"') and value.endswith('"'), value
    return re.sub(r'\\([\\"`$])', r"\1", value[1:-1]).replace("%%", "%")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux desktop entry")
def test_the_desktop_entry_names_the_program_wherever_it_is_unpacked(tmp_path):
    folder = tmp_path / 'Tom & Jerry $HOME `x` "q" 100% back\\slash' / "photosort"
    folder.mkdir(parents=True)
    for name in ("photosort.desktop", "install-desktop-entry.sh"):
        shutil.copy(spec_support.ROOT / "installer" / "linux" / name, folder / name)
    Image.new("RGBA", (256, 256)).save(folder / "photosort.png")
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(["sh", str(folder / "install-desktop-entry.sh")], capture_output=True, text=True,
                            env=dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / "share")))
    assert result.returncode == 0, result.stderr
    entry_file = home / "share" / "applications" / "photosort.desktop"
    assert exec_program(entry_file.read_text()) == str(folder / "photosort")
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry_file)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout
