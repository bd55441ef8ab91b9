"""The web map: /map, its style (/styles/onemap), the vendored MapLibre, and a real browser.

The browser test starts ``onemap serve`` and drives Debian's Chromium with puppeteer-core
(tests/browser/map_check.mjs; software WebGL through SwiftShader). It is skipped only when
Chromium or Node.js is missing and ONEMAP_REQUIRE_BROWSER is unset; deploy/test.sh installs
both and sets it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pytest
import requests

from .conftest import ROOT, Reference, get_json

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CENTRAL = (117.066, 31.483)  # the demo's central city
VENDOR = "/static/onemap/vendor/maplibre-gl"
INDICATOR = "JSYDZMJ"  # 建设用地总面积: the demo's city plan sets county targets the 2023 survey meets, nears and breaks
INDICATOR_DAY = "2024-01-01"


def _match(expr: list, code: str) -> str:
    """The output of a MapLibre ``match`` expression for one input value."""
    assert expr[0] == "match"
    pairs = expr[2:-1]
    for labels, out in zip(pairs[::2], pairs[1::2]):
        if code == labels or (isinstance(labels, list) and code in labels):
            return out
    return expr[-1]


def _style_layers(style: dict, collection: str) -> dict[str, dict]:
    return {sl["metadata"]["onemap:role"]: sl for sl in style["layers"]
            if sl.get("metadata", {}).get("onemap:collection") == collection}


def _config(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="onemap-config">(.*?)</script>', html, re.DOTALL)
    assert m, "the page embeds its configuration"
    return json.loads(m.group(1))


# ---- the page and its files ----------------------------------------------------------------------
def test_map_page(anonymous, client):
    r = client.get("/map")
    assert r.status_code == 200 and r.mimetype == "text/html"
    # the public page and style any portal may embed; a signed-in answer is private to its caller
    assert anonymous.get(r.request.path).headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in r.headers
    html = r.data.decode("utf-8")
    assert '<html lang="zh-CN">' in html and "图层" in html and 'type="date"' in html
    # everything the page loads comes from this server
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("http://testserver/") or u == "data:," for u in urls), urls
    assert f"http://testserver{VENDOR}/maplibre-gl.css" in urls
    config = _config(html)
    assert config["styleUrl"] == "http://testserver/styles/onemap"
    assert config["tilesUrl"] == "http://testserver/tiles/WebMercatorQuad/{z}/{y}/{x}"
    lon0, lat0, lon1, lat1 = config["bounds"]
    assert lon0 < CENTRAL[0] < lon1 and lat0 < CENTRAL[1] < lat1
    dltb = {f["name"]: f for f in config["fields"]["dltb"]}
    assert dltb["DLBM"]["title"] == "地类编码" and dltb["DLBM"]["label_field"] == "DLMC"
    assert dltb["CZCSXM"]["codes"]["201"] == "城市"  # coded field without a label field: labels travel along
    assert "plans" not in config["fields"]  # the registry has no tiles


def test_map_page_offers_what_the_caller_may_read(anonymous, client, om):
    staff = _config(client.get("/map").data.decode("utf-8"))
    public = _config(anonymous.get("/map").data.decode("utf-8"))
    # the indicators of /indicators, for each caller
    for cfg, who in ((staff, client), (public, anonymous)):
        listed = get_json(who, "/indicators")["indicators"]
        assert [d["code"] for d in cfg["indicators"]] == [d["code"] for d in listed]
        assert all(d["levels"] and set(d["levels"]) <= {"province", "city", "county", "township"}
                   for d in cfg["indicators"])
    assert {"GDBYL", "STBHHXMJ"} <= {d["code"] for d in staff["indicators"]}
    assert "STBHHXMJ" not in {d["code"] for d in public["indicators"]}  # the red line is not public
    assert staff["indicatorsUrl"] == "http://testserver/collections/indicators/items"
    # the compare mode for a caller who may run the compare process (signed in), not for the public page
    assert staff["compare"]["url"] == "http://testserver/processes/compare/execution" and public["compare"] is None
    # the statistics panel: the drawer layers the caller reads, grouped by their coded fields and regions
    layers = {x["id"]: x for x in staff["statistics"]}
    assert "dltb" in layers and "plans" not in layers and "dltb" not in {x["id"] for x in public["statistics"]}
    keys = [g["key"] for g in layers["dltb"]["groups"]]
    assert keys[0] == "DLBM" and "DLMC" not in keys and keys[-2:] == ["region:county", "region:township"]
    for lid, layer in layers.items():
        for g in layer["groups"]:
            assert client.get(f"/collections/{lid}/statistics?group_by={g['key']}&bbox=117.0,31.4,117.1,31.5"
                              ).status_code == 200, (lid, g)


def test_map_page_date_and_escaping(client):
    html = client.get("/map?datetime=2022-06-01").data.decode("utf-8")
    assert 'value="2022-06-01"' in html
    assert _config(html)["datetime"] == "2022-06-01"
    script = re.search(r'id="onemap-config">(.*?)</script>', html, re.DOTALL).group(1)
    assert "<" not in script
    r = client.get("/map?datetime=%3Cscript%3E")
    assert r.status_code == 400 and b"<script>" not in r.data
    assert client.get("/map?nope=1").status_code == 400


def test_page_script_and_maplibre_are_served(anonymous):
    js = anonymous.get("/static/onemap/map.js")
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert b'from "./vendor/maplibre-gl/maplibre-gl.mjs"' in js.data
    assert b"window.onemapMap" in js.data
    css = anonymous.get("/static/onemap/map.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    lib = anonymous.get(f"{VENDOR}/maplibre-gl.mjs")
    assert lib.status_code == 200 and lib.mimetype == "text/javascript"
    assert b"MapLibre GL JS" in lib.data[:200] and lib.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in lib.headers.get("Cache-Control", "")
    # MapLibre 6 starts its worker from the file next to it
    worker = anonymous.get(f"{VENDOR}/maplibre-gl-worker.mjs")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript" and len(worker.data) > 100_000
    ml_css = anonymous.get(f"{VENDOR}/maplibre-gl.css")
    assert ml_css.status_code == 200 and ml_css.mimetype == "text/css"
    assert not re.search(rb"url\(\s*['\"]?https?:", ml_css.data)
    lic = anonymous.get(f"{VENDOR}/LICENSE.txt")
    assert lic.status_code == 200 and b"MapLibre contributors" in lic.data
    assert anonymous.get("/static/onemap/../app.py").status_code == 404
    assert anonymous.get("/static/onemap/nope.js").status_code == 404
    # pygeoapi's own static files are still where they were
    assert anonymous.get("/static/css/default.css").status_code == 200


@pytest.mark.parametrize("path", ["/static/onemap/%00x.js", "/static/onemap/map.js%00", "/static/onemap/vendor/%00",
                                  "/static/%00", "/static/css/%00default.css", "/static/css/default.css%00.js"])
def test_a_nul_in_a_static_path_is_a_404(client, path):
    r = client.get(path)
    assert r.status_code == 404, r.data[:300]
    assert r.get_json()["code"] == "NotFound"


# ---- the style ----------------------------------------------------------------------------------------
def test_style_document(anonymous, client, om):
    r = client.get("/styles/onemap")
    assert r.status_code == 200 and r.mimetype == "application/json"
    # the public page and style any portal may embed; a signed-in answer is private to its caller
    assert anonymous.get(r.request.path).headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in r.headers
    style = json.loads(r.data)
    assert style["version"] == 8
    src = style["sources"]["onemap"]
    assert src["type"] == "vector"
    assert src["tiles"] == ["http://testserver/tiles/WebMercatorQuad/{z}/{y}/{x}?view=governing"]  # the governing view
    assert src["bounds"][0] < CENTRAL[0] < src["bounds"][2]
    # nothing that would make MapLibre fetch glyphs or sprites from anywhere
    assert "glyphs" not in style and "sprite" not in style
    assert not [sl for sl in style["layers"] if sl["type"] == "symbol"]
    # every layer the caller reaches is styled (an admin: all), with its Chinese title in the metadata;
    # an anonymous caller's style holds the public tier only
    public = list(om.catalogue.layers.values())
    entries = {e["id"]: e for e in style["metadata"]["onemap:layers"]}
    assert set(entries) == {layer.id for layer in public}
    anon = json.loads(anonymous.get("/styles/onemap").data)
    assert {e["id"] for e in anon["metadata"]["onemap:layers"]} == {
        layer.id for layer in public if layer.tier == "public"}
    for layer in public:
        sls = _style_layers(style, layer.id)
        assert sls, layer.id
        assert all(sl["source-layer"] == layer.id and sl["metadata"]["onemap:title"] == layer.t("title", "zh")
                   for sl in sls.values())
        assert entries[layer.id]["title"] == layer.t("title", "zh")
        assert set(entries[layer.id]["layers"]) == {sl["id"] for sl in sls.values()}
    cats = [c["title"] for c in style["metadata"]["onemap:categories"]]
    assert cats == ["现状", "规划", "控制线", "实施管理"]  # the 批供用补查 registers are management layers
    ids = [sl["id"] for sl in style["layers"]]
    assert len(ids) == len(set(ids))
    # survey at the bottom, plans and control lines above it, boundaries on top
    assert ids[0] == "background"
    assert ids.index("dltb-fill") < ids.index("ghfq-fill") < ids.index("stbhhx-fill") < ids.index("xzq-line")
    assert ids[-1] == "xzq-line"


def test_style_colours_follow_the_codes(client):
    style = get_json(client, "/styles/onemap")
    dltb = _style_layers(style, "dltb")["fill"]["paint"]["fill-color"]
    yellow, green, blue = _match(dltb, "0101"), _match(dltb, "0301"), _match(dltb, "1101")
    assert yellow == _match(dltb, "0103") and green == _match(dltb, "0307K") and blue == _match(dltb, "1104A")
    assert len({yellow, green, blue, _match(dltb, "0701"), _match(dltb, "1004")}) == 5
    for hexcolor, (r_min, g_min, b_min, r_max, g_max, b_max) in {
            yellow: (200, 200, 0, 255, 255, 150), green: (0, 100, 0, 120, 200, 120),
            blue: (0, 100, 180, 150, 200, 255), _match(dltb, "0701"): (200, 0, 0, 255, 160, 160)}.items():
        rgb = tuple(int(hexcolor[i:i + 2], 16) for i in (1, 3, 5))
        assert all(lo <= v <= hi for v, lo, hi in zip(rgb, (r_min, g_min, b_min), (r_max, g_max, b_max))), hexcolor
    assert _match(dltb, "1106") == _match(dltb, "00")  # inland tidal flats are 湿地 in the 三调 grouping
    # planned land use: per edition, by the top-level class
    ydyh = _style_layers(style, "zxcqghydyh")["fill"]["paint"]["fill-color"]
    assert _match(ydyh, "2023:070102") == _match(ydyh, "2020:0701") != _match(ydyh, "2023:0901")
    ghfq = _style_layers(style, "ghfq")["fill"]["paint"]["fill-color"]
    assert _match(ghfq, "11") != _match(ghfq, "211")
    # the three control lines as practice draws them
    red_line = _style_layers(style, "stbhhx")
    assert red_line["line"]["paint"]["line-color"].lower().startswith("#e0")
    assert red_line["fill"]["paint"]["fill-opacity"] < 0.5
    assert _style_layers(style, "czkfbj")["line"]["paint"]["line-color"] == "#8e24aa"
    assert _style_layers(style, "yjjbnt")["fill"]["paint"]["fill-color"] == "#f6d93a"
    xzq = _style_layers(style, "xzq")
    assert xzq["fill"]["paint"]["fill-opacity"] == 0 and "casing" in xzq
    legend = {e["id"]: e["legend"] for e in style["metadata"]["onemap:layers"]}
    assert {"耕地", "林地", "水域及水利设施用地"} <= {item["label"] for item in legend["dltb"]}


def test_style_datetime(client):
    style = get_json(client, "/styles/onemap?datetime=2022-06-01")
    assert style["sources"]["onemap"]["tiles"] == [
        "http://testserver/tiles/WebMercatorQuad/{z}/{y}/{x}?view=governing&datetime=2022-06-01"]
    assert style["metadata"]["onemap:datetime"] == "2022-06-01" and style["metadata"]["onemap:view"] == "governing"
    every = get_json(client, "/styles/onemap?datetime=2022-06-01&view=all")
    assert every["sources"]["onemap"]["tiles"] == [
        "http://testserver/tiles/WebMercatorQuad/{z}/{y}/{x}?datetime=2022-06-01"]
    interval = get_json(client, "/styles/onemap?datetime=2022-01-01/..")
    assert interval["sources"]["onemap"]["tiles"][0].endswith("?datetime=2022-01-01%2F..")  # every level
    for bad in ("datetime=2022-13-45", "datetime=yesterday", "datetime=2023-01-01/2022-01-01", "nope=1", "f=xml",
                "view=x", "view=governing&datetime=2022-01-01/.."):
        r = client.get(f"/styles/onemap?{bad}")
        assert r.status_code == 400, bad
        assert json.loads(r.data)["code"] in ("InvalidParameterValue", "UnknownParameter"), bad


def _tile_url(template: str, z: int) -> str:
    from onemap.tiles import tms as tmsmod

    t = tmsmod.get("WebMercatorQuad").tile(*CENTRAL, z)
    return template.replace("{z}", str(z)).replace("{y}", str(t.y)).replace("{x}", str(t.x))


def test_style_tiles_answer_with_the_drawer_of_the_date(client, ref, today):
    """The style's tile URLs, filled in, are this server's tiles; the date changes what they hold."""
    plans = {}
    for query in ("", "?datetime=2022-06-01"):
        template = get_json(client, f"/styles/onemap{query}")["sources"]["onemap"]["tiles"][0]
        r = client.get(_tile_url(template, 12).replace("http://testserver", ""))
        assert r.status_code == 200 and r.mimetype == "application/vnd.mapbox-vector-tile"
        tile = mapbox_vector_tile.decode(r.data)
        assert {"dltb", "xzq"} <= set(tile)
        plans[query] = {f["properties"]["plan_id"] for f in tile["dltb"]["features"]}
    assert plans[""] <= ref.in_force(today)
    assert plans["?datetime=2022-06-01"] <= ref.in_force(dt.date(2022, 6, 1))
    assert plans[""] != plans["?datetime=2022-06-01"]


def test_style_has_the_cached_basemap_under_the_layers(client, om, monkeypatch):
    style = get_json(client, "/styles/onemap")
    assert style["sources"]["basemap"]["type"] == "raster"
    template = style["sources"]["basemap"]["tiles"][0]
    assert template.startswith("http://testserver/basemaps/")
    assert [sl["id"] for sl in style["layers"][:2]] == ["background", "basemap"]
    # the template answers with a picture of the region (zoom 9 tile over the demo city)
    r = client.get(template.replace("http://testserver", "").format(z=9, x=422, y=208))
    assert r.status_code == 200 and r.mimetype.startswith("image/"), r.data[:200]
    from onemap.server.map_ep import MapPage

    page = next(f for f in om.factories if isinstance(f, MapPage))
    monkeypatch.setattr(page, "basemap_xyz", None)
    assert "basemap" not in get_json(client, "/styles/onemap")["sources"]


def test_style_is_generated_from_the_catalogue(om):
    """A layer the style module has never heard of still gets a style from its geometry and category."""
    from onemap.config.catalogue import Catalogue, Layer
    from onemap.server.map_style import CATEGORY_COLORS, build_style

    base = om.catalogue.layers["hlfxkzx"].model_dump() | {"bsm_segment": None}
    extra = [
        Layer.model_validate({**base, "id": "roads", "table_code": "ROADS", "geometry": "MultiLineString",
                              "category": "management", "title": {"zh": "道路", "en": "Roads"}}),
        Layer.model_validate({**base, "id": "wells", "table_code": "WELLS", "geometry": "MultiPoint",
                              "category": "status_quo", "title": {"zh": "井", "en": "Wells"}}),
        Layer.model_validate({**base, "id": "secret", "table_code": "SECRET", "tier": "internal"}),
    ]
    cat = Catalogue([*om.catalogue.layers.values(), *extra], om.catalogue.categories, om.catalogue.code_tables)
    style = build_style(cat, "http://example.test/om", datetime="2022-06-01")
    assert style["sources"]["onemap"]["tiles"] == [
        "http://example.test/om/tiles/WebMercatorQuad/{z}/{y}/{x}?datetime=2022-06-01"]
    roads = _style_layers(style, "roads")
    assert list(roads) == ["line"] and roads["line"]["paint"]["line-color"] == CATEGORY_COLORS["management"]
    assert _style_layers(style, "wells")["point"]["type"] == "circle"
    assert not _style_layers(style, "secret")  # not in the public dataset tiles
    cats = [c["id"] for c in style["metadata"]["onemap:categories"]]
    assert "management" in cats and "center" not in style  # no bounds given: MapLibre fits none


# ---- a real browser ---------------------------------------------------------------------------------------
def _browser_missing() -> str | None:
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium is not installed ({CHROMIUM})"
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js (node, npm) is not installed"
    return None


def browser_setup() -> dict[str, str]:
    """The environment of a puppeteer-core script (tests/browser/), after checking Chromium and Node.js
    are there: a skip without them, a failure when ONEMAP_REQUIRE_BROWSER is set."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("ONEMAP_REQUIRE_BROWSER"):
            pytest.fail(f"{missing}, and ONEMAP_REQUIRE_BROWSER is set: deploy/test.sh installs it")
        pytest.skip(f"{missing}; deploy/test.sh installs it")
    env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1", CHROMIUM=CHROMIUM)
    if not (BROWSER_DIR / "node_modules" / "puppeteer-core").is_dir():
        # deploy/test.sh does this first; here for a plain `pytest` run
        out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, env=env,
                             capture_output=True, text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stderr
    return env


@pytest.fixture(scope="module")
def browser_env() -> dict[str, str]:
    return browser_setup()


@pytest.fixture(scope="module")
def map_server(browser_env, tmp_path_factory):
    from .liveserver import serve

    data = tmp_path_factory.mktemp("mapserve")
    # the first start generates the demo region: a longer (bounded) wait
    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_DEMO_PARCELS": "1500"}, workers=2, wait_s=300) as url:
        yield url, data


@pytest.fixture(scope="module")
def browser_report(map_server, browser_env, tmp_path_factory) -> dict:
    url, data = map_server
    out_dir = Path(os.environ.get("ONEMAP_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    out_dir.mkdir(parents=True, exist_ok=True)
    from .test_cli import run as onemap

    # a member of staff (the survey and the red line are not public): the page and its requests carry the token
    env = {"ONEMAP_DATA_DIR": str(data)}
    assert onemap("user", "add", "map-staff", "--role", "internal", env=env).returncode == 0
    token = onemap("token", "create", "map-staff", env=env).stdout.strip()
    run = subprocess.run(["node", "map_check.mjs", "--url", url, "--out", str(out_dir), "--date", "2022-06-01",
                          "--token", token, "--indicator", INDICATOR, "--indicatorDate", INDICATOR_DAY,
                          "--level", "county"],
                         cwd=BROWSER_DIR, env=browser_env, capture_output=True, text=True, timeout=300, check=False)
    assert run.stdout, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"], report.get("error")
    report["token"] = token
    return report


def _pixels(path: str) -> np.ndarray:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            return np.moveaxis(ds.read()[:3], 0, -1)  # rows, cols, RGB


def _map_area(report: dict, path: str) -> np.ndarray:
    """The screenshot right of the layer panel, without the attribution strip at the bottom."""
    px, _py, pw, _ph = report["before"]["panelRect"]
    img = _pixels(path)
    return img[:-40, int(px + pw) + 10:]


def test_browser_renders_the_vector_tiles(browser_report, map_server):
    url, _ = map_server
    r = browser_report
    assert r["browserVersion"].startswith(("Chrome/", "HeadlessChrome/"))
    assert r["before"]["renderer"], "no WebGL context"
    assert r["external"] == [], "the page must not load anything from elsewhere"
    assert r["failed"] == [] and r["pageErrors"] == []
    assert not [m for m in r["console"] if m.startswith("error")], r["console"]
    first = [t for t in r["tiles"] if "datetime=" not in t["url"]]
    assert first and all(t["url"].startswith(f"{url}/tiles/WebMercatorQuad/") for t in first)
    assert all(t["status"] in (200, 204) for t in r["tiles"])
    assert any(t["status"] == 200 and t["type"] == "application/vnd.mapbox-vector-tile" for t in first)
    before = r["before"]
    assert before["mapErrors"] == [] and r["after"]["mapErrors"] == []
    assert before["loaded"] and 5 < before["zoom"] < 14
    assert {"dltb", "xzq", "stbhhx"} <= set(before["rendered"])
    assert before["categories"][:3] == ["现状 Status quo", "规划 Planning", "控制线 Control lines"]
    assert dict(before["checkboxes"])["dltb"] is True and dict(before["checkboxes"])["ghfq"] is False
    assert r["toggle"] == ["none", "visible"]


def test_browser_screenshot_is_a_map(browser_report):
    area = _map_area(browser_report, browser_report["screenshots"][0])
    flat = area.reshape(-1, 3)
    packed = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    colours = len(np.unique(packed))
    assert colours > 200, colours
    assert flat.astype(float).std(axis=0).mean() > 20
    background = np.array([0xF4, 0xF3, 0xEF])
    painted = np.abs(flat.astype(int) - background).sum(axis=1) > 30
    assert painted.mean() > 0.3  # parcels cover most of the fitted view


def test_browser_popup_labels_the_feature(browser_report):
    popup = browser_report["popup"]
    assert any(t.startswith("三调地类图斑") for t in popup["titles"]), popup["titles"]
    rows = dict(popup["rows"])
    assert re.fullmatch(r"\d{2}[0-9A-Z]* \S+", rows["地类编码"]), rows["地类编码"]
    assert rows["规划层级"].endswith("县级")  # the land survey is kept per county


def test_browser_map_shows_the_governing_view_with_a_switch_to_all_levels(browser_report, map_server):
    _url, _ = map_server
    r = browser_report
    first = [t for t in r["tiles"] if t["at"] <= min(x["at"] for x in r["tilesAfterDate"])]
    assert first and all("view=governing" in t["url"] for t in first)
    levels = r["tilesAfterLevels"]
    assert levels and all("view=governing" not in t["url"] and "datetime=2022-06-01" in t["url"] for t in levels)
    assert any(t["status"] == 200 for t in levels)
    assert "every level" in r["levelsStatus"]


def test_browser_date_reloads_the_tiles(browser_report, map_server):
    url, data = map_server
    r = browser_report
    dated = r["tilesAfterDate"]
    assert dated and all("datetime=2022-06-01" in t["url"] and t["url"].startswith(url) for t in dated)
    assert any(t["status"] == 200 for t in dated)
    assert r["after"]["tileUrls"] == [
        f"{url}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?view=governing&datetime=2022-06-01"]
    assert "2022-06-01" in r["status"]
    from onemap.providers.store.base import today

    reference = Reference(data / "onemap.gpkg")
    before, after = set(r["before"]["plans"]["dltb"]), set(r["after"]["plans"]["dltb"])
    assert before and before <= reference.in_force(today())
    assert after and after <= reference.in_force(dt.date(2022, 6, 1))
    assert before != after
    # and the picture changed with the data
    a = _map_area(r, r["screenshots"][0]).astype(int)
    b = _map_area(r, r["screenshots"][1]).astype(int)
    assert (np.abs(a - b).sum(axis=2) > 30).mean() > 0.01


def _staff_get(url: str, token: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_browser_draws_indicator_status_by_region(browser_report, map_server):
    url, _ = map_server
    r = browser_report
    ind = r["indicator"]
    assert ind["code"] == INDICATOR and ind["level"] == "county" and ind["datetime"] == INDICATOR_DAY
    assert ind["levels"] == ["province", "city", "county", "township"]
    # what the page holds is the indicators collection's answer for the same question
    doc = _staff_get(f"{url}/collections/indicators/items?code={INDICATOR}&level=county&datetime={INDICATOR_DAY}"
                     f"&f=json&limit=1000", r["token"]).json()
    want = {f["properties"]["region"]: f["properties"] for f in doc["features"]}
    got = {p["region"]: p for p in ind["features"]}
    assert len(want) >= 3 and got == want
    statuses = {p["status"] for p in want.values()}
    assert len(statuses) >= 2  # the choropleth has something to tell
    # drawn: the regions on screen with their status, coloured by status
    rendered = {region: status for region, status in ind["rendered"]}
    assert rendered and all(want[region]["status"] == status for region, status in rendered.items())
    assert _match(ind["fillColor"], "breach") != _match(ind["fillColor"], "ok")
    legend = dict(ind["legend"])
    for status in ("ok", "warning", "breach", "none"):
        count = sum(1 for p in want.values() if p["status"] == status)
        assert legend[status].split()[-1] == str(count), (status, legend[status])
    # and the click on a region tells its value and status
    popup = r["indicatorPopup"]
    assert popup["titles"][0].startswith("建设用地总面积")
    rows = dict(popup["rows"])
    region = rows["行政区"].split()[0]
    assert region in want and rows["状态"] == want[region]["status_label"]
    a = _map_area(r, r["screenshots"][1]).astype(int)
    b = _map_area(r, r["screenshots"][2]).astype(int)
    assert (np.abs(a - b).sum(axis=2) > 30).mean() > 0.2  # the regions are painted over the map


def test_browser_statistics_panel_sums_the_view(browser_report, map_server):
    url, _ = map_server
    r = browser_report
    first, zoomed, by_township = r["statistics"]
    for snap in (first, zoomed, by_township):
        doc = snap["doc"]
        assert snap["url"].startswith(f"{url}/collections/dltb/statistics?") and doc["layer"] == "dltb"
        assert doc["datetime"] == INDICATOR_DAY  # the drawer date the page was left at
        # the box asked for is the view on screen (cut to the data's extent)
        west, south, east, north = snap["view"]
        bx = doc["area"]["bbox"]
        assert west - 1e-6 <= bx[0] < bx[2] <= east + 1e-6 and south - 1e-6 <= bx[1] < bx[3] <= north + 1e-6
        # the page shows the service's answer: the same URL gives the same numbers
        assert _staff_get(snap["url"], r["token"]).json()["rows"] == doc["rows"]
        body = snap["table"][1:]
        assert body[-1][0].startswith("合计") and body[-1][3] == f"{doc['total']['count']:,}"
        biggest = max(doc["rows"], key=lambda x: x["m2"])
        assert body[0][1] == f"{biggest['ha']:,.2f}"
        assert snap["csv"].startswith(f"{url}/collections/dltb/statistics?") and "f=csv" in snap["csv"]
    assert first["group"] == "DLBM" and by_township["group"] == "region:township"
    assert zoomed["doc"]["area"]["m2"] < first["doc"]["area"]["m2"] / 2  # zoomed in 1.5 levels: a smaller box
    assert zoomed["doc"]["total"]["m2"] < first["doc"]["total"]["m2"]
    assert all(row["region"] for row in by_township["doc"]["rows"])
    labels = [row[0] for row in by_township["table"][1:-1]]
    ranked = sorted(by_township["doc"]["rows"], key=lambda x: -x["m2"])
    assert labels[:len(ranked)] == [f"{x['region']} {x['region_name']}" for x in ranked][:len(labels)]
    assert all(re.fullmatch(r"99\d{7} \S+", t) for t in labels[:len(ranked)])


def test_browser_compare_mode_shows_the_compare_process_for_the_view(browser_report, map_server):
    url, _ = map_server
    r = browser_report
    cmp = r["compare"]
    inputs = cmp["inputs"]
    assert cmp["layer"] == "czkfbj" and inputs["layer"] == "czkfbj"
    assert (inputs["from"], inputs["to"]) == ("2022-06-01", INDICATOR_DAY)  # the date picked, the drawer date
    # the area asked for is the view on screen (cut to the data's extent)
    west, south, east, north = cmp["view"]
    x0, y0 = inputs["area"]["coordinates"][0][0]
    x1, y1 = inputs["area"]["coordinates"][0][2]
    assert west - 1e-6 <= x0 < x1 <= east + 1e-6 and south - 1e-6 <= y0 < y1 <= north + 1e-6
    # the page shows the service's answer: the same execution gives the same figures and pieces
    doc = requests.post(f"{url}/processes/compare/execution", json={"inputs": inputs}, timeout=120,
                        headers={"Authorization": f"Bearer {r['token']}"}).json()
    assert doc["summary"] == cmp["doc"]["summary"]
    assert len(doc["changes"]["features"]) == len(cmp["doc"]["changes"]["features"]) > 0
    # the 2023 revision moved the urban development boundary within the first view: both kinds are drawn
    assert {"added", "removed"} <= set(cmp["rendered"]) <= {"added", "removed", "changed"}
    rows = {row[0].split()[0]: row[1] for row in cmp["table"][1:]}
    assert rows["新增"] == f"{doc['summary']['added_ha']:,.2f}" and rows["减少"] == f"{doc['summary']['removed_ha']:,.2f}"
    a = _map_area(r, r["screenshots"][4]).astype(int)
    b = _map_area(r, r["screenshots"][5]).astype(int)
    assert (np.abs(a - b).sum(axis=2) > 30).mean() > 0.002  # the pieces are painted
