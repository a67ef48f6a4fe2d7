"""Zero-shot helpers: the 80-template prompt ensemble and logit-scale softmax."""

import pytest
import torch
import torch.nn.functional as F

import photosort.clip as clip


@pytest.fixture(scope="module")
def model(small_vit_state_dict):
    return clip.build_model(small_vit_state_dict)


def test_imagenet_templates():
    templates = clip.load_templates()
    assert len(templates) == 80 and len(set(templates)) == 80
    assert templates[0] == "a bad photo of a {}." and "itap of my {}." in templates
    assert all(template.count("{}") == 1 for template in templates)


def test_ensemble_is_the_renormalised_mean_of_normalised_embeddings(model):
    prompts = ["a photo of a dog.", "a drawing of a dog.", "itap of my dog."]
    with torch.no_grad():
        each = F.normalize(model.encode_text(clip.tokenize(prompts)), dim=-1)
    expected = each.mean(dim=0)
    expected = expected / expected.norm()
    actual = clip.ensemble_text_embedding(model, prompts)
    assert torch.allclose(actual, expected, atol=1e-6)
    assert abs(float(actual.norm()) - 1) < 1e-6


def test_single_template_ensemble_is_the_normalised_embedding(model):
    with torch.no_grad():
        single = F.normalize(model.encode_text(clip.tokenize(["a photo of a cat."])), dim=-1)[0]
    classifier = clip.zero_shot_classifier(model, ["cat"], templates=["a photo of a {}."])
    assert torch.allclose(classifier[0], single, atol=1e-6)


def test_classifier_uses_all_80_templates_by_default(model):
    classifier = clip.zero_shot_classifier(model, ["cat", "dog"])
    manual = clip.ensemble_text_embedding(model, [template.format("dog") for template in clip.load_templates()])
    assert classifier.shape == (2, 64)
    assert torch.allclose(classifier[1], manual, atol=1e-6)


def test_probabilities_are_a_softmax_of_scaled_cosines(model):
    classifier = clip.zero_shot_classifier(model, ["cat", "dog", "bird"], templates=["a photo of a {}."])
    torch.manual_seed(0)
    with torch.no_grad():
        image_features = model.encode_image(torch.randn(4, 3, 64, 64))
    probabilities = clip.zero_shot_probabilities(model, image_features, classifier)
    assert probabilities.shape == (4, 3)
    assert torch.allclose(probabilities.sum(dim=-1), torch.ones(4), atol=1e-6)
    cosines = F.normalize(image_features, dim=-1) @ classifier.t()
    assert torch.equal(probabilities.argmax(dim=-1), cosines.argmax(dim=-1))
    scale = float(model.logit_scale.detach().exp())
    log_ratio = torch.log(probabilities[:, 0] / probabilities[:, 1])
    assert torch.allclose(log_ratio, scale * (cosines[:, 0] - cosines[:, 1]), atol=1e-4)

