"""transmission-check (传导校核) and the plan indicator table, on the demo region, both backends.

The demo's own plans must pass. Broken plans are made the way a bureau would make them:
export a demo plan with export_plan, change it with GDAL (pyogrio), load it back as a new
version; each break must give exactly the expected failing checks, with the area of the
change measured here independently (pyproj on the changed polygons), at the right place.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod

from onemap.config.errors import LoadError, StoreError
from onemap.processes.base import RunContext
from onemap.processes.transmission import transmission
from onemap.providers.packages import export_plan, load_package
from onemap.providers.store import open_store
from onemap.providers.store.base import FeatureBatch, Plan, PlanIndicator

from .conftest import get_json

URL = "/processes/transmission-check/execution"
GEOD = Geod(a=6378137.0, f=1 / 298.257222101)  # CGCS2000
CITY = "990100-city-master-2023"
CITY_2021 = "990100-city-master-2021"
PROVINCE = "990000-province-master-2021"
COUNTIES = ["990121-county-master-2022", "990122-county-master-2022", "990123-county-master-2022"]
CONTROL_LINES = ["ecological_red_line", "permanent_basic_farmland", "urban_development_boundary"]
INDICATORS = ["indicator_STBHHXMJ", "indicator_YJJBNTBHMJ", "indicator_CZKFBJMJ"]
ALL_CHECKS = [*CONTROL_LINES, *INDICATORS, "planning_zones"]


def geodesic_m2(g: shapely.Geometry) -> float:
    """Area on the CGCS2000 ellipsoid, measured with pyproj (not OneMap's code)."""
    return sum(abs(GEOD.geometry_area_perimeter(p)[0]) for p in shapely.get_parts(g))


def close(a: float, b: float, rel: float = 1e-6, abs_: float = 0.05) -> bool:
    return abs(a - b) <= max(rel * abs(b), abs_)


def execute(client, status: int = 200, **inputs) -> dict:
    r = client.post(URL, json={"inputs": inputs})
    assert r.status_code == status, r.data[:800]
    return json.loads(r.data)


def by_id(result: dict) -> dict[str, dict]:
    return {c["id"]: c for c in result["checks"]}


def failing(result: dict) -> set[str]:
    return {c["id"] for c in result["checks"] if c["result"] == "fail"}


# ---- the demo passes ---------------------------------------------------------------------------
@pytest.mark.parametrize("plan_id", [CITY_2021, CITY, *COUNTIES])
def test_every_demo_lower_plan_passes(client, plan_id):
    result = execute(client, plan_id=plan_id)
    checks = by_id(result)
    assert result["overall"]["result"] == "pass", result["overall"]
    assert failing(result) == set()
    assert list(checks) == ALL_CHECKS  # the province and the city set targets for every lower region
    by_line = result["upper_plan"]["level"] == "city"
    for cid in CONTROL_LINES:
        c = checks[cid]
        assert c["area"]["m2"] == 0 and c["places"] == [] and c["geometry"] is None
        assert c["message"]["zh"] and c["message"]["en"] and c["requirement"]["zh"]
        # a province plan hands the urban boundary down by its scale: the indicator, not the line
        assert c["applicable"] is (by_line or cid != "urban_development_boundary")
    if not by_line:
        assert "规模" in checks["urban_development_boundary"]["message"]["zh"]
    for cid in INDICATORS:
        ind = checks[cid]["indicator"]
        assert ind["unit"] == "公顷" and ind["region"] == result["lower_plan"]["region"]
        assert (ind["value"] >= ind["target"]) if ind["kind"] == "min" else (ind["value"] <= ind["target"])
    # the province plan has no planning zones: the zone check says it could not check
    assert checks["planning_zones"]["applicable"] is by_line
    assert "传导校核通过" in result["overall"]["zh"]


def test_control_lines_of_the_demo_are_transmitted(ref):
    """Independently of the process: read by GDAL, compared with shapely."""
    def union(layer, plan, region=None):
        _, cols, geoms = ref.features(layer, {plan})
        if region is not None:
            geoms = geoms[cols["XZQDM"] == region]
        return shapely.union_all(geoms)

    for county in COUNTIES:
        code = county[:6]
        for layer in ("stbhhx", "yjjbnt"):
            dropped = shapely.difference(union(layer, CITY, code), union(layer, county))
            assert geodesic_m2(dropped) < 1.0, (county, layer)
        beyond = shapely.difference(union("czkfbj", county), union("czkfbj", CITY, code))
        assert geodesic_m2(beyond) < 1.0, county
    for city in (CITY_2021, CITY):
        for layer in ("stbhhx", "yjjbnt"):
            assert geodesic_m2(shapely.difference(union(layer, PROVINCE), union(layer, city))) < 1.0
    assert geodesic_m2(shapely.difference(union("czkfbj", CITY_2021), union("czkfbj", PROVINCE))) < 1.0
    # the 2023 revision grows beyond the province's line: the province hands the boundary down
    # by its scale, which the city's indicator check holds it to (test_every_demo_lower_plan_passes)
    assert geodesic_m2(shapely.difference(union("czkfbj", CITY), union("czkfbj", PROVINCE))) > 1e6


def test_county_answers_to_the_city_plan_in_force(client):
    result = execute(client, plan_id=COUNTIES[0])
    up = result["upper_plan"]
    # made under the city's 2021 plan, checked against the upper plans in force: the 2023 revision
    # governs the county's region; the province plan is in force too but governs nowhere there
    assert up["id"] == CITY and up["basis"] == "in_force" and up["recorded"] == CITY_2021
    assert {p["id"]: p["used"] for p in result["upper_plans"]} == {CITY: True, PROVINCE: False}
    for check in result["checks"]:
        if check.get("applicable", True) and check["kind"] != "indicator":
            assert check["upper_plans"] == [CITY], check["id"]
    assert result["lower_plan"]["id"] == COUNTIES[0] and result["region"]["code"] == "990121"
    assert result["region"]["name"] == "东岭县"
    # the version it was made under can still be asked for; it set the same targets
    old = execute(client, plan_id=COUNTIES[0], upper_plan_id=CITY_2021)
    assert old["upper_plan"]["id"] == CITY_2021 and old["upper_plan"]["basis"] == "input"
    assert old["overall"]["result"] == "pass"
    city = execute(client, plan_id=CITY)
    assert city["upper_plan"]["id"] == PROVINCE and city["upper_plan"]["basis"] == "in_force"


def test_indicator_totals_are_the_geodesic_areas(client, ref):
    result = execute(client, plan_id=COUNTIES[1])
    checks = by_id(result)
    for cid, layer in (("indicator_STBHHXMJ", "stbhhx"), ("indicator_YJJBNTBHMJ", "yjjbnt"),
                       ("indicator_CZKFBJMJ", "czkfbj")):
        _, _, geoms = ref.features(layer, {COUNTIES[1]})
        expected = geodesic_m2(shapely.union_all(geoms))
        assert close(checks[cid]["lower_area"]["m2"], expected)
        assert checks[cid]["indicator"]["value"] == pytest.approx(expected / 1e4, abs=1e-4)


@pytest.mark.parametrize(("inputs", "status", "says"), [
    ({"plan_id": "990121-county-master-1999"}, 404, "no drawer entry"),
    ({"plan_id": COUNTIES[0], "upper_plan_id": "990100-city-master-1999"}, 404, "upper_plan_id"),
    ({"plan_id": PROVINCE}, 400, "has no upper plan"),
    ({"plan_id": "990000-province-survey-2023"}, 400, "survey"),
    ({"plan_id": COUNTIES[0], "upper_plan_id": COUNTIES[1]}, 400, "is not above"),
    ({"plan_id": CITY, "upper_plan_id": COUNTIES[0]}, 400, "is not above"),
    ({"plan_id": COUNTIES[0], "upper_plan_id": "990000-province-survey-2023"}, 400, "survey"),
    ({"plan_id": COUNTIES[0], "tolerance_m2": -1}, 400, "tolerance_m2"),
    ({"plan_id": "../etc"}, 400, "plan_id"),
    ({}, 400, "plan_id"),
])
def test_bad_inputs_are_clear_errors(client, inputs, status, says):
    doc = execute(client, status=status, **inputs)
    assert says in doc["description"], doc
    assert "Traceback" not in doc["description"]


def test_the_process_is_described(client):
    ids = {p["id"] for p in get_json(client, "/processes")["processes"]}
    assert "transmission-check" in ids
    desc = get_json(client, "/processes/transmission-check")
    assert set(desc["inputs"]) == {"plan_id", "upper_plan_id", "tolerance_m2", "date", "recorded"}
    assert desc["inputs"]["plan_id"]["minOccurs"] == 1 and desc["inputs"]["upper_plan_id"]["minOccurs"] == 0


def test_printable_report(client):
    r = client.post(URL, json={"inputs": {"plan_id": COUNTIES[2]}, "outputs": {"report": {}}})
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.data.decode()
    assert "规划传导校核报告" in html and "990123-county-master-2022" in html and "传导校核通过" in html
    png = base64.b64decode(html.split("data:image/png;base64,")[1].split('"')[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "永久基本农田保护面积" in html and "<script" not in html


# ---- broken plans ---------------------------------------------------------------------------------
@pytest.fixture()
def store(fresh_settings):
    s = open_store(fresh_settings.store_url)
    yield s
    s.close()


def run(store, settings, plan_id: str, upper_plan_id: str | None = None) -> dict:
    ctx = RunContext(store, settings, time.monotonic() + 600)
    return transmission(ctx, plan_id, upper_plan_id, None)


class Table:
    """One layer of a GeoPackage read with pyogrio, to change and write back."""

    def __init__(self, meta: dict, wkb, fields) -> None:
        self.meta = meta
        self.names = [str(n) for n in meta["fields"]]
        self.dtypes = [str(d) for d in meta["dtypes"]]
        self.geoms = None if wkb is None else list(shapely.from_wkb(wkb))
        self.cols = {n: list(np.asarray(v).tolist()) for n, v in zip(self.names, fields)}

    def __len__(self) -> int:
        return len(next(iter(self.cols.values())))

    def row(self, name: str, value) -> int:
        return self.cols[name].index(value)

    def drop(self, i: int) -> None:
        for v in self.cols.values():
            del v[i]
        if self.geoms is not None:
            del self.geoms[i]

    def append(self, geom, **values) -> None:
        for n in self.names:
            self.cols[n].append(values.get(n))
        if self.geoms is not None:
            self.geoms.append(geom)

    def arrays(self) -> list[np.ndarray]:
        out = []
        for n, d in zip(self.names, self.dtypes):
            v = self.cols[n]
            if d.startswith(("float", "int")):
                out.append(np.array([np.nan if x is None else float(x) for x in v], dtype="float64"))
            else:
                out.append(np.array(v, dtype=object))
        return out


def read_gpkg(path: Path) -> dict[str, Table]:
    out = {}
    for name, geom_type in pyogrio.list_layers(path):
        meta, _, wkb, fields = pyogrio.raw.read(path, layer=name, read_geometry=geom_type is not None)
        out[str(name)] = Table(meta, wkb if geom_type is not None else None, fields)
    return out


def write_gpkg(path: Path, tables: dict[str, Table]) -> Path:
    for i, (name, t) in enumerate(tables.items()):
        kw: dict = {"geometry": None}
        if t.geoms is not None:
            multi = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in t.geoms]
            kw = {"geometry": np.asarray(shapely.to_wkb(multi), dtype=object), "geometry_type": "MultiPolygon",
                  "crs": t.meta["crs"]}
        pyogrio.raw.write(path, field_data=t.arrays(), fields=t.names, layer=name, driver="GPKG",
                          append=i > 0, **kw)
    return path


def changed_county(store, tmp_path: Path, county: str, change) -> str:
    """Export a demo county plan, let ``change`` edit its tables, load it as version 2026."""
    tables = read_gpkg(export_plan(store, county, tmp_path / "export.gpkg"))
    change(tables)
    path = write_gpkg(tmp_path / "changed.gpkg", tables)
    plan = load_package(store, path, region=county[:6], level="county", type_="master", version="2026",
                        by="测试")
    assert plan.upper_plan_id == CITY and plan.status == "submitted"
    return plan.id


def target_m2(store, code: str, region: str, plan: str = CITY) -> float:
    t = [i for i in store.plan_indicators(plan) if i.region == region and i.code == code]
    assert len(t) == 1 and t[0].unit == "公顷"
    return t[0].value * 1e4


def union_m2(tables: dict[str, Table], code: str) -> float:
    return geodesic_m2(shapely.union_all(tables[code].geoms))


def _bsm_at(place: dict, key: str, cut: bool = False) -> set[str]:
    """BSM of the features listed at a place (``cut``: only those overlapping it, not just touching)."""
    return {f["BSM"] for f in place[key] if f["area_m2"] > 0 or not cut}


def test_shrunk_red_line_fails_with_the_dropped_area(store, fresh_settings, tmp_path):
    county = COUNTIES[1]
    seen: dict = {}

    def shrink(tables):
        red = tables["STBHHX"]
        i = int(np.argmax([geodesic_m2(g) for g in red.geoms]))
        p = red.geoms[i]
        x0, y0, x1, y1 = p.bounds
        kept = shapely.intersection(p, shapely.box(x0, y0, (x0 + x1) / 2, y1))
        seen.update(bsm=red.cols["BSM"][i], dropped=shapely.difference(p, kept), before=union_m2(tables, "STBHHX"))
        red.geoms[i] = kept

    pid = changed_county(store, tmp_path, county, shrink)
    result = run(store, fresh_settings, pid)
    assert failing(result) == {"ecological_red_line", "indicator_STBHHXMJ"}
    red = by_id(result)["ecological_red_line"]
    dropped = geodesic_m2(seen["dropped"])
    assert dropped > 1e6  # several square kilometres: the test can fail
    assert close(red["area"]["m2"], dropped)
    assert close(red["area"]["ha"], dropped / 1e4, abs_=1e-4) and close(red["area"]["mu"], dropped * 0.0015, abs_=1e-3)
    assert shapely.geometry.shape(red["geometry"]).symmetric_difference(seen["dropped"]).area < 1e-5 * seen["dropped"].area
    assert red["places_count"] == len(red["places"]) >= 1
    assert sum(p["area"]["m2"] for p in red["places"]) == pytest.approx(dropped, rel=1e-6)
    for place in red["places"]:
        assert seen["bsm"] in _bsm_at(place, "upper_features", cut=True)  # the city's line that was cut
        assert seen["dropped"].buffer(1e-9).contains(shapely.Point(place["point"]))
    # the county's shrunk copy touches where it was cut
    assert any(seen["bsm"] in _bsm_at(place, "lower_features") for place in red["places"])
    assert "生态保护红线" in red["message"]["zh"] and f"{red['area']['ha']:.4f}" in red["message"]["zh"]
    ind = by_id(result)["indicator_STBHHXMJ"]
    shortfall = target_m2(store, "STBHHXMJ", county[:6]) - (seen["before"] - dropped)
    assert close(ind["area"]["m2"], shortfall)
    assert ind["indicator"]["kind"] == "min" and ind["indicator"]["value"] < ind["indicator"]["target"]
    assert result["overall"]["result"] == "fail"
    assert {r["check"] for r in result["overall"]["reasons"]} == failing(result)


def test_dropped_farmland_fails_with_the_polygon_area(store, fresh_settings, tmp_path):
    county = COUNTIES[0]
    seen: dict = {}

    def drop(tables):
        farm = tables["YJJBNT"]
        areas = [geodesic_m2(g) for g in farm.geoms]
        i = int(np.argsort(areas)[len(areas) // 2])  # a middling protection block
        seen.update(bsm=farm.cols["BSM"][i], geom=farm.geoms[i], before=union_m2(tables, "YJJBNT"))
        farm.drop(i)

    pid = changed_county(store, tmp_path, county, drop)
    result = run(store, fresh_settings, pid)
    assert failing(result) == {"permanent_basic_farmland", "indicator_YJJBNTBHMJ"}
    farm = by_id(result)["permanent_basic_farmland"]
    removed = geodesic_m2(seen["geom"])
    assert close(farm["area"]["m2"], removed)
    assert shapely.geometry.shape(farm["geometry"]).symmetric_difference(seen["geom"]).area < 1e-5 * seen["geom"].area
    biggest = farm["places"][0]
    assert _bsm_at(biggest, "upper_features", cut=True) == {seen["bsm"]}
    assert biggest["upper_features"][0]["area_m2"] == pytest.approx(biggest["area"]["m2"], rel=1e-6)
    assert all(f["area_m2"] == 0 for f in biggest["lower_features"])  # neighbours at most, touching
    ind = by_id(result)["indicator_YJJBNTBHMJ"]
    assert close(ind["area"]["m2"], target_m2(store, "YJJBNTBHMJ", county[:6]) - (seen["before"] - removed))


def test_urban_boundary_beyond_the_upper_plan_fails_with_the_added_area(store, fresh_settings, tmp_path, ref, today):
    county = COUNTIES[0]
    code = county[:6]
    _, cols, parcels = ref.features("dltb", {p for p in ref.in_force(today) if "survey" in p})
    _, ccols, city_czk = ref.features("czkfbj", {CITY})
    upper = shapely.union_all(city_czk[ccols["XZQDM"] == code])
    mine = np.char.startswith(cols["ZLDWDM"].astype(str), code)
    away = np.flatnonzero(mine & (shapely.distance(parcels, upper) > 0.005))
    outside = parcels[away[np.argmin([geodesic_m2(g) for g in parcels[away]])]]  # the smallest such parcel
    seen: dict = {}

    def swap(tables):
        czk = tables["CZKFBJ"]
        areas = [geodesic_m2(g) for g in czk.geoms]
        i = int(np.argmax(areas))
        assert areas[i] > geodesic_m2(outside) + 1e4  # the total shrinks: only the place is wrong
        czk.drop(i)  # giving up urban land is allowed
        czk.append(outside, BSM=f"{code}999999999999", XZQDM=code, XZQMC="东岭县", GHFQDM="211",
                   GHFQMC="城镇集中建设区", MJ=geodesic_m2(outside))
        seen["bsm"] = f"{code}999999999999"

    pid = changed_county(store, tmp_path, county, swap)
    result = run(store, fresh_settings, pid)
    assert failing(result) == {"urban_development_boundary"}
    czk = by_id(result)["urban_development_boundary"]
    assert close(czk["area"]["m2"], geodesic_m2(outside))
    assert czk["places_count"] == 1
    place = czk["places"][0]
    assert _bsm_at(place, "lower_features") == {seen["bsm"]} and place["upper_features"] == []
    assert outside.contains(shapely.Point(place["point"]))
    assert "超出上位规划" in czk["message"]["zh"] and "beyond" in czk["message"]["en"]
    assert by_id(result)["indicator_CZKFBJMJ"]["result"] == "pass"


def test_contradicting_zone_fails_with_the_zone_area(store, fresh_settings, tmp_path):
    county = COUNTIES[0]
    seen: dict = {}

    def rezone(tables):
        zones = tables["GHFQ"]
        farm = [i for i, n in enumerate(zones.cols["GHFQMC"]) if n == "农田保护区"]
        i = max(farm, key=lambda k: geodesic_m2(zones.geoms[k]))
        zones.cols["GHFQDM"][i], zones.cols["GHFQMC"][i] = "211", "城镇集中建设区"
        seen.update(bsm=zones.cols["BSM"][i], geom=zones.geoms[i])

    pid = changed_county(store, tmp_path, county, rezone)
    result = run(store, fresh_settings, pid)
    assert failing(result) == {"planning_zones"}
    zones = by_id(result)["planning_zones"]
    expected = geodesic_m2(seen["geom"])
    assert close(zones["area"]["m2"], expected)
    hits = {c["id"]: c["area"]["m2"] for c in zones["contradictions"]}
    assert close(hits["urban_on_farmland"], expected) and hits["urban_on_ecological"] == 0
    place = zones["places"][0]
    assert seen["bsm"] in _bsm_at(place, "lower_features")
    assert {f["GHFQMC"] for f in place["upper_features"] if f["area_m2"] > 0} == {"农田保护区"}
    assert "农田保护区" in zones["message"]["zh"]


def test_indicator_below_a_raised_target_fails_alone(store, fresh_settings, tmp_path, ref):
    """A city version that asks the county for 50 公顷 more farmland than it protects."""
    tables = read_gpkg(export_plan(store, CITY, tmp_path / "city.gpkg"))
    t = tables["GHZBB"]
    i = next(k for k in range(len(t)) if t.cols["XZQDM"][k] == "990121" and t.cols["ZBDM"][k] == "YJJBNTBHMJ")
    raised = t.cols["ZBZ"][i] + 50
    t.cols["ZBZ"][i] = raised
    city = load_package(store, write_gpkg(tmp_path / "city2024.gpkg", tables), region="990100", level="city",
                        type_="master", version="2024")
    result = run(store, fresh_settings, COUNTIES[0], upper_plan_id=city.id)
    assert result["upper_plan"]["id"] == city.id and result["upper_plan"]["basis"] == "input"
    assert failing(result) == {"indicator_YJJBNTBHMJ"}
    _, _, farm = ref.features("yjjbnt", {COUNTIES[0]})
    total = geodesic_m2(shapely.union_all(farm))
    ind = by_id(result)["indicator_YJJBNTBHMJ"]
    assert close(ind["area"]["m2"], raised * 1e4 - total)
    assert ind["indicator"]["target"] == pytest.approx(raised)
    assert "低于下达的" in ind["message"]["zh"] and "below the target" in ind["message"]["en"]


def test_tolerance_decides(store, fresh_settings, tmp_path):
    def nibble(tables):
        red = tables["STBHHX"]
        p = red.geoms[0]
        x0, y0, x1, y1 = p.bounds
        red.geoms[0] = shapely.difference(p, shapely.box(x0 - 1, y0 - 1, x0 + (x1 - x0) * 0.02, y1 + 1))

    pid = changed_county(store, tmp_path, COUNTIES[1], nibble)
    ctx = RunContext(store, fresh_settings, time.monotonic() + 600)
    strict = transmission(ctx, pid, None, 0.0)
    area = by_id(strict)["ecological_red_line"]["area"]["m2"]
    assert area > 0 and by_id(strict)["ecological_red_line"]["result"] == "fail"
    lenient = transmission(ctx, pid, None, area * 2)
    assert by_id(lenient)["ecological_red_line"]["result"] == "pass" and lenient["tolerance_m2"] == area * 2


def test_a_plan_round_tripped_through_gauss_krueger_passes_at_zero_tolerance(store, fresh_settings, tmp_path):
    """Reprojection leaves only rounding dust (under 0.01 m²), which is no difference."""
    out = export_plan(store, COUNTIES[1], tmp_path / "gk.gpkg", "gpkg", "EPSG:4527")
    plan = load_package(store, out, region="990122", level="county", type_="master", version="2026")
    result = transmission(RunContext(store, fresh_settings, time.monotonic() + 600), plan.id, None, 0.0)
    assert failing(result) == set() and result["tolerance_m2"] == 0
    assert all(c["area"]["m2"] == 0 for c in result["checks"] if c["kind"] != "indicator")


# ---- the indicator table in packages and the store ------------------------------------------------
EXT = {"gpkg": "gpkg", "shp": "zip", "gdb": "gdb"}


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "gdb"])
def test_indicator_table_round_trips(fmt, store, tmp_path):
    before = store.plan_indicators(CITY)
    # for the district and each county: the three control lines' areas, the survey's six (湿地 only where the
    # 2022 survey has any: one county of four) and its per-capita three (人均公园绿地 only where the 2022 survey
    # has parks in a 城镇: one of four)
    assert len(before) == 4 * 3 + 4 * 6 - 3 + 4 * 3 - 3
    assert {(i.region, i.code) for i in before if i.code.endswith("MJ") and i.code[:3] in ("STB", "YJJ", "CZK")} \
        == {(r, c) for r in ("990102", "990121", "990122", "990123") for c in ("STBHHXMJ", "YJJBNTBHMJ", "CZKFBJMJ")}
    out = export_plan(store, CITY, tmp_path / f"city.{EXT[fmt]}", fmt, "EPSG:4527")
    if fmt == "shp":
        names = zipfile.ZipFile(out).namelist()
        assert "GHZBB.dbf" in names and "GHZBB.cpg" in names and "GHZBB.shp" not in names
        meta, _, _, fields = pyogrio.raw.read(f"/vsizip/{out}/GHZBB.dbf", read_geometry=False)
    else:
        assert "GHZBB" in {str(n) for n, g in pyogrio.list_layers(out) if g is None}
        meta, _, _, fields = pyogrio.raw.read(out, layer="GHZBB", read_geometry=False)
    cols = dict(zip(meta["fields"], fields))
    assert {"XZQDM", "XZQMC", "ZBDM", "ZBMC", "ZBZ", "DW"} <= set(cols)
    rows = {(r, c): (v, u, n) for r, c, v, u, n in zip(cols["XZQDM"], cols["ZBDM"], cols["ZBZ"], cols["DW"],
                                                        cols["XZQMC"])}
    assert set(rows) == {(i.region, i.code) for i in before}
    for i in before:
        assert rows[(i.region, i.code)][:2] == (pytest.approx(i.value), i.unit)
    assert rows[("990121", "YJJBNTBHMJ")][2] == "东岭县"
    plan = load_package(store, out, region="990100", level="city", type_="master", version="2024")
    after = store.plan_indicators(plan.id)
    key = lambda i: (i.region, i.code)
    assert [(i.region, i.code, i.unit, i.kind, i.name) for i in sorted(after, key=key)] == \
        [(i.region, i.code, i.unit, i.kind, i.name) for i in sorted(before, key=key)]
    assert [i.value for i in sorted(after, key=key)] == pytest.approx([i.value for i in sorted(before, key=key)])
    # and the county plans, which set no targets, export no table
    county = export_plan(store, COUNTIES[0], tmp_path / f"county.{EXT[fmt]}", fmt)
    if fmt != "shp":
        assert "GHZBB" not in {str(n) for n, _ in pyogrio.list_layers(county)}


def _edit_row(t: Table, i: int, **values) -> None:
    for k, v in values.items():
        t.cols[k][i] = v


BAD_ROWS = [
    ("unknown code", {"ZBDM": "YSZL"}, ["ZBDM 'YSZL' is not an indicator code"]),  # 用水总量: not in the model
    ("bad region code", {"XZQDM": "99012"}, ["XZQDM '99012' is not an administrative division code"]),
    ("region of another city", {"XZQDM": "990221"}, ["990221 is not in the plan's region 990100"]),
    ("region not in the survey", {"XZQDM": "990199"}, ["there is no region 990199"]),
    ("negative value", {"ZBZ": -5.0}, ["ZBZ -5.0 must be a number of at least 0"]),
    ("missing value", {"ZBZ": None}, ["ZBZ (the target value) is empty"]),
    ("other unit", {"DW": "亩"}, ["DW '亩' is not the unit of"]),
    ("twice", "duplicate", ["a second target of"]),
]


@pytest.mark.parametrize(("case", "edit", "says"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_a_bad_indicator_row_refuses_the_package(case, edit, says, store, tmp_path):
    tables = read_gpkg(export_plan(store, CITY, tmp_path / "city.gpkg"))
    t = tables["GHZBB"]
    if edit == "duplicate":
        t.append(None, **{n: t.cols[n][0] for n in t.names})
    else:
        _edit_row(t, 3, **edit)
    path = write_gpkg(tmp_path / "bad.gpkg", tables)
    plans_before = set(store.plans())
    with pytest.raises(LoadError) as exc:
        load_package(store, path, region="990100", level="city", type_="master", version="2024")
    msg = exc.value.description
    assert exc.value.status == 400 and msg.startswith("package refused, nothing was loaded")
    for s in says:
        assert s in msg, msg
    assert "GHZBB" in msg and "\n" not in msg
    assert set(store.plans()) == plans_before and store.plan_indicators("990100-city-master-2024") == []


def test_indicator_table_without_its_required_fields_is_refused(store, tmp_path):
    tables = read_gpkg(export_plan(store, CITY, tmp_path / "city.gpkg"))
    t = tables["GHZBB"]
    t.names.remove("ZBZ")
    t.dtypes = [str(d) for n, d in zip(t.meta["fields"], t.meta["dtypes"]) if n != "ZBZ"]
    with pytest.raises(LoadError, match="required field ZBZ missing"):
        load_package(store, write_gpkg(tmp_path / "bad.gpkg", tables), region="990100", level="city",
                     type_="master", version="2024")


def test_indicators_are_written_with_the_plan_or_not_at_all(store):
    pid = "990121-county-master-2030"
    plan = Plan(id=pid, region="990121", level="county", type="master", version="2030", title="测试",
                status="submitted")
    row = PlanIndicator(plan_id=pid, region="990121001", code="STBHHXMJ", value=1.0, unit="公顷", kind="min")
    bad = FeatureBatch(layer_id="stbhhx", plan_id="990121-county-master-2031", columns={},
                       geometry=np.array([shapely.MultiPolygon([shapely.box(117, 31.4, 117.01, 31.41)])]))
    with pytest.raises(StoreError):
        store.write([plan], [bad], indicators=[row])
    assert store.plan(pid) is None and store.plan_indicators(pid) == []
    store.write([plan], [], indicators=[row])
    assert store.plan_indicators(pid) == [row]
    # written again, a plan's table is replaced, not added to
    row2 = PlanIndicator(plan_id=pid, region="990121002", code="CZKFBJMJ", value=2.5, unit="公顷", kind="max",
                         name="城镇开发边界面积")
    store.write([plan], [], indicators=[row2])
    assert store.plan_indicators(pid) == [row2]


def test_an_older_store_gets_the_indicator_table(fresh_settings):
    """ensure_schema brings a store from before the indicator table up to date, on both backends."""
    s = open_store(fresh_settings.store_url)
    try:
        with s.write_cursor() as cur:
            meta = "onemap_meta" if s.backend == "gpkg" else "onemap.meta"
            table = "plan_indicators" if s.backend == "gpkg" else "onemap.plan_indicators"
            cur.execute(f"DROP TABLE {table}")
            cur.execute(f"UPDATE {meta} SET value = '3' WHERE key = 'schema_version'")
        assert s.schema_version() == "3"
        s.ensure_schema()
        assert s.schema_version() == s.expected_schema
        assert s.plan_indicators(CITY) == []
    finally:
        s.close()
    if fresh_settings.backend == "gpkg":
        with sqlite3.connect(Path(fresh_settings.store_url)) as c:
            assert c.execute("SELECT count(*) FROM plan_indicators").fetchone()[0] == 0


@pytest.mark.parametrize(("old", "new", "says"), [
    ("layer: yjjbnt", "layer: nosuch", "no layer 'nosuch'"),
    ("    layer: czkfbj\n    kind: max", "    layer: czkfbj\n    kind: most", "kind"),
    ("    layer: stbhhx\n    kind: min\n    unit: 公顷", "    layer: stbhhx\n    kind: min\n    unit: 英亩", "unit '英亩'"),
    # formulas: exactly one kind, and only catalogue layers
    ("formula: {count: {layer: dltb,", "formula: {region_area: true, count: {layer: dltb,", "exactly one of"),
    ("formula: {area: {layer: dltb, where: {DLBM: [\"0101\"", "formula: {area: {layer: nosuch, where: {DLBM: [\"0101\"",
     "no layer 'nosuch'"),
    ("table_code: GHZBB", "table_code: STBHHX", "is a layer's table code"),
    ("  - code: YJJBNTBHMJ", "  - code: STBHHXMJ", "listed twice"),
])
def test_a_broken_indicator_file_is_a_config_error(old, new, says, tmp_path):
    from onemap.config.catalogue import get_catalogue
    from onemap.config.errors import ConfigError
    from onemap.config.indicators import INDICATORS_PATH, load_indicators

    cat = get_catalogue()
    text = INDICATORS_PATH.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "indicators.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        load_indicators(path, set(cat.layers), {layer.table_code for layer in cat.layers.values()})
    load_indicators(INDICATORS_PATH, set(cat.layers), {layer.table_code for layer in cat.layers.values()})
