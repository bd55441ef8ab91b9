"""Tile matrix sets, as data: morecantile's WebMercatorQuad and WorldCRS84Quad, our CGCS2000
quad grid (tiles/tms/CGCS2000Quad.json) laid out like Tianditu's ``c`` matrix, and Tianditu's
own two grids with Tianditu's level numbers and scale denominators.

Tianditu's grids hold the same tiles as two of ours under other names: its 经纬度 grid
``c`` (``TiandituC``) numbers CGCS2000Quad's levels from 1 (its level n is our n - 1), and
its Web Mercator grid ``w`` (``TiandituW``) is WebMercatorQuad from level 1. Both give
scale denominators for 96 dpi screens where OGC's convention is a 0.28 mm pixel, so their
denominators are 5.8% larger than a standard client's reading of the same cell size.
A tile of either is worked out on its twin (``TileRef`` carries the twin's address), so
the two share one cache and one rendering.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import morecantile

from onemap.config.errors import NotFound

TMS_DIR = Path(__file__).parent / "tms"
ORDER = ("WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad", "TiandituC", "TiandituW")
# Tianditu's grids: (the grid with the same tiles, its level minus Tianditu's)
TWINS = {"TiandituC": ("CGCS2000Quad", -1), "TiandituW": ("WebMercatorQuad", 0)}
OGC_PIXEL_M = 0.28e-3  # the standardised rendering pixel that scale denominators assume
# Tiles deeper than this are not served: a parcel survey needs no finer than ~0.3 m pixels.
MAX_ZOOM = 20


@lru_cache(maxsize=1)
def registry() -> dict[str, morecantile.TileMatrixSet]:
    """Every tile matrix set OneMap serves, by id."""
    out = {}
    for tid in ORDER:
        path = TMS_DIR / f"{tid}.json"
        if path.exists():
            out[tid] = morecantile.TileMatrixSet.model_validate_json(path.read_text(encoding="utf-8"))
        else:
            out[tid] = morecantile.tms.get(tid)
    return out


def get(tms_id: str) -> morecantile.TileMatrixSet:
    tms = registry().get(tms_id)
    if tms is None:
        raise NotFound(f"tile matrix set {tms_id!r} is not offered; see /tileMatrixSets")
    return tms


def max_zoom(tms: morecantile.TileMatrixSet) -> int:
    return min(MAX_ZOOM, tms.maxzoom)


def min_zoom(tms: morecantile.TileMatrixSet) -> int:
    """The first level's number (1 for Tianditu's grids, else 0)."""
    return tms.minzoom


@dataclass(frozen=True)
class TileRef:
    """A validated tile address and its extent in lon/lat (storage) and in the tile's CRS."""

    tms_id: str
    z: int
    x: int  # column
    y: int  # row
    lonlat: tuple[float, float, float, float]
    native: tuple[float, float, float, float]  # xy bounds in the TMS CRS (x = easting/longitude)
    geographic: bool

    @property
    def pixel_lonlat(self) -> float:
        """The width of one 256-px screen pixel in degrees of longitude (for generalisation)."""
        return (self.lonlat[2] - self.lonlat[0]) / 256.0


def tile(tms_id: str, z: str | int, row: str | int, col: str | int) -> TileRef:
    """Check a tile address; outside the matrix is a 404 (never a 500)."""
    tms = get(tms_id)
    try:
        zi, yi, xi = int(z), int(row), int(col)
    except (TypeError, ValueError):
        raise NotFound("tile address must be integers: /{tileMatrix}/{tileRow}/{tileCol}") from None
    if not min_zoom(tms) <= zi <= max_zoom(tms):
        raise NotFound(f"tile matrix {z} is not in {tms_id} ({min_zoom(tms)}-{max_zoom(tms)})")
    m = tms.matrix(zi)
    if not (0 <= xi < m.matrixWidth and 0 <= yi < m.matrixHeight):
        raise NotFound(f"tile {z}/{row}/{col} is outside the {tms_id} matrix")
    return _ref(tms_id, zi, yi, xi)


@lru_cache(maxsize=100_000)
def _ref(tms_id: str, zi: int, yi: int, xi: int) -> TileRef:
    # morecantile transforms through pyproj CRS objects (~1 ms a tile): a cached tile is served
    # in about that time, so the same address is worked out once
    if tms_id in TWINS:
        twin, shift = TWINS[tms_id]
        return _ref(twin, zi + shift, yi, xi)
    tms = get(tms_id)
    t = morecantile.Tile(xi, yi, zi)
    xy = tms.xy_bounds(t)
    ll = tms.bounds(t)
    geographic = tms.crs._pyproj_crs.is_geographic
    return TileRef(tms_id, zi, xi, yi, (ll.left, ll.bottom, ll.right, ll.top),
                   (xy.left, xy.bottom, xy.right, xy.top), geographic)


def tms_document(tms: morecantile.TileMatrixSet) -> dict:
    """The OGC Two Dimensional Tile Matrix Set document (2.0), readable by TMS 1.0 clients too.

    GDAL up to 3.6 (Debian 12's) parses only the 1.0 JSON encoding (``type``, ``identifier``,
    ``supportedCRS``, ``tileMatrix`` with ``topLeftCorner``) and otherwise fails to open an
    OGC API tileset. The 1.0 members are added beside the 2.0 ones; 2.0 readers ignore them.
    A 1.0 reader has no cell size and derives it from the scale denominator with the 0.28 mm
    pixel, so the 1.0 members carry that standard denominator also for Tianditu's grids
    (whose own 96 dpi denominators, in the 2.0 members, would misplace every tile by 5.8%).
    """
    doc = json.loads(tms.model_dump_json(exclude_none=True))
    doc.setdefault("uri", f"http://www.opengis.net/def/tilematrixset/OGC/1.0/{tms.id}")
    doc["type"] = "TileMatrixSetType"
    doc["identifier"] = tms.id
    doc["supportedCRS"] = doc["crs"] if isinstance(doc["crs"], str) else str(tms.crs)
    mpu = 1.0 if not tms.crs._pyproj_crs.is_geographic else 2 * math.pi * 6378137.0 / 360
    doc["tileMatrix"] = [{
        "type": "TileMatrixType", "identifier": m["id"], "scaleDenominator": (m["cellSize"] * mpu / OGC_PIXEL_M if tms.id in TWINS else m["scaleDenominator"]),
        "topLeftCorner": m["pointOfOrigin"], "tileWidth": m["tileWidth"], "tileHeight": m["tileHeight"],
        "matrixWidth": m["matrixWidth"], "matrixHeight": m["matrixHeight"],
    } for m in doc["tileMatrices"]]
    return doc
