"""The synthetic captioned world the bundled `tiny-shapes` model learns: one to three shapes of one colour.

Pillow and numpy only. Pictures vary as photos do (canvas size and aspect ratio, position, scale, rotation,
background colour and texture, blur, JPEG compression, colour jitter); captions vary their wording. Shapes are
kept inside the central square of the canvas, the part CLIP's preprocessing keeps, so every caption stays
true of what the model sees.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35), "green": (40, 165, 55), "blue": (35, 75, 215), "yellow": (240, 215, 35),
    "orange": (245, 135, 25), "purple": (135, 50, 175), "black": (20, 20, 20), "white": (240, 240, 240),
}
SHAPES = ("circle", "square", "triangle", "star")
COUNTS = (1, 2, 3)
COUNT_WORDS = {1: "one", 2: "two", 3: "three"}

# Backgrounds a caption may name. Plain photo-like tones, none of them one of the shapes' colours except
# white and black, which are only used behind shapes of another colour.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "grey": (128, 128, 128), "white": (235, 235, 230), "black": (25, 25, 28), "beige": (215, 200, 165),
    "light blue": (170, 200, 230), "dark green": (35, 70, 45), "brown": (110, 75, 45), "pink": (235, 180, 195),
}
# Backgrounds the training never shows, for the shifted test distribution.
UNSEEN_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "teal": (40, 130, 130), "lavender": (200, 190, 230), "olive": (120, 120, 50), "navy": (30, 40, 80),
}

ALL_TONES = {**BACKGROUNDS, **UNSEEN_BACKGROUNDS}

# A background of any other tone, left unnamed by captions: pictures are not limited to the named tones.
OTHER_BACKGROUND = "other"

COLOUR_JITTER = 14  # per channel, small enough that no colour drifts into its neighbour (red/orange/yellow)
MIN_CONTRAST = 100  # RGB distance between a shape's colour and its background's tone
# How far a shape reaches from its centre, in radii: triangles' and stars' points are drawn at 1.1 radii, and
# each shape's size varies by up to 10%. Centres keep this far from the edges, so no corner is ever cut off
# (a triangle missing a corner is a quadrilateral, and a square without its corners looks round).
MAX_EXTENT = 1.1 * 1.1
# Shapes keep this factor of their radii apart, so counts stay countable.
MIN_SPACING = 1.3


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    count: int
    background: str


@dataclass(frozen=True)
class Distribution:
    """The ranges a rendered picture is drawn from."""

    short_side: tuple[int, int] = (72, 288)  # canvas short side, pixels
    aspect: tuple[float, float] = (0.6, 1.8)  # width / height
    radius: tuple[float, float] = (0.22, 0.34)  # shape radius as a fraction of the central square's side
    backgrounds: tuple[str, ...] = tuple(BACKGROUNDS)
    other_background_probability: float = 0.3
    blur_probability: float = 0.3
    jpeg_probability: float = 0.5


TRAINING = Distribution()
# Away from the training centre: larger canvases, shapes smaller and larger than seen, unseen backgrounds.
SHIFTED = Distribution(short_side=(320, 640), aspect=(0.5, 2.0), radius=(0.15, 0.42),
                       backgrounds=tuple(UNSEEN_BACKGROUNDS), other_background_probability=0.0)


def plural(shape: str) -> str:
    return shape + "s"


def random_scene(rng: random.Random, distribution: Distribution = TRAINING) -> Scene:
    colour, shape, count = rng.choice(list(COLOURS)), rng.choice(SHAPES), rng.choice(COUNTS)
    return Scene(colour, shape, count, background_for(rng, colour, distribution))


def background_for(rng: random.Random, colour: str, distribution: Distribution) -> str:
    """A background the shapes stand out from (white shapes are never on white, nor black on dark green)."""
    if rng.random() < distribution.other_background_probability:
        return OTHER_BACKGROUND
    return rng.choice([name for name in distribution.backgrounds
                       if math.dist(ALL_TONES[name], COLOURS[colour]) > MIN_CONTRAST])


def _tone(scene: Scene, rng: random.Random) -> tuple[int, int, int]:
    if scene.background in ALL_TONES:
        return ALL_TONES[scene.background]
    while True:
        tone = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        if math.dist(tone, COLOURS[scene.colour]) > MIN_CONTRAST:
            return tone


def all_scene_kinds() -> list[tuple[str, str, int]]:
    """Every (colour, shape, count): 96 kinds."""
    return [(colour, shape, count) for colour in COLOURS for shape in SHAPES for count in COUNTS]


# Share of captions that name the count ("two red circles"); the rest say what a person searching would
# ("a red circle", "red circles"), which is true of a picture with any number of them. Without these, a
# singular query such as "a photo of a red circle" would mean "exactly one" and rank one red square above
# three red circles.
COUNTED_CAPTION_SHARE = 0.6


def caption(scene: Scene, rng: random.Random) -> str:
    """One of many ways to say what the picture shows."""
    colour, shape = scene.colour, scene.shape
    if rng.random() < COUNTED_CAPTION_SHARE:
        thing = f"{COUNT_WORDS[scene.count]} {colour} {shape if scene.count == 1 else plural(shape)}"
    else:
        thing = rng.choice([f"{_article(colour)} {colour} {shape}", f"{colour} {plural(shape)}", f"{colour} {shape}"])
    forms = [
        f"a photo of {thing}",
        f"{thing}",
        f"a picture of {thing}",
        f"an image with {thing}",
        f"a close-up photo of {thing}",
    ]
    if scene.background != OTHER_BACKGROUND:
        background = f"{_article(scene.background)} {scene.background} background"
        forms += [f"{thing} on {background}", f"a photo of {thing} on {background}"]
    return rng.choice(forms)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def render(scene: Scene, rng: random.Random, distribution: Distribution = TRAINING) -> Image.Image:
    """A picture of the scene, in RGB, of a random size and aspect ratio."""
    short = rng.randint(*distribution.short_side)
    aspect = math.exp(rng.uniform(math.log(distribution.aspect[0]), math.log(distribution.aspect[1])))
    width, height = (round(short * aspect), short) if aspect >= 1 else (short, round(short / aspect))
    image = _background(width, height, _tone(scene, rng), rng)

    side = min(width, height)  # the central square that CLIP's centre crop keeps
    left, top = (width - side) / 2, (height - side) / 2
    radius = rng.uniform(*distribution.radius) * side
    centres, radius = _place(scene.count, radius, side, rng)
    colour = tuple(int(np.clip(value + rng.randint(-COLOUR_JITTER, COLOUR_JITTER), 0, 255))
                   for value in COLOURS[scene.colour])
    draw = ImageDraw.Draw(image)
    for x, y in centres:
        # One rotation and a slight size spread per picture: the shapes of one photo look alike.
        _draw_shape(draw, scene.shape, left + x, top + y, radius * rng.uniform(0.9, 1.1), colour,
                    rng.uniform(0, 2 * math.pi))

    if rng.random() < distribution.blur_probability:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * side / 128))
    if rng.random() < distribution.jpeg_probability:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(35, 95))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


def _background(width: int, height: int, base: tuple[int, int, int], rng: random.Random) -> Image.Image:
    """A plain, gradient or noisy backdrop around a base tone."""
    tone = np.array(base, dtype=np.float32)
    kind = rng.random()
    if kind < 0.4:
        pixels = np.broadcast_to(tone, (height, width, 3)).copy()
    elif kind < 0.75:
        direction = rng.uniform(0, 2 * math.pi)
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = (x * math.cos(direction) + y * math.sin(direction)) / max(width, height)  # about [-1, 1]
        pixels = tone + ramp[..., None] * rng.uniform(15, 45)
    else:
        noise_rng = np.random.default_rng(rng.randrange(2 ** 32))
        coarse = noise_rng.normal(0, rng.uniform(8, 22), (max(2, height // 16), max(2, width // 16), 3))
        texture = np.asarray(Image.fromarray(coarse.astype(np.float32)[..., 0]).resize((width, height)))
        pixels = tone + texture[..., None] + noise_rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _place(count: int, radius: float, side: float,
           rng: random.Random) -> tuple[list[tuple[float, float]], float]:
    """Centres inside the square, apart enough not to touch, and the radius, shrunk if they did not fit."""
    for _ in range(200):
        margin = radius * MAX_EXTENT
        if 2 * margin >= side:
            radius *= 0.9
            continue
        centres: list[tuple[float, float]] = []
        for _ in range(count):
            for _ in range(50):
                point = (rng.uniform(margin, side - margin), rng.uniform(margin, side - margin))
                if all(math.dist(point, other) > 2 * radius * MIN_SPACING for other in centres):
                    centres.append(point)
                    break
        if len(centres) == count:
            return centres, radius
        radius *= 0.9
    raise RuntimeError("could not place the shapes")  # unreachable: the radius shrinks until they fit


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, radius: float,
                colour: tuple[int, ...], angle: float) -> None:
    if shape == "circle":
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
        return
    if shape == "square":
        corners, radii = 4, [radius * 1.0] * 4
    elif shape == "triangle":
        corners, radii = 3, [radius * 1.1] * 3
    else:  # a five-pointed star: outer and inner points alternate
        corners, radii = 10, [radius * 1.1 if index % 2 == 0 else radius * 0.45 for index in range(10)]
    points = [(x + r * math.cos(angle + 2 * math.pi * index / corners),
               y + r * math.sin(angle + 2 * math.pi * index / corners)) for index, r in enumerate(radii)]
    draw.polygon(points, fill=colour)


def held_out_set(seed: int, per_kind: int, distribution: Distribution = TRAINING) -> list[tuple[Scene, Image.Image]]:
    """`per_kind` pictures of every colour-shape pair (counts cycling), from their own seed."""
    rng = random.Random(seed)
    pictures = []
    for colour in COLOURS:
        for shape in SHAPES:
            for index in range(per_kind):
                scene = Scene(colour, shape, COUNTS[index % len(COUNTS)], background_for(rng, colour, distribution))
                pictures.append((scene, render(scene, rng, distribution)))
    return pictures
