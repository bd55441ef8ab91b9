"""The request kinds of the comparison, and each server's URL dialect for them.

A kind is built once from server-neutral parameters (boxes, codes, ids, tiles, squares),
then ``requests(kind, server)`` turns it into that server's URLs, or an ``NA`` with the
reason the server cannot answer it. Each kind also says what a correct answer looks like
(``Expect``), checked on a sample before anything is timed.

Dialects (collection ids: OneMap ``dltb``; tipg ``bench.dltb``; pygeoapi ``dltb``):

- bbox: OneMap and tipg take a CRS84 ``bbox``. Stock pygeoapi with ``storage_crs``
  EPSG:4490 transforms a CRS84 bbox with EPSG axis order (latitude first) and finds
  nothing; it is sent ``bbox-crs=EPSG:4490`` with the box longitude first, which it
  passes to PostGIS untransformed and which finds the right parcels.
- output CRS: ``crs=http://www.opengis.net/def/crs/EPSG/0/4490``; tipg has no ``crs``
  parameter (it ignores it and always answers CRS84), so that kind is n/a for tipg.
- CQL2 text: ``filter=`` (OneMap), ``filter=&filter-lang=cql2-text`` (tipg),
  ``filter=&filter-lang=cql-text`` (pygeoapi).
- deep page: every server's own ``next`` links, followed from the page at offset 100000
  (OneMap's next links carry a keyset ``after``; tipg's and pygeoapi's an ``offset``).
- tiles: WebMercatorQuad; OneMap and pygeoapi ``{z}/{row}/{col}``, tipg ``{z}/{x}/{y}``.
"""

from __future__ import annotations

import json
import random
import urllib.parse
from dataclasses import dataclass, field

from .loadgen import Request

CENTER = (117.066, 31.483)  # the demo's central city (same region for every --parcels)
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
KM_LAT = 1 / 111.0  # degrees of latitude per km
KM_LON = KM_LAT / 0.8527  # ... of longitude at 31.5°N
CODES = ("0101", "0103", "0301", "0702", "1101")
DEEP_OFFSET = 100_000


@dataclass(frozen=True)
class NA:
    """A kind a server cannot answer, and why."""

    reason: str


@dataclass
class Expect:
    """What a correct sample answer is: a GeoJSON page of ``count`` features, one feature,
    a vector tile, a process result or an image."""

    what: str  # features | feature | mvt | process | image
    count: int | None = None
    feature_id: int | None = None


@dataclass
class Kind:
    id: str
    title: str
    mode: str = "wrk"  # wrk: cycle for --duration; once: each request once (cold tiles)
    only: tuple[str, ...] = ()  # servers that have it (empty: all)
    params: list = field(default_factory=list)
    expect: Expect = field(default_factory=lambda: Expect("features"))
    group: str = "features"
    zoom: int | None = None
    # a kind whose target is a ratio to another kind of the same server: the two are timed in
    # alternating rounds, so that the machine's drift falls on both alike
    paired_with: str | None = None


def boxes(n: int, half_deg: float, spread: float, seed: int, center: tuple[float, float] = CENTER
          ) -> list[tuple[float, float, float, float]]:
    """``n`` different boxes of ``2*half_deg`` around ``center`` (lon/lat)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = center[0] + rng.uniform(-spread, spread)
        y = center[1] + rng.uniform(-spread, spread)
        out.append((round(x - half_deg, 5), round(y - half_deg, 5), round(x + half_deg, 5), round(y + half_deg, 5)))
    return out


def squares(n: int, seed: int = 5, spread: float = 0.12) -> list[dict]:
    """``n`` different 1 km² squares (GeoJSON polygons) around the central city."""
    out = []
    for x0, y0, x1, y1 in boxes(n, 0, spread, seed):
        dx, dy = KM_LON / 2, KM_LAT / 2
        out.append({"type": "Polygon", "coordinates": [[[x0 - dx, y0 - dy], [x0 + dx, y0 - dy], [x0 + dx, y0 + dy],
                                                        [x0 - dx, y0 + dy], [x0 - dx, y0 - dy]]]})
    return out


def tiles(z: int, region: tuple[float, float, float, float], limit: int, center: tuple[float, float] = CENTER
          ) -> list[tuple[int, int, int]]:
    """Distinct WebMercatorQuad tiles (z, x, y) over ``region``, nearest to ``center`` first, at most ``limit``."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    c = tms.tile(center[0], center[1], z)
    found = [(t.z, t.x, t.y) for t in tms.tiles(*region, [z])]
    found.sort(key=lambda t: ((t[1] - c.x) ** 2 + (t[2] - c.y) ** 2, t[1], t[2]))
    return found[:limit]


def build(n: int, region: tuple[float, float, float, float], fid_range: tuple[int, int],
          tile_limit: int = 200, zooms: tuple[int, ...] = (8, 12, 14), deep_offset: int = DEEP_OFFSET) -> list[Kind]:
    """Every kind, with ``n`` different requests each (tiles: the distinct tiles over the region).

    ``deep_offset``: where the deep pages start (100,000 unless the layer is smaller).
    """
    small = boxes(n, 0.0045, 0.15, seed=1)  # ~0.85 km x 1 km
    mid = boxes(n, 0.025, 0.1, seed=2)  # ~5 km: more than 1000 parcels at 100k+ parcels
    lo, hi = fid_range
    rng = random.Random(3)
    ids = rng.sample(range(lo, hi + 1), min(n, hi - lo + 1))
    kinds = [
        Kind("bbox", "items, bbox ~1 km, limit 100", params=small),
        Kind("bbox-crs", "items, bbox ~1 km, limit 100, crs=EPSG:4490", params=small, paired_with="bbox"),
        Kind("limit1000", "items, limit 1000 (bbox ~5 km)", params=mid, expect=Expect("features", 1000)),
        Kind("cql2", "items, CQL2 filter DLBM='..' AND TBMJ > x, limit 100",
             params=[(CODES[i % len(CODES)], 1000 + 37 * i) for i in range(n)]),
        Kind("deep", f"items, deep page (next links from offset {deep_offset:,}), limit 100", params=[deep_offset],
             expect=Expect("features", 100)),
        Kind("item", "single item by id", params=ids, expect=Expect("feature")),
    ]
    for z in zooms:
        ts = tiles(z, region, tile_limit)
        kinds.append(Kind(f"tile-z{z}-cold", f"MVT z{z} cold ({len(ts)} distinct tiles, each once)", mode="once",
                          params=ts, expect=Expect("mvt"), group="tiles", zoom=z))
        kinds.append(Kind(f"tile-z{z}-cached", f"MVT z{z} cached (same tiles again)", params=ts,
                          expect=Expect("mvt"), group="tiles", zoom=z))
    kinds.append(Kind("compliance", "compliance review of 1 km² (POST)", only=("onemap",),
                      params=squares(n), expect=Expect("process"), group="processes"))
    kinds.append(Kind("wmts", "WMTS basemap tile z14, cached", only=("onemap",),
                      params=tiles(14, region, max(n, 50)), expect=Expect("image"), group="tiles"))
    return kinds


def _q(pairs: list[tuple[str, str]]) -> str:
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote, safe=",:/")


def _bbox(b: tuple[float, float, float, float]) -> str:
    return ",".join(f"{v:.5f}" for v in b)


COLLECTION = {"onemap": "dltb", "tipg": "bench.dltb", "pygeoapi": "dltb"}


def _bbox_pairs(server: str, b: tuple[float, float, float, float]) -> list[tuple[str, str]]:
    if server == "pygeoapi":
        # see the module docstring: the only bbox stock pygeoapi answers correctly on SRID 4490
        return [("bbox", _bbox(b)), ("bbox-crs", EPSG4490)]
    return [("bbox", _bbox(b))]


def requests(kind: Kind, server: str) -> list[Request] | NA:
    """The kind in ``server``'s dialect (deep pages: the start URL, see ``deep_start``)."""
    if kind.only and server not in kind.only:
        return NA({"compliance": "no processes", "wmts": "no raster basemap service"}.get(kind.id, "not offered"))
    items = f"/collections/{COLLECTION[server]}/items"
    if kind.id == "bbox":
        return [Request(f"{items}?{_q([('limit', '100'), *_bbox_pairs(server, b)])}") for b in kind.params]
    if kind.id == "bbox-crs":
        if server == "tipg":
            return NA("no crs parameter (OGC API Features Part 2): always answers CRS84")
        return [Request(f"{items}?{_q([('limit', '100'), *_bbox_pairs(server, b), ('crs', EPSG4490)])}")
                for b in kind.params]
    if kind.id == "limit1000":
        return [Request(f"{items}?{_q([('limit', '1000'), *_bbox_pairs(server, b)])}") for b in kind.params]
    if kind.id == "cql2":
        lang = {"onemap": [], "tipg": [("filter-lang", "cql2-text")], "pygeoapi": [("filter-lang", "cql-text")]}
        return [Request(f"{items}?{_q([('limit', '100'), ('filter', f'DLBM={code!r} AND TBMJ > {x}'), *lang[server]])}")
                for code, x in kind.params]
    if kind.id == "deep":
        return [Request(f"{items}?{_q([('limit', '100'), ('offset', str(kind.params[0]))])}")]
    if kind.id == "item":
        return [Request(f"{items}/{fid}") for fid in kind.params]
    if kind.group == "tiles" and kind.id.startswith("tile-"):
        base = f"/collections/{COLLECTION[server]}/tiles/WebMercatorQuad"
        if server == "tipg":
            return [Request(f"{base}/{z}/{x}/{y}") for z, x, y in kind.params]
        fmt = "?f=mvt" if server == "pygeoapi" else ""  # pygeoapi answers 400 without it
        return [Request(f"{base}/{z}/{y}/{x}{fmt}") for z, x, y in kind.params]
    if kind.id == "compliance":
        return [Request("/processes/compliance-review/execution", "POST",
                        json.dumps({"inputs": {"boundary": sq, "land_use": "1001"}}).encode(), "application/json")
                for sq in kind.params]
    if kind.id == "wmts":
        return [Request(f"/basemaps/wmts/basemap/WebMercatorQuad/{z}/{x}/{y}.jpeg") for z, x, y in kind.params]
    raise ValueError(f"unknown kind {kind.id}")


def next_link(doc: dict) -> str | None:
    """The ``next`` link of a GeoJSON page, as a path with its query."""
    for link in doc.get("links", []):
        if link.get("rel") == "next":
            u = urllib.parse.urlsplit(link["href"])
            return u.path + ("?" + u.query if u.query else "")
    return None
