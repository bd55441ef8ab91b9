"""Evaluation reports (现状评估, 实施评估, 城市体检评估), both backends.

Every number a report gives is checked against what ``/indicators`` answers over HTTP for the same region and
date (whose values tests/test_indicators.py checks against an independent computation): the status
evaluation's rows, the implementation evaluation's two years and their difference (read from the time series),
the city health check's city and counties (listed through ``/indicators/{code}/regions``). The XLSX is read
back with openpyxl, the HTML is searched for anything fetched from elsewhere, and the certificates are read as
the other processes' are.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
from collections import Counter

import openpyxl
import pytest

from onemap.config.settings import PACKAGE_DIR

from .auth import signed_in, token_for
from .conftest import eventually, get_json

DAY = "2024-01-01"
STATUSES = ("ok", "warning", "breach", "none")
INTERNAL_INDICATORS = {"STBHHXMJ", "YJJBNTBHMJ"}  # the red line and the farmland are internal layers
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def execute(client, pid: str, inputs: dict, status: int = 200, **body):
    r = client.post(f"/processes/{pid}/execution", json={"inputs": inputs, **body})
    assert r.status_code == status, r.data[:800]
    return r


def result_of(client, pid: str, **inputs) -> dict:
    return json.loads(execute(client, pid, inputs).data)


def indicator(client, code: str, region: str, day: str | None = None) -> list[dict]:
    url = f"/indicators/{code}?region={region}" + (f"&datetime={day}" if day else "")
    return get_json(client, url)["values"]


def same_value(row: dict, ref: dict) -> None:
    for key in ("value", "target", "gap", "status", "target_plan", "unit", "binding", "kind"):
        assert row[key] == ref[key], (row["code"], key, row[key], ref[key])


def level_codes(client, level: str) -> set[str]:
    return {d["code"] for d in get_json(client, "/indicators")["indicators"] if level in d["levels"]}


@pytest.fixture()
def partner(app):
    return signed_in(app.test_client(), token_for(app.extensions["onemap"].store, "partner"))


# ---- 现状评估 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("region", "level"), [("990121", "county"), ("990122102", "township"),
                                               ("990100", "city")])
def test_status_evaluation_gives_what_the_indicators_api_gives(client, region, level):
    result = result_of(client, "status-evaluation", region=region, date=DAY)
    assert result["region"]["code"] == region and result["region"]["level"] == level and result["date"] == DAY
    rows = result["indicators"]
    assert [r["code"] for r in rows] and {r["code"] for r in rows} == level_codes(client, level)
    for row in rows:
        (ref,) = indicator(client, row["code"], region, DAY)
        same_value(row, ref)
    # the counts per status add up, and are the rows' statuses
    counts = result["counts"]
    assert sum(counts[s] for s in STATUSES) == counts["total"] == len(rows)
    assert counts == {s: Counter(r["status"] for r in rows).get(s, 0) for s in STATUSES} | {"total": len(rows)}
    assert [w["code"] for w in result["without_target"]] == [r["code"] for r in rows if r["target"] is None]
    # the survey in force on the date, and the plan whose targets are used
    assert result["survey"]["versions"] == ["2023"]
    assert all(p["type"] == "survey" and p["version"] == "2023" for p in result["survey"]["plans"])
    assert {p["id"] for p in result["target_plans"]} == {r["target_plan"] for r in rows if r["target_plan"]}
    assert any(n["name"] == "用水总量" for n in result["not_computed"])


def test_a_county_is_held_to_the_city_plan_in_force(client):
    """990121's targets come from the city plan in force on the date: the 2021 plan before its 2023
    revision came into force, the revision after."""
    before = result_of(client, "status-evaluation", region="990121", date="2023-07-01")
    after = result_of(client, "status-evaluation", region="990121", date=DAY)
    assert [p["id"] for p in before["target_plans"]] == ["990100-city-master-2021"]
    assert [p["id"] for p in after["target_plans"]] == ["990100-city-master-2023"]
    assert after["counts"]["total"] - after["counts"]["none"] >= 3  # the demo's city plan sets three targets


# ---- 实施评估 -----------------------------------------------------------------------------------------------
def test_implementation_change_is_the_difference_of_the_time_series(client):
    result = result_of(client, "implementation-evaluation", region="990121")
    assert (result["from"]["year"], result["to"]["year"]) == ("2022", "2023")  # the first and last held
    changed = 0
    for row in result["indicators"]:
        series = {v["year"]: v for v in indicator(client, row["code"], "990121")}
        a, b = series["2022"], series["2023"]
        assert row["value_from"] == a["value"] and row["value_to"] == b["value"], row["code"]
        assert row["change"] == pytest.approx(b["value"] - a["value"], abs=1e-4)
        if a["value"]:
            assert row["change_pct"] == pytest.approx((b["value"] - a["value"]) / a["value"] * 100, abs=1e-3)
        # against the target of the plan in force at the later date
        assert row["target"] == b["target"] and row["status_to"] == b["status"]
        if b["target"] is None:
            assert row["direction"] == "none"
        else:
            before, after = abs(a["value"] - b["target"]), abs(b["value"] - b["target"])
            want = "unchanged" if abs(after - before) < 1e-9 else ("toward" if after < before else "away")
            assert row["direction"] == want, row["code"]
        changed += row["change"] != 0
    assert changed >= 3  # the 2023 survey changed cropland and construction land
    counts = result["counts"]
    assert sum(counts[k] for k in ("toward", "away", "unchanged", "none")) == counts["total"] == len(result["indicators"])


def test_implementation_names_the_plan_period_and_the_share_elapsed(client):
    result = result_of(client, "implementation-evaluation", region="990121", from_year="2022", to_year="2023")
    plan = result["plan"]
    # on 2023-06-30 (the 2023 survey's date) the city's 2021 plan was in force (its revision: from 2023-09-01)
    assert plan["id"] == "990100-city-master-2021" and plan["valid_from"] == "2021-06-01"
    period = plan["period"]
    assert (period["start"], period["end"], period["horizon_year"]) == ("2021-01-01", "2035-12-31", 2035)
    share = (dt.date(2023, 6, 30) - dt.date(2021, 1, 1)).days / (dt.date(2035, 12, 31) - dt.date(2021, 1, 1)).days
    assert period["elapsed_share"] == pytest.approx(share, abs=1e-4)


# ---- 城市体检评估 -------------------------------------------------------------------------------------------
def test_city_health_check_gives_the_city_and_each_county(client):
    result = result_of(client, "city-health-check", city="990100", year="2023")
    day = result["date"]
    assert day == "2023-06-30"  # the date the 2023 survey came into force, as the time series gives it
    for row in result["indicators"]:
        (ref,) = indicator(client, row["code"], "990100", day)
        same_value(row, ref)
    assert {r["code"] for r in result["indicators"]} == level_codes(client, "city")
    # the counties and districts, listed independently
    fc = get_json(client, f"/collections/xzq/items?f=json&limit=1000&datetime={day}")
    counties = sorted(f["properties"]["XZQDM"] for f in fc["features"]
                      if f["properties"]["XZQJB"] == "county" and f["properties"]["SJXZQDM"] == "990100")
    assert [c["code"] for c in result["counties"]] == counties and len(counties) == 4
    for c in result["counties"]:
        assert {r["code"] for r in c["indicators"]} == level_codes(client, "county")
        for row in c["indicators"]:
            (ref,) = indicator(client, row["code"], c["code"], day)
            same_value(row, ref)
    summary = {s["code"]: s for s in result["summary"]}
    assert list(summary) == ["990100", *counties]
    for code, s in summary.items():
        rows = result["indicators"] if code == "990100" else next(c["indicators"] for c in result["counties"]
                                                                 if c["code"] == code)
        assert sum(s[k] for k in STATUSES) == s["total"] == len(rows)
        assert all(s[k] == sum(r["status"] == k for r in rows) for k in STATUSES)


def test_city_health_check_lists_the_tdt1063_indicators_the_one_map_cannot_compute(client):
    result = result_of(client, "city-health-check", city="990100")
    # those that need the survey and the population table are computed now (config/indicators.yaml)
    computed = {"人均城镇建设用地面积", "人均村庄建设用地面积", "人均公园绿地面积"}
    with open(PACKAGE_DIR / "reference" / "indicators_reference.csv", encoding="utf-8") as fh:
        want = [(r["code_in_source"], r["name_zh"]) for r in csv.DictReader(fh)
                if r["list"] in ("td_t_1063_2021_basic", "td_t_1063_2021_recommended")
                and r["computable_from"] in ("external", "survey+population")
                and not (r["computable_from"] == "survey+population" and r["name_zh"] in computed)]
    got = result["tdt1063_not_computable"]
    assert [(t["code"], t["name"]) for t in got["indicators"]] == want and len(want) > 50
    assert not computed & {t["name"] for t in got["indicators"]}
    # a per-capita row names its population year (the 2023 survey's date is in 2023: the same year, no note)
    per_capita = [r for r in result["indicators"] if r["code"] == "RJCZJSYDMJ"]
    assert per_capita and per_capita[0]["population_year"] == 2023 and per_capita[0]["note"] is None
    assert result["population_version"] is not None
    assert {t["list"] for t in got["indicators"]} == {"基本", "推荐"}
    assert "LOW" in got["note"]["en"] and "低" in got["note"]["zh"]
    assert result["year"] == "2023"  # the last survey year held by default


# ---- outputs: XLSX, HTML ------------------------------------------------------------------------------------
def _document(client, pid: str, inputs: dict) -> dict:
    outputs = {"result": {}, "report": {}, "workbook": {}}
    return json.loads(execute(client, pid, inputs, outputs=outputs, response="document").data)


def _sheet(wb, title: str) -> list[tuple]:
    return [tuple(row) for row in wb[title].iter_rows(min_row=2, values_only=True)]


def test_the_workbook_holds_the_same_numbers(client):
    doc = _document(client, "status-evaluation", {"region": "990121", "date": DAY})
    wb_out = doc["workbook"]
    assert wb_out["mediaType"] == XLSX and wb_out["encoding"] == "base64"
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(wb_out["value"])))
    rows = {r[0]: r for r in _sheet(wb, "指标 Indicators")}
    result = doc["result"]
    assert list(rows) == [r["code"] for r in result["indicators"]]
    for r in result["indicators"]:
        x = rows[r["code"]]
        assert (x[5], x[6], x[7]) == (r["value"], r["target"], r["gap"])
        assert isinstance(x[5], float | int)  # a number a bureau can sum, not text
        assert x[8] == r["status_label"]["zh"]
    counts = dict(_sheet(wb, "状态统计 Counts"))
    assert list(counts.values()) == [result["counts"][s] for s in (*STATUSES, "total")]


def test_the_raw_workbook_of_the_implementation_evaluation(client):
    r = execute(client, "implementation-evaluation", {"region": "990122"}, outputs={"workbook": {}})
    assert r.mimetype == XLSX
    wb = openpyxl.load_workbook(io.BytesIO(r.data))
    result = result_of(client, "implementation-evaluation", region="990122")
    rows = {x[0]: x for x in _sheet(wb, "变化 Change")}
    for row in result["indicators"]:
        x = rows[row["code"]]
        assert (x[3], x[4], x[5], x[6]) == (row["value_from"], row["value_to"], row["change"], row["change_pct"])


def test_the_health_check_workbook_sums_by_county(client):
    doc = _document(client, "city-health-check", {"city": "990100", "year": "2022"})
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(doc["workbook"]["value"])))
    summary = _sheet(wb, "汇总 By county")
    assert [(s["code"], s["ok"], s["warning"], s["breach"], s["none"], s["total"]) for s in doc["result"]["summary"]] \
        == [(x[0], *x[2:]) for x in summary]
    values = {(x[0], x[2]): x[7] for x in _sheet(wb, "指标 Indicators")}
    for c in doc["result"]["counties"]:
        for row in c["indicators"]:
            assert values[(c["code"], row["code"])] == row["value"]


ASSET = re.compile(r"""(?:src|srcset|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
                   re.IGNORECASE)


@pytest.mark.parametrize(("pid", "inputs"), [("status-evaluation", {"region": "990121", "date": DAY}),
                                             ("implementation-evaluation", {"region": "990121"}),
                                             ("city-health-check", {"city": "990100"})])
def test_the_report_is_offline_printable_and_chinese_first(client, pid, inputs):
    doc = _document(client, pid, inputs)
    html = doc["report"]["value"]
    assert doc["report"]["mediaType"] == "text/html"
    cert_link = f'href="{doc["result"]["certificate"]["href"]}"'
    assert not ASSET.search(html.replace(cert_link, "")), ASSET.search(html.replace(cert_link, ""))
    assert "<script" not in html and "<link" not in html and "@media print" in html
    assert '<html lang="zh">' in html and re.search(r"<h1>[^<]*[\u4e00-\u9fff]", html)
    for row in doc["result"]["indicators"]:
        assert row["name"] in html


def test_the_report_escapes_what_it_shows():
    from onemap.processes.evaluation import evaluation_html

    hostile = '<script>alert("x")</script>'
    result = {"process": "status-evaluation", "date": DAY, "registry_version": "1",
              "region": {"code": "990121", "name": hostile, "level": "county"},
              "survey": {"versions": ["2023"], "plans": [{"id": "s", "title": hostile}]},
              "upper_plan": None, "target_plans": [], "counts": dict.fromkeys(STATUSES, 0) | {"total": 1},
              "indicators": [{"code": "GDBYL", "name": hostile, "name_en": "x", "unit": "公顷", "binding": "约束性",
                              "kind": "min", "value": 1.0, "target": None, "target_plan": None, "gap": None,
                              "status": "none", "status_label": {"zh": "无目标", "en": "no target"}}],
              "without_target": [{"code": "GDBYL", "name": hostile}], "not_computed": [{"name": hostile, "needs": "x"}],
              "certificate": {"id": "c", "href": '"><script>alert(1)</script>'}}
    html = evaluation_html(result)
    assert "<script" not in html and "&lt;script&gt;" in html


# ---- certificates -------------------------------------------------------------------------------------------
def test_each_run_is_kept_as_a_certificate_of_its_caller(app, client, partner):
    result = result_of(partner, "status-evaluation", region="990121", date=DAY)
    cert = result["certificate"]
    assert cert["href"] == f"http://testserver/certificates/{cert['id']}" and cert["id"].startswith("status-evaluation-")
    doc = get_json(partner, f"/certificates/{cert['id']}")  # the caller's own
    assert doc["process"] == "status-evaluation" and doc["result"] == result
    assert doc["rerun"] == {"process": "status-evaluation", "inputs": {"region": "990121", "date": DAY}}
    assert "indicators.yaml" in doc["rules"] and any(p["role"] == "survey" for p in doc["plans"])
    assert app.extensions["onemap"].store.certificate_owner(cert["id"]).startswith("test-partner-")
    html = partner.get(f"/certificates/{cert['id']}?f=html")
    assert html.status_code == 200 and "现状评估报告" in html.get_data(as_text=True)
    listed = get_json(client, "/certificates?process=status-evaluation")["certificates"]
    assert cert["id"] in {c["id"] for c in listed}
    # another partner does not see it
    other = signed_in(app.test_client(), token_for(app.extensions["onemap"].store, "partner"))
    get_json(other, f"/certificates/{cert['id']}", status=404)


def test_a_rerun_from_the_certificate_gives_the_same_result(client):
    from onemap.processes.certificates import same_result

    for pid, inputs in (("implementation-evaluation", {"region": "990123"}), ("city-health-check", {"city": "990100"})):
        first = result_of(client, pid, **inputs)
        doc = get_json(client, f"/certificates/{first['certificate']['id']}")
        again = result_of(client, pid, **doc["rerun"]["inputs"])
        assert same_result(first, again) and again["certificate"]["id"] != first["certificate"]["id"]
    assert doc["rerun"]["inputs"] == {"city": "990100", "year": "2023"}  # the default year written out


# ---- access -------------------------------------------------------------------------------------------------
def test_a_caller_sees_only_the_indicators_of_layers_it_reads(client, partner, anonymous):
    theirs = {r["code"] for r in result_of(partner, "status-evaluation", region="990121", date=DAY)["indicators"]}
    everything = {r["code"] for r in result_of(client, "status-evaluation", region="990121", date=DAY)["indicators"]}
    public = {d["code"] for d in get_json(partner, "/indicators")["indicators"]}
    assert theirs == everything & public and INTERNAL_INDICATORS <= everything - theirs and "GDBYL" in theirs
    health = result_of(partner, "city-health-check", city="990100")
    assert not INTERNAL_INDICATORS & {r["code"] for c in health["counties"] for r in c["indicators"]}
    # an asynchronous job runs later, in a job thread: it still knows whom it runs for
    r = partner.post("/processes/implementation-evaluation/execution", json={"inputs": {"region": "990121"}},
                     headers={"Prefer": "respond-async"})
    assert r.status_code == 201, r.data[:300]
    job = r.headers["Location"].rsplit("/", 1)[1]

    def done():
        status = get_json(partner, f"/jobs/{job}")["status"]
        return None if status in ("accepted", "running") else status

    assert eventually(done) == "successful"
    async_codes = {row["code"] for row in get_json(partner, f"/jobs/{job}/results")["indicators"]}
    assert async_codes == theirs
    # the processes are the partner tier's: no one without credentials sees them
    assert anonymous.post("/processes/status-evaluation/execution",
                          json={"inputs": {"region": "990121"}}).status_code == 404


# ---- refusals -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("pid", "inputs", "status"), [
    ("status-evaluation", {"region": "12ab"}, 400),
    ("status-evaluation", {"region": "9901"}, 400),
    ("status-evaluation", {"region": "990199"}, 404),  # not in the survey in force
    ("status-evaluation", {"region": "990121", "date": "2024-13-01"}, 400),
    ("status-evaluation", {"region": "990121", "date": "1999-01-01"}, 404),  # no survey in force then
    ("status-evaluation", {"region": "990121", "colour": "red"}, 400),
    ("status-evaluation", {}, 400),
    ("implementation-evaluation", {"region": "990121", "from_year": "2019"}, 400),  # a year not held
    ("implementation-evaluation", {"region": "990121", "from_year": "2023", "to_year": "2022"}, 400),
    ("implementation-evaluation", {"region": "990121", "from_year": "2023", "to_year": "2023"}, 400),
    ("implementation-evaluation", {"region": "990199"}, 404),
    ("city-health-check", {"city": "990121"}, 400),  # a county, not a city
    ("city-health-check", {"city": "990000"}, 400),  # the province
    ("city-health-check", {"city": "990200"}, 404),  # a city the survey does not hold
    ("city-health-check", {"city": "990100", "year": "2030"}, 400),
    ("city-health-check", {"city": "99010"}, 400),
])
def test_bad_inputs_are_refused_before_anything_runs(client, pid, inputs, status):
    r = execute(client, pid, inputs, status=status)
    doc = json.loads(r.data)
    assert doc["code"] and "Traceback" not in doc["description"]
    assert r.headers.get("Link") is None  # refused before a job was made
