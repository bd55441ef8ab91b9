"""Vector tiles of catalogue layers, with the drawer semantics of the collections and a cache."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from onemap.config.catalogue import Layer
from onemap.tiles import tms as tmsmod
from onemap.tiles.cache import TileCache, etag
from onemap.tiles.mvt import TileSpec

from .store import Store
from .store.base import When, today


@dataclass
class RenderedTile:
    data: bytes
    etag: str
    cache: str  # HIT, MISS or OFF


def tile_properties(layer: Layer) -> tuple[str, ...]:
    """Attributes carried in tiles: the layer's own fields (codes with their labels) and its drawer."""
    return tuple(f.name for f in layer.fields) + ("plan_id", "plan_level", "plan_version")


class VectorTileService:
    """Renders and caches one layer's tiles; ``when=None`` means the plans in force today."""

    def __init__(self, store: Store, cache_dir: Path | None, tz: str = "Asia/Shanghai") -> None:
        self.store = store
        self.cache = TileCache(cache_dir) if cache_dir is not None else None
        self.tz = tz

    def tile(self, layer: Layer, ref: tmsmod.TileRef, when: When | None) -> RenderedTile:
        datekey = "now" if when is None else f"{when.start or 'open'}_{when.end or 'open'}"
        path = None
        if self.cache is not None:
            path = self.cache.path(layer.id, ref.tms_id, datekey, ref.z, ref.x, ref.y)
            data = self.cache.get(path, layer.id, ref.lonlat, self.store.tile_invalidations())
            if data is not None:
                return RenderedTile(data, etag(data), "HIT")
        started = time.time()
        plan_ids = self.store.plans_in_force(when or When.at(today(self.tz)), None, layer)
        spec = TileSpec(layer_name=layer.id, ref=ref, plan_ids=plan_ids, properties=tile_properties(layer))
        data = self.store.vector_tile(layer, spec)
        if path is not None:
            self.cache.put(path, data, started)
        return RenderedTile(data, etag(data), "MISS" if path is not None else "OFF")
