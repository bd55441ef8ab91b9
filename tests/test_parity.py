"""Stock pygeoapi on `onemap config`'s output answers as `onemap serve` does.

Both servers run for real, side by side, on each backend: `onemap serve` (gunicorn) and
`pygeoapi serve` (pygeoapi's own Flask app) with OneMap's provider, processors and job
manager loaded from the generated configuration. The same requests go to both; features,
counts and process results must be the same.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml
from pyproj import Transformer

from .conftest import copy_store, free_port, pg_clone, pristine
from .liveserver import ONEMAP, _env, pygeoapi_serve, serve

C4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
C3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
# results that differ between two runs of one process: when and where they were archived
VOLATILE = {"recorded", "certificate", "href", "jobID", "created", "started", "finished", "updated"}


# bearer tokens of the servers that check callers (stock pygeoapi checks none: it is configured with
# the tiers its callers may see, `onemap config --tier`)
TOKENS: dict[str, str] = {}


def get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    headers = dict(headers or {})
    for base, token in TOKENS.items():
        if url.startswith(base + "/"):
            headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def features(doc: dict) -> list[tuple]:
    return [(f["id"], json.dumps(f["properties"], sort_keys=True, ensure_ascii=False),
             json.dumps(f.get("geometry"), sort_keys=True)) for f in doc["features"]]


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def servers(request, demo_dir, demo_meta, tmp_path_factory):
    """(onemap URL, pygeoapi URL, demo meta) over one copy of the demo on each backend."""
    data = tmp_path_factory.mktemp(f"parity-{request.param}")
    env = {"ONEMAP_DATA_DIR": str(data), "ONEMAP_TILE_CACHE": "false"}
    shutil.copyfile(demo_dir / "dem.tif", data / "dem.tif")
    if request.param == "gpkg":
        copy_store(pristine(demo_dir), data / "onemap.gpkg")
    else:
        pg = request.getfixturevalue("pg")
        env["ONEMAP_DATABASE_URL"] = pg_clone(pg, request.getfixturevalue("pg_template"))
    cfg_dir = data / "pygeoapi"
    port = free_port()
    out = subprocess.run([ONEMAP, "config", "--tier", "internal", "--out", str(cfg_dir)], env=_env(env | {
        "ONEMAP_PUBLIC_URL": f"http://127.0.0.1:{port}"}), capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    cfg_path = cfg_dir / "pygeoapi-config.yml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg["server"]["bind"] = {"host": "127.0.0.1", "port": port}  # the operator's choice of address
    cfg_path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for cmd in (["user", "add", "parity", "--role", "internal"], ["token", "create", "parity"]):
        made = subprocess.run([ONEMAP, *cmd], env=_env(env), capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stderr
    with serve(env) as ours, pygeoapi_serve(env, cfg_path, cfg_dir / "openapi.json") as stock:
        TOKENS[ours] = made.stdout.strip()
        yield ours, stock, demo_meta


def _gk_bbox(meta: dict) -> tuple[str, str]:
    """A box around the demo city in its Gauss-Krüger zone (projected metres, northing first)."""
    epsg = int(str(meta["projected_crs"]).rsplit(":", 1)[-1])
    lon, lat = meta["czkfbj_2023_only_point"]
    t = Transformer.from_crs(4490, epsg, always_xy=True)
    x0, y0 = t.transform(lon - 0.03, lat - 0.03)
    x1, y1 = t.transform(lon + 0.03, lat + 0.03)
    uri = f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"
    return uri, f"{min(y0, y1)},{min(x0, x1)},{max(y0, y1)},{max(x0, x1)}"  # CGCS2000 GK axes: northing, easting


def item_queries(meta: dict) -> list[str]:
    lon, lat = meta["czkfbj_2023_only_point"]
    box = f"{lon - 0.05},{lat - 0.05},{lon + 0.05},{lat + 0.05}"
    box_latlon = f"{lat - 0.05},{lon - 0.05},{lat + 0.05},{lon + 0.05}"
    poly = (f"POLYGON(({lon - 0.02} {lat - 0.02},{lon + 0.02} {lat - 0.02},{lon + 0.02} {lat + 0.02},"
            f"{lon - 0.02} {lat + 0.02},{lon - 0.02} {lat - 0.02}))")
    gk_uri, gk_box = _gk_bbox(meta)
    city = meta["city"]["code"]
    q = urllib.parse.quote
    return [
        "dltb/items?limit=5",
        "dltb/items?limit=50&offset=20",
        "dltb/items?limit=1000",
        f"dltb/items?bbox={box}&limit=200",
        f"dltb/items?bbox={box_latlon}&bbox-crs={q(C4490, safe='')}&limit=200",
        f"dltb/items?bbox={gk_box}&bbox-crs={q(gk_uri, safe='')}&limit=200",
        f"dltb/items?crs={q(gk_uri, safe='')}&limit=20",
        f"dltb/items?crs={q(C3857, safe='')}&limit=20",
        f"dltb/items?crs={q(C4490, safe='')}&limit=20",
        f"dltb/items?filter={q(chr(39).join(['DLBM=', '0101', '']))}&limit=100",
        f"dltb/items?filter={q('TBMJ > 50000')}&limit=100",
        f"dltb/items?filter={q(f'S_INTERSECTS(geometry,{poly})')}&limit=200",
        "dltb/items?DLBM=0101&limit=100",
        "dltb/items?sortby=-TBMJ&limit=10",
        "dltb/items?properties=DLBM,TBMJ&limit=10",
        "dltb/items?skipGeometry=true&limit=10",
        "dltb/items?after=100&limit=10",
        f"dltb/items?region={city}&limit=100",
        "czkfbj/items?limit=100",
        "czkfbj/items?datetime=2022-06-01&limit=100",
        "czkfbj/items?datetime=2021-01-01/2023-12-31&limit=100",
        "czkfbj/items?plan_id=990100-city-master-2021&limit=100",
        "czkfbj/items?view=governing&limit=100",
        f"czkfbj/items?view=governing&region={city}&limit=100",
        "czkfbj/items?recorded=2024-01-01&limit=100",
        "xzq/items?limit=100",
        "plans/items?limit=100",
        f"plans/items?region={city}&limit=100",
        "dltb/items/1",
        f"dltb/items/1?crs={q(gk_uri, safe='')}",
        "plans/items/990100-city-master-2021",
    ]


def test_items_are_the_same(servers):
    ours, stock, meta = servers
    queries = item_queries(meta)
    assert len(queries) >= 30
    for query in queries:
        sep = "&" if "?" in query else "?"
        s1, a = get(f"{ours}/collections/{query}{sep}f=json")
        s2, b = get(f"{stock}/collections/{query}{sep}f=json")
        assert s1 == s2 == 200, (query, s1, s2, a, b)
        if "features" in a:
            assert features(a) == features(b), query
            assert a["features"], f"{query}: an empty answer proves nothing"
            assert a.get("numberMatched") == b.get("numberMatched"), query
        else:
            assert (a["id"], a["properties"], a["geometry"]) == (b["id"], b["properties"], b["geometry"]), query


def test_cql2_json_body_is_the_same(servers):
    ours, stock, _ = servers
    body = json.dumps({"op": "=", "args": [{"property": "DLBM"}, "0101"]}).encode()
    results = []
    for base in (ours, stock):
        status, doc = get(f"{base}/collections/dltb/items?limit=100&f=json", data=body,
                          headers={"Content-Type": "application/query-cql-json"})
        assert status == 200, doc
        results.append(features(doc))
    assert results[0] == results[1] and results[0]


def test_mistakes_are_refused_by_both(servers):
    ours, stock, _ = servers
    for query in ("dltb/items?nope=1", "dltb/items?filter=NOPE%3D1", "czkfbj/items?view=sideways",
                  "dltb/items?region=abc", "dltb/items/999999999"):
        s1, _ = get(f"{ours}/collections/{query}&f=json" if "?" in query else f"{ours}/collections/{query}?f=json")
        s2, _ = get(f"{stock}/collections/{query}&f=json" if "?" in query else f"{stock}/collections/{query}?f=json")
        assert s1 == s2 and 400 <= s1 < 500, (query, s1, s2)


def _boundary(meta: dict) -> dict:
    lon, lat = meta["czkfbj_2023_only_point"]
    d = 0.003
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                                                [lon - d, lat + d], [lon - d, lat - d]]]}


def _executions(meta: dict) -> list[tuple[str, dict]]:
    boundary = _boundary(meta)
    return [
        ("compliance-review", {"inputs": {"boundary": boundary, "land_use": "1001"}}),
        ("compliance-review", {"inputs": {"boundary": boundary, "land_use": "0701", "date": "2022-06-01"}}),
        ("site-selection", {"inputs": {"area": "990102", "land_use": ["1001"], "min_area_m2": 20000}}),
        ("transmission-check", {"inputs": {"plan_id": "990121-county-master-2022"}}),
    ]


def test_sync_executions_give_the_same_results(servers):
    ours, stock, meta = servers
    for pid, body in _executions(meta):
        data = json.dumps(body).encode()
        s1, a = get(f"{ours}/processes/{pid}/execution", data, {"Content-Type": "application/json"})
        s2, b = get(f"{stock}/processes/{pid}/execution", data, {"Content-Type": "application/json"})
        assert s1 == s2 == 200, (pid, s1, s2, a, b)
        assert strip(a) == strip(b), pid


def _wait(base: str, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _, info = get(f"{base}/jobs/{job_id}?f=json")
        if info["status"] in ("successful", "failed", "dismissed"):
            return info
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_async_executions_give_the_same_results(servers):
    ours, stock, meta = servers
    pid, body = _executions(meta)[0]
    data = json.dumps(body).encode()
    results = []
    for base in (ours, stock):
        status, info = get(f"{base}/processes/{pid}/execution", data,
                           {"Content-Type": "application/json", "Prefer": "respond-async"})
        assert status == 201, info
        assert _wait(base, info["jobID"])["status"] == "successful"
        status, result = get(f"{base}/jobs/{info['jobID']}/results?f=json")
        assert status == 200, result
        results.append(strip(result))
    assert results[0] == results[1]


def test_invalid_inputs_are_a_400_from_both(servers):
    ours, stock, _ = servers
    data = json.dumps({"inputs": {"land_use": "1001"}}).encode()
    for base in (ours, stock):
        status, doc = get(f"{base}/processes/compliance-review/execution", data, {"Content-Type": "application/json"})
        assert status == 400 and "boundary" in doc["description"], doc
