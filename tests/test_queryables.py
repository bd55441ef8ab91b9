"""/collections/{id}/queryables and /schema: labels, code lists, closed to unknown properties."""

from __future__ import annotations

from .conftest import get_json


def test_queryables_are_labelled_and_closed(client):
    doc = get_json(client, "/collections/dltb/queryables")
    assert doc["additionalProperties"] is False
    props = doc["properties"]
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    assert props["DLBM"]["title"] == "地类编码"
    codes = {c["const"]: c["title"] for c in props["DLBM"]["oneOf"]}
    assert codes["0101"] == "水田" and codes["0301"] == "乔木林地"
    for name in ("plan_id", "plan_region", "plan_level", "plan_type", "plan_version"):
        assert name in props
    assert "plan_status" not in props  # returned, not filterable


def test_queryables_in_english(client):
    doc = get_json(client, "/collections/dltb/queryables?lang=en")
    assert doc["properties"]["DLBM"]["title"] == "Land class code"
    codes = {c["const"]: c["title"] for c in doc["properties"]["DLBM"]["oneOf"]}
    assert codes["0101"] == "Paddy field"


def test_edition_dependent_code_table(client):
    doc = get_json(client, "/collections/zxcqghydyh/queryables")
    assert "ydyh_2023" in doc["properties"]["YDYHFLDM"]["description"]
    editions = {c["const"] for c in doc["properties"]["YDYHBB"]["oneOf"]}
    assert editions == {"2020", "2023"}


def test_every_queryable_is_accepted_by_a_filter(client):
    doc = get_json(client, "/collections/ghfq/queryables")
    for name, spec in doc["properties"].items():
        if name == "geometry":
            continue
        literal = "1" if spec["type"] == "number" else "'x'"
        r = client.get(f"/collections/ghfq/items?limit=1&filter={name} = {literal}")
        assert r.status_code == 200, (name, r.data)


def test_schema_lists_returned_properties(client):
    doc = get_json(client, "/collections/dltb/schema")
    props = doc["properties"]
    assert props["fid"]["x-ogc-role"] == "id"
    assert props["plan_status"]["readOnly"] is True
    assert "CZCSXM_label" in props and "DLMC" in props
    r = client.get("/collections/dltb/schema")
    assert r.headers["Content-Type"].startswith("application/schema+json")


def test_html_queryables(client):
    r = client.get("/collections/dltb/queryables?f=html")
    assert r.status_code == 200 and "地类编码".encode() in r.data
