"""A disk cache of rendered tiles, invalidated by area and layer when the one map changes.

Registry transitions (filing, superseding, withdrawing a plan) record which layers and which
area change, and from when (a plan filed today to take effect next month changes the map
then, not now). A cached tile is stale when a recorded change of its layer, taking effect
after the tile was written and no later than now, covers the tile. The record lives in the
store, so every worker and every host sharing the cache sees it; nothing needs to delete
files at the moment of the change.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

Invalidation = tuple[str, tuple[float, float, float, float], float]
_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def etag(data: bytes) -> str:
    return '"' + hashlib.sha1(data).hexdigest()[:20] + '"'


def _intersects(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


class TileCache:
    """Tiles on disk, gzip-compressed, under ``root/{layer}/{tms}/{date}/{z}/{x}/{y}.mvt.gz``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, layer: str, tms_id: str, datekey: str, z: int, x: int, y: int) -> Path:
        for part in (layer, tms_id, datekey):
            if not _SAFE.match(part):
                raise ValueError(f"unsafe cache key part {part!r}")
        return self.root / layer / tms_id / datekey / str(z) / str(x) / f"{y}.mvt.gz"

    def get(self, path: Path, layer: str, bounds: tuple[float, float, float, float],
            invalidations: Iterable[Invalidation], now: float | None = None) -> bytes | None:
        """The cached tile, or None when there is none or a later change covers it."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        now = time.time() if now is None else now
        written = st.st_mtime
        for inv_layer, bbox, effective in invalidations:
            if inv_layer == layer and written < effective <= now and _intersects(bbox, bounds):
                return None
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def put(self, path: Path, data: bytes, rendered_at: float) -> None:
        """Write atomically (a concurrent reader sees the old tile or the new one, never half).

        The file's time is when rendering started, so a change recorded while the tile was
        being rendered still makes it stale.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tile-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.utime(tmp, (rendered_at, rendered_at))
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
