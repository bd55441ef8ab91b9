"""Host-wide slots for heavy work, so that light requests stay answered while reviews run.

gunicorn's sync workers answer one request each: when every worker runs a long execution,
a ``/collections`` request waits for one of them (measured before: two 99,000-vertex
compliance reviews held ``/collections`` for 24.5 s). Every process execution on a host,
synchronous or a job thread's, first takes one of ``heavy_slots`` slots; with fewer slots
than workers a worker is always free for the light requests. A synchronous execution that
finds no slot within a moment is a 503 with ``Retry-After`` (nothing was started); a job
thread leaves its job queued until a slot is free.

A slot is an exclusive ``flock`` on one of the slot files in the data directory's ``run``
folder: every server process of the host counts against the same slots, and a process
that dies frees its slot with it (the kernel drops its locks).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Self

from onemap.config.errors import ServiceUnavailable

POLL_SECONDS = 0.1


class Busy(ServiceUnavailable):
    """Every slot for heavy work on this host is taken (503, try again shortly)."""

    retry_after = 10


class Slot:
    """One slot held by this process; released by ``release`` or at the end of a ``with`` block."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class HeavySlots:
    """The ``count`` slots of a host, kept as lock files under ``folder``."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder = folder
        self.count = count

    def take(self, wait: float = 0.0) -> Slot | None:
        """A free slot, waiting up to ``wait`` seconds for one; None when none came free."""
        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait
        while True:
            for i in range(self.count):
                fd = os.open(self.folder / f"heavy-{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                return Slot(fd)
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)

    def hold(self, wait: float) -> Slot:
        """A slot for a synchronous execution, or ``Busy`` (503) when none came free in ``wait`` seconds."""
        slot = self.take(wait)
        if slot is None:
            raise Busy(f"all {self.count} slot(s) for process executions on this server are taken; "
                       "try again shortly, or run it as an asynchronous job (Prefer: respond-async)")
        return slot
