"""The synthetic world the tiny model learns: pictures that show what their captions say."""

import random
import re

import numpy as np
import pytest

from photosort.clip import shapes


@pytest.mark.parametrize("distribution", [shapes.TRAINING, shapes.SHIFTED], ids=["training", "shifted"])
def test_shapes_lie_wholly_inside_clips_centre_crop_and_apart(distribution):
    """A triangle missing a corner would be a quadrilateral, two touching circles one blob."""
    rng = random.Random(0)
    for _ in range(2000):
        side = rng.randint(*distribution.short_side)
        count = rng.choice(shapes.COUNTS)
        centres, radius = shapes._place(count, rng.uniform(*distribution.radius) * side, side, rng)
        reach = radius * shapes.MAX_EXTENT  # the farthest a drawn point lies from its centre
        assert len(centres) == count
        for x, y in centres:
            assert reach <= x <= side - reach and reach <= y <= side - reach
        for index, first in enumerate(centres):
            for second in centres[index + 1:]:
                assert np.hypot(first[0] - second[0], first[1] - second[1]) > 2 * reach


def test_captions_name_colour_and_shape_and_counts_only_truly():
    rng = random.Random(0)
    counted, generic = 0, 0
    for _ in range(2000):
        scene = shapes.random_scene(rng)
        text = shapes.caption(scene, rng)
        assert scene.colour in text and scene.shape in text
        words = set(re.findall(r"[a-z]+", text))
        named = {count for count, word in shapes.COUNT_WORDS.items() if word in words}
        assert named <= {scene.count}
        if named:
            counted += 1
        elif scene.count > 1 and f"a {scene.colour} {scene.shape}" in text or f"an {scene.colour}" in text:
            generic += 1
    # Both kinds occur: counted captions teach counts; "a red circle" for any number teaches what people search.
    assert 0.5 < counted / 2000 < 0.7 and generic > 100
