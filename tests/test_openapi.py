"""/openapi: valid OpenAPI 3.0, self-contained (no reference leaves the document)."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from .conftest import get_json


def _refs(obj, out):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "$ref":
                out.append(v)
            else:
                _refs(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _refs(v, out)
    return out


def test_openapi_is_valid_and_self_contained(client):
    r = client.get("/openapi")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    doc = json.loads(r.data)
    refs = _refs(doc, [])
    assert refs and all(ref.startswith("#/") for ref in refs)
    assert "schemas.opengis.net" not in r.data.decode()
    validate(doc)  # raises on an invalid document (resolving only local references)


def test_openapi_covers_every_collection(client, om):
    doc = get_json(client, "/openapi")
    for layer in om.catalogue.layers:
        assert f"/collections/{layer}/items" in doc["paths"]
        params = {p.get("name") or p["$ref"].rsplit("/", 1)[1]
                  for p in doc["paths"][f"/collections/{layer}/items"]["get"]["parameters"]}
        assert {"bbox", "crs", "datetime", "filter", "region", "plan_id", "limit"} <= params


def test_openapi_html(client):
    r = client.get("/openapi?f=html")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")


# a value for each path parameter of the document that is not an enum (a real one where one is needed)
PATH_SAMPLES = {"featureId": "1", "tileMatrix": "0", "tileRow": "0", "tileCol": "0", "z": "0", "x": "0", "y": "0",
                "layer": "basemap", "tileMatrixSetId": "WebMercatorQuad"}


def test_refused_choices_in_accept_are_never_a_server_error(client):
    """q=0 says "not this": pygeoapi 0.24 divides by it. Every documented GET answers (JSON, or a 4xx)."""
    import re

    for headers in ({"Accept": "text/html;q=0"}, {"Accept": "text/html;q=0, application/json;q=0"},
                    {"Accept": "text/html;q=., */*;q=0.0"}, {"Accept-Language": "en;q=0, zh;q=0"}):
        for url in ("/", "/collections", "/collections/xzq"):
            r = client.get(url, headers=headers)
            assert r.status_code == 200 and r.mimetype == "application/json", (url, headers, r.data[:300])
        assert client.get("/?lang=en;q=0").status_code == 200
    doc = get_json(client, "/openapi")
    params = doc["components"]["parameters"]
    for path, item in doc["paths"].items():
        if "get" not in item:
            continue
        values = {}
        for p in item["get"].get("parameters", []) + item.get("parameters", []):
            p = params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
            if p.get("in") == "path":
                enum = p.get("schema", {}).get("enum")
                values[p["name"]] = enum[0] if enum else PATH_SAMPLES.get(p["name"], "nope")
        url = re.sub(r"\{(\w+)\}", lambda m, v=values: str(v.get(m.group(1), "nope")), path)
        r = client.get(url, headers={"Accept": "text/html;q=0"})
        assert r.status_code < 500 and r.status_code != 406, (url, r.status_code, r.data[:300])


def test_limit_states_the_servers_maximum(client, settings):
    """Every operation taking ``limit`` says its real maximum (GDAL picks its page size from it)."""
    doc = get_json(client, "/openapi")
    seen = 0
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for p in op.get("parameters", []) if isinstance(op, dict) else []:
                p = doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                if p.get("name") == "limit" and path.endswith("/items"):
                    assert p["schema"]["maximum"] == settings.max_items, path
                    seen += 1
    assert seen
