"""The numpy text tower (photosort.clip.text_tower, TextEncoder) against the torch model's `encode_text`: the same
vectors, within 1e-5, for every published architecture's text tower, both activations, and every checkpoint
format, read without torch; and what a hostile file does to the torch-free reader."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import photosort.clip as clip
from photosort.clip.registry import MODELS
from photosort.clip.stored import StoredTensor, read_tensors
from photosort.clip.text_tower import TextTower, is_text_key
from photosort.clip.tokenizer import token_ids
from tests import reference

TOLERANCE = 1e-5  # relative, per text
QUERIES = ["a dog", "kids on a beach at sunset", "", "东京的夜景 🌃", "grandma's garden",
           "a very long description of a photograph " * 6]
# The text tower of each published checkpoint: (width, embedding), 12 layers of 64-wide heads, 77 tokens.
PUBLISHED_TEXT_TOWERS = {
    "RN50": (512, 1024), "RN101": (512, 512), "RN50x4": (640, 640), "RN50x16": (768, 768), "RN50x64": (1024, 1024),
    "ViT-B/32": (512, 512), "ViT-B/16": (512, 512), "ViT-L/14": (768, 768), "ViT-L/14@336px": (768, 768),
    "ViT-B-32-256/datacomp_s34b_b86k": (512, 512), "ViT-B-32/datacomp_xl_s13b_b90k": (512, 512),
    "ViT-B-32/laion2b_s34b_b79k": (512, 512),
}
TEXT_LAYERS = 12


def random_clip_state(width: int, embed_dim: int, seed: int, layers: int = TEXT_LAYERS) -> dict[str, torch.Tensor]:
    """A CLIP with a published text tower (and a small image tower), every weight random: LayerNorm scales and
    biases too, which CLIP's initialisation leaves at one and zero and a parity test must not."""
    shape = dict(reference.SMALL_VIT, embed_dim=embed_dim, transformer_width=width, transformer_heads=width // 64,
                 transformer_layers=layers)
    torch.manual_seed(seed)
    model = reference.model_module().CLIP(**shape).float()
    state = {}
    for key, value in model.state_dict().items():
        if value.is_floating_point() and ("ln_" in key or key.endswith("bias")):
            value = value + 0.1 * torch.randn_like(value)
        state[key] = value.clone()
    return state


def stored(state: dict[str, torch.Tensor]) -> dict[str, StoredTensor]:
    """A state dict as the torch-free reader gives one, for a tower built without writing a file."""
    return {key: StoredTensor("F32", tuple(value.shape), value.detach().float().contiguous().numpy().reshape(-1))
            for key, value in state.items() if is_text_key(key)}


def torch_text(state: dict[str, torch.Tensor], activation: str, texts: list[str]) -> np.ndarray:
    model = clip.build_model(state, activation)
    with torch.no_grad():
        return model.encode_text(clip.tokenize(texts, truncate=True)).numpy()


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    errors = np.linalg.norm(actual - expected, axis=1) / np.linalg.norm(expected, axis=1)
    assert errors.max() <= TOLERANCE, errors


def test_every_published_model_has_a_text_tower_under_test():
    assert set(PUBLISHED_TEXT_TOWERS) == set(MODELS)


@pytest.mark.parametrize("width, embed_dim", sorted(set(PUBLISHED_TEXT_TOWERS.values())))
@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
def test_published_text_towers_match_encode_text(width, embed_dim, activation):
    state = random_clip_state(width, embed_dim, seed=width + embed_dim)
    tower = TextTower(stored(state), activation)
    assert (tower.width, tower.embed_dim, tower.heads, len(tower.blocks)) == (width, embed_dim, width // 64, 12)
    assert_close(tower.encode(token_ids(QUERIES, truncate=True)), torch_text(state, activation, QUERIES))


def test_the_activation_matters(small_vit_state_dict):
    """QuickGELU and GELU give different vectors: a tower that ignored its activation would fail the parity."""
    tokens = token_ids(QUERIES[:2])
    quick, plain = (TextTower(stored(small_vit_state_dict), name).encode(tokens) for name in ("quick_gelu", "gelu"))
    assert np.linalg.norm(quick - plain) / np.linalg.norm(plain) > 1e-3


def test_a_query_alone_equals_the_query_among_longer_ones(small_vit_state_dict):
    tower = TextTower(stored(small_vit_state_dict))
    alone = tower.encode(token_ids(["a cat"]))
    together = tower.encode(token_ids(["a cat", "a long sentence about a cat sitting on a mat in the sun"]))
    assert_close(alone, together[:1])


def test_the_tokens_are_the_torch_tokenizers():
    texts = QUERIES + ["&amp; a &lt;b&gt;", "ＴＯＫＹＯ", "naïve café", "e\u0301", "Tab\tand\nnewline", "x" * 500]
    expected = reference.reference_tokenize(texts, truncate=True).numpy()
    assert np.array_equal(token_ids(texts, truncate=True), expected)
    assert np.array_equal(clip.tokenize(texts, truncate=True).numpy(), expected)


# Every format, read without torch, gives the torch model's vectors


def _formats(tmp_path, state):
    """The state dict written in each format photosort loads; fp16 and bf16 ones are compared with the model
    built from the same rounded weights."""
    half = {key: value.half() if value.is_floating_point() else value for key, value in state.items()}
    brain = {key: value.bfloat16() if value.is_floating_point() else value for key, value in state.items()}
    save_file({key: value.contiguous() for key, value in state.items()}, tmp_path / "model.safetensors")
    save_file({key: value.contiguous() for key, value in half.items()}, tmp_path / "half.safetensors")
    save_file({key: value.contiguous() for key, value in brain.items()}, tmp_path / "bf16.safetensors")
    torch.save(state, tmp_path / "open_clip_pytorch_model.bin")
    torch.save(half, tmp_path / "half.pt")
    torch.save({"epoch": 3, "state_dict": {f"module.{key}": value for key, value in brain.items()}},
               tmp_path / "training.pt")
    return {"model.safetensors": state, "half.safetensors": half, "bf16.safetensors": brain,
            "open_clip_pytorch_model.bin": state, "half.pt": half, "training.pt": brain}


@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
def test_every_format_reads_without_torch_to_the_same_vectors(tmp_path, activation):
    state = reference.random_state_dict(reference.SMALL_VIT, seed=4)
    for name, weights in _formats(tmp_path, state).items():
        expected = torch_text({key: value.float() for key, value in weights.items()}, activation, QUERIES)
        tower = TextTower.read(tmp_path / name, activation)
        assert_close(tower.encode(token_ids(QUERIES, truncate=True)), expected)


def test_an_openai_torchscript_archive_reads_without_torch(tmp_path):
    reference.save_torchscript(reference.SMALL_VIT, 7, tmp_path / "ViT-tiny.pt")
    model, _ = clip.load(tmp_path / "ViT-tiny.pt", device="cpu")
    with torch.no_grad():
        expected = model.encode_text(clip.tokenize(QUERIES, truncate=True)).numpy()
    assert_close(TextTower.read(tmp_path / "ViT-tiny.pt").encode(token_ids(QUERIES, truncate=True)), expected)


def test_the_text_encoder_gives_the_full_encoders_vectors(tmp_path, small_vit_state_dict):
    save_file({key: value.contiguous() for key, value in small_vit_state_dict.items()}, tmp_path / "m.safetensors")
    full = clip.Encoder.load(tmp_path / "m.safetensors", "cpu").encode_texts(QUERIES)
    light = clip.TextEncoder(tmp_path / "m.safetensors").encode_texts(QUERIES)
    assert_close(light, full)
    assert np.allclose(np.linalg.norm(light, axis=1), 1.0, atol=1e-6)


def test_a_transposed_tensor_is_read_as_its_stride_says(tmp_path):
    """torch.save keeps a tensor's layout: a transposed projection is stored with its strides, not copied."""
    state = reference.random_state_dict(reference.SMALL_VIT, seed=4)
    state["text_projection"] = state["text_projection"].t().contiguous().t()  # same values, column-major
    assert not state["text_projection"].is_contiguous()
    torch.save(state, tmp_path / "strided.pt")
    expected = torch_text(state, "quick_gelu", QUERIES)
    assert_close(TextTower.read(tmp_path / "strided.pt").encode(token_ids(QUERIES, truncate=True)), expected)


# Hostile files


def test_a_legacy_pickle_is_left_to_torch(tmp_path, small_vit_state_dict):
    torch.save(small_vit_state_dict, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(clip.NeedsTorchError):
        TextTower.read(tmp_path / "legacy.pt")


class _Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("torchscript", [False, True])
def test_a_pickle_that_calls_a_function_is_refused_and_never_runs(tmp_path, torchscript):
    marker = tmp_path / "ran"
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"token_embedding.weight": _Exploit(str(marker))}, 2))
        if torchscript:
            archive.writestr("evil/constants.pkl", pickle.dumps(()))
            archive.writestr("evil/code/__torch__/evil.py", "")
    with pytest.raises(clip.CheckpointError, match="evil.pt.*builtins.open|evil.pt.*io.open"):
        TextTower.read(tmp_path / "evil.pt")
    assert not marker.exists()


def test_a_forged_shape_is_refused_before_anything_is_copied(tmp_path):
    """A forged size must not read memory beyond the storage it names, nor turn a few bytes into gigabytes."""
    state = reference.random_state_dict(reference.SMALL_VIT, seed=4)
    torch.save(state, tmp_path / "good.pt")
    with zipfile.ZipFile(tmp_path / "good.pt") as source, zipfile.ZipFile(tmp_path / "forged.pt", "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename.endswith("data.pkl"):
                # The projections' shape [128, 64] (two small ints, then a pair) declared as [1280, 64].
                data = data.replace(b"K\x80K@\x86", b"M\x00\x05K@\x86")
            target.writestr(entry, data)
    tensors = read_tensors(tmp_path / "forged.pt", is_text_key)
    assert tensors["text_projection"].shape == (1280, 64), "the forgery did not take"
    with pytest.raises(clip.CheckpointError, match=r"forged.pt: .*shapes disagree: text_projection \[1280, 64\]"):
        TextTower.read(tmp_path / "forged.pt")
    with pytest.raises(clip.CheckpointError, match="declares more values than its storage holds"):
        tensors["text_projection"].raw()


def test_a_tensor_layout_outside_its_storage_is_refused():
    storage = np.zeros(8, np.float32)
    with pytest.raises(clip.CheckpointError, match="declares more values than its storage holds"):
        StoredTensor("F32", (77, 10**7), storage, 0, (0, 0)).raw()  # a stride of 0: 3 GB from 32 bytes
    with pytest.raises(clip.CheckpointError, match="past the end of its storage"):
        StoredTensor("F32", (2, 4), storage, 4, (4, 1)).raw()
    assert StoredTensor("F32", (2, 4), storage, 0, (1, 2)).raw().shape == (2, 4)  # a transposed view is fine


@pytest.mark.parametrize("forgery", ["a dict that holds itself", "a shape of text", "a pickle of nothing"])
def test_a_malformed_pickle_gets_a_clear_error(tmp_path, forgery):
    path = tmp_path / "forged.pt"
    state = reference.random_state_dict(reference.SMALL_VIT, seed=4)
    torch.save(state, path)
    with zipfile.ZipFile(path) as archive:
        entries = {entry.filename: archive.read(entry) for entry in archive.infolist()}
    name = next(name for name in entries if name.endswith("data.pkl"))
    if forgery == "a dict that holds itself":
        looped: dict = {}
        looped["state_dict"] = looped
        entries[name] = pickle.dumps(looped, 2)
    elif forgery == "a shape of text":
        entries[name] = entries[name].replace(b"K\x80K@\x86", b"X\x01\x00\x00\x00aK@\x86", 1)
    else:
        entries[name] = pickle.dumps(None, 2)
    with zipfile.ZipFile(path, "w") as archive:
        for entry_name, data in entries.items():
            archive.writestr(entry_name, data)
    with pytest.raises(clip.CheckpointError, match="forged.pt"):
        TextTower.read(path)
    with pytest.raises(clip.CheckpointError, match="forged.pt"):
        clip.load(path, device="cpu")


def test_a_truncated_file_gets_a_clear_error(tmp_path, small_vit_state_dict):
    save_file({key: value.contiguous() for key, value in small_vit_state_dict.items()}, tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(clip.CheckpointError, match="cut.safetensors is a damaged safetensors file"):
        TextTower.read(tmp_path / "cut.safetensors")


def test_a_checkpoint_without_a_text_tower_is_refused(tmp_path, small_vit_state_dict):
    save_file({key: value.contiguous() for key, value in small_vit_state_dict.items() if key.startswith("visual.")},
              tmp_path / "vision.safetensors")
    with pytest.raises(clip.CheckpointError, match="not a CLIP text tower: missing token_embedding.weight"):
        TextTower.read(tmp_path / "vision.safetensors")
