"""Where plans of several levels and types meet: the review's answers, the drawers, the record, the
gates and the certificates, on the demo region and both backends.

Each scenario is what a bureau or a reviewer did and found wrong: the expected answers are worked
out here from the features read through the API (shapely, pyproj on the CGCS2000 ellipsoid).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import shapely

from onemap.config.errors import Conflict, InvalidParameterValue
from onemap.domain.dates import today as local_today
from onemap.processes.certificates import same_result
from onemap.providers.packages import export_plan, load_package
from onemap.providers.registry import Registry
from onemap.providers.store import open_store
from onemap.server.app import create_app

from .auth import admin_client
from .conftest import all_items, get_json, run_process
from .test_governing import DISTRICT, GEOD, geodesic_m2, regions, shapes
from .test_transmission import changed_county, read_gpkg, write_gpkg  # noqa: F401 (package helpers)

CITY_2023 = "990100-city-master-2023"
PROVINCE = "990000-province-master-2021"
COUNTY = "990121-county-master-2022"
OVERRIDE = "test: the gate is not what this test is about"


def review(client, boundary: dict, land_use: str = "1001", status: int = 200, **inputs) -> dict:
    r = client.post("/processes/compliance-review/execution",
                    json={"inputs": {"boundary": boundary, "land_use": land_use, **inputs}})
    assert r.status_code == status, r.data[:500]
    return json.loads(r.data)


def check(result: dict, cid: str) -> dict:
    return next(c for c in result["checks"] if c["id"] == cid)


# ---- the city-revision case -------------------------------------------------------------------------------
def _revision_site(client) -> shapely.Polygon:
    """A site in the city's own district inside the province's 2021 urban development boundary and
    outside the city's 2023 revision of it."""
    district = regions(client)[DISTRICT]
    prov = shapely.union_all(shapes(all_items(client, f"/collections/czkfbj/items?limit=1000&plan_id={PROVINCE}")))
    city = shapely.union_all(shapes(all_items(client, f"/collections/czkfbj/items?limit=1000&plan_id={CITY_2023}")))
    released = shapely.intersection(shapely.difference(prov, city), district)
    pieces = sorted((p for p in shapely.get_parts(released) if p.geom_type == "Polygon"), key=lambda p: -p.area)
    assert pieces and geodesic_m2(pieces[0]) > 1e5, "the demo has no released urban land in the district"
    core = pieces[0].buffer(-0.0005)  # clear of the edges
    c = shapely.point_on_surface(core if not core.is_empty else pieces[0])
    for half in (0.004, 0.003, 0.002, 0.001, 0.0005):
        site = shapely.box(c.x - half, c.y - half, c.x + half, c.y + half)
        if pieces[0].contains(site):
            return site
    raise AssertionError("no square site fits the released land")


def test_a_site_outside_the_citys_revised_line_fails_under_the_city_plan(client):
    site = _revision_site(client)
    result = review(client, shapely.geometry.mapping(site), "100101")
    czk = check(result, "urban_development_boundary")
    assert czk["result"] == "fail", czk["message"]
    assert [p["plan_id"] for p in czk["governing_plans"]] == [CITY_2023]
    assert czk["governing_plans"][0]["approval_no"] and czk["governing_plans"][0]["level"] == "city"
    assert czk["overlap"]["m2"] == 0
    # the whole site lies outside: its area, worked out independently on the CGCS2000 ellipsoid
    want = abs(GEOD.geometry_area_perimeter(site)[0])
    assert abs(czk["outside"]["m2"] - want) / want < 1e-6
    assert result["overall"]["result"] == "fail"
    assert CITY_2023 in {p["plan_id"] for p in result["plans"]} and PROVINCE not in {p["plan_id"] for p in result["plans"]}
    # every check cites the plan it came from
    for c in result["checks"]:
        assert c["governing_plans"], c["id"]


def test_a_review_with_no_governing_data_is_undetermined(client, demo_meta):
    x0, y0, x1, y1 = demo_meta["bbox"]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    square = shapely.geometry.mapping(shapely.box(cx, cy, cx + 0.003, cy + 0.003))
    before = review(client, square, "0101", date="2019-01-01")
    assert {c["result"] for c in before["checks"]} == {"undetermined"}
    assert before["overall"]["result"] == "undetermined" and "无法判定" in before["overall"]["zh"]
    for c in before["checks"]:
        assert c["uncovered"]["share"] == pytest.approx(1.0)
        assert "不占用" not in c["message"]["zh"]  # never "does not occupy farmland" without data
    outside = shapely.geometry.mapping(shapely.box(100.0, 30.0, 100.01, 30.01))
    far = review(client, outside, "0101")
    assert far["overall"]["result"] == "undetermined" and far["plans"] == []


def test_a_review_partly_outside_every_plan_is_undetermined_for_that_part(client, demo_meta):
    counties = regions(client)
    city = shapely.union_all(list(counties.values()))
    edge = city.boundary
    p = edge.interpolate(0.3, normalized=True)
    square = shapely.box(p.x - 0.004, p.y - 0.004, p.x + 0.004, p.y + 0.004)
    result = review(client, shapely.geometry.mapping(square), "0101")
    farm = check(result, "permanent_basic_farmland")
    out_m2 = geodesic_m2(shapely.difference(square, city))
    assert out_m2 > 1000
    assert abs(farm["uncovered"]["m2"] - out_m2) / out_m2 < 1e-3
    assert farm["result"] in ("undetermined", "fail")
    assert result["overall"]["result"] in ("undetermined", "fail")


# ---- drawers with subjects ------------------------------------------------------------------------------
def test_filing_a_special_plan_leaves_the_other_special_plans_in_force(fresh_settings, tmp_path):
    store = open_store(fresh_settings.store_url)
    try:
        pkg = export_plan(store, "990100-city-special-ZHFZ-2024", tmp_path / "water.gpkg")
        plan = load_package(store, pkg, region="990100", level="city", type_="special", version="2025",
                            subject="SL", by="示范市水利局")
        assert plan.id == "990100-city-special-SL-2025" and plan.subject == "SL"
        assert "水利" in plan.title
        reg = Registry(store, fresh_settings.timezone)
        reg.mark_checked(plan.id, "质检中心")
        result = run_process(fresh_settings, "transmission-check", {"plan_id": plan.id})
        # a special plan answers to the master plans of its own level and above; it draws no red line
        assert result["overall"]["result"] == "pass"
        assert {p["id"] for p in result["upper_plans"]} == {CITY_2023, PROVINCE}
        reg.approve(plan.id, "示范市人民政府", "示政函〔2025〕3号")
        reg.file(plan.id, "示范市自然资源和规划局")
        statuses = {p.id: p.status for p in store.plans().values() if p.type == "special"}
        assert statuses == {"990100-city-special-LSWH-2024": "filed", "990100-city-special-ZHFZ-2024": "filed",
                            plan.id: "filed"}
        # a second version of the same subject supersedes only its own drawer
        again = load_package(store, pkg, region="990100", level="city", type_="special", version="2026",
                             subject="SL", by="示范市水利局")
        reg.mark_checked(again.id, "质检中心")
        reg.approve(again.id, "示范市人民政府", "示政函〔2026〕1号", override=OVERRIDE)
        reg.file(again.id, "示范市自然资源和规划局", local_today() + dt.timedelta(days=1))
        statuses = {p.id: p.status for p in store.plans().values() if p.type == "special"}
        assert statuses[plan.id] == "superseded" and statuses["990100-city-special-ZHFZ-2024"] == "filed"
    finally:
        store.close()


# ---- the bitemporal record ------------------------------------------------------------------------------
def test_a_retroactive_filing_changes_past_dates_but_not_the_record_before_it(fresh_settings, tmp_path):
    recorded_before = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    store = open_store(fresh_settings.store_url)
    try:
        pkg = export_plan(store, COUNTY, tmp_path / "dongling.gpkg")
        plan = load_package(store, pkg, region="990121", level="county", type_="master", version="2024",
                            by="东岭县自然资源和规划局")
        reg = Registry(store, fresh_settings.timezone)
        reg.mark_checked(plan.id, "质检中心")
        reg.approve(plan.id, "示范市人民政府", "示市政函〔2024〕9号", override=OVERRIDE)
        back = local_today() - dt.timedelta(days=900)  # two and a half years back
        reg.file(plan.id, "东岭县自然资源和规划局", back, "补录：批复后未及时备案")
    finally:
        store.close()
    app = create_app(fresh_settings)
    try:
        client = admin_client(app)
        day = (back + dt.timedelta(days=30)).isoformat()
        url = f"/collections/czkfbj/items?region=990121&limit=1000&skipGeometry=true&datetime={day}"
        now = {f["properties"]["plan_id"] for f in all_items(client, url)}
        assert now == {plan.id}
        then = {f["properties"]["plan_id"] for f in all_items(client, url + f"&recorded={recorded_before}")}
        assert then == {COUNTY}
        # the registry collection and the tiles take the record date too
        reg_then = get_json(client, f"/collections/plans/items/{plan.id}")["properties"]
        assert reg_then["status"] == "filed" and reg_then["valid_from"] == back.isoformat()
        ids_then = {f["id"] for f in all_items(client, f"/collections/plans/items?limit=100&recorded={recorded_before}")}
        assert plan.id not in ids_then
        # the trace lists the filing as a correction
        trace = get_json(client, f"/plans/{plan.id}/trace")
        assert [e["to"] for e in trace["corrections"]] == ["filed"]
        assert trace["corrections"][0]["valid_from"] == back.isoformat()
        assert "补录" in trace["corrections"][0]["reason"]
        old = get_json(client, f"/plans/{COUNTY}/trace")
        assert [e["to"] for e in old["corrections"]] == ["superseded"]
        # a review for that day: the new version now, the old one as recorded before
        county = regions(client)["990121"]
        c = shapely.point_on_surface(county)
        square = shapely.geometry.mapping(shapely.box(c.x, c.y, c.x + 0.002, c.y + 0.002))
        assert {p["plan_id"] for p in review(client, square, "0101", date=day)["plans"]} >= {plan.id}
        as_then = review(client, square, "0101", date=day, recorded=recorded_before)
        assert plan.id not in {p["plan_id"] for p in as_then["plans"]} and COUNTY in {p["plan_id"] for p in as_then["plans"]}
    finally:
        app.extensions["onemap"].store.close()


def test_withdrawing_without_reinstating_says_which_drawer_is_empty(fresh_settings):
    store = open_store(fresh_settings.store_url)
    try:
        Registry(store, fresh_settings.timezone).withdraw(COUNTY, "示范市人民政府", "test: repealed",
                                                          reinstate=False)
    finally:
        store.close()
    app = create_app(fresh_settings)
    try:
        doc = get_json(admin_client(app), "/collections/czkfbj/items?region=990121")
        assert doc["features"] == []
        (empty,) = doc["emptyDrawers"]
        assert (empty["region"], empty["level"], empty["type"], empty["last_plan_id"]) == \
            ("990121", "county", "master", COUNTY)
        assert empty["empty_since"] == local_today().isoformat()
        assert "emptyDrawers" not in get_json(admin_client(app), "/collections/czkfbj/items?region=990122")
    finally:
        app.extensions["onemap"].store.close()


def test_the_demos_trace_is_in_lifecycle_order(client):
    order = {"submitted": 0, "checked": 1, "approved": 2, "filed": 3, "superseded": 4, "withdrawn": 4}
    plans = [f["id"] for f in all_items(client, "/collections/plans/items?limit=100")]
    assert len(plans) == 25  # 21 plans and surveys, 4 land registers
    for pid in plans:
        trace = get_json(client, f"/plans/{pid}/trace")
        events = trace["events"]
        times = [dt.datetime.fromisoformat(e["at"]) for e in events]
        assert times == sorted(times), pid
        assert events[0]["to"] == "submitted"
        first = [order[e["to"]] for e in events[:4]]
        assert first == sorted(first), (pid, first)
        assert trace["corrections"] == [], pid  # the demo files each plan on the day it comes into force
    reinstated = get_json(client, "/plans/990122-county-master-2022/trace")
    assert [e["to"] for e in reinstated["events"]][-2:] == ["superseded", "filed"]
    assert len(reinstated["periods"]) == 2 and reinstated["periods"][1]["to"] is None


# ---- the approval gate -------------------------------------------------------------------------------------
def test_a_red_line_cut_blocks_approval_unless_overridden_with_a_reason(fresh_settings, tmp_path):
    def cut(tables):
        red = tables["STBHHX"]
        i = int(np.argmax([geodesic_m2(g) for g in red.geoms]))
        x0, y0, x1, y1 = red.geoms[i].bounds
        red.geoms[i] = shapely.intersection(red.geoms[i], shapely.box(x0, y0, (x0 + x1) / 2, y1))

    store = open_store(fresh_settings.store_url)
    try:
        pid = changed_county(store, tmp_path, COUNTY, cut)
        reg = Registry(store, fresh_settings.timezone)
        reg.mark_checked(pid, "质检中心")
        with pytest.raises(Conflict, match="no transmission check"):
            reg.approve(pid, "示范市人民政府", "示市政函〔2026〕1号")
        result = run_process(fresh_settings, "transmission-check", {"plan_id": pid})
        assert result["overall"]["result"] == "fail"
        red = next(c for c in result["checks"] if c["id"] == "ecological_red_line")
        assert red["result"] == "fail" and red["area"]["m2"] > 1e5 and red["upper_plans"] == [CITY_2023]
        with pytest.raises(Conflict, match="did not pass"):
            reg.approve(pid, "示范市人民政府", "示市政函〔2026〕1号")
        assert store.plan(pid).status == "checked"
        with pytest.raises(InvalidParameterValue, match="needs its reason"):
            reg.approve(pid, "示范市人民政府", "示市政函〔2026〕1号", override="   ")
        p = reg.approve(pid, "示范市人民政府", "示市政函〔2026〕1号", override="省政府同意生态保护红线局部调整（示政函〔2026〕2号）")
        assert p.status == "approved" and p.approval_override.startswith("省政府同意")
        last = reg.events(pid)[-1]
        assert last.to_status == "approved" and "without a passing transmission check" in last.reason
        assert "省政府同意" in last.reason
    finally:
        store.close()
    app = create_app(fresh_settings)
    try:
        props = get_json(admin_client(app), f"/collections/plans/items/{pid}")["properties"]
        assert props["approval_override"].startswith("省政府同意")  # visible on the entry
        trace = get_json(admin_client(app), f"/plans/{pid}/trace")
        assert [c["id"] for c in trace["certificates"]] == [result["certificate"]["id"]]
    finally:
        app.extensions["onemap"].store.close()


def test_a_passing_check_against_older_upper_plans_does_not_open_the_gate(fresh_settings, tmp_path):
    store = open_store(fresh_settings.store_url)
    try:
        pkg = export_plan(store, COUNTY, tmp_path / "dongling.gpkg")
        plan = load_package(store, pkg, region="990121", level="county", type_="master", version="2025", by="x")
        reg = Registry(store, fresh_settings.timezone)
        reg.mark_checked(plan.id, "质检中心")
        old = run_process(fresh_settings, "transmission-check",
                          {"plan_id": plan.id, "upper_plan_id": "990100-city-master-2021"})
        assert old["overall"]["result"] == "pass"
        gate = reg.gate(plan.id)
        assert gate.required and not gate.passed and "990100-city-master-2021" in gate.reason
        run_process(fresh_settings, "transmission-check", {"plan_id": plan.id})
        assert reg.gate(plan.id).passed
        assert reg.approve(plan.id, "示范市人民政府", "示市政函〔2025〕1号").status == "approved"
    finally:
        store.close()


# ---- certificates ----------------------------------------------------------------------------------------------
def test_a_certificate_answers_the_same_document_and_a_rerun_gives_the_same_result(fresh_settings):
    app = create_app(fresh_settings)
    try:
        client = admin_client(app)
        site = _revision_site(client)
        result = review(client, shapely.geometry.mapping(site), "100101")
        cert_id = result["certificate"]["id"]
        first = client.get(f"/certificates/{cert_id}")
        assert first.status_code == 200 and first.mimetype == "application/json"
        doc = json.loads(first.data)
        assert doc["process"] == "compliance-review" and doc["result"]["overall"] == result["overall"]
        assert doc["recorded"] and doc["date"] == result["date"]
        assert {p["id"] for p in doc["plans"]} == {p["plan_id"] for p in result["plans"]}
        assert set(doc["rules"]) == {"compliance_rules.yaml"} and len(doc["rules"]["compliance_rules.yaml"]) == 64
        assert doc["software"]["onemap"] and doc["software"]["geos"]
        html = client.get(f"/certificates/{cert_id}?f=html")
        assert html.mimetype == "text/html" and cert_id in html.data.decode()
        listed = get_json(client, "/certificates?process=compliance-review")["certificates"]
        assert cert_id in {c["id"] for c in listed}

        # the registry changes: the city files a new version... the certificate stays what it was,
        # and a re-run with its pinned dates gives the same result
        store = app.extensions["onemap"].store
        reg = Registry(store, fresh_settings.timezone)
        reg.withdraw(CITY_2023, "示范市人民政府", "test: a change after the review")
        again = client.get(f"/certificates/{cert_id}")
        assert again.data == first.data
        rerun = review(client, doc["rerun"]["inputs"]["boundary"], doc["rerun"]["inputs"]["land_use"],
                       **{k: v for k, v in doc["rerun"]["inputs"].items() if k not in ("boundary", "land_use")})
        assert same_result(rerun, doc["result"])
        assert rerun["certificate"]["id"] != cert_id
        # without the pinned record date the answer is today's: the withdrawn plan no longer governs
        now = review(client, doc["rerun"]["inputs"]["boundary"], "100101", date=doc["date"])
        assert not same_result(now, doc["result"])
        assert get_json(client, "/certificates/nope", status=404)["code"] == "NotFound"
    finally:
        app.extensions["onemap"].store.close()


def test_quality_check_and_transmission_results_are_kept_for_good(fresh_settings):
    qc = run_process(fresh_settings, "plan-qc", {"plan_id": "990123-county-master-2025"}, output="report")
    tr = run_process(fresh_settings, "transmission-check", {"plan_id": "990123-county-master-2025"})
    app = create_app(fresh_settings)
    try:
        client = admin_client(app)
        for res, process in ((qc, "plan-qc"), (tr, "transmission-check")):
            doc = get_json(client, f"/certificates/{res['certificate']['id']}")
            assert doc["process"] == process and doc["rules"] and doc["recorded"]
            subject = [p for p in doc["plans"] if p["role"] == "subject"]
            assert subject and subject[0]["id"] == "990123-county-master-2025" and subject[0]["checksum"] is not None
        # the jobs are purged after their retention; the certificates are not
        store = app.extensions["onemap"].store

        store.jobs.purge(0, 0)
        trace = get_json(client, "/plans/990123-county-master-2025/trace")
        assert {c["process"] for c in trace["certificates"]} == {"plan-qc", "transmission-check"}
        # re-running the quality check as the certificate says gives the same findings
        doc = get_json(client, f"/certificates/{qc['certificate']['id']}")
        rerun = run_process(fresh_settings, "plan-qc", doc["rerun"]["inputs"], output="report")
        volatile = ("started", "seconds", "registry", "certificate")
        assert {k: v for k, v in rerun.items() if k not in volatile} == \
            {k: v for k, v in doc["result"].items() if k not in volatile}
    finally:
        app.extensions["onemap"].store.close()


def test_the_demo_has_a_submission_waiting_for_its_check(fresh_settings):
    """The README's asynchronous plan-qc example: a submitted entry is there to check (201, a job)."""
    app = create_app(fresh_settings)
    try:
        r = admin_client(app).post("/processes/plan-qc/execution", headers={"Prefer": "respond-async"},
                                   json={"inputs": {"plan_id": "990123-county-master-2025"}})
        assert r.status_code == 201, r.data[:300]
        assert json.loads(r.data)["status"] in ("accepted", "running", "successful")
    finally:
        app.extensions["onemap"].runner.stop()
        app.extensions["onemap"].store.close()
