"""Every HTML page works on a closed network: pygeoapi's pages take their assets from OneMap.

pygeoapi's templates load bootstrap, Leaflet and its plugins and Swagger UI from CDNs. They are
vendored under server/static/vendor/ (each folder's README names the npm package, its version
and licence and lists the checksums checked here) and served under /static/onemap/vendor/;
OneMap's overrides of the templates (server/templates/) point to them. The browser test starts
``onemap serve`` and drives Debian's Chromium (tests/browser/pages_check.mjs) from the landing
page along the links of every page, with every request outside the server blocked, once signed
in (as the bureau's gateway would: the token on every request; every layer and process) and once
anonymous (the public pages). It is skipped only when Chromium or Node.js is missing and
ONEMAP_REQUIRE_BROWSER is unset (deploy/test.sh installs both and sets it).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pygeoapi
import pytest

from .conftest import ROOT, get_json
from .test_map import BROWSER_DIR, browser_setup

VENDOR = ROOT / "server" / "static" / "vendor"
OVERRIDES = ROOT / "server" / "templates"
PYGEOAPI_TEMPLATES = Path(pygeoapi.__file__).parent / "templates"
BASEMAP_XYZ = "/basemaps/tiles/1.0.0/basemap/WebMercatorQuad/{z}/{x}/{y}"

# an element that makes the browser fetch a URL outside the server (a script, a style sheet, an icon, an image)
OUTSIDE_ASSET = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//", re.IGNORECASE)
# pygeoapi templates OneMap leaves as they are, and why
LEFT_AS_THEY_ARE = {
    "asyncapi.html": "OneMap serves no AsyncAPI document",
    "openapi/redoc.html": "OneMap offers no ReDoc view of its document (/openapi takes no ui): ReDoc's sidebar "
                          "loads its logo from Redocly's servers whatever it is told",
    "stac/collection_base.html": "OneMap serves no STAC catalogue",
    "stac/item.html": "OneMap serves no STAC catalogue",
    "collections/tiles/index.html": "OneMap's tiles pages are its own (tiles_ep); pygeoapi's is never rendered",
    "collections/coverage/index.html": "only an operator's coverage (overlay) has this page: its viewers are "
                                        "not vendored yet (covjson-reader, leaflet-coverage, c3, d3)",
    "collections/edr/query.html": "only an operator's EDR collection (overlay) has this page: as coverages",
}


# ---- the vendored assets ----------------------------------------------------------------------------
def _readme(folder: Path) -> tuple[str, dict[str, str]]:
    """The version in a vendored folder's README title and the checksums it lists."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    title = re.match(r"# .+? (\d+\.\d+\.\d+) \(vendored\)\n", text)
    assert title, f"{folder.name}/README.md: '# NAME VERSION (vendored)' first"
    block = re.search(r"```\n(.*?)```", text, re.DOTALL)
    assert block, f"{folder.name}/README.md lists no checksums"
    sums = dict(reversed(line.split(None, 1)) for line in block.group(1).splitlines() if line.strip())
    return title.group(1), sums


@pytest.mark.parametrize("folder", sorted(p.name for p in VENDOR.iterdir() if p.is_dir()))
def test_vendored_files_are_the_ones_recorded(folder):
    """Each vendored file is listed with its SHA-256 in its folder's README, with a licence file beside it."""
    path = VENDOR / folder
    _, sums = _readme(path)
    files = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and p.name != "README.md"}
    assert files == set(sums), (files ^ set(sums))
    for name, digest in sums.items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest, name
    assert any(re.match(r"(MIT-)?LICEN[CS]E", name) for name in files) or folder == "leaflet-draw", folder
    if folder == "leaflet-draw":  # no licence file in the package: its notice heads the script
        assert "(c) 2012-2017, Jacob Toye" in (path / "leaflet.draw.js").read_text(encoding="utf-8")[:300]


def test_pyproject_ships_every_vendored_folder():
    """Every vendored folder is in the wheel: by a glob of the vendor package, or, where setuptools wants a
    folder with an importable name listed as a package of its own, as that package with all its files."""
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    data = conf["package-data"]
    globs = set(data["onemap.server.static.vendor"])
    folders = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_dir()}
    for folder in folders:
        package = "onemap.server.static.vendor." + folder.replace("/", ".")
        shipped = f"{folder}/*" in globs or (package in conf["packages"] and data.get(package) == ["*"])
        assert shipped, folder
    for sub in ("collections", "collections.items", "openapi", "tilematrixsets", "tiles"):
        assert f"onemap.server.templates.{sub}" in conf["packages"]


# ---- the templates ------------------------------------------------------------------------------------
def _pygeoapi_templates() -> list[str]:
    return sorted(str(p.relative_to(PYGEOAPI_TEMPLATES)) for p in PYGEOAPI_TEMPLATES.rglob("*.html"))


def test_every_pygeoapi_template_that_loads_from_outside_is_overridden():
    """A pygeoapi template that names an outside script, style sheet or image is overridden by one that does
    not (or listed, with the reason, as one OneMap does not need)."""
    outside = [t for t in _pygeoapi_templates()
               if OUTSIDE_ASSET.search((PYGEOAPI_TEMPLATES / t).read_text(encoding="utf-8"))]
    assert "_base.html" in outside and "collections/items/index.html" in outside  # the check sees them
    for name in outside:
        if name in LEFT_AS_THEY_ARE:
            continue
        override = OVERRIDES / name
        assert override.is_file(), f"{name} loads from outside and OneMap has no override"
        # each such copy says at its top what it changes and why
        assert override.read_text(encoding="utf-8").startswith("{#- OneMap's copy of pygeoapi 0.24's"), name
    for override in OVERRIDES.rglob("*.html"):
        assert not OUTSIDE_ASSET.search(override.read_text(encoding="utf-8")), override


def _assets(html: str) -> list[str]:
    """The URLs a page makes the browser fetch by itself: scripts, style sheets, icons, images."""
    urls = re.findall(r"<(?:script|img)\b[^>]*\bsrc=\"([^\"]+)\"", html)
    urls += [m.group(2) for m in re.finditer(r"<link\b([^>]*)\bhref=\"([^\"]+)\"", html)
             if re.search(r"rel=\"(?:stylesheet|icon|shortcut icon)\"", m.group(0))]
    return urls


def test_pages_load_their_assets_from_this_server(client, anonymous):
    item = get_json(client, "/collections/xzq/items?limit=1&f=json")["features"][0]["id"]
    pages = ["/", "/conformance", "/collections", "/collections/xzq", "/collections/xzq/items",
             f"/collections/xzq/items/{item}", "/collections/xzq/queryables", "/collections/xzq/schema",
             "/processes", "/processes/plan-qc", "/jobs", "/openapi"]
    seen = set()
    for path in pages:
        r = client.get(path + ("&" if "?" in path else "?") + "f=html")
        assert r.status_code == 200 and r.mimetype == "text/html", path
        html = r.data.decode("utf-8")
        assets = _assets(html)
        assert assets, path
        assert all(u.startswith("http://testserver/") for u in assets), (path, assets)
        assert "unpkg.com" not in html and "cdnjs" not in html and "jsdelivr" not in html, path
        seen.update(assets)
    assert "http://testserver/static/onemap/vendor/bootstrap/bootstrap.min.css" in seen
    assert "http://testserver/static/onemap/vendor/leaflet/leaflet.js" in seen
    assert "http://testserver/static/onemap/vendor/swagger-ui-dist/swagger-ui-bundle.js" in seen
    for url in seen:  # public files: a page's assets load for anyone
        r = anonymous.get(url.removeprefix("http://testserver"))
        assert r.status_code == 200 and len(r.data) > 0, url
        if url.endswith(".js"):
            assert r.mimetype == "text/javascript", url
        if url.endswith(".css"):
            assert r.mimetype == "text/css", url
    # what leaflet.css and the draw plugin's style sheet name next to them is there too
    for css in ("leaflet/leaflet.css", "leaflet-draw/leaflet.draw.css"):
        text = anonymous.get(f"/static/onemap/vendor/{css}").data.decode("utf-8")
        for image in set(re.findall(r"url\(['\"]?(images/[^)'\"]+)", text)):
            assert anonymous.get(f"/static/onemap/vendor/{css.split('/')[0]}/{image}").status_code == 200, image


@pytest.mark.parametrize(("lang", "label"), [("zh", "地图"), ("en", "Map")])
def test_landing_page_links_the_map_and_no_redoc(client, lang, label):
    html = client.get(f"/?f=html&lang={lang}").data.decode("utf-8")
    assert re.search(r'<a href="http://testserver/map"[^>]*>\s*' + label, html), html[:2000]
    assert 'id="map"' in html  # its own section as well as the header's link
    assert "ui=redoc" not in html
    assert "XMLHttpRequest" not in html  # no script fetching JSON-LD into the page


@pytest.mark.parametrize("path", ["/", "/conformance", "/collections", "/collections/dltb", "/collections/plans",
                                  "/collections/dltb/items", "/processes"])
def test_no_json_ld_link(client, path):
    """No page links JSON-LD, which OneMap does not serve: pygeoapi's landing and collection documents
    name ?f=jsonld alternates (in the head, the header and the collection's link list) and its base
    template guesses one for every page."""
    assert client.get(path + "?f=jsonld").status_code == 400
    r = client.get(path + "?f=html")
    assert r.status_code == 200
    html = r.data.decode("utf-8")
    assert "jsonld" not in html and "ld+json" not in html and "XMLHttpRequest" not in html
    assert re.search(r'<a href="[^"]*f=json">json</a>', html)  # the JSON alternate stays


def test_items_page_draws_on_onemap_s_basemap(client):
    html = client.get("/collections/czkfbj/items?f=html").data.decode("utf-8")
    assert f"'http://testserver{BASEMAP_XYZ}.jpeg?origin=nw'" in html
    assert "L.markerClusterGroup" in html


# ---- a real browser, every request outside the server blocked ------------------------------------------
@pytest.fixture(scope="module")
def browser_env() -> dict[str, str]:
    return browser_setup()


@pytest.fixture(scope="module")
def pages_server(browser_env, tmp_path_factory):
    from .liveserver import serve

    data = tmp_path_factory.mktemp("pagesserve")
    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_DEMO_PARCELS": "1500"}, workers=2, wait_s=300) as url:
        yield url, data


@pytest.fixture(scope="module")
def admin_token(pages_server) -> str:
    from .test_cli import run as onemap

    _, data = pages_server
    env = {"ONEMAP_DATA_DIR": str(data)}
    assert onemap("user", "add", "pages-admin", "--role", "admin", env=env).returncode == 0
    return onemap("token", "create", "pages-admin", env=env).stdout.strip()


def _get(url: str, token: str | None = None, data: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, r.read()


def _crawl(url: str, env: dict[str, str], *extra: str) -> dict:
    run = subprocess.run(["node", "pages_check.mjs", "--url", url, *extra], cwd=BROWSER_DIR, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.stdout, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"], report.get("error")
    return report


@pytest.fixture(scope="module")
def signed_in(pages_server, admin_token, browser_env) -> dict:
    url, _ = pages_server
    # a job, so that the jobs pages have one to show (the quality check of the demo's submitted plan)
    status, _ = _get(f"{url}/plans/990123-county-master-2025/check", admin_token, b"{}")
    assert status == 201
    return _crawl(url, browser_env, "--token", admin_token, "--max-pages", "100")


@pytest.fixture(scope="module")
def anonymous_visit(pages_server, browser_env) -> dict:
    url, _ = pages_server
    return _crawl(url, browser_env, "--max-pages", "25")


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _problems(report: dict) -> list:
    out = []
    for page in report["pages"]:
        bad = {k: page.get(k) for k in ("blocked", "failed", "pageErrors") if page.get(k)}
        errors = [c for c in page["console"] if c["type"] == "error"]
        if page.get("status") != 200 or page.get("error") or bad or errors:
            out.append((page["url"], page.get("status"), page.get("error"), bad, errors))
    return out


def test_browser_visits_every_kind_of_page(signed_in, pages_server, admin_token):
    url, _ = pages_server
    visited = {_path(p["url"]) for p in signed_in["pages"]}
    collections = [c["id"] for c in json.loads(_get(f"{url}/collections?f=json", admin_token)[1])["collections"]]
    assert "dltb" in collections and "stbhhx" in collections  # signed in: the partner and internal layers
    must = {"/", "/map", "/conformance", "/collections", "/openapi", "/processes", "/jobs"}
    must |= {f"/collections/{c}" for c in collections} | {f"/collections/{c}/items" for c in collections}
    assert must <= visited, must - visited
    for pattern in (r"/collections/\w+/items/[^/?]+", r"/collections/\w+/queryables", r"/collections/\w+/schema",
                    r"/collections/\w+/items\?.*offset.*", r"/processes/[\w-]+", r"/jobs/[\w-]+"):
        assert any(re.fullmatch(pattern, p) for p in visited), pattern
    assert not signed_in["unvisited"], signed_in["unvisited"]  # the bound was not reached
    assert 40 <= len(signed_in["pages"]) <= 100


@pytest.mark.parametrize("who", ["signed_in", "anonymous_visit"])
def test_browser_pages_work_with_outside_requests_blocked(who, request):
    """Each page: 200, nothing requested outside the server, no failed request, no console or page error."""
    report = request.getfixturevalue(who)
    assert report["pages"]
    assert _problems(report) == []
    for page in report["pages"]:
        assert all(u.startswith(("http://127.0.0.1:", "data:", "blob:")) for u in page["requests"]), page["url"]
    if who == "anonymous_visit":
        visited = {_path(p["url"]) for p in report["pages"]}
        assert {"/", "/collections", "/collections/xzq/items", "/openapi"} <= visited
        assert "/collections/dltb" not in visited and "/jobs" not in visited  # public pages only


def test_browser_pygeoapi_pages_are_styled_and_link_the_map(signed_in):
    pages = [p for p in signed_in["pages"] if not _path(p["url"]).startswith(("/map", "/openapi"))]
    assert pages
    for page in pages:
        assert page["styled"], page["url"]  # bootstrap's .container has its maximum width
        assert page["mapLink"], page["url"]
    landing = next(p for p in signed_in["pages"] if _path(p["url"]) == "/")
    assert landing["mapLink"]


def test_browser_items_pages_show_their_features_on_onemap_s_basemap(signed_in, pages_server, admin_token):
    url, _ = pages_server
    leaflet, _ = _readme(VENDOR / "leaflet")
    maps = [p for p in signed_in["pages"] if re.search(r"/items(/|\?|$)", _path(p["url"]))]
    assert len(maps) >= 10
    for page in maps:
        assert page["leaflet"] == leaflet, page["url"]
        if "map" not in page:  # pygeoapi draws no map for a page without features (no warning raised yet)
            sep = "&" if "?" in page["url"] else "?"
            assert json.loads(_get(f"{page['url']}{sep}f=json", admin_token)[1])["features"] == [], page["url"]
            continue
        drawn = page["map"]
        assert drawn["features"] + drawn["markers"] > 0, page["url"]
        assert drawn["tiles"] > 0 and drawn["tilesLoaded"] == drawn["tiles"], (page["url"], drawn)
        assert drawn["tileUrls"] == [url + BASEMAP_XYZ], drawn["tileUrls"]


def test_browser_swagger_ui_shows_every_operation(signed_in, pages_server, admin_token):
    url, _ = pages_server
    page = next(p for p in signed_in["pages"] if _path(p["url"]) == "/openapi")
    doc = json.loads(_get(f"{url}/openapi?f=json", admin_token)[1])
    operations = sum(1 for item in doc["paths"].values() for method in item
                     if method in ("get", "post", "put", "patch", "delete", "head", "options"))
    assert page["swagger"]["operations"] == operations > 50
    # no badge from swagger.io's validator (shown, and fetched, for any server but localhost)
    assert page["swagger"]["validatorUrl"] == "null"


@pytest.mark.parametrize("who", ["signed_in", "anonymous_visit"])
def test_browser_every_link_of_the_server_answers(who, request):
    """No link on a page is a 4xx or 5xx (an operation's link answers GET with 405 and its methods)."""
    report = request.getfixturevalue(who)
    assert len(report["links"]) > 50
    broken = {u: s for u, s in report["links"].items()
              if s["status"] != 200 and not (s["status"] == 405 and u.endswith("/execution"))}
    assert broken == {}
