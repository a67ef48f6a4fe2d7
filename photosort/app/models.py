"""Models for the app: which are known and installed, downloading one (cancellable, resumable), importing a
file, and the devices this machine has. The app's process never imports torch: checking an imported file
and probing devices run in a short-lived child process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..clip.download import DownloadCancelled
from ..clip.errors import ChecksumError, DownloadError, ModelNotFoundError
from ..clip.install import available_models, fetch, import_checkpoint, installed_path, local_models
from ..clip.registry import MODELS, RECOMMENDED_MODEL, ModelInfo
from .encoder_process import probe_devices, run_in_child
from .tasks import TaskRunner, named_pool

DEMO_MODEL = "tiny-shapes"
# A rough sense of speed from a model's cost per photo, for people who do not think in GFLOPs.
SPEED_WORDS = ((10, "fast"), (40, "medium"), (200, "slow"), (float("inf"), "very slow"))


@dataclass(frozen=True)
class ModelChoice:
    name: str
    description: str
    imagenet_top1: float | None
    size_mb: int | None
    image_gflops: float | None
    installed: bool
    recommended: bool

    @property
    def speed(self) -> str:
        if self.image_gflops is None:
            return ""
        return next(word for limit, word in SPEED_WORDS if self.image_gflops <= limit)

    @property
    def summary(self) -> str:
        """One line: quality, speed, size, and whether it still has to be downloaded."""
        parts = []
        if self.imagenet_top1:
            parts.append(f"quality {self.imagenet_top1:.1f}% (ImageNet zero-shot)")
        if self.speed:
            parts.append(f"{self.speed} ({self.image_gflops:g} GFLOPs a photo)")
        if self.installed:
            parts.append("installed")
        elif self.size_mb:
            parts.append(f"{self.size_mb} MB download")
        return ", ".join(parts)


def model_choices() -> list[ModelChoice]:
    """Every model the app can use, the recommended one first, then installed ones (the demo model too)."""
    local = local_models()
    choices = []
    for name in available_models():
        info = MODELS.get(name)
        if info is None:
            description = "demo model: knows coloured shapes only, no download" if name == DEMO_MODEL \
                else f"model file {local[name].name}"
            choices.append(ModelChoice(name, description, None, None, None, True, False))
        else:
            choices.append(ModelChoice(name, info.description, info.imagenet_top1, info.size_mb, info.image_gflops,
                                       installed_path(name) is not None, name == RECOMMENDED_MODEL))
    choices.sort(key=lambda choice: (not choice.recommended, not choice.installed))
    return choices


def recommended_model() -> ModelInfo:
    """The model the first-run dialog offers to download."""
    return MODELS[RECOMMENDED_MODEL]


def installed_choice() -> str | None:
    """A published model already on this machine (the recommended one first), for a library with none yet."""
    for choice in model_choices():
        if choice.installed and choice.name in MODELS:
            return choice.name
    return None


class ModelService(QObject):
    downloadProgress = Signal(int, int)  # bytes done, bytes in all (0 when unknown)
    downloaded = Signal(str)  # the model's name
    downloadFailed = Signal(str, bool)  # message, whether it looks like being offline
    downloadCancelled = Signal(int)  # bytes kept for resuming
    imported = Signal(str)
    importFailed = Signal(str)
    devices = Signal(object)  # [(device, description)]

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._jobs = TaskRunner(named_pool("models", 1), self)
        self._cancel = threading.Event()

    def download(self, info: ModelInfo) -> None:
        self._cancel.clear()

        def work() -> None:
            try:
                fetch(info, lambda done, total: self.downloadProgress.emit(done, total or 0), self._cancel.is_set)
            except DownloadCancelled:
                self.downloadCancelled.emit(partial_bytes(info))
                return
            except ModelNotFoundError as error:
                cause = error.__cause__
                offline = isinstance(cause, DownloadError) and not isinstance(cause, ChecksumError) \
                    and "HTTP Error" not in str(cause)
                self.downloadFailed.emit(str(error), offline)
                return
            except (ChecksumError, DownloadError, OSError) as error:
                self.downloadFailed.emit(str(error), False)
                return
            self.downloaded.emit(info.name)

        self._jobs.submit(work)

    def cancel(self) -> None:
        self._cancel.set()

    @staticmethod
    def to_download(name: str) -> ModelInfo | None:
        """The published model `name` when it is not on this computer yet (it must be downloaded before a
        library can switch to it); None for one that is installed, the demo model, or a model file."""
        info = MODELS.get(name)
        return info if info is not None and installed_path(name) is None else None

    def import_file(self, path: Path) -> None:
        self._jobs.submit(lambda: run_in_child(import_checkpoint, str(path)), self.imported.emit,
                          self.importFailed.emit)

    def probe_devices(self) -> None:
        self._jobs.submit(lambda: run_in_child(probe_devices), self.devices.emit, lambda _: None)


def partial_bytes(info: ModelInfo) -> int:
    """How much of an interrupted download of `info` is kept for the next try."""
    from ..clip.download import PARTIAL_SUFFIX
    from ..paths import user_models_dir

    partial = user_models_dir() / (info.filename + PARTIAL_SUFFIX)
    return partial.stat().st_size if partial.exists() else 0
