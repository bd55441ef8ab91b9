"""GET/POST /collections/{id}/items: paging, bbox, sorting, properties, filters, drawers."""

from __future__ import annotations

import gzip
import io
import json

import pytest
import shapely

from .auth import admin_client
from .conftest import all_items, get_json, header_links


def ids(doc: dict) -> list[int]:
    return [f["id"] for f in doc["features"]]


# ---- paging ---------------------------------------------------------------------------------
def test_default_page_and_links(client, ref, today):
    doc = get_json(client, "/collections/dltb/items")
    fids, _, _ = ref.features("dltb", ref.in_force(today))
    assert doc["type"] == "FeatureCollection"
    assert doc["numberReturned"] == len(doc["features"]) == 10
    assert doc["numberMatched"] == len(fids)
    rels = {link["rel"] for link in doc["links"]}
    assert {"self", "alternate", "collection", "next"} <= rels
    assert "prev" not in rels


def test_qgis_style_paging_returns_every_feature_once(client, ref, today):
    feats = all_items(client, "/collections/dltb/items?limit=1000&skipGeometry=true")
    got = [f["id"] for f in feats]
    assert len(got) == len(set(got)), "a feature came twice"
    fids, _, _ = ref.features("dltb", ref.in_force(today))
    assert sorted(got) == sorted(int(f) for f in fids)


def test_offset_paging_and_prev(client):
    first = get_json(client, "/collections/xzq/items?limit=3")
    second = get_json(client, "/collections/xzq/items?limit=3&offset=3")
    assert not set(ids(first)) & set(ids(second))
    assert any(link["rel"] == "prev" for link in second["links"])



@pytest.mark.parametrize("f", ["json", "html"])
def test_link_headers_carry_the_pages_links(client, f):
    """RFC 8288 Link headers with the document's own links and the queryables (the OGC API - Features Part 3
    test suite finds the queryables of a collection through the Link header of its items)."""
    r = client.get(f"/collections/xzq/items?limit=3&offset=3&f={f}")
    assert r.status_code == 200
    linked = header_links(r)
    rels = [link["rel"] for link in linked]
    assert {"self", "alternate", "next", "prev", "collection",
            "http://www.opengis.net/def/rel/ogc/1.0/queryables"} <= set(rels), rels
    if f == "json":
        body = {(link["rel"], link["href"]) for link in r.get_json()["links"]}
        assert {(link["rel"], link["href"]) for link in linked} == body
        assert next(link for link in linked if link["rel"] == "self")["type"] == "application/geo+json"
    queryables = next(link["href"] for link in linked if link["rel"].endswith("/queryables"))
    assert client.get(queryables.removeprefix("http://testserver")).status_code == 200
    nxt = next(link["href"] for link in linked if link["rel"] == "next")
    assert "offset=6" in nxt and "limit=3" in nxt

def test_limit_above_maximum_is_capped(client, settings):
    doc = get_json(client, f"/collections/dltb/items?limit={settings.max_items * 10}&skipGeometry=true")
    assert doc["numberReturned"] <= settings.max_items


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5"])
def test_bad_limit_is_400(client, limit):
    doc = get_json(client, f"/collections/dltb/items?limit={limit}", status=400)
    assert doc["code"] == "InvalidParameterValue" and "limit" in doc["description"]


@pytest.mark.parametrize("query, says", [
    ("after=99999999999999999999", "after"),         # >= 2**63: SQLite cannot bind it (a 500 before)
    ("after=9223372036854775808", "after"),
    ("after=-1", "after"),
    ("offset=99999999999999999999", "offset"),
    ("TBMJ=1e400", "finite"),                          # a number property compared with infinity
    ("TBMJ=nan", "finite"),
])
def test_numbers_beyond_what_the_store_holds_are_400(client, query, says):
    doc = get_json(client, f"/collections/dltb/items?{query}", status=400)
    assert doc["code"] == "InvalidParameterValue" and says in doc["description"]


def test_the_largest_numbers_are_answered(client, settings):
    doc = get_json(client, "/collections/dltb/items?after=9223372036854775807", status=400)
    assert "no longer exists" in doc["description"]  # the cursor is read, and names no feature
    for limit in (2**63, 99999999999999999999):  # capped, as documented
        doc = get_json(client, f"/collections/dltb/items?limit={limit}&skipGeometry=true")
        assert 0 < doc["numberReturned"] <= settings.max_items


def test_an_integer_property_filter_beyond_64_bits_is_400():
    from onemap.config.catalogue import FieldDef
    from onemap.config.errors import InvalidParameterValue
    from onemap.providers.params import property_param

    param = property_param(FieldDef(name="N", type="integer", title={"zh": "数", "en": "N"}))
    assert param.parse(str(2**63 - 1), None) == 2**63 - 1
    for raw in (str(2**63), str(-(2**63) - 1), "99999999999999999999"):
        with pytest.raises(InvalidParameterValue, match="64-bit"):
            param.parse(raw, None)


# ---- the POSTed filter's size ------------------------------------------------------------------------
class _Unreadable(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body was read")

    readinto = read1 = readline = read  # type: ignore[assignment]


def test_a_post_body_over_the_limit_is_413_before_it_is_read(client):
    from onemap.providers.params import MAX_BODY_FILTER

    r = client.post("/collections/dltb/items", input_stream=_Unreadable(), content_type="application/json",
                    environ_overrides={"CONTENT_LENGTH": str(MAX_BODY_FILTER + 1)})
    assert r.status_code == 413, r.data[:300]
    doc = r.get_json()
    assert doc["code"] == "LimitExceeded" and f"{MAX_BODY_FILTER:,} bytes" in doc["description"]
    # a body of unknown length (chunked) is read no further than the limit
    big = b" " * (MAX_BODY_FILTER + 10)
    r = client.post("/collections/dltb/items", input_stream=io.BytesIO(big), content_type="application/json",
                    environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
    assert r.status_code == 413, r.data[:300]
    # at the limit it is read and parsed
    body = json.dumps({"op": "=", "args": [{"property": "DLBM"}, "0301"]}).encode()
    body += b" " * (MAX_BODY_FILTER - len(body))
    r = client.post("/collections/dltb/items?limit=1", data=body, content_type="application/json")
    assert r.status_code == 200, r.data[:300]


# ---- bbox ---------------------------------------------------------------------------------------
def _expected_bbox(ref, today, box: shapely.Geometry) -> set[int]:
    fids, _, geoms = ref.features("dltb", ref.in_force(today))
    return {int(f) for f, g in zip(fids, geoms) if g.intersects(box)}


def test_bbox_crs84(client, ref, today):
    _fids, _, geoms = ref.features("dltb", ref.in_force(today))
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    b = (cx - 0.02, cy - 0.02, cx + 0.02, cy + 0.02)
    feats = all_items(client, "/collections/dltb/items?limit=500&skipGeometry=true&bbox=" + ",".join(map(str, b)))
    want = _expected_bbox(ref, today, shapely.box(*b))
    assert want and {f["id"] for f in feats} == want


def test_bbox_crs_4490_is_lat_lon(client, ref, today):
    b = (116.95, 31.4, 116.99, 31.44)
    url = (f"/collections/dltb/items?limit=500&skipGeometry=true&bbox-crs=EPSG:4490"
           f"&bbox={b[1]},{b[0]},{b[3]},{b[2]}")
    got = {f["id"] for f in all_items(client, url)}
    assert got == _expected_bbox(ref, today, shapely.box(*b))


def test_bbox_in_gauss_kruger_zone(client, ref, today, om):
    from pyproj import Transformer

    t = Transformer.from_crs(4490, om.gk_epsg)  # lat,lon -> northing,easting
    n0, e0 = t.transform(31.40, 116.95)
    n1, e1 = t.transform(31.44, 116.99)
    url = (f"/collections/dltb/items?limit=500&skipGeometry=true"
           f"&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/{om.gk_epsg}&bbox={n0},{e0},{n1},{e1}")
    got = {f["id"] for f in all_items(client, url)}
    want = _expected_bbox(ref, today, shapely.box(116.95, 31.40, 116.99, 31.44))
    # a projected box is not exactly a lon/lat box: allow the difference along the edges
    assert len(got ^ want) <= max(3, len(want) // 20)


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "117,32,116,31", "0,0,1,100", "nan,1,2,3"])
def test_bad_bbox_is_400(client, bbox):
    get_json(client, f"/collections/dltb/items?bbox={bbox}", status=400)


# ---- sorting, properties, property filters -------------------------------------------------------
def test_sortby_desc(client):
    doc = get_json(client, "/collections/dltb/items?sortby=-TBMJ&limit=20&skipGeometry=true")
    areas = [f["properties"]["TBMJ"] for f in doc["features"]]
    assert areas == sorted(areas, reverse=True)


def test_sortby_unknown_is_400(client):
    get_json(client, "/collections/dltb/items?sortby=NOPE", status=400)


def test_properties_selection(client):
    doc = get_json(client, "/collections/dltb/items?properties=DLBM,TBMJ&limit=3")
    for f in doc["features"]:
        assert set(f["properties"]) == {"DLBM", "TBMJ"}


def test_property_filter(client, ref, today):
    doc = get_json(client, "/collections/dltb/items?DLBM=0101&limit=1&skipGeometry=true")
    _, cols, _ = ref.features("dltb", ref.in_force(today))
    assert doc["numberMatched"] == int((cols["DLBM"] == "0101").sum())


def test_skip_geometry(client):
    doc = get_json(client, "/collections/dltb/items?skipGeometry=true&limit=2")
    assert all(f["geometry"] is None for f in doc["features"])


def test_unknown_parameter_is_400(client):
    doc = get_json(client, "/collections/dltb/items?colour=red", status=400)
    assert "colour" in doc["description"]


@pytest.mark.parametrize("query", ["CZCSXM=%00", "filter=DLMC%3D%27a%00b%27", "ZLDWMC=x%00"])
def test_nul_in_a_text_value_is_never_a_server_error(client, backend, query):
    """PostgreSQL text cannot hold NUL: PostGIS says so (400); SQLite compares it (no match)."""
    r = client.get(f"/collections/dltb/items?{query}")
    if backend == "postgis":
        assert r.status_code == 400 and "NUL" in r.get_json()["description"]
    else:
        assert r.status_code == 200 and r.get_json()["features"] == []


# ---- drawers ------------------------------------------------------------------------------------------
def test_every_feature_carries_its_drawer(client, ref):
    doc = get_json(client, "/collections/czkfbj/items?limit=50")
    plans = ref.plans()
    for f in doc["features"]:
        p = f["properties"]
        plan = plans[p["plan_id"]]
        assert (p["plan_region"], p["plan_level"], p["plan_type"], p["plan_version"]) == (
            plan["region"], plan["level"], plan["type"], plan["version"])
        assert p["plan_status"] == "filed"
        assert p["plan_level_label"] and p["plan_type_label"] == "总体规划"


def test_default_is_in_force_today(client, ref, today):
    feats = all_items(client, "/collections/czkfbj/items?limit=1000&skipGeometry=true")
    got = {f["properties"]["plan_id"] for f in feats}
    assert got == {p for p in ref.in_force(today) if ref.plans()[p]["type"] == "master"} & got
    assert "990100-city-master-2023" in got and "990100-city-master-2021" not in got


def test_datetime_before_the_revision_gives_the_2021_boundary(client):
    feats = all_items(client, "/collections/czkfbj/items?limit=1000&skipGeometry=true&datetime=2022-06-01")
    plans = {f["properties"]["plan_id"] for f in feats}
    assert "990100-city-master-2021" in plans and "990100-city-master-2023" not in plans


def test_datetime_interval_sees_both_versions(client):
    feats = all_items(client, "/collections/czkfbj/items?limit=1000&skipGeometry=true"
                              "&datetime=2022-01-01/..&region=990100")
    plans = {f["properties"]["plan_id"] for f in feats}
    assert {"990100-city-master-2021", "990100-city-master-2023"} <= plans


def test_datetime_as_utc_timestamp(client):
    a = get_json(client, "/collections/czkfbj/items?skipGeometry=true&datetime=2022-06-01T04:00:00Z")
    b = get_json(client, "/collections/czkfbj/items?skipGeometry=true&datetime=2022-06-01")
    assert a["numberMatched"] == b["numberMatched"]


@pytest.mark.parametrize("value", ["notadate", "2022-13-01", "2023-01-01/2022-01-01", "../..x", "a/b/c"])
def test_bad_datetime_is_400(client, value):
    get_json(client, f"/collections/czkfbj/items?datetime={value}", status=400)


def test_region_covers_sub_regions(client, ref, today):
    feats = all_items(client, "/collections/czkfbj/items?limit=1000&skipGeometry=true&region=990100")
    regions = {f["properties"]["plan_region"] for f in feats}
    assert "990100" in regions
    assert any(r.startswith("9901") and r != "990100" for r in regions), "county plans missing"
    assert "990000" not in regions


def test_region_of_a_county_sees_only_its_drawers(client):
    feats = all_items(client, "/collections/czkfbj/items?limit=1000&skipGeometry=true&region=990121")
    assert feats and {f["properties"]["plan_region"] for f in feats} == {"990121"}


@pytest.mark.parametrize("region", ["abc", "99", "9901001", "1234567890123"])
def test_bad_region_is_400(client, region):
    get_json(client, f"/collections/czkfbj/items?region={region}", status=400)


def test_plan_level_is_queryable(client):
    doc = get_json(client, "/collections/stbhhx/items?plan_level=county&limit=100&skipGeometry=true")
    assert doc["features"] and {f["properties"]["plan_level"] for f in doc["features"]} == {"county"}


def test_explicit_plan_id_shows_a_superseded_plan(client):
    doc = get_json(client, "/collections/czkfbj/items?plan_id=990100-city-master-2021&limit=100")
    assert doc["features"]
    assert {f["properties"]["plan_status"] for f in doc["features"]} == {"superseded"}


# ---- output --------------------------------------------------------------------------------------------
def test_chinese_is_readable_and_utf8(client):
    r = client.get("/collections/dltb/items?limit=5")
    assert "地类".encode() in r.data or "水田".encode() in r.data or r.data.decode("utf-8")
    assert b"\\u" not in r.data.replace(b"\\u003c", b"")
    assert r.headers["Content-Type"].startswith("application/geo+json")


def test_gzip_for_large_responses_only(client):
    big = client.get("/collections/dltb/items?limit=200", headers={"Accept-Encoding": "gzip"})
    assert big.headers.get("Content-Encoding") == "gzip"
    first = json.loads(gzip.decompress(big.data))["features"][0]["id"]
    # one feature: a page of one is above the threshold with its links (the download alternates among them)
    small = client.get(f"/collections/dltb/items/{first}", headers={"Accept-Encoding": "gzip"})
    assert len(small.data) < 1400 and "Content-Encoding" not in small.headers


def test_post_cql2_json(client, ref, today):
    body = {"op": "and", "args": [{"op": "=", "args": [{"property": "DLBM"}, "0301"]},
                                  {"op": ">", "args": [{"property": "TBMJ"}, 5000]}]}
    r = client.post("/collections/dltb/items?skipGeometry=true&limit=1", data=json.dumps(body),
                    content_type="application/query-cql-json")
    assert r.status_code == 200
    _, cols, _ = ref.features("dltb", ref.in_force(today))
    want = int(((cols["DLBM"] == "0301") & (cols["TBMJ"] > 5000)).sum())
    assert json.loads(r.data)["numberMatched"] == want


def test_html_items(client):
    r = client.get("/collections/dltb/items?f=html&limit=3")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "三调地类图斑".encode() in r.data


def test_keyset_next_link_is_consistent(client):
    doc = get_json(client, "/collections/dltb/items?limit=5&skipGeometry=true")
    nxt = next(link["href"] for link in doc["links"] if link["rel"] == "next")
    assert "after=" in nxt
    doc2 = get_json(client, nxt.replace("http://testserver", ""))
    assert min(ids(doc2)) > max(ids(doc))


def test_numbers_in_area_match_geometry(client, ref, today):
    """TBMJ is the geodesic area of the parcel geometry (CGCS2000 ellipsoid)."""
    from onemap.providers.geometry import geodesic_area

    doc = get_json(client, "/collections/dltb/items?limit=20")
    for f in doc["features"]:
        g = shapely.geometry.shape(f["geometry"])
        assert f["properties"]["TBMJ"] == pytest.approx(geodesic_area(g), rel=1e-4)


def test_dates_sort_stably(client):
    a = get_json(client, "/collections/dltb/items?sortby=DLBM&limit=30&skipGeometry=true")
    b = get_json(client, "/collections/dltb/items?sortby=DLBM&limit=30&skipGeometry=true")
    assert ids(a) == ids(b)
    codes = [f["properties"]["DLBM"] for f in a["features"]]
    assert codes == sorted(codes)


@pytest.mark.parametrize("query", [
    "limit=20",
    "limit=20&crs=http://www.opengis.net/def/crs/EPSG/0/4490",
    "limit=20&crs=http://www.opengis.net/def/crs/EPSG/0/4326",
    "limit=20&crs=http://www.opengis.net/def/crs/EPSG/0/3857",
    "limit=20&crs=http://www.opengis.net/def/crs/EPSG/0/4527",
    "limit=20&properties=DLBM,CZCSXM,plan_status",
    "limit=20&skipGeometry=true&lang=en",
])
def test_database_written_features_equal_the_python_ones(query, om, settings):
    """PostGIS writes the GeoJSON itself (no per-value Python); it must say exactly what the
    Python path says (the GeoPackage and HTML pages use that one)."""
    from werkzeug.datastructures import MultiDict

    from onemap.providers.features import items_query
    from onemap.providers.params import ITEMS, parse_args

    args = MultiDict([tuple(kv.split("=", 1)) for kv in query.split("&")])
    layer = om.catalogue.layers["dltb"]
    q = items_query(layer, parse_args(ITEMS, args, om.params), om.params)
    fast = om.features.items(q, geometry_as="fragment")
    slow = om.features.items(q, geometry_as="dict")
    if settings.backend == "postgis":
        assert om.store.supports_json
    a = [json.loads(_dump(f)) for f in fast.features]
    b = slow.features
    assert len(a) == len(b) == 20
    for fa, fb in zip(a, b):
        assert fa["id"] == fb["id"] and list(fa["properties"]) == list(fb["properties"])
        assert fa["properties"] == fb["properties"]
        if fb["geometry"] is None:
            assert fa["geometry"] is None
        else:
            ga, gb = shapely.geometry.shape(fa["geometry"]), shapely.geometry.shape(fb["geometry"])
            tol = 2e-3 if "3857" in query or "4527" in query else 2e-8
            assert ga.geom_type == gb.geom_type and shapely.equals_exact(ga, gb, tolerance=tol)


def _dump(fragment_or_dict) -> bytes:
    import orjson

    return orjson.dumps(fragment_or_dict)


def test_store_from_before_recorded_counts_still_pages(fresh_settings, ref, today):
    """A store written before the drawer recorded feature counts gets them when its schema is
    brought up to date, so unfiltered pages still say how many there are and link onwards."""
    from onemap.providers.store import open_store
    from onemap.server.app import create_app

    store = open_store(fresh_settings.store_url)
    try:
        with store.write_cursor() as cur:
            cur.execute(f"DELETE FROM {store._table_sql('plan_layers')}")
            cur.execute(f"UPDATE {store._table_sql('meta' if store.backend == 'postgis' else 'onemap_meta')} "
                        "SET value = '1' WHERE key = 'schema_version'")
        store.ensure_schema()
        assert store.plan_layers("990121-county-survey-2023")["dltb"][0] > 0
    finally:
        store.close()
    doc = get_json(admin_client(create_app(fresh_settings)), "/collections/dltb/items?limit=5")
    fids, _, _ = ref.features("dltb", ref.in_force(today))
    assert doc["numberMatched"] == len(fids)
    assert "next" in {link["rel"] for link in doc["links"]}
