"""The API declared once: every route checks the parameters the OpenAPI document lists for it,
per-route dependencies run before handlers, and links follow the public URL or the mount prefix."""

from __future__ import annotations

import json

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from onemap.config.errors import Forbidden
from onemap.server.routing import Call, RouteDependency

from .auth import admin_client


def _example(path: str, om) -> str:
    return (path.replace("{tileMatrixSetId}", "WebMercatorQuad").replace("{tileMatrix}", "10")
            .replace("{tileRow}", "420").replace("{tileCol}", "850").replace("{jobId}", "x")
            .replace("{planId}", "990100-city-master-2021").replace("{certificateId}", "x")
            .replace("{featureId}", "1"))


def test_documented_parameters_are_the_checked_ones(client, om):
    doc = json.loads(client.get("/openapi").data)
    components = doc["components"]["parameters"]
    for route in om.routes:
        if not route.documented or not route.checked or route.method != "GET":
            continue
        instances = list(route.instances()) if route.instances else [None]
        inst = instances[0]
        path = route.path
        if inst is not None:
            for k, v in inst.values.items():
                path = path.replace("{" + k + "}", v)
        op = doc["paths"][path]["get"]
        documented = {(components[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p)["name"]
                      for p in op.get("parameters", []) if "$ref" in p or p["in"] == "query"}
        assert documented == {p.name for p in route.query} | {p.name for p in (inst.extra if inst else ())}, path
        url = _example(path, om)
        r = client.get(url + ("&" if "?" in url else "?") + "zzz=1")
        assert r.status_code == 400 and "zzz" in r.get_json()["description"], (url, r.status_code)


def test_a_route_dependency_refuses_before_the_handler(settings):
    from onemap.server.app import create_app

    seen: list[str] = []

    def no_execution(call: Call) -> None:
        seen.append(call.route.operation_id)
        raise Forbidden("processes may not be executed here")

    app = create_app(settings, route_dependencies=[RouteDependency(no_execution, scopes=("execute",))])
    c = admin_client(app)
    r = c.post("/processes/compliance-review/execution", json={"inputs": {}})
    assert r.status_code == 403 and r.get_json()["code"] == "Forbidden"
    assert seen == ["execute{op}"]
    jobs_before = c.get("/jobs?f=json").get_json()["numberMatched"]
    assert c.get("/collections/dltb/items?limit=1").status_code == 200  # reads are not matched
    assert c.get("/jobs?f=json").get_json()["numberMatched"] == jobs_before  # nothing ran


def test_path_dependencies_see_the_parsed_parameters(settings):
    from onemap.server.app import create_app

    seen = []
    app = create_app(settings, route_dependencies=[RouteDependency(
        lambda call: seen.append((call.path["collectionId"], call.args["limit"])),
        paths=("/collections/{collectionId}/items",), methods=("GET",))])
    c = admin_client(app)
    assert c.get("/collections/czkfbj/items?limit=3").status_code == 200
    assert c.get("/collections/czkfbj").status_code == 200
    assert seen == [("czkfbj", 3)]


@pytest.mark.parametrize("prefix", ["/onemap", "/a/b"])
def test_links_carry_the_mount_prefix_without_a_public_url(settings, prefix):
    from flask import Flask

    from onemap.server.app import create_app

    app = create_app(settings.model_copy(update={"public_url": None}))
    outer = Flask("outer")
    outer.wsgi_app = DispatcherMiddleware(outer.wsgi_app, {prefix: app})  # type: ignore[method-assign]
    c = Client(outer.wsgi_app)
    base = f"http://example.org{prefix}"
    r = c.get(f"{prefix}/collections/ghfq/items?limit=2&f=json", base_url="http://example.org")
    doc = json.loads(r.get_data())
    hrefs = [link["href"] for link in doc["links"]]
    assert hrefs and all(h.startswith(base + "/collections/ghfq") for h in hrefs), hrefs
    landing = json.loads(c.get(f"{prefix}/?f=json", base_url="http://example.org").get_data())
    assert all(link["href"].startswith(base) for link in landing["links"] if "github" not in link["href"])
    oas = json.loads(c.get(f"{prefix}/openapi", base_url="http://example.org").get_data())
    assert oas["servers"][0]["url"] == base
    style = json.loads(c.get(f"{prefix}/styles/onemap", base_url="http://example.org").get_data())
    assert style["sources"]["onemap"]["tiles"][0].startswith(base + "/tiles/")
    caps = c.get(f"{prefix}/basemaps/wmts/1.0.0/WMTSCapabilities.xml", base_url="http://example.org").get_data()
    assert f"{base}/basemaps/wmts/".encode() in caps


def test_the_public_url_wins_over_the_request(client):
    doc = json.loads(client.get("/collections/dltb/items?limit=1", headers={"Host": "evil.example"}).data)
    assert all(link["href"].startswith("http://testserver/") for link in doc["links"])


def test_a_dependency_on_tiles_also_guards_cached_tiles(settings):
    from onemap.config.errors import Forbidden
    from onemap.server.app import create_app

    tile = "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"
    url = "/collections/dltb/tiles/WebMercatorQuad/12/3379/1700"

    def refuse(call: Call) -> None:
        raise Forbidden("no tiles here")

    app = create_app(settings, route_dependencies=[RouteDependency(refuse, paths=(tile,))])
    c = admin_client(app)
    for _ in range(2):  # the second time the tile would be in the cache
        r = c.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 403


def test_a_dependency_on_basemaps_guards_every_basemap_request(settings):
    from onemap.config.errors import Forbidden
    from onemap.server.app import create_app

    def refuse(call: Call) -> None:
        raise Forbidden("no basemaps here")

    app = create_app(settings, route_dependencies=[RouteDependency(refuse, paths=("/basemaps/{path}",))])
    c = admin_client(app)
    assert c.get("/basemaps/wmts/1.0.0/WMTSCapabilities.xml").status_code == 403
    open_app = create_app(settings)
    assert admin_client(open_app).get("/basemaps/wmts/1.0.0/WMTSCapabilities.xml").status_code == 200
