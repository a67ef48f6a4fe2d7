"""Is this the same picture? A perceptual signature to find candidates, and a check that aligns two pictures.

Neither uses the semantic model, so duplicate detection is as good with any model. The signature is the
low-frequency block of a 32x32 DCT of the grey levels without its DC term, as a unit vector: re-encoding,
resizing and brightness barely move it, a light crop moves it a little. Photos whose signatures are close are
only candidates; `compare_many` decides whether they are one picture, which a person would lose nothing by
keeping once:

* where the content sits: the crop and scale that map one picture onto the other are found from their column
  and row profiles (without their straight-line trend), and each must show nearly all of the other (a
  reframing or a zoom is another picture);
* tone and colour: the brighter is predicted from the darker by the brightness change that fits (on red,
  green and blue, clipped at white, as editors do), and what is left is measured in grey levels and colour
  (Cb, Cr), block by block, in absolute levels: a colour or tone edit leaves tens of levels everywhere;
* how much there is to compare: at edges both pictures show, a share of their contrast is forgiven (a
  resampled edge lands a fraction of a sample away), less so the less structure the pictures have, so a
  plain sky with a small subject needs the subject itself to match.

Each photo's `Face` (its profiles, a 64x64 grey picture and a 32x32 colour one, 6 KB) is made once, when the
photo is indexed, and the check runs on thousands of pairs at once in numpy. The thresholds were set on the
hard negatives and copies of tests/near_cases.py (benchmarks/bench_near.py measures them).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIGNATURE_SIDE = 32  # grey picture the DCT is taken of
SIGNATURE_FREQUENCIES = 8  # lowest 8 x 8 frequencies kept, DC dropped: 63 numbers
SIGNATURE_DTYPE = np.float16

PROFILE_SAMPLES = 64  # column and row means used to find the crop
FACE_SIDE = 64  # the grey picture kept for the check; its colour (Cb, Cr) at half that, as JPEG keeps it
DETAIL_SIDE = 128  # the pictures of a second look, made from the thumbnail when a pair is a close call
FACE_MAGIC = b"PSF2"  # faces stored before colour was compared lack it, and are made again
COMPARE_SIDE = 48  # the aligned overlap is resampled to this grid...
BLOCK = 3  # ...and judged in blocks of 3 x 3 samples: a small subject that moved fills one
# (Thresholds: a copy's worst block is at most 1 tolerance; the hard negatives' closest sat at 1.36.)
# A light crop (about 5% from any side) changes an axis's scale by up to ~10% and shifts it by up to ~5%; the
# search covers a little more in both.
SCALES = np.linspace(0.87, 1 / 0.87, 31)
SHIFTS = np.linspace(-0.13, 0.13, 53)
MIN_OVERLAP = 0.8  # of an axis, for the alignment search
PROFILE_NOISE = 2.0  # grey levels: a profile that varies less than this is flat, not a shape to align on
ALIGN_PRIOR = 0.5  # error added per unit of scale or shift away from no crop at all
# Of each picture, along each axis, the part the other shows too: crops of up to 5% from a side (two such
# crops of one photo from opposite sides share 93%), not a reframing or a zoom.
MIN_SHARED = 0.92
NEARLY_UNCROPPED = 0.97  # a fit sharing this much of both pictures could as well be no crop at all
CLOSE_CALL = 3.0  # worst block, in tolerances: different pictures mostly land far above
# Roughly aligned pictures less alike than this are neither copies (NEAR_MIN_CORRELATION) nor frames of one
# moment (dupes.py): they are not aligned finely nor their levels looked into.
MIN_JUDGED_CORRELATION = 0.6
# Tone: one picture's levels are a brightened or darkened other's (a gain, a little offset, highlights clipped).
# Two copies of one original, one brightened by 15% and one darkened by 15%, differ by a gain of 1.35; a
# stronger change (and any change of the tone curve's shape) is an edit of tone.
GAINS = (1 / 1.36, 1.36)
TONE_EDIT_ERROR = 3.0  # the worst block error a pair edited in tone is given: beyond any slack or second look
MAX_OFFSET = 10.0  # grey levels: what a plain picture's re-encoding or a slight exposure change shifts
# What a copy's levels may differ by, per block: re-encoding and resampling leave a few levels on flat parts,
# and at edges a share of the local contrast (a resampled edge lands a fraction of a sample away).
LUMA_TOLERANCE = 8.0  # grey levels
CHROMA_TOLERANCE = 8.0  # Cb/Cr levels: a colour edit moves them by tens
EDGE_SHARE = 0.4  # of the local contrast both pictures show there
STRUCTURE_LEVELS = 8.0  # a sample differing this much from a neighbour is part of some structure
FULL_STRUCTURE = 0.3  # pictures with structure in this share of their samples get the whole EDGE_SHARE
# Correlation of the aligned grey levels: near-identical frames of one moment stay above ~0.75 (dupes.py).
NEAR_MIN_CORRELATION = 0.85
BATCH = 512  # pairs checked at a time by one thread


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix: coefficients = D @ x."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT = _dct_matrix(SIGNATURE_SIDE)


def grey(picture: Image.Image) -> Image.Image:
    """The picture's grey levels; transparency shows as white, as in the thumbnails."""
    return _on_white(picture).convert("L")


def _on_white(picture: Image.Image) -> Image.Image:
    if picture.mode in ("RGBA", "LA", "PA", "P"):
        rgba = picture.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(backdrop, rgba)
    return picture


def signature(picture: Image.Image) -> np.ndarray:
    """[63] unit vector: the picture's lowest spatial frequencies, without its mean brightness."""
    pixels = np.asarray(grey(picture).resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BOX), np.float32)
    coefficients = _DCT @ pixels @ _DCT.T  # [32, 32]
    low = coefficients[:SIGNATURE_FREQUENCIES, :SIGNATURE_FREQUENCIES].ravel()[1:]  # [63]
    norm = float(np.linalg.norm(low))
    # A flat picture has no structure to compare: it gets the zero vector, which is close to nothing.
    return (low / norm if norm > 1e-3 else np.zeros_like(low)).astype(SIGNATURE_DTYPE)


@dataclass(frozen=True)
class Face:
    """What the check needs of one picture (6 KB; a detailed one for a second look, 24 KB)."""

    profiles: np.ndarray  # [128] float16: the means of 64 column bands, then of 64 row bands (grey)
    luma: np.ndarray  # [S, S] uint8: grey levels
    chroma: np.ndarray  # [2, S/2, S/2] uint8: Cb and Cr

    def to_bytes(self) -> bytes:
        return (FACE_MAGIC + self.profiles.astype(np.float16).tobytes() + self.luma.astype(np.uint8).tobytes()
                + self.chroma.astype(np.uint8).tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Face | None:
        """The face, or None for one stored in an older format (made again from the thumbnail)."""
        if not data.startswith(FACE_MAGIC):
            return None
        data = data[len(FACE_MAGIC):]
        split = 2 * 2 * PROFILE_SAMPLES
        pixels = np.frombuffer(data[split:], np.uint8)
        side = int(round((len(pixels) * 2 / 3) ** 0.5))  # S*S luma + 2*(S/2)^2 chroma = 1.5 S^2
        return cls(np.frombuffer(data[:split], np.float16), pixels[:side * side].reshape(side, side),
                   pixels[side * side:].reshape(2, side // 2, side // 2))


def face(picture: Image.Image, side: int = FACE_SIDE) -> Face:
    """The picture's face; `side` above FACE_SIDE (a multiple of it) makes a detailed one, for a second look."""
    colour = _on_white(picture).convert("YCbCr")
    levels = colour.getchannel("Y")
    small = np.asarray(levels.resize((PROFILE_SAMPLES, PROFILE_SAMPLES), Image.Resampling.BOX), np.float32)
    profiles = np.concatenate([small.mean(axis=0), small.mean(axis=1)]).astype(np.float16)
    luma = np.asarray(levels.resize((side, side), Image.Resampling.BOX))
    chroma = np.stack([np.asarray(colour.getchannel(band).resize((side // 2, side // 2), Image.Resampling.BOX))
                       for band in ("Cb", "Cr")])
    return Face(profiles, luma, chroma)


@dataclass(frozen=True)
class Likeness:
    correlation: float  # of the aligned grey levels: 1 for the same picture
    region_error: float  # the worst block's difference, in tolerances (at most 1 for a copy)
    same_photograph: bool
    shared: float = 0.0  # the least part of either picture, along either axis, that the other shows too


NOT_ALIKE = Likeness(0.0, float("inf"), False)


def compare(a: Face, b: Face) -> Likeness:
    return compare_many([a], [b])[0]


def compare_many(first: list[Face], second: list[Face], colour: bool = True) -> list[Likeness]:
    """How alike each pair of pictures is once the crop and scale between them are undone. Without `colour`
    only the correlation of their grey levels is measured (is one a frame or an edit of the other?), at
    about half the cost. Batches run on all cores: numpy lets go of the interpreter lock in its loops."""
    starts = range(0, len(first), BATCH)
    if len(starts) <= 1:
        return _compare_batch(first, second, colour)
    with ThreadPoolExecutor(min(len(starts), os.cpu_count() or 1)) as pool:
        batches = pool.map(lambda start: _compare_batch(first[start:start + BATCH], second[start:start + BATCH],
                                                        colour), starts)
        return [likeness for batch in batches for likeness in batch]


def _compare_batch(a: list[Face], b: list[Face], colour: bool = True) -> list[Likeness]:
    if not a:
        return []
    count = len(a)
    # Columns and rows are aligned in one go: [2B, 64] profiles, the columns' first.
    profiles_a = np.stack([face_.profiles for face_ in a]).astype(np.float32).reshape(2 * count, PROFILE_SAMPLES)
    profiles_b = np.stack([face_.profiles for face_ in b]).astype(np.float32).reshape(2 * count, PROFILE_SAMPLES)
    order = np.concatenate([np.arange(0, 2 * count, 2), np.arange(1, 2 * count, 2)])
    profiles_a, profiles_b = profiles_a[order], profiles_b[order]
    scale, shift = _align(profiles_a, profiles_b, sparse=not colour)  # [2B] each: roughly
    correlation, worst, shared = _check(a, b, scale[:count], shift[:count], scale[count:], shift[count:], False)
    if colour:
        # Pictures alike enough to be copies or frames are aligned finely and judged on their levels.
        judged = np.flatnonzero(correlation >= MIN_JUDGED_CORRELATION)
        both = np.concatenate([judged, judged + count])
        scale[both], shift[both] = _refine(profiles_a[both], profiles_b[both], scale[both], shift[both])
        if len(judged):
            found = _check([a[i] for i in judged], [b[i] for i in judged], scale[judged], shift[judged],
                           scale[judged + count], shift[judged + count])
            for values, judged_values in zip((correlation, worst, shared), found, strict=True):
                values[judged] = judged_values
    # The profiles' best fit is off by a little where a brightening clipped a bright sky, or the picture has
    # little to align on; a pair whose fit was close to no crop at all, and failed, is checked uncropped too.
    again = np.flatnonzero((worst > 1.0) & (worst < CLOSE_CALL) & (shared > NEARLY_UNCROPPED))
    if len(again):
        ones, zeros = np.ones(len(again), np.float32), np.zeros(len(again), np.float32)
        second = _check([a[i] for i in again], [b[i] for i in again], ones, zeros, ones, zeros)
        better = second[1] < worst[again]
        for values, redone in zip((correlation, worst, shared), second, strict=True):
            values[again[better]] = redone[better]
    aligned = (scale[:count] > 0) & (scale[count:] > 0)  # both axes found a fit
    return [Likeness(float(corr), float(error), bool(error <= 1.0 and corr >= NEAR_MIN_CORRELATION
                                                      and share >= MIN_SHARED), float(share))
            if ok else NOT_ALIKE for ok, corr, error, share in zip(aligned, correlation, worst, shared, strict=True)]


def _align(profile_a: np.ndarray, profile_b: np.ndarray, sparse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, roughly, (scale, shift) with b(u) ~ a(scale * u + shift) for u in [0, 1]; scale 0 when
    nothing fits: the coarse candidates (`sparse`: fewer), then the grid around the best in steps of two, on
    profiles at half resolution. Enough to tell how alike two pictures are; `_refine` tells whether they are
    one."""
    half_a = (profile_a[:, 0::2] + profile_a[:, 1::2]) / 2
    half_b = (profile_b[:, 0::2] + profile_b[:, 1::2]) / 2
    scale, shift = _best_fit(half_a, half_b, *(np.broadcast_to(grid, (len(profile_a), grid.size))
                                               for grid in (_SPARSE if sparse else _COARSE)))
    return _best_fit(half_a, half_b, *_around(scale, shift, 2))


def _refine(profile_a: np.ndarray, profile_b: np.ndarray, scale: np.ndarray, shift: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """The rough alignment made fine: the grid around it in steps of two, of one and of a half, at full
    resolution (a fit that found nothing stays so)."""
    if not len(scale):
        return scale, shift
    fitted = scale > 0
    for step in (2, 1, 0.5):
        scale, shift = _best_fit(profile_a, profile_b, *_around(np.where(fitted, scale, 1.0), shift, step))
    return np.where(fitted, scale, 0.0), np.where(fitted, shift, 0.0)


# The first, rough candidates: every fifth scale and shift; for a correlation only, fewer (no crop at all among
# them, and spaced so that the next step's window, two grid steps either side of the best, reaches between).
_COARSE = tuple(grid.ravel().astype(np.float32) for grid in np.meshgrid(SCALES[::5], SHIFTS[::5], indexing="ij"))
_SPARSE = tuple(grid.ravel().astype(np.float32) for grid in np.meshgrid(
    np.linspace(0.89, 1.11, 5), np.linspace(-0.12, 0.12, 7), indexing="ij"))


def _around(scale: np.ndarray, shift: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """[B, 9] or [B, 25] candidates: the grid points `step` and 2 `step` apart around each pair's best (one
    `step` apart for the finer steps; half a step refines between the grid's points)."""
    local_scale, local_shift = _LOCAL[step]
    return (np.clip(scale[:, None] + local_scale[None], SCALES[0], SCALES[-1]).astype(np.float32),
            np.clip(shift[:, None] + local_shift[None], SHIFTS[0], SHIFTS[-1]).astype(np.float32))


_LOCAL = {step: tuple(grid.ravel() for grid in np.meshgrid(offsets * (SCALES[1] - SCALES[0]),
                                                           offsets * (SHIFTS[1] - SHIFTS[0]), indexing="ij"))
          for step, offsets in ((2, np.arange(-2, 3) * 2.0), (1, np.arange(-1, 2) * 1.0),
                                (0.5, np.arange(-1, 2) * 0.5))}


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

    # Profiles are compared without their straight-line trend: a crop of a graded sky is a graded sky, and
    # only what sits on the gradient (a subject, a horizon) says where the crop is.
    along = (u - u.mean())[None, None, :] * inside  # [B, C, n]
    along_mean = along.sum(axis=2, keepdims=True) / counts
    along = (along - along_mean) * inside
    along_square = np.maximum((along * along).sum(axis=2, keepdims=True), 1e-6)

    def standard(values: np.ndarray) -> np.ndarray:
        mean = (values * inside).sum(axis=2, keepdims=True) / counts
        centred = (values - mean) * inside
        centred -= along * ((centred * along).sum(axis=2, keepdims=True) / along_square)
        spread = np.sqrt((centred * centred).sum(axis=2, keepdims=True) / counts)
        return centred / (spread + PROFILE_NOISE)

    errors = np.abs(standard(sampled_a) - standard(profile_b[:, None, :])).sum(axis=2) / counts[..., 0]  # [B, C]
    # Where the profile is flat (a plain sky) every crop fits as well as any: the one closest to no crop wins.
    errors += ALIGN_PRIOR * (np.abs(scale - 1) + np.abs(shift))
    errors[counts[..., 0] < MIN_OVERLAP * n] = np.inf
    best = np.argmin(errors, axis=1)  # [B]
    pairs = np.arange(len(best))
    fits = np.isfinite(errors[pairs, best])
    return np.where(fits, scale[pairs, best], 0.0), np.where(fits, shift[pairs, best], 0.0)


def _check(a: list[Face], b: list[Face], scale_x: np.ndarray, shift_x: np.ndarray, scale_y: np.ndarray,
           shift_y: np.ndarray, colour: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correlation [B], worst block error in tolerances [B], shared part [B]) of b's overlap with a, both
    resampled onto one grid, the darker's levels mapped onto the brighter's by the brightness change that fits
    best. Grey levels first; colour only for the pairs whose grey levels leave it a close call (without
    `colour`, never: the grey levels alone, for a correlation)."""
    safe_x, safe_y = np.where(scale_x > 0, scale_x, 1.0), np.where(scale_y > 0, scale_y, 1.0)
    # The part of b's frame that lies inside a's (b's unit coordinates), and where it lies in a.
    u0, u1 = np.maximum(0.0, -shift_x / safe_x), np.minimum(1.0, (1 - shift_x) / safe_x)  # [B]
    v0, v1 = np.maximum(0.0, -shift_y / safe_y), np.minimum(1.0, (1 - shift_y) / safe_y)
    shared = np.minimum.reduce([u1 - u0, v1 - v0, safe_x * (u1 - u0), safe_y * (v1 - v0)])  # [B]
    # Detailed faces are sampled as many times more densely, then averaged back down: a box filter.
    density = max(1, a[0].luma.shape[0] // FACE_SIDE)
    grid = (np.arange(COMPARE_SIDE * density) + 0.5) / (COMPARE_SIDE * density)  # [48 x density]
    u = u0[:, None] + (u1 - u0)[:, None] * grid  # [B, 48 x density]
    v = v0[:, None] + (v1 - v0)[:, None] * grid
    at_b, at_a = (v, u), (safe_y[:, None] * v + shift_y[:, None], safe_x[:, None] * u + shift_x[:, None])

    def sampled(pictures: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        return _sample(pictures.astype(np.float32), rows, columns, density)  # [B, 48, 48]

    luma_a = sampled(np.stack([face_.luma for face_ in a]), *at_a)
    luma_b = sampled(np.stack([face_.luma for face_ in b]), *at_b)
    correlation = np.mean(_standard(luma_a.reshape(len(a), -1)) * _standard(luma_b.reshape(len(b), -1)), axis=1)
    worst = _level_errors(a, b, luma_a, luma_b, at_a, at_b, sampled) if colour else np.full(len(a), np.inf)
    return correlation, worst, shared


def _level_errors(a: list[Face], b: list[Face], luma_a: np.ndarray, luma_b: np.ndarray,
                  at_a: tuple[np.ndarray, np.ndarray], at_b: tuple[np.ndarray, np.ndarray],
                  sampled: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """[B] the worst block's error in tolerances, of aligned pictures sampled at `at_a` and `at_b` (rows,
    columns), their grey levels `luma_a`, `luma_b` [B, 48, 48] already sampled."""
    # The brighter of the two is predicted from the darker: brightening clips at white, which cannot be undone.
    brighter_a = luma_a.mean(axis=(1, 2)) > luma_b.mean(axis=(1, 2))  # [B]
    dark = np.where(brighter_a[:, None, None], luma_b, luma_a)
    bright = np.where(brighter_a[:, None, None], luma_a, luma_b)
    gain, offset = _tone(dark, bright)  # [B] each
    # A stronger brightness change than copies show is an edit of tone, however well the levels then match.
    tone_edit = (gain < GAINS[0]) | (gain > GAINS[1])
    gain = np.clip(gain, *GAINS)
    # Where both pictures have an edge, resampling moves it by a fraction of a sample: a share of the
    # contrast both show there is allowed. An edge only one of them has (a subject that moved) is not.
    contrast_dark, contrast_bright = _contrast(dark), _contrast(bright)  # [B, 48, 48] each
    luma_edges = np.minimum(contrast_dark, contrast_bright)
    # A near-blank picture needs stronger evidence: the less of it has any structure, the less its edges are
    # forgiven (a small subject that moved or grew is all there is to tell two such pictures apart).
    structure = np.minimum((contrast_dark > STRUCTURE_LEVELS).mean(axis=(1, 2)),
                           (contrast_bright > STRUCTURE_LEVELS).mean(axis=(1, 2)))  # [B]
    forgiven = (EDGE_SHARE * np.minimum(1.0, structure / FULL_STRUCTURE))[:, None, None]
    luma_tolerance = LUMA_TOLERANCE + forgiven * luma_edges
    grey_error = np.abs(np.clip(gain[:, None, None] * dark + offset[:, None, None], 0, 255) - bright)
    worst = _blocks(grey_error / luma_tolerance).reshape(len(a), -1).max(axis=1)
    close = np.flatnonzero(worst <= CLOSE_CALL)  # the others differ in grey levels alone, whatever the colour
    if len(close):
        def ycbcr(faces: list[Face], rows: np.ndarray, columns: np.ndarray, luma: np.ndarray) -> np.ndarray:
            """[C, 3, 48, 48] Y, Cb, Cr of the close calls."""
            chroma = np.stack([faces[i].chroma for i in close])  # [C, 2, S/2, S/2]
            return np.stack([luma[close], sampled(chroma[:, 0], rows[close], columns[close]),
                             sampled(chroma[:, 1], rows[close], columns[close])], axis=1)  # [C, 3, 48, 48]

        colour_a, colour_b = ycbcr(a, *at_a, luma_a), ycbcr(b, *at_b, luma_b)
        swap = brighter_a[close][:, None, None, None]
        darker, brighter = np.where(swap, colour_b, colour_a), np.where(swap, colour_a, colour_b)
        error = np.abs(_brightened(darker, gain[close], offset[close]) - brighter)  # [C, 3, 48, 48]
        colour_edges = np.minimum(_contrast(np.hypot(darker[:, 1] - 128, darker[:, 2] - 128)),
                                  _contrast(np.hypot(brighter[:, 1] - 128, brighter[:, 2] - 128)))
        colour_tolerance = CHROMA_TOLERANCE + forgiven[close] * np.maximum(colour_edges, luma_edges[close] / 4)
        worst[close] = np.maximum(_blocks(error[:, 0] / luma_tolerance[close]),
                                  _blocks(np.hypot(error[:, 1], error[:, 2]) / colour_tolerance)
                                  ).reshape(len(close), -1).max(axis=1)
    # Refused, but measured: a strong brightening may still be one picture's version (similar), and a pair
    # whose error is infinite is never given a second look.
    return np.where(tone_edit, np.maximum(worst, TONE_EDIT_ERROR), worst)


def _tone(dark: np.ndarray, bright: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the brightness change (gain, offset within MAX_OFFSET) that maps the darker picture's grey
    levels [B, H, W] onto the brighter's best. Bright levels, which may have been clipped, are left out of
    the fit; a picture with too little spread to fit a gain on (a plain sky) gets the ratio of the means."""
    flat_dark, flat_bright = dark.reshape(len(dark), -1), bright.reshape(len(bright), -1)  # [B, N]
    unclipped = ((flat_dark < FIT_BELOW) & (flat_bright < FIT_BELOW)).astype(np.float32)
    count = np.maximum(unclipped.sum(axis=1), 1)
    mean_dark = (flat_dark * unclipped).sum(axis=1) / count
    mean_bright = (flat_bright * unclipped).sum(axis=1) / count
    centred = (flat_dark - mean_dark[:, None]) * unclipped
    variance = (centred * centred).sum(axis=1)
    covariance = (centred * (flat_bright - mean_bright[:, None])).sum(axis=1)
    ratio = np.where(mean_dark > 1, mean_bright / np.maximum(mean_dark, 1), 1.0)
    gain = np.where(variance > count * 25, covariance / np.maximum(variance, 1e-3), ratio)
    offset = np.clip(mean_bright - np.clip(gain, *GAINS) * mean_dark, -MAX_OFFSET, MAX_OFFSET)
    return gain, offset


def _brightened(pictures: np.ndarray, gain: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """[B, 3, H, W] Y, Cb, Cr after the brightness change (gain, offset [B]), made as an editor makes it: on
    red, green and blue, each clipped at white (a brightened sky loses its blue where it reaches white)."""
    rgb = np.einsum("ij,bjhw->bihw", _TO_RGB, pictures - _CENTRE)  # [B, 3, H, W]
    rgb = np.clip(gain[:, None, None, None] * rgb + offset[:, None, None, None], 0, 255)
    return np.einsum("ij,bjhw->bihw", _TO_YCBCR, rgb) + _CENTRE


# JPEG's YCbCr (ITU-R BT.601, full range), as Pillow converts.
_TO_RGB = np.array([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]], np.float32)
_TO_YCBCR = np.linalg.inv(_TO_RGB).astype(np.float32)
_CENTRE = np.array([0, 128, 128], np.float32)[None, :, None, None]
FIT_BELOW = 235  # grey levels brighter than this may have been clipped by a brightening


def _contrast(pictures: np.ndarray) -> np.ndarray:
    """[B, H, W] each sample's largest difference to a neighbour (8-connected, edges repeated): the larger of
    its rise to the 3 x 3 maximum and its fall to the 3 x 3 minimum, both found one axis at a time."""
    def extreme(values: np.ndarray, pick) -> np.ndarray:
        rows = np.pad(values, ((0, 0), (1, 1), (0, 0)), mode="edge")
        values = pick(pick(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
        columns = np.pad(values, ((0, 0), (0, 0), (1, 1)), mode="edge")
        return pick(pick(columns[:, :, :-2], columns[:, :, 1:-1]), columns[:, :, 2:])

    return np.maximum(extreme(pictures, np.maximum) - pictures, pictures - extreme(pictures, np.minimum))


def _blocks(values: np.ndarray) -> np.ndarray:
    """[B, H, W] -> [B, H/BLOCK, W/BLOCK] block means."""
    return _pool(values, BLOCK)


def _pool(values: np.ndarray, size: int) -> np.ndarray:
    """[B, S, S] -> [B, S/size, S/size] block means."""
    if size == 1:
        return values
    count, side = values.shape[0], values.shape[1] // size
    return values.reshape(count, side, size, side, size).mean(axis=(2, 4))


def _sample(levels: np.ndarray, rows: np.ndarray, columns: np.ndarray, density: int = 1) -> np.ndarray:
    """Bilinear samples [B, R, C] of pictures [B, S, S] at unit coordinates rows [B, R x density] x columns
    [B, C x density], each `density` x `density` block of samples averaged (a box filter). Sampling a grid is
    separable: two batched matrix products with each axis's interpolation weights."""
    side = levels.shape[1]
    return _weights(rows, side, density) @ levels @ _weights(columns, side, density).transpose(0, 2, 1)


def _weights(positions: np.ndarray, side: int, density: int) -> np.ndarray:
    """[B, N / density, S]: for each sample position [B, N] (unit coordinates) the weights of the two pixels
    it lies between, averaged over each run of `density` positions."""
    place = np.minimum(np.maximum(positions * side - 0.5, 0), side - 1.001).astype(np.float32)
    left = place.astype(np.int64)[..., None]  # [B, N, 1]
    fraction = (place - left[..., 0])[..., None]
    weights = np.zeros((*positions.shape, side), np.float32)
    np.put_along_axis(weights, left, 1 - fraction, axis=2)
    np.put_along_axis(weights, left + 1, fraction, axis=2)
    if density > 1:
        weights = weights.reshape(len(weights), -1, density, side).mean(axis=2)
    return weights


def _standard(values: np.ndarray) -> np.ndarray:
    """Each row to mean 0 and standard deviation 1."""
    centred = values - values.mean(axis=-1, keepdims=True)
    return centred / (centred.std(axis=-1, keepdims=True) + 1e-6)
