"""Terrain: the DEM (fractal noise, mountains west and south-west, plain east), rivers, slope."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from numpy.typing import ArrayLike
from rasterio.transform import from_origin

from onemap.config.errors import OneMapError

from .geo import Frame, angular_profile, metres_per_degree, smoothstep
from .noise import ValueNoise

# the city's extent in lon/lat (CGCS2000, 3-degree Gauss-Krüger zone 39)
WEST, SOUTH, EAST, NORTH = 116.60, 31.20, 117.40, 31.75
RES = 0.0005  # DEM pixel size in degrees (about 47 m by 55 m here)
FRAME = Frame(lon0=(WEST + EAST) / 2, lat0=(SOUTH + NORTH) / 2)
PEAK_M = 1180.0  # the highest summit
CARVE_CUTOFF_KM = 4.0  # how far a river's valley reaches into the DEM
# noise lattices cover this fixed km box, so they do not depend on the parcel count
NOISE_BOX = (-45.0, -36.0, 45.0, 36.0)


@dataclass
class River:
    """A river as a km-frame polyline with its bed elevation along it."""

    name: str
    kind: str  # "main" | "tributary"
    km: np.ndarray  # (n, 2) vertices, upstream first
    bed: np.ndarray  # (n,) bed elevation (m), never rising downstream
    halfwidth_km: float

    @property
    def line_km(self) -> shapely.LineString:
        """The river in the km frame."""
        return shapely.LineString(self.km)

    def lonlat(self) -> np.ndarray:
        """The vertices in lon/lat, (n, 2)."""
        lon, lat = FRAME.to_lonlat(self.km[:, 0], self.km[:, 1])
        return np.column_stack([lon, lat])


@dataclass
class Terrain:
    """The DEM and what was derived from it while it was made."""

    dem: np.ndarray  # float32 metres, north-up rows
    slope: np.ndarray  # float32 degrees
    transform: rasterio.Affine
    rivers: list[River]
    river_km: np.ndarray  # float32 distance to the nearest river (km, capped at the carve cutoff)
    main_river_km: np.ndarray  # float32 distance to the main river (km, capped)
    reservoir_km: shapely.Polygon
    reservoir_level: float

    def pixel(self, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the pixels holding these points (clamped to the raster)."""
        col = np.floor((np.asarray(lon) - WEST) / RES).astype(np.int64)
        row = np.floor((NORTH - np.asarray(lat)) / RES).astype(np.int64)
        return np.clip(row, 0, self.dem.shape[0] - 1), np.clip(col, 0, self.dem.shape[1] - 1)

    def sample(self, arr: np.ndarray, lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
        """Values of a DEM-shaped array at points (nearest pixel)."""
        r, c = self.pixel(lon, lat)
        return arr[r, c]

    @property
    def main(self) -> River:
        """The main river."""
        return self.rivers[0]

    def main_y(self, x: float) -> float:
        """North coordinate (km) of the main river where it crosses east coordinate ``x``."""
        k = self.main.km
        return float(np.interp(x, k[:, 0], k[:, 1]))


def _grid_km() -> tuple[np.ndarray, np.ndarray, int, int]:
    width = round((EAST - WEST) / RES)
    height = round((NORTH - SOUTH) / RES)
    lon = WEST + (np.arange(width) + 0.5) * RES
    lat = NORTH - (np.arange(height) + 0.5) * RES
    xk, _ = FRAME.to_km(lon, np.full_like(lon, FRAME.lat0))
    _, yk = FRAME.to_km(np.full_like(lat, FRAME.lon0), lat)
    return xk, yk, height, width


def _smooth(a: np.ndarray, window: int) -> np.ndarray:
    """Moving average with the ends held (keeps a path's endpoints where they were)."""
    if window < 2:
        return a
    pad = window // 2
    padded = np.r_[np.full(pad, a[0]), a, np.full(pad, a[-1])]
    return np.convolve(padded, np.ones(window) / window, mode="valid")[: len(a)]


def _main_path(rng: np.random.Generator, x0: float, x1: float) -> np.ndarray:
    # a smoothed random walk west to east with meanders; monotone in x so it never loops
    xs = np.arange(x0, x1 + 1e-9, 0.1)
    ax = np.linspace(x0, x1, 8)
    ay = np.clip(rng.uniform(-6.0, 3.0) + np.r_[0.0, np.cumsum(rng.normal(0.0, 2.2, 7))], -10.0, 8.0)
    y = _smooth(np.interp(xs, ax, ay), 61)
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    y += 0.55 * np.sin(2 * np.pi * xs / 4.7 + p1) + 0.25 * np.sin(2 * np.pi * xs / 2.3 + p2)
    # the central city stands on it a little east of the middle: keep that reach central
    y += rng.uniform(-3.0, 1.0) - float(np.interp(6.0, xs, y))
    return np.column_stack([xs, np.clip(y, -14.0, 12.0)])


def _tributary_path(rng: np.random.Generator, src: np.ndarray, dst: np.ndarray, bounds) -> np.ndarray:
    # straight course plus a lateral random walk that is pinned to zero at both ends
    length = float(np.hypot(*(dst - src)))
    n = max(int(length / 0.1), 10)
    t = np.linspace(0.0, 1.0, n)
    normal = np.array([-(dst - src)[1], (dst - src)[0]]) / length
    walk = _smooth(np.cumsum(rng.normal(0.0, 0.12, n)), 41)
    walk -= np.linspace(walk[0], walk[-1], n)
    p1 = rng.uniform(0, 2 * np.pi)
    off = (walk + 0.35 * np.sin(2 * np.pi * t * length / 3.1 + p1)) * np.sin(np.pi * t)
    pts = src[None, :] + t[:, None] * (dst - src)[None, :] + off[:, None] * normal[None, :]
    pts[:, 0] = np.clip(pts[:, 0], bounds[0] + 0.2, bounds[2] - 0.2)
    pts[:, 1] = np.clip(pts[:, 1], bounds[1] + 0.2, bounds[3] - 0.2)
    return pts


def _distance_field(pts: np.ndarray, vals: np.ndarray, xk: np.ndarray, yk: np.ndarray, cutoff: float):
    """Distance (km) from every pixel to a densely sampled polyline, and the value at the nearest sample.

    Each sample only touches the pixels within ``cutoff``, so this is linear in the
    river's length, far faster than point-to-line distances for millions of pixels.
    """
    dist = np.full((len(yk), len(xk)), cutoff, dtype=np.float32)
    near = np.zeros((len(yk), len(xk)), dtype=np.float32)
    dx_px = abs(xk[1] - xk[0])
    dy_px = abs(yk[1] - yk[0])
    rc = int(np.ceil(cutoff / dx_px)) + 1
    rr = int(np.ceil(cutoff / dy_px)) + 1
    for (px, py), v in zip(pts, vals):
        c = round((px - xk[0]) / (xk[1] - xk[0]))
        r = round((py - yk[0]) / (yk[1] - yk[0]))
        c0, c1 = max(c - rc, 0), min(c + rc + 1, len(xk))
        r0, r1 = max(r - rr, 0), min(r + rr + 1, len(yk))
        if c0 >= c1 or r0 >= r1:
            continue
        d = np.sqrt((xk[None, c0:c1] - px) ** 2 + (yk[r0:r1, None] - py) ** 2).astype(np.float32)
        win = dist[r0:r1, c0:c1]
        closer = d < win
        win[closer] = d[closer]
        near[r0:r1, c0:c1][closer] = v
    return dist, near


def _bed_profile(z_along: np.ndarray, floor_down: np.ndarray) -> np.ndarray:
    # a river bed a little below the valley it runs in, never rising downstream
    return np.minimum.accumulate(np.maximum(0.55 * _smooth(z_along, 21), floor_down))


def build_terrain(rng: np.random.Generator) -> Terrain:
    """Make the DEM, carve the rivers and the reservoir into it, and compute slope."""
    xk, yk, height, width = _grid_km()
    X, Y = np.meshgrid(xk, yk)
    bounds = (float(xk.min()) - 1, float(yk.min()) - 1, float(xk.max()) + 1, float(yk.max()) + 1)

    # how far towards the west-south-west a point lies, warped so the mountain front wanders
    warp = ValueNoise(rng, bounds, 30.0, 3)
    u = -0.85 * X - 0.53 * Y + 9.0 * warp.grid(xk, yk)
    hill_w = smoothstep(-3.0, 12.0, u)
    mount_w = smoothstep(9.0, 30.0, u)
    del u
    plain = ValueNoise(rng, bounds, 14.0, 4).grid(xk, yk)
    base = 44.0 - 0.22 * X + 30.0 * plain
    del plain
    hills = hill_w * (70.0 + 220.0 * (0.5 + ValueNoise(rng, bounds, 6.0, 5, 0.55).grid(xk, yk)))
    ridges = ValueNoise(rng, bounds, 13.0, 6, 0.5, ridged=True).grid(xk, yk)
    ridges = (ridges - ridges.min()) / max(float(ridges.max() - ridges.min()), 1e-9)
    mount = mount_w * ridges**1.6
    del ridges
    relief = hills + 900.0 * mount
    del hills, mount
    # scale the relief so that the highest summit is PEAK_M
    top = int(np.argmax(base + relief))
    b = float(base.ravel()[top])
    z = base + relief * ((PEAK_M - b) / max(float(relief.ravel()[top]), 1e-9))
    del base, relief

    # rivers: the main one from the western mountains to the eastern edge, then tributaries
    main_km = _main_path(rng, bounds[0] + 2.0, bounds[2] - 0.5)
    junctions = [-13.0 + rng.uniform(-2, 2), -3.0 + rng.uniform(-2, 2), 11.0 + rng.uniform(-2, 2)]
    sources = [
        np.array([-31.0 + rng.uniform(-3, 3), 23.0 + rng.uniform(-3, 3)]),
        np.array([-27.0 + rng.uniform(-3, 3), -24.0 + rng.uniform(-3, 2)]),
        np.array([-10.0 + rng.uniform(-3, 3), -28.5 + rng.uniform(-1, 1)]),
    ]
    names = [("玉带河", "main", 0.11), ("西溪", "tributary", 0.04), ("石门河", "tributary", 0.05), ("南溪", "tributary", 0.045)]
    paths = [main_km] + [
        _tributary_path(rng, s, np.array([j, float(np.interp(j, main_km[:, 0], main_km[:, 1]))]), bounds)
        for s, j in zip(sources, junctions)
    ]

    def pix(p):  # DEM row and column of km points
        return (
            np.clip(np.round((p[:, 1] - yk[0]) / (yk[1] - yk[0])).astype(int), 0, height - 1),
            np.clip(np.round((p[:, 0] - xk[0]) / (xk[1] - xk[0])).astype(int), 0, width - 1),
        )

    rivers: list[River] = []
    river_d = np.full(z.shape, CARVE_CUTOFF_KM, dtype=np.float32)
    main_d: np.ndarray | None = None
    for (name, kind, hw), path in zip(names, paths):
        seg = np.hypot(*np.diff(path, axis=0).T)
        to_end = np.r_[np.cumsum(seg[::-1])[::-1], 0.0]
        r, c = pix(path)
        if kind == "main":
            floor = 9.0 + 0.12 * to_end
        else:
            j = float(np.interp(path[-1, 0], rivers[0].km[:, 0], rivers[0].bed))
            floor = np.full(len(path), j) + 0.5 * to_end
        bed = _bed_profile(z[r, c], floor)
        rivers.append(River(name=name, kind=kind, km=path, bed=bed, halfwidth_km=hw))
        # vertices are 0.1 km apart; every other one traces the valley closely enough
        d, zn = _distance_field(path[::2], bed[::2], xk, yk, CARVE_CUTOFF_KM)
        # valley walls steepen in the mountains; the quartic term lifts the valley above any
        # terrain before the cutoff, so the carving has no step at its edge
        walls = 25.0 + 130.0 * mount_w
        valley = zn + walls * np.maximum(d - hw, 0.0) + 2000.0 * (d / CARVE_CUTOFF_KM) ** 4
        z = np.where(d < CARVE_CUTOFF_KM, np.minimum(z, valley), z)
        river_d = np.minimum(river_d, d)
        if main_d is None:
            main_d = d
    del X, Y, hill_w

    # a reservoir in the hills on the southern tributary: a flat lake behind a dam
    trib = rivers[3]
    k = int(0.33 * len(trib.km))
    centre = trib.km[k]
    along = trib.km[min(k + 5, len(trib.km) - 1)] - trib.km[max(k - 5, 0)]
    ang = float(np.arctan2(along[1], along[0]))
    prof = angular_profile(rng, 5)
    th = np.linspace(0, 2 * np.pi, 181)[:-1]
    rad = 1.0 + 0.18 * prof(th)
    a, b = 2.1, 1.15
    ex, ey = a * rad * np.cos(th), b * rad * np.sin(th)
    res_km = shapely.Polygon(
        np.column_stack(
            [centre[0] + ex * np.cos(ang) - ey * np.sin(ang), centre[1] + ex * np.sin(ang) + ey * np.cos(ang)]
        )
    )
    level = float(trib.bed[k]) + 6.0
    bx0, by0, bx1, by1 = res_km.bounds
    cols = np.flatnonzero((xk >= bx0) & (xk <= bx1))
    rows = np.flatnonzero((yk >= by0) & (yk <= by1))
    if len(cols) and len(rows):
        sub_x, sub_y = np.meshgrid(xk[cols], yk[rows])
        inside = shapely.contains_xy(res_km, sub_x, sub_y)
        block = z[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        block[inside] = level

    if main_d is None:  # names[0] is the main river: the loop's first pass sets it
        raise OneMapError("the demo terrain has no main river")
    dem = z.astype(np.float32)
    transform = from_origin(WEST, NORTH, RES, RES)
    return Terrain(
        dem=dem,
        slope=slope_from_array(dem, transform),
        transform=transform,
        rivers=rivers,
        river_km=river_d,
        main_river_km=main_d,
        reservoir_km=res_km,
        reservoir_level=level,
    )


def slope_from_array(dem: np.ndarray, transform: rasterio.Affine) -> np.ndarray:
    """Slope in degrees of a north-up lon/lat DEM, with metres per degree taken row by row."""
    res_x, res_y = transform.a, -transform.e
    lat = transform.f - (np.arange(dem.shape[0]) + 0.5) * res_y
    mpd = np.array([metres_per_degree(float(v)) for v in lat])
    dx = res_x * mpd[:, 0]
    dy = res_y * mpd[:, 1]
    z = dem.astype(np.float64)
    gx = np.gradient(z, axis=1) / dx[:, None]
    gy = np.gradient(z, axis=0) / dy[:, None]
    return np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)


def slope_degrees(dem_path: pathlib.Path) -> np.ndarray:
    """Slope in degrees of the DEM GeoTIFF at ``dem_path`` (same shape as the raster)."""
    with rasterio.open(dem_path) as src:
        return slope_from_array(src.read(1), src.transform)


def write_dem(terrain: Terrain, path: pathlib.Path) -> pathlib.Path:
    """Write the DEM as a deflate-compressed, tiled float32 GeoTIFF in EPSG:4490."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": terrain.dem.shape[1],
        "height": terrain.dem.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4490",
        "transform": terrain.transform,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(terrain.dem, 1)
        dst.set_band_description(1, "elevation (m)")
        dst.update_tags(units="m", source="OneMap demo generator (fictional terrain)")
    return path
