"""A terminal progress bar for long CLI commands (demo generation, loads, seeding, checks)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``stage [#####.....] 42%`` on one line of stderr, at most a few times a second."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.quiet = quiet
        self._last = 0.0
        self._stage = ""
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = time.monotonic()

    def __call__(self, stage: str, fraction: float) -> None:
        if self.quiet:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        now = time.monotonic()
        if stage == self._stage and fraction < 1.0 and now - self._last < (0.2 if self._tty else 5.0):
            return
        if stage != self._stage and self._stage and self._tty:
            self.stream.write("\n")
        self._stage = stage
        self._last = now
        filled = round(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"{stage:<28} [{bar}] {fraction * 100:5.1f}%  {now - self._started:6.1f}s"
        self.stream.write(("\r" + line) if self._tty else (line + "\n"))
        self.stream.flush()

    def done(self) -> None:
        if not self.quiet and self._tty and self._stage:
            self.stream.write("\n")
            self.stream.flush()
