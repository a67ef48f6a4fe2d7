"""Builds the installed app and its release archive: `make package` here, the release workflow elsewhere.

    python installer/build.py [--variant cpu|cuda|standard] [--bundle-model NAME_OR_FILE ...]

dist/photosort/ (dist/photosort.app on macOS) holds the app; beside it the archive people download:
photosort-VERSION-linux-x86_64.tar.gz (with a desktop entry and icon), -windows-x86_64.zip, -macos-arm64.dmg;
a `-cuda` suffix for the CUDA variant.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from installer import spec_support  # noqa: E402

DIST = ROOT / "dist"
APP_FOLDER = DIST / "photosort"
LINUX_EXTRAS = ROOT / "installer" / "linux"
SPEC_WORK = ROOT / "build" / "build"  # PyInstaller's work folder: --workpath, then the spec's name
ARCHIVE_GZIP_LEVEL = 6  # level 9 takes twice as long for 1% less


def system_name() -> str:
    return {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)


def machine_name() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)


def archive_stem(variant: str) -> str:
    suffix = "-cuda" if variant == "cuda" else ""
    return f"photosort-{spec_support.version()}-{system_name()}-{machine_name()}{suffix}"


def run_pyinstaller(variant: str, models: list[str]) -> None:
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(DIST), "--workpath", str(ROOT / "build"), str(ROOT / "build.spec"),
               "--", "--variant", variant]
    for model in models:
        command += ["--bundle-model", model]
    subprocess.run(command, check=True, cwd=ROOT)


def add_linux_desktop_files(icons_dir: Path) -> None:
    """The menu entry, its icon and the script that installs both, inside the app's folder."""
    shutil.copy2(LINUX_EXTRAS / "photosort.desktop", APP_FOLDER / "photosort.desktop")
    shutil.copy2(LINUX_EXTRAS / "install-desktop-entry.sh", APP_FOLDER / "install-desktop-entry.sh")
    shutil.copy2(icons_dir / "photosort-256.png", APP_FOLDER / "photosort.png")


def tar_archive(stem: str) -> Path:
    archive = DIST / f"{stem}.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=ARCHIVE_GZIP_LEVEL) as tar:
        tar.add(APP_FOLDER, arcname="photosort")
    return archive


def zip_archive(stem: str) -> Path:
    archive = DIST / f"{stem}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=ARCHIVE_GZIP_LEVEL) as bundle:
        for path in sorted(APP_FOLDER.rglob("*")):
            bundle.write(path, Path("photosort") / path.relative_to(APP_FOLDER))
    return archive


def dmg_archive(stem: str) -> Path:
    archive = DIST / f"{stem}.dmg"
    archive.unlink(missing_ok=True)
    subprocess.run(["hdiutil", "create", "-volname", "photosort", "-srcfolder", str(DIST / "photosort.app"),
                    "-ov", "-format", "UDZO", str(archive)], check=True)
    return archive


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=["cpu", "cuda", "standard"],
                        help="default: what the installed torch is")
    parser.add_argument("--bundle-model", action="append", default=[], metavar="NAME_OR_FILE")
    parser.add_argument("--no-archive", action="store_true", help="build the app folder only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    variant = args.variant or spec_support.default_variant()  # reads torch only when not told
    run_pyinstaller(variant, args.bundle_model)
    built = time.monotonic()
    if sys.platform.startswith("linux"):
        add_linux_desktop_files(SPEC_WORK / "icons")
    archive = None
    if not args.no_archive:
        pack = {"linux": tar_archive, "windows": zip_archive, "macos": dmg_archive}[system_name()]
        archive = pack(archive_stem(variant))
    finished = time.monotonic()
    print(f"app: {APP_FOLDER} ({folder_size(APP_FOLDER) / 1e6:,.0f} MB), built in {built - started:.0f} s")
    if archive:
        print(f"archive: {archive} ({archive.stat().st_size / 1e6:,.0f} MB), packed in {finished - built:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
