"""查询统计: the statistics process, its GET form and the 三调 汇总表, on both backends.

Every expected figure is computed here, independently: features read through the items API (HTTP, as an
administrator, every page), cut with shapely and measured with pyproj's geodesic area on GRS80 (CGCS2000's
ellipsoid). Nothing here calls providers/statistics or Store.aggregate.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from urllib.parse import urlsplit

import openpyxl
import pytest
import shapely
from pyproj import Geod

from .auth import signed_in, token_for

GEOD = Geod(ellps="GRS80")
DAY = "2024-01-01"
COUNTY = "990121"
REL = 1e-4  # 0.01 %
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# a hand-drawn polygon across two townships of 990121 and the county line
DRAWN = {"type": "Polygon", "coordinates": [[[117.02, 31.44], [117.09, 31.43], [117.11, 31.49], [117.05, 31.52],
                                             [117.01, 31.49], [117.02, 31.44]]]}


def m2(g: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(g)[0])


def read_all(client, path: str) -> list[dict]:
    """Every feature of an items query, page after page (its ``next`` links)."""
    out: list[dict] = []
    url: str | None = path + ("&" if "?" in path else "?") + "limit=10000"
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.data[:300]
        doc = json.loads(r.data)
        out += doc["features"]
        nxt = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
        url = None if nxt is None else urlsplit(nxt).path + "?" + urlsplit(nxt).query
    return out


def close(a: float, b: float, rel: float = REL, floor: float = 0.01) -> bool:
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), floor)


def stats(client, layer: str, status: int = 200, **query) -> dict:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    r = client.get(f"/collections/{layer}/statistics?{qs}")
    assert r.status_code == status, r.data[:400]
    return json.loads(r.data)


def execute(client, process: str, inputs: dict, status: int = 200, media: str | None = None):
    body: dict = {"inputs": inputs}
    if media:
        body["outputs"] = {"statistics" if process == "statistics" else "summary": {"format": {"mediaType": media}}}
    r = client.post(f"/processes/{process}/execution", json=body)
    assert r.status_code == status, r.data[:400]
    return r


_parcels: dict[int, list[dict]] = {}


@pytest.fixture()
def parcels(app, client) -> list[dict]:
    """The survey's parcels governing on DAY, as the items API gives them (read once per backend's app)."""
    if id(app) not in _parcels:
        _parcels[id(app)] = read_all(client, f"/collections/dltb/items?view=governing&datetime={DAY}")
    return _parcels[id(app)]


def by_township_and_class(parcels: list[dict], county: str | None) -> dict[tuple[str, str], tuple[float, int]]:
    out: dict[tuple[str, str], list] = defaultdict(lambda: [0.0, 0])
    for f in parcels:
        p = f["properties"]
        if county is not None and not p["ZLDWDM"].startswith(county):
            continue
        acc = out[(p["ZLDWDM"][:9], p["DLBM"])]
        acc[0] += m2(shapely.geometry.shape(f["geometry"]))
        acc[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def as_table(rows: list[dict], *keys: str) -> dict[tuple, tuple[float, int]]:
    return {tuple(r[k] for k in keys): (r["m2"], r["count"]) for r in rows}


# ---- the survey by class and township -----------------------------------------------------------------
def test_dltb_by_class_per_township_matches_the_parcels(client, parcels):
    doc = stats(client, "dltb", group_by="DLBM,region:township", area=COUNTY, datetime=DAY)
    got = as_table(doc["rows"], "region", "DLBM")
    want = by_township_and_class(parcels, COUNTY)
    assert len(want) > 20 and set(got) == set(want)
    for key, (area, count) in want.items():
        assert close(got[key][0], area), (key, got[key], area)
        assert got[key][1] == count, key
    assert doc["area"] == {"region": COUNTY, "name": "东岭县", "level": "county"}
    assert close(doc["total"]["m2"], sum(a for a, _ in want.values()))
    assert doc["total"]["count"] == sum(c for _, c in want.values())
    row = doc["rows"][0]
    assert row["region_name"] and row["DLMC"]  # the label from the code table
    assert row["ha"] == round(row["m2"] / 1e4, 4) and close(row["mu"], row["m2"] * 0.0015, 1e-6)


def test_the_whole_survey_by_process_matches_the_parcels(client, parcels):
    r = execute(client, "statistics", {"layer": "dltb", "group_by": ["region:township", "DLBM"], "datetime": DAY})
    got = as_table(json.loads(r.data)["rows"], "region", "DLBM")
    want = by_township_and_class(parcels, None)
    assert set(got) == set(want)
    assert all(close(got[k][0], v[0]) and got[k][1] == v[1] for k, v in want.items())


def test_a_cql2_filter_as_the_items_api_reads_it(client, parcels):
    text = "DLBM LIKE '01%' AND TBMJ > 5000"
    r = execute(client, "statistics", {"layer": "dltb", "group_by": ["DLBM"], "area": COUNTY, "datetime": DAY,
                                       "filter": text})
    got = as_table(json.loads(r.data)["rows"], "DLBM")
    matched = read_all(client, f"/collections/dltb/items?view=governing&datetime={DAY}&filter={text}")
    want: dict[tuple, list] = defaultdict(lambda: [0.0, 0])
    for f in matched:
        if f["properties"]["ZLDWDM"].startswith(COUNTY):
            want[(f["properties"]["DLBM"],)][0] += m2(shapely.geometry.shape(f["geometry"]))
            want[(f["properties"]["DLBM"],)][1] += 1
    assert want and set(got) == set(want) and all(k[0].startswith("01") for k in got)
    assert all(close(got[k][0], v[0]) and got[k][1] == v[1] for k, v in want.items())
    cql_json = {"op": "like", "args": [{"property": "DLBM"}, "01%"]}
    r2 = execute(client, "statistics", {"layer": "dltb", "group_by": ["DLBM"], "area": COUNTY, "datetime": DAY,
                                        "filter": cql_json})
    assert set(as_table(json.loads(r2.data)["rows"], "DLBM")) >= set(got)


# ---- a plan layer, governing, by county -----------------------------------------------------------------
def test_planning_zones_per_county_match_the_governing_plans_cut_to_each_county(client):
    doc = stats(client, "ghfq", group_by="GHFQDM,region:county", datetime=DAY)
    got = as_table(doc["rows"], "region", "GHFQDM")
    zones = read_all(client, f"/collections/ghfq/items?view=governing&datetime={DAY}")
    regions = read_all(client, f"/collections/xzq/items?datetime={DAY}")
    counties = {f["properties"]["XZQDM"]: shapely.geometry.shape(f["geometry"]) for f in regions
                if f["properties"]["XZQJB"] == "county"}
    assert len(counties) == 4 and zones
    want: dict[tuple[str, str], float] = defaultdict(float)
    for f in zones:
        g = shapely.geometry.shape(f["geometry"])
        for code, outline in counties.items():
            part = shapely.intersection(g, outline)
            if not part.is_empty:
                want[(code, f["properties"]["GHFQDM"])] += m2(part)
    want = {k: v for k, v in want.items() if v > 1.0}  # a shared edge's rounding sliver is no group
    assert {k for k, v in got.items() if v[0] > 1.0} == set(want)
    for key, area in want.items():
        assert close(got[key][0], area), (key, got[key][0], area)
    assert all(r["GHFQMC"] for r in doc["rows"])


# ---- a drawn boundary ----------------------------------------------------------------------------------
def test_a_drawn_boundary_matches_shapely_intersections(client):
    r = execute(client, "statistics", {"layer": "dltb", "group_by": ["DLBM"], "area": DRAWN, "datetime": DAY})
    doc = json.loads(r.data)
    got = as_table(doc["rows"], "DLBM")
    drawn = shapely.geometry.shape(DRAWN)
    minx, miny, maxx, maxy = drawn.bounds
    feats = read_all(client, f"/collections/dltb/items?view=governing&datetime={DAY}&bbox={minx},{miny},{maxx},{maxy}")
    want: dict[tuple[str], float] = defaultdict(float)
    for f in feats:
        part = shapely.intersection(shapely.geometry.shape(f["geometry"]), drawn)
        if not part.is_empty and part.area > 0:
            want[(f["properties"]["DLBM"],)] += m2(part)
    assert len(want) > 3 and set(got) == set(want)
    for key, area in want.items():
        assert close(got[key][0], area), (key, got[key][0], area)
    assert close(doc["total"]["m2"], m2(drawn), 1e-3)  # the survey covers the whole polygon
    assert close(doc["area"]["m2"], m2(drawn), 1e-6)


def test_a_map_view_box_matches_shapely_intersections(client):
    # what /map's statistics panel asks: the view as bbox, in CRS84 or in EPSG:4490's lat,lon order
    box = (117.03, 31.45, 117.08, 31.50)
    doc = stats(client, "dltb", group_by="DLBM", bbox=",".join(map(str, box)), datetime=DAY)
    flipped = stats(client, "dltb", group_by="DLBM", bbox=f"{box[1]},{box[0]},{box[3]},{box[2]}",
                    **{"bbox-crs": "EPSG:4490"}, datetime=DAY)
    assert flipped["rows"] == doc["rows"]
    got = as_table(doc["rows"], "DLBM")
    window = shapely.box(*box)
    want: dict[tuple[str], float] = defaultdict(float)
    for f in read_all(client, f"/collections/dltb/items?view=governing&datetime={DAY}&bbox={','.join(map(str, box))}"):
        part = shapely.intersection(shapely.geometry.shape(f["geometry"]), window)
        if not part.is_empty and part.area > 0:
            want[(f["properties"]["DLBM"],)] += m2(part)
    assert len(want) > 3 and set(got) == set(want)
    for key, area in want.items():
        assert close(got[key][0], area), (key, got[key][0], area)
    assert close(doc["area"]["m2"], m2(window), 1e-6) and doc["area"]["bbox"] == list(box)


# ---- the files -------------------------------------------------------------------------------------------
def test_the_xlsx_and_the_csv_hold_the_json_numbers(client):
    q = f"group_by=DLBM,region:township&area={COUNTY}&datetime={DAY}"
    doc = json.loads(client.get(f"/collections/dltb/statistics?{q}").data)
    r = client.get(f"/collections/dltb/statistics?{q}&f=xlsx")
    assert r.status_code == 200 and r.mimetype == XLSX and "attachment" in r.headers["Content-Disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).active
    values = list(ws.iter_rows(values_only=True))
    body = values[1:-1]
    assert len(body) == len(doc["rows"])
    for row, want in zip(body, doc["rows"]):
        assert list(row) == list(want.values())
    assert values[-1][0] == "合计" and values[-1][-4] == doc["total"]["m2"] and values[-1][-1] == doc["total"]["count"]
    r = client.get(f"/collections/dltb/statistics?{q}&f=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert [x["region"] for x in rows] == [x["region"] for x in doc["rows"]]
    assert [float(x["m2"]) for x in rows] == [x["m2"] for x in doc["rows"]]
    assert [x["DLMC"] for x in rows] == [x["DLMC"] for x in doc["rows"]]
    csv_out = execute(client, "statistics", {"layer": "dltb", "group_by": ["DLBM"], "area": COUNTY}, media="text/csv")
    assert csv_out.mimetype == "text/csv" and csv_out.data.decode("utf-8-sig").startswith("DLBM,DLMC,m2,ha,mu,count")


# ---- the 汇总表 ----------------------------------------------------------------------------------------------
def test_the_summary_table_adds_up_and_matches_the_statistics(client):
    doc = json.loads(execute(client, "land-use-summary", {"region": COUNTY, "datetime": DAY}).data)
    assert doc["rows_level"] == "township" and len(doc["rows"]) == 6
    groups = doc["columns"]
    assert [g["code"] for g in groups][:3] == ["00", "01", "02"]
    assert [c["code"] for c in next(g for g in groups if g["code"] == "01")["classes"]] == ["0101", "0102", "0103"]
    for row in [*doc["rows"], doc["total"]]:
        cells = row["cells"]
        for g in groups:
            subs = [c["code"] for c in g["classes"]]
            if subs:
                assert cells[g["code"]] == round(sum(cells[c] for c in subs), 2), (row["region"], g["code"])
        assert row["total"] == round(sum(cells[g["code"]] for g in groups), 2)
    for key in doc["total"]["cells"]:
        assert doc["total"]["cells"][key] == round(sum(r["cells"][key] for r in doc["rows"]), 2)
    assert doc["total"]["total"] == round(sum(r["total"] for r in doc["rows"]), 2)
    # against the statistics rows, in hectares (a third-level code, 0201K, 1104A, adds to its parent's column)
    st = stats(client, "dltb", group_by="DLBM,region:township", area=COUNTY, datetime=DAY)["rows"]
    for row in doc["rows"]:
        want: dict[str, float] = defaultdict(float)
        for s in st:
            if s["region"] == row["region"]:
                want[s["DLBM"] if s["DLBM"] in row["cells"] else s["DLBM"][:-1]] += s["m2"] / 1e4
        assert want and set(want) <= set(row["cells"])
        for code, ha in want.items():
            assert abs(row["cells"][code] - ha) <= 0.0051, (row["region"], code)
        assert abs(row["total"] - sum(want.values())) < 0.005 * len(want) + 1e-6


def test_the_summary_as_a_printable_page_and_a_workbook(client):
    doc = json.loads(execute(client, "land-use-summary", {"region": COUNTY, "datetime": DAY}).data)
    html = execute(client, "land-use-summary", {"region": COUNTY, "datetime": DAY}, media="text/html").data.decode()
    assert "东岭县土地利用现状分类面积汇总表" in html and "http" not in html.split("<body>")[0]
    assert f"{doc['total']['total']:.2f}" in html and "colspan=\"4\">01 耕地" in html
    data = execute(client, "land-use-summary", {"region": COUNTY, "datetime": DAY}, media=XLSX).data
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    merged = {str(m) for m in ws.merged_cells.ranges}
    heads = [(c.column, c.value) for c in ws[3] if c.value]
    cropland = next(col for col, v in heads if v == "01 耕地")
    letter = openpyxl.utils.get_column_letter
    assert f"{letter(cropland)}3:{letter(cropland + 3)}3" in merged  # 小计 + 水田, 水浇地, 旱地
    assert [ws.cell(row=4, column=cropland + i).value for i in range(4)] == ["小计", "0101 水田", "0102 水浇地",
                                                                              "0103 旱地"]
    last = [c.value for c in ws[ws.max_row]]
    assert last[1] == "合计" and last[2] == doc["total"]["total"] and last[cropland - 1] == doc["total"]["cells"]["01"]


# ---- refusals ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["group_by=NOPE", "group_by=region:village", "group_by=region:city,region:county",
                                   "area=12345", "area=990199", "filter=NOPE%3D1", "filter=((", "datetime=2024-13-01",
                                   "datetime=2023-01-01/2024-01-01", "f=pdf", "unknown=1",
                                   "bbox=117,31,117,32", "bbox=117,31,118", "bbox-crs=EPSG:4490",
                                   f"bbox=117,31,118,32&area={COUNTY}", "bbox=117,31,118,32&bbox-crs=EPSG:9999"])
def test_bad_questions_are_400s(client, query):
    r = client.get(f"/collections/dltb/statistics?{query}")
    assert r.status_code == 400, (query, r.data[:300])
    body = json.loads(r.data)
    assert body["code"] in ("InvalidParameterValue", "UnknownParameter") and "Traceback" not in body["description"]


@pytest.mark.parametrize("inputs", [{"layer": "dltb", "group_by": ["NOPE"]}, {"layer": "dltb", "area": "990199"},
                                    {"layer": "dltb", "filter": "NOPE = 1"}, {"layer": "dltb", "filter": "(("},
                                    {"layer": "dltb", "datetime": "2024-1-1"}, {"layer": "dltb", "extra": 1},
                                    {"layer": "dltb", "group_by": ["region:county"], "area": "990121101"}])
def test_bad_inputs_are_400s_before_anything_runs(client, inputs):
    execute(client, "statistics", inputs, status=400)


def test_the_summary_refuses_a_township_and_an_unknown_region(client):
    execute(client, "land-use-summary", {"region": "990121101"}, status=400)
    execute(client, "land-use-summary", {"region": "990199"}, status=400)


def test_layers_the_caller_may_not_read_do_not_exist_for_them(app, client):
    anon = app.test_client()
    assert anon.get("/collections/nope/statistics").status_code == 404
    assert anon.get("/collections/dltb/statistics").status_code == 404  # partner tier
    assert anon.get("/collections/ghfq/statistics?group_by=GHFQDM").status_code == 200  # public
    store = app.extensions["onemap"].store
    partner = signed_in(app.test_client(), token_for(store, "partner"))
    assert partner.get("/collections/dltb/statistics?group_by=DLBM").status_code == 200
    assert partner.get("/collections/stbhhx/statistics").status_code == 404  # internal tier
    for inputs in ({"layer": "stbhhx"}, {"layer": "stbhhx", "group_by": ["NOPE"]}):  # no field list for them
        r = partner.post("/processes/statistics/execution", json={"inputs": inputs})
        assert r.status_code == 404 and json.loads(r.data)["description"] == "collection 'stbhhx' does not exist"
    assert partner.get("/collections/stbhhx/statistics?group_by=NOPE").status_code == 404
    assert partner.post("/processes/statistics/execution", json={"inputs": {"layer": "nope"}}).status_code == 404
    assert partner.post("/processes/statistics/execution", json={"inputs": {"layer": "dltb"}}).status_code == 200
    # a submission under review is the internal tier's, as in the items API
    submitted = "990123-county-master-2025"
    assert partner.get(f"/collections/ghfq/statistics?plan_id={submitted}").status_code == 404
    assert partner.post("/processes/statistics/execution", json={"inputs": {"layer": "ghfq", "plan_id": submitted}}
                        ).status_code == 404
    internal = signed_in(app.test_client(), token_for(store, "internal"))
    doc = json.loads(internal.get(f"/collections/ghfq/statistics?plan_id={submitted}&group_by=GHFQDM").data)
    assert doc["rows"] and doc["plan_id"] == submitted
    assert anon.post("/processes/statistics/execution", json={"inputs": {"layer": "ghfq"}}).status_code == 404
