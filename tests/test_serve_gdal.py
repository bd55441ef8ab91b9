"""`onemap serve` for real (gunicorn, first-start demo), read by GDAL's OAPIF driver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyogrio
import pytest

from .conftest import ROOT, Reference, free_port

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None,
                                reason="GDAL's command-line tools are installed by deploy/test.sh")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = dict(os.environ, ONEMAP_DATA_DIR=str(data), ONEMAP_DEMO_PARCELS="1500")
    env.pop("ONEMAP_PUBLIC_URL", None)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "onemap"), "serve", "--bind", f"127.0.0.1:{port}",
                             "--workers", "2"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # first start generates the demo region: bounded wait
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read().decode())
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("server did not come up")
        yield url, data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def expected_count(data: Path, layer: str) -> int:
    from onemap.providers.store.base import today

    ref = Reference(data / "onemap.gpkg")
    fids, _, _ = ref.features(layer, ref.in_force(today()))
    return len(fids)


def test_serve_prints_the_url_and_serves_json(server):
    url, _ = server
    with urllib.request.urlopen(url + "/collections/dltb/items?limit=2") as r:
        doc = json.loads(r.read())
    assert doc["features"] and doc["links"][0]["href"].startswith(url)


def test_ogrinfo_feature_count(server):
    url, data = server
    out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}/collections/dltb", "dltb"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count = [ln for ln in out.stdout.splitlines() if ln.startswith("Feature Count:")]
    assert count and int(count[0].split(":")[1]) == expected_count(data, "dltb")


def test_gdal_reads_the_whole_layer_once(server, tmp_path):
    url, data = server
    dst = tmp_path / "copy.gpkg"
    out = subprocess.run(["ogr2ogr", "-f", "GPKG", str(dst), f"OAPIF:{url}/collections/dltb", "dltb",
                          "-oo", "PAGE_SIZE=1000"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    meta, fids, geoms, fields = pyogrio.raw.read(dst, read_geometry=False, columns=["BSM"])
    bsm = list(fields[0])
    assert len(bsm) == expected_count(data, "dltb")
    assert len(set(bsm)) == len(bsm)
