"""The processes through a real client: OWSLib against `onemap serve` (gunicorn), sync and async;
and a job run by a separate `onemap worker` process sharing the PostGIS database."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import pytest
from owslib.ogcapi.processes import Processes

from .conftest import copy_store, pg_clone, pristine
from .liveserver import serve, worker

SQUARE = {"type": "Polygon", "coordinates": [[[117.0, 31.4], [117.01, 31.4], [117.01, 31.41], [117.0, 31.4]]]}


def boundary_in(demo_meta: dict) -> dict:
    """A 600 m square around a point the demo knows to be inside the 2023 urban boundary."""
    lon, lat = demo_meta["czkfbj_2023_only_point"]
    d = 0.003
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                                                [lon - d, lat + d], [lon - d, lat - d]]]}


def wait_for(p: Processes, job_id: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        info = p._request(path=f"jobs/{job_id}")
        seen.append((info["status"], info["progress"]))
        if info["status"] in ("successful", "failed", "dismissed"):
            return info
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {seen[-5:]}")


# a partner system's token (the processes here are partner-tier), sent by OWSLib with every request
AUTH: dict[str, str] = {}


def partner_token(env: dict[str, str]) -> dict[str, str]:
    """A partner user and its token, made with the CLI on the store ``env`` names; the header to send."""
    from .test_cli import run

    name = f"partner-{time.time_ns()}"
    assert run("user", "add", name, "--role", "partner", env=env).returncode == 0
    made = run("token", "create", name, env=env)
    assert made.returncode == 0, made.stderr
    return {"Authorization": f"Bearer {made.stdout.strip()}"}


@pytest.fixture(scope="module")
def server(demo_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("procs")
    copy_store(pristine(demo_dir), data / "onemap.gpkg")
    shutil.copyfile(demo_dir / "dem.tif", data / "dem.tif")
    AUTH.update(partner_token({"ONEMAP_DATA_DIR": str(data)}))
    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_TILE_CACHE": "false"}) as url:
        yield url


def test_owslib_lists_and_describes_the_processes(server):
    p = Processes(server, headers=AUTH)
    ids = {proc["id"] for proc in p.processes()}
    assert {"compliance-review", "site-selection"} <= ids
    desc = p.process("compliance-review")
    assert {"boundary", "land_use", "date"} <= set(desc["inputs"])
    assert "sync-execute" in desc["jobControlOptions"] and "async-execute" in desc["jobControlOptions"]


def test_owslib_executes_compliance_review_sync(server, demo_meta):
    p = Processes(server, headers=AUTH)
    out = p.execute("compliance-review", inputs={"boundary": boundary_in(demo_meta), "land_use": "1001"})
    result = out["result"]
    assert result["overall"]["result"] in ("pass", "conditional", "fail")
    czk = next(c for c in result["checks"] if c["id"] == "urban_development_boundary")
    assert czk["overlap"]["share"] > 0.99  # the point lies inside the 2023 boundary
    before = p.execute("compliance-review", inputs={"boundary": boundary_in(demo_meta), "land_use": "1001",
                                                    "date": "2022-06-01"})["result"]
    czk21 = next(c for c in before["checks"] if c["id"] == "urban_development_boundary")
    assert czk21["overlap"]["share"] < czk["overlap"]["share"]


def test_owslib_executes_site_selection_sync(server):
    p = Processes(server, headers=AUTH)
    out = p.execute("site-selection", inputs={"area": "990100", "land_use": ["07"], "min_area_m2": 5000})
    sites = out["sites"]
    assert sites["type"] == "FeatureCollection" and sites["features"]


@pytest.mark.parametrize("process, inputs, output", [
    ("compliance-review", None, "result"),
    ("site-selection", {"area": "990102", "land_use": ["1001", "07"], "min_area_m2": 5000}, "sites"),
])
def test_owslib_executes_async_and_polls_the_job(process, inputs, output, server, demo_meta):
    p = Processes(server, headers=AUTH)
    inputs = inputs or {"boundary": boundary_in(demo_meta), "land_use": "0701"}
    info = p.execute(process, inputs=inputs, async_=True)
    assert info["status"] in ("accepted", "running", "successful")
    assert p.response_headers["Location"].endswith(info["jobID"])
    done = wait_for(p, info["jobID"])
    assert done["status"] == "successful" and done["progress"] == 100, done
    results = p._request(path=f"jobs/{info['jobID']}/results")
    assert output in results
    sync = Processes(server, headers=AUTH).execute(process, inputs=inputs)
    if output == "result":
        assert results["result"]["checks"] == sync["result"]["checks"]
    else:
        assert results["sites"]["features"] == sync["sites"]["features"]


def test_a_failed_input_through_owslib_is_a_clear_error(server):
    p = Processes(server, headers=AUTH)
    with pytest.raises(RuntimeError, match="land_use"):
        p.execute("compliance-review", inputs={"boundary": SQUARE})


def test_a_separate_worker_process_runs_the_jobs(pg, pg_template, demo_dir, demo_meta, tmp_path):
    """The web server runs no jobs; `onemap worker` (as on another machine) takes them from PostGIS."""
    url = pg_clone(pg, pg_template)
    shutil.copyfile(demo_dir / "dem.tif", tmp_path / "dem.tif")
    env = {"ONEMAP_DATABASE_URL": url, "ONEMAP_DATA_DIR": str(tmp_path), "ONEMAP_JOB_WORKERS": "0",
           "ONEMAP_TILE_CACHE": "false"}
    auth = partner_token(env)
    with serve(env) as base:
        p = Processes(base, headers=auth)
        info = p.execute("compliance-review", inputs={"boundary": boundary_in(demo_meta), "land_use": "0701"},
                         async_=True)
        time.sleep(1.0)
        assert p._request(path=f"jobs/{info['jobID']}")["status"] == "accepted"  # nobody runs it yet
        with worker({**env, "ONEMAP_DATA_DIR": str(tmp_path / "elsewhere")}) as w:
            done = wait_for(p, info["jobID"])
            assert w.poll() is None
        assert done["status"] == "successful", done
        assert w.returncode == 0  # SIGTERM: a clean stop
        with urllib.request.urlopen(urllib.request.Request(f"{base}/jobs/{info['jobID']}/results",
                                                           headers=auth)) as r:
            assert json.loads(r.read())["result"]["overall"]["result"] in ("pass", "conditional", "fail")
