"""Reading one photo: a content fingerprint, then one decode that yields both the model's input and the thumbnail.

JPEGs are decoded at a reduced DCT scale ("draft") just above what the model and the thumbnail need, which
skips most of the decoding work of a multi-megapixel photo; other formats are averaged down to that size as
soon as they are loaded. Each decode first reserves the memory it will take (`decode_memory`). EXIF orientation
is applied before anything is cut from the picture; the capture facts (`exif`) come from the same read of the
EXIF. Every way a file can be unreadable becomes a `PhotoError` with a short reason.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageFile, ImageMode, ImageOps, UnidentifiedImageError

from ..clip.preprocess import normalize, resize_and_crop
from . import decode_memory, exif
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
FINGERPRINT_CHUNK = 1 << 20  # bytes hashed at a time
FINGERPRINT_HEX = 32  # 128 bits of the hash: no two photos of any library share one
QUARTER_TURNS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
TRANSPOSITIONS = {  # EXIF orientation -> what shows the photo upright, as ImageOps.exif_transpose has it
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
MAX_BYTES_PER_PIXEL = 4  # Pillow keeps every mode of several 8-bit bands (RGB included) in 4 bytes a pixel
# Formats whose decoder fills buffers of its own, then copies them into Pillow's: how many full-size pictures
# loading one holds at its peak (measured on 8000 x 8000 photos: WebP 4.0x the picture, AVIF 2.3x, HEIF 1.8x,
# the others 1.0x).
DECODER_COPIES = {"WEBP": 4, "AVIF": 3, "HEIF": 2}
# Pictures that cannot be averaged as they are (palette, 1-bit, 16-bit, or with alpha: Pillow premultiplies a
# copy) are converted this many bytes at a time: small beside the picture, large enough to cost nothing.
REDUCE_STRIP_BYTES = 16 * 2**20
STRIP_COPIES = 3  # a strip is held cut out, converted, and premultiplied while it is averaged

# Our own limit is checked from the header before any decoding; Pillow's own check would only warn below 2x.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def fingerprint(path: str | os.PathLike, size: int) -> str:
    """The content key: a hash of the whole file (SHA-256, which CPUs hash at over a gigabyte a second).

    The same bytes anywhere are the same photo (a renamed, moved, copied or merely touched file keeps its
    vector, tags and metadata), and any edit, even one that keeps the size and both ends of the file (a
    retouched uncompressed TIFF or BMP), is new content. A file whose size changed while it was read is
    reported, so a half-copied photo is never taken for its content.
    """
    digest = hashlib.sha256()
    buffer = bytearray(FINGERPRINT_CHUNK)
    view = memoryview(buffer)
    read = 0
    try:
        with open(path, "rb", buffering=0) as file:
            while count := file.readinto(buffer):  # into one buffer: no new bytes object per chunk
                digest.update(view[:count])
                read += count
    except OSError as error:
        raise PhotoError(_os_reason(error)) from error
    if read != size:
        raise PhotoError("the file changed while it was read (still being copied?); it is read again next time")
    return digest.hexdigest()[:FINGERPRINT_HEX]


def _verified_bytes(path: str | os.PathLike, content: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PhotoError(_os_reason(error)) from error
    if hashlib.sha256(data).hexdigest()[:FINGERPRINT_HEX] != content:
        raise PhotoError("the file changed after it was scanned; it is read again next time")
    return data


@dataclass
class Decoded:
    pixels: np.ndarray  # [3, R, R] float32, normalised for CLIP
    thumbnail: bytes  # JPEG
    width: int  # as displayed, after EXIF orientation
    height: int
    taken: float  # capture time (EXIF) as a timestamp, else the file's mtime
    signature: np.ndarray  # [63] perceptual signature of the full frame (duplicates)
    face: Face  # what the duplicate check compares
    capture: exif.Capture  # where `taken` came from, the camera, how much metadata the file kept


def decode(path: str | os.PathLike, resolution: int, mtime: float, content: str | None = None) -> Decoded:
    """Read the photo once: the model's [3, R, R] input, a thumbnail, its size and capture facts.

    `content`: the fingerprint the scan found. The bytes decoded are then the bytes hashed: a file changed
    since the scan (an editor saving over it mid-run) is refused rather than decoded, so its picture is never
    stored under the key of what it held before.

    Memory: the decode reserves what it will allocate from the process's budget (`decode_memory`) before it
    allocates it, and the picture is reduced to what the model and the thumbnail need as soon as it is loaded:
    the full-size picture exists once and is never copied (a WebP or HEIF decoder's own buffers aside, which
    the reservation counts).
    """
    wanted = max(DRAFT_FACTOR * resolution, THUMBNAIL_SIZE)  # the short side that serves model and thumbnail
    source = path if content is None else io.BytesIO(_verified_bytes(path, content))
    with _read_errors():
        image = Image.open(source)
    with image:
        with _read_errors():
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise PhotoError(f"too large to decode safely ({width} x {height} pixels)")
            tags = _exif_before_pixels(image)
            if image.format == "JPEG":
                image.draft("RGB", (wanted, wanted))  # DCT scaling: short side stays >= wanted
            factor = reduction(image.size, wanted)
            # EXIF not read yet: the picture may have to be turned.
            needed = peak_bytes(image, factor, turned=tags is None or exif.orientation_of(tags) in TRANSPOSITIONS)
        with decode_memory.gate().reserve(needed):
            with _read_errors():
                image.load()
                if tags is None:
                    tags = exif.tags_of(image)
                picture = _reduced(image, factor)
                orientation = exif.orientation_of(tags)
                turn = TRANSPOSITIONS.get(orientation) if orientation is not None else None
                if turn is not None:
                    picture = picture.transpose(turn)  # as ImageOps.exif_transpose, from the original's EXIF
            if picture.width == 0 or picture.height == 0:
                raise PhotoError("image has no pixels")
            if orientation in QUARTER_TURNS:
                width, height = height, width
            capture = exif.capture_of(tags)
            taken = capture.taken if capture.taken is not None else mtime
            pixels = normalize(np.asarray(resize_and_crop(picture, resolution).convert("RGB")))  # [3, R, R]
            # In place: the picture is not needed any more, and a copy of a picture that could not be reduced
            # (a long panorama) would be a second full-size buffer.
            picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))  # Pillow's default: a box reduction, then bicubic
            return Decoded(pixels, _thumbnail(picture), width, height, taken, signature(picture), face(picture),
                           capture)


def reduction(size: tuple[int, int], wanted: int) -> int:
    """The integer factor that brings the short side nearest to `wanted` without going under it (1: none).

    Photos whose short side is under twice `wanted` (JPEGs after DCT scaling, most photos) are left as they are.
    """
    return max(1, min(size) // wanted)


def bytes_per_pixel(mode: str) -> int:
    """What Pillow stores a pixel of `mode` in: one band in its own type, several 8-bit bands in 4 bytes."""
    try:
        described = ImageMode.getmode(mode)
    except KeyError:  # a mode this Pillow does not describe: as much as the widest
        return MAX_BYTES_PER_PIXEL
    if len(described.bands) > 1:
        return MAX_BYTES_PER_PIXEL
    return np.dtype(described.typestr).itemsize


def peak_bytes(image: Image.Image, factor: int, turned: bool) -> int:
    """The most memory the decode holds at once: the loaded picture, plus the reduced one or the turned one."""
    width, height = image.size
    full = width * height * bytes_per_pixel(image.mode)
    loaded = full * DECODER_COPIES.get(image.format or "", 1)
    if factor == 1:
        return max(loaded, 2 * full if turned else full)
    # Averaged in strips, a palette or 1-bit picture comes out as RGB(A) or L: counted at the widest.
    reduced = -(-width // factor) * -(-height // factor) * MAX_BYTES_PER_PIXEL
    return max(loaded, full + reduced + STRIP_COPIES * REDUCE_STRIP_BYTES, 2 * reduced if turned else reduced)


def _reduced(image: ImageFile.ImageFile, factor: int) -> Image.Image:
    """The loaded picture, reduced `factor` times by averaging; the full-size one is released as soon as it is."""
    if factor == 1:
        return image
    modes = _averaging_modes(image)
    reduced = image.reduce(factor) if modes is None else _reduce_in_strips(image, factor, *modes)
    image.close()  # frees the full-size buffer now, not when the file is done with
    return reduced


def _averaging_modes(image: Image.Image) -> tuple[str, str] | None:
    """(the mode to average in, the mode of the result) where `Image.reduce` cannot do it without a full-size
    copy or at all; None where it can."""
    if image.mode in ("LA", "RGBA"):  # Pillow averages them premultiplied, through a copy of the whole picture
        return image.mode, image.mode
    if image.mode.startswith("I;16"):  # no averaging in 16-bit modes: in 32-bit, then back
        return "I", image.mode
    if image.mode == "1":  # averaged black and white is grey
        return "L", "L"
    if image.mode in ("P", "PA"):  # averaging palette indices is meaningless: average the colours they stand for
        colours = "RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB"
        return colours, colours
    return None


def _reduce_in_strips(image: Image.Image, factor: int, averaged: str, result: str) -> Image.Image:
    """`image.reduce(factor)`, averaged in mode `averaged`, a strip of rows at a time: one strip is converted at
    once, never the whole picture. Strips a multiple of `factor` rows high cut no averaging box in two."""
    width, height = image.size
    reduced = Image.new(result, (-(-width // factor), -(-height // factor)))
    rows = max(1, REDUCE_STRIP_BYTES // (width * MAX_BYTES_PER_PIXEL * factor)) * factor
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(top + rows, height))).convert(averaged).reduce(factor)
        reduced.paste(strip.convert(result), (0, top // factor))
    return reduced


@contextmanager
def _read_errors() -> Iterator[None]:
    """Every way a file can fail to read, as a PhotoError with a short reason; Pillow's warnings silenced."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own warnings (EXIF quirks) are not the user's problem
            yield
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


def _exif_before_pixels(image: Image.Image) -> Image.Exif | None:
    """The EXIF, if it can be read without decoding the picture; None where it cannot: Pillow decodes a whole PNG
    to look for EXIF after its pixels, which must wait until the decode's memory is reserved."""
    if image.format == "PNG" and "exif" not in image.info:
        return None
    return exif.tags_of(image)


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


# What opening a picture may raise besides PhotoError's causes: it is then not readable, for these purposes.
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def same_pixels(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Whether two files decode to the same pixels (a PNG saved twice, a JPEG whose metadata was stripped):
    every frame of an animation, each turned upright as shown."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(first) as a, Image.open(second) as b:
                frames = getattr(a, "n_frames", 1)
                if frames != getattr(b, "n_frames", 1):
                    return False
                for frame in range(frames):
                    a.seek(frame)
                    b.seek(frame)
                    pixels_a = np.asarray(ImageOps.exif_transpose(a).convert("RGBA"))
                    pixels_b = np.asarray(ImageOps.exif_transpose(b).convert("RGBA"))
                    if pixels_a.shape != pixels_b.shape or not np.array_equal(pixels_a, pixels_b):
                        return False
    except UNREADABLE:
        return False
    return True


def small_picture(sources: list[Path]) -> Image.Image | None:
    """The first of `sources` that can be read, upright, at thumbnail size; None when none can."""
    for source in sources:
        try:
            with Image.open(source) as image:
                if image.format == "JPEG":
                    image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                picture = ImageOps.exif_transpose(image)
                picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                return picture
        except UNREADABLE:
            continue
    return None
