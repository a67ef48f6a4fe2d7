"""Reading one photo: a content fingerprint, then one decode that yields both the model's input and the thumbnail.

JPEGs are decoded at a reduced DCT scale ("draft") just above what the model and the thumbnail need, which
skips most of the decoding work of a multi-megapixel photo. EXIF orientation is applied before anything is cut
from the picture. Every way a file can be unreadable becomes a `PhotoError` with a short reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from ..clip.preprocess import normalize, resize_and_crop
from .errors import PhotoError
from .likeness import Face, face, signature

pillow_heif.register_heif_opener()

# Larger than any camera (200 MP phones included), far below what would exhaust memory when decoded.
MAX_PIXELS = 250_000_000
THUMBNAIL_SIZE = 256  # longest side, pixels: a grid cell on a high-density screen
# JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose short side is at least this many times the
# model's resolution. At 1x, detailed photos came out 27 dB from the exact path (the DCT's box averaging then
# a short bicubic step is not the reference's long antialiased bicubic); at 3x the worst of 57 large photos
# was 50 dB (benchmarks/bench_index.py).
DRAFT_FACTOR = 3
THUMBNAIL_QUALITY = 85
FINGERPRINT_SPAN = 64 * 1024  # bytes read from each end of the file
EXIF_IFD, DATE_TIME_ORIGINAL, DATE_TIME, ORIENTATION = 0x8769, 0x9003, 0x0132, 0x0112
QUARTER_TURNS = {5, 6, 7, 8}  # EXIF orientations that swap width and height

# Our own limit is checked from the header before any decoding; Pillow's own check would only warn below 2x.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def fingerprint(path: str | os.PathLike, size: int) -> str:
    """A content key that survives renames and moves: the size and the first and last 64 KiB.

    Reading the ends rather than the whole file keeps scanning a large library I/O-light; any edit that keeps
    the size and both ends (nothing a photo editor does) would go unnoticed, and the mtime catches those.
    """
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    try:
        with open(path, "rb") as file:
            digest.update(file.read(FINGERPRINT_SPAN))
            if size > 2 * FINGERPRINT_SPAN:
                file.seek(-FINGERPRINT_SPAN, os.SEEK_END)
                digest.update(file.read(FINGERPRINT_SPAN))
            elif size > FINGERPRINT_SPAN:
                digest.update(file.read())
    except OSError as error:
        raise PhotoError(_os_reason(error)) from error
    return digest.hexdigest()


@dataclass
class Decoded:
    pixels: np.ndarray  # [3, R, R] float32, normalised for CLIP
    thumbnail: bytes  # JPEG
    width: int  # as displayed, after EXIF orientation
    height: int
    taken: float  # capture time (EXIF) as a timestamp, else the file's mtime
    signature: np.ndarray  # [63] perceptual signature of the full frame (duplicates)
    face: Face  # what the duplicate check compares


def decode(path: str | os.PathLike, resolution: int, mtime: float) -> Decoded:
    """Read the photo once: the model's [3, R, R] input, a thumbnail, its size and capture time."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own warnings (EXIF quirks) are not the user's problem
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise PhotoError(f"too large to decode safely ({width} x {height} pixels)")
                exif = _exif(image)
                if exif.get(ORIENTATION) in QUARTER_TURNS:
                    width, height = height, width
                taken = _capture_time(exif) or mtime
                wanted = max(DRAFT_FACTOR * resolution, THUMBNAIL_SIZE)
                if image.format == "JPEG":
                    image.draft("RGB", (wanted, wanted))  # DCT scaling: short side stays >= wanted
                picture = ImageOps.exif_transpose(image)
                picture.load()
    except PhotoError:
        raise
    except Image.DecompressionBombError as error:
        raise PhotoError("too large to decode safely") from error
    except UnidentifiedImageError as error:
        raise PhotoError("not an image, or a kind photosort cannot read") from error
    except OSError as error:
        raise PhotoError(_os_reason(error)) from error
    except (ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError) as error:
        raise PhotoError(f"damaged image ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
                         ) from error
    if picture.width == 0 or picture.height == 0:
        raise PhotoError("image has no pixels")
    pixels = normalize(np.asarray(resize_and_crop(picture, resolution).convert("RGB")))  # [3, R, R]
    small = picture.copy()
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))  # Pillow's default: a box reduction, then bicubic
    return Decoded(pixels, _thumbnail(small), width, height, taken, signature(small), face(small))


def _thumbnail(small: Image.Image) -> bytes:
    if small.mode in ("RGBA", "LA", "P", "PA"):
        # Transparency shows as white, as in a file browser, rather than as black.
        small = small.convert("RGBA")
        backdrop = Image.new("RGB", small.size, (255, 255, 255))
        backdrop.paste(small, mask=small.getchannel("A"))
        small = backdrop
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


def _exif(image: Image.Image) -> Image.Exif:
    try:
        return image.getexif()
    except Exception:  # malformed EXIF: the picture itself may be fine
        return Image.Exif()


def _capture_time(exif: Image.Exif) -> float | None:
    try:
        text = exif.get_ifd(EXIF_IFD).get(DATE_TIME_ORIGINAL) or exif.get(DATE_TIME)
        if not text:
            return None
        return datetime.strptime(str(text).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").timestamp()
    except Exception:  # EXIF in the wild is often malformed; the mtime is the fallback, not an error
        return None


def _os_reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "the file vanished before it could be read"
    if isinstance(error, PermissionError):
        return "permission denied"
    message = str(error)
    if "truncated" in message or "broken data stream" in message or "premature end" in message.lower():
        return "truncated or damaged image"
    return (error.strerror or message or type(error).__name__).splitlines()[0]


def thumbnail_path(thumbnails: Path, fingerprint_: str) -> Path:
    return thumbnails / fingerprint_[:2] / f"{fingerprint_}.jpg"
