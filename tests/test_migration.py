"""Stores written by the previous release migrate: GeoPackage schema 4 and PostGIS schema 7.

The fixtures in tests/data/legacy were written by the release before drawer subjects, the
bitemporal record and certificates (the hand-made map of tests/handmap.py, written with that
release's code and, for PostGIS, dumped with pg_dump): no subject column, no validity on events,
no events at all for the entries written directly, no certificates table.

A store of the schema before the population table (GeoPackage 8, PostGIS 12) is made from a current one by
taking the table, its version and (PostGIS) the notice of its changes away again: it gets them back.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest

from onemap.config.settings import Settings
from onemap.domain.dates import When
from onemap.domain.dates import today as local_today
from onemap.providers.store import open_store

from . import handmap as hm
from .auth import admin_client
from .conftest import _janitor, get_json

LEGACY = Path(__file__).parent / "data" / "legacy"


def _checks(settings: Settings) -> None:
    store = open_store(settings.store_url)
    try:
        assert store.schema_version() in ("4", "7")
        store.ensure_schema()
        assert store.schema_version() == store.expected_schema
        plans = store.plans()
        assert set(plans) == {hm.SURVEY, hm.MASTER_2021, hm.MASTER_2023}
        assert all(p.subject is None for p in plans.values())
        # every entry got a replayable trace in the order things happened
        old = store.events(hm.MASTER_2021)
        assert [e.to_status for e in old] == ["submitted", "filed", "superseded"]
        assert (old[-1].valid_from, old[-1].valid_to) == (dt.date(2021, 6, 1), hm.REVISION_DAY)
        assert [(p.start, p.end) for p in plans[hm.MASTER_2021].periods] == [(dt.date(2021, 6, 1), hm.REVISION_DAY)]
        assert store.plans_in_force(When.at(dt.date(2022, 1, 1)), None, store.catalogue.layers["czkfbj"]) == \
            (hm.MASTER_2021,)
        # the registry as recorded before the revision
        before = store.plans(dt.datetime(2023, 7, 1, tzinfo=dt.UTC))
        assert before[hm.MASTER_2021].status == "filed" and hm.MASTER_2023 not in before
        submitted = store.plans(dt.datetime(2023, 8, 20, tzinfo=dt.UTC))
        assert submitted[hm.MASTER_2023].status == "submitted"
        assert store.governing(store.catalogue.layers["czkfbj"], local_today())[0].plan_id == hm.MASTER_2023
        assert store.certificates() == []
        assert store.warnings.page() == ([], 0) and store.warnings.subscriptions() == []  # the 预警 tables are there
        assert store.population() == [] and store.population_version() == "0"
        # running the migration again changes nothing
        n = len(store.events())
        store.init_schema()
        assert len(store.events()) == n
    finally:
        store.close()
    from onemap.server.app import create_app

    app = create_app(settings)
    try:
        client = admin_client(app)
        doc = get_json(client, "/collections/czkfbj/items?view=governing")
        assert {f["properties"]["plan_id"] for f in doc["features"]} == {hm.MASTER_2023}
        assert all("plan_subject" in f["properties"] for f in doc["features"])
        assert [e["to"] for e in get_json(client, f"/plans/{hm.MASTER_2023}/trace")["events"]] == ["submitted", "filed"]
        assert get_json(client, "/warnings")["numberMatched"] == 0
    finally:
        app.extensions["onemap"].store.close()


def test_a_geopackage_of_the_previous_release_migrates(tmp_path):
    shutil.copyfile(LEGACY / "schema4.gpkg", tmp_path / "onemap.gpkg")
    _checks(Settings(data_dir=tmp_path, public_url="http://testserver"))


def test_a_postgis_database_of_the_previous_release_migrates(pg, tmp_path):
    from .pgcluster import pg_bin

    name = "onemap_legacy7"
    _janitor(pg, name).init()
    psql = str(Path(pg_bin()) / "psql")
    base = [psql, "-h", pg.host, "-p", str(pg.port), "-U", pg.user, "-d", name, "-v", "ON_ERROR_STOP=1", "-q"]
    subprocess.run([*base, "-c", "CREATE EXTENSION IF NOT EXISTS postgis"], check=True, capture_output=True)
    r = subprocess.run([*base, "-f", str(LEGACY / "schema7.sql")], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    _checks(Settings(data_dir=tmp_path, database_url=pg.url(name), public_url="http://testserver"))


@pytest.mark.parametrize("path", ["schema4.gpkg", "schema7.sql"])
def test_the_fixtures_are_of_the_previous_schema(path):
    if path.endswith(".gpkg"):
        import sqlite3

        with sqlite3.connect(LEGACY / path) as c:
            assert c.execute("SELECT value FROM onemap_meta WHERE key='schema_version'").fetchone()[0] == "4"
            cols = {r[1] for r in c.execute("PRAGMA table_info(plans)")}
            assert "subject" not in cols
    else:
        text = (LEGACY / path).read_text(encoding="utf-8")
        assert "schema_version\t7" in text and "certificates" not in text


# ---- the population table (GeoPackage 8 -> 9, PostGIS 12 -> 13) ---------------------------------------------
def _downgrade(store) -> None:
    """Take away what schema 9 (GeoPackage) / 13 (PostGIS) added: the store is then as schema 8 / 12 left it."""
    gpkg = store.backend == "gpkg"
    meta, param = ("onemap_meta", "?") if gpkg else ("onemap.meta", "%s")
    with store.write_cursor() as cur:
        cur.execute(f"DROP TABLE {'population' if gpkg else 'onemap.population'}")
        cur.execute(f"DELETE FROM {meta} WHERE key = 'population_version'")
        cur.execute(f"UPDATE {meta} SET value = {param} WHERE key = 'schema_version'", ("8" if gpkg else "12",))
        if store.backend == "postgis":
            cur.execute("DROP TRIGGER registry_notify ON onemap.meta")
            cur.execute("CREATE TRIGGER registry_notify AFTER INSERT OR UPDATE ON onemap.meta FOR EACH ROW "
                        "WHEN (NEW.key = 'registry_version') EXECUTE FUNCTION onemap.notify_registry()")


@pytest.mark.parametrize("backend_", ["gpkg", "postgis"])
def test_a_store_without_the_population_table_gets_it(backend_, tmp_path, request):
    from onemap.providers.store.base import PopulationRow

    if backend_ == "gpkg":
        url = str(tmp_path / "onemap.gpkg")
    else:
        pg = request.getfixturevalue("pg")
        _janitor(pg, "onemap_schema12").init()
        url = pg.url("onemap_schema12")
    store = open_store(url)
    try:
        hm.build(store)
        _downgrade(store)
        store.close()
        store = open_store(url)
        assert store.schema_version() in ("8", "12")
        plans = set(store.plans())
        store.ensure_schema()
        assert store.schema_version() == store.expected_schema == ("11" if backend_ == "gpkg" else "15")
        assert set(store.plans()) == plans and store.population() == [] and store.population_version() == "0"
        at = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
        store.load_population([PopulationRow("880100", 2022, 1000, 600, "测试市", "测试")], at)
        (row,) = store.population()
        assert (row.region, row.year, row.resident, row.urban, row.rural, row.loaded_at) == \
            ("880100", 2022, 1000, 600, 400, at)
        assert store.population_version() == "1"
        if backend_ == "postgis":  # a load is announced to every process as a registry change is
            (trigger,) = store._rows("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'registry_notify'",
                                     [])
            assert "population_version" in trigger[0]
        store.init_schema()  # again: nothing changes
        assert len(store.population()) == 1 and store.population_version() == "1"
    finally:
        store.close()
