"""The devices a person can ask photosort to encode on: one vocabulary for the command line (`--device`), the
desktop app's settings and the engine (`photosort.clip.resolve_device`, which also takes `cuda:N`).

Plain Python with no Qt or torch, so every layer may use it.
"""

from __future__ import annotations

AUTO = "auto"
DEVICES = {  # value: how a person reads it
    AUTO: "Automatic (the GPU when there is one)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (Metal)",
}
# What an earlier app version stored for "whichever GPU there is": read as the automatic choice, which picks it.
_EARLIER_NAMES = {"gpu": AUTO}


def known_device(value: str | None) -> str:
    """A stored or typed choice as one of DEVICES; anything else is the automatic choice."""
    value = (value or AUTO).strip().lower()
    value = _EARLIER_NAMES.get(value, value)
    return value if value in DEVICES else AUTO
