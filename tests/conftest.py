"""Shared fixtures: the demo region built once per session, the WSGI app, an HTTP client."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from onemap.config.settings import Settings
from onemap.providers.store import open_store

DEMO_PARCELS = int(os.environ.get("ONEMAP_TEST_PARCELS", "3000"))
DEMO_SEED = 7
# the suite makes many executions from one address within a minute: rate limits are tested by
# test_access with their own settings; here they are set out of the way (live servers inherit it)
os.environ.setdefault("ONEMAP_RATE_LIMIT", "1000000/minute")
os.environ.setdefault("ONEMAP_RATE_LIMIT_EXECUTE", "1000000/minute")
os.environ.setdefault("ONEMAP_JOBS_PER_DAY", "1000000")
os.environ.setdefault("ONEMAP_HEAVY_SLOTS", "8")  # (and slots for heavy work: test_access has its own)
ROOT = Path(__file__).resolve().parent.parent


def copy_store(src: Path, dst: Path) -> Path:
    """A copy of a GeoPackage store that this process may have open (the session's demo), through sqlite's
    online backup: consistent, the write-ahead log included. A plain file copy opens and closes the file,
    and closing any handle on it drops every POSIX lock this process holds there (SQLite's documented
    hazard): another process's checkpoint may then reset the log under the session store's connections,
    which read a stale snapshot from then on (seen: a token revoked by the CLI still accepted)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the demo region in a GeoPackage (built once)."""
    from onemap.server.demo_store import build_demo

    d = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=d)
    store = open_store(str(settings.gpkg_path))
    try:
        meta = build_demo(settings, store, DEMO_PARCELS, DEMO_SEED)
    finally:
        store.close()
    (d / "meta.json").write_text(json.dumps(meta, default=str, ensure_ascii=False), encoding="utf-8")
    (d / "pristine").mkdir()
    copy_store(d / "onemap.gpkg", pristine(d))
    return d


def pristine(demo_dir: Path) -> Path:
    """The demo as built, before any test ran: the session's store is shared, and a test that runs every route
    (test_access) executes the warnings scan, the land audit and change detection in it. A private copy starts
    from this one, as a PostGIS copy starts from the template."""
    return demo_dir / "pristine" / "onemap.gpkg"


@pytest.fixture(scope="session")
def demo_meta(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "meta.json").read_text(encoding="utf-8"))


# ---- PostGIS ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg():
    """A throwaway PostgreSQL + PostGIS cluster on a free port (tests/pgcluster.py)."""
    from .pgcluster import pg_bin, start_cluster

    if pg_bin() is None:
        pytest.fail("PostgreSQL 15 is missing: deploy/test.sh installs it (deploy/system-packages.sh)")
    cluster = start_cluster()
    yield cluster
    cluster.stop()


def _janitor(pg, dbname: str, template: str | None = None, as_template: bool = False):
    from pytest_postgresql.janitor import DatabaseJanitor

    return DatabaseJanitor(user=pg.user, host=pg.host, port=pg.port, dbname=dbname,
                           template_dbname=template, as_template=as_template)


@pytest.fixture(scope="session")
def pg_template(pg, tmp_path_factory) -> str:
    """A template database holding the same demo region (same parcels and seed) as the GeoPackage."""
    from onemap.server.demo_store import build_demo

    name = "onemap_demo_template"
    _janitor(pg, name, as_template=True).init()
    settings = Settings(data_dir=tmp_path_factory.mktemp("pgdemo"), database_url=pg.url(name))
    store = open_store(settings.store_url)
    try:
        build_demo(settings, store, DEMO_PARCELS, DEMO_SEED)
    finally:
        store.close()
    return name


_clones = iter(range(1, 10_000))


def pg_clone(pg, template: str) -> str:
    """A new database cloned from the template (fast: PostgreSQL copies the files)."""
    name = f"onemap_t{next(_clones)}"
    _janitor(pg, name, template=template).init()
    return pg.url(name)


@pytest.fixture(scope="session", params=["gpkg", "postgis"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def settings(backend: str, demo_dir: Path, request, tmp_path_factory) -> Settings:
    """Settings of the session's shared (read-only) demo store, on each backend.

    Each backend has its own data folder (tile and basemap caches): in a shared one, the
    PostGIS tests would be answered from tiles the GeoPackage rendered.
    """
    if backend == "gpkg":
        return Settings(data_dir=demo_dir, public_url="http://testserver")
    pg = request.getfixturevalue("pg")
    url = pg_clone(pg, request.getfixturevalue("pg_template"))
    import shutil

    data = tmp_path_factory.mktemp("pgdata")
    shutil.copy2(demo_dir / "dem.tif", data / "dem.tif")
    return Settings(data_dir=data, database_url=url, public_url="http://testserver")


@pytest.fixture()
def fresh_settings(backend: str, demo_dir: Path, tmp_path: Path, request) -> Settings:
    """A private copy of the demo store, for tests that change it."""
    import shutil

    if backend == "gpkg":
        copy_store(pristine(demo_dir), tmp_path / "onemap.gpkg")
        shutil.copyfile(demo_dir / "dem.tif", tmp_path / "dem.tif")
        return Settings(data_dir=tmp_path, public_url="http://testserver")
    pg = request.getfixturevalue("pg")
    url = pg_clone(pg, request.getfixturevalue("pg_template"))
    return Settings(data_dir=tmp_path, database_url=url, public_url="http://testserver")


@pytest.fixture(scope="session")
def hand_settings(backend: str, tmp_path_factory, request) -> Settings:
    """Settings of a store holding the hand-made map of tests/handmap.py, on each backend."""
    from . import handmap

    d = tmp_path_factory.mktemp(f"hand-{backend}")
    if backend == "gpkg":
        settings = Settings(data_dir=d, public_url="http://testserver")
    else:
        pg = request.getfixturevalue("pg")
        _janitor(pg, "onemap_handmap").init()
        settings = Settings(data_dir=d, database_url=pg.url("onemap_handmap"), public_url="http://testserver")
    store = open_store(settings.store_url)
    try:
        handmap.build(store)
    finally:
        store.close()
    return settings


@pytest.fixture(scope="session")
def hand_app(hand_settings: Settings):
    from onemap.server.app import create_app

    return create_app(hand_settings)


@pytest.fixture()
def hand_client(hand_app):
    """Signed in as an administrator: the tests of data and drawers read every tier (test_access.py and
    the security suite test what others may see)."""
    from .auth import admin_client

    return admin_client(hand_app)


@pytest.fixture(scope="session")
def app(settings: Settings):
    from onemap.server.app import create_app

    return create_app(settings)


@pytest.fixture()
def client(app):
    """Signed in as an administrator (see ``hand_client``)."""
    from .auth import admin_client

    return admin_client(app)


@pytest.fixture()
def anonymous(app):
    """A client with no credentials: the public tier."""
    return app.test_client()


@pytest.fixture(scope="session")
def om(app):
    return app.extensions["onemap"]


def _none_if_null(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.datetime64) and np.isnat(v):
        return None
    return v


class Reference:
    """The demo GeoPackage read by GDAL (pyogrio), independently of OneMap's store code.

    GDAL reads a snapshot (sqlite's online backup, the write-ahead log included), never the live file:
    its own SQLite in this process would share the file's POSIX locks with the store's connections, and
    closing its handle drops their locks too (SQLite's documented hazard of two libraries on one file),
    which left the session's store unreadable (SQLITE_IOERR_SHORT_READ) once tests write to it (the
    audit trail, tokens)."""

    def __init__(self, path: Path) -> None:
        import tempfile

        self.path = copy_store(path, Path(tempfile.mkdtemp(prefix="onemap-ref-")) / path.name)
        self._cache: dict[str, tuple] = {}

    def layer(self, name: str) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """(fids, columns, shapely geometries) of a whole table."""
        if name not in self._cache:
            meta, fids, geoms, fields = pyogrio.raw.read(self.path, layer=name, return_fids=True)
            cols = {n: np.asarray(v) for n, v in zip(meta["fields"], fields)}
            self._cache[name] = (np.asarray(fids), cols, shapely.from_wkb(geoms))
        return self._cache[name]

    def plans(self) -> dict[str, dict]:
        fids, cols, _ = self.layer("plans")
        out = {}
        for i in range(len(fids)):
            rec = {k: _none_if_null(v[i]) for k, v in cols.items()}
            out[rec["id"]] = rec
        return out

    def periods(self) -> dict[str, list[tuple[dt.date, dt.date | None]]]:
        """Every entry's periods in force, from the validity its recorded events left (a reinstated
        version has two); an entry without events has its row's one interval."""
        _, cols, _ = self.layer("plan_events")
        events = sorted(zip(cols["at"], range(len(cols["at"])), cols["plan_id"], cols["valid_from"],
                            cols["valid_to"]), key=lambda e: (str(e[0]), e[1]))
        out: dict[str, dict] = {}
        for _, _, pid, vf, vt in events:
            vf, vt = _none_if_null(vf), _none_if_null(vt)
            if vf is None:
                continue
            start = dt.date.fromisoformat(str(vf)[:10])
            out.setdefault(pid, {})[start] = dt.date.fromisoformat(str(vt)[:10]) if vt else None
        for pid, p in self.plans().items():
            if pid not in out and p["status"] in ("filed", "superseded", "withdrawn") and p["valid_from"]:
                vt = p["valid_to"]
                out[pid] = {dt.date.fromisoformat(str(p["valid_from"])[:10]):
                            dt.date.fromisoformat(str(vt)[:10]) if vt else None}
        return {pid: sorted(d.items()) for pid, d in out.items()}

    def in_force(self, day: dt.date) -> set[str]:
        return {pid for pid, periods in self.periods().items()
                if any(vf <= day and (vt is None or day < vt) for vf, vt in periods)}

    def features(self, name: str, plan_ids: set[str]) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        fids, cols, geoms = self.layer(name)
        mask = np.isin(cols["plan_id"], list(plan_ids))
        return fids[mask], {k: v[mask] for k, v in cols.items()}, geoms[mask]


@pytest.fixture(scope="session")
def ref(demo_dir: Path) -> Reference:
    return Reference(demo_dir / "onemap.gpkg")


@pytest.fixture(scope="session")
def today() -> dt.date:
    from onemap.providers.store.base import today as _today

    return _today()


def eventually(what, seconds: float = 60.0, every: float = 0.1):
    """``what()``'s first truthy answer, asked every ``every`` s for at most ``seconds`` (then a failure)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(every)
    raise AssertionError("waited in vain")


def get_json(client, url: str, status: int = 200, **kw) -> dict:
    r = client.get(url, **kw)
    assert r.status_code == status, (url, r.status_code, r.data[:500])
    return json.loads(r.data)



def header_links(resp) -> list[dict[str, str]]:
    """The links of a response's ``Link`` headers (RFC 8288), each as ``{"href": ..., "rel": ..., ...}``."""
    import re

    out = []
    for value in resp.headers.getlist("Link"):
        for m in re.finditer(r'<([^>]*)>((?:\s*;\s*[^;,=]+=(?:"[^"]*"|[^;,]*))*)', value):
            link = {"href": m.group(1)}
            for pm in re.finditer(r';\s*([^;,=\s]+)=(?:"([^"]*)"|([^;,]*))', m.group(2)):
                link[pm.group(1).lower()] = pm.group(2) if pm.group(2) is not None else pm.group(3)
            out.append(link)
    return out

def all_items(client, url: str) -> list[dict]:
    """Follow ``next`` links like QGIS does (bounded)."""
    feats: list[dict] = []
    for _ in range(10_000):
        doc = get_json(client, url)
        feats.extend(doc["features"])
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        if not nxt:
            return feats
        url = nxt[0].replace("http://testserver", "")
    raise AssertionError("paging did not end")


def registry_notice_delivered(store, seconds: float = 5.0) -> None:
    """Wait (bounded) until a PostGIS store's registry watcher has a change notice waiting, as a
    server process has one soon after another process commits; the GeoPackage needs no notice."""
    import time

    conn = getattr(getattr(store, "_watch", None), "_conn", None)
    if conn is None:
        return  # not listening: the store reads the version on every request
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.poll()
        if conn.notifies:
            return
        time.sleep(0.005)
    raise AssertionError("no registry notice arrived")


def run_process(settings: Settings, process_id: str, inputs: dict, output: str = "result") -> dict:
    """Run one of OneMap's processes in this process against a real store, as a worker runs it."""
    import time

    from onemap.processes import load_processors
    from onemap.processes.base import RunContext

    store = open_store(settings.store_url)
    try:
        proc = load_processors(settings.store_url)[process_id]
        checked = proc.validate(inputs)
        proc.check(checked, settings, store)
        ctx = RunContext(store, settings, time.monotonic() + 600)
        out = proc.run(ctx, checked, {output: "application/json"})
        return out[output].value
    finally:
        store.close()


GROWN_PLAN = "990100-city-master-2025"


def file_grown_boundary(settings: Settings, near: tuple[float, float]) -> str:
    """File a 2025 revision of the city master plan (in force since yesterday) whose urban development
    boundary grows by ~200 m within 0.05 degrees of ``near`` and keeps the rest; returns its id."""
    from onemap.domain.dates import today as local_today
    from onemap.providers.geometry import as_multi
    from onemap.providers.registry import Registry
    from onemap.providers.store.base import FeatureBatch, Plan

    store = open_store(settings.store_url)
    try:
        layer = store.catalogue.layers["czkfbj"]
        names = [f.name for f in layer.fields]
        geoms, cols = store.geometries(layer, ["990100-city-master-2023"], columns=names)
        close = {i for i, g in enumerate(geoms) if g.distance(shapely.Point(*near)) < 0.05}
        assert close and len(close) < len(geoms)
        new_geoms = np.array([as_multi(shapely.buffer(g, 0.002)) if i in close else g for i, g in enumerate(geoms)],
                             dtype=object)
        batch = FeatureBatch("czkfbj", GROWN_PLAN, {n: list(cols[n]) for n in names}, new_geoms)
        old = store.plan("990100-city-master-2023")
        plan = Plan(id=GROWN_PLAN, region="990100", level="city", type="master", version="2025",
                    title="示范市国土空间总体规划（2025年修订）", status="submitted", outline=old.outline)
        store.write([plan], [batch])
        reg = Registry(store)
        reg.mark_checked(plan.id, "质检中心")
        reg.approve(plan.id, "示范市人民政府", "示政函〔2025〕1号", override="test: gate not under test")
        reg.file(plan.id, "示范市自然资源和规划局", valid_from=local_today(settings.timezone) - dt.timedelta(days=1))
    finally:
        store.close()
    return GROWN_PLAN
