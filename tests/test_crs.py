"""OGC API - Features Part 2: output CRS, axis order, Content-Crs, accepted spellings."""

from __future__ import annotations

import pytest
import shapely
from pyproj import Transformer

from .conftest import get_json


def first_coord(doc: dict) -> tuple[float, float]:
    return tuple(doc["features"][0]["geometry"]["coordinates"][0][0][0])


def test_default_is_crs84(client):
    r = client.get("/collections/dltb/items?limit=1")
    assert r.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    x, y = first_coord(r.get_json())
    assert 100 < x < 130 and 20 < y < 45


@pytest.mark.parametrize("spelling", [
    "http://www.opengis.net/def/crs/EPSG/0/4490", "EPSG:4490", "[EPSG:4490]", "urn:ogc:def:crs:EPSG::4490"])
def test_4490_in_lat_lon_order(client, spelling):
    base = client.get("/collections/dltb/items?limit=1").get_json()
    r = client.get(f"/collections/dltb/items?limit=1&crs={spelling}")
    assert r.status_code == 200
    assert r.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    lon, lat = first_coord(base)
    assert first_coord(r.get_json()) == pytest.approx((lat, lon), abs=1e-8)


def test_4326_lat_lon_and_3857(client):
    base = client.get("/collections/dltb/items?limit=1").get_json()
    lon, lat = first_coord(base)
    doc = get_json(client, "/collections/dltb/items?limit=1&crs=EPSG:4326")
    assert first_coord(doc) == pytest.approx((lat, lon), abs=1e-6)
    doc = get_json(client, "/collections/dltb/items?limit=1&crs=EPSG:3857")
    x, y = Transformer.from_crs("OGC:CRS84", 3857).transform(lon, lat)
    assert first_coord(doc) == pytest.approx((x, y), abs=0.01)


def test_gauss_kruger_zone_northing_easting(client, om):
    assert om.gk_epsg == 4527  # the demo region lies in zone 39
    base = client.get("/collections/dltb/items?limit=1").get_json()
    lon, lat = first_coord(base)
    doc = get_json(client, f"/collections/dltb/items?limit=1&crs=EPSG:{om.gk_epsg}")
    n, e = first_coord(doc)
    assert 3.0e6 < n < 4.0e6 and 39.0e6 < e < 40.0e6
    assert (n, e) == pytest.approx(Transformer.from_crs(4490, 4527).transform(lat, lon), abs=0.01)


def test_single_item_crs(client):
    r = client.get("/collections/xzq/items/1?crs=EPSG:4490")
    assert r.status_code == 200 and "4490" in r.headers["Content-Crs"]


@pytest.mark.parametrize("value", ["EPSG:2000", "EPSG:abc", "foo", "http://www.opengis.net/def/crs/EPSG/0/999999"])
def test_unsupported_crs_is_400(client, value):
    doc = get_json(client, f"/collections/dltb/items?crs={value}", status=400)
    assert "crs" in doc["description"]


def test_bbox_crs_without_bbox_is_400(client):
    get_json(client, "/collections/dltb/items?bbox-crs=EPSG:4490", status=400)


def test_transformers_are_built_once_per_thread(client):
    """A CGCS2000 Transformer takes ~0.5 s to build: requests must reuse one, not build one."""
    from onemap.providers import crs as crsmod

    client.get("/collections/dltb/items?limit=5&crs=EPSG:4527")
    t1 = crsmod._transformer(4490, 4527)
    client.get("/collections/dltb/items?limit=5&crs=EPSG:4527&bbox-crs=EPSG:4527&bbox=3450000,39450000,3500000,39500000")
    assert crsmod._transformer(4490, 4527) is t1
    assert crsmod._transformer(4527, 4490) is crsmod._transformer(4527, 4490)


def test_geometries_round_trip_through_gk(client):
    a = client.get("/collections/xzq/items/1").get_json()
    b = client.get("/collections/xzq/items/1?crs=EPSG:4527").get_json()
    ga = shapely.geometry.shape(a["geometry"])
    gb = shapely.geometry.shape(b["geometry"])
    back = shapely.transform(gb, lambda c: c)  # northing,easting
    t = Transformer.from_crs(4527, 4490)
    lat, lon = t.transform(*back.exterior.coords.xy if back.geom_type == "Polygon" else
                           back.geoms[0].exterior.coords.xy)
    assert lon[0] == pytest.approx(ga.geoms[0].exterior.coords[0][0], abs=1e-7)
    assert lat[0] == pytest.approx(ga.geoms[0].exterior.coords[0][1], abs=1e-7)
