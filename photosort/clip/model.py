"""The CLIP network: a ViT or modified-ResNet image tower and a causal text Transformer.

Parameter names are exactly those of OpenAI's checkpoints (`visual.transformer.resblocks.0.attn.in_proj_weight`,
...), so every published checkpoint loads strictly. Unlike the reference, attention runs batch-first through
`scaled_dot_product_attention`, and text is encoded only up to the last end-of-text token of the batch.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import HEAD_WIDTH, MLP_RATIO, QUICK_GELU_ALPHA
from .registry import ACTIVATIONS

RESNET_DOWNSAMPLE = 32  # a modified ResNet's output grid is its input resolution / 32
RESNET_EXPANSION = 4  # output channels of a bottleneck, relative to its inner width
# A ResNet's feature width is its stem width times 32 (stem width * 8 at layer4 * bottleneck expansion 4).
RESNET_FEATURE_RATIO = 8 * RESNET_EXPANSION
INITIAL_LOGIT_SCALE = 1 / 0.07  # CLIP's initial temperature; stored as its log



@dataclass(frozen=True)
class VisionConfig:
    resolution: int
    width: int
    layers: int | tuple[int, int, int, int]  # int: a ViT; four stage depths: a modified ResNet
    patch_size: int | None  # ViT only

    @property
    def is_vit(self) -> bool:
        return isinstance(self.layers, int)

    @property
    def heads(self) -> int:
        if self.is_vit:
            return self.width // HEAD_WIDTH
        return self.width * RESNET_FEATURE_RATIO // HEAD_WIDTH


@dataclass(frozen=True)
class TextConfig:
    context_length: int
    vocab_size: int
    width: int
    layers: int

    @property
    def heads(self) -> int:
        return self.width // HEAD_WIDTH


@dataclass(frozen=True)
class ClipConfig:
    embed_dim: int
    vision: VisionConfig
    text: TextConfig
    activation: str = "quick_gelu"


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the input dtype, as CLIP's half-precision models require."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x). With `inplace`, inference overwrites its input (its owner must not need it)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.inplace or (torch.is_grad_enabled() and x.requires_grad):
            return x * torch.sigmoid(QUICK_GELU_ALPHA * x)
        # x * sigmoid(a x) = silu(a x) / a, computed in x's own buffer: on a [batch * 50, 3072] activation a
        # fresh buffer costs tens of megabytes of page faults, more than the arithmetic.
        return F.silu(x.mul_(QUICK_GELU_ALPHA), inplace=True).div_(QUICK_GELU_ALPHA)


def _activation(name: str) -> nn.Module:
    """The MLP's activation; it may work in place, as its input is the MLP's own intermediate."""
    if name == "quick_gelu":
        return QuickGELU(inplace=True)
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")


class SelfAttention(nn.Module):
    """Multi-head self-attention with nn.MultiheadAttention's parameter names, batch-first."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # [batch, length, 3 * width]
        qkv = qkv.view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, length, head_width]
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # [batch, heads, length, head_width]
        out = out.transpose(1, 2).reshape(batch, length, width)
        return self.out_proj(out)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, activation: str):
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * MLP_RATIO)),
            ("gelu", _activation(activation)),
            ("c_proj", nn.Linear(width * MLP_RATIO, width)),
        ]))
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), causal)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, activation: str, causal: bool):
        super().__init__()
        self.width = width
        self.causal = causal  # text attends only to earlier tokens; image patches attend to all
        self.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(width, heads, activation) for _ in range(layers)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, length, width]
        for block in self.resblocks:
            x = block(x, self.causal)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, config: VisionConfig, output_dim: int, activation: str):
        super().__init__()
        width, layers, patch = config.width, config.layers, config.patch_size
        assert isinstance(layers, int) and patch is not None, "a ViT's config: a layer count and a patch size"
        grid = config.resolution // patch
        self.input_resolution = config.resolution
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, config.heads, activation, causal=False)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, 3, resolution, resolution]
        x = self.conv1(x)  # [batch, width, grid, grid]
        x = x.flatten(2).transpose(1, 2)  # [batch, grid**2, width]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)  # [batch, 1, width]
        x = torch.cat([cls, x], dim=1)  # [batch, grid**2 + 1, width]
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x)
        x = self.ln_post(x[:, 0, :])  # [batch, width]: the class token
        return x @ self.proj  # [batch, embed_dim]


class Bottleneck(nn.Module):
    """A ResNet bottleneck whose stride is an average pool (anti-aliased), as in CLIP's modified ResNet."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = planes * RESNET_EXPANSION
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.downsample = None
        if stride > 1 or inplanes != out_planes:
            # The keys "downsample.0" and "downsample.1" of the checkpoints: the pool ("-1") has no weights.
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, out_planes, 1, bias=False)),
                ("1", nn.BatchNorm2d(out_planes)),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class AttentionPool2d(nn.Module):
    """Pools a feature map by letting its mean attend to every position (QKV attention, one query)."""

    def __init__(self, grid: int, width: int, heads: int, output_dim: int):
        super().__init__()
        self.heads = heads
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.k_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.c_proj = nn.Linear(width, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, width, grid, grid]
        x = x.flatten(2).transpose(1, 2)  # [batch, grid**2, width]
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)  # [batch, grid**2 + 1, width]
        x = x + self.positional_embedding.to(x.dtype)
        batch, length, width = x.shape
        head_width = width // self.heads
        q = self.q_proj(x[:, :1]).view(batch, 1, self.heads, head_width).transpose(1, 2)  # [batch, heads, 1, hw]
        k = self.k_proj(x).view(batch, length, self.heads, head_width).transpose(1, 2)  # [batch, heads, length, hw]
        v = self.v_proj(x).view(batch, length, self.heads, head_width).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # [batch, heads, 1, head_width]
        return self.c_proj(out.reshape(batch, width))  # [batch, output_dim]


class ModifiedResNet(nn.Module):
    """ResNet with a three-convolution stem, anti-aliased strides and attention pooling (CLIP's RN50 family)."""

    def __init__(self, config: VisionConfig, output_dim: int):
        super().__init__()
        width, layers = config.width, config.layers
        assert not isinstance(layers, int), "a modified ResNet's config: four stage depths"
        self.input_resolution = config.resolution
        self.conv1 = nn.Conv2d(3, width // 2, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, kernel_size=3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)

        inplanes = width
        stages = []
        for index, blocks in enumerate(layers):
            planes = width * 2 ** index
            stride = 1 if index == 0 else 2
            stage = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * RESNET_EXPANSION
            stage += [Bottleneck(inplanes, planes) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages

        grid = config.resolution // RESNET_DOWNSAMPLE
        self.attnpool = AttentionPool2d(grid, width * RESNET_FEATURE_RATIO, config.heads, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [batch, 3, resolution, resolution]
        x = F.relu(self.bn1(self.conv1(x)))  # [batch, width / 2, resolution / 2, resolution / 2]
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))  # [batch, width, resolution / 2, resolution / 2]
        x = self.avgpool(x)  # [batch, width, resolution / 4, resolution / 4]
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # [batch, width * 32, grid, grid]
        return self.attnpool(x)  # [batch, embed_dim]


class CLIP(nn.Module):
    def __init__(self, config: ClipConfig):
        super().__init__()
        self.config = config
        self.visual: VisionTransformer | ModifiedResNet
        if config.vision.is_vit:
            self.visual = VisionTransformer(config.vision, config.embed_dim, config.activation)
        else:
            self.visual = ModifiedResNet(config.vision, config.embed_dim)
        text = config.text
        self.transformer = Transformer(text.width, text.layers, text.heads, config.activation, causal=True)
        # Given its tensor, nn.Embedding skips its own random init; initialize_parameters does it (off meta).
        self.token_embedding = nn.Embedding(text.vocab_size, text.width,
                                            _weight=torch.empty(text.vocab_size, text.width))
        self.positional_embedding = nn.Parameter(torch.empty(text.context_length, text.width))
        self.ln_final = LayerNorm(text.width)
        self.text_projection = nn.Parameter(torch.empty(text.width, config.embed_dim))
        self.logit_scale = nn.Parameter(torch.empty(()))
        if not self.logit_scale.is_meta:
            # On the meta device (build_model) a checkpoint's tensors replace these anyway, and normal_ there
            # imports torch._dynamo: two seconds of every app start.
            self.initialize_parameters()

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    @property
    def context_length(self) -> int:
        return self.config.text.context_length

    @property
    def input_resolution(self) -> int:
        return self.config.vision.resolution

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """[batch, 3, R, R] preprocessed images -> [batch, embed_dim] (not normalised)."""
        return self.visual(images.to(self.dtype))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """[batch, context] token ids -> [batch, embed_dim] (not normalised).

        The sentence feature is read at each row's end-of-text token, which has the highest id in the row.
        Under the causal mask nothing after the last such token in the batch can change it, so the padding
        beyond is never computed: a short query costs its own length, not the full context.
        """
        eot_positions = tokens.argmax(dim=-1)  # [batch]
        length = int(eot_positions.max()) + 1 if tokens.numel() else 0
        tokens = tokens[:, :length]  # [batch, length]
        x = self.token_embedding(tokens).to(self.dtype)  # [batch, length, width]
        x = x + self.positional_embedding[:length].to(self.dtype)
        x = self.transformer(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot_positions]  # [batch, width]
        x = self.ln_final(x)  # per-position, so applying it after the gather changes nothing
        return x @ self.text_projection  # [batch, embed_dim]

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image_features = F.normalize(self.encode_image(images), dim=-1)  # [images, embed_dim]
        text_features = F.normalize(self.encode_text(tokens), dim=-1)  # [texts, embed_dim]
        logits_per_image = self.logit_scale.exp() * image_features @ text_features.t()  # [images, texts]
        return logits_per_image, logits_per_image.t()

    def initialize_parameters(self) -> None:
        """Random weights with CLIP's initialisation scales, for training from scratch and for tests."""
        text = self.config.text
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=text.width ** -0.5)
        nn.init.constant_(self.logit_scale, math.log(INITIAL_LOGIT_SCALE))
        for module in self.modules():
            if isinstance(module, LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
                module.reset_running_stats()
            elif isinstance(module, (nn.Linear, nn.Conv2d)):
                module.reset_parameters()
        towers = [self.transformer]
        if isinstance(self.visual, VisionTransformer):
            towers.append(self.visual.transformer)
        for transformer in towers:
            width, layers = transformer.width, len(transformer.resblocks)
            proj_std = width ** -0.5 * (2 * layers) ** -0.5
            for block in transformer.resblocks:
                assert isinstance(block, ResidualAttentionBlock)
                nn.init.normal_(block.attn.in_proj_weight, std=width ** -0.5)
                nn.init.zeros_(block.attn.in_proj_bias)
                nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
                nn.init.zeros_(block.attn.out_proj.bias)
                nn.init.normal_(block.mlp.get_parameter("c_fc.weight"), std=(2 * width) ** -0.5)
                nn.init.normal_(block.mlp.get_parameter("c_proj.weight"), std=proj_std)
        if isinstance(self.visual, VisionTransformer):
            scale = self.visual.conv1.out_channels ** -0.5
            nn.init.normal_(self.visual.class_embedding, std=scale)
            nn.init.normal_(self.visual.positional_embedding, std=scale)
            nn.init.normal_(self.visual.proj, std=scale)
        else:
            pool = self.visual.attnpool
            std = pool.c_proj.in_features ** -0.5
            nn.init.normal_(pool.positional_embedding, std=std)
            for linear in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
                nn.init.normal_(linear.weight, std=std)
