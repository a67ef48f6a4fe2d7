"""Our CLIP against openai/CLIP's own model.py on the same random weights: same features, same logits."""

import pytest
import torch

import photosort.clip as clip
from tests import reference
from tests.conftest import relative_error

TOLERANCE = 1e-4  # relative error in fp32
QUERIES = ["a dog", "kids on a beach at sunset", "", "东京的夜景 🌃",
           "a very long description of a photograph " * 6]


def _compare(shape: dict, seed: int, batch: int) -> None:
    ref_model = reference.random_reference_model(shape, seed)
    ours = clip.build_model({key: value.clone() for key, value in ref_model.state_dict().items()})
    torch.manual_seed(seed + 100)
    images = torch.randn(batch, 3, shape["image_resolution"], shape["image_resolution"])
    tokens = clip.tokenize(QUERIES, truncate=True)
    with torch.no_grad():
        expected_image, actual_image = ref_model.encode_image(images), ours.encode_image(images)
        expected_text, actual_text = ref_model.encode_text(tokens), ours.encode_text(tokens)
        expected_logits, _ = ref_model(images, tokens)
        actual_logits, actual_per_text = ours(images, tokens)
    assert expected_image.norm() > 0 and expected_text.norm() > 0
    assert relative_error(actual_image, expected_image) < TOLERANCE
    assert relative_error(actual_text, expected_text) < TOLERANCE
    assert relative_error(actual_logits, expected_logits) < TOLERANCE
    assert torch.equal(actual_per_text, actual_logits.t())


def test_vit_b32_matches_reference():
    _compare(reference.VIT_B_32, seed=0, batch=2)


def test_small_resnet_matches_reference():
    _compare(reference.SMALL_RESNET, seed=3, batch=3)


def test_short_query_alone_equals_query_in_a_long_batch(small_vit_state_dict):
    """Encoding stops at the batch's last end token: a short query must not depend on its batch mates."""
    model = clip.build_model(small_vit_state_dict)
    tokens = clip.tokenize(["a cat", "a long sentence about a cat sitting on a mat in the afternoon sun"])
    with torch.no_grad():
        together = model.encode_text(tokens)
        alone = model.encode_text(tokens[:1])
    assert relative_error(alone[0], together[0]) < 1e-5


def test_encode_text_reads_the_end_token_not_the_padding(small_vit_state_dict):
    model = clip.build_model(small_vit_state_dict)
    tokens = clip.tokenize(["a cat", "a dog"])
    with torch.no_grad():
        features = model.encode_text(tokens)
    assert relative_error(features[0], features[1]) > 1e-3


def test_model_is_in_eval_mode_and_fp32(small_vit_state_dict):
    model = clip.build_model(small_vit_state_dict)
    assert not model.training
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


@pytest.mark.parametrize("activation", ["gelu", "quick_gelu"])
def test_activation_is_applied(small_vit_state_dict, activation):
    model = clip.build_model(small_vit_state_dict, activation=activation)
    other = clip.build_model(small_vit_state_dict, activation="gelu" if activation == "quick_gelu" else "quick_gelu")
    tokens = clip.tokenize(["a cat"])
    with torch.no_grad():
        assert relative_error(model.encode_text(tokens), other.encode_text(tokens)) > 1e-4
    assert type(model.transformer.resblocks[0].mlp.gelu).__name__ == ("GELU" if activation == "gelu" else "QuickGELU")
