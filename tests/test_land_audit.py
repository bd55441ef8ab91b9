"""土地全生命周期: the management layers, their drawers, and the land audit (批而未供, 供而未用, 闲置土地) on both
backends.

The demo plants its cases for ``meta["land"]["audit_day"]`` (server/demo/management.py): the audit must find
exactly those, with the dates the records carry (read through the items API) and the geodesic areas of their
features computed here with pyproj on GRS80 (CGCS2000's ellipsoid to 1e-9). The rules' boundaries (a full year,
a day short, started late) are checked on hand-made records; warnings of kind ``land`` open after an audit and
after a warnings scan, and close when the land is supplied or the project starts.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape

from onemap.config.errors import InvalidParameterValue
from onemap.config.land_audit import get_land_audit_rules, years_after
from onemap.config.settings import Settings
from onemap.domain.governing import governing_parts, upper_candidates
from onemap.domain.plans import Plan, validate_drawer
from onemap.processes.land_audit import Audit, Record, _approval, _supply
from onemap.providers.store import open_store

from .auth import admin_client
from .conftest import copy_store, get_json, pg_clone, pristine

GEOD = Geod(ellps="GRS80")
D = dt.date
NEW_ENTRY = "990121-county-management-2026-1"


def geod_m2(g: shapely.Geometry) -> float:
    return sum(abs(GEOD.geometry_area_perimeter(p)[0]) for p in shapely.get_parts(g))


@pytest.fixture()
def demo_app(backend, demo_dir, tmp_path, request):
    """A private copy of the demo store (the audit changes the warnings), with no job threads."""
    if backend == "gpkg":
        copy_store(pristine(demo_dir), tmp_path / "onemap.gpkg")
        settings = Settings(data_dir=tmp_path, public_url="http://testserver", job_workers=0)
    else:
        pg = request.getfixturevalue("pg")
        url = pg_clone(pg, request.getfixturevalue("pg_template"))
        settings = Settings(data_dir=tmp_path, database_url=url, public_url="http://testserver", job_workers=0)
    from onemap.server.app import create_app

    app = create_app(settings)
    yield app
    app.extensions["onemap"].store.close()


def audit(c, inputs: dict, status: int = 200) -> dict:
    r = c.post("/processes/land-audit/execution", json={"inputs": inputs})
    assert r.status_code == status, r.data[:400]
    return json.loads(r.data)


def features(c, layer: str, day: str, **props: str) -> list[dict]:
    q = "&".join(f"{k}={v}" for k, v in props.items())
    return get_json(c, f"/collections/{layer}/items?f=json&limit=1000&datetime={day}&{q}")["features"]


def union(feats: list[dict]) -> shapely.Geometry:
    return shapely.union_all([shape(f["geometry"]) for f in feats])


def keys(doc: dict) -> dict[str, list[str]]:
    return {cat: sorted(f["record"]["PZWH"] if f["record"]["layer"] == "ydsp" else f["record"]["HTBH"] for f in fs)
            for cat, fs in doc["findings"].items()}


# ---- the demo's planted cases -------------------------------------------------------------------------------
def test_the_audit_finds_the_planted_cases_with_their_dates_and_areas(demo_app, demo_meta):
    c = admin_client(demo_app)
    land = demo_meta["land"]
    day = land["audit_day"]
    doc = audit(c, {"date": day, "warnings": False})
    assert keys(doc) == {cat: sorted(v) for cat, v in land["planted"].items()}
    assert "warnings" not in doc and set(doc["entries"]) == set(land["entries"])
    d = D.fromisoformat(day)
    for f in doc["findings"]["approved_not_supplied"]:
        feats = features(c, "ydsp", day, PZWH=f["record"]["PZWH"])
        props = feats[0]["properties"]
        assert sorted(x["id"] for x in feats) == sorted(f["record"]["ids"])
        assert f["record"]["plan_id"] == props["plan_id"]
        approved = D.fromisoformat(props["PZRQ"])
        end = approved.replace(year=approved.year + 2)
        assert f["dates"] == {"PZRQ": props["PZRQ"], "years": 2, "period_end": end.isoformat(),
                              "since": (end + dt.timedelta(days=1)).isoformat(), "days_over": (d - end).days,
                              "age_days": (d - approved).days}
        supplies = features(c, "tdgy", day, PZWH=f["record"]["PZWH"])
        rest = union(feats) if not supplies else shapely.difference(union(feats), union(supplies))
        assert f["area"]["m2"] == pytest.approx(geod_m2(rest), rel=1e-6)
        assert f["area"]["ha"] == pytest.approx(f["area"]["m2"] / 1e4, abs=1e-4)
        assert f["area"]["mu"] == pytest.approx(f["area"]["m2"] * 0.0015, rel=1e-4)
        assert f["approved_area"]["m2"] == pytest.approx(geod_m2(union(feats)), rel=1e-6)
        assert sorted(s["HTBH"] for s in f["supplies"]) == sorted(s["properties"]["HTBH"] for s in supplies)
    half = next(f for f in doc["findings"]["approved_not_supplied"]
                if f["record"]["PZWH"] == land["partly_supplied"]["approval"])
    assert [s["HTBH"] for s in half["supplies"]] == [land["partly_supplied"]["supply"]]
    assert 0.2 < half["area"]["m2"] / half["approved_area"]["m2"] < 0.8
    for cat in ("supplied_not_used", "idle"):
        for f in doc["findings"][cat]:
            (feat,) = features(c, "tdgy", day, HTBH=f["record"]["HTBH"])
            p = feat["properties"]
            assert f["record"]["ids"] == [feat["id"]] and f["region"] == p["XZQDM"]
            assert f["area"]["m2"] == pytest.approx(geod_m2(shape(feat["geometry"])), rel=1e-6)
            agreed = D.fromisoformat(p["YDDGRQ"])
            if cat == "supplied_not_used":
                assert p["SJDGRQ"] is None and agreed < d <= agreed.replace(year=agreed.year + 1)
                assert f["dates"]["days_over"] == (d - agreed).days
                assert f["dates"]["idle_from"] == (agreed.replace(year=agreed.year + 1) + dt.timedelta(days=1)).isoformat()
            elif p["SJDGRQ"] is None:  # 第二条第一款
                end = agreed.replace(year=agreed.year + 1)
                assert f["dates"]["period_end"] == end.isoformat() and f["dates"]["days_over"] == (d - end).days
                assert "第一款" in f["clause"]["zh"]
            else:  # 第二条第二款: stopped a full year, under a third developed
                stopped = D.fromisoformat(p["ZZKFRQ"])
                end = stopped.replace(year=stopped.year + 1)
                assert f["dates"]["ZZKFRQ"] == p["ZZKFRQ"] and f["dates"]["days_over"] == (d - end).days
                assert p["YKFMJ"] / p["GYMJ"] < 1 / 3 and "第二款" in f["clause"]["zh"]
    counts = doc["counts"]
    assert {k: v["count"] for k, v in counts.items()} == {k: len(v) for k, v in land["planted"].items()}
    # a region: only its records
    county = audit(c, {"area": "990102", "date": day, "warnings": False})
    assert county["area"]["name"] == "示范区" and sum(len(v) for v in county["findings"].values()) == 1
    assert keys(county)["idle"] == ["SFCR2022-004"]
    # a drawn area around one finding's parcels: only what it touches
    idle = next(f for f in doc["findings"]["idle"] if f["record"]["HTBH"] == "SFCR2022-004")
    box = shapely.box(*shape(idle["geometry"]).bounds).buffer(-1e-4)
    drawn = audit(c, {"area": shapely.geometry.mapping(box), "date": day, "warnings": False})
    assert sum(len(v) for v in drawn["findings"].values()) >= 1 and keys(drawn)["idle"] == ["SFCR2022-004"]
    # before the registers were filed, nothing
    early = audit(c, {"date": "2023-12-31", "warnings": False})
    assert not any(early["findings"].values()) and early["entries"] == []


def test_the_audit_as_a_workbook(demo_app, demo_meta):
    from io import BytesIO

    from openpyxl import load_workbook

    c = admin_client(demo_app)
    r = c.post("/processes/land-audit/execution", json={
        "inputs": {"date": demo_meta["land"]["audit_day"], "warnings": False},
        "outputs": {"findings": {"format": {"mediaType":
                                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}}}})
    assert r.status_code == 200, r.data[:300]
    rows = list(load_workbook(BytesIO(r.data))["发现"].values)
    assert rows[0][0] == "类别" and len(rows) == 1 + sum(len(v) for v in demo_meta["land"]["planted"].values())
    assert {row[0] for row in rows[1:]} == {"批而未供", "供而未用", "闲置土地"}


# ---- warnings -------------------------------------------------------------------------------------------------
def _resolve(store, meta: dict) -> None:
    """File 东岭县's 2026 register: a supply of the never-supplied approval, and the late project started."""
    from onemap.providers.registry import Registry
    from onemap.providers.store.base import FeatureBatch

    layer = store.catalogue.layers["tdgy"]
    names = [f.name for f in layer.fields]
    never = meta["planted"]["approved_not_supplied"][0]
    geoms, cols = store.geometries(store.catalogue.layers["ydsp"], ["990121-county-management-2023-1"],
                                   columns=["PZWH", "XZQDM", "XZQMC"])
    approval = geoms[cols["PZWH"].index(never)]
    late = meta["planted"]["supplied_not_used"][0]
    lg, lc = store.geometries(layer, ["990121-county-management-2025-1"], columns=names)
    i = lc["HTBH"].index(late)
    started = {n: lc[n][i] for n in names} | {"SJDGRQ": "2026-02-01", "BSM": "990121300200000099"}
    supply = {n: None for n in names} | {
        "BSM": "990121300200000098", "XZQDM": "990121", "XZQMC": "东岭县", "XMMC": "补供地块", "HTBH": "DLCR2026-001",
        "GYFS": "GP", "QDRQ": "2026-03-01", "PZWH": never, "GYMJ": 1.0, "TDYT": "1001", "TDYTMC": "工业用地",
        "YDDGRQ": "2026-09-01"}
    rows = [supply, started]
    batch = FeatureBatch("tdgy", NEW_ENTRY, {n: [r[n] for r in rows] for n in names},
                         np.asarray([approval, lg[i]], dtype=object))
    old = store.plan("990121-county-management-2025-1")
    plan = Plan(id=NEW_ENTRY, region="990121", level="county", type="management", version="1", subject="2026",
                title="东岭县2026年度批供用补查台账", status="submitted", outline=old.outline)
    store.write([plan], [batch])
    reg = Registry(store)
    assert not reg.gate(NEW_ENTRY).required  # management records transmit no upper plan
    reg.mark_checked(NEW_ENTRY, "质检中心")
    reg.approve(NEW_ENTRY, "东岭县自然资源和规划局", "东自然资〔2026〕9号")
    reg.file(NEW_ENTRY, "东岭县自然资源和规划局", valid_from=D(2026, 3, 2))


def test_findings_become_warnings_and_close_when_resolved(demo_app, demo_meta):
    c = admin_client(demo_app)
    land = demo_meta["land"]
    day = land["audit_day"]
    doc = audit(c, {"date": day})
    n = sum(len(v) for v in land["planted"].values())
    assert doc["warnings"] == {"opened": n}
    got = get_json(c, "/warnings?kind=land&status=open&limit=100")["warnings"]
    assert len(got) == n and {w["severity"] for w in got} == {"warning", "notice", "severe"}
    by_key = {w["detail"]["key"]: w for w in got}
    for cat, values in land["planted"].items():
        for v in values:
            layer = "ydsp" if cat == "approved_not_supplied" else "tdgy"
            w = by_key[f"land:{cat}:{layer}:{v}"]
            assert w["detail"]["dates"] and w["detail"]["record"]["plan_id"] in land["entries"]
    assert audit(c, {"date": day})["warnings"] == {}  # again: nothing new
    # the region's audit leaves the others' warnings alone
    assert audit(c, {"area": "990102", "date": day})["warnings"] == {}
    om = demo_app.extensions["onemap"]
    _resolve(om.store, land)
    again = audit(c, {"date": day})
    gone = {f"land:approved_not_supplied:ydsp:{land['planted']['approved_not_supplied'][0]}",
            f"land:supplied_not_used:tdgy:{land['planted']['supplied_not_used'][0]}"}
    assert again["warnings"] == {"closed": 2} and NEW_ENTRY in again["entries"]
    live = {w["detail"]["key"] for w in get_json(c, "/warnings?kind=land&status=open&limit=100")["warnings"]}
    assert live == set(by_key) - gone
    closed = get_json(c, f"/warnings/{by_key[min(gone)]['id']}")
    assert closed["status"] == "closed" and closed["events"][-1]["actor"].startswith("land-audit:")


def test_the_warnings_scan_runs_the_land_audit(demo_app, demo_meta):
    c = admin_client(demo_app)
    land = demo_meta["land"]
    r = c.post("/processes/warnings-scan/execution", json={"inputs": {"datetime": land["audit_day"]}})
    assert r.status_code == 200, r.data[:300]
    summary = json.loads(r.data)
    n = sum(len(v) for v in land["planted"].values())
    assert summary["land_findings"] == n
    got = get_json(c, "/warnings?kind=land&limit=100")["warnings"]
    assert len(got) == n and all(w["status"] == "open" for w in got)
    assert {w["region"] for w in got} == {"990121", "990102"}
    # the map's warnings collection holds them too
    items = get_json(c, "/collections/warnings/items?kind=land&limit=100")["features"]
    assert len(items) == n
    # a scan of a day when all had been found and nothing since: nothing new
    again = json.loads(c.post("/processes/warnings-scan/execution", json={"inputs": {"datetime": land["audit_day"]}}).data)
    assert again["land_findings"] == n and "opened" not in again["events"]


# ---- the rules' boundaries, on hand-made records ----------------------------------------------------------------
SQUARE = shapely.MultiPolygon([shapely.box(117.0, 31.0, 117.001, 31.001)])


def supply(**props) -> Record:
    base = {"XZQDM": "990121", "XZQMC": "东岭县", "XMMC": "x", "HTBH": "H1", "QDRQ": D(2023, 1, 1),
            "YDDGRQ": D(2024, 3, 1), "GYMJ": 10_000.0}
    return Record("tdgy", "H1", "p", [1], base | props, SQUARE)


def found(day: dt.date, rec: Record) -> dict[str, list[dict]]:
    a = Audit(day, None)
    (_supply if rec.layer == "tdgy" else _approval)(a, rec, *([] if rec.layer == "tdgy" else [[]]),
                                                     get_land_audit_rules())  # type: ignore[operator]
    return {k: v for k, v in a.findings.items() if v}


def test_the_year_is_full_after_its_last_day():
    agreed = D(2024, 3, 1)
    assert found(agreed, supply()) == {}  # the agreed day itself: not late
    late = found(D(2024, 3, 2), supply())
    assert list(late) == ["supplied_not_used"] and late["supplied_not_used"][0]["dates"]["days_over"] == 1
    on_anniversary = found(D(2025, 3, 1), supply())  # exactly one year: the year ends with this day
    assert list(on_anniversary) == ["supplied_not_used"]
    assert on_anniversary["supplied_not_used"][0]["dates"]["idle_from"] == "2025-03-02"
    idle = found(D(2025, 3, 2), supply())  # a day more: 满一年
    assert list(idle) == ["idle"] and idle["idle"][0]["dates"] == {
        "YDDGRQ": "2024-03-01", "SJDGRQ": None, "years": 1, "period_end": "2025-03-01", "since": "2025-03-02",
        "days_over": 1, "days_late": 366}
    leap = supply(YDDGRQ=D(2024, 2, 29))  # 29 February: the year ends on 28 February
    assert years_after(D(2024, 2, 29), 1) == D(2025, 2, 28)
    assert list(found(D(2025, 2, 28), leap)) == ["supplied_not_used"] and list(found(D(2025, 3, 1), leap)) == ["idle"]


def test_started_late_but_started_is_no_finding():
    rec = supply(SJDGRQ=D(2024, 12, 15))
    assert found(D(2026, 6, 30), rec) == {}
    # a start recorded for a day after the audit's date had not happened on it
    assert list(found(D(2024, 12, 14), rec)) == ["supplied_not_used"]
    assert list(found(D(2025, 3, 2), supply(SJDGRQ=D(2025, 3, 3)))) == ["idle"]


def test_stopped_development_is_idle_after_a_full_year_under_a_third_developed():
    stopped = {"SJDGRQ": D(2024, 3, 1), "ZZKFRQ": D(2024, 10, 1), "YKFMJ": 2_000.0}
    assert found(D(2025, 10, 1), supply(**stopped)) == {}  # the year's last day
    assert list(found(D(2025, 10, 2), supply(**stopped))) == ["idle"]
    assert found(D(2025, 10, 2), supply(**stopped | {"YKFMJ": 4_000.0})) == {}  # 40% developed
    assert list(found(D(2025, 10, 2), supply(**stopped | {"YKFMJ": 4_000.0, "YTZE": 20.0, "ZTZE": 100.0}))) == ["idle"]
    assert found(D(2025, 10, 2), supply(**stopped | {"YKFMJ": 4_000.0, "YTZE": 25.0, "ZTZE": 100.0})) == {}
    assert found(D(2025, 10, 2), supply(**stopped | {"SJJGRQ": D(2025, 6, 1)})) == {}  # completed


def test_an_approval_is_unsupplied_land_only_after_two_full_years():
    approval = Record("ydsp", "W1", "p", [1], {"XZQDM": "990121", "XMMC": "x", "PZWH": "W1", "PZRQ": D(2023, 5, 12)},
                      SQUARE)
    assert found(D(2025, 5, 12), approval) == {}  # a day short of two full years
    got = found(D(2025, 5, 13), approval)["approved_not_supplied"][0]
    assert got["dates"]["days_over"] == 1 and got["area"]["m2"] == pytest.approx(geod_m2(SQUARE), rel=1e-6)
    a = Audit(D(2026, 1, 1), None)
    half = Record("tdgy", "H", "p", [2], {"HTBH": "H"}, shapely.MultiPolygon([shapely.box(117.0, 31.0, 117.0005, 31.001)]))
    _approval(a, approval, [half], get_land_audit_rules())
    (f,) = a.findings["approved_not_supplied"]
    assert f["area"]["m2"] == pytest.approx(geod_m2(shapely.box(117.0005, 31.0, 117.001, 31.001)), rel=1e-6)
    whole = Record("tdgy", "H", "p", [2], {"HTBH": "H"}, SQUARE)
    a = Audit(D(2026, 1, 1), None)
    _approval(a, approval, [whole], get_land_audit_rules())
    assert not a.findings["approved_not_supplied"]


# ---- inputs, tiers, drawers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("inputs", [
    {"date": "2026-13-01"}, {"date": "20260630"}, {"area": "990999"}, {"area": "123"}, {"warnings": "yes"},
    {"region": "990121"}, {"area": {"type": "Point", "coordinates": [117, 31]}},
])
def test_bad_inputs_are_400s(client, inputs):
    r = client.post("/processes/land-audit/execution", json={"inputs": inputs})
    assert r.status_code == 400, (inputs, r.data[:300])


def test_management_layers_and_the_audit_are_internal(app, demo_meta):
    anon = app.test_client()
    assert anon.get("/collections/tdgy/items").status_code == 404
    assert anon.post("/processes/land-audit/execution", json={"inputs": {}}).status_code in (401, 404)
    ids = {c["id"] for c in json.loads(anon.get("/collections?f=json").data)["collections"]}
    assert not ids & {"ydsp", "tdgy", "bcgd", "zfjc"}


def test_every_management_entry_holds_on_its_own(client, demo_meta):
    """Management records are not governed by level: view=governing shows every entry in force whole."""
    day = demo_meta["land"]["audit_day"]
    every = get_json(client, f"/collections/tdgy/items?limit=1000&datetime={day}")["features"]
    governing = get_json(client, f"/collections/tdgy/items?limit=1000&datetime={day}&view=governing")["features"]
    assert len(every) == len(governing) > 0
    assert {f["properties"]["plan_id"] for f in every} == set(demo_meta["land"]["entries"])
    outline = shapely.box(116, 31, 118, 32)
    county = Plan(id="c", region="990121", level="county", type="management", version="1", title="", status="filed",
                  subject="2024", outline=outline)
    province = Plan(id="p", region="990000", level="province", type="management", version="1", title="",
                    status="filed", subject="rolling", outline=outline)
    parts = governing_parts([county, province])
    assert {p.plan_id for p in parts} == {"c", "p"} and all(p.whole for p in parts)
    master = Plan(id="m", region="990100", level="city", type="master", version="1", title="", status="filed",
                  outline=outline)
    assert upper_candidates(county, [master]) == []
    validate_drawer("990121", "county", "management", "1", "2024")
    validate_drawer("990121", "county", "management", "1", "rolling")
    for bad in (None, "LSWH", "24"):
        with pytest.raises(InvalidParameterValue):
            validate_drawer("990121", "county", "management", "1", bad)


def test_a_register_loads_through_the_command_line(backend, fresh_settings, tmp_path):
    """A bureau's register as a package (TDGY, YDSP): loaded, checked, approved and filed by the CLI; the audit
    reads it."""
    from .test_cli import run as onemap

    env = {"ONEMAP_DATA_DIR": str(fresh_settings.data_dir)}
    if fresh_settings.database_url:
        env["ONEMAP_DATABASE_URL"] = fresh_settings.database_url
    pkg = tmp_path / "register.gpkg"
    g = shapely.box(117.30, 31.62, 117.302, 31.622)
    ydsp = {"BSM": "990121300100000001", "XZQDM": "990121", "XZQMC": "东岭县", "XMMC": "测试批次", "PZWH": "示政地〔2024〕99号",
            "PZRQ": "2024-01-05", "SPLX": "PC", "PZMJ": geod_m2(g), "TDYT": "1001", "TDYTMC": "工业用地"}
    tdgy = {"BSM": "990121300200000001", "XZQDM": "990121", "XZQMC": "东岭县", "XMMC": "测试项目", "HTBH": "CS2024-1",
            "GYFS": "GP", "QDRQ": "2024-03-01", "PZWH": "示政地〔2024〕99号", "GYMJ": geod_m2(g) / 2, "TDYT": "1001",
            "TDYTMC": "工业用地", "YDDGRQ": "2024-09-01"}
    half = shapely.box(117.30, 31.62, 117.301, 31.622)
    for name, rec, geom in (("YDSP", ydsp, g), ("TDGY", tdgy, half)):
        fields = list(rec)
        data = [np.array([rec[f]], dtype=object if isinstance(rec[f], str) else "float64") for f in fields]
        pyogrio.raw.write(pkg, geometry=shapely.to_wkb(np.array([shapely.MultiPolygon([geom])], dtype=object)),
                          field_data=data, fields=fields, layer=name, driver="GPKG", crs="EPSG:4490",
                          geometry_type="MultiPolygon", append=name == "TDGY")
    pid = "990121-county-management-rolling-20260701"
    out = onemap("load", str(pkg), "--region", "990121", "--level", "county", "--type", "management",
                 "--version", "20260701", "--subject", "rolling", env=env)
    assert out.returncode == 0, out.stderr
    bad = onemap("load", str(pkg), "--region", "990121", "--level", "county", "--type", "management",
                 "--version", "2", "--subject", "LSWH", env=env)
    assert bad.returncode == 2 and "subject" in bad.stderr
    checked = onemap("check", "--plan", pid, "--out", str(tmp_path / "qc"), "--quiet", env=env)
    assert checked.returncode == 0, (checked.stdout[-2000:], checked.stderr)
    approved = onemap("plan", "approve", pid, "--by", "东岭县自然资源和规划局", "--approval-no", "东自然资〔2026〕20号",
                      env=env)
    assert approved.returncode == 0, approved.stderr
    filed = onemap("plan", "file", pid, "--by", "东岭县自然资源和规划局", "--valid-from", "2026-07-01", env=env)
    assert filed.returncode == 0, filed.stderr
    store = open_store(fresh_settings.store_url)
    try:
        from onemap.processes.land_audit import run_audit

        a = run_audit(store, D(2026, 7, 1), get_land_audit_rules(), "990121")
        assert pid in a.entries
        got = {f["record"]["PZWH"] if f["record"]["layer"] == "ydsp" else f["record"]["HTBH"]: f for f in a.all()}
        assert got["示政地〔2024〕99号"]["category"] == "approved_not_supplied"
        assert got["示政地〔2024〕99号"]["area"]["m2"] == pytest.approx(geod_m2(shapely.difference(g, half)), rel=1e-6)
        assert got["CS2024-1"]["category"] == "idle"
    finally:
        store.close()
