"""CLIP's image preprocessing with Pillow and numpy, equal to the torchvision pipeline openai/CLIP uses.

Resize the short side with bicubic resampling, centre-crop a square, convert to RGB (after resizing, so
palette and 1-bit images resample as Pillow does for their own mode), scale to [0, 1] and normalise with
CLIP's statistics. EXIF orientation is not applied here: the photo pipeline does that before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

# Per-channel statistics of CLIP's training images (RGB).
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
MAX_PIXEL = np.float32(255.0)


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """The size that brings the short side to `short_side`, the long side scaled and truncated as torchvision does."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def resize_and_crop(image: Image.Image, resolution: int) -> Image.Image:
    """Bicubic resize of the short side to `resolution`, then the central `resolution` square, in the image's mode."""
    width, height = image.size
    new_size = resized_size(width, height, resolution)
    if new_size != image.size:
        image = image.resize(new_size, Image.Resampling.BICUBIC)
    width, height = image.size
    top = int(round((height - resolution) / 2.0))
    left = int(round((width - resolution) / 2.0))
    return image.crop((left, top, left + resolution, top + resolution))


def normalize(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 -> [3, H, W] float32 normalised with CLIP's mean and std."""
    pixels = rgb.astype(np.float32) / MAX_PIXEL  # [H, W, 3] in [0, 1]
    pixels = (pixels - MEAN) / STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))  # [3, H, W]


class Preprocess:
    """Callable PIL image -> [3, resolution, resolution] float32 tensor, for one model's input resolution."""

    def __init__(self, resolution: int):
        self.resolution = resolution

    def __call__(self, image: Image.Image) -> torch.Tensor:
        import torch  # here, not at the top: the arithmetic above serves torch-free callers too

        square = resize_and_crop(image, self.resolution)
        rgb = np.asarray(square.convert("RGB"))  # [resolution, resolution, 3] uint8
        return torch.from_numpy(normalize(rgb))

    def __repr__(self) -> str:
        return f"Preprocess(resolution={self.resolution})"
