"""CLIP's text Transformer in numpy: a search query's vector without importing torch.

It computes what `CLIP.encode_text` computes (photosort.clip.model), in float32, from the same checkpoint
tensors: token and position embeddings, causal pre-norm blocks (attention, then an MLP with QuickGELU or GELU),
the final LayerNorm at each row's end-of-text token, and the projection into the shared space. Only the text
tower's tensors are read (photosort.clip.stored); the token embedding stays mapped from the file, and only the
rows a query uses are read from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CheckpointError
from .architecture import HEAD_WIDTH, LAYER_NORM_EPSILON, MLP_RATIO, QUICK_GELU_ALPHA
from .registry import ACTIVATIONS
from .stored import StoredTensor, as_float32, read_tensors

# The text tower's tensors in a CLIP state dict (the image tower's all start "visual.").
TEXT_PREFIXES = ("transformer.", "token_embedding.", "positional_embedding", "ln_final.", "text_projection")
OUTER_KEYS = ("token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias", "text_projection")
BLOCK_KEYS = ("ln_1.weight", "ln_1.bias", "attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight",
              "attn.out_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
              "mlp.c_proj.weight", "mlp.c_proj.bias")
# Abramowitz & Stegun 7.1.26: erf(x) = 1 - (a1 t + ... + a5 t^5) exp(-x^2), t = 1 / (1 + p x), for x >= 0, within
# 1.5e-7 of the true value. numpy has no erf, and exact GELU needs one; float32 keeps it as close to torch's.
ERF_P = 0.3275911
ERF_COEFFICIENTS = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)  # a5 .. a1


def is_text_key(key: str) -> bool:
    return key.startswith(TEXT_PREFIXES)


@dataclass(frozen=True)
class _Block:
    """One residual block's weights, float32; matrices as stored ([out, in]), applied as x @ W.T."""

    ln_1_weight: np.ndarray
    ln_1_bias: np.ndarray
    in_proj_weight: np.ndarray  # [3 * width, width]: queries, keys, values
    in_proj_bias: np.ndarray
    out_proj_weight: np.ndarray  # [width, width]
    out_proj_bias: np.ndarray
    ln_2_weight: np.ndarray
    ln_2_bias: np.ndarray
    fc_weight: np.ndarray  # [4 * width, width]
    fc_bias: np.ndarray
    proj_weight: np.ndarray  # [width, 4 * width]
    proj_bias: np.ndarray


class TextTower:
    """The text half of a CLIP: token ids in, (not normalised) embeddings out."""

    def __init__(self, tensors: Mapping[str, StoredTensor], activation: str = "quick_gelu"):
        """Every tensor's shape is checked against the tower's width before any is copied out of the file."""
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")
        missing = [key for key in OUTER_KEYS if key not in tensors]
        if missing:
            raise CheckpointError(f"not a CLIP text tower: missing {', '.join(missing)}")
        shapes = _text_tower_shapes(tensors)
        missing = [key for key in shapes if key not in tensors]
        if missing:
            raise CheckpointError(f"not a CLIP text tower: missing {', '.join(missing)}")
        found = {key: tensors[key].shape for key in shapes}
        wrong = [f"{key} {list(found[key])} (expected {list(shape)})" for key, shape in shapes.items()
                 if found[key] != shape]
        if wrong:
            raise CheckpointError(f"not a CLIP text tower: its tensors' shapes disagree: {'; '.join(wrong[:3])}")
        self.activation = activation
        self.token_embedding = tensors["token_embedding.weight"]  # [vocab, width], left in the file
        self.positional_embedding = tensors["positional_embedding"].array()  # [context, width]
        self.ln_final_weight = tensors["ln_final.weight"].array()
        self.ln_final_bias = tensors["ln_final.bias"].array()
        self.text_projection = tensors["text_projection"].array()  # [width, embed_dim]
        self.blocks = [_Block(*(tensors[f"transformer.resblocks.{index}.{key}"].array() for key in BLOCK_KEYS))
                       for index in range(_depth(tensors))]
        self.context_length, self.width = self.positional_embedding.shape
        self.embed_dim = self.text_projection.shape[1]
        self.heads = self.width // HEAD_WIDTH

    @classmethod
    def read(cls, path: str | Path, activation: str = "quick_gelu") -> TextTower:
        """The text tower of a checkpoint file (safetensors, torch.save zip or TorchScript)."""
        tensors = read_tensors(path, is_text_key)
        try:
            return cls(tensors, activation)
        except CheckpointError as error:
            raise CheckpointError(f"{path}: {error}") from error

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        """[batch, context] token ids -> [batch, embed_dim] float32 (not normalised), as CLIP.encode_text.

        The feature is read at each row's end-of-text token (the row's highest id); under the causal mask
        nothing after the batch's last one can change it, so the padding beyond is never computed."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] > self.context_length:
            raise ValueError(f"tokens of shape {tokens.shape}: expected [batch, at most {self.context_length}]")
        batch = tokens.shape[0]
        if batch == 0:
            return np.zeros((0, self.embed_dim), np.float32)
        ends = tokens.argmax(axis=-1)  # [batch]
        length = int(ends.max()) + 1
        tokens = tokens[:, :length].astype(np.int64)  # [batch, length]
        if tokens.min() < 0 or tokens.max() >= self.token_embedding.shape[0]:
            raise ValueError("a token id lies outside the model's vocabulary")
        x = as_float32(self.token_embedding.raw()[tokens], self.token_embedding.dtype)  # [batch, length, width]
        x += self.positional_embedding[:length]
        # Each position sees itself and the positions before it.
        causal_mask = np.triu(np.full((length, length), -np.inf, np.float32), 1)  # [length, length]
        for block in self.blocks:
            x = x + self._attention(_layer_norm(x, block.ln_1_weight, block.ln_1_bias), block, causal_mask)
            x = x + self._mlp(_layer_norm(x, block.ln_2_weight, block.ln_2_bias), block)
        x = x[np.arange(batch), ends]  # [batch, width]
        x = _layer_norm(x, self.ln_final_weight, self.ln_final_bias)
        return x @ self.text_projection  # [batch, embed_dim]

    def _attention(self, x: np.ndarray, block: _Block, causal_mask: np.ndarray) -> np.ndarray:
        batch, length, width = x.shape
        head_width = width // self.heads
        qkv = _linear(x, block.in_proj_weight, block.in_proj_bias)  # [batch, length, 3 * width]
        qkv = qkv.reshape(batch, length, 3, self.heads, head_width).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv  # each [batch, heads, length, head_width]
        scores = (q @ k.transpose(0, 1, 3, 2)) * np.float32(1 / math.sqrt(head_width))  # [b, heads, len, len]
        scores += causal_mask
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        out = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)  # [batch, length, width]
        return _linear(out, block.out_proj_weight, block.out_proj_bias)

    def _mlp(self, x: np.ndarray, block: _Block) -> np.ndarray:
        hidden = _linear(x, block.fc_weight, block.fc_bias)  # [batch, length, 4 * width]
        hidden = _quick_gelu(hidden) if self.activation == "quick_gelu" else _gelu(hidden)
        return _linear(hidden, block.proj_weight, block.proj_bias)


def _depth(tensors: Mapping[str, StoredTensor]) -> int:
    """How many residual blocks the tensors name."""
    return len({key.split(".")[2] for key in tensors if key.startswith("transformer.resblocks.")})


def _text_tower_shapes(tensors: Mapping[str, StoredTensor]) -> dict[str, tuple[int, ...]]:
    """The shape each text-tower tensor must have, from the width, context, vocabulary and embedding that the
    final LayerNorm, the position and token embeddings and the projection declare."""
    def declared(key: str, axis: int) -> int:
        shape = tensors[key].shape if key in tensors else ()
        return shape[axis] if len(shape) > axis else 0

    width = declared("ln_final.weight", 0)
    if width == 0 or width % HEAD_WIDTH:
        raise CheckpointError(f"not a CLIP text tower: a width of {width} (ln_final.weight)")
    shapes = {"token_embedding.weight": (declared("token_embedding.weight", 0), width),
              "positional_embedding": (declared("positional_embedding", 0), width),
              "ln_final.weight": (width,), "ln_final.bias": (width,),
              "text_projection": (width, declared("text_projection", 1))}
    hidden = width * MLP_RATIO
    block = {"ln_1.weight": (width,), "ln_1.bias": (width,), "attn.in_proj_weight": (3 * width, width),
             "attn.in_proj_bias": (3 * width,), "attn.out_proj.weight": (width, width), "attn.out_proj.bias": (width,),
             "ln_2.weight": (width,), "ln_2.bias": (width,), "mlp.c_fc.weight": (hidden, width),
             "mlp.c_fc.bias": (hidden,), "mlp.c_proj.weight": (width, hidden), "mlp.c_proj.bias": (width,)}
    depth = _depth(tensors)
    if depth == 0:
        raise CheckpointError("not a CLIP text tower: it has no Transformer blocks")
    for index in range(depth):
        shapes.update({f"transformer.resblocks.{index}.{key}": shape for key, shape in block.items()})
    return shapes


def _linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x @ W.T + b over the last axis, as one matrix product over every row. Computed as (W @ x.T).T: with W
    as stored ([out, in], row-major), BLAS reads it a third faster than transposed, for a query's few rows."""
    rows = (weight @ x.reshape(-1, x.shape[-1]).T).T  # [rows, out]
    rows += bias
    return rows.reshape(*x.shape[:-1], weight.shape[0])


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    variance = np.square(centred).mean(axis=-1, keepdims=True)  # biased, as torch's
    return centred / np.sqrt(variance + np.float32(LAYER_NORM_EPSILON)) * weight + bias


def _quick_gelu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(1.702 x), with the sigmoid as (1 + tanh(z / 2)) / 2: no overflow for large |x|."""
    return x * (np.float32(0.5) * (np.float32(1) + np.tanh(np.float32(QUICK_GELU_ALPHA / 2) * x)))


def _gelu(x: np.ndarray) -> np.ndarray:
    """x * Phi(x) = x (1 + erf(x / sqrt 2)) / 2, the exact GELU of torch.nn.GELU(), in float32, in place where it
    can be (a [tokens, 2048] activation in each of twelve layers: temporaries cost more than the arithmetic)."""
    z = x * np.float32(1 / math.sqrt(2))
    magnitude = np.abs(z)
    t = magnitude * np.float32(ERF_P)
    t += 1
    np.reciprocal(t, out=t)
    first, *rest = (np.float32(coefficient) for coefficient in ERF_COEFFICIENTS)
    erf = t * first  # the polynomial a1 t + ... + a5 t^5, by Horner's rule
    for coefficient in rest:
        erf += coefficient
        erf *= t
    magnitude *= magnitude
    np.negative(magnitude, out=magnitude)
    np.exp(magnitude, out=magnitude)
    erf *= magnitude
    np.subtract(np.float32(1), erf, out=erf)  # erf(|z|)
    np.copysign(erf, z, out=erf)
    erf += 1
    erf *= np.float32(0.5)
    erf *= x
    return erf
