"""From a state dict to a ready CLIP: the architecture is read off the tensors' shapes, never from a config file."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from .errors import CheckpointError
from .model import CLIP, ClipConfig, SelfAttention, TextConfig, VisionConfig

# Entries some checkpoints carry beside the weights (OpenAI's TorchScript files); the shapes already say them.
METADATA_KEYS = ("input_resolution", "context_length", "vocab_size")

TEXT_KEYS = ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight", "logit_scale")
VIT_KEYS = ("visual.proj", "visual.conv1.weight", "visual.positional_embedding")
RESNET_KEYS = ("visual.layer1.0.conv1.weight", "visual.attnpool.positional_embedding")

# Parameters OpenAI's half-precision conversion casts to fp16, beside every Linear and Conv weight and bias.
# LayerNorm, BatchNorm, embeddings and logit_scale stay fp32.
HALF_PARAMETERS = ("text_projection", "proj")


def missing_keys(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """The keys a CLIP state dict must have and this one lacks (empty when it looks like CLIP)."""
    required = list(TEXT_KEYS)
    if "visual.proj" in state_dict:
        required += VIT_KEYS
    elif any(key.startswith("visual.layer1.") for key in state_dict):
        required += RESNET_KEYS
    else:
        required.append("visual.proj or visual.layer1.* (an image tower)")
    return [key for key in required if key not in state_dict]


def _count_blocks(state_dict: Mapping[str, torch.Tensor], prefix: str) -> int:
    """Number of distinct block indices among keys `prefix.<index>.…`."""
    depth = prefix.count(".") + 1
    return len({key.split(".")[depth] for key in state_dict if key.startswith(prefix + ".")})


def _grid(positional_embedding: torch.Tensor) -> int:
    """Side of the square token grid behind a positional embedding of grid**2 + 1 rows (one class token)."""
    tokens = positional_embedding.shape[0] - 1
    grid = round(math.sqrt(tokens))
    if grid * grid != tokens:
        raise CheckpointError(f"positional embedding of {tokens + 1} rows is not a square grid plus one")
    return grid


def infer_config(state_dict: Mapping[str, torch.Tensor], activation: str = "quick_gelu") -> ClipConfig:
    """Read a CLIP architecture off a state dict's shapes (ViT iff `visual.proj` exists)."""
    missing = missing_keys(state_dict)
    if missing:
        raise CheckpointError("not a CLIP state dict: missing " + ", ".join(missing))

    if "visual.proj" in state_dict:
        conv = state_dict["visual.conv1.weight"]  # [width, 3, patch, patch]
        patch = conv.shape[-1]
        vision = VisionConfig(
            resolution=patch * _grid(state_dict["visual.positional_embedding"]),
            width=conv.shape[0],
            layers=sum(1 for key in state_dict
                       if key.startswith("visual.") and key.endswith(".attn.in_proj_weight")),
            patch_size=patch,
        )
    else:
        first, second, third, fourth = (_count_blocks(state_dict, f"visual.layer{stage}") for stage in (1, 2, 3, 4))
        vision = VisionConfig(
            resolution=_grid(state_dict["visual.attnpool.positional_embedding"]) * 32,
            width=state_dict["visual.layer1.0.conv1.weight"].shape[0],
            layers=(first, second, third, fourth),
            patch_size=None,
        )

    text = TextConfig(
        context_length=state_dict["positional_embedding"].shape[0],
        vocab_size=state_dict["token_embedding.weight"].shape[0],
        width=state_dict["ln_final.weight"].shape[0],
        layers=_count_blocks(state_dict, "transformer.resblocks"),
    )
    return ClipConfig(
        embed_dim=state_dict["text_projection"].shape[1], vision=vision, text=text, activation=activation,
    )


def build_model(state_dict: Mapping[str, torch.Tensor], activation: str = "quick_gelu") -> CLIP:
    """A CLIP in eval mode holding the state dict's tensors, in fp32 (on a meta state dict, on meta).

    The model is built on the meta device and takes the checkpoint's tensors as its own, so no random
    initialisation runs and no second copy of the weights is made. Strict: any missing, unexpected or
    misshapen key is an error.
    """
    weights = {key: value for key, value in state_dict.items() if key not in METADATA_KEYS}
    config = infer_config(weights, activation)
    with torch.device("meta"):
        model = CLIP(config)
    try:
        model.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as error:
        raise CheckpointError(f"state dict does not fit the inferred {describe(config)}: {error}") from error
    return model.float().eval()


def describe(config: ClipConfig) -> str:
    vision = config.vision
    if vision.is_vit:
        tower = f"ViT (width {vision.width}, {vision.layers} layers, patch {vision.patch_size})"
    else:
        tower = f"ResNet (width {vision.width}, stages {vision.layers})"
    return (f"CLIP with a {tower} at {vision.resolution}px and a text Transformer "
            f"(width {config.text.width}, {config.text.layers} layers), embedding {config.embed_dim}")


def convert_to_half(model: CLIP) -> CLIP:
    """Cast the weights as OpenAI does for GPUs: matrices to fp16, normalisation and embeddings left in fp32."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            module.half()
        elif isinstance(module, SelfAttention):
            module.in_proj_weight.data = module.in_proj_weight.data.half()
            module.in_proj_bias.data = module.in_proj_bias.data.half()
        for name in HALF_PARAMETERS:
            parameter = getattr(module, name, None)
            if isinstance(parameter, nn.Parameter):
                parameter.data = parameter.data.half()
    return model
