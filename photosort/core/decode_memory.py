"""How much memory the photo decodes of one process may hold at once.

A photo's decoded size has little to do with its file's: a 731 KB PNG can hold 15000 x 16000 pixels, about 1 GB
once decoded. Indexing decodes several photos side by side, so a few such files at once would exhaust the
machine. Each decode reserves what it will allocate before it allocates it; when the reservations would go over
the budget, it waits for the ones ahead of it to finish, and one that could never fit is refused with a reason.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import PhotoError

BUDGET_VARIABLE = "PHOTOSORT_DECODE_MEMORY"  # bytes, or with a suffix: 512M, 2G; overrides the default below
RAM_SHARE = 4  # decodes get a quarter of the memory: the rest is for the model, the app and the user's programs
FALLBACK_RAM = 8 * 2**30  # where the system does not say how much memory it has: a modest machine's
# Container limits (cgroup v2, then v1): a process in a container gets those, not the host's memory.
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_MULTIPLIERS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class MemoryGate:
    """A budget of bytes shared by the threads of a process; reservations are granted in the order asked."""

    def __init__(self, budget: int):
        self.budget = budget
        self._reserved = 0
        self._waiting: deque[object] = deque()  # one token per waiting reservation, oldest first
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, size: int) -> Iterator[None]:
        """Hold `size` bytes of the budget for the duration; PhotoError if it exceeds the whole budget."""
        if size > self.budget:
            raise _too_large(size)
        self._acquire(size)
        try:
            yield
        finally:
            self._release(size)

    def set_budget(self, budget: int) -> None:
        with self._changed:
            self.budget = budget
            self._changed.notify_all()

    def _acquire(self, size: int) -> None:
        # First come, first served: a large photo is not starved by a stream of small ones behind it, and photos
        # are handed on in the order they were asked for, so the first one in line is the one awaited.
        turn = object()
        with self._changed:
            self._waiting.append(turn)
            try:
                while self._waiting[0] is not turn or self._reserved + size > self.budget:
                    if size > self.budget:  # the budget shrank while it waited
                        raise _too_large(size)
                    self._changed.wait()
            finally:
                self._waiting.remove(turn)
                self._changed.notify_all()  # the next in line may now fit
            self._reserved += size

    def _release(self, size: int) -> None:
        with self._changed:
            self._reserved -= size
            self._changed.notify_all()


def _too_large(size: int) -> PhotoError:
    amount = f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{max(1, round(size / 2**20))} MB"
    return PhotoError(f"too large to decode with the memory available (needs about {amount})")


def parse_size(text: str) -> int | None:
    """Bytes from "1073741824", "512M", "2G" or "1.5GB" (binary multiples); None if it is not a size."""
    match = _SIZE.fullmatch(text)
    if not match:
        return None
    return int(float(match.group(1)) * _MULTIPLIERS[match.group(2).lower()])


def physical_memory() -> int:
    """This machine's memory, or the container's limit if lower; FALLBACK_RAM where neither can be read."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or a name it does not know
        memory = FALLBACK_RAM
    for limit_file in CGROUP_LIMITS:
        try:
            with open(limit_file) as file:
                limit = parse_size(file.read())
        except OSError:
            continue
        if limit:  # "max" (no limit) does not parse
            memory = min(memory, limit)
    return memory if memory > 0 else FALLBACK_RAM


def total_budget() -> int:
    """$PHOTOSORT_DECODE_MEMORY if it is a size, else a quarter of the memory."""
    override = parse_size(os.environ.get(BUDGET_VARIABLE, ""))
    return override if override else physical_memory() // RAM_SHARE


_gate: MemoryGate | None = None
_gate_lock = threading.Lock()


def gate() -> MemoryGate:
    """The process's gate, made on first use (so that a test or a pool initializer can set the budget first)."""
    global _gate
    with _gate_lock:
        if _gate is None:
            _gate = MemoryGate(total_budget())
        return _gate


def share_among(processes: int) -> None:
    """Give this process its share of the budget, when `processes` processes decode side by side."""
    gate().set_budget(total_budget() // max(1, processes))
