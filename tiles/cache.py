"""A disk cache of rendered tiles, invalidated by area and layer when the one map changes.

Registry transitions (filing, superseding, withdrawing a plan) record which layers and which
area change, and from when (a plan filed today to take effect next month changes the map
then, not now). A cached tile is stale when a recorded change of its layer, taking effect
after the tile was written and no later than now, covers the tile. The record lives in the
store, so every worker and every host sharing the cache sees it; nothing needs to delete
files at the moment of the change.

Each file ends with a checksum of the tile it holds: a file cut short or damaged on disk is
not served but rendered again (and rewritten). The cache is a help, never a need: a disk that
is full, read-only or not a folder any more only costs rendering (said in the log now and then),
and the cache is used again as soon as it can be written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

LOG = logging.getLogger(__name__)
Invalidation = tuple[str, tuple[float, float, float, float], float]
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")
# after the tile: this mark and the CRC-32 of the tile (a check at memory speed, no decompression)
_MARK = b"OMT1"
_TRAILER = len(_MARK) + 4
LOG_EVERY_SECONDS = 60.0  # a cache that cannot be used is said at most this often (per process)


def _sealed(data: bytes) -> bytes:
    return data + _MARK + zlib.crc32(data).to_bytes(4, "big")


def _unsealed(raw: bytes) -> bytes | None:
    """The tile of a cache file, or None when the file is not whole (cut short, damaged, an old format)."""
    data, mark, crc = raw[:-_TRAILER], raw[-_TRAILER:-4], raw[-4:]
    if len(raw) < _TRAILER or mark != _MARK or zlib.crc32(data).to_bytes(4, "big") != crc:
        return None
    return data


def etag(data: bytes) -> str:
    return '"' + hashlib.sha1(data).hexdigest()[:20] + '"'


def _intersects(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


class TileCache:
    """Tiles on disk under ``root/{layer}/{tms}/{date}/{z}/{x}/{y}{suffix}`` (vector tiles gzip-compressed
    as ``.mvt.gz``, map tiles as ``.png``)."""

    def __init__(self, root: Path, suffix: str = ".mvt.gz") -> None:
        self.root = Path(root)
        self.suffix = suffix
        self._said_at = float("-inf")
        self._unsaid = 0  # failures since the last line in the log
        self._say_lock = threading.Lock()

    def _trouble(self, what: str, err: OSError | None = None) -> None:
        """Log a cache failure, at most once a minute (the count of the others with it)."""
        with self._say_lock:
            self._unsaid += 1
            now = time.monotonic()
            if now - self._said_at < LOG_EVERY_SECONDS:
                return
            n, self._unsaid, self._said_at = self._unsaid, 0, now
        reason = f"{err.strerror or type(err).__name__} ({err.filename})" if err is not None else "a damaged file"
        LOG.warning("tile cache: %s: %s; tiles are rendered and answered meanwhile (%d such failure(s) since "
                    "the last report)", what, reason, n)

    def path(self, layer: str, tms_id: str, datekey: str, z: int, x: int, y: int) -> Path:
        for part in (layer, tms_id, datekey):
            if not _SAFE.match(part):
                raise ValueError(f"unsafe cache key part {part!r}")
        return self.root / layer / tms_id / datekey / str(z) / str(x) / f"{y}{self.suffix}"

    def get(self, path: Path, layer: str, bounds: tuple[float, float, float, float],
            invalidations: Iterable[Invalidation], now: float | None = None) -> bytes | None:
        """The cached tile, or None when there is none, a later change covers it or the file is not whole."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as err:  # e.g. a file where a folder should be: no cache here for now
            self._trouble("cannot read the cache", err)
            return None
        now = time.time() if now is None else now
        written = st.st_mtime
        for inv_layer, bbox, effective in invalidations:
            if inv_layer == layer and written < effective <= now and _intersects(bbox, bounds):
                return None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            self._trouble("cannot read the cache", err)
            return None
        data = _unsealed(raw)
        if data is None:
            self._trouble(f"{path.name} is damaged and is rendered again")
        return data

    def put(self, path: Path, data: bytes, rendered_at: float) -> bool:
        """Write atomically (a concurrent reader sees the old tile or the new one, never half).

        The file's time is when rendering started, so a change recorded while the tile was
        being rendered still makes it stale. False when the cache cannot be written (a full disk,
        no permission, a file in the way): logged now and then, the tile is answered anyway.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tile-")
        except OSError as err:
            self._trouble("cannot write the cache", err)
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_sealed(data))
            os.utime(tmp, (rendered_at, rendered_at))
            os.replace(tmp, path)
        except BaseException as err:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(err, OSError):
                self._trouble("cannot write the cache", err)
                return False
            raise
        return True
