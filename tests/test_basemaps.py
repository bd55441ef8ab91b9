"""Cached basemaps: the rendered raster, MapProxy under /basemaps/ (WMTS, TMS/XYZ, WMS), seeding.

Through the Flask test client for the protocol details, and against a real `onemap serve`
for the clients a user would point at it (GDAL's WMTS driver, OWSLib).
"""

from __future__ import annotations

import io
import itertools
import math
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import shapely
from flask import Flask
from lxml import etree
from PIL import Image
from rasterio.transform import from_bounds, from_origin, rowcol
from rasterio.warp import Resampling, reproject

from onemap.providers import basemap_render
from onemap.providers.store import open_store
from onemap.providers.store.base import When, today
from onemap.server import basemaps

WM, CG = basemaps.WEBMERCATOR, basemaps.CGCS2000
HALF = basemap_render.WEBMERCATOR_HALF
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
BACKGROUND = np.array(basemap_render.BACKGROUND, dtype=float)


# ---- helpers ------------------------------------------------------------------------------------
def wm_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(column, row from the top) of the Web Mercator tile holding a point."""
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def wm_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    size = 2 * HALF / 2 ** z
    return -HALF + x * size, HALF - (y + 1) * size, -HALF + (x + 1) * size, HALF - y * size


def cg_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(column, row from the top) of the CGCS2000 quad grid tile holding a point."""
    span = 0.703125 / 2 ** z * 256
    return int((lon + 180) / span), int((90 - lat) / span)


def cg_bounds(x: int, y: int, z: int) -> tuple[float, float, float, float]:
    span = 0.703125 / 2 ** z * 256
    return -180 + x * span, 90 - (y + 1) * span, -180 + (x + 1) * span, 90 - y * span


def image(resp) -> np.ndarray:
    """An image response as an (h, w, 3) float array."""
    assert resp.status_code == 200, (resp.status_code, resp.data[:300])
    assert resp.content_type.split(";")[0] in ("image/png", "image/jpeg"), resp.content_type
    return np.asarray(Image.open(io.BytesIO(resp.data)).convert("RGB"), dtype=float)


def is_region(img: np.ndarray) -> bool:
    """Land-cover colours with relief, not the flat background (or a blank)."""
    return img.std() > 15 and np.abs(img.reshape(-1, 3) - BACKGROUND).max(axis=1).mean() > 20


def caps_doc(resp) -> etree._Element:
    assert resp.status_code == 200, resp.data[:300]
    return etree.fromstring(resp.data)


def layer_sets(doc: etree._Element) -> dict[str, set[str]]:
    """WMTS layer id -> its tile matrix sets."""
    out = {}
    for lyr in doc.findall("w:Contents/w:Layer", WMTS_NS):
        ident = lyr.findtext("ows:Identifier", namespaces=WMTS_NS)
        out[ident] = {e.text for e in lyr.findall("w:TileMatrixSetLink/w:TileMatrixSet", WMTS_NS)}
    return out


def variant(om, data: Path, base_url: str | None = None, **settings_update):
    """MapProxy mounted on a bare Flask app over a copy of the shared data (for other settings)."""
    data.mkdir(parents=True, exist_ok=True)
    for name in ("basemap.tif", "dem.tif"):  # copy2 keeps the mtimes the fingerprint looks at
        src = Path(om.settings.data_dir) / name
        if src.exists() and src.resolve() != (data / name).resolve():
            shutil.copy2(src, data / name)
    settings = om.settings.model_copy(update={"data_dir": data, **settings_update})
    app, bm = basemaps_app(settings, om.store, base_url or om.links.base)
    return app.test_client(), bm, settings


def basemaps_app(settings, store, base_url: str):
    """The basemaps API alone on a bare Flask app (for other settings)."""
    from onemap.providers.params import ParamContext
    from onemap.server.http import install
    from onemap.server.links import Links
    from onemap.server.routing import register

    app = Flask("basemaps-variant")
    install(app, 1 << 30)
    api = basemaps.BasemapsAPI(settings, store, Links(base_url))
    register(app, [api], ParamContext())
    return app, api


@pytest.fixture(scope="module")
def region(settings, om) -> tuple[float, float, float, float]:
    """The survey's extent; also makes sure the shared basemap raster is rendered."""
    basemap_render.ensure_basemap(settings, om.store)
    return basemaps.region_bbox(settings, om.store)


@pytest.fixture(scope="module")
def centre(region) -> tuple[float, float]:
    return (region[0] + region[2]) / 2, (region[1] + region[3]) / 2


# ---- the raster ---------------------------------------------------------------------------------
def test_render_is_a_tiled_webmercator_geotiff_with_the_survey_colours(settings, om, region, tmp_path):
    data = tmp_path / "render"
    data.mkdir()
    shutil.copy2(Path(settings.data_dir) / "dem.tif", data / "dem.tif")
    own = settings.model_copy(update={"data_dir": data})
    path = basemap_render.render_basemap(own, om.store)
    assert path == data / "basemap.tif"
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 3857 and ds.count == 3 and ds.dtypes == ("uint8",) * 3
        assert ds.profile["tiled"] and ds.compression.name.lower() == "deflate"
        assert ds.overviews(1), "zoomed-out tiles read overviews"
        level = int(ds.tags()["ONEMAP_LEVEL"])
        res = basemap_render.level_resolution(level)
        t = ds.transform
        # the pixels lie on the Web Mercator tile grid of that level
        assert math.isclose(t.a, res) and math.isclose(-t.e, res)
        assert abs((t.c + HALF) / res - round((t.c + HALF) / res)) < 1e-6
        assert abs((HALF - t.f) / res - round((HALF - t.f) / res)) < 1e-6
        assert ds.tags()[basemap_render.FINGERPRINT_TAG] == basemap_render.fingerprint(own, om.store)
        rgb = ds.read()
    # the same survey gives the same raster on either backend (the shared one may be the other's)
    with rasterio.open(basemap_render.basemap_path(settings)) as shared:
        assert np.array_equal(shared.read(), rgb)
    # outside the region: the flat background
    assert tuple(rgb[:, 0, 0]) == basemap_render.BACKGROUND
    # inside a parcel: its class colour (compared by chromaticity, as the relief scales brightness)
    layer = om.catalogue.layers["dltb"]
    plan_ids = om.store.plans_in_force(When.at(today()), None, layer)
    geoms, cols = om.store.geometries(layer, plan_ids, columns=["DLBM"])
    order = np.argsort(-shapely.area(geoms))[:60]
    pal = basemap_render.palette()
    chroma = pal / pal.sum(axis=1, keepdims=True)
    checked = 0
    for i in order:
        inner = shapely.buffer(geoms[i], -4 * res / 111_000)
        if inner.is_empty:
            continue
        p = shapely.point_on_surface(inner)
        x, y = basemap_render.to_webmercator(np.array([p.x]), np.array([p.y]))
        row, col = rowcol(t, float(x[0]), float(y[0]))
        px = rgb[:, row, col].astype(float)
        expected = basemap_render.land_class(cols["DLBM"][i])
        assert np.argmin(np.abs(chroma - px / px.sum()).sum(axis=1)) == expected, (cols["DLBM"][i], px)
        checked += 1
    assert checked >= 20
    assert basemap_render.ensure_basemap(own, om.store) is False  # current: not rendered again


def test_to_webmercator_matches_pyproj():
    import pyproj

    lon = np.array([116.6, 117.4, -179.9, 0.0])
    lat = np.array([31.2, 31.75, -60.0, 85.0])
    x, y = basemap_render.to_webmercator(lon, lat)
    px, py = pyproj.Transformer.from_crs(4490, 3857, always_xy=True).transform(lon, lat)
    assert np.allclose(x, px, atol=1e-6) and np.allclose(y, py, atol=1e-6)


def test_a_survey_change_rerenders_and_refreshes_the_tiles(fresh_settings, demo_dir, centre):
    from onemap.providers.registry import Registry

    if not (fresh_settings.data_dir / "dem.tif").exists():
        shutil.copy2(demo_dir / "dem.tif", fresh_settings.data_dir / "dem.tif")
    store = open_store(fresh_settings.store_url)
    try:
        app, bm = basemaps_app(fresh_settings, store, "http://testserver")
        client = app.test_client()
        x, y = wm_tile(*centre, 10)
        url = f"/basemaps/wmts/basemap/{WM}/10/{x}/{y}.jpeg"
        assert is_region(image(client.get(url)))
        rendered = basemap_render.basemap_path(fresh_settings).stat().st_mtime_ns

        for survey in store.plans_in_force(When.at(today()), None, store.catalogue.layers["dltb"]):
            Registry(store).withdraw(survey, "测试员", "test: survey withdrawn", valid_to=today(), reinstate=False)
        time.sleep(0.01)  # a new mtime even on coarse file systems
        bm.refresh(force=True)  # serving checks this every few seconds; the test does not wait

        assert basemap_render.basemap_path(fresh_settings).stat().st_mtime_ns > rendered
        after = image(client.get(url))  # the cached tile is older than the raster: made anew
        assert not is_region(after)
        assert np.abs(after - BACKGROUND).mean() < 4
    finally:
        store.close()


# ---- WMTS ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/basemaps/wmts/1.0.0/WMTSCapabilities.xml",
                                 "/basemaps/service?SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0"])
def test_wmts_capabilities_list_the_basemap_in_both_matrix_sets(client, url):
    doc = caps_doc(client.get(url))
    assert layer_sets(doc)["basemap"] == set(basemaps.GRIDS)  # with Tianditu's c and w
    titles = [e.text for e in doc.findall("w:Contents/w:Layer/ows:Title", WMTS_NS)]
    assert any("示范省底图" in t for t in titles)
    for href in doc.xpath("//@xlink:href|//w:ResourceURL/@template", namespaces={**WMTS_NS,
                          "xlink": "http://www.w3.org/1999/xlink"}):
        assert href.startswith("http://testserver/basemaps/"), href


def test_cgcs2000_matrix_set_is_laid_out_like_tianditu_c(client):
    doc = caps_doc(client.get("/basemaps/wmts/1.0.0/WMTSCapabilities.xml"))
    tms = next(t for t in doc.findall("w:Contents/w:TileMatrixSet", WMTS_NS)
           if t.findtext("ows:Identifier", namespaces=WMTS_NS) == CG)
    assert tms.findtext("ows:SupportedCRS", namespaces=WMTS_NS).endswith("4490")
    matrices = tms.findall("w:TileMatrix", WMTS_NS)
    first = matrices[0]
    assert first.findtext("w:TopLeftCorner", namespaces=WMTS_NS).split() == ["90.0", "-180.0"]  # lat, lon
    assert (first.findtext("w:MatrixWidth", namespaces=WMTS_NS), first.findtext("w:MatrixHeight", namespaces=WMTS_NS)) \
        == ("2", "1")
    # 0.703125 degrees a pixel at level 0 (OGC's 0.28 mm pixel, degrees on the equatorial circle)
    expected = 0.703125 * 2 * math.pi * 6378137 / 360 / 0.00028
    assert math.isclose(float(first.findtext("w:ScaleDenominator", namespaces=WMTS_NS)), expected, rel_tol=1e-6)
    scales = [float(m.findtext("w:ScaleDenominator", namespaces=WMTS_NS)) for m in matrices]
    assert all(math.isclose(a / b, 2.0) for a, b in itertools.pairwise(scales))
    assert image(client.get(f"/basemaps/wmts/basemap/{CG}/0/1/0.jpeg")).shape == (256, 256, 3)
    for x, y in ((2, 0), (0, 1)):
        assert client.get(f"/basemaps/wmts/basemap/{CG}/0/{x}/{y}.jpeg").status_code == 400


def test_wmts_restful_and_kvp_tiles_show_the_region(anonymous, centre):
    x, y = wm_tile(*centre, 10)
    rest = anonymous.get(f"/basemaps/wmts/basemap/{WM}/10/{x}/{y}.jpeg")
    kvp = anonymous.get(f"/basemaps/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default"
                     f"&TILEMATRIXSET={WM}&TILEMATRIX=10&TILEROW={y}&TILECOL={x}&FORMAT=image/jpeg")
    img = image(rest)
    assert img.shape == (256, 256, 3) and is_region(img)
    assert kvp.data == rest.data
    assert rest.headers["Access-Control-Allow-Origin"] == "*"
    far = image(anonymous.get(f"/basemaps/wmts/basemap/{WM}/10/0/0.jpeg"))  # the Arctic: background only
    assert np.abs(far - BACKGROUND).mean() < 4


def test_tms_and_xyz_urls(client, centre):
    z = 11
    x, y = wm_tile(*centre, z)
    wmts = client.get(f"/basemaps/wmts/basemap/{WM}/{z}/{x}/{y}.jpeg").data
    xyz = client.get(f"/basemaps/tiles/1.0.0/basemap/{WM}/{z}/{x}/{y}.jpeg?origin=nw")
    assert xyz.status_code == 200 and xyz.data == wmts
    # TMS: rows from the bottom, and the global-mercator profile's level 0 is the 2x2 level
    tms = client.get(f"/basemaps/tms/1.0.0/basemap/{WM}/{z - 1}/{x}/{2 ** z - 1 - y}.jpeg")
    assert tms.status_code == 200 and tms.data == wmts
    tile_map = etree.fromstring(client.get(f"/basemaps/tms/1.0.0/basemap/{WM}").data)
    assert tile_map.find("TileFormat").get("mime-type") == "image/jpeg"
    assert tile_map.find("TileSets/TileSet").get("href").startswith("http://testserver/basemaps/tms/1.0.0/")


# ---- WMS ----------------------------------------------------------------------------------------
def getmap(client, crs: str, bbox: tuple[float, ...], size=(400, 300), fmt="image/png", version="1.3.0"):
    key = "CRS" if version == "1.3.0" else "SRS"
    return client.get(f"/basemaps/service?SERVICE=WMS&VERSION={version}&REQUEST=GetMap&LAYERS=basemap&STYLES="
                      f"&{key}={crs}&BBOX={','.join(map(str, bbox))}&WIDTH={size[0]}&HEIGHT={size[1]}&FORMAT={fmt}")


def test_wms_capabilities_offer_the_crs(client):
    doc = caps_doc(client.get("/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0"))
    ns = {"wms": "http://www.opengis.net/wms"}
    # the layer's own and those it inherits from the root layer (WMS 1.3.0, 7.2.4.6.7)
    crs = {e.text for e in doc.findall(".//wms:Layer[wms:Name='basemap']/wms:CRS", ns)}
    crs |= {e.text for e in doc.findall("wms:Capability/wms:Layer/wms:CRS", ns)}
    assert {"EPSG:3857", "EPSG:4490", "EPSG:4326", "CRS:84"} <= crs


def test_wms_epsg4490_takes_lat_lon_order(client, region):
    west, south, east, north = region
    latlon = image(getmap(client, "EPSG:4490", (south, west, north, east)))
    assert is_region(latlon)
    swapped = getmap(client, "EPSG:4490", (west, south, east, north))
    if swapped.status_code == 200 and swapped.content_type.startswith("image/"):
        assert not is_region(image(swapped))
    else:  # latitudes of 116 degrees: MapProxy reports an exception instead of a map
        assert b"ServiceException" in swapped.data
    # CRS:84 is lon/lat and shows the same place
    crs84 = image(getmap(client, "CRS:84", (west, south, east, north)))
    assert is_region(crs84) and np.abs(crs84 - latlon).mean() < 12


def test_wms_epsg3857(client, region):
    x0, y0 = basemap_render.to_webmercator(np.array([region[0]]), np.array([region[1]]))
    x1, y1 = basemap_render.to_webmercator(np.array([region[2]]), np.array([region[3]]))
    img = image(getmap(client, "EPSG:3857", (x0[0], y0[0], x1[0], y1[0]), fmt="image/jpeg"))
    assert is_region(img)


# ---- the two grids line up ----------------------------------------------------------------------
def test_cgcs2000_tile_lines_up_with_web_mercator(client, centre):
    z = 10
    cx, cy = cg_tile(*centre, z)
    cg_box = cg_bounds(cx, cy, z)
    cg = image(client.get(f"/basemaps/wmts/basemap/{CG}/{z}/{cx}/{cy}.jpeg"))
    assert is_region(cg)
    # the Web Mercator tiles (one level deeper: the same ground resolution) under that tile
    wz = z + 1
    x0, y0 = wm_tile(cg_box[0], cg_box[3], wz)
    x1, y1 = wm_tile(cg_box[2] - 1e-9, cg_box[1] + 1e-9, wz)
    mosaic = np.zeros(((y1 - y0 + 1) * 256, (x1 - x0 + 1) * 256, 3))
    for ty in range(y0, y1 + 1):
        for tx in range(x0, x1 + 1):
            tile = image(client.get(f"/basemaps/wmts/basemap/{WM}/{wz}/{tx}/{ty}.jpeg"))
            mosaic[(ty - y0) * 256:(ty - y0 + 1) * 256, (tx - x0) * 256:(tx - x0 + 1) * 256] = tile
    left, _, _, top = wm_bounds(x0, y0, wz)
    src_t = from_origin(left, top, 2 * HALF / 2 ** wz / 256, 2 * HALF / 2 ** wz / 256)

    def warped(box):
        out = np.zeros((3, 256, 256), dtype=np.float32)
        reproject(mosaic.transpose(2, 0, 1).astype(np.float32), out, src_transform=src_t, src_crs="EPSG:3857",
                  dst_transform=from_bounds(*box, 256, 256), dst_crs="EPSG:4490", resampling=Resampling.bilinear)
        return out.transpose(1, 2, 0)

    same_place = np.abs(warped(cg_box) - cg).mean()
    span = cg_box[2] - cg_box[0]
    shifted = (cg_box[0] + span / 16, cg_box[1], cg_box[2] + span / 16, cg_box[3])
    elsewhere = np.abs(warped(shifted) - cg).mean()
    assert same_place < 6, same_place
    assert elsewhere > 2 * same_place, (same_place, elsewhere)


# ---- mistakes of the client: a 4xx on both ways in (in front of Flask, and through its route) ----------------
@pytest.fixture(scope="module")
def both_ways(settings, om, region):
    """The basemaps as ``create_app`` mounts them in front of Flask (``BasemapsAPI.__call__``) and through the
    Flask route (``serve``, where route dependencies run)."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.test import Client
    from werkzeug.wrappers import Response as PlainResponse

    app, _ = basemaps_app(settings, om.store, om.links.base)
    front = Client(DispatcherMiddleware(PlainResponse("not here", status=404), {"/basemaps": om.basemaps}))
    return {"front": front, "flask": app.test_client()}


_GETMAP = "/basemaps/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=basemap&STYLES=&FORMAT=image/png&"
_GETFEATUREINFO = ("/basemaps/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=basemap&STYLES="
                   "&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10&")
_GETTILE = (f"/basemaps/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default"
            f"&TILEMATRIXSET={WM}&FORMAT=image/jpeg&")
MALFORMED = [
    "/basemaps/service?SERVICE=WMS",                                           # no REQUEST
    "/basemaps/service?SERVICE=WMS&REQUEST=GetMap",                            # parameters missing
    "/basemaps/service?REQUEST=GetMap&VERSION=1.3.0&LAYERS=basemap",
    "/basemaps/service?SERVICE=WMS&REQUEST=Nope",
    "/basemaps/service?SERVICE=WMS&VERSION=x.y&REQUEST=GetCapabilities",
    _GETMAP + "CRS=EPSG:3857&BBOX=a,b,c,d&WIDTH=10&HEIGHT=10",                # BBOX not numbers
    _GETMAP + "CRS=EPSG:3857&BBOX=1,2,3&WIDTH=10&HEIGHT=10",
    _GETMAP + "CRS=EPSG:3857&BBOX=3,2,1,0&WIDTH=10&HEIGHT=10",                # lower corner above upper
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1e400,1&WIDTH=10&HEIGHT=10",            # not finite (a map before)
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,nan,1&WIDTH=10&HEIGHT=10",
    _GETMAP + "CRS=EPSG:4490&BBOX=-1000,-1000,1000,1000&WIDTH=10&HEIGHT=10",  # beyond latitude and longitude
    _GETMAP + "CRS=CRS:84&BBOX=-1000,-1000,1000,1000&WIDTH=10&HEIGHT=10",
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1e-9,1e-9&WIDTH=10&HEIGHT=10",          # within a pixel of the finest level
    _GETMAP.replace("image/png", "image/gif") + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10",
    _GETMAP.replace("image/png", "nonsense") + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10",
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=100000&HEIGHT=100000",        # huge
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=99999999999999999999&HEIGHT=10",
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=0&HEIGHT=0",
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=-5&HEIGHT=10",
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=x&HEIGHT=10",
    _GETMAP + "CRS=EPSG:9999&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10",
    _GETMAP + "CRS=nonsense&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10",
    _GETMAP.replace("LAYERS=basemap", "LAYERS=nope") + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10",
    _GETMAP.replace("STYLES=", "STYLES=bold") + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10",
    _GETMAP.replace("LAYERS=basemap", "LAYERS=nope") + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=10&EXCEPTIONS=INIMAGE",
    _GETMAP.replace("1.3.0", "1.1.1") + "SRS=EPSG:4326&BBOX=-1000,-1000,1000,1000&WIDTH=10&HEIGHT=10",
    _GETFEATUREINFO + "QUERY_LAYERS=basemap&I=1&J=1&INFO_FORMAT=text/plain",  # not queryable
    _GETFEATUREINFO + "QUERY_LAYERS=nope&I=1&J=1",
    _GETFEATUREINFO + "QUERY_LAYERS=basemap&I=a&J=1",
    # an exception asked for as a picture where there is none to draw (was a 500: MapProxy failed writing it)
    _GETFEATUREINFO + "QUERY_LAYERS=basemap&I=1&J=1&INFO_FORMAT=text/plain&EXCEPTIONS=INIMAGE",
    _GETMAP.replace("LAYERS=basemap", "LAYERS=nope") + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=0&HEIGHT=10&EXCEPTIONS=INIMAGE",
    _GETMAP + "CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=10&HEIGHT=0&EXCEPTIONS=BLANK",
    "/basemaps/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=nope&FORMAT=image/png",
    # a rendered layer's legend and features (were 500s: MapProxy reads these numbers and formats late)
    "/basemaps/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=czkfbj&FORMAT=nope",
    "/basemaps/service?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetLegendGraphic&LAYER=czkfbj&FORMAT=image/png&SCALE=abc",
    _GETFEATUREINFO.replace("=basemap", "=czkfbj") + "QUERY_LAYERS=czkfbj&I=1&J=1&INFO_FORMAT=application/json"
                                                    "&FEATURE_COUNT=abc",
    "/basemaps/service?SERVICE=WMTS&REQUEST=GetTile",
    _GETTILE + "TILEMATRIX=x&TILEROW=0&TILECOL=0",
    _GETTILE + "TILEMATRIX=1&TILEROW=1.5&TILECOL=0",
    _GETTILE + "TILEMATRIX=99&TILEROW=0&TILECOL=0",
    _GETTILE + "TILEMATRIX=1&TILEROW=99999999999999999999&TILECOL=0",
    _GETTILE.replace("LAYER=basemap", "LAYER=nope") + "TILEMATRIX=1&TILEROW=0&TILECOL=0",
    _GETTILE.replace(WM, "nope") + "TILEMATRIX=1&TILEROW=0&TILECOL=0",
    _GETTILE.replace("image/jpeg", "image/gif") + "TILEMATRIX=1&TILEROW=0&TILECOL=0",
    _GETTILE.replace("GetTile", "GetFeatureInfo") + "TILEMATRIX=1&TILEROW=0&TILECOL=0&INFOFORMAT=text/plain&I=1&J=1",
    "/basemaps/service?SERVICE=WMTS&REQUEST=GetFeatureInfo",
    f"/basemaps/wmts/basemap/{WM}/99/0/0.jpeg", f"/basemaps/wmts/nope/{WM}/1/0/0.jpeg",
    f"/basemaps/wmts/basemap/{WM}/1/0/0.gif", f"/basemaps/wmts/basemap/{WM}/1/0.jpeg", "/basemaps/wmts/",
    f"/basemaps/tiles/1.0.0/basemap/{WM}/99/0/0.jpeg", "/basemaps/tms/1.0.0/nope/nope", "/basemaps/tms/",
    "/basemaps/nope",
]


@pytest.mark.parametrize("way", ["front", "flask"])
def test_malformed_requests_are_client_errors(both_ways, way):
    """Each a 4xx: MapProxy's OGC exception (or a picture of it, when asked for), or OneMap's 404; never a 500
    and never a map."""
    client = both_ways[way]
    for url in MALFORMED:
        r = client.get(url)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.data[:300])
        if r.mimetype.endswith("xml"):
            assert b"Exception" in r.data or b"Error" in r.data, (url, r.data[:300])
        else:
            assert r.mimetype in ("application/json", "text/plain") or "EXCEPTIONS=INIMAGE" in url, (url, r.mimetype)
    # and the same service still answers a well-formed request
    assert client.get(_GETMAP + "CRS=EPSG:3857&BBOX=0,0,1000,1000&WIDTH=10&HEIGHT=10").mimetype == "image/png"
    assert client.get(_GETTILE + "TILEMATRIX=1&TILEROW=0&TILECOL=0").mimetype == "image/jpeg"


@pytest.mark.parametrize("way", ["front", "flask"])
def test_methods_other_than_get_head_and_options_are_405(both_ways, way):
    client = both_ways[way]
    for url in ("/basemaps", "/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities",
                f"/basemaps/wmts/basemap/{WM}/1/0/0.jpeg", "/basemaps/wmts/1.0.0/WMTSCapabilities.xml"):
        for method in ("PUT", "DELETE", "TRACE", "POST", "PATCH"):
            r = client.open(url, method=method)
            assert r.status_code == 405, (url, method, r.status_code, r.data[:200])
            assert r.get_json()["code"] == "InvalidRequest"
        for method in ("GET", "HEAD", "OPTIONS"):
            assert client.open(url, method=method).status_code == 200, (url, method)


# ---- the demo service, upstreams, public URLs ---------------------------------------------------
def test_demo_service_is_off_by_default(client):
    assert client.get("/basemaps/demo/").status_code == 404


def test_demo_service_on_with_the_variable(om, region, tmp_path, monkeypatch):
    monkeypatch.setenv("ONEMAP_MAPPROXY_DEMO", "1")
    from onemap.config.settings import Settings

    assert Settings().mapproxy_demo  # the variable reaches the setting
    client, _, _ = variant(om, tmp_path / "demo", mapproxy_demo=True)
    resp = client.get("/basemaps/demo/")
    assert resp.status_code == 200 and b"basemap" in resp.data


def test_upstreams_appear_only_with_their_key(om, region, tmp_path, monkeypatch):
    names = [lyr["name"] for lyr in basemaps.mapproxy_config(om.settings, keys={})["layers"]]
    assert names == ["basemap"]

    conf = basemaps.mapproxy_config(om.settings, keys={"TIANDITU_KEY": "k-123"})
    names = [lyr["name"] for lyr in conf["layers"]]
    assert {"tianditu_vec", "tianditu_cva"} <= set(names)
    src = conf["sources"]["tianditu_vec_tiles"]
    assert src["type"] == "tile" and "tk=k-123" in src["url"] and "%(z)s" in src["url"]
    assert conf["caches"][f"tianditu_vec_{CG}"]["sources"] == [f"tianditu_vec_{WM}"]

    monkeypatch.setenv("TIANDITU_KEY", "k-123")
    from onemap.config.settings import Settings

    assert Settings().basemap.keys == {"TIANDITU_KEY": "k-123"}  # the variable reaches the setting
    client, _, settings = variant(om, tmp_path / "upstream", tianditu_key="k-123")
    sets = layer_sets(caps_doc(client.get("/basemaps/wmts/1.0.0/WMTSCapabilities.xml")))
    assert sets["tianditu_vec"] == set(basemaps.GRIDS) and sets["basemap"] == set(basemaps.GRIDS)
    # the generated file holds the key: only the server's user may read it
    assert stat.S_IMODE(basemaps.config_path(settings).stat().st_mode) == 0o600


def test_an_upstream_is_added_by_data_alone(om, tmp_path):
    defs = tmp_path / "basemaps.yaml"
    shipped = basemaps.DEFAULT_DEFINITIONS.read_text(encoding="utf-8")
    defs.write_text(shipped + """
  - id: local_xyz
    title: {zh: 测试瓦片, en: Test tiles}
    key_env: ONEMAP_TEST_XYZ_KEY
    url: "http://127.0.0.1:9/{z}/{x}/{y}.png?key={key}"
    grid: CGCS2000Quad
""", encoding="utf-8")
    off = basemaps.mapproxy_config(om.settings, keys={}, definitions=defs)
    assert "local_xyz" not in [lyr["name"] for lyr in off["layers"]]
    on = basemaps.mapproxy_config(om.settings, keys={"ONEMAP_TEST_XYZ_KEY": "abc%1"}, definitions=defs)
    assert "local_xyz" in [lyr["name"] for lyr in on["layers"]]
    assert on["sources"]["local_xyz_tiles"]["url"] == "http://127.0.0.1:9/%(z)s/%(x)s/%(y)s.png?key=abc%%1"
    # a native CGCS2000 service feeds the Web Mercator cache, not the other way round
    assert on["caches"][f"local_xyz_{WM}"]["sources"] == [f"local_xyz_{CG}"]


def test_capabilities_use_the_public_url_behind_a_prefix(om, region, tmp_path):
    client, _, _ = variant(om, tmp_path / "public", base_url="https://maps.example.org/onemap")
    resp = client.get("/basemaps/wmts/1.0.0/WMTSCapabilities.xml", headers={"X-Forwarded-Host": "evil.example"})
    templates = caps_doc(resp).xpath("//w:ResourceURL/@template", namespaces=WMTS_NS)
    assert templates and all(t.startswith("https://maps.example.org/onemap/basemaps/wmts/basemap/")
                             for t in templates)
    wms = client.get("/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0").data.decode()
    assert "https://maps.example.org/onemap/basemaps/service?" in wms and "evil.example" not in wms


# ---- seeding ------------------------------------------------------------------------------------
def test_seed_fills_both_grids_for_the_levels(settings, om, region, centre, tmp_path):
    data = tmp_path / "seed"
    data.mkdir()
    for name in ("basemap.tif", "dem.tif"):
        shutil.copy2(Path(settings.data_dir) / name, data / name)
    own = settings.model_copy(update={"data_dir": data})
    calls: list[tuple[str, float]] = []
    summary = basemaps.seed(own, om, levels=(0, 7), progress=lambda stage, f: calls.append((stage, f)))
    assert summary["tasks"] == [f"basemap_{WM}", f"basemap_{CG}"]
    for grid, tile in ((WM, wm_tile), (CG, cg_tile)):
        root = basemaps.mapproxy_dir(own) / "cache" / "basemap" / grid
        levels = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit())
        # CGCS2000 level 7 is made from Web Mercator level 8 (the same ground resolution)
        assert levels == (list(range(9)) if grid == WM else list(range(8))), (grid, levels)
        for z in range(8):
            x, y = tile(*centre, z)
            assert (root / str(z) / str(x) / f"{y}.jpeg").exists(), (grid, z, x, y)
    stages = {s for s, _ in calls}
    assert {f"seeding basemap_{WM}", f"seeding basemap_{CG}"} <= stages
    fractions = [f for _, f in calls]
    assert fractions[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions)
    # seeded tiles are served from the cache as they are
    client, _, _ = variant(SimpleNamespace(settings=own, store=om.store, catalogue=om.catalogue,
                                           links=om.links), data)
    x, y = wm_tile(*centre, 8)
    served = client.get(f"/basemaps/wmts/basemap/{WM}/8/{x}/{y}.jpeg").data
    assert served == (basemaps.mapproxy_dir(own) / "cache" / "basemap" / WM / "8" / str(x) / f"{y}.jpeg").read_bytes()


# ---- real clients against a real server ---------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_dir):
    from .liveserver import serve

    data = tmp_path_factory.mktemp("basemaps-serve")
    for name in ("onemap.gpkg", "dem.tif"):
        shutil.copy2(demo_dir / name, data / name)
    with serve({"ONEMAP_DATA_DIR": str(data)}, workers=1) as url:
        yield url


@pytest.fixture(scope="module")
def served_centre(demo_dir) -> tuple[float, float]:
    """The middle of the demo region the real server serves (backend-independent)."""
    import pyogrio

    west, south, east, north = pyogrio.read_info(demo_dir / "onemap.gpkg", layer="dltb")["total_bounds"]
    return (west + east) / 2, (south + north) / 2


needs_gdal = pytest.mark.skipif(shutil.which("gdalinfo") is None,
                                reason="GDAL's command-line tools are installed by deploy/test.sh")


@needs_gdal
def test_gdal_reads_the_wmts(server, tmp_path, served_centre):
    caps = f"WMTS:{server}/basemaps/wmts/1.0.0/WMTSCapabilities.xml"
    # GDAL caches the tiles it reads under ./gdalwmscache unless told otherwise
    env = dict(os.environ, GDAL_DEFAULT_WMS_CACHE_PATH=str(tmp_path / "gdalwmscache"))
    out = subprocess.run(["gdalinfo", caps], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert re.search(r"layer=basemap,tilematrixset=CGCS2000Quad", out.stdout)
    assert re.search(r"layer=basemap,tilematrixset=WebMercatorQuad", out.stdout)
    # and reads pixels of the region through the CGCS2000 matrix set
    lon, lat = served_centre
    dst = tmp_path / "region.tif"
    out = subprocess.run(["gdal_translate", "-q", "-outsize", "256", "256", "-projwin_srs", "EPSG:4326", "-projwin",
                          str(lon - 0.15), str(lat + 0.12), str(lon + 0.15), str(lat - 0.12),
                          f"{caps},layer=basemap,tilematrixset=CGCS2000Quad", str(dst)],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    with rasterio.open(dst) as ds:
        assert "2000" in ds.crs.to_wkt()
        assert is_region(ds.read((1, 2, 3)).transpose(1, 2, 0).astype(float))


def test_owslib_lists_the_layers_and_fetches_a_tile(server, served_centre):
    from owslib.wmts import WebMapTileService

    wmts = WebMapTileService(f"{server}/basemaps/wmts/1.0.0/WMTSCapabilities.xml")
    assert "basemap" in wmts.contents
    assert set(wmts.contents["basemap"].tilematrixsetlinks) == set(basemaps.GRIDS)
    matrix = wmts.tilematrixsets[CG].tilematrix
    assert (matrix["0"].matrixwidth, matrix["0"].matrixheight) == (2, 1)  # named by level, not MapProxy's "00"
    x, y = cg_tile(*served_centre, 9)
    tile = wmts.gettile(layer="basemap", tilematrixset=CG, tilematrix="9", row=y, column=x, format="image/jpeg")
    img = np.asarray(Image.open(io.BytesIO(tile.read())).convert("RGB"), dtype=float)
    assert img.shape == (256, 256, 3) and is_region(img)
