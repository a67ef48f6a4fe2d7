"""Where checkpoint files live, and how they get there: found locally, downloaded, or imported by the user.

Finding and downloading need no torch, so the desktop app's process can list and fetch models without loading
it (importing torch holds the interpreter for a fifth of a second, a visible freeze); only checking an
imported file reads its weights.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..paths import bundled_models_dir, user_models_dir
from .download import (
    PARTIAL_SUFFIX,
    DownloadCancelled,
    commit_partial,
    download,
    is_verified,
    record_verified,
    sha256_of,
)
from .errors import CheckpointError, ClipError, DownloadError, ModelNotFoundError
from .registry import ACTIVATIONS, MODELS, ModelInfo

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
# A checkpoint file with no registry entry says nothing of its activation: OpenAI's QuickGELU is the default.
DEFAULT_ACTIVATION = "quick_gelu"

# Beside a checkpoint of no published model: what its weights cannot say (its activation), as JSON.
SETTINGS_SUFFIX = ".json"


def models_dirs() -> list[Path]:
    """Where checkpoints are looked for, in order: the app's own `models/`, then the user's data folder."""
    return [bundled_models_dir(), user_models_dir()]


def local_models() -> dict[str, Path]:
    """Checkpoint files in the models folders that are no published model, by file stem, the app's own first:
    the bundled demo model and files the user imported."""
    known_files = {info.filename for info in MODELS.values()}
    found: dict[str, Path] = {}
    for folder in models_dirs():
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in CHECKPOINT_SUFFIXES and path.name not in known_files:
                    found.setdefault(path.stem, path)
    return found


def available_models() -> list[str]:
    """Names `load` accepts: every published checkpoint photosort knows, then the local checkpoint files."""
    return [*MODELS, *local_models()]


def missing_model_message(info: ModelInfo, reason: str) -> str:
    target = user_models_dir() / info.filename
    return (f"model {info.name} is not installed and could not be downloaded ({reason}). "
            f"Download {info.url} with a browser and save it as {target}, "
            f"or import a copy you have with `photosort models import FILE --as {info.name}`.")


def model_path(name: str, progress: Callable[[int, int | None], None] | None = None,
               should_cancel: Callable[[], bool] | None = None) -> Path:
    """The local file of a known model, downloaded into the user's models folder when no good copy is found."""
    local = local_models()
    if name in local:
        return local[name]
    info = MODELS.get(name)
    if info is None:
        raise ModelNotFoundError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return fetch(info, progress, should_cancel)


def fetch(info: ModelInfo, progress: Callable[[int, int | None], None] | None = None,
          should_cancel: Callable[[], bool] | None = None) -> Path:
    """A good local copy of `info`'s file, else one downloaded into the user's models folder (resuming a
    partial download); a cancelled download raises `DownloadCancelled` and keeps its part for later."""
    for folder in models_dirs():
        candidate = folder / info.filename
        if candidate.is_file() and (info.sha256 is None or is_verified(candidate, info.sha256)):
            return candidate
    try:
        return download(info.url, user_models_dir() / info.filename, info.sha256, progress, should_cancel)
    except DownloadCancelled:
        raise
    except DownloadError as error:
        raise ModelNotFoundError(missing_model_message(info, str(error))) from error


def import_checkpoint(source: str | os.PathLike, name: str | None = None, activation: str | None = None) -> str:
    """Copy a checkpoint file into the user's models folder after checking it is CLIP; returns its model name.

    `name` says which published model the file is (its checksum is checked where one is published); without
    it, a file with a published checksum becomes that model and any other is known by its file stem.
    `activation` is recorded for a file of no published model (QuickGELU when not given).
    """
    from .build import infer_config
    from .checkpoints import read_state_dict

    source = Path(source)
    # The arguments first: reading and hashing a large checkpoint takes seconds.
    if name is not None and name not in MODELS:
        raise ModelNotFoundError(f"unknown model {name!r}; published models: {', '.join(MODELS)}")
    if activation is not None and activation not in ACTIVATIONS:
        raise CheckpointError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    infer_config(read_state_dict(source))  # raises CheckpointError, naming the file, if it is no CLIP
    checksum = sha256_of(source)
    info = MODELS[name] if name else next((info for info in MODELS.values() if info.sha256 == checksum), None)
    if info is not None and info.sha256 not in (None, checksum):
        raise CheckpointError(f"{source} is not {info.name}: its checksum differs from the published one")
    if info is None and source.stem in MODELS:
        raise CheckpointError(f"{source}: its name is taken by a published model; rename the file first")
    target = user_models_dir() / (info.filename if info else source.name)
    if target.exists() and sha256_of(target) != checksum:
        raise CheckpointError(f"{target} already exists with other contents; rename {source.name} first")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    shutil.copyfile(source, partial)
    commit_partial(partial, target)
    if info is not None and info.sha256 is not None:
        record_verified(target, checksum)  # hashed just now: loading it need not hash it again
    if info is None and activation is not None:
        _settings_path(target).write_text(json.dumps({"activation": activation}))
    return info.name if info else source.stem


def _settings_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + SETTINGS_SUFFIX)


def local_model_activation(checkpoint: Path) -> str | None:
    """The activation recorded beside a local checkpoint file, if any."""
    try:
        activation = json.loads(_settings_path(checkpoint).read_text()).get("activation")
    except (OSError, ValueError, AttributeError):
        return None
    return activation if activation in ACTIVATIONS else None


def resolve_checkpoint(name_or_path: str | os.PathLike, activation: str | None = None,
                       progress: Callable[[int, int | None], None] | None = None) -> tuple[Path, str]:
    """The checkpoint file of a model name (downloaded if it is a published one not here) or of a file path,
    and its activation: `activation` if given, else the registry's, else what was recorded beside an imported
    file, else DEFAULT_ACTIVATION."""
    name = os.fspath(name_or_path)
    info = MODELS.get(name)
    if info is not None or name in local_models():
        path = model_path(name, progress)
    else:
        path = Path(name)
        if not path.is_file():
            raise ModelNotFoundError(f"{name!r} is neither a checkpoint file nor a known model "
                                     f"({', '.join(available_models())})")
    if activation is None:
        activation = info.activation if info else local_model_activation(path) or DEFAULT_ACTIVATION
    if activation not in ACTIVATIONS:
        raise ClipError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    return path, activation


def installed_path(name: str) -> Path | None:
    """The local file of a published model if one is present (not checked against its checksum), else None."""
    info = MODELS.get(name)
    if info is None:
        return None
    return next((folder / info.filename for folder in models_dirs() if (folder / info.filename).is_file()), None)
