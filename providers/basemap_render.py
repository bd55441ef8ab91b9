"""The demo basemap raster: shaded relief under the land-cover colours of the land survey.

``render_basemap`` writes ``basemap.tif`` into the data directory, rendered with rasterio
and numpy only: the 三调 parcels in force (layer ``dltb``) are rasterized by class, a
hillshade of the DEM (``dem.tif``, when there is one) modulates their colours, and
everything outside the surveyed region is a flat neutral background.

Why EPSG:3857, on the Web Mercator tile pixel grid: MapProxy's primary cache is the Web
Mercator one and the CGCS2000 cache is fed from it. With the raster's pixels (and its
overviews) lying exactly on the Web Mercator grid of one zoom level (and, by decimation,
of every level above it), Web Mercator tiles are plain pixel copies, never resampled,
and a CGCS2000 tile is resampled exactly once, from those tiles; a raster in EPSG:4490
would be resampled once for Web Mercator and twice for CGCS2000. The price is small:
projecting the parcels' vertices (one vectorised formula), and warping the
hillshade once.

``ensure_basemap`` re-renders only when the survey in force, the DEM or this renderer
has changed since the last rendering (a fingerprint kept in the GeoTIFF's tags), under
a file lock so that several workers render once; the new file replaces the old one
atomically, and its modification time tells MapProxy's caches to refresh their tiles.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import reproject
from rasterio.windows import Window

from onemap.domain.dates import When, today

LOG = logging.getLogger("onemap.basemap")

# Bump when the rendering changes (colours, shading): existing rasters are then stale.
RENDER_VERSION = 1

LANDCOVER_LAYER = "dltb"
CODE_FIELD = "DLBM"
FINGERPRINT_TAG = "ONEMAP_BASEMAP_FINGERPRINT"

WEBMERCATOR_HALF = 20037508.342789244  # half the Web Mercator world width (m)
MIN_LEVEL = 12  # about the DEM's own resolution (~47 m); coarser would lose its relief
MAX_LEVEL = 15  # ~4 m on the ground in the demo region: finer than any parcel needs
MAX_PIXELS = 160_000_000  # per band: keeps a render within a few GB of memory
OVERVIEW_LEVELS = 6  # the raster's origin is aligned for this many halvings
BLOCK_ROWS = 1024  # rows blended at a time (bounded memory on large rasters)
BURN_CHUNK = 250_000  # parcels rasterized at a time

BACKGROUND = (236, 234, 228)

SUN_AZIMUTH = 315.0  # degrees clockwise from north: light from the north-west, as cartographers do
SUN_ALTITUDE = 45.0
Z_FACTOR = 2.0  # vertical exaggeration: the plain in the east is otherwise invisible


@dataclass(frozen=True)
class LandClass:
    """One colour class of the land survey: 三调 first-level code prefixes and a colour."""

    index: int
    name: str
    prefixes: tuple[str, ...]
    rgb: tuple[int, int, int]
    relief: float  # how strongly the hillshade modulates the colour (0: flat)


# 三调 first-level classes (GB/T 21010-2017 as the Third National Land Survey uses it); the
# colours are muted versions of the survey's map conventions, so that a basemap stays quiet.
LAND_CLASSES: tuple[LandClass, ...] = (
    LandClass(1, "cropland 耕地", ("01",), (240, 228, 168), 0.55),
    LandClass(2, "garden 园地", ("02",), (232, 198, 138), 0.6),
    LandClass(3, "forest 林地", ("03",), (128, 178, 112), 0.75),
    LandClass(4, "grassland 草地", ("04",), (190, 216, 146), 0.7),
    LandClass(5, "built-up 建设用地", ("05", "06", "07", "08", "09", "10"), (212, 190, 186), 0.35),
    LandClass(6, "water 水域", ("11",), (150, 194, 230), 0.15),
    LandClass(7, "other 其他土地", ("12",), (218, 210, 192), 0.6),
)
BACKGROUND_CLASS = 0
_BY_PREFIX = {p: c.index for c in LAND_CLASSES for p in c.prefixes}

Progress = Callable[[str, float], None]


def land_class(code: str | None) -> int:
    """The colour class of a 三调 code (DLBM); unknown or missing codes count as other land."""
    if not code:
        return LAND_CLASSES[-1].index
    return _BY_PREFIX.get(str(code)[:2], LAND_CLASSES[-1].index)


def palette() -> np.ndarray:
    """(n, 3) float32 colours by class index, the background at 0."""
    pal = np.zeros((len(LAND_CLASSES) + 1, 3), dtype=np.float32)
    pal[BACKGROUND_CLASS] = BACKGROUND
    for c in LAND_CLASSES:
        pal[c.index] = c.rgb
    return pal


def relief_strength() -> np.ndarray:
    """(n,) float32 hillshade strength by class index (the background stays flat)."""
    out = np.zeros(len(LAND_CLASSES) + 1, dtype=np.float32)
    for c in LAND_CLASSES:
        out[c.index] = c.relief
    return out


# ---- paths and freshness ----------------------------------------------------------------------
def basemap_path(settings: Any) -> Path:
    """Where the rendered basemap lives."""
    return Path(settings.data_dir) / "basemap.tif"


def dem_path(settings: Any) -> Path:
    """The DEM the demo generator writes (production regions may have none)."""
    return Path(settings.data_dir) / "dem.tif"


def _survey(settings: Any, store: Any) -> tuple[Any, tuple[str, ...]]:
    layer = store.catalogue.layers[LANDCOVER_LAYER]
    return layer, store.plans_in_force(When.at(today(settings.timezone)), None, layer)


def fingerprint(settings: Any, store: Any) -> str:
    """What the basemap depends on: the survey entries in force, the DEM, the renderer.

    Cheap to compute (the store's registry is cached until it changes), so it can be
    checked while serving.
    """
    _, plan_ids = _survey(settings, store)
    plans = store.plans()
    parts = [f"render:{RENDER_VERSION}"]
    for pid in plan_ids:
        p = plans[pid]
        parts.append(f"plan:{p.id}:{p.version}:{p.status}:{p.valid_from}:{p.valid_to}:{p.checksum}")
    dem = dem_path(settings)
    if dem.exists():
        st = dem.stat()
        parts.append(f"dem:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def rendered_fingerprint(path: Path) -> str | None:
    """The fingerprint a rendered basemap was made for (None when there is none)."""
    if not path.exists():
        return None
    try:
        with rasterio.open(path) as ds:
            return ds.tags().get(FINGERPRINT_TAG)
    except rasterio.RasterioIOError:
        return None


@contextmanager
def _render_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (gunicorn workers, a seeding command)."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_basemap(settings: Any, store: Any, progress: Progress | None = None) -> bool:
    """Render the basemap if it is missing or stale; True when it was (re-)rendered."""
    path = basemap_path(settings)
    wanted = fingerprint(settings, store)
    if rendered_fingerprint(path) == wanted:
        return False
    with _render_lock(path):
        # another process may have rendered it while this one waited for the lock
        if rendered_fingerprint(path) == wanted:
            return False
        render_basemap(settings, store, progress=progress, _fingerprint=wanted)
    return True


# ---- the grid ---------------------------------------------------------------------------------
def level_resolution(level: int) -> float:
    """Metres (Web Mercator units) per pixel of a 256-pixel Web Mercator tile at ``level``."""
    return 2 * WEBMERCATOR_HALF / (256 * 2 ** level)


def choose_level(bounds: tuple[float, float, float, float], parcels: int) -> int:
    """The zoom level whose pixel grid the basemap is rendered on.

    Fine enough that an average parcel is about six pixels across (so a million parcels
    stay visible as parcels), never coarser than the DEM, and within the pixel budget.
    """
    west, south, east, north = bounds
    lat = math.radians((south + north) / 2)
    width_m = (east - west) * 111_320.0 * math.cos(lat)
    height_m = (north - south) * 110_574.0
    level = MIN_LEVEL
    if parcels > 0:
        target = math.sqrt(width_m * height_m / parcels) / 6.0
        while level < MAX_LEVEL and level_resolution(level) * math.cos(lat) > target:
            level += 1
    while level > MIN_LEVEL:
        res = level_resolution(level)
        px = (width_m / math.cos(lat) / res) * (height_m / math.cos(lat) / res)
        if px <= MAX_PIXELS:
            break
        level -= 1
    return level


@dataclass(frozen=True)
class Grid:
    """The raster's pixel grid in EPSG:3857."""

    level: int
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        return t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f


def grid_for(bounds: tuple[float, float, float, float], level: int, margin_px: int = 16) -> Grid:
    """A grid covering lon/lat ``bounds`` on the Web Mercator pixel grid of ``level``.

    The origin and size are multiples of 2**OVERVIEW_LEVELS pixels, so that each overview
    lies on the pixel grid of a coarser zoom level too.
    """
    to_merc = pyproj.Transformer.from_crs(4490, 3857, always_xy=True)
    minx, miny, maxx, maxy = to_merc.transform_bounds(*bounds, densify_pts=21)
    res = level_resolution(level)
    step = res * 2 ** OVERVIEW_LEVELS
    pad = margin_px * res
    x0 = math.floor((minx - pad + WEBMERCATOR_HALF) / step) * step - WEBMERCATOR_HALF
    x1 = math.ceil((maxx + pad + WEBMERCATOR_HALF) / step) * step - WEBMERCATOR_HALF
    y0 = WEBMERCATOR_HALF - math.floor((WEBMERCATOR_HALF - (maxy + pad)) / step) * step
    y1 = WEBMERCATOR_HALF - math.ceil((WEBMERCATOR_HALF - (miny - pad)) / step) * step
    width = round((x1 - x0) / res)
    height = round((y0 - y1) / res)
    return Grid(level, Affine(res, 0.0, x0, 0.0, -res, y0), width, height)


# ---- rendering --------------------------------------------------------------------------------
def hillshade(dem: np.ndarray, transform: Affine, nodata: float | None = None) -> np.ndarray:
    """Lambertian hillshade (0..1; flat ground gives sin(altitude)) of a lon/lat DEM in metres.

    Pixel sizes are converted to metres row by row on the CGCS2000 (GRS80) ellipsoid.
    """
    z = dem.astype(np.float32)
    if nodata is not None:
        z = np.where(z == nodata, np.nan, z)
    rows = np.arange(z.shape[0])
    lat = np.radians(transform.f + (rows + 0.5) * transform.e)
    a, e2 = 6378137.0, 0.00669438002290
    s2 = np.sin(lat) ** 2
    m_lat = a * (1 - e2) / (1 - e2 * s2) ** 1.5 * math.radians(1)  # metres per degree north
    m_lon = a / np.sqrt(1 - e2 * s2) * np.cos(lat) * math.radians(1)  # metres per degree east
    dx = (abs(transform.a) * m_lon)[:, None]
    dy = (abs(transform.e) * m_lat)[:, None]
    gy, gx = np.gradient(z)
    dzdx = Z_FACTOR * gx / dx
    dzdn = -Z_FACTOR * gy / dy  # rows run south, north is up
    az, alt = math.radians(SUN_AZIMUTH), math.radians(SUN_ALTITUDE)
    lx, ly, lz = math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt)
    shade = (-dzdx * lx - dzdn * ly + lz) / np.sqrt(dzdx * dzdx + dzdn * dzdn + 1.0)
    shade = np.clip(shade, 0.0, 1.0)
    return np.where(np.isnan(shade), math.sin(alt), shade).astype(np.float32)


def _shade_on_grid(settings: Any, grid: Grid) -> np.ndarray | None:
    """The DEM's hillshade warped onto the render grid (None without a DEM)."""
    path = dem_path(settings)
    if not path.exists():
        return None
    with rasterio.open(path) as ds:
        dem = ds.read(1)
        shade = hillshade(dem, ds.transform, ds.nodata)
        src_crs = ds.crs
        src_transform = ds.transform
    out = np.full((grid.height, grid.width), math.sin(math.radians(SUN_ALTITUDE)), dtype=np.float32)
    reproject(shade, out, src_transform=src_transform, src_crs=src_crs, dst_transform=grid.transform,
              dst_crs=CRS.from_epsg(3857), resampling=Resampling.bilinear, init_dest_nodata=False)
    return out


def to_webmercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat degrees to EPSG:3857 metres.

    EPSG:3857 is a spherical Mercator of the geodetic coordinates taken as they are (PROJ
    applies no datum shift between CGCS2000 and WGS 84 for it), so the closed formula is
    what pyproj computes, at a fraction of the cost on millions of vertices.
    """
    r = WEBMERCATOR_HALF / math.pi
    lat = np.clip(lat, -85.0511287798066, 85.0511287798066)
    return np.radians(lon) * r, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * r


def _burn(out: np.ndarray, polygons: np.ndarray, value: int, transform: Affine) -> None:
    """Rasterize polygons (lon/lat) with one value into ``out``, as one MultiPolygon.

    rasterio converts every shape through Python mappings; one mapping built from numpy
    coordinate arrays costs seconds for a million parcels where a shape each (shapely's
    ``__geo_interface__``) costs about a minute. Parcels do not overlap, so one
    multipolygon per class fills the same pixels as the parcels one by one.
    """
    rings, ring_poly = shapely.get_rings(polygons, return_index=True)
    counts = shapely.get_num_coordinates(rings)
    xy = shapely.get_coordinates(rings)
    x, y = to_webmercator(xy[:, 0], xy[:, 1])
    points = np.column_stack([x, y]).tolist()
    ends = np.cumsum(counts).tolist()
    ring_lists = [points[a:b] for a, b in zip([0, *ends[:-1]], ends)]
    poly_ends = np.cumsum(np.bincount(ring_poly, minlength=len(polygons))).tolist()
    coords = [ring_lists[a:b] for a, b in zip([0, *poly_ends[:-1]], poly_ends)]
    rasterize([({"type": "MultiPolygon", "coordinates": coords}, value)], out=out, transform=transform,
              all_touched=False)


def _classes_on_grid(geoms: np.ndarray, codes: Sequence[str | None], grid: Grid) -> np.ndarray:
    """The parcels' land classes rasterized on the render grid (0 outside every parcel)."""
    out = np.zeros((grid.height, grid.width), dtype=np.uint8)
    if len(geoms) == 0:
        return out
    uniq, inverse = np.unique(np.asarray([c or "" for c in codes], dtype=str), return_inverse=True)
    classes = np.array([land_class(c) for c in uniq], dtype=np.uint8)[inverse]
    parts, part_of = shapely.get_parts(geoms, return_index=True)  # multipolygons to polygons
    keep = ~shapely.is_empty(parts)
    parts, part_classes = parts[keep], classes[part_of[keep]]
    for value in np.unique(part_classes):
        polygons = parts[part_classes == value]
        for i in range(0, len(polygons), BURN_CHUNK):  # bounds the memory of the Python mappings
            _burn(out, polygons[i:i + BURN_CHUNK], int(value), grid.transform)
    return out


def shading_lut() -> np.ndarray:
    """(classes, 256, 3) uint8: the colour of each class under each quantised hillshade value."""
    flat = math.sin(math.radians(SUN_ALTITUDE))
    # relative to flat ground: slopes facing the sun brighten, the others darken
    rel = np.clip(np.arange(256, dtype=np.float32) / 255.0 / flat - 1.0, -1.0, 0.6)
    factor = 1.0 + relief_strength()[:, None] * rel[None, :]
    return np.clip(np.rint(palette()[:, None, :] * factor[..., None]), 0, 255).astype(np.uint8)


def _blend(classes: np.ndarray, shade: np.ndarray | None) -> Iterator[tuple[int, np.ndarray]]:
    """RGB rows (start row, (3, rows, width) uint8) of class colours modulated by the shade.

    A lookup table over (class, quantised shade) makes this one gather per pixel, which
    matters at tens of millions of pixels.
    """
    lut = shading_lut()
    flat_q = np.uint8(round(math.sin(math.radians(SUN_ALTITUDE)) * 255))
    for r0 in range(0, classes.shape[0], BLOCK_ROWS):
        cls = classes[r0:r0 + BLOCK_ROWS]
        if shade is None:
            q = np.full(cls.shape, flat_q, dtype=np.uint8)
        else:
            q = np.rint(shade[r0:r0 + BLOCK_ROWS] * 255.0).astype(np.uint8)
        yield r0, lut[cls, q].transpose(2, 0, 1)


def render_basemap(settings: Any, store: Any, level: int | None = None, progress: Progress | None = None,
                   _fingerprint: str | None = None) -> Path:
    """Render the basemap GeoTIFF from the survey in force and the DEM; returns its path.

    The file is a tiled, DEFLATE-compressed RGB GeoTIFF in EPSG:3857 with overviews,
    replaced atomically. ``level`` forces the Web Mercator zoom level of its pixel grid
    (by default chosen from the parcels' density, see ``choose_level``).
    """
    report = progress or (lambda stage, fraction: None)
    out_path = basemap_path(settings)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fp = _fingerprint or fingerprint(settings, store)

    report("basemap: reading parcels", 0.0)
    layer, plan_ids = _survey(settings, store)
    geoms, cols = store.geometries(layer, plan_ids, columns=[CODE_FIELD]) if plan_ids else (np.empty(0), {})
    codes = cols.get(CODE_FIELD, [])
    bounds: tuple[float, float, float, float]
    if len(geoms):
        x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(geoms))
        bounds = (x0, y0, x1, y1)
    elif dem_path(settings).exists():
        with rasterio.open(dem_path(settings)) as ds:
            bounds = (ds.bounds.left, ds.bounds.bottom, ds.bounds.right, ds.bounds.top)
    else:
        # nothing surveyed yet: a token raster (the source paints the background around it),
        # so that the basemap serves a neutral map rather than errors
        LOG.warning("no land-survey parcels in force and no DEM: the basemap is background only")
        bounds = (0.0, 0.0, 0.0, 0.0)
    grid = grid_for(bounds, level if level is not None else choose_level(bounds, len(geoms)))
    LOG.info("rendering the basemap: %d parcels on a %dx%d grid (level %d)", len(geoms), grid.width,
             grid.height, grid.level)

    report("basemap: rasterizing parcels", 0.2)
    classes = _classes_on_grid(np.asarray(geoms), codes, grid)
    report("basemap: shading relief", 0.5)
    shade = _shade_on_grid(settings, grid)

    report("basemap: writing", 0.6)
    profile = {
        "driver": "GTiff", "width": grid.width, "height": grid.height, "count": 3, "dtype": "uint8",
        "crs": CRS.from_epsg(3857), "transform": grid.transform, "tiled": True, "blockxsize": 512,
        "blockysize": 512, "compress": "deflate", "predictor": 2, "interleave": "pixel",
        "photometric": "RGB", "bigtiff": "IF_SAFER",
    }
    fd, tmp_name = tempfile.mkstemp(prefix=".basemap-", suffix=".tif", dir=out_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.colorinterp = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
            for r0, block in _blend(classes, shade):
                dst.write(block, window=Window(0, r0, grid.width, block.shape[1]))
            factors = [2 ** k for k in range(1, OVERVIEW_LEVELS + 1) if max(grid.width, grid.height) >> (k - 1) > 256]
            if factors:
                report("basemap: overviews", 0.85)
                dst.build_overviews(factors, Resampling.average)
            dst.update_tags(**{FINGERPRINT_TAG: fp, "ONEMAP_LEVEL": str(grid.level),
                               "ONEMAP_PARCELS": str(len(geoms)), "ONEMAP_PLANS": ",".join(plan_ids)})
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)  # readers holding the old file keep reading it
    finally:
        tmp.unlink(missing_ok=True)
    report("basemap: done", 1.0)
    return out_path
