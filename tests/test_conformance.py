"""/conformance and the landing page."""

from __future__ import annotations

from .conftest import get_json

BASE = "http://www.opengis.net/spec/"


def test_conformance_declares_what_is_implemented(client):
    classes = set(get_json(client, "/conformance")["conformsTo"])
    for c in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
              "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
              "ogcapi-features-3/1.0/conf/features-filter", "ogcapi-features-3/1.0/conf/queryables",
              "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/cql2-json", "cql2/1.0/conf/basic-cql2",
              "cql2/1.0/conf/basic-spatial-functions-plus"):
        assert BASE + c in classes
    # not implemented, so not declared
    assert BASE + "ogcapi-features-4/1.0/conf/create-replace-delete" not in classes


def test_landing_page_links(client):
    doc = get_json(client, "/")
    rels = {link["rel"] for link in doc["links"]}
    assert {"service-desc", "conformance", "data"} <= rels
    assert "一张图" in doc["title"]


def test_healthz(client):
    doc = get_json(client, "/healthz")
    assert doc["status"] == "ok" and doc["plans"] >= 5


def test_cors_headers(anonymous):
    r = anonymous.get("/collections", headers={"Origin": "http://portal.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = anonymous.options("/collections/dltb/items", headers={
        "Origin": "http://portal.example", "Access-Control-Request-Method": "GET"})
    assert r.status_code in (200, 204) and "GET" in r.headers["Access-Control-Allow-Methods"]


def test_request_id_is_returned(client):
    r = client.get("/conformance", headers={"X-Request-ID": "abc123"})
    assert r.headers["X-Request-ID"] == "abc123"


def test_unknown_path_is_404_json(client):
    doc = get_json(client, "/no/such/thing", status=404)
    assert doc["code"] == "NotFound"
