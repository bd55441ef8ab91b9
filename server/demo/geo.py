"""Geometry helpers: the local kilometre frame, geodesic areas, dissolving whole parcels."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import overload

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike

GEOD = pyproj.Geod(ellps="GRS80")  # CGCS2000 uses the GRS80 ellipsoid


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude on the ellipsoid at ``lat``."""
    p = math.radians(lat)
    m_lat = 111132.954 - 559.822 * math.cos(2 * p) + 1.175 * math.cos(4 * p)
    m_lon = 111412.84 * math.cos(p) - 93.5 * math.cos(3 * p) + 0.118 * math.cos(5 * p)
    return m_lon, m_lat


@dataclass(frozen=True)
class Frame:
    """A local east/north kilometre frame around (lon0, lat0).

    The generator models its landscape (distances, radii, noise) in kilometres, where a
    circle is round; outputs are converted back to lon/lat. A linear map is enough over
    half a degree: the scale error is below 0.5 %, and areas are measured geodesically.
    """

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        """Kilometres per degree of longitude."""
        return metres_per_degree(self.lat0)[0] / 1000.0

    @property
    def ky(self) -> float:
        """Kilometres per degree of latitude."""
        return metres_per_degree(self.lat0)[1] / 1000.0

    def to_km(self, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Lon/lat to (east, north) km."""
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(east, north) km to lon/lat."""
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / self.ky + self.lat0

    @overload
    def geom_to_lonlat(self, geom: np.ndarray) -> np.ndarray: ...

    @overload
    def geom_to_lonlat(self, geom: shapely.Geometry) -> shapely.Geometry: ...

    def geom_to_lonlat(self, geom: shapely.Geometry | np.ndarray) -> shapely.Geometry | np.ndarray:
        """A km-frame geometry (or array of them) in lon/lat."""
        kx, ky, lon0, lat0 = self.kx, self.ky, self.lon0, self.lat0
        return shapely.transform(geom, lambda c: np.column_stack([c[:, 0] / kx + lon0, c[:, 1] / ky + lat0]))


def smoothstep(a: float, b: float, x: np.ndarray | float) -> np.ndarray:
    """0 below ``a``, 1 above ``b``, a smooth S-curve between."""
    t = np.clip((np.asarray(x, dtype=float) - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def as_multipolygons(geoms: Iterable) -> np.ndarray:
    """Every geometry as a valid, counter-clockwise MultiPolygon (lines and points dropped)."""
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    # a GeometryCollection from make_valid can hold nested collections; one more level suffices
    coll = shapely.get_type_id(parts) == 7
    if coll.any():
        sub, sidx = shapely.get_parts(parts[coll], return_index=True)
        parts = np.concatenate([parts[~coll], sub])
        idx = np.concatenate([idx[~coll], idx[coll][sidx]])
        order = np.argsort(idx, kind="stable")
        parts, idx = parts[order], idx[order]
    keep = shapely.get_type_id(parts) == 3
    keep &= shapely.area(parts) > 0
    parts, idx = parts[keep], idx[keep]
    present, dense = np.unique(idx, return_inverse=True)
    out = np.array([shapely.MultiPolygon()] * n, dtype=object)  # no polygon part: empty
    if len(parts):
        out[present] = shapely.multipolygons(parts, indices=dense)
    return shapely.orient_polygons(out, exterior_cw=False)


def ring_areas(coords: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Absolute geodesic area (m², GRS80) of consecutive lon/lat rings of ``counts`` points each."""
    bounds = np.r_[0, np.cumsum(counts)]
    lon = np.ascontiguousarray(coords[:, 0])
    lat = np.ascontiguousarray(coords[:, 1])
    out = np.empty(len(counts))
    paa = GEOD.polygon_area_perimeter
    for k in range(len(counts)):
        a, b = bounds[k], bounds[k + 1]
        out[k] = abs(paa(lon[a:b], lat[a:b])[0])
    return out


def geodesic_areas(geoms: Iterable) -> np.ndarray:
    """Geodesic area (m², absolute) of each lon/lat polygonal geometry on GRS80.

    Holes are subtracted whatever the ring orientation, so the result does not depend
    on how a union happened to orient its rings.
    """
    geoms = np.asarray(geoms, dtype=object)
    polys, pidx = shapely.get_parts(geoms, return_index=True)
    rings, ridx = shapely.get_rings(polys, return_index=True)
    exterior = np.r_[True, ridx[1:] != ridx[:-1]]
    coords, cidx = shapely.get_coordinates(rings, return_index=True)
    counts = np.bincount(cidx, minlength=len(rings))
    ring_area = ring_areas(coords, counts)
    signed = np.where(exterior, ring_area, -ring_area)
    return np.bincount(pidx[ridx], weights=signed, minlength=len(geoms))


def dissolve(geoms: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Union whole parcels that share a key: (sorted unique keys, MultiPolygons, members).

    The parcels form an exact coverage (shared vertices, no overlaps), so GEOS's coverage
    union applies: it only drops shared edges, which is much faster than an overlay.
    """
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    if len(k) == 0:
        return k, np.empty(0, dtype=object), []
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(k)]
    out = np.empty(len(starts), dtype=object)
    members = []
    for n, (a, b) in enumerate(zip(starts, ends)):
        m = order[a:b]
        members.append(m)
        out[n] = shapely.coverage_union_all(geoms[m])
    return k[starts], as_multipolygons(out), members


def union_coverage(geoms: Iterable) -> shapely.MultiPolygon:
    """One MultiPolygon from edge-matched polygons."""
    return as_multipolygons([shapely.coverage_union_all(np.asarray(geoms, dtype=object))])[0]


def angular_profile(rng: np.random.Generator, harmonics: int = 6, decay: float = 1.2) -> Callable:
    """A smooth random function of angle with values in about [-1, 1] (noisy radii)."""
    amp = rng.normal(size=harmonics) / np.arange(1, harmonics + 1) ** decay
    phase = rng.uniform(0, 2 * np.pi, harmonics)
    norm = np.abs(amp).sum()
    ks = np.arange(1, harmonics + 1)

    def f(theta):
        theta = np.asarray(theta, dtype=float)
        return (amp[:, None] * np.cos(ks[:, None] * theta.ravel()[None, :] + phase[:, None])).sum(0).reshape(
            theta.shape
        ) / norm

    return f
