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


def test_sql_injection_attempts_are_values(client):
    r = client.get("/collections/dltb/items?filter=" + urllib.parse.quote("DLBM = '0101'' OR 1=1 --'"))
    # a quote inside a CQL2 string is either refused or stays part of the value
    assert r.status_code == 400 or r.get_json()["numberMatched"] == 0
    get_json(client, "/collections/dltb/items?sortby=" + urllib.parse.quote("DLBM;DROP TABLE dltb"), status=400)
    doc = get_json(client, "/collections/dltb/items?DLBM=" + urllib.parse.quote("' OR '1'='1"))
    assert doc["numberMatched"] == 0
    assert get_json(client, "/collections/dltb/items?limit=1")["numberMatched"] > 0
