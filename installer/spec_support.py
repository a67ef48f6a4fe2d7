"""What build.spec decides, kept as plain functions so that it reads as a list of steps and can be tested.

Runs inside PyInstaller's spec (with the project's own environment), never in the installed app.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_IDENTIFIER = "org.photosort.photosort"
# Qt 6.8 runs on macOS 12 and later; torch's arm64 wheels need 11: the higher of the two.
MACOS_MINIMUM = "12.0"

# Modules the app never imports; each would otherwise be pulled in by a library's optional imports.
# tests/test_frozen_app.py runs the bundle through every command and the app, which is what makes each safe.
EXCLUDED_MODULES = [
    "tkinter", "_tkinter",  # Tk: the app is Qt
    "scipy",  # imported only by optional parts of torch and Pillow (113 MB)
    "sympy",  # torch's symbolic shapes, for torch.compile and export, which the app never uses (80 MB)
    # Test runners, reached through torch.testing._internal's test helpers. That package itself stays: torch
    # imports its logging_tensor module at start-up (through torch.utils.checkpoint).
    "pytest", "_pytest", "hypothesis", "expecttest",
    "torch.utils.tensorboard", "tensorboard",
    "IPython", "matplotlib", "pandas", "skimage",  # notebooks, plotting and test data, if installed beside
    "yaml",  # read by torch only for its build configuration and profiler exports
]

# Collected files the app never opens, by their place in the bundle.
_UNUSED_PATTERNS = [
    # torch's test programs and protobuf compiler: only the shared-memory manager serves a running torch.
    r"^torch/bin/(?!torch_shm_manager(\.exe)?$)",
    # torch's C++ test extensions, loaded only by its own tests.
    r"^torch/lib/(lib)?(aoti_custom_ops|backend_with_compiler|jitbackend_test|torchbind_test)\.(so|dll|dylib|lib)$",
    r"^torch/(include|share|test)/",  # C++ headers and CMake files: for compiling extensions, not running
    r"^PySide6/(Qt/)?translations/",  # Qt's own translations: the app ships in English only
]
_UNUSED = re.compile("|".join(f"(?:{pattern})" for pattern in _UNUSED_PATTERNS))


def is_unused(destination: str) -> bool:
    return bool(_UNUSED.search(PurePosixPath(destination.replace("\\", "/")).as_posix()))


def without_unused(toc: list[tuple]) -> list[tuple]:
    """A PyInstaller table of contents (destination, source, kind) without the files the app never opens."""
    return [entry for entry in toc if not is_unused(entry[0])]


# Linux libraries shipped with their symbol tables, which serve debuggers, not the dynamic loader: stripped
# copies go in the bundle (libtorch_cpu: 434 -> 345 MB). Named one by one: PyInstaller's strip-everything
# breaks the libraries that auditwheel relinked (numpy's OpenBLAS: "ELF load command ... not page-aligned").
STRIPPED = re.compile(r"^(torch/lib/libtorch_(cpu|python|cuda)\.so|hnswlib\..*\.so)$")


def with_stripped_copies(toc: list[tuple], out_dir: Path) -> list[tuple]:
    out_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for destination, source, kind in toc:
        if STRIPPED.match(PurePosixPath(destination).as_posix()):
            copy = out_dir / destination.replace("/", "__")
            if not copy.exists() or copy.stat().st_mtime < Path(source).stat().st_mtime:
                shutil.copyfile(source, copy)
                subprocess.run(["strip", str(copy)], check=True)
            source = str(copy)
        result.append((destination, source, kind))
    return result


def version() -> str:
    from photosort import __version__  # the checkout is on sys.path: build.spec and build.py put it there

    return __version__


def default_variant() -> str:
    """What the installed torch is: `cuda` for a CUDA build, `standard` on macOS (MPS), else `cpu`."""
    if sys.platform == "darwin":
        return "standard"
    import torch

    return "cuda" if torch.version.cuda else "cpu"


def make_icons(out_dir: Path) -> dict[str, Path]:
    from installer.icons import make_icons as draw

    return draw(out_dir)


def generated_package_data(out_dir: Path, variant: str, bundled_models: list[str]) -> list[tuple[str, str]]:
    """Files written for this build, as `datas` entries: the build's description, and the models to bundle."""
    import torch

    from photosort.build_info import BUILD_INFO_FILE, write_build_info

    shutil.rmtree(out_dir, ignore_errors=True)
    models = out_dir / "models"
    models.mkdir(parents=True)
    info = out_dir / BUILD_INFO_FILE
    write_build_info(info, variant, torch.__version__.split("+")[0])
    entries = [(str(info), "photosort")]
    for requested in bundled_models:
        source, name = model_to_bundle(requested)
        placed = models / name
        try:
            os.link(source, placed)
        except OSError:
            shutil.copyfile(source, placed)
        entries.append((str(placed), "photosort/models"))
    return entries


def model_to_bundle(requested: str) -> tuple[Path, str]:
    """(file, name in the bundle) of a model to ship: a published model's name (downloaded first with
    `photosort models download NAME`, checked against its checksum) or a checkpoint file."""
    from photosort.clip.build import infer_config
    from photosort.clip.checkpoints import read_state_dict
    from photosort.clip.download import sha256_of
    from photosort.clip.errors import ClipError
    from photosort.clip.install import installed_path
    from photosort.clip.registry import MODELS

    info = MODELS.get(requested)
    if info is not None:
        path = installed_path(requested)
        if path is None:
            raise SystemExit(f"build.spec: model {requested} is not downloaded: "
                             f"run `photosort models download {requested}` first")
    else:
        path = Path(requested)
        if not path.is_file():
            raise SystemExit(f"build.spec: no model named {requested!r} and no such file")
        try:
            infer_config(read_state_dict(path))
        except ClipError as error:  # a file that is no CLIP stops the build, named
            raise SystemExit(f"build.spec: {error}") from error
    checksum = sha256_of(path)
    info = info or next((known for known in MODELS.values() if known.sha256 == checksum), None)
    if info is not None and info.sha256 not in (None, checksum):
        raise SystemExit(f"build.spec: {path} is not {info.name}: its checksum differs from the published one")
    return path, info.filename if info else path.name


def info_plist() -> dict:
    return {
        "CFBundleName": "photosort",
        "CFBundleDisplayName": "photosort",
        "CFBundleShortVersionString": version(),
        "CFBundleVersion": version(),
        "LSMinimumSystemVersion": MACOS_MINIMUM,
        "NSHighResolutionCapable": True,  # sharp on Retina screens, not doubled pixels
        "NSRequiresAquaSystemAppearance": False,  # follows dark mode
        "LSApplicationCategoryType": "public.app-category.photography",
        "NSHumanReadableCopyright": "photosort contributors, MIT licence",
    }


def windows_version_info(work: Path) -> str:
    """The version resource Windows shows in a program's properties, as the text file PyInstaller reads (its
    classes import only on Windows, so the file is written as text: the form `pyi-grab_version` prints)."""
    numbers = tuple(int(part) for part in re.findall(r"\d+", version())[:4])
    numbers = (numbers + (0, 0, 0, 0))[:4]
    strings = ", ".join(f"StringStruct({key!r}, {value!r})" for key, value in (
        ("CompanyName", "photosort"), ("FileDescription", "photosort photo organizer"),
        ("FileVersion", version()), ("InternalName", "photosort"), ("LegalCopyright", "MIT licence"),
        ("OriginalFilename", "photosort.exe"), ("ProductName", "photosort"), ("ProductVersion", version())))
    text = (f"VSVersionInfo(ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3f, flags=0x0, "
            "OS=0x40004, fileType=0x1, subtype=0x0, date=(0, 0)), "
            f"kids=[StringFileInfo([StringTable('040904B0', [{strings}])]), "
            "VarFileInfo([VarStruct('Translation', [1033, 1200])])])\n")
    path = work / "version_info.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)
