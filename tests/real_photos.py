"""Real photographs with generated copies and burst frames, for the duplicate tests and benchmarks.

The photographs are scikit-image's sample data (public domain or CC0, shipped inside its wheel). From each, a
folder gets what a real library holds: the camera's original (with its EXIF capture time), exact copies,
re-encoded, resized, cropped, brightened and format-converted versions (near duplicates), and burst frames
taken a fraction of a second apart, with the camera and the subject moved a little (similar, not near).
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

# The photographs among scikit-image's samples (drawings, charts and synthetic pictures left out).
SAMPLES = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png", "coffee.png",
           "coins.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
           "motorcycle_left.png", "motorcycle_right.png", "page.png", "retina.jpg", "rocket.jpg", "text.png")
EXIF_IFD, DATE_TIME_ORIGINAL, SUB_SECOND_ORIGINAL, MAKE = 0x8769, 0x9003, 0x9291, 0x010F
# Two photographs of one moment: the left and right cameras of a stereo rig.
SAME_MOMENT = {"motorcycle_right": "motorcycle_left"}


def sample_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def photographs() -> dict[str, Image.Image]:
    return {Path(name).stem: Image.open(sample_dir() / name).convert("RGB") for name in SAMPLES}


def camera_exif(moment: str, sub_second: str) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "photosort test camera"
    details = exif.get_ifd(EXIF_IFD)
    details[DATE_TIME_ORIGINAL] = moment
    details[SUB_SECOND_ORIGINAL] = sub_second
    return exif


def crop(picture: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    width, height = picture.size
    return picture.crop((round(width * left), round(height * top), round(width * (1 - right)),
                         round(height * (1 - bottom))))


def near_copies(picture: Image.Image) -> dict[str, tuple[Image.Image, str, dict]]:
    """name -> (picture, format, save options): the same photograph, edited as people do."""
    width, height = picture.size
    return {
        "q60.jpg": (picture, "JPEG", {"quality": 60}),
        "half.jpg": (picture.resize((width // 2, height // 2), Image.LANCZOS), "JPEG", {"quality": 90}),
        "brighter.jpg": (ImageEnhance.Brightness(picture).enhance(1.15), "JPEG", {"quality": 92}),
        "crop-left.jpg": (crop(picture, 0.05, 0, 0, 0), "JPEG", {"quality": 92}),
        "crop-all.jpg": (crop(picture, 0.03, 0.03, 0.03, 0.03), "JPEG", {"quality": 92}),
        "small-crop.webp": (crop(picture, 0, 0.04, 0.04, 0).resize((int(width * 0.6), int(height * 0.6)),
                                                                    Image.LANCZOS), "WEBP", {"quality": 80}),
    }


def burst_frame(picture: Image.Image, rng: random.Random) -> Image.Image:
    """Another shot a moment later: the camera turned and shifted a little, the subject moved."""
    width, height = picture.size
    angle = rng.uniform(1.5, 3.0) * rng.choice((-1, 1))
    shift = tuple(rng.uniform(0.02, 0.04) * side * rng.choice((-1, 1)) for side in (width, height))
    frame = crop(picture.rotate(angle, Image.BICUBIC, translate=shift), 0.06, 0.06, 0.06, 0.06)  # no empty corners
    frame_width, frame_height = frame.size
    levels = np.asarray(frame.convert("L"), np.float32)
    size = (int(frame_width * 0.25), int(frame_height * 0.25))
    spots = [(rng.randrange(frame_width - size[0]), rng.randrange(frame_height - size[1])) for _ in range(40)]
    x, y = max(spots, key=lambda spot: levels[spot[1]:spot[1] + size[1], spot[0]:spot[0] + size[0]].std())
    subject = frame.crop((x, y, x + size[0], y + size[1]))
    moved = x + size[0] // 2 if x + size[0] * 3 // 2 <= frame_width else x - size[0] // 2
    frame.paste(subject, (moved, y))
    return frame.resize(picture.size, Image.LANCZOS)


@dataclass
class Truth:
    same: list[set[str]] = field(default_factory=list)  # paths of one photograph: original, copies, edits
    bursts: list[set[str]] = field(default_factory=list)  # paths of one moment's shots (each a different photo)


def build(root: Path, names: list[str] | None = None, frames: int = 2, seed: int = 7) -> Truth:
    """Write the folder; return which files are the same photograph and which are bursts."""
    rng = random.Random(seed)
    truth = Truth()
    pictures = sorted(photographs().items())
    moments = {name: f"2023:07:{1 + number % 28:02d} 10:{number:02d}:00" for number, (name, _) in enumerate(pictures)}
    moments.update({name: moments[other] for name, other in SAME_MOMENT.items()})
    shots_of: dict[str, set[str]] = {}
    for name, picture in pictures:
        if names is not None and name not in names:
            continue
        folder = root / "camera" / name
        folder.mkdir(parents=True, exist_ok=True)
        moment = moments[name]
        original = folder / "original.jpg"
        picture.save(original, "JPEG", quality=95, exif=camera_exif(moment, "10"))
        copy = root / "backup" / name / "original.jpg"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(original, copy)
        lossless = root / "exports" / name / "original.png"
        lossless.parent.mkdir(parents=True, exist_ok=True)
        picture.save(lossless, "PNG", compress_level=1)
        same_pixels = lossless.with_name("original-small.png")
        picture.save(same_pixels, "PNG", compress_level=9)  # other bytes, the same pixels
        same = {str(original), str(copy), str(lossless), str(same_pixels)}
        for file_name, (edited, kind, options) in near_copies(picture).items():
            path = root / "edits" / name / file_name
            path.parent.mkdir(parents=True, exist_ok=True)
            edited.save(path, kind, **options)
            same.add(str(path))
        truth.same.append(same)
        shots = shots_of.setdefault(moment, set())
        shots.add(str(original))
        for frame_number in range(frames):
            path = folder / f"burst-{frame_number + 1}.jpg"
            burst_frame(picture, rng).save(path, "JPEG", quality=95,
                                           exif=camera_exif(moment, f"{(frame_number + 1) * 20 + 10}"))
            shots.add(str(path))
    truth.bursts = list(shots_of.values())
    return truth

