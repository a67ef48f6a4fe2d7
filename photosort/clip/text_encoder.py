"""`TextEncoder`: query texts to unit vectors through the numpy text tower; torch is never imported.

Importing torch takes seconds, which a search would wait for; a query needs only the text tower, a dozen
tokens through twelve small layers. The weights are read on the first text to encode, so a query whose vector
is already known (the library's query cache) costs no model at all. Photos are still encoded by the full model
(photosort.clip.Encoder).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .install import installed_path, local_models, resolve_checkpoint
from .registry import MODELS
from .text_tower import TextTower
from .tokenizer import default_tokenizer, token_ids

TEXT_BATCH = 64  # texts through the tower at a time: a label's 80 prompts in two passes, bounded memory


class TextEncoder:
    """Unit-length CLIP text embeddings of one model, as float32 numpy arrays, safe to share between threads."""

    def __init__(self, model: str | os.PathLike, progress: Callable[[int, int | None], None] | None = None):
        """`model`: a model name or a checkpoint file, as `photosort.clip.load` takes. `progress` is told of a
        download, should the model's file not be here yet."""
        self.model = os.fspath(model)
        self._progress = progress
        self._tower: TextTower | None = None
        self._read_from: str | None = None  # the identity of the file the tower was read from
        self._lock = threading.Lock()

    @property
    def identity(self) -> str | None:
        """What this encoder's vectors depend on: the model and its file as the file is now (size, time of its
        last change), so that vectors kept of a file since replaced are not taken for its own. None while the
        file is not here (a published model not downloaded yet)."""
        path = _checkpoint_here(self.model)
        try:
            stat = path.stat() if path is not None else None
        except OSError:
            return None
        return None if stat is None else f"{self.model}\n{stat.st_size}\n{stat.st_mtime_ns}"

    @property
    def dim(self) -> int:
        return self.tower().embed_dim

    def tower(self) -> TextTower:
        """The model's text tower, read (and downloaded, for a published model not here) on first use, and read
        again if the file has been replaced since. Raises NeedsTorchError for a file only torch reads."""
        with self._lock:
            identity = self.identity
            if self._tower is None or self._read_from != identity:
                # A tower read from a file since changed is never used again: its mapped pages may be gone (a
                # file cut short in place) or hold another model. If the new file cannot be read, neither is used.
                self._tower = self._read_from = None
                path, activation = resolve_checkpoint(self.model, progress=self._progress)
                identity = self.identity  # after a download, the file's
                self._tower = TextTower.read(path, activation)
                self._read_from = identity
            return self._tower

    def prepare(self) -> None:
        """Read the text tower and the tokenizer now, so that the first text is encoded at once."""
        self.tower()
        default_tokenizer()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """[len(texts), dim] unit vectors; a text longer than the context is cut, not refused (search boxes)."""
        tower = self.tower()
        parts = [np.zeros((0, tower.embed_dim), np.float32)]
        for start in range(0, len(texts), TEXT_BATCH):
            tokens = token_ids(texts[start:start + TEXT_BATCH], tower.context_length, truncate=True)
            parts.append(tower.encode(tokens))  # [batch, dim]
        features = np.concatenate(parts)
        return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def _checkpoint_here(model: str) -> Path | None:
    """The model's checkpoint file if it is on this machine, without downloading or checking it."""
    if model in MODELS:
        return installed_path(model)
    local = local_models().get(model)
    if local is not None:
        return local
    path = Path(model)
    return path if path.is_file() else None
