"""Resolving duplicate clusters: everything but the keeper goes to the system trash, never deleted outright.

Photos under a reference folder are never touched. A file that changed since the library last read it (other
size or modification time) is left alone: the decision was made about a different file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Photo
from .dupes import Cluster


@dataclass(frozen=True)
class Step:
    photo: Photo
    keep: Photo
    kind: str


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    protected: list[Photo] = field(default_factory=list)  # in a reference folder: left as they are


@dataclass
class Outcome:
    moved: list[Step] = field(default_factory=list)
    failed: list[tuple[Step, str]] = field(default_factory=list)


def plan(clusters: Iterable[Cluster], reference: Sequence[Path] = ()) -> Plan:
    result = Plan()
    for cluster in clusters:
        for photo in cluster.members:
            if photo.id == cluster.keep.id:
                continue
            if under_any(photo.path, reference):
                result.protected.append(photo)
            else:
                result.steps.append(Step(photo, cluster.keep, cluster.kind))
    return result


def under_any(path: str, folders: Iterable[Path]) -> bool:
    """Whether a path is one of the folders or lies under one."""
    return any(Path(path).is_relative_to(folder) for folder in folders)


def carry_out(steps: Iterable[Step]) -> Outcome:
    """Move each step's photo to the trash; one that cannot be moved is reported and the rest go on."""
    outcome = Outcome()
    for step in steps:
        reason = _unchanged(step.keep, "the photo to keep") or move_to_trash(step.photo)
        if reason is None:
            outcome.moved.append(step)
        else:
            outcome.failed.append((step, reason))
    return outcome


def move_to_trash(photo: Photo) -> str | None:
    """Move one photo to the system trash if it is still the file the library read; None, or why not."""
    from send2trash import send2trash
    from send2trash.exceptions import TrashPermissionError

    reason = _unchanged(photo)
    if reason is None:
        try:
            send2trash(photo.file)
        except (OSError, TrashPermissionError) as error:
            reason = f"could not move it to the trash: {getattr(error, 'strerror', None) or error}"
    return reason


def _unchanged(photo: Photo, what: str = "it") -> str | None:
    try:
        stat = os.stat(photo.file)
    except FileNotFoundError:
        return f"{what} is gone" if what != "it" else "it is gone already"
    except OSError as error:
        return f"cannot read {what}: {error.strerror or error}"
    if stat.st_size != photo.size or stat.st_mtime_ns != photo.mtime_ns:
        return f"{what} changed since the library read it: run `photosort index` and look again"
    return None
