"""The onemap command line: commands work, mistakes are one sentence (no traceback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import ROOT, copy_store, pristine

ONEMAP = str(Path(sys.executable).parent / "onemap")


def run(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("ONEMAP_DEBUG", None)
    e.update(env or {})
    return subprocess.run([ONEMAP, *args], capture_output=True, text=True, env=e, timeout=timeout, cwd=ROOT,
                          check=False)


def one_sentence_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("onemap: error: "), p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


def test_help():
    p = run("--help")
    assert p.returncode == 0 and "serve" in p.stdout and "demo" in p.stdout


def test_demo_argument_errors(tmp_path):
    one_sentence_error(run("demo", "--parcels", "10", "--out", str(tmp_path / "x.gpkg")))
    one_sentence_error(run("demo", "--out", str(tmp_path / "x.txt")))


def test_demo_writes_a_geopackage_gdal_can_read(tmp_path):
    out = tmp_path / "region.gpkg"
    p = run("demo", "--parcels", "800", "--seed", "3", "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    assert "demo region written" in p.stdout
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert {"dltb", "xzq", "czkfbj", "plans"} <= layers
    assert pyogrio.read_info(out, layer="dltb")["crs"] == "EPSG:4490"


def test_serve_argument_errors(tmp_path):
    one_sentence_error(run("serve", "--bind", "nonsense", env={"ONEMAP_DATA_DIR": str(tmp_path)}))
    one_sentence_error(run("serve", "--workers", "0", env={"ONEMAP_DATA_DIR": str(tmp_path)}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        msg = one_sentence_error(run("serve", "--bind", f"127.0.0.1:{port}",
                                     env={"ONEMAP_DATA_DIR": str(tmp_path)}))
    assert "in use" in msg


def test_bad_setting_is_one_sentence(tmp_path):
    msg = one_sentence_error(run("config", "validate", env={"ONEMAP_DEFAULT_ITEMS": "50000",
                                                            "ONEMAP_MAX_ITEMS": "10"}))
    assert "ONEMAP_DEFAULT_ITEMS" in msg


def test_config_validate_and_broken_catalogue(tmp_path):
    p = run("config", "validate")
    assert p.returncode == 0 and "catalogue OK" in p.stdout
    bad = tmp_path / "catalogue.yaml"
    text = (ROOT / "config" / "catalogue.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("code_table: sandiao_dlbm", "code_table: no_such_table"), encoding="utf-8")
    msg = one_sentence_error(run("config", "validate", env={"ONEMAP_CATALOGUE": str(bad)}))
    assert "no_such_table" in msg


def test_config_validate_reports_a_layer_listed_twice(tmp_path):
    doc = yaml.safe_load((ROOT / "config" / "catalogue.yaml").read_text(encoding="utf-8"))
    twin = dict(next(lyr for lyr in doc["layers"] if lyr["id"] == "ghfq"))
    twin.update(table_code="GHFQ_TWIN", bsm_segment=None)  # only the id is the same
    doc["layers"].append(twin)
    bad = tmp_path / "catalogue.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    msg = one_sentence_error(run("config", "validate", env={"ONEMAP_CATALOGUE": str(bad)}))
    assert "ghfq" in msg and "more than once" in msg


def test_config_validate_reports_a_broken_compliance_rule_file(tmp_path):
    doc = yaml.safe_load((ROOT / "config" / "compliance_rules.yaml").read_text(encoding="utf-8"))
    doc["checks"][0]["layer"] = "no_such_layer"
    bad = tmp_path / "rules.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    msg = one_sentence_error(run("config", "validate", env={"ONEMAP_COMPLIANCE_RULES": str(bad)}))
    assert "no_such_layer" in msg and str(tmp_path) not in msg
    p = run("config", "validate")
    assert p.returncode == 0 and "process rules OK" in p.stdout


def test_config_writes_pygeoapi_config_and_openapi(tmp_path, demo_dir):
    out = tmp_path / "cfg"
    p = run("config", "--out", str(out), env={"ONEMAP_DATA_DIR": str(demo_dir)})
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load((out / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    # stock pygeoapi checks no credentials: by default the configuration holds the public tier only
    assert "czkfbj" in cfg["resources"] and "dltb" not in cfg["resources"] and "stbhhx" not in cfg["resources"]
    assert cfg["resources"]["czkfbj"]["providers"][0]["name"].endswith("OneMapFeatureProvider")
    oas = json.loads((out / "openapi.json").read_text(encoding="utf-8"))
    assert oas["openapi"].startswith("3.0") and "/collections/dltb/items" not in oas["paths"]
    inside = tmp_path / "internal"
    p = run("config", "--out", str(inside), "--tier", "internal", env={"ONEMAP_DATA_DIR": str(demo_dir)})
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load((inside / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    assert {"dltb", "stbhhx", "compliance-review", "plan-qc"} <= set(cfg["resources"])


def test_config_without_a_store_is_one_sentence(tmp_path):
    msg = one_sentence_error(run("config", "--out", str(tmp_path / "o"), env={"ONEMAP_DATA_DIR": str(tmp_path)}))
    assert "onemap demo" in msg


def _copy_demo(demo_dir: Path, to: Path) -> dict:
    import shutil

    copy_store(pristine(demo_dir), to / "onemap.gpkg")
    shutil.copyfile(demo_dir / "dem.tif", to / "dem.tif")
    return {"ONEMAP_DATA_DIR": str(to)}


def test_seed_fills_both_tile_grids(tmp_path, demo_dir):
    env = _copy_demo(demo_dir, tmp_path)
    p = run("seed", "--levels", "0-6", "--quiet", env=env)
    assert p.returncode == 0, p.stderr
    assert "seeded basemap at levels 0-6" in p.stdout
    cache = tmp_path / "mapproxy" / "cache" / "basemap"
    for grid in ("WebMercatorQuad", "CGCS2000Quad"):
        assert any(f.is_file() for f in (cache / grid).rglob("*")), grid


def test_seed_argument_errors(tmp_path, demo_dir):
    env = _copy_demo(demo_dir, tmp_path)
    assert "--levels" in one_sentence_error(run("seed", "--levels", "three", env=env))
    assert "FIRST <= LAST" in one_sentence_error(run("seed", "--levels", "9-3", env=env))
    assert "--bbox" in one_sentence_error(run("seed", "--bbox", "1,2,3", env=env))
    assert "nope" in one_sentence_error(run("seed", "--layer", "nope", "--levels", "0-1", env=env))
    assert "schema" in one_sentence_error(run("seed", env={"ONEMAP_DATA_DIR": str(tmp_path / "empty")}))


def test_worker_once_runs_the_waiting_jobs(tmp_path, demo_dir, demo_meta):
    from onemap.config.settings import Settings
    from onemap.processes import load_processors
    from onemap.processes.runner import JobRunner
    from onemap.providers.store import open_store

    env = _copy_demo(demo_dir, tmp_path)
    settings = Settings(data_dir=tmp_path, job_workers=0)  # no job thread here: the worker must run it
    store = open_store(settings.store_url)
    try:
        store.ensure_schema()
        runner = JobRunner(store, settings, load_processors(settings.store_url))
        lon, lat = demo_meta["czkfbj_2023_only_point"]
        square = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.002, lat], [lon + 0.002, lat + 0.002],
                                                      [lon, lat + 0.002], [lon, lat]]]}
        job = runner.submit(runner.prepare("compliance-review", {"inputs": {"boundary": square,
                                                                            "land_use": "0701"}}))
    finally:
        store.close()
    p = run("worker", "--once", env=env)
    assert p.returncode == 0, p.stderr
    store = open_store(settings.store_url)
    try:

        done = store.jobs.get(job.id)
        assert done.status == "successful" and done.progress == 100
    finally:
        store.close()
    assert "--threads" in one_sentence_error(run("worker", "--threads", "0", env=env))


def test_concurrent_loads_of_one_version_write_it_once(fresh_settings, tmp_path):
    """N `onemap load` processes started at once on the same drawer version: one loads it, the others
    are refused with one sentence and write nothing; its features are stored once."""
    from onemap.providers.store import open_store

    from .test_packages import COUNTY, NEW, exported, state

    url = fresh_settings.store_url
    store = open_store(url)
    try:
        package = exported(store, tmp_path)
        held = {layer: n for layer, (n, _) in store.plan_layers(COUNTY).items()}
    finally:
        store.close()
    before = state(url)
    env = {"ONEMAP_DATA_DIR": str(fresh_settings.data_dir)}
    if fresh_settings.backend == "postgis":
        env["ONEMAP_DATABASE_URL"] = url
    e = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")} | env
    args = [ONEMAP, "load", str(package), "--region", "990121", "--level", "county", "--type", "master",
            "--version", "2024"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT)
             for _ in range(4)]
    done = [subprocess.CompletedProcess(p.args, p.wait(timeout=300), *p.communicate()) for p in procs]
    loaded = [p for p in done if p.returncode == 0]
    assert len(loaded) == 1, [(p.returncode, p.stderr) for p in done]
    for p in done:
        if p.returncode != 0:
            assert "already exists" in one_sentence_error(p) and NEW in p.stderr
    after = state(url)
    assert after["plans"][NEW][0] == "submitted"
    assert after["counts"]["plans"] == before["counts"]["plans"] + 1
    assert after["counts"]["plan_events"] == before["counts"]["plan_events"] + 1
    for layer, n in before["counts"].items():
        if layer not in ("plans", "plan_events"):
            assert after["counts"][layer] == n + held.get(layer, 0), layer
