"""Jobs: asynchronous execution, status, progress, results, dismissal, dead workers, limits,
retention. The job runner is driven step by step (as `onemap worker` drives it), on both backends."""

from __future__ import annotations

import json
import time

import pytest

from onemap.providers.store.jobs import JobStore

from . import handmap as hm

URL = "/processes/compliance-review/execution"
BODY = {"inputs": {"boundary": hm.geojson((117.015, 31.405, 117.025, 31.415)), "land_use": "1001"}}


@pytest.fixture(scope="module")
def quiet_app(hand_settings):
    """The hand-made map served with no job threads: jobs wait until the test runs them."""
    from onemap.server.app import create_app

    return create_app(hand_settings.model_copy(update={"job_workers": 0}))


@pytest.fixture()
def c(quiet_app):
    return quiet_app.test_client()


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
    c = app.test_client()
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
