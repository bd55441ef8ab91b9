"""A feature's history (/collections/{id}/items/{fid}/history) on hand-built drawers, on both backends.

Two surveys of one county (a parcel re-coded, one kept, one withdrawn) and three versions of a city plan (its
urban development boundary moved, another piece withdrawn, a 2025 revision still under review).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import shapely

from onemap.config.catalogue import get_catalogue
from onemap.config.settings import Settings
from onemap.providers.store import open_store
from onemap.providers.store.base import Event, FeatureBatch, Plan

from .auth import admin_client, signed_in, token_for
from .conftest import _janitor, get_json

TZ = dt.timezone(dt.timedelta(hours=8))
COUNTY, CITY = "770101", "770100"
S22, S23 = f"{COUNTY}-county-survey-2022", f"{COUNTY}-county-survey-2023"
M21, M23, M25 = f"{CITY}-city-master-2021", f"{CITY}-city-master-2023", f"{CITY}-city-master-2025"
A = (117.00, 31.40, 117.01, 31.41)
B = (117.01, 31.40, 117.02, 31.41)
C = (117.02, 31.40, 117.03, 31.41)
MOVED_2021, MOVED_2023 = (117.00, 31.42, 117.02, 31.44), (117.00, 31.42, 117.03, 31.44)
GONE = (117.05, 31.42, 117.06, 31.44)


def _batch(layer_id: str, plan_id: str, rows: list[tuple[tuple, dict]]) -> FeatureBatch:
    layer = get_catalogue().layers[layer_id]
    cols: dict[str, list] = {f.name: [] for f in layer.fields}
    for _, values in rows:
        for f in layer.fields:
            default = {"XZQDM": COUNTY, "ZLDWDM": COUNTY + "1010000000", "XZQMC": "测试县", "ZLDWMC": "测试村",
                       "MJ": 1.0, "TBMJ": 1.0}.get(f.name, f"{f.name}1" if f.required else None)
            cols[f.name].append(values.get(f.name, default))
    geoms = np.array([shapely.MultiPolygon([shapely.box(*r)]) for r, _ in rows], dtype=object)
    return FeatureBatch(layer_id, plan_id, cols, geoms)


def _plan(pid: str, region: str, level: str, type_: str, version: str, status: str, start: dt.date | None,
          end: dt.date | None) -> Plan:
    return Plan(pid, region, level, type_, version, f"测试 {pid}", status, valid_from=start, valid_to=end,
                submitted_by="test", submitted_at=dt.datetime(int(version), 1, 1, tzinfo=TZ) - dt.timedelta(days=30),
                outline=shapely.box(117.0, 31.4, 117.1, 31.5))


def _events(p: Plan) -> list[Event]:
    assert p.submitted_at is not None
    out = [Event(p.id, p.submitted_at, "test", None, "submitted", "test")]
    if p.valid_from is not None:
        filed = dt.datetime.combine(p.valid_from, dt.time(9), tzinfo=TZ)
        out += [Event(p.id, filed - dt.timedelta(days=1), "test", "submitted", "approved", "test"),
                Event(p.id, filed, "test", "approved", "filed", "test", p.valid_from, None)]
        if p.valid_to is not None:
            out.append(Event(p.id, dt.datetime.combine(p.valid_to, dt.time(9), tzinfo=TZ), "test", "filed",
                             "superseded", "test", p.valid_from, p.valid_to))
    return out


def build(store) -> None:
    d = dt.date
    plans = [
        _plan(S22, COUNTY, "county", "survey", "2022", "superseded", d(2022, 4, 30), d(2023, 6, 30)),
        _plan(S23, COUNTY, "county", "survey", "2023", "filed", d(2023, 6, 30), None),
        _plan(M21, CITY, "city", "master", "2021", "superseded", d(2021, 6, 1), d(2023, 9, 1)),
        _plan(M23, CITY, "city", "master", "2023", "filed", d(2023, 9, 1), None),
        _plan(M25, CITY, "city", "master", "2025", "submitted", None, None),
    ]
    bsm = {n: f"{COUNTY}2001{i:08d}" for i, n in enumerate(("recoded", "kept", "withdrawn"), start=1)}
    line = {n: f"{CITY}0213{i:08d}" for i, n in enumerate(("moved", "gone"), start=1)}
    zone = {"GHFQDM": "211", "GHFQMC": "城镇集中建设区"}
    batches = [
        _batch("dltb", S22, [(A, {"BSM": bsm["recoded"], "DLBM": "0101", "DLMC": "水田"}),
                             (B, {"BSM": bsm["kept"], "DLBM": "0301", "DLMC": "乔木林地"}),
                             (C, {"BSM": bsm["withdrawn"], "DLBM": "0101", "DLMC": "水田"})]),
        _batch("dltb", S23, [(A, {"BSM": bsm["recoded"], "DLBM": "0201", "DLMC": "果园"}),
                             (B, {"BSM": bsm["kept"], "DLBM": "0301", "DLMC": "乔木林地"})]),
        _batch("czkfbj", M21, [(MOVED_2021, {"BSM": line["moved"], **zone}), (GONE, {"BSM": line["gone"], **zone})]),
        _batch("czkfbj", M23, [(MOVED_2023, {"BSM": line["moved"], **zone})]),
        _batch("czkfbj", M25, [(MOVED_2023, {"BSM": line["moved"], **zone, "BZ": "修订中"})]),
    ]
    store.init_schema()
    store.write(plans, batches, replace_all=True, events=[e for p in plans for e in _events(p)])


@pytest.fixture(scope="module")
def history_app(backend: str, tmp_path_factory, request):
    from onemap.server.app import create_app

    d = tmp_path_factory.mktemp(f"history-{backend}")
    if backend == "gpkg":
        settings = Settings(data_dir=d, public_url="http://testserver")
    else:
        pg = request.getfixturevalue("pg")
        _janitor(pg, "onemap_history").init()
        settings = Settings(data_dir=d, database_url=pg.url("onemap_history"), public_url="http://testserver")
    store = open_store(settings.store_url)
    try:
        build(store)
    finally:
        store.close()
    return create_app(settings)


def fid_of(client, layer: str, plan_id: str, bsm_suffix: str) -> int:
    doc = get_json(client, f"/collections/{layer}/items?plan_id={plan_id}&limit=100")
    return next(f["id"] for f in doc["features"] if f["properties"]["BSM"].endswith(bsm_suffix))


def history(client, layer: str, fid: int, status: int = 200) -> dict:
    return get_json(client, f"/collections/{layer}/items/{fid}/history", status=status)


def test_a_parcel_recoded_between_surveys(history_app):
    admin = admin_client(history_app)
    for plan in (S22, S23):  # the same history from either version
        h = history(admin, "dltb", fid_of(admin, "dltb", plan, "00000001"))
        assert h["identity"] == {"by": "BSM", "BSM": f"{COUNTY}200100000001"}
        v22, v23 = h["versions"]
        assert [v["plan_id"] for v in h["versions"]] == [S22, S23]
        assert (v22["valid_from"], v22["valid_to"], v23["valid_from"], v23["valid_to"]) == \
            ("2022-04-30", "2023-06-30", "2023-06-30", None)
        assert v22["plan_version"] == "2022" and v22["plan_level"] == "county"
        assert v22["recorded"].startswith("2022-04-30T09:00") and v22["compared_with"] is None
        assert v23["compared_with"] == S22 and v23["geometry_changed"] is False
        assert v23["attributes_changed"] == ["DLBM", "DLMC"]
        assert (v22["properties"]["DLBM"], v23["properties"]["DLBM"]) == ("0101", "0201")
        assert h["absent_from"] == []
    kept = history(admin, "dltb", fid_of(admin, "dltb", S22, "00000002"))
    assert [(v["geometry_changed"], v["attributes_changed"]) for v in kept["versions"]] == [(None, None), (False, [])]


def test_a_boundary_moved_between_plan_versions_and_a_piece_withdrawn(history_app):
    admin = admin_client(history_app)
    h = history(admin, "czkfbj", fid_of(admin, "czkfbj", M21, "00000001"))
    assert [v["plan_id"] for v in h["versions"]] == [M21, M23, M25]  # the submission too, for internal callers
    v21, v23, v25 = h["versions"]
    assert v23["geometry_changed"] is True and v23["attributes_changed"] == []
    assert shapely.geometry.shape(v23["geometry"]).equals(shapely.box(*MOVED_2023))
    assert v25["plan_status"] == "submitted" and v25["valid_from"] is None and v25["geometry_changed"] is False
    assert v25["attributes_changed"] == ["BZ"] and v25["recorded"] is None
    gone = history(admin, "czkfbj", fid_of(admin, "czkfbj", M21, "00000002"))
    assert [v["plan_id"] for v in gone["versions"]] == [M21]
    assert [(a["plan_id"], a["valid_from"]) for a in gone["absent_from"]] == [(M23, "2023-09-01")]
    withdrawn = history(admin, "dltb", fid_of(admin, "dltb", S22, "00000003"))
    assert [a["plan_id"] for a in withdrawn["absent_from"]] == [S23]
    page = admin.get(f"/collections/czkfbj/items/{v21['fid']}/history?f=html")
    assert page.status_code == 200 and M23.encode() in page.data


def test_unknown_features_and_the_tier_guard(history_app):
    admin = admin_client(history_app)
    anon = history_app.test_client()
    for url in ("/collections/dltb/items/99999999/history", "/collections/dltb/items/abc/history",
                "/collections/nope/items/1/history", "/collections/plans/items/1/history"):
        r = admin.get(url)
        assert r.status_code == 404 and json.loads(r.data)["code"] == "NotFound", url
    recoded = fid_of(admin, "dltb", S22, "00000001")
    assert anon.get(f"/collections/dltb/items/{recoded}/history").status_code == 404  # partner tier
    store = history_app.extensions["onemap"].store
    partner = signed_in(history_app.test_client(), token_for(store, "partner"))
    assert len(history(partner, "dltb", recoded)["versions"]) == 2
    # the public see the filed versions of a public layer, not the submission under review nor its features
    moved = fid_of(admin, "czkfbj", M21, "00000001")
    assert [v["plan_id"] for v in history(anon, "czkfbj", moved)["versions"]] == [M21, M23]
    under_review = fid_of(admin, "czkfbj", M25, "00000001")
    history(anon, "czkfbj", under_review, status=404)
    assert len(history(admin, "czkfbj", under_review)["versions"]) == 3
