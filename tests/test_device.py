"""Device choice, the CPU's precision, and the fall-back to the CPU when an accelerator fails."""

import os
import subprocess
import sys

import pytest
import torch

import photosort.clip as clip
from photosort.clip import loader

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


@pytest.fixture
def fresh_precision_check(monkeypatch):
    monkeypatch.delenv(loader.PRECISION_VARIABLE, raising=False)
    loader.cpu_has_fast_bfloat16.cache_clear()
    yield loader.cpu_has_fast_bfloat16
    loader.cpu_has_fast_bfloat16.cache_clear()


@pytest.mark.parametrize("amx, avx512_bf16, expected", [(True, True, True), (False, True, True),
                                                        (True, False, True), (False, False, False)])
def test_cpu_bf16_follows_the_cpu_s_bf16_instructions(fresh_precision_check, monkeypatch, amx, avx512_bf16,
                                                      expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert fresh_precision_check() is expected
    fresh_precision_check.cache_clear()
    monkeypatch.setenv(loader.PRECISION_VARIABLE, "0" if expected else "1")  # the override wins
    assert fresh_precision_check() is not expected


def test_cpu_precision_is_the_same_in_every_process_however_busy():
    """Encoders in different processes (the app's child, the CLI) must agree: a precision that flipped between
    runs would encode a library's queries unlike its photos. Fresh processes, while this one keeps a core busy."""
    check = "from photosort.clip.loader import cpu_has_fast_bfloat16 as check; print(check())"
    expected = str(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        answers = [subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True,
                                  env={key: value for key, value in os.environ.items()
                                       if key != loader.PRECISION_VARIABLE}).stdout.strip()
                   for _ in range(4)]
    finally:
        busy.kill()
    assert answers == [expected] * 4


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
