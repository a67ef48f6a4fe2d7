"""`Encoder`: a loaded CLIP behind a numpy interface, for the library engine (which never touches torch)."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .loader import cpu_has_fast_bfloat16, load
from .model import CLIP
from .tokenizer import tokenize


class Encoder:
    """Unit-length CLIP embeddings of preprocessed pictures and of texts, as float32 numpy arrays."""

    def __init__(self, model: CLIP):
        self.model = model
        self.device = next(model.parameters()).device
        self.dtype = model.dtype
        self.resolution: int = model.input_resolution
        self.dim: int = model.config.embed_dim
        # On a CPU with bf16 matrix units (AVX512-BF16, AMX) an fp32 model runs its products in bf16: 3.4x
        # the photos a second for ViT-B/32 on a 2-core Xeon with AMX, embeddings within 1e-4 of fp32's.
        self.cpu_bfloat16 = self.device.type == "cpu" and self.dtype == torch.float32 and cpu_has_fast_bfloat16()

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, device: str | None = None,
             progress: Callable[[int, int | None], None] | None = None) -> Encoder:
        model, _ = load(name_or_path, device, progress=progress)
        return cls(model)

    @torch.inference_mode()
    def encode_pictures(self, pictures: np.ndarray) -> np.ndarray:
        """[batch, 3, R, R] float32, normalised as CLIP's preprocessing does -> [batch, dim] unit vectors."""
        images = torch.from_numpy(pictures).to(self.device, self.dtype, non_blocking=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cpu_bfloat16):
            return self._unit(self.model.encode_image(images))

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """[len(texts), dim] unit vectors; a text longer than the context is cut, not refused (search boxes).

        On the CPU always in float32, never bf16: a query costs a few milliseconds either way, and a text's vector
        must not depend on which encoder made it (this one, or the numpy TextEncoder that searches use)."""
        tokens = tokenize(texts, truncate=True).to(self.device)
        return self._unit(self.model.encode_text(tokens))

    def describe(self) -> str:
        """What the model runs on, in words: "NVIDIA H100 (CUDA, float16)", "CPU (bf16 matrix units)"."""
        if self.device.type == "cuda":
            return f"{torch.cuda.get_device_name(self.device)} (CUDA, {str(self.dtype).removeprefix('torch.')})"
        if self.device.type == "mps":
            return "Apple GPU (Metal, float16)"
        return "CPU" + (" (bf16 matrix units)" if self.cpu_bfloat16 else "")

    @staticmethod
    def _unit(features: torch.Tensor) -> np.ndarray:
        return F.normalize(features.float(), dim=-1).cpu().numpy()  # [batch, dim]
