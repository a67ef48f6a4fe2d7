"""photosort's CLIP engine: the only package that uses torch.

The public surface mirrors openai/CLIP::

    import photosort.clip as clip
    model, preprocess = clip.load("ViT-B/32")
    image = preprocess(pil_image).unsqueeze(0)      # [1, 3, R, R]
    tokens = clip.tokenize(["a dog", "a cat"])      # [2, 77]
    logits_per_image, logits_per_text = model(image, tokens)
"""

from .build import build_model, infer_config
from .errors import (
    CheckpointError,
    ChecksumError,
    ClipError,
    DownloadError,
    ModelNotFoundError,
    TextTooLongError,
)
from .install import available_models, import_checkpoint, local_models, model_path
from .load import load, resolve_device
from .model import CLIP
from .preprocess import Preprocess
from .registry import MODELS, RECOMMENDED_MODEL, ModelInfo
from .tokenizer import tokenize
from .zeroshot import ensemble_text_embedding, load_templates, zero_shot_classifier, zero_shot_probabilities

__all__ = [
    "CLIP", "MODELS", "RECOMMENDED_MODEL", "ChecksumError", "CheckpointError", "ClipError", "DownloadError",
    "ModelInfo", "ModelNotFoundError", "Preprocess", "TextTooLongError", "available_models", "build_model",
    "ensemble_text_embedding", "import_checkpoint", "infer_config", "load", "load_templates", "local_models",
    "model_path", "resolve_device", "tokenize", "zero_shot_classifier", "zero_shot_probabilities",
]
