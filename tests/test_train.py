"""Contrastive training: the loss, the schedule, and a real (tiny) training run."""

import math
import random
from dataclasses import replace

import numpy as np
import pytest
import torch

import photosort.clip as clip
from photosort.clip import shapes, train

TINY_PLAN = train.TrainingPlan(steps=6, pictures_per_kind=2, resolution=32, patch_size=16, vision_width=64,
                               text_width=64,
                               vision_layers=1, text_layers=1, embed_dim=32)


def test_loss_matches_a_direct_computation():
    torch.manual_seed(0)
    images, texts = torch.randn(5, 8), torch.randn(5, 8)
    logit_scale = torch.tensor(math.log(20.0))
    expected = 0.0
    for i in range(5):
        similarities = [20.0 * float(torch.cosine_similarity(images[i], texts[j], dim=0)) for j in range(5)]
        by_text = [20.0 * float(torch.cosine_similarity(images[j], texts[i], dim=0)) for j in range(5)]
        expected += -similarities[i] + math.log(sum(math.exp(value) for value in similarities))
        expected += -by_text[i] + math.log(sum(math.exp(value) for value in by_text))
    expected /= 2 * 5
    assert float(train.contrastive_loss(images, texts, logit_scale)) == pytest.approx(expected, rel=1e-5)


def test_loss_is_low_for_matching_pairs_and_high_for_swapped_ones():
    features = torch.eye(4)
    scale = torch.tensor(math.log(100.0))
    assert float(train.contrastive_loss(features, features, scale)) < 1e-3
    assert float(train.contrastive_loss(features, features.flip(0), scale)) > 10


def test_learning_rate_warms_up_then_decays_to_zero():
    plan = train.TrainingPlan(steps=1000, learning_rate=1e-3, warmup_fraction=0.1)
    rates = [train.learning_rate_at(step, plan) for step in range(1000)]
    assert rates[0] == pytest.approx(1e-5)
    assert max(rates) == pytest.approx(1e-3) and rates.index(max(rates)) in (99, 100)
    assert all(a <= b for a, b in zip(rates[:100], rates[1:100], strict=False))
    assert all(a >= b for a, b in zip(rates[100:], rates[101:], strict=False))
    assert rates[-1] < 1e-7


def test_weight_decay_spares_gains_biases_and_embeddings():
    model = clip.CLIP(TINY_PLAN.model_config())
    decayed, kept, embedding = train.make_optimizer(model, TINY_PLAN).param_groups
    assert decayed["weight_decay"] == 0.1 and kept["weight_decay"] == 0.0
    kept_ids = {id(parameter) for parameter in kept["params"]}
    assert id(model.logit_scale) in kept_ids and id(model.positional_embedding) in kept_ids
    assert id(model.ln_final.weight) in kept_ids and id(model.visual.proj) not in kept_ids
    assert [id(parameter) for parameter in embedding["params"]] == [id(model.token_embedding.weight)]
    assert embedding.get("weight_decay", 0.0) == 0.0


def test_a_step_moves_only_the_token_rows_the_batch_used():
    torch.manual_seed(0)
    model = clip.CLIP(TINY_PLAN.model_config()).train()
    optimizer = train.make_optimizer(model, TINY_PLAN)
    before = model.token_embedding.weight.detach().clone()
    tokens = clip.tokenize(["a red circle", "two blue stars"])
    images = torch.randn(2, 3, 32, 32)
    loss = train.contrastive_loss(model.encode_image(images), model.encode_text(tokens), model.logit_scale)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    moved = (model.token_embedding.weight.detach() != before).any(dim=-1)  # [vocab]
    used = torch.zeros_like(moved)
    used[tokens[tokens > 0].unique()] = True
    assert moved.any() and torch.equal(moved, used)


def test_overfits_a_tiny_batch():
    """Eight fixed picture-caption pairs: the loss must fall far below chance (ln 8)."""
    torch.manual_seed(0)
    rng = random.Random(0)
    scenes = [shapes.Scene(colour, shape, 1, "grey") for colour, shape in
              zip(list(shapes.COLOURS)[:8], list(shapes.SHAPES) * 2, strict=True)]
    preprocess = clip.Preprocess(32)
    images = torch.stack([preprocess(shapes.render(scene, rng)) for scene in scenes])
    tokens = clip.tokenize([f"a {scene.colour} {scene.shape}" for scene in scenes])
    plan = replace(TINY_PLAN, steps=60, learning_rate=1e-3)
    model = clip.CLIP(plan.model_config()).train()
    optimizer = train.make_optimizer(model, plan)
    losses = []
    for step in range(plan.steps):
        for group in optimizer.param_groups:
            group["lr"] = train.learning_rate_at(step, plan)
        loss = train.contrastive_loss(model.encode_image(images), model.encode_text(tokens), model.logit_scale)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.8 * math.log(8)
    assert min(losses[-5:]) < 0.2 * losses[0]


def test_batches_hold_every_kind_once_with_true_captions():
    pool = train.Pool(shapes.all_scene_kinds(), np.zeros((96, 1, 8, 8, 3), np.uint8), [["grey"]] * 96)
    images, captions = train.sample_batch(pool, random.Random(1))
    assert images.shape == (96, 3, 8, 8)
    assert len(set(captions)) > 80
    for caption in captions:
        assert any(colour in caption for colour in shapes.COLOURS)
        assert any(shape in caption for shape in shapes.SHAPES)


def test_training_is_reproducible_from_its_seed(tmp_path):
    pool = train.render_pool(TINY_PLAN, workers=2)
    reports = []
    first = train.train(TINY_PLAN, reports.append, pool)
    second = train.train(TINY_PLAN, pool=pool)
    assert [report.step for report in reports] == list(range(1, 7))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(),
                                                strict=True))
    assert all(report.logit_scale <= 100 for report in reports)
    train.save_checkpoint(first, tmp_path / "tiny.pt")
    loaded, preprocess = clip.load(tmp_path / "tiny.pt", device="cpu")
    assert preprocess.resolution == 32 and loaded.context_length == 77


def test_cached_caption_tokens_equal_fresh_tokenisation():
    rng = random.Random(3)
    cached = train.CaptionTokens()
    for _ in range(5):  # later batches repeat earlier wordings: served from the cache
        captions = [shapes.caption(shapes.random_scene(rng), rng) for _ in range(50)]
        assert torch.equal(cached(captions), clip.tokenize(captions))
