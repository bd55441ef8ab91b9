"""A hostile network against a real `onemap serve` (nginx in front of gunicorn): slow clients and heavy
executions do not stop other clients' requests (bench/hostile.py measures the same, longer, and prints
the figures). What is asserted is that every probe is answered, not how fast."""

from __future__ import annotations

import shutil

import pytest

from bench.hostile import heavy_reviews, slow_clients

from .conftest import copy_store, pristine
from .liveserver import serve
from .test_processes_live import partner_token


@pytest.fixture(scope="module")
def data(demo_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    copy_store(pristine(demo_dir), d / "onemap.gpkg")
    shutil.copyfile(demo_dir / "dem.tif", d / "dem.tif")
    return d


def test_two_hundred_slow_connections_do_not_stop_the_server(data):
    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_TILE_CACHE": "false"}) as url:
        seen = slow_clients(url, connections=200, seconds=20)
    print("slow clients:", seen.summary())
    assert seen.answered >= 20 and seen.failed == 0, seen.summary()


def test_heavy_reviews_leave_a_worker_for_light_requests(data):
    auth = partner_token({"ONEMAP_DATA_DIR": str(data)})
    token = auth["Authorization"].removeprefix("Bearer ")
    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_TILE_CACHE": "false", "ONEMAP_HEAVY_SLOTS": "1"}) as url:
        seen, statuses = heavy_reviews(url, token, vertices=60_000)
    print("heavy reviews:", seen.summary(), statuses)
    # one review runs, the other finds the host's one slot taken: a 503 at once, never a held worker
    assert sorted(statuses) == [200, 503], statuses
    assert seen.failed == 0, seen.summary()


def test_methods_nginx_refuses_itself_say_what_the_path_takes(data):
    """nginx answers TRACE and CONNECT itself (a bare HTML 405): OneMap's answer comes through, a 405 with the
    path's methods in Allow (RFC 9110) and the API's JSON error."""
    import http.client
    import json
    import urllib.parse

    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_TILE_CACHE": "false"}) as url:
        host = urllib.parse.urlsplit(url).netloc
        for method in ("TRACE", "CONNECT"):
            for path, allowed in (("/collections/czkfbj/items", {"GET", "POST"}),
                                  ("/processes/compliance-review/execution", {"POST"}), ("/basemaps/service", {"GET"})):
                conn = http.client.HTTPConnection(host, timeout=30)
                conn.request(method, path)
                r = conn.getresponse()
                body = r.read()
                conn.close()
                assert r.status == 405, (method, path, r.status)
                assert allowed <= {m.strip() for m in (r.getheader("Allow") or "").split(",")}, (method, path)
                assert json.loads(body)["code"] == "InvalidRequest", (method, path, body[:200])
