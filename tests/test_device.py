"""Device choice and the fall-back to the CPU when an accelerator fails."""

import pytest
import torch

import photosort.clip as clip

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="proves the fall-back where CUDA is absent")


def test_environment_variable_overrides_the_automatic_choice(monkeypatch):
    monkeypatch.setenv("PHOTOSORT_DEVICE", "cpu")
    assert clip.resolve_device() == torch.device("cpu")
    assert clip.resolve_device("auto") == torch.device("cpu")
    monkeypatch.setenv("PHOTOSORT_DEVICE", "mps")
    assert clip.resolve_device() == torch.device("mps")
    assert clip.resolve_device("cpu") == torch.device("cpu")  # an explicit choice wins


def test_automatic_choice_on_this_machine():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert clip.resolve_device().type == expected


def test_unknown_device_is_a_clear_error():
    with pytest.raises(clip.ClipError, match="unknown device 'gpu0'"):
        clip.resolve_device("gpu0")


@needs_no_cuda
@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_failed_accelerator_falls_back_to_cpu_with_a_warning(small_vit_file, small_vit_state_dict, device):
    with pytest.warns(RuntimeWarning, match=f"could not run the model on {device}"):
        model, _ = clip.load(small_vit_file, device=device)
    assert {parameter.device.type for parameter in model.parameters()} == {"cpu"}
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}
    expected = clip.build_model(small_vit_state_dict)
    tokens = clip.tokenize(["a cat"])
    with torch.no_grad():
        assert torch.equal(model.encode_text(tokens), expected.encode_text(tokens))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_runs_in_half_precision(small_vit_file):
    model, preprocess = clip.load(small_vit_file, device="cuda")
    assert model.dtype == torch.float16
    with torch.no_grad():
        features = model.encode_image(torch.zeros(2, 3, 64, 64, device="cuda"))
    assert features.dtype == torch.float16 and features.shape == (2, 64)
