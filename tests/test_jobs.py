"""Jobs: asynchronous execution, status, progress, results, dismissal, dead workers, limits,
retention. The job runner is driven step by step (as `onemap worker` drives it), on both backends."""

from __future__ import annotations

import json
import time

import pytest

from onemap.providers.store.jobs import JobStore

from . import handmap as hm
from .auth import admin_client
from .conftest import eventually

URL = "/processes/compliance-review/execution"
BODY = {"inputs": {"boundary": hm.geojson((117.015, 31.405, 117.025, 31.415)), "land_use": "1001"}}


@pytest.fixture(scope="module")
def quiet_app(hand_settings):
    """The hand-made map served with no job threads: jobs wait until the test runs them."""
    from onemap.server.app import create_app

    return create_app(hand_settings.model_copy(update={"job_workers": 0}))


@pytest.fixture()
def c(quiet_app):
    return admin_client(quiet_app)


@pytest.fixture()
def runner(quiet_app):
    return quiet_app.extensions["onemap"].runner


def submit(c, body=BODY, process="compliance-review") -> str:
    r = c.post(f"/processes/{process}/execution", json=body, headers={"Prefer": "respond-async"})
    assert r.status_code == 201, r.data[:500]
    assert r.headers["Preference-Applied"] == "respond-async"
    info = json.loads(r.data)
    assert r.headers["Location"].endswith(f"/jobs/{info['jobID']}")
    return info["jobID"]


def status(c, job_id: str) -> dict:
    r = c.get(f"/jobs/{job_id}")
    assert r.status_code == 200, r.data[:300]
    return json.loads(r.data)


def test_async_job_accepted_then_run_by_a_worker(c, runner):
    job_id = submit(c)
    info = status(c, job_id)
    assert info["status"] == "accepted" and info["processID"] == "compliance-review"
    r = c.get(f"/jobs/{job_id}/results")
    assert r.status_code == 404 and json.loads(r.data)["code"] == "result-not-ready"
    assert runner.work_one()
    info = status(c, job_id)
    assert info["status"] == "successful" and info["progress"] == 100
    assert any(link["href"].endswith(f"/jobs/{job_id}/results") for link in info["links"])
    result = json.loads(c.get(f"/jobs/{job_id}/results").data)
    sync = json.loads(c.post(URL, json=BODY).data)
    assert result["checks"] == sync["checks"] and result["overall"] == sync["overall"]
    listed = json.loads(c.get("/jobs?limit=1000").data)
    assert job_id in [j["jobID"] for j in listed["jobs"]]


def test_progress_moves_and_is_stored(c, runner):
    job_id = submit(c)
    seen: list[tuple[int, str]] = []
    store = runner.jobs
    original = JobStore.progress

    def recording(self, jid, worker, percent, message, lease):
        state = original(self, jid, worker, percent, message, lease)
        row = store.get(jid)  # what a client polling /jobs/{id} would read now
        seen.append((row.progress, row.message))
        return state

    JobStore.progress = recording
    try:
        assert runner.work_one()
    finally:
        JobStore.progress = original
    percents = [p for p, _ in seen]
    assert len(set(percents)) >= 5 and percents == sorted(percents), seen
    assert any("ecological_red_line" in m for _, m in seen)
    assert status(c, job_id)["progress"] == 100


def test_dismissing_a_waiting_job_means_it_never_runs(c, runner):
    job_id = submit(c)
    r = c.delete(f"/jobs/{job_id}")
    assert r.status_code == 200 and json.loads(r.data)["status"] == "dismissed"
    assert not runner.work_one()
    assert status(c, job_id)["status"] == "dismissed"
    r = c.get(f"/jobs/{job_id}/results")
    assert r.status_code == 404 and json.loads(r.data)["code"] == "no-such-job"


def test_dismissing_a_running_job_stops_it(c, runner):
    job_id = submit(c)
    job = runner.jobs.claim(runner.worker_id, 30, 2)
    assert job is not None and job.id == job_id
    assert status(c, job_id)["status"] == "running"
    assert c.delete(f"/jobs/{job_id}").status_code == 200
    runner.execute_claimed(job)  # stops at its first progress report
    assert status(c, job_id)["status"] == "dismissed"
    assert runner.jobs.result(job_id) == (None, None)


def test_a_job_whose_worker_died_is_taken_back(c, runner):
    job_id = submit(c)
    dead = runner.jobs.claim("dead-host:1", 0.05, 2)  # claimed by a worker that then vanished
    assert dead is not None and dead.id == job_id
    time.sleep(0.1)
    assert runner.work_one()  # the lease ran out: requeued and run here
    info = status(c, job_id)
    assert info["status"] == "successful" and info["x-onemap"]["attempts"] == 2


def test_a_job_whose_last_worker_died_fails_with_a_reason(c, runner):
    job_id = submit(c)
    runner.jobs.claim("dead-host:1", 0.05, 1)
    time.sleep(0.1)
    runner.jobs.claim(runner.worker_id, 30, 1)  # any worker's next claim settles it
    info = status(c, job_id)
    assert info["status"] == "failed" and "no attempts are left" in info["message"]
    r = c.get(f"/jobs/{job_id}/results")
    assert r.status_code == 500 and "no attempts are left" in json.loads(r.data)["description"]


def test_a_job_over_its_time_limit_fails_with_a_clear_message(hand_settings):
    from onemap.server.app import create_app

    app = create_app(hand_settings.model_copy(update={"job_workers": 0, "job_time_limit": 1e-6}))
    c = admin_client(app)
    r = c.post(URL, json=BODY)
    err = json.loads(r.data)
    assert r.status_code == 500 and err["code"] == "TimeLimitExceeded" and "time limit" in err["description"]
    job_id = submit(c)
    assert app.extensions["onemap"].runner.work_one()
    assert status(c, job_id)["status"] == "failed"
    assert "time limit" in status(c, job_id)["message"]


def test_sync_executions_are_kept_for_the_retention_period_only(c, runner):
    r = c.post(URL, json=BODY)
    sync_id = r.headers["Link"].split(";")[0].strip("<>").rsplit("/", 1)[1]
    async_id = submit(c)
    assert runner.work_one()
    assert status(c, sync_id)["x-onemap"]["mode"] == "sync"
    runner.jobs.purge(sync_older_than=0, async_older_than=3600)
    assert c.get(f"/jobs/{sync_id}").status_code == 404
    assert status(c, async_id)["status"] == "successful"
    runner.jobs.purge(sync_older_than=0, async_older_than=0)
    assert c.get(f"/jobs/{async_id}").status_code == 404


def test_waiting_and_running_jobs_are_never_purged(c, runner):
    job_id = submit(c)
    runner.jobs.purge(0, 0)
    assert status(c, job_id)["status"] == "accepted"
    c.delete(f"/jobs/{job_id}")


def test_a_bad_async_request_is_refused_before_a_job_exists(c):
    before = json.loads(c.get("/jobs").data)["numberMatched"]
    r = c.post(URL, json={"inputs": {"boundary": BODY["inputs"]["boundary"]}}, headers={"Prefer": "respond-async"})
    assert r.status_code == 400 and "'land_use'" in json.loads(r.data)["description"]
    assert json.loads(c.get("/jobs").data)["numberMatched"] == before


@pytest.mark.parametrize("path", ["/jobs/nope", "/jobs/nope/results", "/jobs/" + "x" * 100])
def test_unknown_jobs_are_404(path, c):
    r = c.get(path)
    assert r.status_code == 404 and json.loads(r.data)["code"] == "no-such-job"


def test_job_pages_render_as_html(c, runner):
    job_id = submit(c)
    runner.work_one()
    for path in ("/jobs?f=html", f"/jobs/{job_id}?f=html", "/processes?f=html",
                 "/processes/compliance-review?f=html"):
        r = c.get(path)
        assert r.status_code == 200 and r.mimetype == "text/html", path


# ---- processes that die: sync executions hold a lease too, and no job is left running ------------------
def test_a_sync_execution_whose_process_died_is_failed_by_the_next_claim(c, runner):
    """Driven step by step: the row a server process writes for a sync execution, then the process gone."""
    r = c.post(URL, json=BODY)
    done = runner.jobs.get(r.headers["Link"].split(";")[0].strip("<>").rsplit("/", 1)[1])
    assert done.status == "successful" and done.worker == runner.worker_id and done.lease_until is None
    # what a server process writes when it starts one (then dies: nothing renews the lease)
    dead = runner.jobs.create("compliance-review", "sync", {"inputs": {}}, status="running", message="running",
                              worker="dead-host:1", lease_seconds=0.05)
    held = runner.jobs.get(dead.id)
    assert held.status == "running" and held.lease_until is not None and held.started is not None
    time.sleep(0.1)
    assert runner.jobs.claim(runner.worker_id, 30, 2) is None  # any worker's next claim settles it
    info = status(c, dead.id)
    assert info["status"] == "failed" and info["message"] == "the server process running it stopped"
    r = c.get(f"/jobs/{dead.id}/results")
    assert r.status_code == 500 and json.loads(r.data)["description"] == "the server process running it stopped"
    # a sync execution is never queued again: nobody waits for its answer any more
    assert runner.jobs.get(dead.id).attempts == 0
    # the purge settles them too (and those an older version left without a lease, past the retention)
    other = runner.jobs.create("compliance-review", "sync", {"inputs": {}}, status="running", message="running",
                               worker="dead-host:2", lease_seconds=0.05)
    old = runner.jobs.create("compliance-review", "sync", {"inputs": {}}, status="running", message="running")
    time.sleep(0.1)
    runner.jobs.purge(sync_older_than=0.05, async_older_than=3600)
    assert runner.jobs.get(other.id).status == runner.jobs.get(old.id).status == "failed"


def _lock_layers(url: str):
    """A connection holding every layer table of the demo locked: a process reading features waits on it,
    mid-job, for as long as the test likes."""
    import psycopg2

    from onemap.config.catalogue import get_catalogue

    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        names = ", ".join(f"onemap.{lid}" for lid in get_catalogue().layers)
        cur.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
    return conn


@pytest.fixture()
def live_env(pg, pg_template, demo_dir, tmp_path):
    """Settings of real OneMap processes on a private copy of the demo in PostGIS: short leases."""
    import shutil

    from .conftest import pg_clone
    from .test_faults import public_processes

    url = pg_clone(pg, pg_template)
    shutil.copyfile(demo_dir / "dem.tif", tmp_path / "dem.tif")
    return {"ONEMAP_DATABASE_URL": url, "ONEMAP_DATA_DIR": str(tmp_path), "ONEMAP_JOB_WORKERS": "0",
            "ONEMAP_TILE_CACHE": "false", "ONEMAP_JOB_LEASE_SECONDS": "2",
            "ONEMAP_CATALOGUE": str(public_processes(tmp_path))}


def _running(store, mode: str):
    rows = store._rows(f"SELECT id FROM onemap.jobs WHERE status = 'running' AND mode = '{mode}'", [])
    return store.jobs.get(rows[0][0]) if rows else None


def test_a_sync_execution_in_a_killed_server_is_failed_not_left_running(live_env, demo_meta):
    """`onemap serve` killed (SIGKILL) in the middle of a synchronous execution; a worker's next claim fails it."""
    import os
    import signal
    import threading
    import urllib.request

    from onemap.providers.store import open_store

    from .liveserver import serve_process
    from .test_cli import run
    from .test_processes_live import boundary_in

    store = open_store(live_env["ONEMAP_DATABASE_URL"])
    lock = _lock_layers(live_env["ONEMAP_DATABASE_URL"])
    try:
        with serve_process(live_env, workers=1) as (base, proc):
            body = json.dumps({"inputs": {"boundary": boundary_in(demo_meta), "land_use": "0701"}}).encode()
            req = urllib.request.Request(f"{base}{URL}", data=body, headers={"Content-Type": "application/json"})

            def execute() -> None:
                try:
                    urllib.request.urlopen(req, timeout=120).read()
                except OSError:
                    pass  # the server is killed under it

            threading.Thread(target=execute, daemon=True).start()
            job = eventually(lambda: _running(store, "sync"))
            assert job.worker and job.lease_until is not None
            # the lease is renewed while it runs (here: waiting on the locked tables)
            eventually(lambda: store.jobs.get(job.id).lease_until > job.lease_until + 0.5)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        lock.rollback()
        left = store.jobs.get(job.id)
        assert left.status == "running"  # nobody has looked yet
        time.sleep(max(0.0, left.lease_until - time.time()) + 0.2)
        p = run("worker", "--once", env=live_env)  # another process's claim cycle
        assert p.returncode == 0, p.stderr
        gone = store.jobs.get(job.id)
        assert gone.status == "failed" and gone.message == "the server process running it stopped", gone
        assert gone.finished is not None and gone.lease_until is None
    finally:
        lock.close()
        store.close()


def test_an_async_job_in_a_killed_worker_is_taken_back(live_env, demo_meta):
    """`onemap worker` killed (SIGKILL) in the middle of a job; another worker takes it back and runs it."""
    import os
    import signal

    from onemap.config.settings import Settings
    from onemap.processes import load_processors
    from onemap.processes.runner import JobRunner
    from onemap.providers.store import open_store

    from .liveserver import worker
    from .test_cli import run
    from .test_processes_live import boundary_in

    settings = Settings(data_dir=live_env["ONEMAP_DATA_DIR"], database_url=live_env["ONEMAP_DATABASE_URL"],
                        job_workers=0)
    store = open_store(settings.store_url)
    lock = _lock_layers(settings.store_url)
    try:
        runner = JobRunner(store, settings, load_processors(settings.store_url))
        job = runner.submit(runner.prepare("compliance-review", {"inputs": {"boundary": boundary_in(demo_meta),
                                                                            "land_use": "0701"}}))
        with worker(live_env) as w:
            claimed = eventually(lambda: _running(store, "async"))
            assert claimed.id == job.id and claimed.attempts == 1
            os.killpg(w.pid, signal.SIGKILL)
            w.wait(timeout=30)
        lock.rollback()
        left = store.jobs.get(job.id)
        assert left.status == "running"
        time.sleep(max(0.0, left.lease_until - time.time()) + 0.2)
        p = run("worker", "--once", env=live_env)  # requeued by its claim, and run there
        assert p.returncode == 0, p.stderr
        done = store.jobs.get(job.id)
        assert done.status == "successful" and done.attempts == 2, done
    finally:
        lock.close()
        store.close()
