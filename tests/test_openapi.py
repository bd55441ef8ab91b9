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
