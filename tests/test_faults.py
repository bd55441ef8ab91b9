"""The store away: a PostgreSQL server stopped and started again under a running application, a
GeoPackage its process may no longer open, a disk that fills up while a package is loaded.

While the store is away every request is a 503 with ``Retry-After`` and an OGC exception body
(never a 500, never SQL, paths or tracebacks), a write changes nothing, and once the store is
back the same process answers as before, without a restart.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from onemap.config.settings import Settings
from onemap.providers.store import open_store

from . import handmap as hm
from .conftest import ROOT, _janitor, copy_store, pristine
from .test_cli import ONEMAP
from .test_tiles import decode

GZ = {"Accept-Encoding": "gzip"}
TILE = "/collections/czkfbj/tiles/WebMercatorQuad/12/{row}/{col}"
SYNC = {"inputs": {"boundary": hm.geojson((117.015, 31.405, 117.025, 31.415)), "land_use": "1001"}}


def public_processes(to: Path) -> Path:
    """A copy of the catalogue in which anyone may run the processes (no credentials in these tests)."""
    import yaml

    raw = yaml.safe_load(Settings().catalogue.read_text(encoding="utf-8"))
    raw["processes"] = {pid: {"tier": "public"} for pid in raw.get("processes") or {}}
    path = to / "catalogue.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _tile_url() -> str:
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(117.04, 31.41, 12)
    return TILE.format(row=t.y, col=t.x)


def _requests(client) -> dict[str, object]:
    """One of each kind: health, features, one feature, a cached tile (answered in front of Flask),
    the same tile through the application, the collections (pygeoapi) and a sync execution (a job row)."""
    tile = _tile_url()
    return {
        "healthz": client.get("/healthz"),
        "items": client.get("/collections/czkfbj/items?f=json"),
        "item": client.get("/collections/czkfbj/items/1?f=json"),
        "cached tile": client.get(tile, headers=GZ),
        "tile": client.get(tile + "?f=MVT", headers=GZ),
        "collections": client.get("/collections?f=json"),
        "execution": client.post("/processes/compliance-review/execution", json=SYNC),
    }


def assert_unavailable(r, what: str) -> None:
    assert r.status_code == 503, (what, r.status_code, r.data[:300])
    assert int(r.headers["Retry-After"]) > 0, what
    body = json.loads(r.data)
    assert body["code"] == "ServiceUnavailable" and body["description"], (what, body)
    text = r.data.decode()
    for leak in ("SELECT", "Traceback", "/tmp", "postgresql://", "psycopg2", "sqlite"):
        assert leak not in text, (what, leak, text)


# ---- PostGIS stopped and started again -------------------------------------------------------------
@pytest.fixture()
def own_pg():
    """A PostgreSQL cluster of this test's own (stopping it disturbs no other test), holding the hand map."""
    from .pgcluster import start_cluster

    cluster = start_cluster()
    try:
        _janitor(cluster, "onemap_faults").init()
        url = cluster.url("onemap_faults")
        store = open_store(url)
        try:
            hm.build(store)
        finally:
            store.close()
        yield cluster, url
    finally:
        cluster.stop()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_stopped_database_is_503_and_the_same_process_recovers(own_pg, tmp_path, mode):
    from onemap.server.app import create_app

    cluster, url = own_pg
    settings = Settings(data_dir=tmp_path, database_url=url, public_url="http://testserver", job_workers=0,
                        catalogue=public_processes(tmp_path))
    app = create_app(settings)
    client = app.test_client()
    for _ in range(2):  # the second round serves the tile from the cache, in front of Flask
        before = _requests(client)
        for what, r in before.items():
            assert r.status_code == 200, (what, r.status_code, r.data[:300])
    assert before["cached tile"].headers["X-Cache"] == "HIT"
    store = app.extensions["onemap"].store
    assert store._pool is not None and store._pool._pool  # idle pooled connections, about to be cut off

    cluster.stop_server(mode)  # fast: the server says goodbye; immediate: it just dies
    for _ in range(2):  # twice: a pool emptied by the first round is not a pool that works again
        for what, r in _requests(client).items():
            assert_unavailable(r, what)

    cluster.start_server()
    after = _requests(client)
    for what, r in after.items():
        assert r.status_code == 200, (what, r.status_code, r.data[:300])
    assert json.loads(after["healthz"].data)["plans"] == 3
    assert decode(gzip.decompress(after["cached tile"].data))["czkfbj"]["features"]

    # a restart between two requests: the pooled connections it cut off are replaced, not used
    assert store._pool._pool
    cluster.stop_server(mode)
    cluster.start_server()
    for what, r in _requests(client).items():
        assert r.status_code == 200, (what, r.status_code, r.data[:300])
    store.close()


# ---- a GeoPackage the server may no longer open -------------------------------------------------
UNREADABLE = r"""
import json, os, sys, threading
from onemap.server.app import create_app
from onemap.config.settings import Settings

store_file = sys.argv[1]
app = create_app(Settings(data_dir=os.path.dirname(store_file), job_workers=0))
client = app.test_client()
out = {}

def ask(name, url):
    # a thread of its own: a new thread opens its own connection to the file, as a server's threads do
    def run():
        r = client.get(url)
        out[name] = {"status": r.status_code, "retry": r.headers.get("Retry-After"), "body": r.get_data(as_text=True)}
    t = threading.Thread(target=run)
    t.start()
    t.join()

ask("before", "/collections/czkfbj/items?f=json")
os.chmod(store_file, 0)  # the operator (or a wrong chown) takes the permissions away
ask("unreadable", "/collections/czkfbj/items?f=json")
ask("unreadable health", "/healthz")
os.chmod(store_file, 0o644)
ask("after", "/collections/czkfbj/items?f=json")
print(json.dumps(out))
"""


def test_a_geopackage_that_cannot_be_opened_is_503_until_it_can(tmp_path):
    """The store file loses its permissions while the application runs: a thread's new connection to it
    fails, and answers 503; with the permissions back, 200. The application runs in a process without
    the capability to override file permissions (as root, permissions would stop nothing)."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("as root, needs setpriv to run without CAP_DAC_OVERRIDE")
    store_file = tmp_path / "onemap.gpkg"
    store = open_store(str(store_file))
    try:
        hm.build(store)
    finally:
        store.close()
    cmd = [sys.executable, "-c", UNREADABLE, str(store_file)]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["before"]["status"] == 200 and out["after"]["status"] == 200, out
    for name in ("unreadable", "unreadable health"):
        r = out[name]
        assert r["status"] == 503 and int(r["retry"]) > 0, (name, r)
        body = json.loads(r["body"])
        assert body["code"] == "ServiceUnavailable", body
        assert str(tmp_path) not in r["body"] and "sqlite" not in r["body"].lower(), body
    assert _integrity(store_file) == "ok"


# ---- a disk that fills up while a package is loaded ---------------------------------------------
def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0]


def test_a_load_onto_a_full_disk_is_refused_and_changes_nothing(demo_dir, tmp_path):
    """The load runs with a file size limit (RLIMIT_FSIZE, set by the kernel for that process only):
    the store's write-ahead log cannot grow, as on a full disk. One sentence, nothing written."""
    from .test_packages import COUNTY, NEW, exported, state

    copy_store(pristine(demo_dir), tmp_path / "onemap.gpkg")
    url = str(tmp_path / "onemap.gpkg")
    source = open_store(url)
    try:
        package = exported(source, tmp_path)
    finally:
        source.close()
    before = state(url)
    limit = 256 * 1024  # far below the log a county plan's features need; above any file the load reads

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")} | {"ONEMAP_DATA_DIR": str(tmp_path)}
    p = subprocess.run([ONEMAP, "load", str(package), "--region", "990121", "--level", "county", "--type", "master",
                        "--version", "2024"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                       check=False, preexec_fn=full_disk)
    # the store's log line says why (stderr is the CLI's log); the error itself is the last line, one sentence
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    msg = p.stderr.strip().splitlines()[-1]
    assert msg.startswith("onemap: error: ") and "store" in msg and "try again" in msg, msg
    assert str(tmp_path) not in msg
    assert state(url) == before and NEW not in before["plans"] and COUNTY in before["plans"]
    assert _integrity(tmp_path / "onemap.gpkg") == "ok"
    # with room again, the same load goes through
    p = subprocess.run([ONEMAP, "load", str(package), "--region", "990121", "--level", "county", "--type", "master",
                        "--version", "2024"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                       check=False)
    assert p.returncode == 0, p.stderr
    assert NEW in state(url)["plans"]
