"""The package installs: a wheel built from the checkout, installed into a fresh virtual environment
outside it, starts `onemap serve` on an empty data directory and serves the demo.

(`pip install .` builds the same wheel first.) An editable install hides files the package
forgets, which is why this test installs the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bench.common import stop_group, wait_http

from .conftest import ROOT, free_port


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``bin`` folder of a fresh virtual environment holding the wheel."""
    work = tmp_path_factory.mktemp("package")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=600, check=False, cwd=work)
    assert build.returncode == 0, build.stderr[-2000:]
    # setuptools warns about folders the configuration forgets: none may be left out
    assert "Warning" not in build.stdout + build.stderr, (build.stdout + build.stderr)[-3000:]
    wheel = next((work / "dist").glob("onemap-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=900, check=False, cwd=work)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return venv / "bin"


def test_the_wheel_carries_the_data_files(installed):
    code = ("import onemap.server.demo, importlib.resources as r;"
            "print(sorted(p.name for p in (r.files('onemap.tiles') / 'tms').iterdir()))")
    out = subprocess.run([str(installed / "python"), "-c", code], capture_output=True, text=True, timeout=60,
                         check=True, cwd="/")
    assert "CGCS2000Quad.json" in out.stdout
    site = subprocess.run([str(installed / "python"), "-c", ("import onemap.server, os; print(os.path.dirname("
                           "onemap.server.__file__))")], capture_output=True, text=True, timeout=60, check=True,
                          cwd="/").stdout.strip()
    assert str(ROOT) not in site  # the installed copy, not the checkout


def test_the_installed_server_starts_on_an_empty_data_dir(installed, tmp_path):
    data = tmp_path / "empty"
    data.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEMAP_", "PYTHON"))}
    env.update(ONEMAP_DATA_DIR=str(data), ONEMAP_DEMO_PARCELS="600")
    proc = subprocess.Popen([str(installed / "onemap"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc, 180)
        with urllib.request.urlopen(url + "/collections?f=json", timeout=30) as r:
            ids = [c["id"] for c in json.loads(r.read())["collections"]]
        assert {"czkfbj", "ghfq", "plans"} <= set(ids) and "stbhhx" not in ids  # anonymous: the public tier
        # the installed command line makes a user and a token the installed server accepts
        cli = {**env, "ONEMAP_DATA_DIR": str(data)}
        subprocess.run([str(installed / "onemap"), "user", "add", "staff", "--role", "internal"], env=cli,
                       cwd=tmp_path, check=True, capture_output=True, timeout=60)
        token = subprocess.run([str(installed / "onemap"), "token", "create", "staff"], env=cli, cwd=tmp_path,
                               check=True, capture_output=True, text=True, timeout=60).stdout.strip()
        auth = {"Authorization": f"Bearer {token}"}
        req = urllib.request.Request(url + "/collections?f=json", headers=auth)
        with urllib.request.urlopen(req, timeout=30) as r:
            ids = [c["id"] for c in json.loads(r.read())["collections"]]
        assert {"dltb", "czkfbj", "stbhhx", "yjjbnt", "plans"} <= set(ids)
        req = urllib.request.Request(url + "/collections/dltb/items?limit=3&f=json", headers=auth)
        with urllib.request.urlopen(req, timeout=30) as r:
            assert len(json.loads(r.read())["features"]) == 3
        for path in ("/map", "/static/onemap/map.js", "/tileMatrixSets/CGCS2000Quad", "/processes"):
            with urllib.request.urlopen(url + path, timeout=30) as r:
                assert r.status == 200, path
        assert (data / "onemap.gpkg").exists()
    finally:
        stop_group(proc)
