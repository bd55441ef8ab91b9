"""The security suite: one table per attack class, walked across the routes the class applies to, on
both backends. Every answer passes ``answered`` (no 5xx; no traceback, driver, SQL or server path in the
body); each case names the 4xx it expects, or ``NONE``: a 200 that provably did nothing (no feature
matched, the tables keep their counts, the loopback listener saw no connection). Single attacks are
tested in depth elsewhere (test_boundary, test_compliance, test_hardening, test_fuzz)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest

from .auth import admin_client

LEAKS = (b"Traceback", b"psycopg2", b"sqlite3", b"SELECT ", b"/work/", b"/tmp/", b"site-packages")
NONE = "nothing"  # a 200 that matched no feature
q = urllib.parse.quote
I = "/collections/dltb/items?limit=5&"
ONE = "/collections/dltb/items/"
TILE = "/collections/dltb/tiles/WebMercatorQuad/"
EXEC = "/processes/{}/execution"
REVIEW = EXEC.format("compliance-review")
WMS = "/basemaps/service?SERVICE=WMS&VERSION=1.1.1&STYLES=&SRS=EPSG:3857&WIDTH=64&HEIGHT=64&FORMAT=image/png&"
POLYGON = {"type": "Polygon", "coordinates": [[[117.05, 31.47], [117.06, 31.47], [117.06, 31.48], [117.05, 31.48],
                                              [117.05, 31.47]]]}
RING = "117.05,31.47 117.06,31.47 117.06,31.48 117.05,31.48 117.05,31.47"
PLACEMARK = (f"<Placemark><name>p</name><Polygon><outerBoundaryIs><LinearRing><coordinates>{RING}</coordinates>"
             "</LinearRing></outerBoundaryIs></Polygon></Placemark>")
GML_NS = 'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink" srsName="EPSG:4490"'
GML = (f"<gml:Polygon {GML_NS}>{{name}}<gml:exterior><gml:LinearRing><gml:posList>"
       "117.05 31.47 117.06 31.47 117.06 31.48 117.05 31.47</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>")
SUBMITTED = "990123-county-master-2025"  # the demo's one submitted drawer entry


def kml(inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">{inner}</kml>'


def answered(r, what: object) -> bytes:
    """The universal assertions: below 500, and nothing of the server's insides in the body."""
    body = r.get_data()
    assert r.status_code < 500, (what, r.status_code, body[:400])
    # the GeoPackage download's registered media type, in the items' alternate links, is not a leak
    shown = body.replace(b"application/geopackage+sqlite3", b"")
    for leak in LEAKS:
        assert leak not in shown, (what, leak, body[:400])
    return body


def expect(r, status: int | tuple | str, what: object) -> bytes:
    """``answered``, with one of the expected statuses (NONE: a 200 matching no feature)."""
    body = answered(r, what)
    wanted = status if isinstance(status, tuple) else (status,)
    if r.status_code == 200 and NONE in wanted and 200 not in wanted:
        assert json.loads(body)["numberMatched"] == 0, (what, body[:300])
    else:
        assert r.status_code in wanted, (what, r.status_code, body[:300])
    return body


def counts(client) -> dict[str, int]:
    return {lid: json.loads(client.get(f"/collections/{lid}/items?limit=1").data)["numberMatched"]
            for lid in ("dltb", "plans", "yjjbnt")}


class Listener:
    """A listening loopback port: a fetch of its URL, by anyone, leaves a connection in its backlog."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.url = sock, f"http://127.0.0.1:{sock.getsockname()[1]}/x"

    def fetched(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.accept()[0].close()
            return True
        except BlockingIOError:
            return False


@pytest.fixture()
def listener():
    with socket.create_server(("127.0.0.1", 0), backlog=8) as sock:
        yield Listener(sock)


def ids(table: list) -> list[str]:
    return [str(row[0])[:100] for row in table]


# ---- SQL injection --------------------------------------------------------------------------------
SQL = [
    (I + "filter=" + q("DLBM = '1001'' OR ''1''=''1'"), (400, NONE)), (I + "filter=" + q("DLBM = ''; DROP TABLE dltb; --"), 400),
    (I + "filter=" + q("DLBM = '1' union select 1"), 400), (I + "filter=" + q("TBMJ > 0 OR (select count(*) from plans) > 0"), 400),
    (I + "filter=" + q("DLBM = 'x\\'; DROP TABLE dltb; --'"), (400, NONE)), (I + "sortby=" + q("DLBM; DROP TABLE dltb"), 400),
    (I + "sortby=" + q("(select 1)"), 400), (I + "properties=" + q("DLBM,(select 1)"), 400),
    (I + "plan_id=" + q("' OR 1=1 --"), NONE), (I + "DLBM=" + q("' OR '1'='1"), NONE), (I + "region=" + q("' OR 1=1 --"), 400),
    (I + "datetime=" + q("2020' OR '1'='1"), 400), ("/collections/plans/items?status=" + q("filed' OR '1'='1"), (400, NONE)),
    (ONE + q("1 OR 1=1"), 404), (ONE + q("1; DROP TABLE dltb"), 404), ("/governing?point=" + q("117,31; DROP TABLE dltb"), 400),
    ("/plans/" + q("x' OR '1'='1", safe="") + "/trace", 404), ("/certificates/" + q("x' OR '1'='1", safe=""), 404),
    ({"op": "=", "args": [{"property": "DLBM"}, "1' OR '1'='1"]}, NONE),
    ({"op": "=", "args": [{"property": "DLBM; DROP TABLE dltb"}, 1]}, 400),
    ({"op": "=", "args": [{"property": "DLBM"}, {"op": "union select", "args": [1]}]}, 400),
]


@pytest.mark.parametrize("attack, status", SQL, ids=ids(SQL))
def test_sql_injection_runs_no_sql(attack, status, client):
    """Values, property names and identifiers holding SQL (in a URL, in a CQL2 JSON body): a 400/404 or no
    match, and every table keeps its count."""
    before = counts(client)
    r = client.get(attack) if isinstance(attack, str) else client.post("/collections/dltb/items", json=attack)
    expect(r, status, attack)
    assert counts(client) == before


def test_sql_in_a_recorded_reason_is_stored_as_text(fresh_settings):
    """A step's free text is a value: stored verbatim, the plans table keeps its rows."""
    from onemap.providers.registry import Registry
    from onemap.server.app import create_app

    app = create_app(fresh_settings)
    client = admin_client(app)
    before, reason = counts(client), "x'); DROP TABLE plans; --"
    expect(client.post(f"/plans/{SUBMITTED}/reject", json={"reason": reason}), 200, "reject")
    last = Registry(app.extensions["onemap"].store).events(SUBMITTED)[-1]
    assert (last.reason, last.to_status) == (reason, "rejected")
    assert counts(client) == before


# ---- name evaluation ------------------------------------------------------------------------------
EVALUATED = (b"1787569", b"<class ", b"<Config", b"<function", b"<module", b"root:")
NAMES = [
    (I + "filter=" + q("pg_sleep(1) = 1"), 400), (I + "filter=" + q("sqlite_version() = '1'"), 400),
    (I + "filter=" + q("pg_read_file('/etc/passwd') = 'x'"), 400), (I + "filter=" + q("load_extension('x') = 1"), 400),
    (I + "filter=" + q("__import__('os') = 1"), 400), (I + "filter=" + q('"__class__" = 1'), 400),
    (I + "filter=" + q("__class__ = 1"), 400), (I + "sortby=__class__", 400), (I + "properties=__dict__", 400),
    (I + "__class__=1", 400), (I + "__init__.__globals__=1", 400), (I + "f=html&DLBM=" + q("{{1337*1337}}"), 200),
    (I + "f=html&DLBM=" + q("{0.__class__}"), 200), (I + "f=html&filter=" + q("DLBM = '{{1337*1337}}'"), 200),
    (I + "f=html&plan_id=" + q("${1337*1337}"), 200), ("/collections/" + q("{{1337*1337}}") + "?f=html", 404),
    ("/collections/" + q("{{config}}") + "/items?f=html", 404), (ONE + q("{0.__class__}") + "?f=html", 404),
    (ONE + q("%(x)s{0!r}") + "?f=html", 404), ("/map?region=" + q("{{1337*1337}}"), (200, 400)),
]


@pytest.mark.parametrize("url, status", NAMES, ids=ids(NAMES))
def test_names_and_templates_are_never_evaluated(url, status, client):
    """CQL2 function names, Python attribute names, template and format strings: refused, or echoed as text."""
    body = expect(client.get(url), status, url)
    for mark in EVALUATED:
        assert mark not in body, (url, mark)


# ---- XML ------------------------------------------------------------------------------------------
XML = {
    "xxe-file": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM "file:///etc/passwd">]>'
                + GML.format(name="<gml:name>&s;</gml:name>"),
    "xxe-http": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM "@URL@">]>' + GML.format(name="<gml:name>&s;</gml:name>"),
    "external-dtd": '<?xml version="1.0"?><!DOCTYPE r SYSTEM "@URL@">' + GML.format(name=""),
    "parameter-entity": '<!DOCTYPE r [<!ENTITY % p SYSTEM "@URL@"> %p;]>' + GML.format(name=""),
    "billion-laughs": '<!DOCTYPE r [<!ENTITY a "lolaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + "]>" + GML.format(name="<gml:name>&j;</gml:name>"),
    "kml-xxe": '<!DOCTYPE kml [<!ENTITY s SYSTEM "file:///etc/passwd">]>' + kml(PLACEMARK.replace(">p<", ">&s;<")),
    "xinclude": f'<gml:Polygon {GML_NS} xmlns:xi="http://www.w3.org/2001/XInclude">'
                '<xi:include href="file:///etc/passwd" parse="text"/></gml:Polygon>',
}


@pytest.mark.parametrize("process", ["compliance-review", "site-selection"])
@pytest.mark.parametrize("name", list(XML))
def test_xml_declarations_are_refused(name, process, client, listener):
    """DOCTYPE/ENTITY (a local file, a loopback URL, an external DTD, an entity bomb) and XInclude: a 400,
    nothing read, expanded or fetched."""
    boundary = XML[name].replace("@URL@", listener.url)
    inputs = {"boundary": boundary, "land_use": "1001"} if process == "compliance-review" else \
        {"area": boundary, "land_use": ["1001"]}
    body = expect(client.post(EXEC.format(process), json={"inputs": inputs}), 400, name)
    assert b"root:" not in body and b"lolaaaalolaaaa" not in body
    assert not listener.fetched()


# ---- SSRF -----------------------------------------------------------------------------------------
XLINK = f'<gml:MultiSurface {GML_NS}><gml:surfaceMember xlink:href="{{}}"/></gml:MultiSurface>'
NETWORK_LINK = "<NetworkLink><Link><href>@URL@</href></Link></NetworkLink>"
SSRF = [
    ("compliance-review", {"boundary": {"href": "@URL@"}, "land_use": "1001"}, 400),
    ("compliance-review", {"boundary": {"href": "file:///etc/passwd"}, "land_use": "1001"}, 400),
    ("compliance-review", {"boundary": {"href": "@URL@", "type": "application/geo+json"}, "land_use": "1001"}, 400),
    ("compliance-review", {"boundary": "@URL@", "land_use": "1001"}, 400),
    ("compliance-review", {"boundary": "file:///etc/passwd", "land_use": "1001"}, 400),
    ("compliance-review", {"boundary": kml(f"<Document>{NETWORK_LINK}</Document>"), "land_use": "1001"}, 400),
    ("compliance-review", {"boundary": XLINK.format("@URL@"), "land_use": "1001"}, 400),
    ("compliance-review", {"boundary": XLINK.format("file:///etc/passwd"), "land_use": "1001"}, 400),
    # a Placemark beside the link: the polygon is reviewed, the link never followed
    ("compliance-review", {"boundary": kml(f"<Document>{PLACEMARK}{NETWORK_LINK}</Document>"), "land_use": "1001"}, 200),
    ("site-selection", {"area": {"href": "@URL@"}, "land_use": ["1001"]}, 400),
    ("site-selection", {"area": "990102", "land_use": ["1001"], "min_area_m2": {"href": "@URL@"}}, 400),
    ("transmission-check", {"plan_id": {"href": "@URL@"}}, 400),
    ("plan-qc", {"package": {"href": "@URL@"}, "region": "990100", "level": "city", "type": "master"}, 400),
    ("compliance-review", {"boundary": POLYGON, "land_use": "1001", "@subscriber": "@URL@"}, 200),  # never called
    (I + "crs=@URL@", None, 400), (I + "bbox=1,2,3,4&bbox-crs=@URL@", None, 400),
    (I + "filter-crs=@URL@&filter=" + q("S_INTERSECTS(geometry, POINT(1 1))"), None, 400),
    ("/basemaps/service?SERVICE=WMS&REQUEST=GetLegendGraphic&LAYER=basemap&FORMAT=image/png&SLD=@URL@", None, 400),
    (WMS + "REQUEST=GetMap&LAYERS=basemap&BBOX=0,0,1,1&SLD=@URL@", None, 200),  # SLD is not supported: ignored
]


@pytest.mark.parametrize("target, inputs, status", SSRF, ids=[f"{t[:60]}-{i}" for i, (t, _, _) in enumerate(SSRF)])
def test_references_are_never_fetched(target, inputs, status, client, listener):
    """Inputs by reference (href, a bare URL), KML NetworkLink, GML xlink:href, an OGC subscriber, URLs as
    CRS or SLD: a 400 (or the reference ignored), and no connection to the loopback listener."""
    if inputs is None:
        r = client.get(target.replace("@URL@", listener.url))
    else:
        body = json.loads(json.dumps({"inputs": inputs}).replace("@URL@", listener.url))
        if "@subscriber" in body["inputs"]:
            url = body["inputs"].pop("@subscriber")
            body["subscriber"] = {"successUri": url, "failedUri": url, "inProgressUri": url}
        r = client.post(EXEC.format(target), json=body)
    body = expect(r, status, (target, inputs))
    assert b"root:" not in body
    assert not listener.fetched()


# ---- path traversal -------------------------------------------------------------------------------
TRAVERSAL = [
    "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/onemap/../../../../etc/passwd", "/static/onemap/%2e%2e%2f%2e%2e%2fapp.py", "/static/onemap/..%2f..%2fapp.py",
    "/static/onemap/..%5c..%5capp.py", "/static/onemap/....//....//app.py", "/static/%252e%252e%252fapp.py",
    "/static/onemap/%00../app.py", "/static//etc/passwd", "/collections/..%2f..%2fetc%2fpasswd/items",
    "/collections/%2e%2e/items", "/collections/%2e%2e%2fplans/items", "/collections/dltb/tiles/..%2f..%2fetc%2fpasswd/0/0/0",
    "/collections/dltb/tiles/%2e%2e/0/0/0", "/tiles/..%2f..%2fetc%2fpasswd/0/0/0", "/tileMatrixSets/..%2f..%2fetc%2fpasswd",
    "/tileMatrixSets/%2e%2e", "/tiles/WebMercatorQuad/..%2f1/0/0", "/basemaps/../../etc/passwd",
    "/basemaps/%2e%2e/%2e%2e/etc/passwd", "/basemaps/..%2f..%2f..%2fetc%2fpasswd",
    "/basemaps/tiles/1.0.0/..%2f..%2f..%2fetc/WebMercatorQuad/0/0/0.jpeg", "/basemaps/wmts/..%2f..%2fetc/passwd/0/0/0.png",
    "/basemaps/tiles/1.0.0/basemap/..%2f..%2f/0/0/0.jpeg", "/basemaps/wmts/1.0.0/..%2f..%2f..%2fetc%2fpasswd",
    "/basemaps/demo/", "/jobs/..%2f..%2fetc%2fpasswd", "/certificates/..%2f..%2fetc%2fpasswd",
    "/plans/..%2f..%2fetc%2fpasswd/trace", "/processes/..%2f..%2fetc%2fpasswd",
]


@pytest.mark.parametrize("url", TRAVERSAL)
def test_path_traversal_reads_no_file(url, client):
    """``..`` in every spelling in static paths, collection, tile matrix set and basemap ids: a 404."""
    body = expect(client.get(url, follow_redirects=True), (400, 404), url)
    for mark in (b"root:", b"import ", b"def ", b"services:", b"globals:"):
        assert mark not in body, (url, mark)


# ---- XSS ------------------------------------------------------------------------------------------
XSS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' onmouseover='alert(1)", '" onfocus="alert(1)']
XSS_URLS = [
    (I + "f=html&DLBM=@X@", 200), (I + "f=html&plan_id=@X@", 200), (I + "f=html&filter=" + q("DLBM = '") + "@X@'", (200, 400)),
    (I + "f=html&sortby=@X@", 400), (I + "f=html&limit=@X@", 400), (I + "f=html&properties=@X@", 400),
    (I + "f=html&datetime=@X@", 400), (I + "f=html&bbox=1,2,3,4&bbox-crs=@X@", 400), (I + "f=html&lang=@X@", 200),
    (I + "f=@X@", 400), ("/collections/@X@?f=html", 404), ("/collections/@X@/items?f=html", 404),
    (ONE + "@X@?f=html", 404), ("/@X@?f=html", 404), ("/processes/@X@?f=html", 404), ("/jobs/@X@?f=html", 404),
    ("/plans/@X@/trace?f=html", 404), ("/certificates/@X@?f=html", 404), ("/governing?f=html&point=@X@", 400),
    ("/collections/dltb?f=html&@X@=1", 400), ("/collections/plans/items?f=html&status=@X@", (200, 400)),
    ("/map?lang=@X@", (200, 400)), ("/map?@X@=1", 400), ("/static/onemap/@X@", 404), (TILE + "@X@/0/0", 404),
    ("/basemaps/service?SERVICE=WMS&REQUEST=@X@", 400), ("/basemaps/tiles/1.0.0/@X@/WebMercatorQuad/0/0/0.jpeg", 404),
    (WMS + "REQUEST=GetMap&LAYERS=@X@&BBOX=0,0,1,1&EXCEPTIONS=text/html", 400),
]


@pytest.mark.parametrize("payload", XSS, ids=["script", "tag", "attr1", "attr2"])
@pytest.mark.parametrize("url, status", XSS_URLS, ids=ids(XSS_URLS))
def test_markup_is_never_reflected_unescaped(url, status, payload, client):
    """Markup in query values, parameter names and path segments: never raw in an HTML answer; a JSON or XML
    answer echoing it carries nosniff (no browser takes it for HTML)."""
    full = url.replace("@X@", q(payload, safe=""))
    r = client.get(full)
    body = expect(r, status, full)
    if "html" in (r.content_type or ""):
        assert payload.encode() not in body, (full, body[:400])
    elif payload.encode() in body:
        assert r.headers.get("X-Content-Type-Options") == "nosniff", (full, r.content_type)


# ---- numeric and geometry edges -------------------------------------------------------------------
EPSG3857 = q("http://www.opengis.net/def/crs/EPSG/0/3857")
NUMBERS = [
    (I + "bbox=nan,nan,nan,nan", 400), (I + "bbox=inf,-inf,inf,inf", 400), (I + "bbox=1e308,1e308,1e308,1e308", 400),
    (I + "bbox=-1e308,-1e308,1e308,1e308", 400), (I + "bbox=-181,-91,181,91", 400), (I + "bbox=117,31,116,30", 400),
    (I + "bbox=1,2,3", 400), (I + "bbox=" + ",".join(["1"] * 10_000), 400), (I + "bbox=0,0,0,0", NONE),
    (I + f"bbox-crs={EPSG3857}&bbox=1e308,1e308,1e308,1e308", (400, NONE)), ("/collections/dltb/items?limit=-1", 400),
    ("/collections/dltb/items?limit=0", 400), ("/collections/dltb/items?limit=1e9", 400),
    ("/collections/dltb/items?limit=nan", 400), ("/collections/dltb/items?offset=-5", 400),
    ("/collections/dltb/items?offset=99999999999999999999", 400), ("/collections/dltb/items?offset=1.5", 400),
    (I + "filter=" + q("TBMJ > 99999999999999999999999999999999999999"), 400), (I + "filter=" + q("TBMJ > 1e308"), NONE),
    (I + "filter=" + q("TBMJ / 0 > 1"), (200, 400)), (I + "filter=" + q("S_INTERSECTS(geometry, POINT(1e308 1e308))"), 400),
    (I + "filter=" + q("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 0 0)))"), (400, NONE)),
    (I + "filter=" + q("(" * 100_000 + "TBMJ > 1" + ")" * 100_000), 400), (I + "datetime=99999-01-01", 400),
    (I + "datetime=" + q("2020-01-01/1900-01-01"), 400), (ONE + "99999999999999999999999999", 404), (ONE + "-1", 404),
    (ONE + "1e308", 404), (ONE + "nan", 404), (TILE + "99/0/0", 404), (TILE + "-1/0/0", 404), (TILE + "2/4/0", 404),
    (TILE + "2/0/4", 404), (TILE + "2/-1/0", 404), (TILE + "99999999999999999999/0/0", 404),
    ("/tiles/WebMercatorQuad/3/8/8", 404), ("/tiles/WebMercatorQuad/x/0/0", 404), ("/governing?point=200,100", 400),
    ("/governing?point=nan,nan", 400), ("/governing?point=inf,1", 400), ("/governing?point=1e308,1e308", 400),
    ("/jobs?limit=-1", 400), ("/jobs?offset=99999999999999999999", 400),
    ("/basemaps/tiles/1.0.0/basemap/WebMercatorQuad/99/0/0.jpeg", (400, 404)),
    ("/basemaps/tiles/1.0.0/basemap/WebMercatorQuad/2/9/9.jpeg", 404), (WMS + "REQUEST=GetMap&LAYERS=basemap&BBOX=nan,nan,nan,nan", 400),
    (WMS.replace("64", "99999") + "REQUEST=GetMap&LAYERS=basemap&BBOX=0,0,1,1", 400),
    ({"type": "Point", "coordinates": [1e308, 1e308]}, 400), ({"type": "Point", "coordinates": [200, 100]}, 400),
    ({"type": "Point", "coordinates": ["nan", 1]}, 400), ({"type": "MultiPoint", "coordinates": [[117, 31]] * 20_000}, 413),
]


@pytest.mark.parametrize("attack, status", NUMBERS, ids=ids(NUMBERS))
def test_numeric_and_geometry_edges(attack, status, client):
    """NaN, infinities, 1e308, negative or huge limits and offsets, z=99, tiles beyond the matrix, points
    outside the globe (GET, and geometries POSTed to /governing)."""
    r = client.get(attack) if isinstance(attack, str) else client.post("/governing", json=attack)
    expect(r, status, attack if isinstance(attack, str) else attack["type"])


def test_a_huge_limit_is_capped(client, settings):
    doc = json.loads(expect(client.get("/collections/dltb/items?limit=99999999999999999999999"), 200, "limit"))
    assert doc["numberReturned"] <= settings.max_items


# ---- CRS ------------------------------------------------------------------------------------------
CRS = [
    (I + "crs=EPSG:99999", 400), (I + "crs=EPSG:0", 400), (I + "crs=" + q("http://evil.example/x"), 400),
    (I + "crs=" + q("http://www.opengis.net/def/crs/EPSG/0/0"), 400), (I + "crs=" + q("file:///etc/passwd"), 400),
    (I + "crs=" + q("+proj=longlat +init=/etc/passwd"), 400), (I + "bbox=1,2,3,4&bbox-crs=junk", 400),
    (I + "bbox=1,2,3,4&bbox-crs=EPSG:0", 400), (I + "bbox=1,2,3,4&bbox-crs=" + q("http://evil.example/x"), 400),
    (I + "bbox-crs=" + q("http://www.opengis.net/def/crs/EPSG/0/4527") + "&bbox=-1e20,-1e20,1e20,1e20", 400),
    (I + "filter-crs=junk&filter=" + q("S_INTERSECTS(geometry, POINT(1 1))"), 400), (ONE + "1?crs=EPSG:0", 400),
    (ONE + "1?crs=" + q("http://evil.example/x"), 400),
    (WMS.replace("EPSG:3857", "EPSG:0") + "REQUEST=GetMap&LAYERS=basemap&BBOX=1,2,3,4", 400),
    *[({"boundary": POLYGON, "land_use": "1001", "crs": crs}, 400)
      for crs in ("EPSG:0", "EPSG:99999", "http://evil.example/x", "file:///etc/passwd", "+init=x")],
]


@pytest.mark.parametrize("attack, status", CRS, ids=ids(CRS))
def test_unknown_crs_is_a_400(attack, status, client):
    """Unknown EPSG codes, EPSG:0, URLs and PROJ strings as crs, bbox-crs, filter-crs, SRS or a boundary's crs."""
    r = client.get(attack) if isinstance(attack, str) else client.post(REVIEW, json={"inputs": attack})
    expect(r, status, attack)


# ---- protocol -------------------------------------------------------------------------------------
APPROVE_URL = f"/plans/{SUBMITTED}/approve"
ROUTES = ["/", "/collections/dltb/items", ONE + "1", REVIEW, APPROVE_URL, "/static/onemap/map.js", "/basemaps/service",
          TILE + "0/0/0", "/jobs"]


PROTOCOL = [*[(m, url, 405) for m in ("PUT", "PATCH", "TRACE", "PROPFIND", "CONNECT") for url in ROUTES],
            ("GET", "/collections/" + "a" * 100_000, 404), ("GET", I + "filter=" + "a" * 1_000_000, 400),
            ("GET", "/" + "a/" * 50_000, 404), ("GET", I + "x" * 100_000 + "=1", 400)]


@pytest.mark.parametrize("method, url, status", PROTOCOL, ids=[f"{m} {u[:60]}" for m, u, _ in PROTOCOL])
def test_unknown_methods_and_very_long_urls(method, url, status, client):
    """PUT, PATCH, TRACE and WebDAV's methods are a 405 everywhere, saying what is allowed (Allow); a very
    long path, query or name a 4xx."""
    r = client.open(url, method=method)
    expect(r, status, (method, url[:80]))
    if status == 405:
        assert "GET" in r.headers.get("Allow", "") or "POST" in r.headers.get("Allow", ""), (method, url[:80])


@pytest.mark.parametrize("value", ["abc\r\nSet-Cookie: x=1", "abc\nX-Injected: 1", "abc\rX-Injected: 1", "\u2028x",
                                   "x" * 10_000])
def test_a_request_id_cannot_split_headers(value, client):
    """X-Request-ID is echoed only when short and printable: CR/LF never reach a header."""
    r = client.get("/collections", environ_overrides={"HTTP_X_REQUEST_ID": value})
    expect(r, 200, repr(value))
    echoed = r.headers["X-Request-ID"]
    assert echoed != value and "\r" not in echoed and "\n" not in echoed and len(echoed) <= 64
    assert "Set-Cookie" not in r.headers and "X-Injected" not in r.headers
    assert client.get("/collections", headers={"X-Request-ID": "ok-1"}).headers["X-Request-ID"] == "ok-1"


@pytest.mark.parametrize("length, status", [("abc", (400, 409)), ("-1", 400), ("99999999999999999999", 413),
                                            ("10", 400), ("1e3", 400)])
@pytest.mark.parametrize("url", [REVIEW, APPROVE_URL])
def test_a_malformed_content_length(url, length, status, client):
    """The body's length as junk, negative, huge or short (409: the demo entry is not yet checked)."""
    body = {"inputs": {"boundary": POLYGON, "land_use": "1001"}} if url == REVIEW else {"approval_no": "x", "override": "y"}
    r = client.post(url, data=json.dumps(body), content_type="application/json",
                    environ_overrides={"CONTENT_LENGTH": length})
    expect(r, status, (url, length))


BODIES = [b"{", b"\xff\xfe\x00", b"null", b"[]", b'"x"', b'{"inputs": null}', b"[" * 100_000,
          b'{"inputs": {"boundary": 1e999, "land_use": "1001"}}', b'{"inputs": {"boundary": NaN, "land_use": "1001"}}']


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
@pytest.mark.parametrize("url, not_json", [(REVIEW, 415), (APPROVE_URL, 415), ("/collections/dltb/items", 400),
                                           ("/governing", 400)])
def test_a_malformed_json_body(url, not_json, body, client):
    """Broken, non-object, deeply nested or non-finite JSON is a 400 (413 above a step's 64 KiB); a JSON
    body declared as another type is refused too."""
    expect(client.post(url, data=body, content_type="application/json"), (400, 413) if len(body) > 65_536 else 400, url)
    expect(client.post(url, data=body, content_type="text/plain"), not_json, url)


# ---- concurrency ----------------------------------------------------------------------------------
def race(app, steps: list[tuple[str, dict]]) -> list[int]:
    """The steps posted at once, one thread (and signed-in client) each; their statuses."""
    clients = [admin_client(app) for _ in steps]
    barrier = threading.Barrier(len(steps))

    def go(i: int) -> int:
        barrier.wait(timeout=30)
        r = clients[i].post(steps[i][0], json=steps[i][1])
        answered(r, steps[i][0])
        return r.status_code

    with ThreadPoolExecutor(len(steps)) as pool:
        return list(pool.map(go, range(len(steps)), timeout=120))


APPROVE = (APPROVE_URL, {"approval_no": "示政函〔2026〕1号", "override": "security suite"})
FILE = (f"/plans/{SUBMITTED}/file", {})
REJECT = (f"/plans/{SUBMITTED}/reject", {"reason": "security suite"})


@pytest.mark.parametrize("steps, before, outcomes", [
    ([APPROVE, APPROVE], "checked", {"approved"}), ([FILE, FILE], "approved", {"filed"}),
    ([APPROVE, REJECT], "checked", {"approved", "rejected"}),
], ids=["approve-twice", "file-twice", "approve-and-reject"])
def test_one_of_two_simultaneous_steps_wins(steps, before, outcomes, fresh_settings):
    """Two threads move the same drawer entry at once: one 200, the other a 409; one event is recorded and
    the drawer keeps one version in force."""
    from onemap.providers.registry import Registry
    from onemap.server.app import create_app

    app = create_app(fresh_settings)
    store = app.extensions["onemap"].store
    reg = Registry(store)
    reg.mark_checked(SUBMITTED, "test")
    if before == "approved":
        reg.approve(SUBMITTED, "test", "示政函〔2026〕1号", override="security suite")
    events = len(reg.events(SUBMITTED))
    statuses = race(app, steps)
    assert sorted(statuses) == [200, 409], statuses
    status = store.plan(SUBMITTED).status
    assert status in outcomes
    assert [(e.from_status, e.to_status) for e in reg.events(SUBMITTED)[events:]] == [(before, status)]
    drawer = [p for p in store.plans().values() if (p.region, p.level, p.type) == ("990123", "county", "master")]
    assert sum(p.status == "filed" for p in drawer) == 1
