"""A one-line progress report for the command line."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """A one-line progress report on stderr: done / total, rate and time left, redrawn at most 10 times a second."""

    REDRAW_INTERVAL_S = 0.1

    def __init__(self, label: str, unit: str = "MB", scale: float = 1e6):
        self.label, self.unit, self.scale = label, unit, scale
        self.started = time.monotonic()
        self.last_drawn = 0.0

    def __call__(self, done: int, total: int | None, note: str = "") -> None:
        now = time.monotonic()
        if now - self.last_drawn < self.REDRAW_INTERVAL_S and done != total:
            return
        self.last_drawn = now
        digits = 0 if self.scale == 1 else 1
        rate = done / self.scale / max(now - self.started, 1e-9)
        text = f"\r{self.label}: {done / self.scale:.{digits}f}"
        if total:
            left = (total - done) / self.scale / rate if rate > 0 else 0
            text += f" / {total / self.scale:.{digits}f} {self.unit} ({100 * done / total:.0f}%), " \
                    f"{rate:.1f} {self.unit}/s, {left:.0f} s left"
        else:
            text += f" {self.unit}, {rate:.1f} {self.unit}/s"
        print(text + (f", {note}" if note else "") + "\x1b[K", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr)

    def close_if_drawn(self) -> None:
        """End the line if anything was drawn (a quick step that never drew leaves no blank line)."""
        if self.last_drawn:
            self.close()
            self.last_drawn = 0.0
