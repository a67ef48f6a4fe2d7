"""Pictures that must never be near duplicates of each other, and copies that must always be, with the truth.

Each `Case` is one file to write: its picture (or the bytes of another case, for an exact copy), the format,
and `picture`, the name of the picture it shows. Two cases are copies of one picture (exact or near) exactly
when their `picture` is equal; every other pair is two pictures a person would not want to lose one of. The
`group` names the class a case was made for, for reporting.

Hard negatives: colour and tone edits of one photo; colour versions of one design; shape pictures of
different colours and places; low-texture scenes (plain or graded grounds) with a small subject at different
places; documents with other text in one layout; burst frames reframed by 5-15% with the subject moved (with
and without EXIF capture times); the same place zoomed by 20-40%.
Positives: re-encodes (quality 30-95), resizes to 25-100%, crops of 1-5%, brightness +-15%, format changes and
byte copies, of photographs, low-texture scenes and a design.
"""

from __future__ import annotations

import colorsys
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from photosort.clip import shapes
from tests.real_photos import camera_exif, crop, photographs

SIDE = (640, 480)  # generated pictures: a small photo, quick to index


@dataclass
class Case:
    name: str  # file name, with the format's suffix
    group: str  # the class it was made for
    picture: str  # the picture it shows: equal for copies
    image: Image.Image | None = None
    options: dict = field(default_factory=dict)  # save options (quality, exif)
    copy_of: str | None = None  # a byte-for-byte copy of this case's file

    def data(self, written: dict[str, bytes]) -> bytes:
        if self.copy_of is not None:
            return written[self.copy_of]
        buffer = io.BytesIO()
        kind = {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[Path(self.name).suffix]
        picture = self.image.convert("RGB") if kind == "JPEG" else self.image
        picture.save(buffer, kind, **self.options)
        return buffer.getvalue()


def write(cases: list[Case], folder: Path) -> dict[str, Case]:
    """Write the cases; return path -> case."""
    written: dict[str, bytes] = {}
    where = {}
    for case in cases:
        path = folder / case.group / case.name
        path.parent.mkdir(parents=True, exist_ok=True)
        written[case.name] = case.data(written)
        path.write_bytes(written[case.name])
        where[str(path)] = case
    return where


# Hard negatives


def colour_edits(name: str, photo: Image.Image) -> list[Case]:
    """Edits a person makes on purpose: similar pictures, never the same one."""
    grey = ImageOps.grayscale(photo)
    edits = {
        "bw": grey.convert("RGB"),
        "sepia": ImageOps.colorize(grey, (40, 26, 13), (255, 240, 192)),
        "hue40": _hue_shift(photo, 40), "hue120": _hue_shift(photo, 120),
        "muted": ImageEnhance.Color(photo).enhance(0.35),
        "vivid": ImageEnhance.Color(photo).enhance(2.0),
        "gamma": photo.point(lambda level: round(255 * (level / 255) ** 0.55)),
        "contrast": ImageEnhance.Contrast(photo).enhance(1.7),
        "warm": Image.merge("RGB", [band.point(lambda v, g=g: min(255, round(v * g))) for band, g in
                                    zip(photo.split(), (1.18, 1.0, 0.78), strict=True)]),
    }
    cases = [Case(f"{name}-original.jpg", "colour-edits", f"{name}", photo, {"quality": 92})]
    cases += [Case(f"{name}-{edit}.jpg", "colour-edits", f"{name}-{edit}", picture, {"quality": 92})
              for edit, picture in edits.items()]
    return cases


def _hue_shift(photo: Image.Image, degrees: int) -> Image.Image:
    hsv = np.asarray(photo.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + round(degrees * 256 / 360)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def design(palette: tuple[float, float], seed: int = 3, size: tuple[int, int] = SIDE) -> Image.Image:
    """A wallpaper-like design (soft waves and rings) in a palette: hues (ground, lines) in [0, 1)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width] / height
    rng = np.random.default_rng(seed)
    waves = sum(np.sin(x * rng.uniform(2, 7) + y * rng.uniform(-3, 3) + rng.uniform(0, 6)) for _ in range(4)) / 4
    rings = np.sin(14 * np.hypot(x - 0.9, y - 0.45)) * np.exp(-2 * np.hypot(x - 0.9, y - 0.45))
    value = 0.5 + 0.3 * waves + 0.25 * rings  # [H, W]
    ground, lines = (np.array(colorsys.hsv_to_rgb(hue, 0.75, 0.9)) for hue in palette)
    rgb = ground[None, None] * (1 - value[..., None]) * 0.6 + lines[None, None] * value[..., None]
    return Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8))


def colour_versions() -> list[Case]:
    """One design in several colour schemes, as wallpaper packs ship it ("Cold", "Warm", "Radioactive")."""
    palettes = {"cold": (0.58, 0.52), "warm": (0.05, 0.1), "radioactive": (0.25, 0.18), "violet": (0.78, 0.85)}
    return [Case(f"design-{name}.jpg", "colour-versions", f"design-{name}", design(palette), {"quality": 92})
            for name, palette in palettes.items()]


def shape_picture(colour: str, ground: tuple[int, int, int], places: list[tuple[float, float, float]],
                  shape: str = "circle", size: tuple[int, int] = SIDE) -> Image.Image:
    """Shapes of one colour on a plain ground; places are (x, y, radius) in fractions of the height."""
    picture = Image.new("RGB", size, ground)
    draw = ImageDraw.Draw(picture)
    height = size[1]
    for x, y, radius in places:
        box = (x * height - radius * height, y * height - radius * height,
               x * height + radius * height, y * height + radius * height)
        if shape == "circle":
            draw.ellipse(box, fill=shapes.COLOURS[colour])
        else:
            draw.rectangle(box, fill=shapes.COLOURS[colour])
    return picture


def shape_pictures() -> list[Case]:
    grey, beige, blue = shapes.BACKGROUNDS["grey"], shapes.BACKGROUNDS["beige"], shapes.BACKGROUNDS["light blue"]
    pictures = {
        "green-circle": shape_picture("green", grey, [(0.45, 0.4, 0.18)]),
        "orange-circle": shape_picture("orange", grey, [(0.8, 0.55, 0.18)]),
        "blue-circle": shape_picture("blue", beige, [(0.7, 0.45, 0.2)]),
        "red-circle": shape_picture("red", grey, [(0.66, 0.5, 0.2)]),
        "yellow-square": shape_picture("yellow", grey, [(0.66, 0.5, 0.2)], "square"),
        "purple-circles": shape_picture("purple", blue, [(0.4, 0.35, 0.12), (0.95, 0.6, 0.12)]),
        "purple-circles-moved": shape_picture("purple", blue, [(0.5, 0.5, 0.16), (1.0, 0.3, 0.1)]),
        "red-circle-same-place-green": shape_picture("green", grey, [(0.66, 0.5, 0.2)]),
    }
    return [Case(f"{name}.png", "shapes", name, picture) for name, picture in pictures.items()]


def sky(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int],
        noise: float, rng: np.random.Generator) -> np.ndarray:
    """A plain or graded ground with a little sensor noise: [H, W, 3] float."""
    width, height = size
    fraction = np.linspace(0, 1, height)[:, None, None]
    ground = np.array(top)[None, None] * (1 - fraction) + np.array(bottom)[None, None] * fraction
    return np.broadcast_to(ground, (height, width, 3)) + rng.normal(0, noise, (height, width, 3))


def subject(pixels: np.ndarray, x: float, y: float, radius: float, colour: tuple[int, int, int]) -> np.ndarray:
    """A small soft-edged blob (a bird, a boat, a kite) at (x, y), fractions of the width and height."""
    height, width = pixels.shape[:2]
    rows, columns = np.mgrid[0:height, 0:width]
    distance = np.hypot((columns - x * width) / height, (rows - y * height) / height) / radius
    weight = np.clip(1.5 - distance, 0, 1)[..., None]  # [H, W, 1]
    return pixels * (1 - weight) + np.array(colour)[None, None] * weight


GROUNDS = (((150, 190, 235), (215, 230, 245)), ((120, 160, 220), (120, 160, 220)), ((250, 200, 150), (120, 140, 200)),
           ((235, 235, 235), (235, 235, 235)), ((60, 70, 90), (20, 25, 40)))


def low_texture_scene(number: int, size: tuple[int, int] = SIDE) -> Image.Image:
    """Scene `number`: one of a few grounds with a small subject somewhere, its size and tone varying."""
    rng = np.random.default_rng(100 + number)
    top, bottom = GROUNDS[number % len(GROUNDS)]
    pixels = sky(size, top, bottom, 2.0, rng)
    x, y = rng.uniform(0.1, 0.9), rng.uniform(0.15, 0.85)
    radius = rng.uniform(0.025, 0.06)
    tone = tuple(int(value) for value in rng.choice([(30, 30, 35), (240, 240, 240), (200, 60, 40)]))
    return Image.fromarray(np.clip(subject(pixels, x, y, radius, tone), 0, 255).astype(np.uint8))


def low_texture_scenes(count: int = 25) -> list[Case]:
    return [Case(f"scene-{number:02}.jpg", "low-texture", f"scene-{number}", low_texture_scene(number),
                 {"quality": 90}) for number in range(count)]


LINES = ("Invoice number 2041 for services rendered", "Meeting notes from the spring planning day",
         "Receipt: two coffees, one croissant, paid", "Dear Anna, thanks for the lovely weekend",
         "Chapter three: the long road to the coast", "Parts list for the garden shed project")


def document(number: int, size: tuple[int, int] = (600, 800)) -> Image.Image:
    """One layout (title, paragraphs, a signature line), other words."""
    page = Image.new("RGB", size, (250, 250, 246))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=22)
    small = ImageFont.load_default(size=15)
    rng = random.Random(number)
    draw.text((50, 50), LINES[number % len(LINES)][:28], fill=(20, 20, 20), font=font)
    words = " ".join(rng.choice(LINES) for _ in range(12)).split()
    top = 120
    for _paragraph in range(4):
        for _line in range(5):
            draw.text((50, top), " ".join(rng.sample(words, 7)), fill=(40, 40, 40), font=small)
            top += 24
        top += 20
    draw.line((50, top + 30, 260, top + 30), fill=(30, 30, 30), width=2)
    return page


def documents(count: int = 5) -> list[Case]:
    return [Case(f"document-{number}.png", "documents", f"document-{number}", document(number))
            for number in range(count)]


def burst(photo: Image.Image, name: str, rng: random.Random, exif: bool) -> list[Case]:
    """Three frames of one moment: the camera reframed by 5-15% and the subject moved a little."""
    width, height = photo.size
    window = (round(width * 0.82), round(height * 0.82))
    cases = []
    for frame, reframe in enumerate((0.0, rng.uniform(0.05, 0.08), rng.uniform(0.1, 0.15))):
        dx = round(width * reframe * rng.choice((-1, 1)) * 0.9)
        dy = round(height * reframe * rng.uniform(-0.4, 0.4))
        left = (width - window[0]) // 2 + dx
        top = (height - window[1]) // 2 + dy
        left, top = min(max(left, 0), width - window[0]), min(max(top, 0), height - window[1])
        view = photo.crop((left, top, left + window[0], top + window[1]))
        if frame:  # the subject moved: a patch of the busiest part slides a little
            levels = np.asarray(view.convert("L"), np.float32)
            size = (window[0] // 5, window[1] // 5)
            spots = [(rng.randrange(window[0] - 2 * size[0]), rng.randrange(window[1] - size[1])) for _ in range(30)]
            x, y = max(spots, key=lambda spot: levels[spot[1]:spot[1] + size[1], spot[0]:spot[0] + size[0]].std())
            view.paste(view.crop((x, y, x + size[0], y + size[1])), (x + size[0] // 3 * frame, y))
        options = {"quality": 92}
        if exif:
            options["exif"] = camera_exif("2024:05:04 12:00:00", f"{frame * 30 + 10}")
        stamp = "exif" if exif else "noexif"
        cases.append(Case(f"{name}-{stamp}-{frame}.jpg", f"bursts-{stamp}", f"{name}-{stamp}-{frame}",
                          view.resize(SIDE if width >= height else SIDE[::-1], Image.LANCZOS), options))
    return cases


def zooms(photo: Image.Image, name: str) -> list[Case]:
    """The same place, zoomed in by 20% and by 40%: other pictures, a person may want both."""
    cases = [Case(f"{name}-wide.jpg", "zooms", f"{name}-wide", photo, {"quality": 92})]
    for zoom in (1.2, 1.4):
        cut = (1 - 1 / zoom) / 2
        cases.append(Case(f"{name}-zoom{round(zoom * 100)}.jpg", "zooms", f"{name}-zoom{zoom}",
                          crop(photo, cut, cut, cut, cut).resize(photo.size, Image.LANCZOS), {"quality": 92}))
    return cases


# Positives


def copies(photo: Image.Image, name: str, group: str, picture: str | None = None) -> list[Case]:
    """One picture as people copy it: re-encoded, resized, lightly cropped, brightened, converted. `picture`:
    the picture's name where another case shows it too (a colour edit's original)."""
    width, height = photo.size

    def resized(scale: float) -> Image.Image:
        return photo.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.LANCZOS)

    edits: list[tuple[str, Image.Image, dict]] = [
        ("original.png", photo, {}),
        ("q30.jpg", photo, {"quality": 30}), ("q60.jpg", photo, {"quality": 60}), ("q95.jpg", photo, {"quality": 95}),
        ("size25.jpg", resized(0.25), {"quality": 90}), ("size50.jpg", resized(0.5), {"quality": 90}),
        ("size80.webp", resized(0.8), {"quality": 80}),
        ("crop1.jpg", crop(photo, 0.01, 0.01, 0, 0), {"quality": 92}),
        ("crop3.jpg", crop(photo, 0.03, 0.03, 0.03, 0.03), {"quality": 92}),
        ("crop5.jpg", crop(photo, 0.05, 0, 0, 0), {"quality": 92}),
        ("crop5-resized.webp", crop(photo, 0, 0.05, 0.02, 0).resize((round(width * 0.6), round(height * 0.6)),
                                                                    Image.LANCZOS), {"quality": 85}),
        ("brighter.jpg", ImageEnhance.Brightness(photo).enhance(1.15), {"quality": 92}),
        ("darker.jpg", ImageEnhance.Brightness(photo).enhance(0.85), {"quality": 92}),
        ("lossless.webp", photo, {"lossless": True}),
    ]
    cases = [Case(f"{name}-{suffix}", group, picture or name, edited, options) for suffix, edited, options in edits]
    cases.append(Case(f"{name}-backup.png", group, picture or name, copy_of=cases[0].name))
    return cases


def colourful(photo: Image.Image) -> bool:
    """Whether colour edits change it: a grey photo's hue shift is the same picture."""
    return float(np.asarray(photo.convert("HSV"))[..., 1].mean()) > 40


def hard_negatives(photos: dict[str, Image.Image], seed: int = 11) -> list[Case]:
    rng = random.Random(seed)
    names = sorted(photos)
    cases = [case for name in names[:6] if colourful(photos[name])
             for case in colour_edits(name, _fit(photos[name]))]
    cases += colour_versions() + shape_pictures() + low_texture_scenes() + documents()
    for number, name in enumerate(names[6:14]):
        cases += burst(photos[name], name, rng, exif=number % 2 == 0)
    for name in names[14:18]:
        cases += zooms(_fit(photos[name]), name)
    return cases


def positives(photos: dict[str, Image.Image]) -> list[Case]:
    names = sorted(photos)
    # The first photos are also the originals of the colour edits: their copies show the same picture.
    cases = [case for name in names[:5] for case in copies(_fit(photos[name]), f"copy-{name}", "copies-photos", name)]
    for number in (0, 2, 3):
        cases += copies(low_texture_scene(200 + number), f"copy-scene-{number}", "copies-low-texture")
    cases += copies(design((0.6, 0.5), seed=9), "copy-design", "copies-design")
    return cases


def all_cases(photos: dict[str, Image.Image] | None = None) -> list[Case]:
    photos = photos if photos is not None else photographs()
    return hard_negatives(photos) + positives(photos)


def _fit(photo: Image.Image, side: int = max(SIDE)) -> Image.Image:
    picture = photo.copy()
    picture.thumbnail((side, side), Image.LANCZOS)
    return picture
