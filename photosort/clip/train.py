"""Contrastive training of a small CLIP on the synthetic shapes world: the bundled `tiny-shapes` model.

Trained as CLIP is: a symmetric InfoNCE loss over each batch with a learnable temperature (`logit_scale`,
clamped at 100 as CLIP does), AdamW with linear warm-up and cosine decay. Each batch holds every
(colour, shape, count) kind of the world exactly once, so a batch has no two pictures of the same kind that
the loss would have to push apart.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import shapes
from .model import CLIP, ClipConfig, TextConfig, VisionConfig
from .preprocess import MEAN, STD, resize_and_crop
from .tokenizer import CONTEXT_LENGTH, default_tokenizer

MAX_LOGIT_SCALE = math.log(100)  # CLIP clamps its learnt temperature so logits never exceed 100 x cosine


@dataclass(frozen=True)
class TrainingPlan:
    seed: int = 20261123
    steps: int = 6300
    pictures_per_kind: int = 400  # pool rendered up front: 96 kinds x this many pictures
    learning_rate: float = 1e-3
    weight_decay: float = 0.1
    warmup_fraction: float = 0.05
    # Small patches: a shape spans several tokens, which a ViT trained from scratch needs to tell shapes apart.
    resolution: int = 32
    patch_size: int = 4
    vision_width: int = 64
    text_width: int = 64
    vision_layers: int = 3
    text_layers: int = 2
    embed_dim: int = 64

    def model_config(self) -> ClipConfig:
        return ClipConfig(
            embed_dim=self.embed_dim,
            vision=VisionConfig(resolution=self.resolution, width=self.vision_width, layers=self.vision_layers,
                                patch_size=self.patch_size),
            # The full vocabulary and context: the model must take the standard tokenizer's output as it is.
            text=TextConfig(context_length=CONTEXT_LENGTH, vocab_size=default_tokenizer().vocab_size,
                            width=self.text_width, layers=self.text_layers),
        )


def contrastive_loss(image_features: torch.Tensor, text_features: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE: pair i of the batch is the positive, every other pairing a negative."""
    images = F.normalize(image_features, dim=-1)  # [batch, dim]
    texts = F.normalize(text_features, dim=-1)  # [batch, dim]
    logits = logit_scale.exp() * images @ texts.t()  # [batch images, batch texts]
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2


def learning_rate_at(step: int, plan: TrainingPlan) -> float:
    """Linear warm-up, then cosine decay to zero."""
    warmup = max(1, int(plan.steps * plan.warmup_fraction))
    if step < warmup:
        return plan.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, plan.steps - warmup)
    return plan.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


class Optimizer:
    """AdamW as in CLIP, except for the token embedding, which gets lazy (sparse) Adam.

    The captions use a few dozen of the vocabulary's 49,408 rows; a dense AdamW step over every row each
    step (and the dense gradient behind it) cost about an eighth of a training step for nothing. The
    embedding carries no weight decay in CLIP, so updating only the rows a batch uses changes nothing else.
    """

    def __init__(self, model: CLIP, plan: TrainingPlan):
        embedding = model.token_embedding
        embedding.sparse = True  # its gradient becomes the rows the batch used
        decayed: list[torch.nn.Parameter] = []
        kept: list[torch.nn.Parameter] = []
        for name, parameter in model.named_parameters():
            if parameter is embedding.weight:
                continue
            # No weight decay on gains, biases, embeddings or the temperature.
            is_matrix = parameter.ndim >= 2 and "embedding" not in name
            (decayed if is_matrix else kept).append(parameter)
        groups = [{"params": decayed, "weight_decay": plan.weight_decay}, {"params": kept, "weight_decay": 0.0}]
        self.dense = torch.optim.AdamW(groups, lr=plan.learning_rate, betas=ADAM_BETAS, eps=ADAM_EPSILON)
        self.sparse = torch.optim.SparseAdam([embedding.weight], lr=plan.learning_rate, betas=ADAM_BETAS,
                                             eps=ADAM_EPSILON)

    @property
    def param_groups(self) -> list[dict]:
        return self.dense.param_groups + self.sparse.param_groups

    def zero_grad(self) -> None:
        self.dense.zero_grad(set_to_none=True)
        self.sparse.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.dense.step()
        self.sparse.step()


ADAM_BETAS = (0.9, 0.98)  # CLIP's choice for transformers: a shorter second-moment memory than 0.999
ADAM_EPSILON = 1e-6


def make_optimizer(model: CLIP, plan: TrainingPlan) -> Optimizer:
    return Optimizer(model, plan)


def to_model_input(pixels: np.ndarray) -> torch.Tensor:
    """[batch, R, R, 3] uint8 centre crops -> [batch, 3, R, R] normalised as CLIP's preprocessing does."""
    images = torch.from_numpy(pixels).float().div_(255)  # [batch, R, R, 3]
    images = (images - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    return images.permute(0, 3, 1, 2).contiguous()


# The pool: pictures rendered once, before training, by worker processes (rendering is Pillow work).

def _render_kind(job: tuple[int, str, str, int, int, int]) -> tuple[np.ndarray, list[str]]:
    seed, colour, shape, count, pictures, resolution = job
    rng = random.Random(seed)
    crops, backgrounds = [], []
    for _ in range(pictures):
        scene = shapes.Scene(colour, shape, count, shapes.background_for(rng, colour, shapes.TRAINING))
        crop = resize_and_crop(shapes.render(scene, rng), resolution).convert("RGB")
        crops.append(np.asarray(crop))
        backgrounds.append(scene.background)
    return np.stack(crops), backgrounds


@dataclass
class Pool:
    kinds: list[tuple[str, str, int]]
    pixels: np.ndarray  # [kinds, pictures, R, R, 3] uint8
    backgrounds: list[list[str]]  # [kinds][pictures]


def render_pool(plan: TrainingPlan, workers: int | None = None) -> Pool:
    kinds = shapes.all_scene_kinds()
    seeds = random.Random(plan.seed).sample(range(2 ** 31), len(kinds))
    jobs = [(seed, *kind, plan.pictures_per_kind, plan.resolution) for seed, kind in zip(seeds, kinds, strict=True)]
    with multiprocessing.get_context("spawn").Pool(workers or min(4, multiprocessing.cpu_count())) as pool:
        results = pool.map(_render_kind, jobs)
    return Pool(kinds, np.stack([pixels for pixels, _ in results]), [backgrounds for _, backgrounds in results])


def sample_batch(pool: Pool, rng: random.Random) -> tuple[torch.Tensor, list[str]]:
    """One picture of every kind, in random order, flipped or not, each with a freshly worded caption."""
    order = list(range(len(pool.kinds)))
    rng.shuffle(order)
    pictures, captions = [], []
    for kind_index in order:
        picture = rng.randrange(pool.pixels.shape[1])
        pixels = pool.pixels[kind_index, picture]
        pictures.append(pixels[:, ::-1] if rng.random() < 0.5 else pixels)
        colour, shape, count = pool.kinds[kind_index]
        scene = shapes.Scene(colour, shape, count, pool.backgrounds[kind_index][picture])
        captions.append(shapes.caption(scene, rng))
    return to_model_input(np.ascontiguousarray(np.stack(pictures))), captions


class CaptionTokens:
    """Tokenised captions, each caption tokenised once: the world has a few thousand wordings, and
    tokenising 96 of them afresh took about 5% of a training step."""

    def __init__(self) -> None:
        self.tokenizer = default_tokenizer()
        self.rows: dict[str, torch.Tensor] = {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        missing = [caption for caption in dict.fromkeys(captions) if caption not in self.rows]
        if missing:
            self.rows.update(zip(missing, self.tokenizer.tokenize(missing), strict=True))
        return torch.stack([self.rows[caption] for caption in captions])  # [batch, 77]


@dataclass(frozen=True)
class StepReport:
    step: int
    steps: int
    loss: float
    logit_scale: float
    seconds: float


def train(plan: TrainingPlan, on_step: Callable[[StepReport], None] | None = None,
          pool: Pool | None = None) -> CLIP:
    """Train a CLIP from scratch on the shapes world, deterministically for a given plan and thread count."""
    torch.manual_seed(plan.seed)
    rng = random.Random(plan.seed)
    pool = pool or render_pool(plan)
    model = CLIP(plan.model_config()).train()
    optimizer = make_optimizer(model, plan)
    tokens_of = CaptionTokens()
    started = time.monotonic()
    for step in range(plan.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, plan)
        images, captions = sample_batch(pool, rng)
        tokens = tokens_of(captions)
        loss = contrastive_loss(model.encode_image(images), model.encode_text(tokens), model.logit_scale)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        if on_step:
            on_step(StepReport(step + 1, plan.steps, loss.item(), model.logit_scale.detach().exp().item(),
                               time.monotonic() - started))
    model.token_embedding.sparse = False
    return model.eval()


def save_checkpoint(model: CLIP, path: Path) -> None:
    """An OpenAI-style state dict (the same keys), in fp16 as OpenAI ships theirs: half the size."""
    state = {key: value.detach().half() if value.is_floating_point() else value.detach()
             for key, value in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    torch.save(state, partial)
    partial.replace(path)


@dataclass(frozen=True)
class Quality:
    colour_accuracy: float  # zero-shot over the 32 prompts "a photo of a {colour} {shape}"
    shape_accuracy: float
    count_accuracy: float  # zero-shot over the 96 prompts that also name the count
    precision_at_5: float  # text-to-image retrieval, one colour-shape query each, over all the pictures


def zero_shot_prompt(colour: str, shape: str, count: int | None = None) -> str:
    """"a photo of a red circle" (any number of them), or with a count, "a photo of two red circles"."""
    if count is None:
        article = "an" if colour[0] in "aeiou" else "a"
        return f"a photo of {article} {colour} {shape}"
    thing = shape if count == 1 else shapes.plural(shape)
    return f"a photo of {shapes.COUNT_WORDS[count]} {colour} {thing}"


@torch.inference_mode()
def evaluate(model: CLIP, preprocess: Callable, pictures: list[tuple[shapes.Scene, object]]) -> Quality:
    """Zero-shot and retrieval quality of a model on labelled pictures (see `shapes.held_out_set`)."""
    device = next(model.parameters()).device
    tokenizer = default_tokenizer()
    images = torch.stack([preprocess(image) for _, image in pictures]).to(device)
    image_features = F.normalize(model.encode_image(images).float(), dim=-1)  # [pictures, dim]

    def text_features(prompts: list[str]) -> torch.Tensor:
        return F.normalize(model.encode_text(tokenizer.tokenize(prompts).to(device)).float(), dim=-1)

    pairs = [(colour, shape) for colour in shapes.COLOURS for shape in shapes.SHAPES]
    pair_features = text_features([zero_shot_prompt(colour, shape) for colour, shape in pairs])  # [32, dim]
    best_pair = (image_features @ pair_features.t()).argmax(dim=-1).tolist()  # [pictures]
    kinds = shapes.all_scene_kinds()
    kind_features = text_features([zero_shot_prompt(*kind) for kind in kinds])  # [96, dim]
    best_kind = (image_features @ kind_features.t()).argmax(dim=-1).tolist()

    scenes = [scene for scene, _ in pictures]
    colour_hits = sum(pairs[best][0] == scene.colour for best, scene in zip(best_pair, scenes, strict=True))
    shape_hits = sum(pairs[best][1] == scene.shape for best, scene in zip(best_pair, scenes, strict=True))
    count_hits = sum(kinds[best][2] == scene.count for best, scene in zip(best_kind, scenes, strict=True))

    top5 = (pair_features @ image_features.t()).topk(5, dim=-1).indices.tolist()  # [32 queries, 5]
    relevant = sum((scenes[index].colour, scenes[index].shape) == pair
                   for pair, hits in zip(pairs, top5, strict=True) for index in hits)
    total = len(pictures)
    return Quality(colour_hits / total, shape_hits / total, count_hits / total, relevant / (5 * len(pairs)))
