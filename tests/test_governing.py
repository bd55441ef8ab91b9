"""Which plan governs here, on the demo region (both backends): ``/governing``, ``view=governing`` on
collections and tiles, and the chain of plans with their contradictions.

Expectations come from the features read through the API and computed again here with shapely
and pyproj (areas on the CGCS2000 ellipsoid), not from OneMap's resolution code.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Geod

from .auth import admin_client
from .conftest import all_items, get_json
from .test_tiles import decode, tile_at

GEOD = Geod(a=6378137.0, f=1 / 298.257222101)  # CGCS2000
CITY_2023 = "990100-city-master-2023"
PROVINCE = "990000-province-master-2021"
DISTRICT = "990102"
COUNTIES = ("990121", "990122", "990123")
HERITAGE = "990100-city-special-LSWH-2024"
HAZARD = "990100-city-special-ZHFZ-2024"
DETAILED = "990100-city-detailed-990102DY01-2024"
CONTROL_LINES = ("stbhhx", "yjjbnt", "czkfbj", "lswhbhx", "hlfxkzx", "ghfq")


def geodesic_m2(g: shapely.Geometry) -> float:
    total = 0.0
    for p in shapely.get_parts(g):
        if p.geom_type != "Polygon":
            continue
        total += abs(GEOD.geometry_area_perimeter(p)[0])
    return total


def features(client, layer: str, query: str = "") -> list[dict]:
    return all_items(client, f"/collections/{layer}/items?limit=1000{query}")


def shapes(feats: list[dict]) -> np.ndarray:
    return np.asarray([shapely.geometry.shape(f["geometry"]) for f in feats], dtype=object)


def regions(client) -> dict[str, shapely.Geometry]:
    """County outlines from the land survey in force, read through the API."""
    feats = features(client, "xzq", "&XZQJB=county")
    return {f["properties"]["XZQDM"]: shapely.geometry.shape(f["geometry"]) for f in feats}


@pytest.fixture(scope="module")
def counties(app) -> dict[str, shapely.Geometry]:
    return regions(admin_client(app))


# ---- view=governing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("layer", CONTROL_LINES)
def test_the_governing_view_has_no_overlapping_copies(client, layer):
    gov = features(client, layer, "&view=governing")
    assert gov, layer
    geoms, plans = shapes(gov), [f["properties"]["plan_id"] for f in gov]
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    overlap = 0.0
    for a, b in zip(i.tolist(), j.tolist()):
        if a < b and plans[a] != plans[b]:
            overlap += geodesic_m2(shapely.intersection(geoms[a], geoms[b]))
    assert overlap < 1.0, (layer, overlap)
    # and it is exactly what each governing plan draws where it governs: the county plans in their
    # counties, the city plan in its own district, a special plan everywhere in the city
    expected = _expected_governed(client, layer)
    assert geodesic_m2(shapely.symmetric_difference(expected, shapely.union_all(geoms))) < 1.0, layer


def _plan_union(client, layer: str, plan_id: str) -> shapely.Geometry:
    return shapely.union_all(shapes(features(client, layer, f"&plan_id={plan_id}")))


def _expected_governed(client, layer: str) -> shapely.Geometry:
    if layer == "lswhbhx":
        return _plan_union(client, layer, HERITAGE)
    if layer == "hlfxkzx":
        return _plan_union(client, layer, HAZARD)
    district = regions(client)[DISTRICT]
    parts = [_plan_union(client, layer, f"{c}-county-master-2022") for c in COUNTIES]
    parts.append(shapely.intersection(_plan_union(client, layer, CITY_2023), district))
    return shapely.union_all(parts)


def test_the_default_view_shows_every_level_on_top_of_each_other(client):
    every = features(client, "stbhhx")
    assert {f["properties"]["plan_level"] for f in every} == {"province", "city", "county"}
    gov = features(client, "stbhhx", "&view=governing")
    # the province's copy governs nowhere (the city and its counties hold the line everywhere)
    assert {f["properties"]["plan_id"] for f in gov} == {CITY_2023} | {f"{c}-county-master-2022" for c in COUNTIES}
    assert len(gov) < len(every)


def test_the_governing_view_cuts_a_city_line_to_its_district(client, counties):
    district = counties[DISTRICT]
    for f in features(client, "czkfbj", "&view=governing"):
        g = shapely.geometry.shape(f["geometry"])
        if f["properties"]["plan_id"] == CITY_2023:
            assert geodesic_m2(shapely.difference(g, district)) < 1.0
        else:
            county = counties[f["properties"]["plan_region"]]
            assert geodesic_m2(shapely.difference(g, county)) < 1.0


def test_special_and_detailed_plans_govern_their_subjects(client):
    assert {f["properties"]["plan_id"] for f in features(client, "lswhbhx", "&view=governing")} == {HERITAGE}
    assert {f["properties"]["plan_id"] for f in features(client, "hlfxkzx", "&view=governing")} == {HAZARD}
    planned = features(client, "zxcqghydyh", "&view=governing")
    assert {f["properties"]["plan_id"] for f in planned} == {DETAILED, CITY_2023}
    unit = shapely.union_all(shapes([f for f in planned if f["properties"]["plan_id"] == DETAILED]))
    city = shapely.union_all(shapes([f for f in planned if f["properties"]["plan_id"] == CITY_2023]))
    assert geodesic_m2(shapely.intersection(unit, city)) < 1.0
    # both special plans are in force together (their drawers differ by subject)
    plans = {f["id"]: f["properties"] for f in all_items(client, "/collections/plans/items?type=special&limit=10")}
    assert {pid: p["status"] for pid, p in plans.items()} == {HERITAGE: "filed", HAZARD: "filed"}
    assert {p["subject"] for p in plans.values()} == {"LSWH", "ZHFZ"}


def test_drawer_subject_is_a_queryable(client):
    doc = get_json(client, "/collections/lswhbhx/queryables")
    assert "plan_subject" in doc["properties"]
    got = features(client, "lswhbhx", "&plan_subject=LSWH")
    assert got and {f["properties"]["plan_id"] for f in got} == {HERITAGE}


@pytest.mark.parametrize("query, says", [
    ("view=nope", "view"),
    ("view=governing&datetime=2023-01-01/2024-01-01", "one date"),
    ("view=governing&plan_id=990100-city-master-2023", "plan_id"),
    ("recorded=2999-01-01", "future"),
    ("recorded=2023-01-01/2024-01-01", "interval"),
])
def test_bad_view_or_recorded_is_a_400(client, query, says):
    doc = get_json(client, f"/collections/czkfbj/items?{query}", status=400)
    assert says in doc["description"]


def test_tiles_take_the_governing_view(client):
    row, col = tile_at("WebMercatorQuad", 11)
    every = decode(client.get(f"/collections/stbhhx/tiles/WebMercatorQuad/11/{row}/{col}").data)["stbhhx"]
    gov_tile = client.get(f"/collections/stbhhx/tiles/WebMercatorQuad/11/{row}/{col}?view=governing")
    assert gov_tile.status_code == 200
    gov = decode(gov_tile.data)["stbhhx"]
    assert "990000-province-master-2021" in {f["properties"]["plan_id"] for f in every["features"]}
    assert {f["properties"]["plan_id"] for f in gov["features"]} <= \
        {CITY_2023} | {f"{c}-county-master-2022" for c in COUNTIES}
    assert len(gov["features"]) < len(every["features"])
    assert client.get(f"/collections/stbhhx/tiles/WebMercatorQuad/11/{row}/{col}?view=all").status_code == 200
    assert client.get(f"/collections/stbhhx/tiles/WebMercatorQuad/11/{row}/{col}?view=x").status_code == 400


# ---- /governing ----------------------------------------------------------------------------------------
def _grid(demo_meta, n: int = 100) -> list[list[float]]:
    x0, y0, x1, y1 = demo_meta["bbox"]
    xs, ys = np.linspace(x0, x1, n + 2)[1:-1], np.linspace(y0, y1, n + 2)[1:-1]
    return [[float(x), float(y)] for x in xs for y in ys]


def _governing_ids(entry: dict) -> set[str]:
    return {g["plan_id"] for g in entry["governing"]}


@pytest.fixture(scope="module")
def grid_answers(app, demo_meta) -> tuple[list[list[float]], list[dict]]:
    pts = _grid(demo_meta)
    r = admin_client(app).post("/governing", json={"type": "MultiPoint", "coordinates": pts})
    assert r.status_code == 200, r.data[:300]
    doc = json.loads(r.data)
    assert len(doc["points"]) == len(pts) == 10_000
    return pts, doc["points"]


def test_governing_answers_every_point_of_a_100_by_100_grid(client, counties, grid_answers):
    """The county plan where a county has one, the city plan in its own district, the county's survey;
    outside every county, nothing governs (undetermined)."""
    pts, answers = grid_answers
    unit = shapely.union_all(shapes(features(client, "zxcqghydyh", f"&plan_id={DETAILED}")))
    checked = 0
    for (lon, lat), answer in zip(pts, answers):
        pt = shapely.Point(lon, lat)
        by_layer = {e["layer"]: e for e in answer["layers"]}
        assert set(by_layer) >= set(CONTROL_LINES) | {"dltb", "xzq", "zxcqghydyh"}
        inside = [code for code, g in counties.items() if g.contains(pt)]
        if not inside:
            if not any(g.distance(pt) < 1e-6 for g in counties.values()):
                assert {e["status"] for e in answer["layers"]} == {"undetermined"}, answer["point"]
            continue
        county = inside[0]
        master = CITY_2023 if county == DISTRICT else f"{county}-county-master-2022"
        for layer in ("stbhhx", "yjjbnt", "czkfbj", "ghfq"):
            assert _governing_ids(by_layer[layer]) == {master}, (answer["point"], layer)
        assert _governing_ids(by_layer["dltb"]) == {f"{county}-county-survey-2023"}
        assert _governing_ids(by_layer["lswhbhx"]) == {HERITAGE}
        assert _governing_ids(by_layer["hlfxkzx"]) == {HAZARD}
        if unit.contains(pt):
            assert _governing_ids(by_layer["zxcqghydyh"]) == {DETAILED}
        elif unit.distance(pt) > 1e-6:
            assert _governing_ids(by_layer["zxcqghydyh"]) == {CITY_2023}
        # the chain above the governing plan holds the layer and covers the point
        chain = [c["plan_id"] for c in by_layer["stbhhx"]["chain"]]
        assert chain == ([PROVINCE] if county == DISTRICT else [CITY_2023, PROVINCE])
        checked += 1
    assert checked > 5000


def test_contradictions_between_levels_are_found_where_the_lines_differ(client, counties, grid_answers):
    """The 2022 county plans keep the city's 2021 urban boundary; the city revised it in 2023. Where a
    point is inside one and outside the other, /governing reports the contradiction."""
    pts, answers = grid_answers
    city = shapely.union_all(shapes(features(client, "czkfbj", f"&plan_id={CITY_2023}")))
    shapely.prepare(city)
    found = expected = 0
    for (lon, lat), answer in zip(pts, answers):
        pt = shapely.Point(lon, lat)
        entry = next(e for e in answer["layers"] if e["layer"] == "czkfbj")
        if entry["status"] != "governed":
            continue
        gov = entry["governing"][0]
        if gov["plan_id"] == CITY_2023 or city.boundary.distance(pt) < 1e-6:
            continue
        city_says = bool(city.covers(pt))
        contradicts = gov["says"]["inside"] != city_says or (
            city_says and gov["says"].get("GHFQDM") != _code_at(client, pt))
        listed = [c for c in entry["contradictions"] if c["plan_id"] == CITY_2023]
        assert bool(listed) == contradicts, answer["point"]
        expected += contradicts
        found += bool(listed)
    assert found == expected


_codes: dict = {}


def _code_at(client, pt: shapely.Point) -> str | None:
    if "city" not in _codes:
        feats = features(client, "czkfbj", f"&plan_id={CITY_2023}")
        _codes["city"] = (shapes(feats), [f["properties"]["GHFQDM"] for f in feats])
    geoms, codes = _codes["city"]
    for g, c in zip(geoms, codes):
        if g.covers(pt):
            return c
    return None


def test_get_answers_as_the_batch_does(client, grid_answers):
    pts, answers = grid_answers
    for k in range(0, len(pts), 997):
        lon, lat = pts[k]
        doc = get_json(client, f"/governing?point={lon},{lat}")
        assert doc["layers"] == answers[k]["layers"], pts[k]
        assert doc["date"] and doc["recorded"] is None


def test_governing_over_an_area(client, counties):
    """A square straddling the district and a county: two plans govern it, with their shares."""
    d, c = counties[DISTRICT], counties["990121"]
    border = shapely.intersection(d.boundary, c.boundary)
    p = shapely.point_on_surface(border) if not border.is_empty else None
    assert p is not None
    sq = shapely.box(p.x - 0.01, p.y - 0.01, p.x + 0.01, p.y + 0.01)
    r = client.post("/governing?layers=stbhhx", json=shapely.geometry.mapping(sq))
    doc = json.loads(r.data)
    (entry,) = doc["layers"]
    shares = {g["plan_id"]: g["area"]["m2"] for g in entry["governing"]}
    assert set(shares) == {CITY_2023, "990121-county-master-2022"}
    want_city = geodesic_m2(shapely.intersection(sq, d))
    assert abs(shares[CITY_2023] - want_city) / want_city < 1e-3
    outside = geodesic_m2(shapely.difference(sq, shapely.union_all(list(counties.values()))))
    assert abs(entry["uncovered"]["m2"] - outside) <= max(1.0, 1e-3 * outside)


@pytest.mark.parametrize("query, status", [
    ("", 400), ("point=1", 400), ("point=a,b", 400), ("point=200,1", 400), ("point=117,31&datetime=2020/2021", 400),
    ("point=117,31&layers=nope", 400), ("point=117,31&x=1", 400),
])
def test_bad_governing_requests(client, query, status):
    r = client.get(f"/governing?{query}")
    assert r.status_code == status and "Traceback" not in r.data.decode()


@pytest.mark.parametrize("body, says", [
    (b"[" * 100_000, "nested too deeply"), (b"{" * 100_000, "not JSON"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    (b'{"type":"Polygon","coordinates":' + b"[" * 900 + b"]" * 900 + b"}", "malformed"),
])
def test_a_deeply_nested_body_is_a_400(client, body, says):
    r = client.post("/governing", data=body, content_type="application/json")
    assert r.status_code == 400, r.data[:300]
    assert says in r.get_json()["description"]


def test_governing_before_any_plan_and_outside_the_region(client, demo_meta):
    x0, y0, x1, y1 = demo_meta["bbox"]
    lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
    early = get_json(client, f"/governing?point={lon},{lat}&datetime=2019-01-01")
    assert {e["status"] for e in early["layers"]} == {"undetermined"}
    assert set(early["undetermined"]) == {e["layer"] for e in early["layers"]}
    far = get_json(client, "/governing?point=100,30")
    assert {e["status"] for e in far["layers"]} == {"undetermined"}
