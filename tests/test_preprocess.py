"""Preprocessing against the torchvision pipeline openai/CLIP uses.

PyPI's torchvision cannot be imported beside the CPU torch build used here, so `torchvision_reference`
restates, step for step, what torchvision's transforms do to a PIL image: Resize(n, BICUBIC) computes the
output size with `_compute_resized_output_size` and calls `PIL.Image.resize`; CenterCrop crops at
`int(round((h - n) / 2.0))`; ToTensor divides the uint8 tensor by 255 in float32; Normalize subtracts and
divides with float32 tensors.
"""

import numpy as np
import pytest
import torch
from PIL import Image

import photosort.clip as clip

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def torchvision_reference(image: Image.Image, size: int) -> torch.Tensor:
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_width, new_height = (new_short, new_long) if width <= height else (new_long, new_short)
    image = image.resize((new_width, new_height), Image.BICUBIC)
    top = int(round((new_height - size) / 2.0))
    left = int(round((new_width - size) / 2.0))
    image = image.crop((left, top, left + size, top + size)).convert("RGB")
    tensor = torch.from_numpy(np.array(image, np.uint8, copy=True)).view(size, size, 3)
    tensor = tensor.permute(2, 0, 1).contiguous().float().div(255)
    mean = torch.as_tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(STD, dtype=torch.float32)[:, None, None]
    return tensor.sub(mean).div(std)


def _photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Smooth gradients plus noise: detail at every scale, like a photo, so resampling differences show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


IMAGES = {
    "rgb-landscape": lambda: _photo_like(640, 427, 0),
    "rgb-portrait": lambda: _photo_like(300, 533, 1),
    "rgb-square": lambda: _photo_like(250, 250, 2),
    "rgb-small-upscaled": lambda: _photo_like(90, 61, 3),
    "rgb-odd-sizes": lambda: _photo_like(401, 229, 4),
    "rgba": lambda: _with_alpha(_photo_like(320, 480, 5)),
    "greyscale-L": lambda: _photo_like(500, 331, 6).convert("L"),
    "palette-P": lambda: _photo_like(333, 500, 7).convert("P", palette=Image.ADAPTIVE, colors=64),
    "one-bit": lambda: _photo_like(300, 200, 8).convert("1"),
}


def _with_alpha(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, rgba.width, dtype=np.uint8), (rgba.height, 1))
    rgba.putalpha(Image.fromarray(alpha, "L"))
    return rgba


@pytest.mark.parametrize("resolution", [224, 256, 336])
@pytest.mark.parametrize("name", list(IMAGES))
def test_matches_torchvision_pipeline(name, resolution):
    image = IMAGES[name]()
    actual = clip.Preprocess(resolution)(image)
    expected = torchvision_reference(image, resolution)
    assert actual.shape == (3, resolution, resolution) and actual.dtype == torch.float32
    assert float((actual - expected).abs().max()) < 1e-5


def test_resize_comes_before_rgb_conversion():
    """A palette image resampled in its own mode differs from one converted first: the reference resizes first."""
    image = IMAGES["palette-P"]()
    converted_first = torchvision_reference(image.convert("RGB"), 224)
    assert float((clip.Preprocess(224)(image) - converted_first).abs().max()) > 1e-2


def test_resolution_follows_the_model(small_vit_file):
    model, preprocess = clip.load(small_vit_file, device="cpu")
    assert preprocess.resolution == model.input_resolution == 64
    assert preprocess(_photo_like(100, 80, 9)).shape == (3, 64, 64)
