"""Is this the same photograph? A perceptual signature to find candidates, and a check that aligns two pictures.

Both work on the grey levels of the full frame (the thumbnail), never on the semantic model, so duplicate
detection is as good with any model. The signature is the low-frequency block of a 32x32 DCT without its DC
term, as a unit vector: re-encoding, resizing and brightness barely move it, a light crop moves it a little.
Photos whose signatures are close are only candidates; `compare_many` decides, by finding the crop and scale
that map one picture onto the other and measuring what is left, region by region. A re-encoded, resized,
brightened or lightly cropped copy leaves almost nothing; a burst frame leaves the region where the subject
moved. Each photo's `Face` (what the check needs: its column and row profiles and a small grey picture, 4 KB)
is made once, when the photo is indexed, and the check runs on thousands of pairs at once in numpy.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIGNATURE_SIDE = 32  # grey picture the DCT is taken of
SIGNATURE_FREQUENCIES = 8  # lowest 8 x 8 frequencies kept, DC dropped: 63 numbers
SIGNATURE_DTYPE = np.float16

PROFILE_SAMPLES = 64  # column and row means used to find the crop
FACE_SIDE = 64  # the grey picture kept for the check (4 KB)
DETAIL_SIDE = 128  # the grey picture of a second look, made from the thumbnail when a pair is a close call
COMPARE_SIDE = 48  # the aligned overlap is resampled to this grid...
POOL = 2  # ...averaged in 2 x 2 blocks...
# A light crop (about 5% from any side) changes an axis's scale by up to ~10% and shifts it by up to ~5%; the
# search covers a little more in both.
SCALES = np.linspace(0.87, 1 / 0.87, 31)
SHIFTS = np.linspace(-0.13, 0.13, 53)
MIN_OVERLAP = 0.8  # of an axis: less than this in common is not a light crop
REGIONS = 6  # ...and compared as 6 x 6 regions of 4 x 4 of those
# Thresholds on the aligned, rank-equalised grey levels (invariant to brightness and contrast curves), set on
# 42 real photographs with 11 edits each: 97% of edited copies passed, no pair of distinct photos (861) did,
# and 13% of simulated burst frames did (the capture times in their EXIF keep those apart, see dupes.py).
NEAR_MAX_REGION_ERROR = 0.5
NEAR_MIN_CORRELATION = 0.85
BATCH = 1024  # pairs checked at a time by one thread (about 150 MB of temporaries)


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix: coefficients = D @ x."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT = _dct_matrix(SIGNATURE_SIDE)


def grey(picture: Image.Image) -> Image.Image:
    """The picture's grey levels; transparency shows as white, as in the thumbnails."""
    if picture.mode in ("RGBA", "LA", "PA", "P"):
        rgba = picture.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(backdrop, rgba)
    return picture.convert("L")


def signature(picture: Image.Image) -> np.ndarray:
    """[63] unit vector: the picture's lowest spatial frequencies, without its mean brightness."""
    pixels = np.asarray(grey(picture).resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.BOX), np.float32)
    coefficients = _DCT @ pixels @ _DCT.T  # [32, 32]
    low = coefficients[:SIGNATURE_FREQUENCIES, :SIGNATURE_FREQUENCIES].ravel()[1:]  # [63]
    norm = float(np.linalg.norm(low))
    # A flat picture has no structure to compare: it gets the zero vector, which is close to nothing.
    return (low / norm if norm > 1e-3 else np.zeros_like(low)).astype(SIGNATURE_DTYPE)


@dataclass(frozen=True)
class Face:
    """What the check needs of one picture."""

    profiles: np.ndarray  # [128] float16: the means of 64 column bands, then of 64 row bands
    levels: np.ndarray  # [64, 64] uint8: grey levels replaced by their rank (histogram-equalised)

    def to_bytes(self) -> bytes:
        return self.profiles.astype(np.float16).tobytes() + self.levels.astype(np.uint8).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Face:
        split = 2 * 2 * PROFILE_SAMPLES
        levels = np.frombuffer(data[split:], np.uint8)
        side = int(round(len(levels) ** 0.5))
        return cls(np.frombuffer(data[:split], np.float16), levels.reshape(side, side))


def face(picture: Image.Image, side: int = FACE_SIDE) -> Face:
    """The picture's face; `side` above FACE_SIDE (a multiple of it) makes a detailed one, for a second look."""
    levels = grey(picture)
    small = np.asarray(levels.resize((PROFILE_SAMPLES, PROFILE_SAMPLES), Image.BOX), np.float32)
    profiles = np.concatenate([small.mean(axis=0), small.mean(axis=1)]).astype(np.float16)
    tile = np.asarray(levels.resize((side, side), Image.BOX))
    ranks = _ranks(tile)
    return Face(profiles, np.round(ranks * (255 / max(tile.size - 1, 1))).astype(np.uint8))


@dataclass(frozen=True)
class Likeness:
    correlation: float  # of the aligned, equalised grey levels: 1 for the same picture
    region_error: float  # the worst region's mean difference, in standard deviations
    same_photograph: bool


NOT_ALIKE = Likeness(0.0, float("inf"), False)


def compare(a: Face, b: Face) -> Likeness:
    return compare_many([a], [b])[0]


def compare_many(first: list[Face], second: list[Face]) -> list[Likeness]:
    """How alike each pair of pictures is once the crop and scale between them are undone. Batches run on
    all cores: numpy lets go of the interpreter lock in its loops."""
    starts = range(0, len(first), BATCH)
    if len(starts) <= 1:
        return _compare_batch(first, second)
    with ThreadPoolExecutor(min(len(starts), os.cpu_count() or 1)) as pool:
        batches = pool.map(lambda start: _compare_batch(first[start:start + BATCH], second[start:start + BATCH]),
                           starts)
        return [likeness for batch in batches for likeness in batch]


def _compare_batch(a: list[Face], b: list[Face]) -> list[Likeness]:
    if not a:
        return []
    profiles_a = np.stack([face_.profiles for face_ in a]).astype(np.float32)  # [B, 128]
    profiles_b = np.stack([face_.profiles for face_ in b]).astype(np.float32)
    scale_x, shift_x = _align(profiles_a[:, :PROFILE_SAMPLES], profiles_b[:, :PROFILE_SAMPLES])  # [B] each
    scale_y, shift_y = _align(profiles_a[:, PROFILE_SAMPLES:], profiles_b[:, PROFILE_SAMPLES:])
    levels_a = np.stack([face_.levels for face_ in a]).astype(np.float32)  # [B, side, side]
    levels_b = np.stack([face_.levels for face_ in b]).astype(np.float32)
    correlation, worst = _check(levels_a, levels_b, scale_x, shift_x, scale_y, shift_y)
    aligned = (scale_x > 0) & (scale_y > 0)
    return [Likeness(float(corr), float(error), bool(error <= NEAR_MAX_REGION_ERROR and corr >= NEAR_MIN_CORRELATION))
            if ok else NOT_ALIKE for ok, corr, error in zip(aligned, correlation, worst, strict=True)]


def _align(profile_a: np.ndarray, profile_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, (scale, shift) with b(u) ~ a(scale * u + shift) for u in [0, 1]; scale 0 when nothing fits.

    Coarse to fine: every fifth scale and shift on profiles at half resolution, then the grid around the best
    in steps of two, then of one, at full resolution."""
    half_a = (profile_a[:, 0::2] + profile_a[:, 1::2]) / 2
    half_b = (profile_b[:, 0::2] + profile_b[:, 1::2]) / 2
    coarse = np.meshgrid(SCALES[::5], SHIFTS[::5], indexing="ij")
    scale = np.broadcast_to(coarse[0].ravel(), (len(profile_a), coarse[0].size)).astype(np.float32)  # [B, C]
    shift = np.broadcast_to(coarse[1].ravel(), scale.shape).astype(np.float32)
    scale, shift = _best_fit(half_a, half_b, scale, shift)
    for step in (2, 1):
        scale, shift = _best_fit(profile_a, profile_b, *_around(scale, shift, step))
    return scale, shift


def _around(scale: np.ndarray, shift: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """[B, 9] or [B, 25] candidates: the grid points `step` and 2 `step` apart around each pair's best."""
    offsets = np.arange(-2, 3) * step if step > 1 else np.arange(-1, 2)
    local_scale, local_shift = np.meshgrid(offsets * (SCALES[1] - SCALES[0]), offsets * (SHIFTS[1] - SHIFTS[0]),
                                           indexing="ij")
    return (np.clip(scale[:, None] + local_scale.ravel()[None], SCALES[0], SCALES[-1]).astype(np.float32),
            np.clip(shift[:, None] + local_shift.ravel()[None], SHIFTS[0], SHIFTS[-1]).astype(np.float32))


def _best_fit(profile_a: np.ndarray, profile_b: np.ndarray, scale: np.ndarray, shift: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the (scale, shift) among its candidates [B, C] whose resampled a differs least from b."""
    n = profile_a.shape[1]
    u = ((np.arange(n) + 0.5) / n).astype(np.float32)  # [n]
    positions = scale[..., None] * u + shift[..., None]  # [B, C, n]: where each of b's samples falls in a
    inside = ((positions >= 0) & (positions <= 1)).astype(np.float32)
    counts = np.maximum(inside.sum(axis=2, keepdims=True), 1)  # [B, C, 1]
    place = np.minimum(np.maximum(positions * n - 0.5, 0), n - 1.001)
    left = place.astype(np.int32)
    fraction = place - left
    flat_a = profile_a.ravel()
    left += (np.arange(len(profile_a), dtype=np.int32) * n)[:, None, None]  # into the flattened profiles
    sampled_a = flat_a[left] * (1 - fraction) + flat_a[left + 1] * fraction  # [B, C, n]

    def standard(values: np.ndarray) -> np.ndarray:
        mean = (values * inside).sum(axis=2, keepdims=True) / counts
        centred = (values - mean) * inside
        spread = np.sqrt((centred * centred).sum(axis=2, keepdims=True) / counts)
        return centred / (spread + 1e-6)

    errors = np.abs(standard(sampled_a) - standard(profile_b[:, None, :])).sum(axis=2) / counts[..., 0]  # [B, C]
    errors[counts[..., 0] < MIN_OVERLAP * n] = np.inf
    best = np.argmin(errors, axis=1)  # [B]
    pairs = np.arange(len(best))
    fits = np.isfinite(errors[pairs, best])
    return np.where(fits, scale[pairs, best], 0.0), np.where(fits, shift[pairs, best], 0.0)


def _check(levels_a: np.ndarray, levels_b: np.ndarray, scale_x: np.ndarray, shift_x: np.ndarray,
           scale_y: np.ndarray, shift_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(correlation [B], worst region error [B]) of b's overlap with a, resampled onto one grid."""
    safe_x, safe_y = np.where(scale_x > 0, scale_x, 1.0), np.where(scale_y > 0, scale_y, 1.0)
    # The part of b's frame that lies inside a's (b's unit coordinates), and where it lies in a.
    u0, u1 = np.maximum(0.0, -shift_x / safe_x), np.minimum(1.0, (1 - shift_x) / safe_x)  # [B]
    v0, v1 = np.maximum(0.0, -shift_y / safe_y), np.minimum(1.0, (1 - shift_y) / safe_y)
    # Detailed faces are sampled as many times more densely, then averaged back down: a box filter.
    density = max(1, levels_a.shape[1] // FACE_SIDE)
    grid = (np.arange(COMPARE_SIDE * density) + 0.5) / (COMPARE_SIDE * density)  # [48 x density]
    u = u0[:, None] + (u1 - u0)[:, None] * grid  # [B, 48]
    v = v0[:, None] + (v1 - v0)[:, None] * grid
    in_b = _pool(_sample(levels_b, v, u), POOL * density)  # [B, 24, 24]
    in_a = _pool(_sample(levels_a, safe_y[:, None] * v + shift_y[:, None], safe_x[:, None] * u + shift_x[:, None]),
                 POOL * density)
    flat_a = _standard(in_a.reshape(len(in_a), -1))
    flat_b = _standard(in_b.reshape(len(in_b), -1))
    correlation = np.mean(flat_a * flat_b, axis=1)
    side = COMPARE_SIDE // POOL // REGIONS
    regions = np.abs(flat_a - flat_b).reshape(-1, REGIONS, side, REGIONS, side).mean(axis=(2, 4))  # [B, 6, 6]
    return correlation, regions.reshape(len(regions), -1).max(axis=1)


def _pool(pictures: np.ndarray, size: int) -> np.ndarray:
    """[B, S, S] -> [B, S/size, S/size] block means: fine texture, which no two resamplings render alike,
    averages out; a moved subject does not."""
    count, side = pictures.shape[0], pictures.shape[1] // size
    return pictures.reshape(count, side, size, side, size).mean(axis=(2, 4))


def _sample(levels: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Bilinear samples [B, R, C] of pictures [B, S, S] at unit coordinates rows [B, R] x columns [B, C]."""
    count, side = levels.shape[0], levels.shape[1]
    y = np.minimum(np.maximum(rows * side - 0.5, 0), side - 1.001).astype(np.float32)
    x = np.minimum(np.maximum(columns * side - 0.5, 0), side - 1.001).astype(np.float32)
    y0, x0 = y.astype(np.int32), x.astype(np.int32)
    fy, fx = (y - y0)[:, :, None], (x - x0)[:, None, :]
    flat = levels.reshape(-1)
    # Indices into the flattened pictures of each sample's top-left neighbour: [B, R, C].
    corner = (np.arange(count, dtype=np.int32) * side * side)[:, None, None] + y0[:, :, None] * side + x0[:, None, :]
    top = flat[corner] * (1 - fx) + flat[corner + 1] * fx
    bottom = flat[corner + side] * (1 - fx) + flat[corner + side + 1] * fx
    return top * (1 - fy) + bottom * fy


def _ranks(levels: np.ndarray) -> np.ndarray:
    """Each pixel's rank among the picture's grey levels (ties share their mean rank): unchanged by any
    brightness or contrast curve that keeps the order of levels."""
    values, inverse, counts = np.unique(levels.ravel(), return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts  # pixels darker than each level
    mean_rank = below + (counts - 1) / 2
    return mean_rank[inverse].reshape(levels.shape).astype(np.float32)


def _standard(values: np.ndarray) -> np.ndarray:
    """Each row to mean 0 and standard deviation 1."""
    centred = values - values.mean(axis=-1, keepdims=True)
    return centred / (centred.std(axis=-1, keepdims=True) + 1e-6)
