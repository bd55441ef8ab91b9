"""The ``indicators`` collection: region outlines with indicator values, served by pygeoapi's collection
functions through OneMap's provider (a choropleth layer for QGIS, ArcGIS and /map)."""

from __future__ import annotations

import pytest
import shapely

from .conftest import get_json

DAY = "2024-01-01"
ITEMS = "/collections/indicators/items?f=json&limit=1000"


def test_listed_for_everyone_with_its_queryables(anonymous):
    ids = {c["id"] for c in get_json(anonymous, "/collections?f=json")["collections"]}
    assert "indicators" in ids
    q = get_json(anonymous, "/collections/indicators/queryables?f=json")["properties"]
    assert {"code", "level", "region", "status", "value", "target"} <= set(q)


def test_its_features_are_the_values_of_the_indicators_api(client):
    doc = get_json(client, f"{ITEMS}&code=GDBYL&level=county&datetime={DAY}")
    feats = doc["features"]
    assert {f["properties"]["region"] for f in feats} == {"990102", "990121", "990122", "990123"}
    assert doc["numberMatched"] == 4
    for f in feats:
        one = get_json(client, f"/indicators/GDBYL?region={f['properties']['region']}&datetime={DAY}")["values"][0]
        assert f["id"] == f"{one['region']}-GDBYL"
        assert (f["properties"]["value"], f["properties"]["target"], f["properties"]["status"]) == \
            (one["value"], one["target"], one["status"])
        assert f["properties"]["status_label"] == one["status_label"]["zh"]
        outline = next(x for x in get_json(client, f"/collections/xzq/items?f=json&limit=100&datetime={DAY}")["features"]
                       if x["properties"]["XZQDM"] == one["region"])
        assert shapely.geometry.shape(f["geometry"]).equals_exact(shapely.geometry.shape(outline["geometry"]), 2e-8)


def test_each_role_sees_the_indicators_of_the_layers_it_reads(client, anonymous):
    public = {f["properties"]["code"] for f in get_json(anonymous, f"{ITEMS}&datetime={DAY}")["features"]}
    everything = {f["properties"]["code"] for f in get_json(client, f"{ITEMS}&datetime={DAY}")["features"]}
    assert public == {d["code"] for d in get_json(anonymous, "/indicators")["indicators"]} == {"CZKFBJMJ"}
    assert {"STBHHXMJ", "GDBYL", "GTKFQD"} <= everything
    get_json(anonymous, "/collections/indicators/items/990121-GDBYL?f=json", status=404)
    assert get_json(client, "/collections/indicators/items/990121-GDBYL?f=json")["properties"]["code"] == "GDBYL"


def test_filters_by_status_level_and_bbox(client):
    breach = get_json(client, f"{ITEMS}&status=breach&datetime={DAY}")["features"]
    assert breach and all(f["properties"]["status"] == "breach" for f in breach)
    towns = get_json(client, f"{ITEMS}&level=township&code=STBHHXMJ&datetime={DAY}")["features"]
    assert towns and all(len(f["properties"]["region"]) == 9 for f in towns)
    box = shapely.geometry.shape(towns[0]["geometry"]).representative_point()
    near = get_json(client, f"{ITEMS}&level=township&code=STBHHXMJ&datetime={DAY}"
                            f"&bbox={box.x - 1e-4},{box.y - 1e-4},{box.x + 1e-4},{box.y + 1e-4}")["features"]
    assert towns[0]["id"] in {f["id"] for f in near} and len(near) < len(towns)


def test_the_html_page_and_paging(client):
    page = get_json(client, f"/collections/indicators/items?f=json&limit=5&datetime={DAY}")
    assert len(page["features"]) == 5 and page["numberMatched"] > 5
    assert any(lk["rel"] == "next" for lk in page["links"])
    r = client.get(f"/collections/indicators/items?f=html&limit=5&datetime={DAY}")
    assert r.status_code == 200 and "990" in r.data.decode("utf-8")


@pytest.mark.parametrize("query", ["datetime=2022-01-01/2023-01-01", "datetime=yesterday",
                                   "filter=code%3D%27GDBYL%27", "sortby=value"])
def test_bad_requests(client, query):
    r = client.get(f"/collections/indicators/items?f=json&{query}")
    assert r.status_code == 400, (query, r.data[:300])
    assert "Traceback" not in r.data.decode("utf-8")
