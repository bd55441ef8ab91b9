"""The onemap command line: commands work, mistakes are one sentence (no traceback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import ROOT

ONEMAP = str(Path(sys.executable).parent / "onemap")


def run(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("ONEMAP_DEBUG", None)
    e.update(env or {})
    return subprocess.run([ONEMAP, *args], capture_output=True, text=True, env=e, timeout=timeout, cwd=ROOT)


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


def test_config_writes_pygeoapi_config_and_openapi(tmp_path, demo_dir):
    out = tmp_path / "cfg"
    p = run("config", "--out", str(out), env={"ONEMAP_DATA_DIR": str(demo_dir)})
    assert p.returncode == 0, p.stderr
    cfg = yaml.safe_load((out / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    assert "dltb" in cfg["resources"]
    assert cfg["resources"]["dltb"]["providers"][0]["name"].endswith("OneMapFeatureProvider")
    oas = json.loads((out / "openapi.json").read_text(encoding="utf-8"))
    assert oas["openapi"].startswith("3.0")


def test_config_without_a_store_is_one_sentence(tmp_path):
    msg = one_sentence_error(run("config", "--out", str(tmp_path / "o"), env={"ONEMAP_DATA_DIR": str(tmp_path)}))
    assert "onemap demo" in msg
