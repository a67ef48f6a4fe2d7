"""Which build of photosort this is (CPU, CUDA, the standard macOS one, or a source install), and whether this
computer has a GPU that a different build would use.

The installer writes `build_info.json` into the package when it builds; a source or wheel install has none,
and runs whichever torch is installed. Read without importing torch, so `--version` and the app's About box
stay instant. Plain Python with no Qt or torch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .paths import package_path

BUILD_INFO_FILE = "build_info.json"
VARIANTS = {
    "cpu": "CPU build",
    "cuda": "CUDA build (NVIDIA GPUs)",
    "standard": "standard build (Apple GPUs through Metal)",
    "source": "run from source",
}
# Where the installers are published.
DOWNLOAD_PAGE = "https://github.com/photosort/photosort/releases"
# The NVIDIA driver's own traces: its kernel module on Linux, its management tool on Windows (installed with
# every driver, in System32) and on Linux.
_LINUX_DRIVER_FILE = Path("/proc/driver/nvidia/version")
_NVIDIA_TOOL = "nvidia-smi"


@dataclass(frozen=True)
class BuildInfo:
    variant: str  # a key of VARIANTS
    torch: str | None = None  # the torch version bundled, when known

    @property
    def description(self) -> str:
        return VARIANTS.get(self.variant, f"{self.variant} build")


def build_info(path: Path | None = None) -> BuildInfo:
    path = package_path(BUILD_INFO_FILE) if path is None else path
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return BuildInfo("source")
    except (OSError, ValueError):
        return BuildInfo("unknown")
    return BuildInfo(str(written.get("variant", "unknown")), written.get("torch"))


def write_build_info(path: Path, variant: str, torch_version: str | None) -> None:
    """The installer's record of what it bundled (see build.spec)."""
    if variant not in VARIANTS or variant == "source":
        raise ValueError(f"unknown build variant {variant!r}; one of: cpu, cuda, standard")
    path.write_text(json.dumps({"variant": variant, "torch": torch_version}), encoding="utf-8")


def nvidia_gpu_present(driver_file: Path = _LINUX_DRIVER_FILE) -> bool:
    """Whether an NVIDIA GPU with its driver is installed, judged without loading any GPU library."""
    if sys.platform.startswith("linux") and driver_file.is_file():
        return True
    if shutil.which(_NVIDIA_TOOL):
        return True
    if sys.platform == "win32":
        system = Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32" / f"{_NVIDIA_TOOL}.exe"
        return system.is_file()
    return False


def gpu_build_advice(info: BuildInfo | None = None, gpu_present: bool | None = None) -> str | None:
    """A sentence for a CPU build on a computer with an NVIDIA GPU, else None."""
    info = build_info() if info is None else info
    if info.variant != "cpu":
        return None
    if not (nvidia_gpu_present() if gpu_present is None else gpu_present):
        return None
    return ("This computer has an NVIDIA GPU, but this is the CPU build of photosort. The CUDA build indexes "
            f"photos many times faster: download it from {DOWNLOAD_PAGE}")


def version_line(version: str, info: BuildInfo | None = None) -> str:
    info = build_info() if info is None else info
    torch = f", torch {info.torch}" if info.torch else ""
    return f"photosort {version} ({info.description}{torch})"
