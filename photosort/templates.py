"""Prompt templates: `resources/prompt_templates/<name>.txt`, one a line, `{}` standing for what is described.

Averaging the text vectors of several phrasings ("a photo of a dog.", "a close-up photo of a dog.", ...) gives
a steadier direction than the bare words, as CLIP's authors found. A model may bring its own phrasings (a file
named after it); others use the photo set.
"""

from __future__ import annotations

import functools
import re

from .paths import resources_dir

TEMPLATES_DIR = "prompt_templates"
PLACEHOLDER = "{}"
DEFAULT_SET = "photo"
# Queries of up to this many words are searched through the ensemble; longer ones already say how they look.
SHORT_QUERY_WORDS = 4
_ALREADY_PHRASED = re.compile(r"^(an? |the )?(photo|picture|image|close-up|shot|painting|drawing)s?\b", re.I)


@functools.cache
def load_templates(name: str = "imagenet") -> tuple[str, ...]:
    """The templates of one set ("imagenet" holds the 80 of openai/CLIP's ImageNet notebook)."""
    path = resources_dir() / TEMPLATES_DIR / f"{name}.txt"
    templates = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    bad = [template for template in templates if template.count(PLACEHOLDER) != 1]
    if bad:
        raise ValueError(f"{path}: each template needs exactly one {PLACEHOLDER}: {bad[:3]}")
    return templates


def templates_for(model: str) -> tuple[str, ...]:
    """The model's own phrasings when it has a set named after it, else the photo set."""
    stem = re.sub(r"\.(pt|pth|safetensors|bin)$", "", model.replace("\\", "/").rsplit("/", 1)[-1])
    if (resources_dir() / TEMPLATES_DIR / f"{stem}.txt").is_file():
        return load_templates(stem)
    return load_templates(DEFAULT_SET)


def expand(text: str, templates: tuple[str, ...]) -> list[str]:
    return [template.replace(PLACEHOLDER, text) for template in templates]


def is_short_query(text: str) -> bool:
    """A few words that do not already say what kind of picture they want."""
    return len(text.split()) <= SHORT_QUERY_WORDS and not _ALREADY_PHRASED.match(text.strip())
