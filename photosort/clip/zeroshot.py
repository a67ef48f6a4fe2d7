"""Zero-shot helpers: prompt-ensemble text classifiers and CLIP's temperature-scaled softmax."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..templates import load_templates
from .model import CLIP
from .tokenizer import tokenize


@torch.inference_mode()
def ensemble_text_embedding(model: CLIP, prompts: Sequence[str]) -> torch.Tensor:
    """[embed_dim] unit vector: the mean of the prompts' normalised embeddings, renormalised."""
    device = next(model.parameters()).device
    features = model.encode_text(tokenize(list(prompts), truncate=True).to(device)).float()  # [prompts, dim]
    mean = F.normalize(features, dim=-1).mean(dim=0)  # [dim]
    return F.normalize(mean, dim=-1)


def zero_shot_classifier(model: CLIP, labels: Sequence[str], templates: Sequence[str] | None = None) -> torch.Tensor:
    """[labels, embed_dim] unit rows: each label's prompt-ensemble embedding (the 80 ImageNet templates by default)."""
    templates = load_templates() if templates is None else templates
    rows = [ensemble_text_embedding(model, [template.format(label) for template in templates]) for label in labels]
    return torch.stack(rows)


def zero_shot_probabilities(model: CLIP, image_features: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
    """[images, labels] softmax over exp(logit_scale) * cosine similarity, as CLIP scores its zero-shot choices."""
    images = F.normalize(image_features.float(), dim=-1)  # [images, dim]
    logits = model.logit_scale.exp().float() * images @ classifier.float().to(images.device).t()  # [images, labels]
    return logits.softmax(dim=-1)
