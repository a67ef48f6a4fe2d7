"""`build_model` reads every published architecture off its state dict's shapes."""

import pytest
import torch

import photosort.clip as clip
from photosort.clip import CLIP
from photosort.clip.build import convert_to_half
from photosort.clip.model import LayerNorm
from tests import reference

TEXT_512 = dict(context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=12)
TEXT_640 = dict(TEXT_512, transformer_width=640, transformer_heads=10)
TEXT_768 = dict(TEXT_512, transformer_width=768, transformer_heads=12)
TEXT_1024 = dict(TEXT_512, transformer_width=1024, transformer_heads=16)

# Hyper-parameters of the published checkpoints, as openai/CLIP's constructor takes them.
PUBLISHED = {
    "RN50": dict(embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64,
                 vision_patch_size=None, **TEXT_512),
    "RN101": dict(embed_dim=512, image_resolution=224, vision_layers=(3, 4, 23, 3), vision_width=64,
                  vision_patch_size=None, **TEXT_512),
    "RN50x4": dict(embed_dim=640, image_resolution=288, vision_layers=(4, 6, 10, 6), vision_width=80,
                   vision_patch_size=None, **TEXT_640),
    "RN50x16": dict(embed_dim=768, image_resolution=384, vision_layers=(6, 8, 18, 8), vision_width=96,
                    vision_patch_size=None, **TEXT_768),
    "RN50x64": dict(embed_dim=1024, image_resolution=448, vision_layers=(3, 15, 36, 10), vision_width=128,
                    vision_patch_size=None, **TEXT_1024),
    "ViT-B/32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                     vision_patch_size=32, **TEXT_512),
    "ViT-B/16": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                     vision_patch_size=16, **TEXT_512),
    "ViT-L/14": dict(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024,
                     vision_patch_size=14, **TEXT_768),
    "ViT-L/14@336px": dict(embed_dim=768, image_resolution=336, vision_layers=24, vision_width=1024,
                           vision_patch_size=14, **TEXT_768),
    "ViT-B-32-256/datacomp_s34b_b86k": dict(embed_dim=512, image_resolution=256, vision_layers=12,
                                            vision_width=768, vision_patch_size=32, **TEXT_512),
}


def _meta_state_dict(shape: dict) -> dict[str, torch.Tensor]:
    """The reference model's state dict with shapes only (meta tensors): no memory, no initialisation cost."""
    with torch.device("meta"):
        model = reference.model_module().CLIP(**shape)
    return dict(model.state_dict())


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_architecture_is_inferred(name):
    shape = PUBLISHED[name]
    state_dict = _meta_state_dict(shape)
    if name.startswith(("RN", "ViT-B/", "ViT-L/")):  # OpenAI's files carry these entries beside the weights
        state_dict.update(input_resolution=torch.tensor(shape["image_resolution"]),
                          context_length=torch.tensor(77), vocab_size=torch.tensor(49408))
    config = clip.infer_config(state_dict)
    assert config.embed_dim == shape["embed_dim"]
    assert config.vision.resolution == shape["image_resolution"]
    assert config.vision.layers == shape["vision_layers"]
    assert config.vision.width == shape["vision_width"]
    assert config.vision.patch_size == shape["vision_patch_size"]
    assert config.text.width == shape["transformer_width"]
    assert config.text.heads == shape["transformer_heads"]
    assert config.text.layers == shape["transformer_layers"]
    expected_vision_heads = (shape["vision_width"] // 64 if shape["vision_patch_size"]
                             else shape["vision_width"] * 32 // 64)
    assert config.vision.heads == expected_vision_heads

    model = clip.build_model(state_dict)  # strict: every key present, none left over, every shape right
    ours = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    theirs = {key: tuple(value.shape) for key, value in state_dict.items()
              if key not in ("input_resolution", "context_length", "vocab_size")}
    assert ours == theirs


def test_every_published_name_is_available():
    assert set(PUBLISHED) <= set(clip.available_models())
    assert {"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16", "ViT-L/14",
            "ViT-L/14@336px"} <= set(clip.available_models())


def test_state_dict_with_a_wrong_shape_is_refused(small_vit_state_dict):
    broken = dict(small_vit_state_dict)
    broken["visual.ln_post.weight"] = torch.ones(7)
    with pytest.raises(clip.CheckpointError, match="does not fit"):
        clip.build_model(broken)


def test_state_dict_with_missing_keys_names_them(small_vit_state_dict):
    broken = {key: value for key, value in small_vit_state_dict.items() if key != "text_projection"}
    with pytest.raises(clip.CheckpointError, match="text_projection"):
        clip.build_model(broken)


def test_half_conversion_follows_openai(small_vit_state_dict):
    model = convert_to_half(clip.build_model(small_vit_state_dict))
    assert model.visual.conv1.weight.dtype == torch.float16
    assert model.visual.proj.dtype == torch.float16
    assert model.text_projection.dtype == torch.float16
    block = model.transformer.resblocks[0]
    assert block.attn.in_proj_weight.dtype == block.attn.in_proj_bias.dtype == torch.float16
    assert block.attn.out_proj.weight.dtype == block.mlp.c_fc.weight.dtype == torch.float16
    assert model.token_embedding.weight.dtype == model.positional_embedding.dtype == torch.float32
    assert model.visual.class_embedding.dtype == model.logit_scale.dtype == torch.float32
    assert all(module.weight.dtype == torch.float32 for module in model.modules() if isinstance(module, LayerNorm))


def test_a_new_model_is_initialised_as_clip_trains_from_scratch():
    config = clip.infer_config(clip.build_model(reference.random_state_dict(reference.SMALL_VIT)).state_dict())
    torch.manual_seed(0)
    model = CLIP(config).eval()
    assert abs(float(model.logit_scale.detach().exp()) - 1 / 0.07) < 1e-3
    with torch.no_grad():
        features = model(torch.randn(2, 3, 64, 64), clip.tokenize(["a cat", "a dog"]))[0]
    assert torch.isfinite(features).all()
    in_proj = model.transformer.resblocks[0].attn.in_proj_weight.detach()
    assert float(in_proj.std()) == pytest.approx(128 ** -0.5, rel=0.05)
