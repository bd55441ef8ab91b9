"""/collections/{id}/items/{featureId}."""

from __future__ import annotations

import pytest

from .conftest import get_json, header_links


def test_item_by_id(client):
    page = get_json(client, "/collections/dltb/items?limit=1")
    fid = page["features"][0]["id"]
    doc = get_json(client, f"/collections/dltb/items/{fid}")
    assert doc["type"] == "Feature" and doc["id"] == fid
    assert doc["properties"] == page["features"][0]["properties"]
    assert {link["rel"] for link in doc["links"]} >= {"self", "collection"}



def test_item_link_headers(client):
    """The feature's links as RFC 8288 Link headers too (self, alternate, collection)."""
    fid = get_json(client, "/collections/czkfbj/items?limit=1")["features"][0]["id"]
    r = client.get(f"/collections/czkfbj/items/{fid}")
    linked = {(link["rel"], link["href"]) for link in header_links(r)}
    assert {rel for rel, _ in linked} >= {"self", "alternate", "collection"}
    assert linked == {(link["rel"], link["href"]) for link in r.get_json()["links"]}
    assert header_links(client.get(f"/collections/czkfbj/items/{fid}?f=html"))

def test_superseded_feature_stays_addressable(client):
    doc = get_json(client, "/collections/czkfbj/items?plan_id=990100-city-master-2021&limit=1")
    fid = doc["features"][0]["id"]
    item = get_json(client, f"/collections/czkfbj/items/{fid}")
    assert item["properties"]["plan_status"] == "superseded"
    assert item["properties"]["plan_valid_to"] == "2023-09-01"


@pytest.mark.parametrize("fid", ["0", "999999999", "abc", "-1", "1e3", "9" * 40])
def test_missing_item_is_404(client, fid):
    doc = get_json(client, f"/collections/dltb/items/{fid}", status=404)
    assert doc["code"] == "NotFound"


def test_unknown_parameter_on_item_is_400(client):
    get_json(client, "/collections/dltb/items/1?limit=3", status=400)


def test_item_html(client):
    r = client.get("/collections/dltb/items/1?f=html")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
