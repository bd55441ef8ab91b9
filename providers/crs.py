"""Coordinate reference systems offered by the API, and cached transformations.

Storage is CGCS2000 (EPSG:4490) with coordinates in lon/lat order, as PostGIS and
GeoPackage keep it. Output follows each CRS's authority axis order, as OGC API -
Features Part 2 requires: EPSG:4490 and EPSG:4326 are lat,lon; the Gauss-Krüger zones
are northing,easting; CRS84 and EPSG:3857 are x,y.

Building a pyproj Transformer can cost half a second (PROJ searches its database for
operations); each is built once per thread and reused.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

from onemap.config.errors import InvalidParameterValue, OneMapError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STORAGE_CRS = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
BASE_EPSG = (4490, 4326, 3857)
# CGCS2000 and WGS 84 coincide to centimetres; PROJ itself only knows a "ballpark" (null)
# transformation between them, so for CRS84 the stored lon/lat are returned as they are.
_LONLAT_EQUIVALENT = {CRS84}

_URI_RE = re.compile(r"^https?://www\.opengis\.net/def/crs/(EPSG|OGC)/[^/]+/([A-Za-z0-9]+)$")
_URN_RE = re.compile(r"^urn:ogc:def:crs:(EPSG|OGC):[^:]*:([A-Za-z0-9]+)$", re.IGNORECASE)
_CURIE_RE = re.compile(r"^\[?(EPSG|OGC):([A-Za-z0-9]+)\]?$", re.IGNORECASE)


def gk3_zone_epsg(lon: float, prefixed: bool = True) -> int:
    """The CGCS2000 3-degree Gauss-Krüger zone CRS for a longitude.

    Zones 25-45 (central meridians 75°E-135°E); zone-prefixed eastings are EPSG 4513-4533,
    central-meridian variants 4534-4554.
    """
    zone = round(lon / 3.0)
    if not 25 <= zone <= 45:
        raise InvalidParameterValue(f"longitude {lon} is outside China's Gauss-Krüger zones")
    return (4488 if prefixed else 4509) + zone


def normalize_crs(value: str) -> str:
    """Any accepted spelling of a CRS -> its canonical URI (``EPSG:4490`` is accepted)."""
    v = value.strip()
    for rx in (_URI_RE, _URN_RE, _CURIE_RE):
        m = rx.match(v)
        if m:
            authority, code = m.group(1).upper(), m.group(2)
            if authority == "OGC":
                if code.upper() == "CRS84":
                    return CRS84
                break
            if not code.isdigit():
                break
            return EPSG_URI.format(code=int(code))
    if v.upper() == "CRS84":
        return CRS84
    raise InvalidParameterValue(f"{value!r} is not a CRS this server recognises")


def crs_code(uri: str) -> int | None:
    """The EPSG code of a canonical URI (None for CRS84)."""
    if uri == CRS84:
        return None
    return int(uri.rsplit("/", 1)[1])


@dataclass(frozen=True)
class CrsInfo:
    uri: str
    epsg: int | None
    flip: bool  # authority axis order is northing/latitude first

    @property
    def code(self) -> int:
        """The EPSG code PROJ transforms with (CRS84, which has none, is handled before PROJ is asked)."""
        if self.epsg is None:
            raise OneMapError(f"{self.uri} has no EPSG code to transform with")
        return self.epsg


@lru_cache(maxsize=64)
def crs_info(uri: str) -> CrsInfo:
    code = crs_code(uri)
    if code is None:
        return CrsInfo(uri, None, False)
    crs = CRS.from_epsg(code)
    first = crs.axis_info[0].direction.lower() if crs.axis_info else "east"
    return CrsInfo(uri, code, first == "north")


def supported_crs(gk_epsg: int | None) -> list[str]:
    """The CRS URIs every collection offers: CRS84 first (the default), then the rest."""
    codes = list(BASE_EPSG)
    if gk_epsg:
        codes.append(gk_epsg)
    return [CRS84, *(EPSG_URI.format(code=c) for c in codes)]


def parse_crs(value: str | None, supported: list[str], what: str = "crs") -> str:
    """Validate a ``crs``/``bbox-crs``/``filter-crs`` parameter (Part 2: unsupported is a 400)."""
    if value is None or value == "":
        return CRS84
    try:
        uri = normalize_crs(value)
    except InvalidParameterValue:
        raise InvalidParameterValue(f"{what}: {value!r} is not a CRS URI; offered: {', '.join(supported)}") from None
    if uri not in supported:
        raise InvalidParameterValue(f"{what}: {value!r} is not offered; offered: {', '.join(supported)}")
    return uri


_local = threading.local()


def _transformer(src: int, dst: int) -> Transformer:
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    t = cache.get((src, dst))
    if t is None:
        # authority axis order on both sides; callers feed and read arrays accordingly
        t = cache[(src, dst)] = Transformer.from_crs(CRS.from_epsg(src), CRS.from_epsg(dst))
    return t


def _swap(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return y, x


def to_output(uri: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function transforming storage lon/lat geometries into ``uri`` (None: no change)."""
    if uri in _LONLAT_EQUIVALENT:
        return None
    info = crs_info(uri)
    if info.epsg == 4490:
        return lambda geoms: shapely.transform(geoms, _swap, interleaved=False)
    t = _transformer(4490, info.code)

    def fn(geoms: np.ndarray) -> np.ndarray:
        # 4490's authority order is lat,lon: feed (lat, lon); results come in the target's order
        return shapely.transform(geoms, lambda x, y: t.transform(y, x), interleaved=False)

    return fn


def to_storage(uri: str) -> Callable[[shapely.Geometry], shapely.Geometry] | None:
    """A function transforming a geometry given in ``uri`` into storage lon/lat."""
    if uri in _LONLAT_EQUIVALENT:
        return None
    info = crs_info(uri)
    if info.epsg == 4490:
        return lambda g: shapely.transform(g, _swap, interleaved=False)
    t = _transformer(info.code, 4490)

    def fn(g: shapely.Geometry) -> shapely.Geometry:
        # output of the 4490 side is lat,lon: swap back into lon/lat
        return shapely.transform(g, lambda a, b: _swap(*t.transform(a, b)), interleaved=False)

    return fn


def bbox_to_storage(bbox: tuple[float, ...], uri: str) -> tuple[float, float, float, float]:
    """A bbox given in ``uri`` (its axis order) as a lon/lat bbox in storage."""
    if len(bbox) == 6:
        bbox = (bbox[0], bbox[1], bbox[3], bbox[4])
    a0, b0, a1, b1 = bbox
    if uri in _LONLAT_EQUIVALENT:
        return (a0, b0, a1, b1)
    info = crs_info(uri)
    if info.epsg == 4490:
        return (b0, a0, b1, a1)
    t = _transformer(info.code, 4490)
    # densified edges: a projected box is not a lon/lat box
    lat0, lon0, lat1, lon1 = t.transform_bounds(a0, b0, a1, b1, densify_pts=21)
    return (lon0, lat0, lon1, lat1)


def warm_up(uris: list[str]) -> None:
    """Build this thread's transformers now rather than in the first request."""
    for uri in uris:
        to_output(uri)
        to_storage(uri)
