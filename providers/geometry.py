"""Geometry encodings and measures shared by the store, the providers and the processes."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import overload

import numpy as np
import shapely
from pyproj import Geod

STORAGE_SRID = 4490
# CGCS2000's ellipsoid is GRS80 (the flattening differs from GRS80 by 1e-11: immaterial).
CGCS2000_GEOD = Geod(ellps="GRS80")
MU_PER_M2 = 15.0 / 10000.0  # 1 亩 = 10000/15 m²

_GPKG_MAGIC = b"GP"
# version 0; flags: envelope [minx,maxx,miny,maxy] (code 1 << 1) | little-endian (1)
_GPKG_FLAGS = 0x03
_HEADER = struct.Struct("<2sBBi4d")
_ENVELOPE_SIZES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def to_gpkg_blobs(geoms: np.ndarray | Sequence[shapely.Geometry], srs_id: int = STORAGE_SRID) -> list[bytes]:
    """GeoPackage geometry blobs (header with envelope + ISO WKB) for many geometries."""
    geoms = np.asarray(geoms, dtype=object)
    wkbs = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms)
    pack = _HEADER.pack
    out = []
    for wkb, (minx, miny, maxx, maxy) in zip(wkbs, bounds.tolist()):
        out.append(pack(_GPKG_MAGIC, 0, _GPKG_FLAGS, srs_id, minx, maxx, miny, maxy) + wkb)
    return out


def gpkg_header_size(blob: bytes) -> int:
    """Length of a GeoPackage blob's header (it depends on the envelope it carries)."""
    if blob[:2] != _GPKG_MAGIC:
        raise ValueError("not a GeoPackage geometry blob")
    return 8 + _ENVELOPE_SIZES[(blob[3] >> 1) & 0x07]


def gpkg_wkb(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob."""
    if blob is None:
        return None
    if blob[3] == _GPKG_FLAGS:  # our own writer: fixed header size
        return blob[40:]
    return blob[gpkg_header_size(blob):]


def gpkg_envelope(blob: bytes) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) from the header, or computed when the header has none."""
    flags = blob[3]
    little = flags & 1
    if (flags >> 1) & 0x07:
        return struct.unpack_from("<4d" if little else ">4d", blob, 8)
    if flags & 0x10:  # empty geometry
        return None
    minx, miny, maxx, maxy = shapely.from_wkb(gpkg_wkb(blob)).bounds
    return (minx, maxx, miny, maxy)


@overload
def geodesic_area(geoms: np.ndarray | Sequence[shapely.Geometry]) -> np.ndarray: ...


@overload
def geodesic_area(geoms: shapely.Geometry) -> float: ...


def geodesic_area(geoms: np.ndarray | Sequence[shapely.Geometry] | shapely.Geometry) -> np.ndarray | float:
    """Ellipsoidal area (m²) on CGCS2000 of lon/lat geometries (0 for lines, points and None).

    Rings are pulled out of all geometries at once and measured one C call each: pyproj's
    ``geometry_area_perimeter`` walks shapely objects in Python, ten times slower on many polygons.
    """
    single = isinstance(geoms, shapely.Geometry)
    arr = np.asarray([geoms] if single else list(geoms), dtype=object)
    out = np.zeros(len(arr), dtype=float)
    if len(arr):
        parts, part_of = shapely.get_parts(arr, return_index=True)
        polygons = shapely.get_type_id(parts) == 3
        parts, part_of = parts[polygons], part_of[polygons]
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        if len(rings):
            coords, coord_of = shapely.get_coordinates(rings, return_index=True)
            ends = np.cumsum(np.bincount(coord_of, minlength=len(rings)))
            starts = np.concatenate([[0], ends[:-1]])
            shell = np.concatenate([[True], ring_of[1:] != ring_of[:-1]])  # each polygon's first ring
            lon, lat = coords[:, 0], coords[:, 1]
            measure = CGCS2000_GEOD.polygon_area_perimeter
            ring_m2 = np.array([abs(measure(lon[a:b], lat[a:b])[0]) for a, b in zip(starts.tolist(), ends.tolist())])
            np.add.at(out, part_of[ring_of], np.where(shell, ring_m2, -ring_m2))
    return float(out[0]) if single else out


def area_units(m2: float) -> dict[str, float]:
    """An area in m², 公顷 (hectare) and 亩."""
    return {"m2": round(m2, 2), "ha": round(m2 / 10000.0, 4), "mu": round(m2 * MU_PER_M2, 3)}


def as_multi(geom: shapely.Geometry) -> shapely.Geometry:
    """Polygon -> MultiPolygon (and likewise lines and points); multis unchanged."""
    t = geom.geom_type
    if t == "Polygon":
        return shapely.MultiPolygon([geom])
    if t == "LineString":
        return shapely.MultiLineString([geom])
    if t == "Point":
        return shapely.MultiPoint([geom])
    return geom
