"""The registry as a collection (/collections/plans): listing, region, filters, dates, items, queryables.

Read only, on the shared demo store (both backends); expectations come from the demo
GeoPackage read with GDAL (``ref``), not from OneMap's store code.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse

import pytest

from onemap.config.catalogue import PLAN_LEVELS, PLAN_STATUSES, PLAN_TYPES

from .conftest import all_items, get_json

BASE = "/collections/plans/items?limit=100"


def ids(client, query: str = "") -> set[str]:
    feats = all_items(client, BASE + query)
    got = [f["id"] for f in feats]
    assert len(got) == len(set(got)), "an entry came twice"
    return set(got)


def _date(v) -> dt.date | None:
    return dt.date.fromisoformat(str(v)[:10]) if v else None


def _where(ref, pred) -> set[str]:
    return {pid for pid, p in ref.plans().items() if pred(p)}


# ---- listing ------------------------------------------------------------------------------------
def test_lists_every_entry(client, ref):
    feats = all_items(client, BASE)
    plans = ref.plans()
    assert {f["id"] for f in feats} == set(plans) and len(feats) == len(plans) == 25  # 4 of them registers
    doc = get_json(client, BASE)
    assert doc["numberMatched"] == len(plans)
    for f in feats:
        p, props = plans[f["id"]], f["properties"]
        assert props["id"] == f["id"]
        for name in ("region", "level", "type", "version", "status", "approval_no", "upper_plan_id"):
            assert props[name] == p[name], (f["id"], name)
        for name in ("valid_from", "valid_to", "approval_date"):
            assert _date(props[name]) == _date(p[name]), (f["id"], name)
        assert props["status_label"] == PLAN_STATUSES[p["status"]]["zh"]
        assert props["level_label"] == PLAN_LEVELS[p["level"]]["zh"]
        assert props["type_label"] == PLAN_TYPES[p["type"]]["zh"]
        assert f["geometry"] and f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_the_collection_is_listed(client):
    doc = get_json(client, "/collections")
    assert "plans" in {c["id"] for c in doc["collections"]}
    meta = get_json(client, "/collections/plans")
    assert meta["id"] == "plans"


# ---- region ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("region,prefix", [("990100", "9901"), ("990121", "990121"), ("990000", "99")])
def test_region_covers_its_sub_regions(client, ref, region, prefix):
    want = _where(ref, lambda p: p["region"].startswith(prefix))
    assert ids(client, f"&region={region}") == want and want


def test_city_region_has_its_counties_but_not_the_province(client, demo_meta):
    got = ids(client, "&region=990100")
    assert {"990100-city-master-2021", "990100-city-master-2023", "990100-city-special-LSWH-2024",
            "990100-city-special-ZHFZ-2024", "990100-city-detailed-990102DY01-2024", "990121-county-master-2022",
            "990122-county-master-2022", "990122-county-master-2024", "990123-county-master-2022",
            "990123-county-master-2025"} | {f"{c}-county-survey-{y}" for c in ("990102", "990121", "990122", "990123")
                                             for y in (2022, 2023)} | set(demo_meta["land"]["entries"]) == got
    assert not {g for g in got if g.startswith("990000")}


@pytest.mark.parametrize("region", ["12", "abc", "9901"])
def test_bad_region_is_400(client, region):
    get_json(client, f"{BASE}&region={region}", status=400)


# ---- filters -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,value", [
    ("level", "county"), ("level", "city"), ("type", "survey"), ("type", "master"),
    ("status", "superseded"), ("status", "filed"), ("status", "rejected"),
])
def test_filter_by_query_parameter(client, ref, name, value):
    assert ids(client, f"&{name}={value}") == _where(ref, lambda p: p[name] == value)


def test_query_parameters_combine_with_region(client, ref):
    got = ids(client, "&region=990100&status=filed&level=county&type=master")
    assert got == {"990121-county-master-2022", "990122-county-master-2022", "990123-county-master-2022"}
    assert ids(client, "&region=990100&status=superseded&type=master") == {"990100-city-master-2021"}


@pytest.mark.parametrize("cql,pred", [
    ("status = 'filed' AND level = 'county'", lambda p: p["status"] == "filed" and p["level"] == "county"),
    ("type IN ('survey')", lambda p: p["type"] == "survey"),
    ("status <> 'filed'", lambda p: p["status"] != "filed"),
    ("valid_to IS NOT NULL", lambda p: p["valid_to"] is not None),
    ("level = 'city' OR type = 'survey'", lambda p: p["level"] == "city" or p["type"] == "survey"),
    ("approval_no LIKE '示市政函%'", lambda p: (p["approval_no"] or "").startswith("示市政函")),
])
def test_filter_by_cql2_text(client, ref, cql, pred):
    want = _where(ref, pred)
    assert want, "the case selects nothing in the demo"
    assert ids(client, "&filter=" + urllib.parse.quote(cql)) == want


def test_filter_by_cql2_json(client, ref):
    expr = {"op": "and", "args": [{"op": "=", "args": [{"property": "status"}, "superseded"]},
                                  {"op": "=", "args": [{"property": "type"}, "master"]}]}
    q = "&filter-lang=cql2-json&filter=" + urllib.parse.quote(json.dumps(expr))
    assert ids(client, q) == {"990100-city-master-2021"}


def test_filter_on_an_unknown_property_is_400(client):
    get_json(client, BASE + "&filter=" + urllib.parse.quote("NOPE = 'x'"), status=400)


# ---- dates ---------------------------------------------------------------------------------------------------
def test_datetime_gives_the_entries_in_force_then(client, ref):
    got = ids(client, "&datetime=2022-06-01")
    assert got == ref.in_force(dt.date(2022, 6, 1))
    assert "990100-city-master-2021" in got and "990100-city-master-2023" not in got
    assert "990000-province-survey-2022" in got and "990000-province-survey-2023" not in got
    assert "990121-county-master-2022" in got and "990122-county-master-2022" not in got  # from 2022-06-21
    # the reinstated 2022 version of 990122 is in force in both its periods, not in its revision's
    assert "990122-county-master-2022" in ids(client, "&datetime=2023-06-01")
    assert ids(client, "&datetime=2024-12-01&region=990122&type=master") == {"990122-county-master-2024"}
    assert ids(client, "&datetime=2025-03-01&region=990122&type=master") == {"990122-county-master-2022"}


@pytest.mark.parametrize("day", ["2021-05-31", "2021-06-01", "2023-08-31", "2023-09-01", "2024-08-31", "2024-09-01",
                                 "2025-02-28", "2025-03-01", "2030-01-01"])
def test_datetime_boundaries(client, ref, day):
    """valid_from is inclusive, valid_to exclusive."""
    assert ids(client, f"&datetime={day}") == ref.in_force(dt.date.fromisoformat(day))


def test_datetime_interval(client, ref):
    start, end = dt.date(2023, 1, 1), dt.date(2023, 8, 31)
    want = {pid for pid, periods in ref.periods().items()
            if any(vf <= end and (vt is None or vt > start) for vf, vt in periods)}
    assert ids(client, "&datetime=2023-01-01/2023-08-31") == want
    assert "990100-city-master-2023" not in want and "990100-city-master-2021" in want


def test_datetime_and_region_together(client, ref):
    want = {p for p in ref.in_force(dt.date(2022, 6, 1)) if p.startswith("9901")}
    assert ids(client, "&datetime=2022-06-01&region=990100") == want == {
        "990100-city-master-2021", "990121-county-master-2022"} | {
        f"{c}-county-survey-2022" for c in ("990102", "990121", "990122", "990123")}


# ---- single entries ---------------------------------------------------------------------------------------------
def test_item_by_plan_id(client, ref):
    doc = get_json(client, "/collections/plans/items/990100-city-master-2023")
    assert doc["type"] == "Feature" and doc["id"] == "990100-city-master-2023"
    props = doc["properties"]
    assert props["status"] == "filed" and props["status_label"] == "已备案（现行）"
    assert props["level"] == "city" and props["level_label"] == "市级"
    assert props["type_label"] == "总体规划"
    assert props["valid_from"] == "2023-09-01" and props["valid_to"] is None
    assert props["approval_no"] == ref.plans()["990100-city-master-2023"]["approval_no"]
    assert props["upper_plan_id"] == "990000-province-master-2021"
    assert doc["geometry"]["type"] in ("Polygon", "MultiPolygon")
    old = get_json(client, "/collections/plans/items/990100-city-master-2021")["properties"]
    assert old["status_label"] == "已替代" and old["valid_to"] == "2023-09-01"


@pytest.mark.parametrize("pid", ["990100-city-master-1999", "nope", "1"])
def test_unknown_plan_id_is_404(client, pid):
    doc = get_json(client, f"/collections/plans/items/{pid}", status=404)
    assert doc["code"] == "NotFound"


def test_queryables_list_status_with_chinese_labels(client):
    doc = get_json(client, "/collections/plans/queryables")
    props = doc["properties"]
    assert {"id", "region", "level", "type", "status", "valid_from", "valid_to"} <= set(props)
    status = {o["const"]: o["title"] for o in props["status"]["oneOf"]}
    assert status == {k: v["zh"] for k, v in PLAN_STATUSES.items()}
    assert status["filed"] == "已备案（现行）" and status["superseded"] == "已替代"
    assert {o["const"]: o["title"] for o in props["level"]["oneOf"]} == {k: v["zh"] for k, v in PLAN_LEVELS.items()}
    assert {o["const"] for o in props["type"]["oneOf"]} == set(PLAN_TYPES)
