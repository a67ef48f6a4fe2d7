"""The one EXIF reader: when a photo was taken (and who said so), its camera, how much metadata it carries, and
how it is meant to be shown (orientation).

Read once, at index time, and kept in the catalog: the duplicate finder works on those facts, never on files. A
photo's capture time has a source, because not every EXIF time says when the picture was taken: a camera writes
DateTimeOriginal and DateTimeDigitized, while DateTime (in IFD0) is rewritten by editors on every save. Only
`CAMERA_SOURCES` may tell two photos apart as different moments.

EXIF in the wild is often malformed: nothing here raises on what a file holds. A photo whose EXIF cannot be
read, or has no usable time, comes out with the `FILE` source (its file's mtime stands in for the time).
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from dataclasses import dataclass
from datetime import datetime

import pillow_heif
from PIL import Image
from PIL.ExifTags import IFD, Base

pillow_heif.register_heif_opener()  # phones' HEIC photos carry their EXIF too

# Where a capture time came from.
ORIGINAL = "DateTimeOriginal"  # the camera, when the shutter fired
DIGITIZED = "DateTimeDigitized"  # the camera or a scanner, when the picture was stored
MODIFIED = "DateTime"  # IFD0: editors rewrite it on save, so it may be the date of an edit
FILE = "file"  # no EXIF time: the caller uses the file's mtime
# Times a camera wrote: the only ones that may say two photos are of different moments.
CAMERA_SOURCES = frozenset({ORIGINAL, DIGITIZED})

# The rule, in order: each time with the sub-second field that goes with it; the first well-formed one wins.
_TIMES = (
    (ORIGINAL, Base.DateTimeOriginal, Base.SubsecTimeOriginal),
    (DIGITIZED, Base.DateTimeDigitized, Base.SubsecTimeDigitized),
    (MODIFIED, Base.DateTime, Base.SubsecTime),
)
# "YYYY:MM:DD HH:MM:SS"; some writers use dashes or slashes in the date, or a T before the time. Anything after
# the seconds (a time zone, a fraction) is left alone: the sub-second fields are the standard's place for that.
_MOMENT = re.compile(r"(\d{4})[:/-](\d{2})[:/-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# An eXIf chunk longer than this is a damaged length, not metadata (a JPEG's EXIF is at most 64 KB).
_MAX_PNG_EXIF = 1 << 24


@dataclass(frozen=True)
class Capture:
    """What a photo's EXIF says about its taking."""
    taken: float | None  # seconds since the epoch, the EXIF time read as local time, its fraction included
    subsecond: bool  # whether a SubsecTime* field supplied the fraction
    source: str  # ORIGINAL, DIGITIZED, MODIFIED or FILE
    camera: str  # "Make Model", "" when neither is there
    fields: int  # tags in IFD0, the Exif IFD and the GPS IFD: how much metadata the file kept

    @property
    def by_camera(self) -> bool:
        """Whether the time is one a camera wrote (see CAMERA_SOURCES)."""
        return self.source in CAMERA_SOURCES


NO_EXIF = Capture(taken=None, subsecond=False, source=FILE, camera="", fields=0)


def read(image: Image.Image) -> Capture:
    """The capture facts of an open image. A PNG whose EXIF comes after its pixels is decoded by Pillow to find
    it: `read_file` does without."""
    return capture_of(tags_of(image))


def read_file(path: str | os.PathLike) -> Capture:
    """The capture facts of a file, from its header only (no pixel is decoded); `NO_EXIF` for a file that cannot
    be opened or read."""
    try:
        return read_header(path)
    except OSError:
        return NO_EXIF


def read_header(path: str | os.PathLike) -> Capture:
    """As `read_file`, but a file that cannot be opened at all (vanished, permission denied, an I/O error) raises
    OSError: that says nothing about the photo, and a caller that stores the answer may rather ask again later.
    A file that opens but is not an image, or whose metadata is damaged, is `NO_EXIF`."""
    with open(path, "rb") as stream:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow's warnings on EXIF quirks are not the user's problem
                with Image.open(stream) as image:
                    if image.format == "PNG" and "exif" not in image.info:
                        return capture_of(_png_exif_after_pixels(stream))
                    return capture_of(tags_of(image))
        except Exception:  # not an image, or one whose header is damaged: it has no EXIF to speak of
            return NO_EXIF


def tags_of(image: Image.Image) -> Image.Exif:
    """The image's EXIF, empty where it is malformed (the picture itself may be fine)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return image.getexif()
    except Exception:
        return Image.Exif()


def capture_of(tags: Image.Exif) -> Capture:
    """The capture facts of an EXIF block already read (decoding reads it once, for the orientation too)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        details = _ifd(tags, IFD.Exif)
        taken, subsecond, source = None, False, FILE
        for name, time_tag, fraction_tag in _TIMES:
            # The camera's times belong in the Exif IFD; some writers put them in IFD0.
            where = tags if name == MODIFIED else (details if time_tag in details else tags)
            moment = _timestamp(_get(where, time_tag))
            if moment is not None:
                fraction = _fraction(_get(where, fraction_tag))
                taken, subsecond, source = moment + (fraction or 0.0), fraction is not None, name
                break
        camera = " ".join(part for part in (_text(_get(tags, Base.Make)), _text(_get(tags, Base.Model))) if part)
        fields = len(tags) + len(details) + len(_ifd(tags, IFD.GPSInfo))
        return Capture(taken, subsecond, source, camera, fields)


def orientation_of(tags: Image.Exif) -> int | None:
    """How the picture is turned or flipped for display (EXIF orientation 1-8), None where it does not say."""
    value = _get(tags, Base.Orientation)
    return value if isinstance(value, int) else None


def _get(tags: Image.Exif | dict, tag: int) -> object:
    try:
        return tags.get(tag)
    except Exception:  # Pillow reads a tag's value on first use: a damaged one fails then
        return None


def _ifd(tags: Image.Exif, ifd: IFD) -> dict:
    try:
        return tags.get_ifd(ifd)
    except Exception:  # a damaged sub-directory: the rest of the EXIF still counts
        return {}


def _text(value: object) -> str:
    """An EXIF string without the NULs and spaces writers pad it with; "" for anything that is not text."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    return value.strip("\x00 ") if isinstance(value, str) else ""


def _timestamp(value: object) -> float | None:
    """The EXIF time as a timestamp (read as local time), None when it is missing, blank ("0000:00:00
    00:00:00", spaces) or malformed."""
    found = _MOMENT.match(_text(value))
    if found is None:
        return None
    try:
        year, month, day, hour, minute, second = map(int, found.groups())
        return datetime(year, month, day, hour, minute, second).timestamp()
    except (ValueError, OverflowError, OSError):  # month 0, day 31 of June, a year the platform cannot place
        return None


def _fraction(value: object) -> float | None:
    """A SubsecTime* field's digits as the fraction of a second they stand for ("045": 0.045)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    digits = _text(value)
    return float(f"0.{digits}") if digits.isascii() and digits.isdigit() else None


def _png_exif_after_pixels(stream) -> Image.Exif:
    """A PNG's eXIf chunk found by walking its chunks, seeking past the pixels rather than decoding them (Pillow
    only reads chunks after the pixels once it has decoded them)."""
    tags = Image.Exif()
    stream.seek(0)
    if stream.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
        return tags
    while len(head := stream.read(8)) == 8:
        length, kind = struct.unpack(">I4s", head)
        if kind == b"eXIf":
            if length <= _MAX_PNG_EXIF:
                tags.load(stream.read(length))
            return tags
        if kind == b"IEND":
            return tags
        stream.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return tags
