"""OGC API - Maps: /collections/{id}/map and the map tiles (server/maps_ep.py).

What the pixels show is compared with the features (tests/test_maps_rendered.py does that for
the WMS and WMTS of MapProxy); here: the API's documents, parameters, refusals, the drawer
parameters, the cache and its invalidation.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from .auth import admin_client
from .conftest import GROWN_PLAN, file_grown_boundary, get_json, registry_notice_delivered
from .test_tiles import CENTRAL, tile_at

REL = "http://www.opengis.net/def/rel/ogc/1.0/"


def rgba(resp) -> np.ndarray:
    assert resp.status_code == 200, resp.data[:300]
    assert resp.mimetype == "image/png"
    return np.asarray(Image.open(io.BytesIO(resp.data)).convert("RGBA"))


def drawn(img: np.ndarray) -> int:
    """Pixels with any paint on them."""
    return int((img[..., 3] > 0).sum())


def test_collection_links_to_its_map_and_map_tilesets(client):
    doc = get_json(client, "/collections/czkfbj")
    rels = {link["rel"]: link for link in doc["links"]}
    assert rels[REL + "map"]["href"].endswith("/collections/czkfbj/map")
    assert rels[REL + "tilesets-map"]["href"].endswith("/collections/czkfbj/map/tiles")
    sets = get_json(client, "/collections/czkfbj/map/tiles")["tilesets"]
    assert {s["dataType"] for s in sets} == {"map"}
    assert len(sets) == 5
    ts = get_json(client, "/collections/czkfbj/map/tiles/TiandituC")
    assert ts["dataType"] == "map" and ts["tileMatrixSetLimits"][0]["tileMatrix"] == "1"
    item = next(link for link in ts["links"] if link["rel"] == "item")
    assert item["type"] == "image/png"
    assert item["href"].endswith("/collections/czkfbj/map/tiles/TiandituC/{tileMatrix}/{tileRow}/{tileCol}")


def test_conformance_declares_maps(client):
    conf = get_json(client, "/conformance")["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png" in conf


def test_a_map_of_the_layer_extent_and_of_a_box(client):
    whole = client.get("/collections/czkfbj/map?width=512")
    img = rgba(whole)
    assert img.shape[1] == 512 and drawn(img) > 0.02 * img.shape[0] * img.shape[1]
    assert whole.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    # a box away from every boundary is transparent; with transparent=false it is the background colour
    empty = rgba(client.get("/collections/czkfbj/map?bbox=100,10,100.1,10.1&width=64&height=64"))
    assert drawn(empty) == 0
    white = rgba(client.get("/collections/czkfbj/map?bbox=100,10,100.1,10.1&width=64&height=64"
                            "&transparent=false&bgcolor=0x336699"))
    assert (white[..., :3] == (0x33, 0x66, 0x99)).all() and (white[..., 3] == 255).all()
    # the same box in Web Mercator has the same shape of boundary, drawn in another projection
    box = "116.95,31.40,117.20,31.58"
    geo = rgba(client.get(f"/collections/czkfbj/map?bbox={box}&width=400&height=400"))
    merc = rgba(client.get(f"/collections/czkfbj/map?bbox={box}&width=400&height=400"
                           "&crs=http://www.opengis.net/def/crs/EPSG/0/3857"))
    assert drawn(geo) > 1000 and abs(drawn(geo) - drawn(merc)) < 0.1 * drawn(geo)


@pytest.mark.parametrize("query", ["width=0", "width=5000", "height=x", "crs=EPSG:4479", "transparent=maybe",
                                   "bgcolor=red", "bbox=1,2,3", "datetime=yesterday", "view=some"])
def test_bad_map_parameters_are_400(client, query):
    r = client.get(f"/collections/czkfbj/map?{query}")
    assert r.status_code == 400, query
    assert r.json["code"] in ("InvalidParameterValue", "UnknownParameter")


def test_map_tiles_and_their_cache(client):
    row, col = tile_at("WebMercatorQuad", 12)
    url = f"/collections/czkfbj/map/tiles/WebMercatorQuad/12/{row}/{col}"
    first = client.get(url)
    assert drawn(rgba(first)) > 0
    again = client.get(url)
    assert again.headers["X-Cache"] == "HIT" and again.data == first.data
    assert client.get(url, headers={"If-None-Match": again.headers["ETag"]}).status_code == 304
    # Tianditu's c grid names the CGCS2000Quad tile one level up: the same image
    crow, ccol = tile_at("CGCS2000Quad", 11)
    a = client.get(f"/collections/czkfbj/map/tiles/CGCS2000Quad/11/{crow}/{ccol}")
    b = client.get(f"/collections/czkfbj/map/tiles/TiandituC/12/{crow}/{ccol}")
    assert a.data == b.data and drawn(rgba(a)) > 0
    # a tile with nothing to draw
    far_row, far_col = tile_at("WebMercatorQuad", 12, 100.0, 10.0)
    assert client.get(f"/collections/czkfbj/map/tiles/WebMercatorQuad/12/{far_row}/{far_col}").status_code == 204
    assert client.get("/collections/czkfbj/map/tiles/TiandituC/0/0/0").status_code == 404


def test_map_follows_the_drawer_date(client, demo_meta):
    """Before any plan holding the boundary was in force, the map is empty where today's is not."""
    row, col = tile_at("WebMercatorQuad", 11)
    url = f"/collections/czkfbj/map/tiles/WebMercatorQuad/11/{row}/{col}"
    assert drawn(rgba(client.get(url))) > 0
    assert client.get(url + "?datetime=1990-01-01").status_code == 204
    box = "bbox=116.95,31.40,117.20,31.58&width=200&height=200"
    assert drawn(rgba(client.get(f"/collections/czkfbj/map?{box}&datetime=1990-01-01"))) == 0


def test_hidden_layers_have_no_map(anonymous, client):
    """The red line is internal: an anonymous caller is told it does not exist, an administrator gets it."""
    assert anonymous.get("/collections/stbhhx/map?width=64").status_code == 404
    assert anonymous.get("/collections/stbhhx/map/tiles").status_code == 404
    assert client.get("/collections/stbhhx/map?width=64").status_code == 200


def test_filing_a_plan_redraws_the_map_tiles_it_changes(fresh_settings):
    from onemap.server.app import create_app

    app = create_app(fresh_settings)
    client = admin_client(app)
    row, col = tile_at("WebMercatorQuad", 11)  # the central city's whole boundary in one tile
    url = f"/collections/czkfbj/map/tiles/WebMercatorQuad/11/{row}/{col}"
    before = rgba(client.get(url))
    assert client.get(url).headers["X-Cache"] == "HIT"
    far_row, far_col = tile_at("WebMercatorQuad", 12, 116.80, 31.49)  # the western county seat
    far = f"/collections/czkfbj/map/tiles/WebMercatorQuad/12/{far_row}/{far_col}"
    client.get(far)
    wmts = f"/basemaps/wmts/czkfbj/WebMercatorQuad/11/{col}/{row}.png"
    wmts_before = client.get(wmts)
    assert file_grown_boundary(fresh_settings, CENTRAL) == GROWN_PLAN
    registry_notice_delivered(app.extensions["onemap"].store)
    after = client.get(url)
    assert after.headers["X-Cache"] == "MISS"
    assert drawn(rgba(after)) > drawn(before)  # the boundary grew by ~200 m around the central city
    assert client.get(far).headers["X-Cache"] == "HIT"  # outside the changed area
    # MapProxy's tile of it too: a client revalidating its copy gets the new tile, not a 304
    wmts_after = client.get(wmts, headers={"If-None-Match": wmts_before.headers["ETag"]})
    assert wmts_after.status_code == 200 and wmts_after.data == after.data


def test_wmts_and_xyz_tiles_take_the_drawer_parameters(client):
    """MapProxy's tiles of a catalogue layer take datetime (or TIME) and view as the API does: a date before
    the boundary existed draws nothing, a malformed one is a 400 (JSON for RESTful paths, an exception
    report for KVP), and the current tile is the API's map tile."""
    row, col = tile_at("WebMercatorQuad", 11)
    rest = f"/basemaps/wmts/czkfbj/WebMercatorQuad/11/{col}/{row}.png"
    today_tile = rgba(client.get(rest))
    assert drawn(today_tile) > 0
    assert client.get(rest).data == client.get(f"/collections/czkfbj/map/tiles/WebMercatorQuad/11/{row}/{col}").data
    assert drawn(rgba(client.get(rest + "?datetime=1990-01-01"))) == 0
    xyz = f"/basemaps/tiles/1.0.0/czkfbj/WebMercatorQuad/11/{col}/{row}.png?origin=nw&view=governing"
    assert drawn(rgba(client.get(xyz))) > 0
    bad = client.get(rest + "?datetime=someday")
    assert bad.status_code == 400 and bad.json["code"] == "InvalidParameterValue"
    kvp = ("/basemaps/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=czkfbj&STYLE=default"
           f"&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=11&TILEROW={row}&TILECOL={col}&FORMAT=image/png")
    assert drawn(rgba(client.get(kvp + "&TIME=1990-01-01"))) == 0
    refused = client.get(kvp + "&TIME=someday")
    assert refused.status_code == 400 and b"InvalidParameterValue" in refused.data


def test_rendered_tiles_are_kept_by_clients_for_a_minute(client):
    """A filing changes the maps at once: clients keep a tile a minute (MapProxy's default is 72 hours), then
    ask again with its ETag."""
    row, col = tile_at("WebMercatorQuad", 11)
    url = f"/basemaps/wmts/czkfbj/WebMercatorQuad/11/{col}/{row}.png"
    r = client.get(url)
    assert r.status_code == 200 and "max-age=60," in r.headers["Cache-Control"]
    assert client.get(url, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    basemap = client.get("/basemaps/wmts/basemap/WebMercatorQuad/12/3379/1670.jpeg")
    assert basemap.status_code == 200 and "max-age=60," in basemap.headers["Cache-Control"]
    # each tile's ETag is its own (MapProxy tags tiles it does not store with one tag for all)
    neighbour = client.get(f"/basemaps/wmts/czkfbj/WebMercatorQuad/11/{col + 1}/{row}.png")
    assert len({r.headers["ETag"], basemap.headers["ETag"], neighbour.headers["ETag"]}) == 3
    assert client.get(url, headers={"If-None-Match": neighbour.headers["ETag"]}).status_code == 200


def test_capabilities_give_each_layer_its_own_box(client):
    """A catalogue layer's boxes in the WMS (1.3.0, 1.1.1) and WMTS capabilities are where its features are (the
    collection's extent), not the world, so a client's "zoom to layer" finds it; 1.1.1 keeps its DOCTYPE."""
    from lxml import etree

    west, south, east, north = get_json(client, "/collections/czkfbj")["extent"]["spatial"]["bbox"][0]
    v13 = etree.fromstring(client.get("/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0").data)
    layer = next(e for e in v13.iter("{*}Layer") if e.findtext("{*}Name") == "czkfbj")
    geo = layer.find("{*}EX_GeographicBoundingBox")
    assert [float(geo.findtext("{*}" + t)) for t in ("westBoundLongitude", "southBoundLatitude",
                                                      "eastBoundLongitude", "northBoundLatitude")] == \
        pytest.approx([west, south, east, north], abs=1e-5)
    lat_lon = next(b for b in layer.findall("{*}BoundingBox") if b.get("CRS") == "EPSG:4490")
    assert [float(lat_lon.get(k)) for k in ("minx", "miny")] == pytest.approx([south, west], abs=1e-5)
    raw = client.get("/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1").data
    assert b"<!DOCTYPE WMT_MS_Capabilities" in raw
    v11 = etree.fromstring(raw, etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False))
    ll = next(e for e in v11.iter("Layer") if e.findtext("Name") == "czkfbj").find("LatLonBoundingBox")
    assert [float(ll.get(k)) for k in ("minx", "miny", "maxx", "maxy")] == pytest.approx([west, south, east, north],
                                                                                        abs=1e-5)
    wmts = etree.fromstring(client.get("/basemaps/wmts/1.0.0/WMTSCapabilities.xml").data)
    ns = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
    el = next(e for e in wmts.iterfind("w:Contents/w:Layer", ns) if e.findtext("ows:Identifier", namespaces=ns)
              == "czkfbj")
    lower = [float(v) for v in el.findtext("ows:WGS84BoundingBox/ows:LowerCorner", namespaces=ns).split()]
    assert lower == pytest.approx([west, south], abs=1e-5)


def test_map_tilesets_in_html(client):
    """The map tilesets are pages too (f=html), linking their tiles and the way back up."""
    page = client.get("/collections/czkfbj/map/tiles?f=html")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert b"TiandituC" in page.data and b"/collections/czkfbj/map/tiles?f=html" in page.data
    one = client.get("/collections/czkfbj/map/tiles/TiandituC?f=html")
    assert one.status_code == 200 and b"/collections/czkfbj/map/tiles/TiandituC/{tileMatrix}" in one.data
