"""openai/CLIP's own model and tokenizer, loaded by file path from the clip-anytorch wheel (test-only).

`import clip` itself fails here (it needs torchvision), but its model.py and simple_tokenizer.py need only
torch, ftfy and regex.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch

VIT_B_32 = dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
                context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8,
                transformer_layers=12)
# Small shapes for fast tests; widths are multiples of 64 because every CLIP head is 64 wide.
SMALL_VIT = dict(embed_dim=64, image_resolution=64, vision_layers=2, vision_width=128, vision_patch_size=16,
                 context_length=77, vocab_size=49408, transformer_width=128, transformer_heads=2,
                 transformer_layers=2)
SMALL_RESNET = dict(embed_dim=64, image_resolution=64, vision_layers=(1, 2, 1, 1), vision_width=16,
                    vision_patch_size=None, context_length=77, vocab_size=49408, transformer_width=64,
                    transformer_heads=1, transformer_layers=2)


def _clip_package() -> Path:
    spec = importlib.util.find_spec("clip")
    if spec is None or spec.origin is None:
        raise RuntimeError("the clip-anytorch reference is not installed (make test installs it)")
    return Path(spec.origin).parent


def _load_file(name: str):
    path = _clip_package() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"reference_clip_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def model_module():
    return _load_file("model")


@functools.lru_cache(maxsize=1)
def tokenizer_module():
    return _load_file("simple_tokenizer")


@functools.lru_cache(maxsize=1)
def simple_tokenizer():
    return tokenizer_module().SimpleTokenizer()


def reference_tokenize(texts: list[str], context_length: int = 77, truncate: bool = False) -> torch.Tensor:
    """openai/CLIP's `clip.tokenize`, restated over its SimpleTokenizer (clip.py itself cannot be imported)."""
    tokenizer = simple_tokenizer()
    sot, eot = tokenizer.encoder["<|startoftext|>"], tokenizer.encoder["<|endoftext|>"]
    rows = [[sot] + tokenizer.encode(text) + [eot] for text in texts]
    result = torch.zeros(len(rows), context_length, dtype=torch.int)
    for index, tokens in enumerate(rows):
        if len(tokens) > context_length:
            if not truncate:
                raise RuntimeError(f"Input {texts[index]} is too long for context length {context_length}")
            tokens = tokens[:context_length]
            tokens[-1] = eot
        result[index, :len(tokens)] = torch.tensor(tokens)
    return result


def _is_batchnorm(key: str) -> bool:
    return ".bn" in key or ".downsample.1." in key


def random_reference_model(shape: dict, seed: int = 0) -> torch.nn.Module:
    """openai/CLIP's model with random, fp16-representable fp32 weights (so fp16 files compare like with like).

    BatchNorm statistics and scales are randomised too: the reference initialises each block's last
    BatchNorm to zero, which would hide the residual branches from a parity test.
    """
    torch.manual_seed(seed)
    model = model_module().CLIP(**shape).float()
    state = model.state_dict()
    for key, value in state.items():
        if not value.is_floating_point():
            continue
        if _is_batchnorm(key):
            statistic = key.rsplit(".", 1)[1]
            if statistic == "weight":
                value.normal_(1.0, 0.1)
            elif statistic == "running_var":
                value.uniform_(0.5, 1.5)
            else:  # bias, running_mean
                value.normal_(0.0, 0.1)
        value.copy_(value.half().float())
    model.load_state_dict(state)
    return model.eval()


def random_state_dict(shape: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in random_reference_model(shape, seed).state_dict().items()}


def save_torchscript(shape: dict, seed: int, path: Path) -> None:
    """An archive made as OpenAI's were: the traced reference model, in half precision, with the metadata
    buffers OpenAI's archives carry beside the weights."""
    import warnings

    model = random_reference_model(shape, seed)
    for name, value in (("input_resolution", shape["image_resolution"]), ("context_length", 77),
                        ("vocab_size", shape["vocab_size"])):
        model.__dict__.pop(name, None)  # the reference keeps two of these as plain ints
        model.register_buffer(name, torch.tensor(value))
    model_module().convert_weights(model)
    resolution = shape["image_resolution"]
    images = torch.zeros(1, 3, resolution, resolution, dtype=torch.float16)
    tokens = reference_tokenize(["a photo"]).long()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in torch 2.13; the archives still exist
        traced = torch.jit.trace(model, (images, tokens), check_trace=False)
        torch.jit.save(traced, path)
