"""CQL2 filters on items, each checked against an independent evaluation with shapely/numpy."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest
import shapely

from .conftest import all_items, get_json


def matched(client, cql: str, collection: str = "dltb", extra: str = "") -> set[int]:
    url = (f"/collections/{collection}/items?limit=1000&skipGeometry=true{extra}&filter="
           + urllib.parse.quote(cql))
    return {f["id"] for f in all_items(client, url)}


@pytest.fixture(scope="module")
def parcels(ref, today):
    fids, cols, geoms = ref.features("dltb", ref.in_force(today))
    return np.asarray(fids, dtype=int), cols, geoms


def want(fids, mask) -> set[int]:
    return {int(f) for f in fids[mask]}


def test_comparison_and_logic(client, parcels):
    fids, cols, _ = parcels
    got = matched(client, "DLBM = '0101' AND TBMJ > 3000 OR DLBM = '0301'")
    assert got == want(fids, ((cols["DLBM"] == "0101") & (cols["TBMJ"] > 3000)) | (cols["DLBM"] == "0301"))


def test_not_and_in(client, parcels):
    fids, cols, _ = parcels
    got = matched(client, "NOT (DLBM IN ('0101', '0102', '0103'))")
    assert got == want(fids, ~np.isin(cols["DLBM"], ["0101", "0102", "0103"]))


def test_like_is_case_sensitive_with_wildcards(client, parcels):
    fids, cols, _ = parcels
    got = matched(client, "DLMC LIKE '%林%'")
    assert got == want(fids, np.array(["林" in str(v) for v in cols["DLMC"]]))
    assert matched(client, "ZLDWDM LIKE '990121%'") == want(
        fids, np.array([str(v).startswith("990121") for v in cols["ZLDWDM"]]))


def test_between_and_is_null(client, parcels):
    fids, cols, _ = parcels
    assert matched(client, "TBMJ BETWEEN 1000 AND 2000") == want(fids, (cols["TBMJ"] >= 1000) & (cols["TBMJ"] <= 2000))
    nulls = np.array([v is None or (isinstance(v, float) and np.isnan(v)) or v == "" for v in cols["CZCSXM"]])
    assert matched(client, "CZCSXM IS NULL") == want(fids, nulls)
    assert matched(client, "CZCSXM IS NOT NULL") == want(fids, ~nulls)


def test_casei(client, parcels):
    fids, _cols, _ = parcels
    assert matched(client, "CASEI(plan_type) = casei('SURVEY')") == want(fids, np.ones(len(fids), bool))


def test_arithmetic_and_property_property(client, parcels):
    fids, cols, _ = parcels
    assert matched(client, "TBMJ * 2 > 6000") == want(fids, cols["TBMJ"] * 2 > 6000)
    assert matched(client, "DLBM = DLBM") == want(fids, np.ones(len(fids), bool))


def _box(parcels, frac=0.1):
    _, _, geoms = parcels
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    w, h = (maxx - minx) * frac, (maxy - miny) * frac
    return shapely.Polygon([(cx - w, cy - h), (cx + w, cy - h * 0.5), (cx + w * 0.8, cy + h), (cx - w, cy + h)])


@pytest.mark.parametrize("op,fn", [
    ("S_INTERSECTS", shapely.intersects), ("S_WITHIN", shapely.within), ("S_DISJOINT", shapely.disjoint),
    ("S_OVERLAPS", shapely.overlaps), ("S_TOUCHES", shapely.touches), ("S_CROSSES", shapely.crosses),
])
def test_spatial_predicates(client, parcels, op, fn):
    fids, _, geoms = parcels
    poly = _box(parcels)
    got = matched(client, f"{op}(geometry, {poly.wkt})")
    assert got == want(fids, fn(geoms, poly))


def test_s_contains_a_point(client, parcels):
    fids, _, geoms = parcels
    pt = geoms[len(geoms) // 2].representative_point()
    got = matched(client, f"S_CONTAINS(geometry, POINT({pt.x} {pt.y}))")
    assert got == want(fids, shapely.contains(geoms, pt)) and len(got) >= 1


def test_bbox_function(client, parcels):
    fids, _, geoms = parcels
    minx, miny, maxx, maxy = _box(parcels).bounds
    got = matched(client, f"BBOX(geometry, {minx}, {miny}, {maxx}, {maxy})")
    assert got == want(fids, shapely.intersects(geoms, shapely.box(minx, miny, maxx, maxy)))


def test_filter_crs_4490(client, parcels):
    fids, _, geoms = parcels
    poly = _box(parcels)
    flipped = shapely.transform(poly, lambda c: c[:, ::-1])
    got = matched(client, f"S_INTERSECTS(geometry, {flipped.wkt})", extra="&filter-crs=EPSG:4490")
    assert got == want(fids, shapely.intersects(geoms, poly))


def test_filter_on_drawer_properties(client):
    doc = get_json(client, "/collections/czkfbj/items?skipGeometry=true&limit=100&filter="
                   + urllib.parse.quote("plan_level = 'county' AND plan_region LIKE '99012%'"))
    assert doc["features"]
    assert {f["properties"]["plan_level"] for f in doc["features"]} == {"county"}


@pytest.mark.parametrize("cql", [
    "NOPE = 1",                          # unknown property
    "TBMJ = 'text'",                     # type mismatch
    "DLBM LIKE 5",                       # pattern not text
    "S_INTERSECTS(DLBM, POINT(1 2))",    # spatial test on a non-geometry property
    "DLBM = ",                           # malformed
    "plan_status = 'filed'",             # returned but not queryable
    "geometry = 'x'",
    "foo(DLBM) = 'x'",                   # unknown function
])
def test_bad_filters_are_400(client, cql):
    doc = get_json(client, "/collections/dltb/items?filter=" + urllib.parse.quote(cql), status=400)
    assert doc["code"] == "InvalidParameterValue"
    assert "SELECT" not in doc["description"] and "sqlite" not in doc["description"].lower()


def test_bad_filter_lang_is_400(client):
    get_json(client, "/collections/dltb/items?filter=DLBM='0101'&filter-lang=sql", status=400)



@pytest.mark.parametrize("lang", ["cql-text", "CQL-TEXT", "cql2-text"])
def test_filter_lang_cql_text_is_cql2_text(client, lang):
    """GDAL's OAPIF driver (and older clients of Part 3's drafts) send filter-lang=cql-text: the same text."""
    cql = "DLBM='0101' AND TBMJ > 10000"
    expected = matched(client, cql)
    assert expected and matched(client, cql, extra=f"&filter-lang={lang}") == expected

def test_sql_injection_attempts_are_values(client):
    r = client.get("/collections/dltb/items?filter=" + urllib.parse.quote("DLBM = '0101'' OR 1=1 --'"))
    # a quote inside a CQL2 string is either refused or stays part of the value
    assert r.status_code == 400 or r.get_json()["numberMatched"] == 0
    get_json(client, "/collections/dltb/items?sortby=" + urllib.parse.quote("DLBM;DROP TABLE dltb"), status=400)
    doc = get_json(client, "/collections/dltb/items?DLBM=" + urllib.parse.quote("' OR '1'='1"))
    assert doc["numberMatched"] == 0
    assert get_json(client, "/collections/dltb/items?limit=1")["numberMatched"] > 0


# ---- filters that cannot be evaluated: the client's 400, never the store's 500 ------------------------
def _refused(client, cql: str, extra: str = "") -> str:
    """The message of a filter refused with a 400, checked to be a plain client message."""
    doc = get_json(client, "/collections/dltb/items?limit=5" + extra + "&filter=" + urllib.parse.quote(cql),
                   status=400)
    assert doc["code"] == "InvalidParameterValue"
    assert "SELECT" not in doc["description"] and "psycopg" not in doc["description"].lower()
    return doc["description"]


@pytest.mark.parametrize("cql, says", [
    ("TBMJ / 0 > 1", "divides by zero"),                              # PostgreSQL 22012
    ("TBMJ / (TBMJ - TBMJ) > 1", "divides by zero"),
    ("TBMJ * 1e308 * 1e308 > 1", "out of range"),                     # 22003: an overflow it computes
    ("TBMJ + 1e308 * 10 > 1", "out of range"),
])
def test_an_expression_postgis_cannot_evaluate_is_a_400(client, backend, cql, says):
    for extra in ("", "&offset=5", "&after=1"):
        url = "/collections/dltb/items?limit=5" + extra + "&filter=" + urllib.parse.quote(cql)
        r = client.get(url)
        if backend == "postgis":
            assert says in _refused(client, cql, extra)
        else:  # SQLite evaluates a division by zero to NULL and an overflow to infinity: no match, no error
            assert r.status_code == 200, (url, r.data[:300])


@pytest.mark.parametrize("cql, says", [
    ("DLMC LIKE '\\'", "escape character"),                         # PostgreSQL 22025
    ("DLMC LIKE '%林\\'", "escape character"),
    ("TBMJ > 1e400", "not a finite number"),                        # a literal no backend holds
    ("TBMJ > 99999999999999999999", "out of range"),               # >= 2**63: SQLite cannot bind it
    ("TBMJ IN (1, 9223372036854775808)", "out of range"),
    ("TBMJ BETWEEN -99999999999999999999 AND 1", "out of range"),
])
def test_a_literal_no_backend_can_hold_is_a_400(client, cql, says):
    assert says in _refused(client, cql)
    assert says in _refused(client, cql, "&offset=5")


def test_an_escaped_backslash_at_the_end_of_a_like_pattern_is_a_value(client):
    doc = get_json(client, "/collections/dltb/items?filter=" + urllib.parse.quote("DLMC LIKE '%\\\\'"))
    assert doc["numberReturned"] == 0
    assert get_json(client, "/collections/dltb/items?limit=1&filter="
                    + urllib.parse.quote("TBMJ > 9223372036854775807 OR TBMJ >= 0"))["numberReturned"] == 1


def test_a_filter_geometry_that_is_not_finite_or_outside_filter_crs_is_a_400(client, om, parcels):
    from pyproj import Transformer

    assert "finite" in _refused(client, "S_INTERSECTS(geometry, POINT(1e400 0))")
    assert "finite" in _refused(client, "BBOX(geometry, 0, 0, 1e400, 1)")
    assert "longitude and latitude" in _refused(client, "S_INTERSECTS(geometry, POINT(1000 0))")
    gk = f"&filter-crs=http://www.opengis.net/def/crs/EPSG/0/{om.gk_epsg}"
    assert "area of use" in _refused(client, "S_INTERSECTS(geometry, POINT(1e10 1e10))", gk)
    assert "area of use" in _refused(client, "S_WITHIN(geometry, POLYGON((0 0, 1e30 0, 1e30 1e30, 0 0)))", gk)
    # a point of the region in the zone's own coordinates (its authority axis order) still finds its parcel
    fids, _, geoms = parcels
    inside = geoms[0].representative_point()
    a, b = Transformer.from_crs(4490, om.gk_epsg).transform(inside.y, inside.x)
    got = matched(client, f"S_INTERSECTS(geometry, POINT({a!r} {b!r}))", extra=gk)
    assert int(fids[0]) in got


def _nested(depth: int) -> dict:
    """A CQL2 JSON filter ``depth`` conditions deep (NOT and OR in turn) around a comparison."""
    f: dict = {"op": ">", "args": [{"property": "TBMJ"}, 1]}
    for i in range(depth):
        f = {"op": "not", "args": [f]} if i % 2 else {"op": "or", "args": [f, {"op": "<", "args": [
            {"property": "TBMJ"}, 0]}]}
    return f


def test_a_deeply_nested_filter_is_a_400(client):
    import json

    # as deep as SQLite's parser takes, with a page further on (offset and keyset wrap the condition)
    for extra in ("", "&offset=5", "&after=1", "&bbox=73,3,135,54"):
        r = client.post("/collections/dltb/items?limit=5" + extra, data=json.dumps(_nested(18)),
                        content_type="application/json")
        assert r.status_code == 200, (extra, r.data[:300])
        r = client.post("/collections/dltb/items?limit=5" + extra, data=json.dumps(_nested(40)),
                        content_type="application/json")
        assert r.status_code == 400 and "nested too deeply" in r.get_json()["description"], r.data[:300]
    # a chain of ORs is one level, however long
    chain = " OR ".join(f"TBMJ > {i}" for i in range(200))
    assert get_json(client, "/collections/dltb/items?limit=1&filter=" + urllib.parse.quote(chain))["features"]
    # 100,000 levels: json (and pygeofilter) would recurse past Python's limit
    for body in (b"[" * 100_000, b'{"op":"not","args":[' * 4_000 + b"true" + b"]}" * 4_000):
        r = client.post("/collections/dltb/items", data=body, content_type="application/json")
        assert r.status_code == 400, r.data[:300]
        assert r.get_json()["code"] == "InvalidParameterValue"
