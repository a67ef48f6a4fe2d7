"""photosort's CLIP engine: the only package that uses torch.

The public surface mirrors openai/CLIP::

    import photosort.clip as clip
    model, preprocess = clip.load("ViT-B/32")
    image = preprocess(pil_image).unsqueeze(0)      # [1, 3, R, R]
    tokens = clip.tokenize(["a dog", "a cat"])      # [2, 77]
    logits_per_image, logits_per_text = model(image, tokens)

Names are imported on first use, so torch-free parts (the preprocessing arithmetic, the synthetic shapes
world, the tokenizer, `TextEncoder`'s numpy text tower) can be used without paying for importing torch, which
takes seconds: `photosort status` must not, nor a text search.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_model": "build", "infer_config": "build",
    "Encoder": "encoder",
    "CheckpointError": "errors", "ChecksumError": "errors", "ClipError": "errors", "DownloadError": "errors",
    "ModelNotFoundError": "errors", "NeedsTorchError": "errors", "TextTooLongError": "errors",
    "available_models": "install", "import_checkpoint": "install", "local_models": "install",
    "model_path": "install",
    "detected_devices": "loader", "load": "loader", "resolve_device": "loader",
    "CLIP": "model",
    "Preprocess": "preprocess",
    "MODELS": "registry", "RECOMMENDED_MODEL": "registry", "ModelInfo": "registry",
    "TextEncoder": "text_encoder",
    "token_ids": "tokenizer", "tokenize": "tokenizer",
    "ensemble_text_embedding": "zeroshot", "load_templates": "zeroshot", "zero_shot_classifier": "zeroshot",
    "zero_shot_probabilities": "zeroshot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
