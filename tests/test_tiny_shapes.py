"""The bundled tiny-shapes model: it loads like any checkpoint and knows its world, on pictures it never saw.

The quality figures are computed here directly (not through `train.evaluate`), so a fault in the library's
own evaluation cannot hide a model that does not work.
"""

import pytest
import torch
import torch.nn.functional as F

import photosort.clip as clip
from photosort.clip import shapes
from photosort.paths import bundled_models_dir

HELD_OUT_SEED = 424242  # never used by training, whose pictures come from the plan's seed
MAX_CHECKPOINT_BYTES = 20_000_000


@pytest.fixture(scope="module")
def tiny():
    return clip.load("tiny-shapes", device="cpu")


def _article(colour):
    return "an" if colour[0] in "aeiou" else "a"


def _features(model, preprocess, pictures):
    with torch.no_grad():
        images = torch.stack([preprocess(image) for _, image in pictures])
        image_features = F.normalize(model.encode_image(images), dim=-1)
        pairs = [(colour, shape) for colour in shapes.COLOURS for shape in shapes.SHAPES]
        prompts = [f"a photo of {_article(colour)} {colour} {shape}" for colour, shape in pairs]
        text_features = F.normalize(model.encode_text(clip.tokenize(prompts)), dim=-1)
    return image_features, text_features, pairs


def _quality(model, preprocess, pictures):
    image_features, text_features, pairs = _features(model, preprocess, pictures)
    predicted = [pairs[index] for index in (image_features @ text_features.t()).argmax(dim=-1).tolist()]
    truth = [(scene.colour, scene.shape) for scene, _ in pictures]
    colour = sum(p[0] == t[0] for p, t in zip(predicted, truth, strict=True)) / len(truth)
    shape = sum(p[1] == t[1] for p, t in zip(predicted, truth, strict=True)) / len(truth)
    top5 = (text_features @ image_features.t()).topk(5, dim=-1).indices
    precision = sum(truth[index] == pair for pair, row in zip(pairs, top5.tolist(), strict=True)
                    for index in row) / (5 * len(pairs))
    return colour, shape, precision


def test_bundled_model_is_listed_small_and_in_openai_format(tiny):
    path = bundled_models_dir() / "tiny-shapes.pt"
    assert "tiny-shapes" in clip.available_models()
    assert path.stat().st_size < MAX_CHECKPOINT_BYTES
    state = torch.load(path, weights_only=True)
    assert {"visual.proj", "visual.conv1.weight", "text_projection", "token_embedding.weight"} <= set(state)
    model, preprocess = tiny
    assert model.context_length == 77 and model.config.text.vocab_size == 49408
    assert preprocess.resolution == model.input_resolution


def test_quality_on_held_out_pictures(tiny):
    pictures = shapes.held_out_set(HELD_OUT_SEED, per_kind=10)  # 320 pictures
    colour, shape, precision = _quality(*tiny, pictures)
    assert colour >= 0.95
    assert shape >= 0.90
    assert precision >= 0.9


def test_quality_on_a_shifted_distribution(tiny):
    """Bigger canvases, shapes smaller and larger than in training, backgrounds never seen."""
    pictures = shapes.held_out_set(HELD_OUT_SEED + 1, per_kind=5, distribution=shapes.SHIFTED)
    colour, shape, precision = _quality(*tiny, pictures)
    assert colour >= 0.9
    assert shape >= 0.8
    assert precision >= 0.8
