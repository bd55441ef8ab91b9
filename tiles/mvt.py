"""Mapbox Vector Tile encoding rules shared by both backends.

Both backends select the same features for a tile (those of the plans in force whose
envelope meets the buffered tile, dropping those smaller than a screen pixel, at most
``cap`` of them, largest first); PostGIS encodes them with ST_AsMVT, the GeoPackage backend
with mapbox-vector-tile in Python (``encode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely

from .tms import TileRef

EXTENT = 4096
BUFFER = 64  # in tile units: lets line joins and labels continue across tile edges
DEFAULT_CAP = 20_000
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


@dataclass(frozen=True)
class TileSpec:
    """What to put into one layer of one tile."""

    layer_name: str
    ref: TileRef
    plan_ids: tuple[str, ...]
    properties: tuple[str, ...]
    cap: int = DEFAULT_CAP
    # entries that govern only part of their outline (view=governing): (plan id, that part as WKB)
    clip: tuple[tuple[str, bytes], ...] = ()

    def clip_areas(self) -> dict[str, shapely.Geometry] | None:
        """The partly governing entries' areas, as the store's query builders take them."""
        return {pid: shapely.from_wkb(wkb) for pid, wkb in self.clip} or None

    @property
    def min_size(self) -> float:
        """Features whose envelope is smaller than a screen pixel (degrees) are dropped: unseen anyway."""
        return self.ref.pixel_lonlat

    @property
    def tolerance(self) -> float:
        """Simplification tolerance in degrees: a quarter of a screen pixel."""
        return self.ref.pixel_lonlat * 0.25

    @property
    def query_bbox(self) -> tuple[float, float, float, float]:
        """The tile's lon/lat bounds grown by the buffer."""
        x0, y0, x1, y1 = self.ref.lonlat
        bx = (x1 - x0) * BUFFER / EXTENT
        by = (y1 - y0) * BUFFER / EXTENT
        return (x0 - bx, y0 - by, x1 + bx, y1 + by)

    @property
    def native_clip(self) -> tuple[float, float, float, float]:
        """The tile's bounds in its own CRS grown by the buffer (the clip box)."""
        x0, y0, x1, y1 = self.ref.native
        bx = (x1 - x0) * BUFFER / EXTENT
        by = (y1 - y0) * BUFFER / EXTENT
        return (x0 - bx, y0 - by, x1 + bx, y1 + by)


_R = 6378137.0


def mercator(x: Any, y: Any) -> tuple[Any, Any]:
    """Lon/lat (arrays or numbers) to spherical Web Mercator metres, latitudes clipped to its square."""
    # Spherical Web Mercator written out: PROJ only has a null datum shift from CGCS2000 to
    # WGS 84 anyway, and building its Transformer costs ~0.15 s.
    lat = np.clip(y, -85.05112878, 85.05112878)
    return np.radians(x) * _R, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _R


def _to_native(geoms: np.ndarray, ref: TileRef) -> np.ndarray:
    if ref.geographic:
        return geoms
    return shapely.transform(geoms, mercator, interleaved=False)


def encode(spec: TileSpec, fids: list[int], props: list[dict[str, Any]], wkb: list[bytes | None]) -> bytes:
    """One MVT layer from storage lon/lat geometries (the GeoPackage backend's path)."""
    if not fids:
        return b""
    geoms = shapely.from_wkb(np.array(wkb, dtype=object))
    geoms = shapely.simplify(geoms, spec.tolerance, preserve_topology=False)
    geoms = _to_native(geoms, spec.ref)
    geoms = shapely.clip_by_rect(geoms, *spec.native_clip)
    # into tile units in one vectorised pass (the encoder's own quantize transforms each
    # coordinate through Python)
    x0, y0, x1, y1 = spec.ref.native
    scale = np.array([EXTENT / (x1 - x0), EXTENT / (y1 - y0)])
    origin = np.array([x0, y0])
    geoms = shapely.transform(geoms, lambda xy: np.rint((xy - origin) * scale))
    features = []
    for fid, p, g in zip(fids, props, geoms):
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon", "LineString",
                                                          "MultiLineString", "Point", "MultiPoint"):
            continue
        features.append({"geometry": g, "id": int(fid),
                         "properties": {k: v for k, v in p.items() if v is not None}})
    if not features:
        return b""
    return mapbox_vector_tile.encode(
        [{"name": spec.layer_name, "features": features}],
        default_options={"extents": EXTENT,
                         "on_invalid_geometry": mapbox_vector_tile.encoder.on_invalid_geometry_make_valid})
