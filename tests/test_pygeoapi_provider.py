"""The pygeoapi provider plugin, driven through pygeoapi's own items path.

OneMap's server answers items itself (server/items.py), but the generated pygeoapi
configuration must also work with stock pygeoapi: this runs pygeoapi's handler on it.
"""

from __future__ import annotations

import json

from pygeoapi.api import APIRequest as OneMapAPIRequest
from pygeoapi.api import itemtypes


def call(app, om, url: str, *args):
    with app.test_request_context(url):
        from flask import request

        req = OneMapAPIRequest.from_flask(request, om.api.locales)
        return itemtypes.get_collection_items(om.api, req, *args)


def test_stock_items_path_uses_the_provider(app, om, client):
    _headers, status, content = call(app, om, "/collections/czkfbj/items?limit=5&region=990100", "czkfbj")
    assert status == 200, content
    doc = json.loads(content)
    ours = client.get("/collections/czkfbj/items?limit=5&region=990100").get_json()
    assert [f["id"] for f in doc["features"]] == [f["id"] for f in ours["features"]]
    assert doc["numberMatched"] == ours["numberMatched"]
    assert "城镇开发边界" in content or doc["features"][0]["properties"]["GHFQMC"]


def test_stock_items_path_filters_and_datetime(app, om):
    _, status, content = call(app, om, "/collections/czkfbj/items?datetime=2022-06-01&limit=100", "czkfbj")
    assert status == 200
    plans = {f["properties"]["plan_id"] for f in json.loads(content)["features"]}
    assert "990100-city-master-2021" in plans and "990100-city-master-2023" not in plans
    _, status, content = call(app, om, "/collections/dltb/items?filter=NOPE%3D1", "dltb")
    assert status == 400


def test_stock_item_path(app, om):
    with app.test_request_context("/collections/xzq/items/1"):
        from flask import request

        req = OneMapAPIRequest.from_flask(request, om.api.locales)
        _, status, content = itemtypes.get_collection_item(om.api, req, "xzq", "1")
    assert status == 200 and json.loads(content)["id"] == 1
