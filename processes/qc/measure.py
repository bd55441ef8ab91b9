"""Vectorised measures on lon/lat polygons: geodesic area and perimeter, the sharpest vertex angle."""

from __future__ import annotations

import numpy as np
import shapely

from onemap.providers.geometry import CGCS2000_GEOD


def geodesic_area_perimeter(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area (m², holes subtracted) and perimeter (m, every ring) of each polygonal geometry on CGCS2000.

    Rings are pulled out of all geometries at once and measured one C call each (as
    ``providers.geometry.geodesic_area`` does); None and non-polygons measure 0.
    """
    geoms = np.asarray(geoms, dtype=object)
    area = np.zeros(len(geoms))
    perim = np.zeros(len(geoms))
    if not len(geoms):
        return area, perim
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    polygons = shapely.get_type_id(parts) == 3
    parts, part_of = parts[polygons], part_of[polygons]
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    if not len(rings):
        return area, perim
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    ends = np.cumsum(np.bincount(coord_of, minlength=len(rings)))
    starts = np.concatenate([[0], ends[:-1]])
    shell = np.concatenate([[True], ring_of[1:] != ring_of[:-1]])
    lon, lat = np.ascontiguousarray(coords[:, 0]), np.ascontiguousarray(coords[:, 1])
    # the C routine behind Geod.polygon_area_perimeter, without the buffer copies the public method
    # makes for every call (half the time on a million rings); the same numbers either way
    measure = getattr(CGCS2000_GEOD, "_polygon_area_perimeter", None) or CGCS2000_GEOD.polygon_area_perimeter
    ring_a = np.empty(len(rings))
    ring_p = np.empty(len(rings))
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        ra, rp = measure(lon[a:b], lat[a:b])
        ring_a[k], ring_p[k] = abs(ra), rp
    owner = part_of[ring_of]
    np.add.at(area, owner, np.where(shell, ring_a, -ring_a))
    np.add.at(perim, owner, ring_p)
    return area, perim


def sharpest_angles(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per geometry: the smallest interior angle at any vertex (degrees; 180 where none) and its
    vertex (lon, lat). Angles are taken in a local frame where a degree of longitude is scaled
    by cos(latitude), so they are true angles on the ground.
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    best = np.full(n, 180.0)
    bx = np.full(n, np.nan)
    by = np.full(n, np.nan)
    if not n:
        return best, bx, by
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    polygons = shapely.get_type_id(parts) == 3
    parts, part_of = parts[polygons], part_of[polygons]
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    if not len(rings):
        return best, bx, by
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(coord_of, minlength=len(rings))
    # drop each ring's closing point; a ring of m distinct points has vertices 0..m-1
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    m = counts - 1
    keep = np.ones(len(coords), dtype=bool)
    keep[starts + counts - 1] = False
    c = coords[keep]
    ring_idx = coord_of[keep]
    new_starts = np.concatenate([[0], np.cumsum(m)[:-1]])
    pos = np.arange(len(c)) - new_starts[ring_idx]
    mm = m[ring_idx]
    prev = new_starts[ring_idx] + (pos - 1) % mm
    nxt = new_starts[ring_idx] + (pos + 1) % mm
    scale = np.cos(np.radians(c[:, 1]))
    ax, ay = (c[prev, 0] - c[:, 0]) * scale, c[prev, 1] - c[:, 1]
    bx_, by_ = (c[nxt, 0] - c[:, 0]) * scale, c[nxt, 1] - c[:, 1]
    la, lb = np.hypot(ax, ay), np.hypot(bx_, by_)
    ok = (la > 0) & (lb > 0) & (mm >= 3)
    ang = np.full(len(c), 180.0)
    ang[ok] = np.degrees(np.arctan2(np.abs(ax * by_ - ay * bx_)[ok], (ax * bx_ + ay * by_)[ok]))
    owner = part_of[ring_of[ring_idx]]
    np.minimum.at(best, owner, ang)
    hit = ang <= best[owner]
    bx[owner[hit]] = c[hit, 0]
    by[owner[hit]] = c[hit, 1]
    return best, bx, by


def m_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude on the ellipsoid at ``lat``."""
    p = np.radians(lat)
    m_lat = 111132.954 - 559.822 * np.cos(2 * p) + 1.175 * np.cos(4 * p)
    m_lon = 111412.84 * np.cos(p) - 93.5 * np.cos(3 * p) + 0.118 * np.cos(5 * p)
    return float(m_lon), float(m_lat)
