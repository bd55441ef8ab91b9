"""The side-by-side benchmark harness (bench/compare.py): URL dialects, the wrk script and its
parser, and one tiny end-to-end run against OneMap alone. No tipg or pygeoapi is installed here."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench import kinds as kindmod
from bench.kinds import NA
from bench.loadgen import Request, Result, combine, lua_script, parse_wrk, run_once, run_wrk

from .pgcluster import pg_bin

ROOT = Path(__file__).resolve().parent.parent
REGION = (116.6055, 31.2101, 117.3348, 31.7015)


@pytest.fixture(scope="module")
def built() -> dict[str, kindmod.Kind]:
    return {k.id: k for k in kindmod.build(5, REGION, (1_000_001, 2_000_000), tile_limit=10)}


def test_every_kind_has_a_url_per_server_or_a_reason(built):
    for kind in built.values():
        for server in ("onemap", "tipg", "pygeoapi"):
            reqs = kindmod.requests(kind, server)
            if isinstance(reqs, NA):
                assert reqs.reason
            else:
                assert reqs and all(r.path.startswith("/") for r in reqs)


def test_collection_ids_and_bbox_dialects(built):
    box = built["bbox"].params[0]
    one = kindmod.requests(built["bbox"], "onemap")[0].path
    tipg = kindmod.requests(built["bbox"], "tipg")[0].path
    pga = kindmod.requests(built["bbox"], "pygeoapi")[0].path
    assert one.startswith("/collections/dltb/items?limit=100&bbox=")
    assert tipg.startswith("/collections/bench.dltb/items?")
    # stock pygeoapi on SRID 4490 finds the parcels only with bbox-crs 4490, longitude first
    assert "bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490" in pga
    assert f"bbox={box[0]:.5f},{box[1]:.5f}" in pga


def test_crs_kind_is_na_for_tipg_and_processes_only_for_onemap(built):
    assert isinstance(kindmod.requests(built["bbox-crs"], "tipg"), NA)
    assert "crs=http://www.opengis.net/def/crs/EPSG/0/4490" in kindmod.requests(built["bbox-crs"], "onemap")[0].path
    for server in ("tipg", "pygeoapi"):
        assert isinstance(kindmod.requests(built["compliance"], server), NA)
        assert isinstance(kindmod.requests(built["wmts"], server), NA)
    post = kindmod.requests(built["compliance"], "onemap")[0]
    assert post.method == "POST" and json.loads(post.body)["inputs"]["boundary"]["type"] == "Polygon"


def test_tile_paths_follow_each_servers_axis_order(built):
    z, x, y = built["tile-z14-cold"].params[0]
    assert kindmod.requests(built["tile-z14-cold"], "onemap")[0].path == \
        f"/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}"
    assert kindmod.requests(built["tile-z14-cold"], "tipg")[0].path == \
        f"/collections/bench.dltb/tiles/WebMercatorQuad/{z}/{x}/{y}"
    assert kindmod.requests(built["tile-z14-cold"], "pygeoapi")[0].path == \
        f"/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"


def test_cql2_dialects(built):
    one = kindmod.requests(built["cql2"], "onemap")[0].path
    assert "filter=DLBM%3D%270101%27%20AND%20TBMJ%20%3E%201000" in one and "filter-lang" not in one
    assert "filter-lang=cql2-text" in kindmod.requests(built["cql2"], "tipg")[0].path
    assert "filter-lang=cql-text" in kindmod.requests(built["cql2"], "pygeoapi")[0].path


def test_tiles_are_distinct_and_nearest_the_centre_first():
    ts = kindmod.tiles(14, REGION, 30)
    assert len(ts) == len(set(ts)) == 30
    import morecantile

    c = morecantile.tms.get("WebMercatorQuad").tile(*kindmod.CENTER, 14)
    assert ts[0] == (14, c.x, c.y)


def test_parse_wrk_counts_only_2xx_in_the_rate():
    out = ("Running 2s test @ http://127.0.0.1:1\n"
           'WRK_RESULT {"requests": 200, "duration_us": 2000000, "bytes": 1000, "p50_us": 1500, "p90_us": 3000, '
           '"p99_us": 9000, "max_us": 12000, "mean_us": 2000.0, "non2xx": 20, "connect": 0, "read": 1, '
           '"write": 0, "timeout": 2}\n')
    r = parse_wrk(out, distinct=7)
    assert r.rps == pytest.approx(90.0)
    assert (r.p50_ms, r.p99_ms, r.non2xx, r.errors, r.distinct) == (1.5, 9.0, 20, 3, 7)
    none = parse_wrk(out.replace('"requests": 200', '"requests": 0').replace('"non2xx": 20', '"non2xx": 0'))
    assert none.rps == 0 and none.p50_ms != none.p50_ms  # NaN: nothing answered, no latency
    with pytest.raises(ValueError):
        parse_wrk("Running 2s test\n")


def _result(rps: float, seconds: float, p50: float, p99: float, non2xx: int = 0) -> Result:
    ok = round(rps * seconds)
    return Result(rps=rps, p50_ms=p50, p99_ms=p99, requests=ok + non2xx, non2xx=non2xx, errors=0,
                  seconds=seconds, tool="wrk", distinct=5, extra={"timeouts": 0, "bytes": 10 * ok, "max_ms": p99 * 2})


def test_combine_rates_over_the_summed_time_median_p50_and_worst_p99():
    r = combine([_result(100, 5, 10, 30), _result(200, 5, 5, 20, non2xx=4), _result(150, 10, 8, 50)])
    assert r.rps == pytest.approx((500 + 1000 + 1500) / 20)
    assert (r.p50_ms, r.p99_ms, r.requests, r.non2xx, r.seconds) == (8, 50, 3004, 4, 20)
    assert r.extra == {"timeouts": 0, "bytes": 30000, "max_ms": 100}
    with pytest.raises(ValueError):
        combine([])


def test_markdown_table_escapes_pipes():
    from bench.common import markdown_table

    assert markdown_table([["a|b", " 1 "]], ["kind", "n"]).splitlines() == ["| kind | n |", "| --- | --- |",
                                                                           "| a\\|b | 1 |"]


def test_crs_kind_is_paired_with_the_same_request_without_crs(built):
    assert built["bbox-crs"].paired_with == "bbox" and built["bbox-crs"].params == built["bbox"].params
    assert all(k.paired_with is None for k in built.values() if k.id != "bbox-crs")


def test_lua_script_quotes_bodies_that_contain_long_brackets():
    body = json.dumps({"coordinates": [[[1, 2]]]}).replace(" ", "").encode()
    script = lua_script([Request("/a?x=1"), Request("/p", "POST", body, "application/json")],
                        {"Accept-Encoding": "gzip"})
    assert "[=[" + body.decode() + "]=]" in script
    assert "[ [[Content-Type]] ] = [[application/json]]" in script


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        status = 404 if self.path.startswith("/missing") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def tiny_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (deploy/system-packages.sh wrk)")
def test_wrk_runs_the_script_and_counts_non_2xx(tiny_server):
    reqs = [Request("/a"), Request("/missing"), Request("/p", "POST", b'{"a":[[1]]}', "application/json")]
    r = run_wrk(tiny_server, reqs, duration=1, connections=2, threads=1)
    assert r.requests > 10
    assert 0 < r.non2xx < r.requests  # one request in three is a 404
    assert r.rps < r.requests / r.seconds


def test_run_once_sends_each_request_once(tiny_server):
    r = run_once(tiny_server, [Request(f"/t/{i}") for i in range(12)] + [Request("/missing")], connections=3)
    assert (r.requests, r.non2xx, r.errors) == (13, 1, 0)


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL 15 is not installed (deploy/system-packages.sh)")
def test_compare_end_to_end_against_onemap_alone(tmp_path):
    kinds = "bbox,bbox-crs,cql2,deep,item,tile-z14-cold,tile-z14-cached,compliance"
    r = subprocess.run([sys.executable, "-m", "bench.compare", "--parcels", "2000", "--duration", "2",
                        "--servers", "onemap", "--kinds", kinds, "--requests", "5", "--tiles", "5",
                        "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "onemap (req/s p50/p99)" in out and "start-up to first 200 (s)" in out
    for title in ("items, bbox ~1 km, limit 100", "single item by id", "MVT z14 cold", "compliance review"):
        line = next(ln for ln in out.splitlines() if ln.startswith(title))
        assert "n/a" not in line and "none answered" not in line, line
    doc = json.loads((tmp_path / "compare-2000.json").read_text())
    one = doc["servers"]["onemap"]
    assert one["startup_s"] > 0 and one["memory"]["rss_mib"] > 0
    assert set(one["kinds"]) == set(kinds.split(","))
    assert one["kinds"]["bbox"]["rps"] > 0 and one["kinds"]["bbox"]["non2xx"] == 0
    # crs is timed in rounds alternated with bbox, and its share of bbox is in the table
    paired = one["kinds"]["bbox-crs"]["paired"]
    assert paired["with"] == "bbox" and paired["rounds"] == 6 and paired["reference_rps"] > 0
    assert paired["ratio"] == pytest.approx(one["kinds"]["bbox-crs"]["rps"] / paired["reference_rps"], rel=0.01)
    assert one["kinds"]["bbox-crs"]["seconds"] == pytest.approx(6 * 1, abs=1.5)  # six rounds of duration/3 (>= 1 s)
    share = next(ln for ln in out.splitlines() if ln.startswith("  as a share of bbox"))
    assert f"{paired['ratio']:.2f}x of" in share
    # the README's table is printed from the results file, without running anything
    md = subprocess.run([sys.executable, "-m", "bench.compare", "--markdown", str(tmp_path / "compare-2000.json")],
                        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "| request kind | onemap (req/s p50/p99) |" in md
    assert "| as a share of bbox (alternated rounds) | " + f"{paired['ratio']:.2f}x of" in md


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL 15 is not installed (deploy/system-packages.sh)")
def test_statistics_bench_end_to_end(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench.statistics", "--parcels", "2000", "--rounds", "1",
                        "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    report = (tmp_path / "statistics-2000.txt").read_text(encoding="utf-8")
    assert report.strip() in r.stdout
    # OneMap's rows matched every SQL variant's (else the bench stops before timing anything)
    for label in ("OneMap statistics() in process", "psql: SUM(onemap_m2), entries in force named",
                  "psql: SUM(ST_Area(geom::geography))", "HTTP, cold", "HTTP, warm", "onemap serve: each process",
                  "OneMap over HTTP: GET /collections/dltb/statistics", "1b. /map's statistics panel over a view",
                  "OneMap over HTTP: GET ...statistics?bbox="):
        assert label in report
    assert "2. The indicator set of 990121 on 2024-01-01: " in report


@pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL 15 is not installed (deploy/system-packages.sh)")
def test_change_detection_bench_end_to_end(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench.change_detection", "--parcels", "2000", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    report = (tmp_path / "change-detection-2000.txt").read_text(encoding="utf-8")
    assert report.strip() in r.stdout
    # the job's findings matched the in-process run's (else the bench stops before its report)
    for label in ("in process (ChangeDetector.run)", "async job of onemap serve", "construction_in_red_line",
                  "the job's progress as polled"):
        assert label in report
