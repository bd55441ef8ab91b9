"""/indicators: every implemented indicator against an independent computation.

The independent side reads features through the items API only (the survey in force on the date; the
plan layers with view=governing, cut by the region's outline read from the xzq items), measures them
with pyproj's Geod on CGCS2000's ellipsoid, and evaluates each indicator's formula as ``/indicators``
publishes it, in a few lines of its own: it never calls providers/statistics or Store.aggregate. A per-capita
formula divides by the population `onemap population list --json` prints for the region and the latest year
held up to the date's.
"""

from __future__ import annotations

import datetime as dt
import functools
import json

import pytest
import shapely
from pyproj import Geod

from .conftest import get_json
from .test_cli import run

GEOD = Geod(ellps="GRS80")
DAY = "2024-01-01"
REGIONS = ["990121", "990121101", "990122", "990102001"]
UNITS = {"公顷": 10_000.0, "平方米": 1.0, "平方公里": 1_000_000.0, "亩": 10_000.0 / 15}


def _geodesic(geom) -> float:
    if geom is None or geom.is_empty:
        return 0.0
    return abs(GEOD.geometry_area_perimeter(geom)[0])


@functools.cache
def _features(client_key, layer: str, day: str, governing: bool) -> tuple:
    client = _CLIENTS[client_key]
    url = f"/collections/{layer}/items?f=json&limit=10000&datetime={day}"
    if governing:
        url += "&view=governing"
    out = []
    while url:
        doc = get_json(client, url)
        out += [(f["properties"], shapely.geometry.shape(f["geometry"])) for f in doc["features"]]
        url = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
        url = url and url.replace("http://testserver", "")
    return tuple(out)


_CLIENTS: dict = {}
_POPULATION: dict = {}  # client key -> {(region, year): row} as the command line lists it


def _cli_env(settings) -> dict[str, str]:
    env = {"ONEMAP_DATA_DIR": str(settings.data_dir)}
    if settings.backend == "postgis":
        env["ONEMAP_DATABASE_URL"] = settings.database_url
    return env


def _listed(settings) -> dict[tuple[str, int], dict]:
    p = run("population", "list", "--json", env=_cli_env(settings))
    assert p.returncode == 0, p.stderr
    return {(r["region"], r["year"]): r for r in map(json.loads, p.stdout.splitlines())}


def _people(key, region: str, day: str, kind: str) -> tuple[int, int]:
    """(population, year): the region's row of the latest year held up to the date's (the demo holds every level)."""
    table = _POPULATION[key]
    year = max(y for r, y in table if r == region and y <= int(day[:4]))
    return table[region, year][kind], year


def _matches(props: dict, where: dict) -> bool:
    for name, codes in where.items():
        value = str(props.get(name) or "")
        if not any(value.startswith(c[:-1]) if c.endswith("*") else value == c for c in codes):
            return False
    return True


def _outline(key, region: str, day: str):
    found = [g for p, g in _features(key, "xzq", day, False) if p["XZQDM"] == region]
    assert len(found) == 1, region
    return found[0]


def _measure(key, m: dict, region: str, day: str) -> tuple[float, int]:
    layer, where = m["layer"], m.get("where", {})
    if layer == "dltb":  # parcels lie in one 坐落单位: by its code, as the 汇总表
        prefix = region[:2] if region.endswith("0000") else region[:4] if region.endswith("00") else region
        rows = [(p, g) for p, g in _features(key, layer, day, False)
                if str(p["ZLDWDM"]).startswith(prefix) and _matches(p, where)]
        return sum(_geodesic(g) for _, g in rows), len(rows)
    outline = _outline(key, region, day)
    rows = [(p, g) for p, g in _features(key, layer, day, True) if _matches(p, where)]
    cut = [shapely.intersection(g, outline) for _, g in rows]
    kept = [c for c in cut if not c.is_empty and c.area > 0]
    return sum(_geodesic(c) for c in kept), len(kept)


def _formula(key, f: dict, region: str, day: str) -> float | None:
    scale = f.get("scale", 1.0)
    if f.get("region_area"):
        raw = _geodesic(_outline(key, region, day))
    elif "area" in f:
        raw = _measure(key, f["area"], region, day)[0]
    elif "count" in f:
        raw = float(_measure(key, f["count"], region, day)[1])
    elif "sum" in f:
        raw = sum(_formula(key, s, region, day) or 0.0 for s in f["sum"])
    elif "per_capita" in f:
        num = _formula(key, f["per_capita"]["numerator"], region, day)
        people, _ = _people(key, region, day, f["per_capita"]["population"])
        if num is None or not people:
            return None
        raw = num / people
    else:
        num, den = (_formula(key, s, region, day) for s in f["ratio"])
        if not den:
            return None
        raw = num / den
    return raw * scale


@pytest.fixture()
def model(client, settings):
    _CLIENTS[id(client.application)] = client
    if id(client.application) not in _POPULATION:
        _POPULATION[id(client.application)] = _listed(settings)
    return get_json(client, "/indicators")


def test_the_model_lists_each_indicator_with_its_unit_binding_and_source(model):
    codes = [d["code"] for d in model["indicators"]]
    assert {"STBHHXMJ", "YJJBNTBHMJ", "CZKFBJMJ", "GDBYL", "JSYDZMJ", "GTKFQD"} <= set(codes)
    for d in model["indicators"]:
        assert d["binding"] in ("约束性", "预期性") and d["kind"] in ("min", "max") and d["unit"]
        assert d["source"]["confidence"] in ("HIGH", "MEDIUM", "LOW")
    assert any(n["name"] == "用水总量" for n in model["not_computed"])


@pytest.mark.parametrize("region", REGIONS)
def test_every_indicator_matches_an_independent_computation(client, model, region):
    key = id(client.application)
    level = "township" if len(region) == 9 else "county"
    checked = 0
    for d in model["indicators"]:
        if level not in d["levels"]:
            continue
        doc = get_json(client, f"/indicators/{d['code']}?region={region}&datetime={DAY}")
        (value,) = doc["values"]
        expected = _formula(key, d["formula"], region, DAY)
        if expected is not None and d["unit"] in UNITS:
            expected /= UNITS[d["unit"]]
        if expected is None:
            assert value["value"] is None, d["code"]
        elif expected == 0:
            assert value["value"] == 0, d["code"]
        else:
            assert value["value"] == pytest.approx(expected, rel=1e-4, abs=1e-4), (d["code"], region)
        checked += 1
    assert checked >= 10


PER_CAPITA = ("RJCZJSYDMJ", "RJCZHJSYDMJ", "RJGYLDMJ")


@pytest.mark.parametrize("day", [DAY, "2022-06-01"])
def test_every_per_capita_indicator_of_every_region_matches_an_independent_computation(client, model, demo_meta, day):
    """The city and every county (the levels they apply to), on a date of a year held (2022) and of one not held
    (2024: the 2023 population, named in the value), within 0.01%."""
    key = id(client.application)
    defs = {d["code"]: d for d in model["indicators"] if d["code"] in PER_CAPITA}
    assert set(defs) == set(PER_CAPITA) and all(d["unit"] == "平方米/人" for d in defs.values())
    for region in [demo_meta["city"]["code"], *(c["code"] for c in demo_meta["counties"])]:
        for code, d in defs.items():
            v = get_json(client, f"/indicators/{code}?region={region}&datetime={day}")["values"][0]
            kind = d["formula"]["per_capita"]["population"]
            people, year = _people(key, region, day, kind)
            assert (v["population"], v["population_year"], v["population_from"]) == (people, year, "region")
            assert (v["note"] is None) == (year == int(day[:4]))
            expected = _formula(key, d["formula"], region, day)
            assert expected is not None and v["value"] == pytest.approx(expected, rel=1e-4, abs=1e-4), (code, region)
    # the demo's values read as a real county's would
    for c in demo_meta["counties"]:
        assert 90 <= get_json(client, f"/indicators/RJCZJSYDMJ?region={c['code']}&datetime={day}")["values"][0][
            "value"] <= 130
        assert 120 <= get_json(client, f"/indicators/RJCZHJSYDMJ?region={c['code']}&datetime={day}")["values"][0][
            "value"] <= 200


def test_the_per_capita_indicators_are_computed_no_longer_listed_as_needing_data(model):
    names = {n["name"] for n in model["not_computed"]}
    assert not {"人均城镇建设用地", "人均村庄建设用地"} & names
    d = next(d for d in model["indicators"] if d["code"] == "RJCZJSYDMJ")
    assert d["kind"] == "max" and d["levels"] == ["city", "county"] and d["source"]["confidence"] == "LOW"


def test_status_follows_target_gap_and_direction(client, model):
    margin = model["warn_margin"]
    seen = 0
    for d in model["indicators"]:
        doc = get_json(client, f"/indicators/{d['code']}?region=990121&datetime={DAY}")
        (v,) = doc["values"]
        if v["target"] is None:
            assert v["status"] == "none" and v["gap"] is None
            continue
        seen += 1
        gap = v["value"] - v["target"] if d["kind"] == "min" else v["target"] - v["value"]
        assert v["gap"] == pytest.approx(gap, abs=1e-3)
        want = "breach" if gap < 0 else ("warning" if gap <= abs(v["target"]) * margin else "ok")
        assert v["status"] == want and v["status_label"]["zh"] in ("达标", "预警", "超标")
        # the city master plan in force on the date sets the county's targets
        assert v["target_plan"] == "990100-city-master-2023"
    assert seen >= 3


def test_the_time_series_has_one_value_per_survey_year(client, model):
    key = id(client.application)
    doc = get_json(client, "/indicators/GDBYL?region=990121")
    years = [v["year"] for v in doc["values"]]
    assert years == ["2022", "2023"]
    gd = next(d for d in model["indicators"] if d["code"] == "GDBYL")
    for v in doc["values"]:
        expected = _formula(key, gd["formula"], "990121", v["datetime"]) / UNITS["公顷"]
        assert v["value"] == pytest.approx(expected, rel=1e-4)
    assert doc["values"][0]["value"] != doc["values"][1]["value"]  # the 2023 survey changed cropland


def test_an_indicator_is_as_restricted_as_the_layers_it_measures(anonymous, model):
    public = {d["code"] for d in get_json(anonymous, "/indicators")["indicators"]}
    assert "CZKFBJMJ" in public  # the urban development boundary is public
    assert "STBHHXMJ" not in public and "GDBYL" not in public  # the red line is internal, the survey partner
    get_json(anonymous, f"/indicators/STBHHXMJ?region=990121&datetime={DAY}", status=404)
    get_json(anonymous, f"/indicators/CZKFBJMJ?region=990121&datetime={DAY}")


@pytest.mark.parametrize(("url", "status"), [
    ("/indicators/NOPE?region=990121", 404),
    ("/indicators/GDBYL", 400),
    ("/indicators/GDBYL?region=12ab", 400),
    ("/indicators/GDBYL?region=990199", 404),
    ("/indicators/GDBYL?region=990121&datetime=2022-01-01/2023-01-01", 400),
    ("/indicators/GDBYL?region=990121&datetime=yesterday", 400),
])
def test_bad_requests(client, url, status):
    doc = get_json(client, url, status=status)
    assert doc["code"] and "Traceback" not in doc["description"]


def test_the_demo_shows_every_status(client):
    statuses = set()
    for code in ("GDBYL", "JSYDZMJ", "CZJSYDMJ", "STBHHXMJ"):
        for region in ("990102", "990121", "990122", "990123"):
            statuses.add(get_json(client, f"/indicators/{code}?region={region}&datetime={DAY}")["values"][0]["status"])
    assert {"ok", "warning", "breach"} <= statuses


def test_a_withdrawn_plan_changes_the_values_at_once(fresh_settings):
    """Values are cached per registry version: a withdrawal is answered from the registry as it now stands."""
    from onemap.domain.dates import today
    from onemap.providers.registry import Registry
    from onemap.server.app import create_app

    from .auth import admin_client

    app = create_app(fresh_settings)
    client = admin_client(app)
    url = "/indicators/CZKFBJMJ?region=990121"
    on_today = f"{url}&datetime={today().isoformat()}"
    before = get_json(client, on_today)["values"][0]
    assert before["target_plan"] == "990100-city-master-2023" and before["value"] > 0
    assert get_json(client, on_today)["values"][0] == before  # the same registry: the cached answer
    Registry(app.extensions["onemap"].store).withdraw("990100-city-master-2023", "示范市自然资源和规划局", "test",
                                                      valid_to=today() - dt.timedelta(days=1))
    after = get_json(client, on_today)["values"][0]
    # the 2021 city plan is in force again: its targets, and its boundary where the county plan does not govern
    assert after["target_plan"] == "990100-city-master-2021"
    fresh = get_json(admin_client(create_app(fresh_settings)), on_today)["values"][0]
    assert after == fresh


def test_a_population_load_changes_the_values_at_once(fresh_settings, tmp_path):
    """Values are cached per population version too: a table loaded by another process (the command line) is
    answered at the next request, without a restart."""
    from onemap.server.app import create_app

    from .auth import admin_client

    app = create_app(fresh_settings)
    client = admin_client(app)
    url = f"/indicators/RJCZJSYDMJ?region=990121&datetime={DAY}"
    before = get_json(client, url)["values"][0]
    assert get_json(client, url)["values"][0] == before  # the cached answer
    version = app.extensions["onemap"].store.population_version()
    halved = before["population"] // 2
    row = _listed(fresh_settings)["990121", 2023]
    (tmp_path / "p.csv").write_text(f"XZQDM,XZQMC,NF,CZRK,CZCZRK,SJLY\n990121,东岭县,2023,{row['rural'] + halved},"
                                    f"{halved},reload test\n", encoding="utf-8")
    p = run("population", "load", str(tmp_path / "p.csv"), env=_cli_env(fresh_settings))
    assert p.returncode == 0, p.stderr
    after = get_json(client, url)["values"][0]
    assert after["population"] == halved and after["population_year"] == 2023
    assert after["value"] == pytest.approx(before["value"] * before["population"] / halved, rel=1e-6)
    assert app.extensions["onemap"].store.population_version() != version
    # the indicators collection and a process see the same value
    doc = get_json(client, f"/collections/indicators/items?f=json&code=RJCZJSYDMJ&region=990121&datetime={DAY}")
    assert doc["features"][0]["properties"]["value"] == after["value"]
    fresh = get_json(admin_client(create_app(fresh_settings)), url)["values"][0]
    assert after == fresh
