"""Every catalogue layer as a rendered map (issue 15, items 1 and 3): WMS, WMTS, TMS/XYZ, OGC API - Maps and
map tiles, Tianditu's grids.

Each picture is checked against an independent computation, never against another answer of the
renderer: the features are read through the API (``/collections/czkfbj/items``), rasterised with
rasterio onto the pixel grid of the image (worked out here from the request: BBOX and size, or the
tile matrix's own arithmetic), and the image's coloured pixels must lie where the features are.
The colour inside is the catalogue style's fill (``server/map_style.py`` CONVENTIONS) at its
opacity. GetFeatureInfo answers are compared with shapely's containment of the pixel's centre.

Sections: helpers; WMS GetMap; WMTS/TMS/XYZ tiles; OGC API - Maps; GetFeatureInfo; legends; who sees
what; TIME, VIEW and RECORDED; invalidation by a plan change; real clients (GDAL's WMTS on Tianditu's
grid, GDAL's WMS 1.3.0) against a real server; a fake Tianditu upstream that checks the levels it gets.
Every test runs on both backends where it uses the shared demo (``client``, ``anonymous``, ``om``).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import numpy as np
import pytest
import rasterio
import shapely
import shapely.affinity
import yaml
from flask import Flask
from lxml import etree
from PIL import Image
from pyproj import Transformer
from rasterio.features import MergeAlg, rasterize
from rasterio.transform import from_bounds

from onemap.server import basemaps, map_style

from .conftest import ROOT, all_items, copy_store, pristine

LAYER = "czkfbj"  # 城镇开发边界: public, a filled polygon layer with a dashed outline
LOOK = map_style.CONVENTIONS["CZKFBJ"]
HALF = 20037508.342789244  # half the Web Mercator world, metres
LATLON_13 = ("EPSG:4490", "EPSG:4326")  # WMS 1.3.0 takes these in lat, lon order
WMS_NS = {"wms": "http://www.opengis.net/wms", "xlink": "http://www.w3.org/1999/xlink"}
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
OGC_NS = {"ogc": "http://www.opengis.net/ogc"}
# pixels of an outline on either side of a ring: CZKFBJ's line is at most 2.4 * 1.8 = 4.3 px wide
# (line-width interpolated by zoom), plus anti-aliasing: fill colours are checked this far from every ring
EDGE_PX = 4.0
INSIDE_COLOURED = 0.97  # share of the pixels well inside the features that must be coloured
OUTSIDE_CLEAR = 0.97  # share of the pixels well outside that must be transparent
TO_3857 = Transformer.from_crs("EPSG:4490", "EPSG:3857", always_xy=True)
CATALOGUE = yaml.safe_load((ROOT / "config" / "catalogue.yaml").read_text(encoding="utf-8"))
TIERS = {lyr["id"]: lyr["tier"] for lyr in CATALOGUE["layers"]}
PUBLIC = {lid for lid, tier in TIERS.items() if tier == "public"}
INTERNAL = {lid for lid, tier in TIERS.items() if tier == "internal"}


# ---- helpers: grids, features, rasterisation ----------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """An image's pixels: a box in a CRS (x = easting or longitude, y = northing or latitude) and a size."""

    crs: str
    bbox: tuple[float, float, float, float]
    size: tuple[int, int]  # width, height

    @property
    def transform(self):
        return from_bounds(*self.bbox, *self.size)

    @property
    def res_xy(self) -> tuple[float, float]:
        return (self.bbox[2] - self.bbox[0]) / self.size[0], (self.bbox[3] - self.bbox[1]) / self.size[1]

    @property
    def res(self) -> float:
        """Units per pixel (the larger side of a pixel that is not square: margins of n px are at least n px)."""
        return max(self.res_xy)

    def centre(self, i: int, j: int) -> tuple[float, float]:
        """The CRS coordinates of the centre of pixel column i, row j (rows from the top)."""
        x0, _, _, y1 = self.bbox
        rx, ry = self.res_xy
        return x0 + (i + 0.5) * rx, y1 - (j + 0.5) * ry

    def shape(self) -> tuple[int, int]:
        return self.size[1], self.size[0]


def square_grid(crs: str, bbox: tuple[float, float, float, float], width: int) -> Grid:
    """A grid of ``width`` square pixels over ``bbox`` (its top edge moved up to a whole pixel)."""
    x0, y0, x1, y1 = bbox
    res = (x1 - x0) / width
    height = math.ceil((y1 - y0) / res)
    return Grid(crs, (x0, y0, x1, y0 + height * res), (width, height))


def geographic(crs: str) -> bool:
    return crs in ("EPSG:4490", "EPSG:4326", "CRS:84")


def in_crs(geoms: list, crs: str) -> list:
    """Lon/lat (CGCS2000) geometries in the grid's CRS (pyproj, independently of OneMap's transforms)."""
    if geographic(crs):
        return list(geoms)
    assert crs == "EPSG:3857", crs
    return [shapely.transform(g, lambda xy: np.column_stack(TO_3857.transform(xy[:, 0], xy[:, 1]))) for g in geoms]


def box_in(crs: str, lonlat_box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if geographic(crs):
        return lonlat_box
    xs, ys = TO_3857.transform([lonlat_box[0], lonlat_box[2]], [lonlat_box[1], lonlat_box[3]])
    return xs[0], ys[0], xs[1], ys[1]


def burn(geoms: list, grid: Grid, add: bool = False) -> np.ndarray:
    """Pixels whose centre lies in the geometries (a mask; with ``add``: how many geometries cover each)."""
    shapes = [(g, 1) for g in geoms if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros(grid.shape(), dtype=np.uint8 if add else bool)
    out = rasterize(shapes, out_shape=grid.shape(), transform=grid.transform, fill=0, dtype="uint8",
                    merge_alg=MergeAlg.add if add else MergeAlg.replace)
    return out if add else out.astype(bool)


@dataclass
class Masks:
    inside: np.ndarray  # well inside the features (their union eroded by 2 px)
    outside: np.ndarray  # well outside (the union dilated by 3 px: outlines have width)
    count: np.ndarray  # how many features cover each pixel's centre
    edges: np.ndarray  # within EDGE_PX of any feature's ring (outlines and anti-aliasing)
    drawn: np.ndarray  # what the style paints: the features and their outlines (half of the line outside)


def masks(geoms: list, grid: Grid) -> Masks:
    union = shapely.union_all(geoms)
    r = grid.res
    rings = shapely.union_all([g.boundary for g in geoms])
    count = burn(geoms, grid, add=True)
    return Masks(burn([union.buffer(-2 * r)], grid), ~burn([union.buffer(3 * r)], grid), count,
                 burn([rings.buffer(EDGE_PX * r)], grid),
                 (count > 0) | burn([rings.buffer(outline_px(grid) / 2 * r)], grid))


def hex_rgb(color: str) -> np.ndarray:
    h = color.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=float)


def rgba(resp) -> np.ndarray:
    """A PNG answer as an (h, w, 4) uint8 array."""
    assert resp.status_code == 200, (resp.status_code, resp.data[:400])
    assert resp.content_type.split(";")[0] == "image/png", (resp.content_type, resp.data[:400])
    return np.asarray(Image.open(io.BytesIO(resp.data)).convert("RGBA"))


def assert_drawn_where_features_are(img: np.ndarray, geoms: list, grid: Grid, what: str) -> Masks:
    """The image's coloured pixels lie on the features (rasterised on the same grid), and nowhere else."""
    assert img.shape[:2] == grid.shape(), (what, img.shape, grid.shape())
    m = masks(geoms, grid)
    alpha = img[..., 3]
    assert m.inside.sum() >= 300 and m.outside.sum() >= 300, (what, m.inside.sum(), m.outside.sum())
    coloured = float((alpha[m.inside] > 0).mean())
    clear = float((alpha[m.outside] == 0).mean())
    assert coloured >= INSIDE_COLOURED, f"{what}: only {coloured:.1%} of the pixels inside the features are coloured"
    assert clear >= OUTSIDE_CLEAR, f"{what}: only {clear:.1%} of the pixels outside the features are transparent"
    # in place to the pixel: compared with the features and the outer half of their outlines
    dx, dy = best_shift(alpha > 0, m.drawn)
    assert abs(dx) <= 1 and abs(dy) <= 1, f"{what}: the picture matches the features best {dx}, {dy} px off"
    return m


def outline_px(grid: Grid) -> float:
    """CZKFBJ's outline width in pixels on this grid: the style's ``line-width`` (0.5x at MapLibre zoom 6, 1x at
    10, 1.8x at 16, linear between) at the grid's MapLibre zoom (512 px Web Mercator worlds; a degree counted
    as 1/360 of the equator)."""
    metres = grid.res * (2 * math.pi * 6378137 / 360 if geographic(grid.crs) else 1.0)
    zoom = math.log2(2 * HALF / 512 / metres)
    return float(np.interp(zoom, [6, 10, 16], [0.5 * LOOK.line_width, LOOK.line_width, 1.8 * LOOK.line_width]))


def best_shift(coloured: np.ndarray, covered: np.ndarray, r: int = 6) -> tuple[int, int]:
    """The shift (columns, rows) of the picture, within r px, that best matches what should be painted (fewest
    pixels that differ, over the image less an r-px border): (0, 0) for a picture in place."""
    h, w = covered.shape
    core = covered[r:h - r, r:w - r]
    scores = {}
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            moved = coloured[r + dy:h - r + dy, r + dx:w - r + dx]
            scores[(dx, dy)] = int(np.count_nonzero(moved != core))
    return min(scores, key=lambda k: (scores[k], abs(k[0]) + abs(k[1])))


def assert_fill_colour(img: np.ndarray, m: Masks, what: str) -> None:
    """Away from the outlines the colour is CZKFBJ's fill at its opacity: one feature gives the fill colour at
    alpha = opacity; k overlapping features (plans of several levels draw the same boundary) stack as
    1 - (1 - opacity)^k, as in MapLibre; seen over a white page, fill * a + white * (1 - a)."""
    fill = hex_rgb(LOOK.fill)
    checked = 0
    for k in (1, 2, 3):
        sel = (m.count == k) & ~m.edges
        if sel.sum() < 100:
            continue
        px = img[sel].astype(float)
        a = 1 - (1 - LOOK.fill_opacity) ** k
        median_alpha = float(np.median(px[:, 3]))
        assert abs(median_alpha - 255 * a) <= 3, (what, k, median_alpha, 255 * a)
        # the unpremultiplied colour of a faint fill is coarse: 8-bit premultiplied storage rounds it by up to
        # 255 / (2 * alpha) levels at each of the k blends (4 levels at alpha 31); what a viewer sees is checked
        # tightly below, over white
        tol = 2 + k * 255 / (2 * 255 * a)
        median_rgb = np.median(px[:, :3], axis=0)
        assert np.abs(median_rgb - fill).max() <= tol, (what, k, median_rgb, fill)
        close = (np.abs(px[:, :3] - fill).max(axis=1) <= tol + 2) & (np.abs(px[:, 3] - 255 * a) <= 4)
        assert close.mean() >= 0.95, (what, k, float(close.mean()))
        over_white = px[:, :3] * px[:, 3:] / 255 + 255 * (1 - px[:, 3:] / 255)
        expected_white = fill * a + 255 * (1 - a)
        assert np.abs(np.median(over_white, axis=0) - expected_white).max() <= 2.5, (what, k)
        checked += int(sel.sum())
    assert checked >= 300, (what, "too few fill pixels away from outlines to check the colour", checked)


def features(client, layer: str = LAYER, **params: str) -> list[dict]:
    """The layer's features as the API gives them (GeoJSON, lon/lat), all pages."""
    query = urlencode({"f": "json", "limit": 1000, **params})
    return all_items(client, f"/collections/{layer}/items?{query}")


def geometries(feats: list[dict]) -> list:
    return [shapely.geometry.shape(f["geometry"]) for f in feats]


def region_box(geoms: list, margin: float = 0.08) -> tuple[float, float, float, float]:
    """The features' lon/lat bounds with a margin on every side (so that the map has an outside)."""
    x0, y0, x1, y1 = shapely.union_all(geoms).bounds
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


def wms_url(version: str, request: str, layers: str, grid: Grid, **extra: str) -> str:
    """A WMS request over a grid: SRS (1.1.1) or CRS (1.3.0), with 1.3.0's lat, lon BBOX for EPSG:4490/4326."""
    x0, y0, x1, y1 = grid.bbox
    bbox = (y0, x0, y1, x1) if version == "1.3.0" and grid.crs in LATLON_13 else (x0, y0, x1, y1)
    params = {"SERVICE": "WMS", "VERSION": version, "REQUEST": request, "LAYERS": layers, "STYLES": "",
              "CRS" if version == "1.3.0" else "SRS": grid.crs, "BBOX": ",".join(repr(float(v)) for v in bbox),
              "WIDTH": str(grid.size[0]), "HEIGHT": str(grid.size[1]), "FORMAT": "image/png", "TRANSPARENT": "TRUE"}
    params.update(extra)
    return "/basemaps/service?" + urlencode(params)


def exception_code(resp) -> str:
    """The code of an OGC exception report (WMS 1.1.1 or 1.3.0 ServiceExceptionReport, or OWS for WMTS)."""
    assert resp.content_type.split(";")[0] in ("text/xml", "application/xml", "application/vnd.ogc.se_xml"), \
        (resp.status_code, resp.content_type, resp.data[:300])
    doc = etree.fromstring(resp.data)
    assert "ExceptionReport" in etree.QName(doc).localname, resp.data[:300]
    found = doc.xpath("//*[local-name()='ServiceException' or local-name()='Exception']")
    assert found, resp.data[:300]
    return found[0].get("code") or found[0].get("exceptionCode") or ""


def wm_tile_bounds(z: int, col: int, row: int) -> tuple[float, float, float, float]:
    """WebMercatorQuad's (and Tianditu's w grid's) tile, in metres."""
    size = 2 * HALF / 2 ** z
    return -HALF + col * size, HALF - (row + 1) * size, -HALF + (col + 1) * size, HALF - row * size


def tianditu_c_bounds(z: int, col: int, row: int) -> tuple[float, float, float, float]:
    """Tianditu's 经纬度 grid: level 1 is 2 x 1 tiles of 180 degrees, each level halves them (levels from 1)."""
    span = 360 / 2 ** z
    return -180 + col * span, 90 - (row + 1) * span, -180 + (col + 1) * span, 90 - row * span


def half_covered_tile(geoms: list, bounds_of, z: int, box: tuple[float, float, float, float]) -> tuple[int, int]:
    """The (col, row) of the tile of level z over ``box`` that the features cover closest to half (so that it
    has both an inside and an outside to check)."""
    union = shapely.union_all(geoms)
    span_x = bounds_of(z, 1, 0)[0] - bounds_of(z, 0, 0)[0]
    ox, oy = bounds_of(z, 0, 0)[0], bounds_of(z, 0, 0)[3]
    cols = range(int((box[0] - ox) // span_x), int((box[2] - ox) // span_x) + 1)
    rows = range(int((oy - box[3]) // span_x), int((oy - box[1]) // span_x) + 1)
    best = min((abs(union.intersection(shapely.box(*bounds_of(z, c, r))).area / span_x ** 2 - 0.5), c, r)
               for c in cols for r in rows)
    return best[1], best[2]


def half_covered_tile_of(city, tms_id: str, z: int) -> tuple[list, Grid, int, int]:
    """The features in the CRS of ``tms_id``, and the grid, column and row of a tile at ``z`` the features cover
    about half of, from the matrix set's definition: Tianditu's c level n spans 360 / 2^n degrees,
    CGCS2000Quad's and WorldCRS84Quad's level n is Tianditu's n + 1, Tianditu's w is Web Mercator."""
    _, geoms, ll_grid = city
    if tms_id in ("WebMercatorQuad", "TiandituW"):
        crs, bounds_of, level = "EPSG:3857", wm_tile_bounds, z
    else:
        crs, bounds_of, level = "EPSG:4490", tianditu_c_bounds, z + (0 if tms_id == "TiandituC" else 1)
    here = in_crs(geoms, crs)
    col, row = half_covered_tile(here, bounds_of, level, box_in(crs, ll_grid.bbox))
    return here, Grid(crs, bounds_of(level, col, row), (256, 256)), col, row


# ---- the demo's boundary, read through the API --------------------------------------------------------------
@pytest.fixture()
def city(anonymous):
    """Today's urban development boundary (as the public reads it) and a 4490 grid over it with a margin."""
    feats = features(anonymous)
    assert len(feats) >= 10, len(feats)
    geoms = geometries(feats)
    return feats, geoms, square_grid("EPSG:4490", region_box(geoms), 640)


# ---- WMS GetMap -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "crs"), [
    ("1.1.1", "EPSG:4490"), ("1.3.0", "EPSG:4490"), ("1.1.1", "EPSG:3857"), ("1.3.0", "EPSG:3857"),
    ("1.3.0", "CRS:84"), ("1.3.0", "EPSG:4326"),
])
def test_wms_getmap_draws_the_boundary_where_the_features_are(anonymous, city, version, crs):
    """GetMap of czkfbj: >= 97% of the pixels well inside the features (rasterised from /items on the
    request's own grid) are coloured and >= 97% of those well outside are transparent, in each version and
    CRS (1.3.0's EPSG:4490 and 4326 boxes given lat, lon), and the picture matches them best in place (not
    shifted by more than a pixel); inside, the colour is the style's fill at its opacity. A box in the wrong
    axis order would put the picture elsewhere and fail every count."""
    _, geoms, ll_grid = city
    grid = square_grid(crs, box_in(crs, ll_grid.bbox), 640)
    img = rgba(anonymous.get(wms_url(version, "GetMap", LAYER, grid)))
    m = assert_drawn_where_features_are(img, in_crs(geoms, crs), grid, f"WMS {version} {crs}")
    assert_fill_colour(img, m, f"WMS {version} {crs}")


def test_wms_getmap_with_pixels_that_are_not_square(anonymous, city):
    """A client may ask for a box and a size of other proportions (pixels twice as wide as high): the picture
    is stretched to the request, and still lies on the features rasterised on that grid."""
    _, geoms, ll_grid = city
    grid = Grid("EPSG:4490", ll_grid.bbox, (ll_grid.size[0] // 2, ll_grid.size[1]))
    img = rgba(anonymous.get(wms_url("1.1.1", "GetMap", LAYER, grid)))
    assert_drawn_where_features_are(img, geoms, grid, "WMS with 2:1 pixels")


def test_the_comparison_catches_a_misplaced_map(anonymous, city):
    """The control for the comparison itself: a map drawn for a box 4 px east and 3 px south of the grid it is
    compared with (as a server misplacing its pictures by that much would give) fails it."""
    _, geoms, grid = city
    x0, y0, x1, y1 = grid.bbox
    dx, dy = 4 * grid.res, -3 * grid.res
    moved = Grid(grid.crs, (x0 + dx, y0 + dy, x1 + dx, y1 + dy), grid.size)
    img = rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, moved)))
    assert_drawn_where_features_are(img, geoms, moved, "moved box, its own grid")
    with pytest.raises(AssertionError, match="px off"):
        assert_drawn_where_features_are(img, geoms, grid, "moved box, the first grid")


def test_wms_view_governing_draws_only_the_governing_plans(anonymous, city):
    """VIEW=governing is passed through to the drawing: the map shows the features /items?view=governing gives
    (each area once, from the plan that governs it), so the fill never stacks: alpha is the style's opacity
    wherever one governing feature covers a pixel, where the plain map stacks the plans of several levels."""
    _, geoms, grid = city
    governing = geometries(features(anonymous, view="governing"))
    assert governing and len(governing) < len(geoms)
    img = rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid, VIEW="governing")))
    m = assert_drawn_where_features_are(img, governing, grid, "WMS VIEW=governing")
    assert m.count.max() == 1  # the governing view does not overlap: one feature per place
    assert_fill_colour(img, m, "WMS VIEW=governing")
    plain = rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid)))
    pm = masks(geoms, grid)
    stacked = (pm.count >= 2) & ~pm.edges & ~m.edges & (m.count == 1)
    assert stacked.sum() >= 100
    assert np.median(plain[stacked][:, 3]) > np.median(img[stacked][:, 3]) + 15


def test_wms_getmap_same_for_admin_and_anonymous(client, anonymous, city):
    """The same public map through both ways in (a signed-in caller goes through Flask's route, an anonymous one
    through the WSGI app in front of it): the same picture."""
    _, _, grid = city
    url = wms_url("1.3.0", "GetMap", LAYER, grid)
    assert np.array_equal(rgba(client.get(url)), rgba(anonymous.get(url)))


def test_wms_getmap_1_3_0_4490_in_lon_lat_order_is_not_the_boundary(anonymous, city):
    """The control for the axis order: the same numbers read as lon, lat by a 1.3.0 EPSG:4490 request are
    latitudes of 116 degrees: an exception or an empty map, never the boundary."""
    _, _, grid = city
    url = wms_url("1.1.1", "GetMap", LAYER, grid).replace("VERSION=1.1.1", "VERSION=1.3.0").replace("SRS=", "CRS=")
    r = anonymous.get(url)
    assert r.status_code < 500, (r.status_code, r.data[:300])
    if r.content_type.startswith("image/"):
        assert not rgba(r)[..., 3].any()
    else:
        assert r.status_code == 400 and exception_code(r)


# ---- WMTS / TMS / XYZ tiles -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("grid_id", "z"), [("WebMercatorQuad", 11), ("TiandituC", 11), ("WebMercatorQuad", 13),
                                            ("TiandituC", 13), ("CGCS2000Quad", 10), ("TiandituW", 12)])
def test_wmts_tile_draws_the_boundary_where_the_features_are(anonymous, city, grid_id, z):
    """A RESTful WMTS tile (the raster map tile an OGC API/ArcGIS-style client asks for) of czkfbj: coloured
    where the features are, on the tile's own extent computed here from the grid's definition (Tianditu's c
    level n spans 360 / 2^n degrees; CGCS2000Quad level n is Tianditu's n + 1; Tianditu's w is Web Mercator)."""
    here, grid, col, row = half_covered_tile_of(city, grid_id, z)
    img = rgba(anonymous.get(f"/basemaps/wmts/{LAYER}/{grid_id}/{z}/{col}/{row}.png"))
    m = assert_drawn_where_features_are(img, here, grid, f"WMTS {grid_id} {z}/{col}/{row}")
    if z == 11:
        assert_fill_colour(img, m, f"WMTS {grid_id} {z}/{col}/{row}")


def test_tianditu_tiles_are_their_twins_tiles(anonymous, city):
    """Tianditu's c level n is CGCS2000Quad's n - 1 and its w level n is WebMercatorQuad's n: the same tiles,
    byte for byte; and the WMTS KVP, TMS (rows from the bottom) and XYZ (origin=nw) addresses of a tile give
    it too, in both CRSs."""
    _, geoms, ll_grid = city
    col, row = half_covered_tile(geoms, tianditu_c_bounds, 11, ll_grid.bbox)
    c = anonymous.get(f"/basemaps/wmts/{LAYER}/TiandituC/11/{col}/{row}.png")
    q = anonymous.get(f"/basemaps/wmts/{LAYER}/CGCS2000Quad/10/{col}/{row}.png")
    assert rgba(c)[..., 3].any() and c.data == q.data
    xyz = anonymous.get(f"/basemaps/tiles/1.0.0/{LAYER}/TiandituC/11/{col}/{row}.png?origin=nw")
    assert xyz.status_code == 200 and xyz.data == c.data
    tms = anonymous.get(f"/basemaps/tms/1.0.0/{LAYER}/TiandituC/11/{col}/{2 ** 10 - 1 - row}.png")
    assert tms.status_code == 200 and tms.data == c.data
    here = in_crs(geoms, "EPSG:3857")
    wcol, wrow = half_covered_tile(here, wm_tile_bounds, 12, box_in("EPSG:3857", ll_grid.bbox))
    w = anonymous.get(f"/basemaps/wmts/{LAYER}/TiandituW/12/{wcol}/{wrow}.png")
    m = anonymous.get(f"/basemaps/wmts/{LAYER}/WebMercatorQuad/12/{wcol}/{wrow}.png")
    assert rgba(w)[..., 3].any() and w.data == m.data
    # TMS on Web Mercator: rows from the bottom, and its global-mercator profile's level 0 is the 2x2 level 1
    wtms = anonymous.get(f"/basemaps/tms/1.0.0/{LAYER}/WebMercatorQuad/11/{wcol}/{2 ** 12 - 1 - wrow}.png")
    assert wtms.status_code == 200 and wtms.data == m.data
    kvp = anonymous.get("/basemaps/service?" + urlencode({
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": LAYER, "STYLE": "default",
        "TILEMATRIXSET": "TiandituC", "TILEMATRIX": "11", "TILEROW": row, "TILECOL": col, "FORMAT": "image/png"}))
    assert kvp.status_code == 200 and kvp.data == c.data


def test_a_tile_outside_the_features_is_transparent(anonymous, city):
    """Far from the region (a level-11 tile a degree west of it) a tile is all transparent, not an error."""
    _, _, ll_grid = city
    span = 360 / 2 ** 11
    col, row = int((ll_grid.bbox[0] - 1.0 + 180) // span), int((90 - ll_grid.bbox[3]) // span)
    img = rgba(anonymous.get(f"/basemaps/wmts/{LAYER}/TiandituC/11/{col}/{row}.png"))
    assert img.shape == (256, 256, 4) and not img[..., 3].any()


# ---- OGC API - Maps: map tiles (what ArcGIS Pro takes) and maps ----------------------------------------------------
@pytest.mark.parametrize(("tms_id", "z"), [("WebMercatorQuad", 11), ("TiandituC", 11), ("CGCS2000Quad", 12),
                                           ("WorldCRS84Quad", 11), ("TiandituW", 13)])
def test_ogc_api_map_tile_draws_the_boundary_where_the_features_are(anonymous, city, tms_id, z):
    """/collections/czkfbj/map/tiles/{tms}/{z}/{row}/{col}: the raster OGC API map tile lies on the features
    rasterised on the tile's extent (from the matrix set's definition: WorldCRS84Quad level n is
    CGCS2000Quad's, in lon/lat), and is the same picture as MapProxy's WMTS tile of the same address."""
    here, grid, col, row = half_covered_tile_of(city, tms_id, z)
    r = anonymous.get(f"/collections/{LAYER}/map/tiles/{tms_id}/{z}/{row}/{col}")
    img = rgba(r)
    m = assert_drawn_where_features_are(img, here, grid, f"map tile {tms_id} {z}/{row}/{col}")
    if z == 11:
        assert_fill_colour(img, m, f"map tile {tms_id} {z}/{row}/{col}")
    if tms_id != "WorldCRS84Quad":  # (not one of MapProxy's grids)
        wmts = rgba(anonymous.get(f"/basemaps/wmts/{LAYER}/{tms_id}/{z}/{col}/{row}.png"))
        assert np.array_equal(img, wmts)


def test_ogc_api_map_tile_datetime_and_empty_tiles(anonymous, city):
    """A map tile of a day before the plans has nothing to draw (204, as an empty vector tile), as has a tile
    far from the region; ?datetime= of a past day draws that day's features."""
    _, geoms, ll_grid = city
    col, row = half_covered_tile(geoms, tianditu_c_bounds, 11, ll_grid.bbox)
    url = f"/collections/{LAYER}/map/tiles/TiandituC/11/{row}/{col}"
    assert anonymous.get(url + "?datetime=2019-01-01").status_code == 204
    assert anonymous.get(f"/collections/{LAYER}/map/tiles/TiandituC/11/{row}/{col - 8}").status_code == 204
    then = geometries(features(anonymous, datetime="2022-06-01"))
    grid = Grid("EPSG:4490", tianditu_c_bounds(11, col, row), (256, 256))
    assert_drawn_where_features_are(rgba(anonymous.get(url + "?datetime=2022-06-01")), then, grid, "map tile 2022")


@pytest.mark.parametrize("crs", ["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                                 "http://www.opengis.net/def/crs/EPSG/0/4490",
                                 "http://www.opengis.net/def/crs/EPSG/0/3857"])
def test_ogc_api_map_of_a_box_lies_on_the_features(anonymous, city, crs):
    """/collections/czkfbj/map?bbox=(lon/lat)&width&height&crs: the map of the box, drawn in the CRS asked for
    (the box's corners projected to Web Mercator by pyproj here), lies on the features."""
    _, geoms, ll_grid = city
    srs = "EPSG:3857" if crs.endswith("3857") else "EPSG:4490"
    grid = square_grid(srs, box_in(srs, ll_grid.bbox), 640)
    w, s_, e, n = ll_grid.bbox
    r = anonymous.get(f"/collections/{LAYER}/map?" + urlencode({
        "bbox": ",".join(repr(v) for v in (w, s_, e, n)), "width": grid.size[0], "height": grid.size[1], "crs": crs}))
    img = rgba(r)
    # square_grid moved the top edge up by less than a pixel: the map of the exact box has the same grid
    exact = Grid(srs, box_in(srs, ll_grid.bbox), grid.size)
    m = assert_drawn_where_features_are(img, in_crs(geoms, srs), exact, f"OGC API map {crs}")
    assert_fill_colour(img, m, f"OGC API map {crs}")


# ---- GetFeatureInfo ---------------------------------------------------------------------------------------------
def pixel_inside(geoms: list, grid: Grid) -> tuple[int, int]:
    """A pixel whose centre lies in a feature, at least 6 px from every feature's ring."""
    m = masks(geoms, grid)
    far = m.count.astype(bool) & ~burn([shapely.union_all([g.boundary for g in geoms]).buffer(6 * grid.res)], grid)
    js, is_ = np.nonzero(far)
    assert len(js), "no pixel well inside a feature"
    k = len(js) // 2
    return int(is_[k]), int(js[k])


def pixel_outside(geoms: list, grid: Grid) -> tuple[int, int]:
    """A pixel at least 10 px from every feature."""
    far = ~burn([shapely.union_all(geoms).buffer(10 * grid.res)], grid)
    js, is_ = np.nonzero(far)
    assert len(js)
    return int(is_[len(js) // 2]), int(js[len(js) // 2])


def feature_info(client, grid: Grid, i: int, j: int, fmt: str, version: str = "1.3.0", layer: str = LAYER,
                 **extra: str):
    ij = {"I": str(i), "J": str(j)} if version == "1.3.0" else {"X": str(i), "Y": str(j)}
    return client.get(wms_url(version, "GetFeatureInfo", layer, grid, QUERY_LAYERS=layer, INFO_FORMAT=fmt,
                              **ij, **extra))


def containing(feats: list[dict], geoms: list, point) -> set[str]:
    return {str(f["id"]) for f, g in zip(feats, geoms) if g.covers(point)}


@pytest.mark.parametrize(("version", "crs"), [("1.1.1", "EPSG:4490"), ("1.3.0", "EPSG:4490"), ("1.1.1", "EPSG:3857"),
                                            ("1.3.0", "EPSG:3857"), ("1.3.0", "EPSG:4326")])
def test_feature_info_json_is_the_feature_under_the_pixel(anonymous, city, version, crs):
    """GetFeatureInfo (application/json) at a pixel inside a czkfbj polygon: the features whose polygons
    contain the pixel's centre (shapely, on the features from /items, in the request's CRS), with their
    attributes; one feature unless FEATURE_COUNT asks for more; nothing at a pixel away from every feature."""
    feats, ll_geoms, ll_grid = city
    grid = square_grid(crs, box_in(crs, ll_grid.bbox), 640)
    geoms = in_crs(ll_geoms, crs)
    i, j = pixel_inside(geoms, grid)
    expected = containing(feats, geoms, shapely.Point(grid.centre(i, j)))
    assert expected
    r = feature_info(anonymous, grid, i, j, "application/json", version, FEATURE_COUNT="50")
    assert r.status_code == 200 and "json" in r.content_type, (r.status_code, r.content_type, r.data[:300])
    doc = json.loads(r.data)
    got = {str(f["id"]): f for f in doc["features"]}
    assert set(got) == expected, (set(got), expected)
    by_id = {str(f["id"]): f for f in feats}
    for fid, f in got.items():
        for name in ("GHFQDM", "GHFQMC", "XZQDM", "BSM", "plan_id"):
            assert f["properties"].get(name) == by_id[fid]["properties"].get(name), (fid, name)
        # GeoJSON in lon/lat, whatever the map's CRS
        assert shapely.geometry.shape(f["geometry"]).equals_exact(ll_geoms[feats.index(by_id[fid])], 1e-7), fid
    one = json.loads(feature_info(anonymous, grid, i, j, "application/json", version).data)["features"]
    assert len(one) == 1 and str(one[0]["id"]) in expected
    oi, oj = pixel_outside(geoms, grid)
    none = feature_info(anonymous, grid, oi, oj, "application/json", version)
    assert none.status_code == 200 and json.loads(none.data)["features"] == []


def test_feature_info_of_two_layers(anonymous, city):
    """QUERY_LAYERS=czkfbj,ghfq: the features of both layers under the pixel (each layer's by shapely from its
    own /items, told apart by id and 标识码 BSM, whose segment names the layer), none lost or repeated when
    the answers of the two layers are put together."""
    feats, geoms, grid = city
    i, j = pixel_inside(geoms, grid)
    point = shapely.Point(grid.centre(i, j))
    zones = features(anonymous, "ghfq")
    expected = [(str(f["id"]), f["properties"]["BSM"]) for f, g in zip(feats, geoms) if g.covers(point)]
    in_zones = [(str(f["id"]), f["properties"]["BSM"]) for f in zones
                if shapely.geometry.shape(f["geometry"]).covers(point)]
    assert in_zones, "pick a pixel inside a planning zone too"
    r = anonymous.get(wms_url("1.3.0", "GetFeatureInfo", f"{LAYER},ghfq", grid, QUERY_LAYERS=f"{LAYER},ghfq",
                              INFO_FORMAT="application/json", FEATURE_COUNT="50", I=str(i), J=str(j)))
    assert r.status_code == 200, r.data[:300]
    got = [(str(f["id"]), f["properties"]["BSM"]) for f in json.loads(r.data)["features"]]
    assert sorted(got) == sorted(expected + in_zones)


def test_feature_info_html_and_text(anonymous, city):
    """The same feature as HTML (a table, labels from the catalogue) and as text (``czkfbj <id>``, then
    ``name = value`` lines); away from the features both say there is none."""
    feats, geoms, grid = city
    i, j = pixel_inside(geoms, grid)
    expected = containing(feats, geoms, shapely.Point(grid.centre(i, j)))
    by_id = {str(f["id"]): f for f in feats}
    html = feature_info(anonymous, grid, i, j, "text/html", FEATURE_COUNT="50")
    assert html.status_code == 200 and html.content_type.startswith("text/html"), (html.status_code, html.data[:300])
    page = html.data.decode("utf-8")
    for fid in expected:
        assert f"城镇开发边界 {fid}</caption>" in page, fid
        assert by_id[fid]["properties"]["GHFQMC"] in page
    assert "规划分区名称" in page  # the catalogue's label of GHFQMC
    text = feature_info(anonymous, grid, i, j, "text/plain", FEATURE_COUNT="50")
    assert text.status_code == 200 and text.content_type.startswith("text/plain"), (text.status_code, text.data[:300])
    blocks = text.data.decode("utf-8").split("\n\n")
    assert {b.splitlines()[0] for b in blocks} == {f"{LAYER} {fid}" for fid in expected}
    for b in blocks:
        fid = b.splitlines()[0].split()[1]
        assert f"  GHFQMC = {by_id[fid]['properties']['GHFQMC']}" in b.splitlines()
    oi, oj = pixel_outside(geoms, grid)
    assert "no feature here" in feature_info(anonymous, grid, oi, oj, "text/html").data.decode()
    assert feature_info(anonymous, grid, oi, oj, "text/plain").data.decode().strip() == f"{LAYER}: no feature here"


MARKUP = "<script>alert(1)</script><b>&\"x'</b>"


def test_feature_info_html_escapes_the_values(fresh_settings):
    """A value holding markup (written into a copy of the store) comes back escaped in the HTML answer: no
    script element, no raw markup; the text is still there, escaped."""
    from onemap.providers.store import open_store
    from onemap.server.app import create_app

    store = open_store(fresh_settings.store_url)
    try:
        literal = MARKUP.replace("'", "''")
        with store.write_cursor() as cur:
            cur.execute(f"UPDATE {store._table_sql(LAYER)} SET \"BZ\" = '{literal}'")
    finally:
        store.close()
    anonymous = create_app(fresh_settings).test_client()
    feats = features(anonymous)
    assert all(f["properties"]["BZ"] == MARKUP for f in feats)
    geoms = geometries(feats)
    grid = square_grid("EPSG:4490", region_box(geoms), 640)
    i, j = pixel_inside(geoms, grid)
    r = feature_info(anonymous, grid, i, j, "text/html")
    assert r.status_code == 200 and r.content_type.startswith("text/html")
    page = r.data.decode("utf-8")
    assert "<script" not in page and "<b>" not in page, page[:800]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    from lxml import html as lxml_html

    doc = lxml_html.fromstring(page)
    assert not doc.xpath("//script") and MARKUP in doc.text_content()


@pytest.mark.parametrize(("layers", "code"), [("basemap", "LayerNotQueryable"), ("nope", "LayerNotDefined")])
@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_feature_info_of_a_layer_that_is_not_queryable_or_unknown_is_a_400(anonymous, city, layers, code, version):
    """GetFeatureInfo of the basemap (not queryable) or of a layer that does not exist: a 400 with an OGC
    exception report naming why, never a 500 or an empty answer."""
    _, geoms, grid = city
    i, j = pixel_inside(geoms, grid)
    r = feature_info(anonymous, grid, i, j, "application/json", version, layer=layers)
    assert r.status_code == 400, (r.status_code, r.data[:300])
    assert exception_code(r) == code


# ---- legends ----------------------------------------------------------------------------------------------------
def test_capabilities_list_a_legend_url_for_every_layer_and_it_is_a_png(anonymous):
    """Every thematic layer's style in the WMS capabilities has a LegendURL; each answers a PNG of the size the
    capabilities say; czkfbj's shows its fill colour (at the legend's 0.85 opacity on white)."""
    doc = etree.fromstring(anonymous.get("/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0").data)
    seen = set()
    for lyr in doc.findall(".//wms:Layer[wms:Name]", WMS_NS):
        name = lyr.findtext("wms:Name", namespaces=WMS_NS)
        if name not in TIERS:
            continue
        legend = lyr.find("wms:Style/wms:LegendURL", WMS_NS)
        assert legend is not None, name
        href = legend.find("wms:OnlineResource", WMS_NS).get(f"{{{WMS_NS['xlink']}}}href")
        parts = urlsplit(href)
        r = anonymous.get(f"{parts.path}?{parts.query}")
        assert r.status_code == 200 and r.data[:8] == b"\x89PNG\r\n\x1a\n", (name, r.status_code, r.data[:200])
        img = np.asarray(Image.open(io.BytesIO(r.data)).convert("RGB"))
        assert (img.shape[1], img.shape[0]) == (int(legend.get("width")), int(legend.get("height"))), name
        assert img.std() > 10, name  # not a blank
        if name == LAYER:
            swatch = hex_rgb(LOOK.fill) * 0.85 + 255 * 0.15
            assert (np.abs(img.astype(float) - swatch).max(axis=2) <= 3).sum() >= 100, "no fill swatch"
        seen.add(name)
    assert seen == PUBLIC


@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_get_legend_graphic(anonymous, version):
    """GetLegendGraphic of czkfbj in both versions: a PNG."""
    params = {"SERVICE": "WMS", "VERSION": version, "REQUEST": "GetLegendGraphic", "LAYER": LAYER,
              "FORMAT": "image/png", "STYLE": ""}
    if version == "1.3.0":
        params["SLD_VERSION"] = "1.1.0"
    r = anonymous.get("/basemaps/service?" + urlencode(params))
    assert r.status_code == 200 and r.content_type == "image/png", (r.status_code, r.data[:300])
    assert Image.open(io.BytesIO(r.data)).format == "PNG"


# ---- who sees what ----------------------------------------------------------------------------------------------
def wms_layer_names(resp) -> set[str]:
    assert resp.status_code == 200, resp.data[:300]
    doc = etree.fromstring(resp.data)
    return {e.text for e in doc.xpath("//*[local-name()='Layer']/*[local-name()='Name']")}


def wmts_layer_names(resp) -> set[str]:
    assert resp.status_code == 200, resp.data[:300]
    return {e.text for e in etree.fromstring(resp.data).findall("w:Contents/w:Layer/ows:Identifier", WMTS_NS)}


CAPS = {
    "wms130": "/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
    "wms111": "/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1",
    "wmts": "/basemaps/wmts/1.0.0/WMTSCapabilities.xml",
    "wmtskvp": "/basemaps/service?SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0",
}


@pytest.mark.parametrize("caps", list(CAPS))
def test_capabilities_list_what_the_caller_may_see(client, anonymous, caps):
    """Anonymous: the basemap and every public catalogue layer (config/catalogue.yaml), and nothing of the
    partner and internal tiers; the admin: every catalogue layer."""
    names = wms_layer_names if caps.startswith("wms1") else wmts_layer_names
    anon = names(anonymous.get(CAPS[caps])) - {"default"}
    admin = names(client.get(CAPS[caps])) - {"default"}
    assert anon & set(TIERS) == PUBLIC, sorted(anon)
    assert "basemap" in anon
    assert admin & set(TIERS) == set(TIERS), sorted(admin)
    assert not (anon & (set(TIERS) - PUBLIC))
    # the demo's unpublished control lines and the bureaus' land registers (批供用补查)
    assert INTERNAL == {"stbhhx", "yjjbnt", "ydsp", "tdgy", "bcgd", "zfjc"}


@pytest.mark.parametrize(("role", "tiers"), [("partner", ("public", "partner")),
                                             ("internal", ("public", "partner", "internal"))])
def test_a_signed_in_caller_sees_the_layers_of_the_tiers_it_reaches(app, om, city, role, tiers):
    """A partner's token shows the public and partner layers (not the internal control lines) in the WMS and
    WMTS capabilities and draws a partner layer, while an internal layer is refused as unknown; an internal
    user's token shows every layer."""
    from .auth import signed_in, token_for

    who = signed_in(app.test_client(), token_for(om.store, role))
    seen = {lid for lid, tier in TIERS.items() if tier in tiers}
    assert wms_layer_names(who.get(CAPS["wms130"])) & set(TIERS) == seen
    assert wmts_layer_names(who.get(CAPS["wmts"])) & set(TIERS) == seen
    _, _, grid = city
    for lid in sorted(set(TIERS) - PUBLIC):
        r = who.get(wms_url("1.3.0", "GetMap", lid, grid))
        if lid in seen:
            assert r.status_code == 200 and r.content_type == "image/png", (lid, r.status_code, r.data[:300])
        else:
            assert r.status_code == 400 and exception_code(r) == "LayerNotDefined", (lid, r.status_code)


def test_tms_capabilities_hide_internal_layers(client, anonymous):
    """TMS's service document lists the tile maps the caller may see."""
    anon = anonymous.get("/basemaps/tms/1.0.0/").data.decode()
    admin = client.get("/basemaps/tms/1.0.0/").data.decode()
    for lid in INTERNAL:
        assert f"/{lid}/" not in anon, lid
        assert f"/{lid}/" in admin, lid
    assert f"/{LAYER}/" in anon


NOT_PUBLIC = sorted(set(TIERS) - PUBLIC)  # the internal control lines and the partners' layers


@pytest.mark.parametrize("internal", NOT_PUBLIC)
def test_internal_layer_is_refused_to_anonymous_like_an_unknown_one(client, anonymous, city, internal):
    """As anonymous a layer of the internal (or partner) tier is answered as a layer that does not exist: WMS
    GetMap (alone or beside a public layer), GetFeatureInfo (also when only QUERY_LAYERS names it) and
    GetLegendGraphic a 400 LayerNotDefined, WMTS KVP a 400, RESTful/XYZ/TMS tiles the 4xx of a layer that does
    not exist; as the admin the same requests draw the layer."""
    _, geoms, grid = city
    for version in ("1.1.1", "1.3.0"):
        url = wms_url(version, "GetMap", internal, grid)
        r = anonymous.get(url)
        assert r.status_code == 400 and exception_code(r) == "LayerNotDefined", (version, r.status_code, r.data[:300])
        unknown = anonymous.get(wms_url(version, "GetMap", "nosuchlayer", grid))
        assert unknown.status_code == 400 and exception_code(unknown) == "LayerNotDefined"
        assert r.data.replace(internal.encode(), b"X") == unknown.data.replace(b"nosuchlayer", b"X")
        assert client.get(url).status_code == 200 and rgba(client.get(url))[..., 3].any()
    both = anonymous.get(wms_url("1.3.0", "GetMap", f"{LAYER},{internal}", grid))
    assert both.status_code == 400 and exception_code(both) == "LayerNotDefined", both.data[:300]
    i, j = pixel_inside(geoms, grid)
    fi = feature_info(anonymous, grid, i, j, "application/json", layer=internal)
    assert fi.status_code == 400 and exception_code(fi) == "LayerNotDefined"
    only_query = anonymous.get(wms_url("1.3.0", "GetFeatureInfo", LAYER, grid, QUERY_LAYERS=internal,
                                       INFO_FORMAT="application/json", I=str(i), J=str(j)))
    assert only_query.status_code == 400 and exception_code(only_query) == "LayerNotDefined", only_query.data[:300]
    assert feature_info(client, grid, i, j, "application/json", layer=internal).status_code == 200
    legend = anonymous.get(f"/basemaps/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetLegendGraphic&LAYER={internal}"
                           "&FORMAT=image/png")
    assert legend.status_code == 400 and exception_code(legend) == "LayerNotDefined"
    # a tile over the region
    col, row = half_covered_tile(geoms, tianditu_c_bounds, 10, grid.bbox)
    for path in (f"/basemaps/wmts/{internal}/TiandituC/10/{col}/{row}.png",
                 f"/basemaps/wmts/{internal}/WebMercatorQuad/10/{col}/{row}.png",
                 f"/basemaps/tiles/1.0.0/{internal}/CGCS2000Quad/9/{col}/{row}.png?origin=nw",
                 f"/basemaps/tms/1.0.0/{internal}/CGCS2000Quad/9/{col}/0.png"):
        r = anonymous.get(path)
        unknown = anonymous.get(path.replace(f"/{internal}/", "/nosuchlayer/"))
        assert 400 <= r.status_code < 500 and r.status_code == unknown.status_code, (path, r.status_code, r.data[:200])
        assert not r.content_type.startswith("image/")
    ok = client.get(f"/basemaps/wmts/{internal}/TiandituC/10/{col}/{row}.png")
    assert ok.status_code == 200 and ok.content_type == "image/png"
    kvp = {"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "STYLE": "default",
           "TILEMATRIXSET": "TiandituC", "TILEMATRIX": "10", "TILEROW": row, "TILECOL": col, "FORMAT": "image/png"}
    hidden = anonymous.get("/basemaps/service?" + urlencode({**kvp, "LAYER": internal}))
    assert hidden.status_code == 400 and exception_code(hidden), (hidden.status_code, hidden.data[:300])
    assert client.get("/basemaps/service?" + urlencode({**kvp, "LAYER": internal})).status_code == 200


def hidden_and_unknown(internal: str, col: int, row: int) -> list[str]:
    """Every way to ask MapProxy for a layer by name, with @L@ for the name."""
    kvp = urlencode({"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "STYLE": "default",
                     "TILEMATRIXSET": "TiandituC", "TILEMATRIX": "10", "TILEROW": row, "TILECOL": col,
                     "FORMAT": "image/png"})
    return [
        f"/basemaps/service?LAYER=@L@&{kvp}",
        f"/basemaps/wmts/@L@/TiandituC/10/{col}/{row}.png",
        f"/basemaps/tiles/1.0.0/@L@/TiandituC/10/{col}/{row}.png?origin=nw",
        f"/basemaps/tms/1.0.0/@L@/TiandituC/10/{col}/{2 ** 9 - 1 - row}.png",
        "/basemaps/tms/1.0.0/@L@/TiandituC",
        "/basemaps/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=@L@&FORMAT=image/png&SLD_VERSION=1.1.0",
    ]


@pytest.mark.parametrize("internal", NOT_PUBLIC)
def test_a_hidden_layer_cannot_be_told_from_one_that_does_not_exist(anonymous, city, internal):
    """Refused *like* an unknown layer: for every way of naming a layer (WMTS KVP and RESTful, XYZ, TMS tile and
    tile map, legend), an internal layer asked for by an anonymous caller gets the answer a layer that does not
    exist gets (status, media type and body, the name aside), so the answer does not reveal that it exists."""
    _, geoms, grid = city
    col, row = half_covered_tile(geoms, tianditu_c_bounds, 10, grid.bbox)
    told_apart = []
    for url in hidden_and_unknown(internal, col, row):
        hidden = anonymous.get(url.replace("@L@", internal))
        unknown = anonymous.get(url.replace("@L@", "nosuchlayer"))
        assert 400 <= hidden.status_code < 500, (url, hidden.status_code)
        if hidden.data.replace(internal.encode(), b"X") != unknown.data.replace(b"nosuchlayer", b"X") or \
                (hidden.status_code, hidden.content_type) != (unknown.status_code, unknown.content_type):
            told_apart.append((url, f"hidden: {hidden.status_code} {hidden.content_type} {hidden.data[:160]!r}",
                               f"unknown: {unknown.status_code} {unknown.content_type} {unknown.data[:160]!r}"))
    if told_apart:
        pytest.fail("told apart:\n" + "\n".join("  ".join(t) for t in told_apart), pytrace=False)


# ---- TIME, VIEW and RECORDED: the drawer parameters ------------------------------------------------------------
def earliest_master(client) -> str:
    """The first day a master plan came in force (the plans register, read through the API)."""
    plans = all_items(client, "/collections/plans/items?f=json&limit=1000")
    starts = [p["properties"]["valid_from"] for p in plans
              if p["properties"].get("type") == "master" and p["properties"].get("valid_from")]
    assert starts
    return min(starts)[:10]


def test_time_before_the_plans_gives_an_empty_map(client, anonymous, city):
    """WMS TIME of a day before any master plan was in force (from /collections/plans): /items of that day is
    empty and so is the map, all transparent, where today's map has the boundary; GetFeatureInfo of that
    day finds nothing at a pixel where today it finds the feature."""
    _, geoms, grid = city
    first = earliest_master(client)
    before = f"{int(first[:4]) - 1}{first[4:]}"
    assert features(anonymous, datetime=before) == []
    then = rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid, TIME=before)))
    assert not then[..., 3].any()
    assert rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid)))[..., 3].any()
    i, j = pixel_inside(geoms, grid)
    past = feature_info(anonymous, grid, i, j, "application/json", TIME=before)
    assert past.status_code == 200 and json.loads(past.data)["features"] == []


def test_time_is_part_of_a_one_tile_map_s_cache_key(client, anonymous, city):
    """A WMS map that is exactly one tile is drawn through the map tile cache: today's map (cached first) must
    not answer a TIME of another day, and that day's map must not answer today's: before the plans it is empty,
    on 2022-06-01 it is that day's boundary. Through both ways in (the admin's goes through Flask)."""
    _, geoms_now, grid = city
    first = earliest_master(client)
    before = f"{int(first[:4]) - 1}{first[4:]}"
    then = geometries(features(anonymous, datetime="2022-06-01"))
    col, row = half_covered_tile(geoms_now, tianditu_c_bounds, 12, grid.bbox)
    one = Grid("EPSG:4490", tianditu_c_bounds(12, col, row), (256, 256))
    for who in (anonymous, client):
        now = rgba(who.get(wms_url("1.3.0", "GetMap", LAYER, one)))
        assert_drawn_where_features_are(now, geoms_now, one, "one tile, today")
        assert not rgba(who.get(wms_url("1.3.0", "GetMap", LAYER, one, TIME=before)))[..., 3].any()
        past = rgba(who.get(wms_url("1.1.1", "GetMap", LAYER, one, TIME="2022-06-01")))
        if then:
            assert_drawn_where_features_are(past, then, one, "one tile, 2022-06-01")
        assert np.array_equal(rgba(who.get(wms_url("1.3.0", "GetMap", LAYER, one))), now)
        i, j = pixel_inside(geoms_now, one)
        gone = feature_info(who, one, i, j, "application/json", TIME=before)
        assert gone.status_code == 200 and json.loads(gone.data)["features"] == []


def test_time_draws_that_days_plans(anonymous, city):
    """WMS TIME of a past day (2022-06-01: the city's 2021 master plan, before its 2023 revision moved part of
    the boundary) draws the features /items gives for that day, not today's."""
    _, geoms_now, grid = city
    day = "2022-06-01"
    then = geometries(features(anonymous, datetime=day))
    assert then
    moved = shapely.union_all(geoms_now).symmetric_difference(shapely.union_all(then)).area
    assert moved > 0  # the days differ, or this test proves nothing about TIME
    img = rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid, TIME=day)))
    assert_drawn_where_features_are(img, then, grid, f"WMS TIME={day}")
    img111 = rgba(anonymous.get(wms_url("1.1.1", "GetMap", LAYER, grid, TIME=day)))
    assert np.array_equal(img, img111)


def test_recorded_draws_the_registry_as_it_stood(anonymous, city):
    """WMS RECORDED is passed through: as recorded on 2023-01-01 (before the city's 2023 revision was filed) the
    map shows what /items?recorded= gives for that instant, where the boundary differs from today's."""
    _, geoms_now, grid = city
    when = "2023-01-01T00:00:00Z"
    then = geometries(features(anonymous, recorded=when))
    assert shapely.union_all(geoms_now).symmetric_difference(shapely.union_all(then)).area > 0
    img = rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid, RECORDED=when)))
    assert_drawn_where_features_are(img, then, grid, f"WMS RECORDED={when}")
    assert not np.array_equal(img, rgba(anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid))))


@pytest.mark.parametrize("param", ["VIEW", "RECORDED"])
def test_malformed_view_or_recorded_is_a_400_exception_report(anonymous, city, param):
    """VIEW and RECORDED are checked as the API checks them: a value it does not take is a 400 exception
    report, not a 500 and not a map of something else."""
    _, _, grid = city
    r = anonymous.get(wms_url("1.3.0", "GetMap", LAYER, grid, **{param: "bogus"}))
    assert r.status_code == 400 and exception_code(r) == "InvalidParameterValue", (r.status_code, r.data[:300])


@pytest.mark.parametrize("value", ["garbage", "2020-13-45", "2024-01-01/2020-01-01", "99999-01-01", "2020-01-01T25:00"])
@pytest.mark.parametrize("version", ["1.1.1", "1.3.0"])
def test_malformed_time_is_a_400_exception_report(anonymous, city, value, version):
    """A TIME that is not a date (or an interval ending before it starts) is a 400 with an OGC exception report
    (InvalidParameterValue), on GetMap and on GetFeatureInfo: never a 500, never a map."""
    _, geoms, grid = city
    r = anonymous.get(wms_url(version, "GetMap", LAYER, grid, TIME=value))
    assert r.status_code == 400, (value, r.status_code, r.data[:300])
    assert exception_code(r) == "InvalidParameterValue"
    i, j = pixel_inside(geoms, grid)
    fi = feature_info(anonymous, grid, i, j, "application/json", version, TIME=value)
    assert fi.status_code == 400 and exception_code(fi) == "InvalidParameterValue", (value, fi.status_code)


# ---- invalidated with the vector tiles ------------------------------------------------------------------------
def mosaic(client, geoms: list, z: int, box: tuple[float, float, float, float]) -> tuple[np.ndarray, Grid]:
    """Every TiandituC tile of level z over ``box`` (lon/lat), put together, and the grid they cover."""
    span = 360 / 2 ** z
    c0, c1 = int((box[0] + 180) // span), int((box[2] + 180) // span)
    r0, r1 = int((90 - box[3]) // span), int((90 - box[1]) // span)
    img = np.zeros(((r1 - r0 + 1) * 256, (c1 - c0 + 1) * 256, 4), dtype=np.uint8)
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            img[(r - r0) * 256:(r - r0 + 1) * 256, (c - c0) * 256:(c - c0 + 1) * 256] = \
                rgba(client.get(f"/basemaps/wmts/{LAYER}/TiandituC/{z}/{c}/{r}.png"))
    left, _, _, top = tianditu_c_bounds(z, c0, r0)
    _, bottom, right, _ = tianditu_c_bounds(z, c1, r1)
    return img, Grid("EPSG:4490", (left, bottom, right, top), (img.shape[1], img.shape[0]))


def test_map_tiles_follow_a_plan_change(fresh_settings):
    """Map tiles are cached, and a plan change makes the ones it touches stale at once (as the vector tiles):
    the TiandituC tiles over the region (put together: they also meet seamlessly) match today's features;
    after the city's 2023 master plan is withdrawn over HTTP (its 2021 predecessor reinstated) the same tiles,
    and a WMS GetMap of exactly one of them, match the features /items gives then."""
    from onemap.server.app import create_app

    from .auth import admin_client

    app = create_app(fresh_settings)
    admin, anonymous = admin_client(app), app.test_client()
    before = geometries(features(anonymous))
    box = region_box(before)
    img, grid = mosaic(anonymous, before, 12, box)
    assert_drawn_where_features_are(img, before, grid, "tiles before")
    again, _ = mosaic(anonymous, before, 12, box)  # from the cache now
    assert np.array_equal(img, again)

    r = admin.post("/plans/990100-city-master-2023/withdraw", json={"reason": "rendered map invalidation test"})
    assert r.status_code == 200, r.data[:300]
    after = geometries(features(anonymous))
    assert shapely.union_all(before).symmetric_difference(shapely.union_all(after)).area > 0
    img2, grid2 = mosaic(anonymous, after, 12, box)
    assert grid2 == grid and not np.array_equal(img, img2)
    assert_drawn_where_features_are(img2, after, grid, "tiles after the withdrawal")
    # a WMS map that is exactly one tile (drawn through the same cache)
    col, row = half_covered_tile(after, tianditu_c_bounds, 12, box)
    one = Grid("EPSG:4490", tianditu_c_bounds(12, col, row), (256, 256))
    assert_drawn_where_features_are(rgba(anonymous.get(wms_url("1.1.1", "GetMap", LAYER, one))), after, one,
                                    "one-tile WMS map after the withdrawal")


# ---- real clients against a real server (gunicorn): GDAL's WMTS on Tianditu's grid, GDAL's WMS --------------
needs_gdal = pytest.mark.skipif(shutil.which("gdal_translate") is None,
                                reason="GDAL's command-line tools are installed by deploy/test.sh")


@pytest.fixture(scope="module")
def live(tmp_path_factory, demo_dir):
    """`onemap serve` (gunicorn) over a copy of the demo GeoPackage."""
    from .liveserver import serve

    data = tmp_path_factory.mktemp("maps-serve")
    copy_store(pristine(demo_dir), data / "onemap.gpkg")
    shutil.copy2(demo_dir / "dem.tif", data / "dem.tif")
    with serve({"ONEMAP_DATA_DIR": str(data)}, workers=1) as url:
        yield url


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


@needs_gdal
def test_gdal_reads_the_tianditu_grid_and_it_lines_up(live, tmp_path):
    """GDAL's WMTS driver opens czkfbj on TiandituC from the capabilities and reads a window over the central
    city: using the geotransform GDAL reports, the raster's coloured pixels lie where the features from the
    server's /items are (as for WMS), to the pixel; features moved by a few pixels do not line up."""
    feats = json.loads(fetch(f"{live}/collections/{LAYER}/items?f=json&limit=1000"))["features"]
    geoms = geometries(feats)
    x0, y0, x1, y1 = region_box(geoms, 0.05)
    caps = f"WMTS:{live}/basemaps/wmts/1.0.0/WMTSCapabilities.xml,layer={LAYER},tilematrixset=TiandituC"
    env = dict(os.environ, GDAL_DEFAULT_WMS_CACHE_PATH=str(tmp_path / "gdalwmscache"))
    info = subprocess.run(["gdalinfo", "-json", caps], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path, check=False)
    assert info.returncode == 0, info.stderr
    wkt = json.loads(info.stdout)["coordinateSystem"]["wkt"]
    assert "China Geodetic Coordinate System 2000" in wkt or '"EPSG",4490' in wkt, wkt[:300]
    width = 600
    height = round(width * (y1 - y0) / (x1 - x0))
    dst = tmp_path / "czkfbj.tif"
    out = subprocess.run(["gdal_translate", "-q", "-of", "GTiff", "-outsize", str(width), str(height), "-projwin",
                          repr(x0), repr(y1), repr(x1), repr(y0), caps, str(dst)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    with rasterio.open(dst) as ds:
        assert ds.count == 4, ds.count  # RGBA: the alpha band says where the map is drawn
        t = ds.transform
        assert t.b == 0 and t.d == 0 and t.e < 0
        img = ds.read().transpose(1, 2, 0)
        b = ds.bounds
    grid = Grid("EPSG:4490", (b.left, b.bottom, b.right, b.top), (img.shape[1], img.shape[0]))
    rx, ry = grid.res_xy
    assert abs(t.a - rx) <= rx * 1e-6 and abs(-t.e - ry) <= ry * 1e-6 and abs(rx - ry) <= 0.01 * rx  # (~square)
    assert abs(b.left - x0) < 2 * grid.res and abs(b.top - y1) < 2 * grid.res
    assert_drawn_where_features_are(img, geoms, grid, "GDAL WMTS TiandituC")
    # the control: features a few pixels away from where GDAL says they are do not match the picture
    shifted = [shapely.affinity.translate(g, xoff=4 * grid.res, yoff=-3 * grid.res) for g in geoms]
    with pytest.raises(AssertionError, match="px off"):
        assert_drawn_where_features_are(img, shifted, grid, "shifted")


@needs_gdal
def test_gdal_reads_the_wms_1_3_0_in_epsg4490(live, tmp_path):
    """GDAL's WMS driver, given the czkfbj layer as GDAL lists it from the WMS 1.3.0 capabilities (CRS EPSG:4490,
    lat, lon BBOX), with TRANSPARENT=TRUE, reads a window over the central city that lies on the features:
    a real client's reading of 1.3.0's axis order agrees with the server's."""
    feats = json.loads(fetch(f"{live}/collections/{LAYER}/items?f=json&limit=1000"))["features"]
    geoms = geometries(feats)
    x0, y0, x1, y1 = region_box(geoms, 0.05)
    env = dict(os.environ, GDAL_DEFAULT_WMS_CACHE_PATH=str(tmp_path / "gdalwmscache"))
    info = subprocess.run(["gdalinfo", f"WMS:{live}/basemaps/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False)
    assert info.returncode == 0, info.stderr
    names = [ln.split("=", 1)[1] for ln in info.stdout.splitlines()
             if "SUBDATASET_" in ln and "_NAME=" in ln and f"LAYERS={LAYER}&" in ln and "EPSG:4490" in ln]
    assert names, info.stdout[:2000]
    width = 600
    height = round(width * (y1 - y0) / (x1 - x0))
    dst = tmp_path / "wms.tif"
    out = subprocess.run(["gdal_translate", "-q", "-outsize", str(width), str(height), "-projwin", repr(x0), repr(y1),
                          repr(x1), repr(y0), names[0] + "&TRANSPARENT=TRUE", str(dst)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    with rasterio.open(dst) as ds:
        assert ds.count == 4, ds.count
        img = ds.read().transpose(1, 2, 0)
        b = ds.bounds
    grid = Grid("EPSG:4490", (b.left, b.bottom, b.right, b.top), (img.shape[1], img.shape[0]))
    assert_drawn_where_features_are(img, geoms, grid, "GDAL WMS 1.3.0 EPSG:4490")


def test_live_time_reaches_maps_and_feature_info(live):
    """Through gunicorn (one worker, real HTTP): WMS TIME of a day before the plans empties both the map and
    the feature info at a pixel inside the boundary, which today finds a feature; a malformed TIME is a 400."""
    feats = json.loads(fetch(f"{live}/collections/{LAYER}/items?f=json&limit=1000"))["features"]
    geoms = geometries(feats)
    grid = square_grid("EPSG:4490", region_box(geoms), 320)
    i, j = pixel_inside(geoms, grid)
    info = wms_url("1.3.0", "GetFeatureInfo", LAYER, grid, QUERY_LAYERS=LAYER, INFO_FORMAT="application/json",
                   I=str(i), J=str(j))
    assert json.loads(fetch(live + info))["features"]
    assert json.loads(fetch(live + info + "&TIME=2019-01-01"))["features"] == []
    img = np.asarray(Image.open(io.BytesIO(fetch(live + wms_url("1.3.0", "GetMap", LAYER, grid, TIME="2019-01-01")))))
    assert img.shape[2] == 4 and not img[..., 3].any()
    with pytest.raises(urllib.error.HTTPError) as bad:
        fetch(live + wms_url("1.3.0", "GetMap", LAYER, grid, TIME="soon"))
    assert bad.value.code == 400


@needs_gdal
def test_wmts_tianditu_c_matrices_are_levels_1_to_18(live):
    """The WMTS capabilities' TiandituC matrices are Tianditu's levels 1..18 (level n: 2^n x 2^(n-1) tiles
    from 90N 180W), compared by number. MapProxy numbers a grid from 0, so an extra level 0 (one tile, twice
    as coarse as Tianditu's level 1) precedes them; no client asks for it."""
    doc = etree.fromstring(fetch(f"{live}/basemaps/wmts/1.0.0/WMTSCapabilities.xml"))
    tms = next(t for t in doc.findall("w:Contents/w:TileMatrixSet", WMTS_NS)
               if t.findtext("ows:Identifier", namespaces=WMTS_NS) == "TiandituC")
    assert tms.findtext("ows:SupportedCRS", namespaces=WMTS_NS).endswith("4490")
    matrices = {int(m.findtext("ows:Identifier", namespaces=WMTS_NS)): m for m in tms.findall("w:TileMatrix", WMTS_NS)}
    assert sorted(set(matrices) - {0}) == list(range(1, 19)), sorted(matrices)
    for n in range(1, 19):
        m = matrices[n]
        assert (int(m.findtext("w:MatrixWidth", namespaces=WMTS_NS)), int(m.findtext("w:MatrixHeight", namespaces=WMTS_NS))
                ) == (2 ** n, 2 ** (n - 1)), n
        assert [float(v) for v in m.findtext("w:TopLeftCorner", namespaces=WMTS_NS).split()] == [90.0, -180.0]


@needs_gdal
@pytest.mark.parametrize("grid_id", ["TiandituC", "TiandituW"])
def test_wmts_tianditu_matrix_identifiers_are_tiandituss(live, grid_id):
    """Tianditu's capabilities name the matrices of its c and w grids "1" .. "18" (issue 15: "its own level
    ids"): a client that matches TILEMATRIX identifiers by string, as WMTS defines them, finds the same names
    here. (A level "0" before them is MapProxy's extra level, see above.)"""
    doc = etree.fromstring(fetch(f"{live}/basemaps/wmts/1.0.0/WMTSCapabilities.xml"))
    tms = next(t for t in doc.findall("w:Contents/w:TileMatrixSet", WMTS_NS)
               if t.findtext("ows:Identifier", namespaces=WMTS_NS) == grid_id)
    ids = [m.findtext("ows:Identifier", namespaces=WMTS_NS) for m in tms.findall("w:TileMatrix", WMTS_NS)]
    assert [i for i in ids if int(i) != 0] == [str(n) for n in range(1, 19)], ids


# ---- a fake Tianditu upstream on TiandituC ------------------------------------------------------------------------
def solid_png(rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), rgb).save(buf, "PNG")
    return buf.getvalue()


class _FakeTianditu(BaseHTTPRequestHandler):
    """``/tdt/{z}/{x}/{y}.png``: records (z, x, y) and answers a tile coloured (x % 256, y % 256, z * 10), so a
    served tile shows which upstream tile it was made from."""

    def do_GET(self) -> None:
        m = re.fullmatch(r"/tdt/(\d+)/(\d+)/(\d+)\.png", urlsplit(self.path).path)
        if not m:
            self.send_error(404)
            return
        z, x, y = (int(v) for v in m.groups())
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.seen.append((z, x, y))  # type: ignore[attr-defined]
        body = solid_png((x % 256, y % 256, z * 10))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fake_tianditu():
    """The fake upstream on a free port of 127.0.0.1, in a thread, for the test's duration."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _FakeTianditu)
    srv.seen = []  # type: ignore[attr-defined]
    srv.lock = threading.Lock()  # type: ignore[attr-defined]
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(10)


def basemaps_variant(om, data: Path, **update):
    """MapProxy under /basemaps on a bare Flask app, with other settings over the shared store."""
    from onemap.providers import basemap_render
    from onemap.providers.params import ParamContext
    from onemap.server.http import install
    from onemap.server.links import Links
    from onemap.server.routing import register

    basemap_render.ensure_basemap(om.settings, om.store)  # copied, so that the variant does not render its own
    data.mkdir(parents=True, exist_ok=True)
    for name in ("basemap.tif", "dem.tif"):
        shutil.copy2(Path(om.settings.data_dir) / name, data / name)
    settings = om.settings.model_copy(update={"data_dir": data, **update})
    app = Flask("maps-variant")
    install(app, 1 << 30)
    register(app, [basemaps.BasemapsAPI(settings, om.store, Links(om.links.base))], ParamContext())
    return app.test_client()


def test_fake_tianditu_upstream_on_tianditu_c_receives_tianditu_levels(om, city, tmp_path, fake_tianditu):
    """An upstream declared (as data, config/basemaps.yaml's format) on grid TiandituC with a {z}/{x}/{y} URL:
    a WMTS tile of TiandituC level 11 makes the upstream receive z=11 (Tianditu's numbering) at the tile's
    column and row, and the tile shows the upstream's pixels; CGCS2000Quad level 10 (the same tile, one level
    number lower) also asks the upstream for level 11, never 10."""
    _, geoms, grid = city
    port = fake_tianditu.server_address[1]
    defs = tmp_path / "basemaps.yaml"
    defs.write_text(basemaps.DEFAULT_DEFINITIONS.read_text(encoding="utf-8") + f"""
  - id: fake_tdt
    title: {{zh: 假天地图, en: Fake Tianditu}}
    url: "http://127.0.0.1:{port}/tdt/{{z}}/{{x}}/{{y}}.png"
    grid: TiandituC
    format: image/png
    levels: [1, 18]
""", encoding="utf-8")
    from onemap.config.settings import Settings

    assert Settings(basemaps=defs).basemap.definitions == defs
    c = basemaps_variant(om, tmp_path / "data", basemaps=defs)
    caps = etree.fromstring(c.get("/basemaps/wmts/1.0.0/WMTSCapabilities.xml").data)
    links = {e.text for e in caps.xpath("//w:Layer[ows:Identifier='fake_tdt']/w:TileMatrixSetLink/w:TileMatrixSet",
                                        namespaces=WMTS_NS)}
    assert {"TiandituC", "CGCS2000Quad"} <= links, links

    col, row = half_covered_tile(geoms, tianditu_c_bounds, 11, grid.bbox)
    r = c.get(f"/basemaps/wmts/fake_tdt/TiandituC/11/{col}/{row}.png")
    img = rgba(r)
    with fake_tianditu.lock:
        seen = list(fake_tianditu.seen)
        fake_tianditu.seen.clear()
    assert seen, "the upstream was not asked"
    assert {z for z, _, _ in seen} == {11}, seen
    assert (11, col, row) in seen, (col, row, seen)
    assert np.array_equal(np.median(img[..., :3].reshape(-1, 3), axis=0), [col % 256, row % 256, 110]), \
        np.median(img[..., :3].reshape(-1, 3), axis=0)

    # CGCS2000Quad level 10: the same tile under OneMap's numbers (a neighbour, not cached yet)
    col2 = col + 3
    r = c.get(f"/basemaps/wmts/fake_tdt/CGCS2000Quad/10/{col2}/{row}.png")
    img = rgba(r)
    with fake_tianditu.lock:
        seen = list(fake_tianditu.seen)
    assert seen, "the upstream was not asked"
    assert {z for z, _, _ in seen} == {11}, seen
    assert (11, col2, row) in seen, (col2, row, seen)
    centre = img[64:192, 64:192, :3].reshape(-1, 3)
    assert np.array_equal(np.median(centre, axis=0), [col2 % 256, row % 256, 110]), np.median(centre, axis=0)

    # TiandituC's level 0 is MapProxy's extra level, coarser than Tianditu's first: the upstream (levels [1, 18])
    # is not asked for a level 0 it does not have, and the tile is no error
    with fake_tianditu.lock:
        fake_tianditu.seen.clear()
    r = c.get("/basemaps/wmts/fake_tdt/TiandituC/0/0/0.png")
    assert r.status_code == 200, (r.status_code, r.data[:300])
    with fake_tianditu.lock:
        assert all(z >= 1 for z, _, _ in fake_tianditu.seen), fake_tianditu.seen
