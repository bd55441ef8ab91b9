"""动态监测: change detection between the demo's 2022 and 2023 surveys, on both backends.

The demo's 2023 update builds lawfully (inside the urban development boundary in force, off the red line and
the farmland) and plants three unlawful builds: a mine in the red line, a village house on permanent basic
farmland, a factory outside every boundary. Every expected finding is computed here, independently: the two
surveys' parcels and the control lines read through the items API (as governing on the later survey's date),
overlaid with shapely and measured with pyproj's geodesic area on GRS80.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
import shapely
from pyproj import Geod

from .auth import admin_client, signed_in, token_for
from .conftest import all_items, get_json
from .test_warnings import demo_copy  # noqa: F401 (the fixture: a private copy of the demo, no job threads)

GEOD = Geod(ellps="GRS80")
COUNTIES = ("990102", "990121", "990122", "990123")
CONSTRUCTION = ("05H1", "0508", "0601", "0602", "0603", "0701", "0702", "08H1", "08H2", "0809", "0810", "09",
                "1001", "1002", "1003", "1004", "1005", "1007", "1008", "1009", "1109", "1201")
CROPLAND = ("0101", "0102", "0103")
URBAN = ("201", "201A", "202", "202A")
REL = 1e-4


def built(code: str | None) -> bool:
    return bool(code) and any(code == c or (c in ("08H2", "0810", "09") and code.startswith(c)) for c in CONSTRUCTION)


def m2(g: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(g)[0])


def detect(c, county: str, status: int = 200, **extra) -> dict:
    r = c.post("/processes/change-detection/execution",
               json={"inputs": {"area": county, "from_year": "2022", "to_year": "2023", **extra}})
    assert r.status_code == status, r.data[:400]
    return json.loads(r.data)


def expected(c, from_date: str, to_date: str) -> dict[tuple[str, str], float]:
    """(rule, BSM of the later parcel) -> m² of what the rule reports, by an overlay of the items' features."""
    before = all_items(c, f"/collections/dltb/items?f=json&limit=5000&view=governing&datetime={from_date}")
    after = all_items(c, f"/collections/dltb/items?f=json&limit=5000&view=governing&datetime={to_date}")
    lines = {lid: shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in all_items(
        c, f"/collections/{lid}/items?f=json&limit=5000&view=governing&datetime={to_date}")])
        for lid in ("stbhhx", "yjjbnt", "czkfbj")}
    b_geoms = [shapely.geometry.shape(f["geometry"]) for f in before]
    tree = shapely.STRtree(b_geoms)
    parts: dict[tuple[str, str], list[shapely.Geometry]] = defaultdict(list)
    for f in after:
        p = f["properties"]
        if not built(p["DLBM"]):
            continue
        g = shapely.geometry.shape(f["geometry"])
        for i in tree.query(g, predicate="intersects"):
            old = before[int(i)]["properties"]["DLBM"]
            if built(old):
                continue
            piece = shapely.intersection(g, b_geoms[int(i)])
            if piece.is_empty or m2(piece) <= 1.0:
                continue
            if old in CROPLAND:
                parts[("cropland_to_construction", p["BSM"])].append(piece)
            parts[("construction_in_red_line", p["BSM"])].append(shapely.intersection(piece, lines["stbhhx"]))
            parts[("construction_on_farmland", p["BSM"])].append(shapely.intersection(piece, lines["yjjbnt"]))
            if p.get("CZCSXM") in URBAN:
                parts[("urban_construction_outside_boundary", p["BSM"])].append(
                    shapely.difference(piece, lines["czkfbj"]))
    out = {}
    for key, geoms in parts.items():
        area = m2(shapely.union_all([g for g in geoms if not g.is_empty])) if any(not g.is_empty for g in geoms) else 0
        if area > 1.0:
            out[key] = area
    return out


def test_the_planted_cases_and_nothing_else(demo_copy):  # noqa: F811
    c = admin_client(demo_copy)
    docs = {county: detect(c, county) for county in COUNTIES}
    doc = docs["990121"]
    assert doc["from_year"] == "2022" and doc["to_year"] == "2023" and doc["area"]["level"] == "county"
    got = {(f["rule"], f["detail"]["parcel"]["BSM"]): f["m2"] for d in docs.values() for f in d["findings"]}
    want = expected(c, doc["from_date"], doc["to_date"])
    assert set(got) == set(want)
    for key, area in want.items():
        assert abs(got[key] - area) <= REL * area, (key, got[key], area)
    # the three planted builds, one per control line rule, and nothing else on the lines
    lines = sorted((rule, county) for county, d in docs.items() for f in d["findings"]
                   if (rule := f["rule"]) != "cropland_to_construction")
    assert [r for r, _ in lines] == ["construction_in_red_line", "construction_on_farmland",
                                     "urban_construction_outside_boundary"]
    codes = {f["rule"]: f["detail"]["parcel"]["DLBM"] for d in docs.values() for f in d["findings"]}
    assert (codes["construction_in_red_line"], codes["construction_on_farmland"],
            codes["urban_construction_outside_boundary"]) == ("0602", "0702", "0601")
    # each finding cites both surveys' parcels and its township
    for f in (f for d in docs.values() for f in d["findings"]):
        assert f["detail"]["before"] and all(b["BSM"] for b in f["detail"]["before"])
        assert f["region"].startswith(f["county"]) and len(f["region"]) == 9
    # the per-rule summary adds the findings up
    for d in docs.values():
        for row in d["rules"]:
            mine = [f for f in d["findings"] if f["rule"] == row["rule"]]
            assert row["findings"] == len(mine) and abs(row["m2"] - sum(f["m2"] for f in mine)) < 0.05


def test_findings_are_a_collection_and_warnings_and_a_rerun_replaces_them(demo_copy):  # noqa: F811
    c = admin_client(demo_copy)
    first = detect(c, "990123")
    severe = [f for f in first["findings"] if f["severity"] == "severe"]
    items = get_json(c, "/collections/monitoring/items?f=json&limit=100&region=990123")
    assert {f["id"] for f in items["features"]} == {f["id"] for f in first["findings"]}
    assert {f["id"] for f in get_json(c, "/collections/monitoring/items?f=json&severity=severe")["features"]} == \
        {f["id"] for f in severe}
    one = get_json(c, f"/collections/monitoring/items/{severe[0]['id']}?f=json")
    assert one["properties"]["m2"] == severe[0]["m2"] and one["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # every finding from its rule's threshold on is a warning (the control lines from 0 m², cropland from 1 ha)
    warned = get_json(c, "/warnings?kind=monitoring&limit=1000")["warnings"]
    want = {f["detail"]["parcel"]["BSM"] + f["rule"] for f in first["findings"]
            if f["rule"] != "cropland_to_construction" or f["m2"] >= 10_000}
    assert {w["detail"]["parcel"]["BSM"] + w["detail"]["rule"] for w in warned} == want
    assert first["warnings_changed"] == len(want)
    assert {w["severity"] for w in warned if w["detail"]["rule"] == "construction_in_red_line"} == {"severe"}
    # the same run again: the same findings (replaced, not added) and no warning event
    again = detect(c, "990123")
    assert [f["id"] for f in again["findings"]] == [f["id"] for f in first["findings"]]
    assert again["warnings_changed"] == 0
    assert get_json(c, "/collections/monitoring/items?f=json&region=990123")["numberMatched"] == len(first["findings"])


def test_a_filed_county_survey_is_checked_by_the_scan(demo_copy):  # noqa: F811
    c = admin_client(demo_copy)
    store = demo_copy.extensions["onemap"].store
    store.warnings.set_scan_mark("filing_events", "0")  # as if no filing had been scanned: the 2023 surveys too
    r = c.post("/processes/warnings-scan/execution", json={"inputs": {"datetime": "2024-01-01"}})
    assert r.status_code == 200, r.data[:300]
    rules = {w["detail"]["rule"] for w in get_json(c, "/warnings?kind=monitoring&limit=1000")["warnings"]}
    assert {"construction_in_red_line", "construction_on_farmland", "urban_construction_outside_boundary"} <= rules
    assert get_json(c, "/collections/monitoring/items?f=json&rule=construction_in_red_line")["numberMatched"] == 1


@pytest.mark.parametrize("inputs", [{"area": "12345"}, {"area": "990199"}, {"area": "990100"},
                                    {"area": "990121", "from_year": "2023", "to_year": "2022"},
                                    {"area": "990121", "from_year": "2019"}, {"area": "990121", "extra": 1}])
def test_bad_inputs_are_400s(demo_copy, inputs):  # noqa: F811
    c = admin_client(demo_copy)
    r = c.post("/processes/change-detection/execution", json={"inputs": inputs})
    assert r.status_code == 400, (inputs, r.data[:300])
    assert "Traceback" not in json.loads(r.data)["description"]


def test_partners_may_not_run_it_nor_see_the_findings(demo_copy):  # noqa: F811
    store = demo_copy.extensions["onemap"].store
    partner = signed_in(demo_copy.test_client(), token_for(store, "partner"))
    r = partner.post("/processes/change-detection/execution", json={"inputs": {"area": "990121"}})
    assert r.status_code in (403, 404)
    assert partner.get("/collections/monitoring/items").status_code == 404
