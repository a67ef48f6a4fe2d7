"""Every checkpoint format loads through `clip.load(path)`; anything else is refused with a clear message."""

import pickle
import zipfile

import pytest
import torch
from safetensors.torch import save_file

import photosort.clip as clip
from tests import reference
from tests.conftest import relative_error


def _reference_outputs(ref_model, resolution):
    torch.manual_seed(5)
    images = torch.randn(2, 3, resolution, resolution)
    tokens = clip.tokenize(["a red circle", "two blue squares on a grey background"])
    with torch.no_grad():
        return images, tokens, ref_model.encode_image(images), ref_model.encode_text(tokens)


def _assert_same_as_reference(model, ref_model, resolution):
    images, tokens, expected_image, expected_text = _reference_outputs(ref_model, resolution)
    with torch.no_grad():
        assert relative_error(model.encode_image(images), expected_image) < 1e-4
        assert relative_error(model.encode_text(tokens), expected_text) < 1e-4


@pytest.fixture(scope="module")
def ref_model():
    return reference.random_reference_model(reference.SMALL_VIT, seed=7)


def test_torchscript_archive_loads(tmp_path, ref_model):
    """An archive made as OpenAI's were: the traced reference model, saved in half precision with metadata."""
    reference.save_torchscript(reference.SMALL_VIT, 7, tmp_path / "ViT-tiny.pt")
    loaded, preprocess = clip.load(tmp_path / "ViT-tiny.pt", device="cpu")
    assert preprocess.resolution == 64
    _assert_same_as_reference(loaded, ref_model, 64)


def test_torchscript_code_is_never_run(tmp_path):
    """A forged archive whose pickle names a function to call is refused, and the function never runs."""
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Exploit(str(marker)), protocol=2)
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("evil/data.pkl", payload)
        archive.writestr("evil/constants.pkl", pickle.dumps(()))
        archive.writestr("evil/code/__torch__/evil.py", "")
    with pytest.raises(clip.CheckpointError, match="evil.pt"):
        clip.load(tmp_path / "evil.pt", device="cpu")
    assert not marker.exists()


class _Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_plain_state_dict_file_loads(small_vit_file, ref_model):
    state = reference.random_state_dict(reference.SMALL_VIT, seed=7)
    path = small_vit_file.with_name("seven.pt")
    torch.save(state, path)
    model, _ = clip.load(path, device="cpu")
    _assert_same_as_reference(model, ref_model, 64)


def test_wrapped_and_data_parallel_state_dict_loads(tmp_path, ref_model):
    state = reference.random_state_dict(reference.SMALL_VIT, seed=7)
    wrapped = {"epoch": 3, "state_dict": {f"module.{key}": value for key, value in state.items()}}
    torch.save(wrapped, tmp_path / "training-checkpoint.pt")
    model, _ = clip.load(tmp_path / "training-checkpoint.pt", device="cpu")
    _assert_same_as_reference(model, ref_model, 64)


def test_open_clip_files_load(tmp_path, ref_model):
    """open_clip publishes `.bin` (a pickle of the state dict) and `.safetensors` with OpenAI's key names."""
    state = reference.random_state_dict(reference.SMALL_VIT, seed=7)
    torch.save(state, tmp_path / "open_clip_pytorch_model.bin")
    save_file({key: value.contiguous() for key, value in state.items()}, tmp_path / "open_clip_model.safetensors")
    for name in ("open_clip_pytorch_model.bin", "open_clip_model.safetensors"):
        model, _ = clip.load(tmp_path / name, device="cpu")
        _assert_same_as_reference(model, ref_model, 64)
        gelu_model, _ = clip.load(tmp_path / name, device="cpu", activation="gelu")
        assert type(gelu_model.transformer.resblocks[0].mlp.gelu).__name__ == "GELU"


def test_fp16_checkpoint_loads_as_fp32_on_the_cpu(tmp_path, small_vit_state_dict):
    torch.save({key: value.half() if value.is_floating_point() else value
                for key, value in small_vit_state_dict.items()}, tmp_path / "half.pt")
    model, _ = clip.load(tmp_path / "half.pt", device="cpu")
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


@pytest.mark.parametrize("content, expected", [
    (b"", "could not be read"),
    (b"hello, this is a text file\n", "could not be read"),
    (b"\x00\x01\x02" * 1000, "could not be read"),
])
def test_garbage_files_get_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(clip.CheckpointError, match=expected) as error:
        clip.load(path, device="cpu")
    assert str(path) in str(error.value)


def test_a_state_dict_that_is_not_clip_names_what_is_missing(tmp_path):
    torch.save({"conv.weight": torch.zeros(3, 3), "fc.bias": torch.zeros(3)}, tmp_path / "resnet.pt")
    with pytest.raises(clip.CheckpointError) as error:
        clip.load(tmp_path / "resnet.pt", device="cpu")
    message = str(error.value)
    assert "resnet.pt" in message and "not a CLIP checkpoint" in message
    assert "text_projection" in message and "token_embedding.weight" in message


def test_a_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    with (tmp_path / "evil.bin").open("wb") as file:
        pickle.dump(_Exploit(str(marker)), file)
    with pytest.raises(clip.CheckpointError, match="evil.bin"):
        clip.load(tmp_path / "evil.bin", device="cpu")
    assert not marker.exists()


def test_unknown_name_says_what_exists():
    with pytest.raises(clip.ModelNotFoundError, match="ViT-B/32"):
        clip.load("ViT-Q/99", device="cpu")
