"""/collections and /collections/{id}: every catalogue layer, live extents, CRS lists, languages."""

from __future__ import annotations

from .conftest import get_json

LAYERS = {"xzq", "dltb", "stbhhx", "yjjbnt", "czkfbj", "ghfq", "zxcqghydyh", "lswhbhx", "hlfxkzx"}


def test_every_catalogue_layer_is_a_collection(client):
    doc = get_json(client, "/collections")
    assert LAYERS <= {c["id"] for c in doc["collections"]}


def test_collection_metadata(client, om, ref):
    doc = get_json(client, "/collections/czkfbj")
    assert doc["title"] == "城镇开发边界"
    assert doc["itemType"] == "feature"
    assert doc["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
    assert "http://www.opengis.net/def/crs/EPSG/0/4490" in doc["crs"]
    assert doc["crs"][0] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert f"http://www.opengis.net/def/crs/EPSG/0/{om.gk_epsg}" in doc["crs"]
    rels = {link["rel"] for link in doc["links"]}
    assert {"items", "http://www.opengis.net/def/rel/ogc/1.0/queryables"} <= rels
    assert doc["x-onemap"]["category"] == "control_line" and doc["x-onemap"]["tableCode"] == "CZKFBJ"


def test_spatial_extent_is_computed_from_the_data(client, ref):
    import shapely

    _, _, geoms = ref.layer("dltb")
    minx, _miny, _maxx, maxy = shapely.total_bounds(geoms)
    bbox = get_json(client, "/collections/dltb")["extent"]["spatial"]["bbox"][0]
    assert abs(bbox[0] - minx) < 1e-6 and abs(bbox[3] - maxy) < 1e-6



def test_every_collections_extent_is_the_union_of_its_data(client, ref):
    """On both backends: each collection's bbox is the bounds of what the store holds for it (the plan registry's
    too: the union of its entries' outlines, not a default box over all of China)."""
    import shapely

    for c in get_json(client, "/collections")["collections"]:
        if c["id"] not in {*LAYERS, "plans"}:
            continue
        _, _, geoms = ref.layer(c["id"])
        want = shapely.total_bounds(geoms)
        got = c["extent"]["spatial"]["bbox"][0]
        assert all(abs(g - w) < 1e-6 for g, w in zip(got, want, strict=True)), (c["id"], got, list(want))
        assert get_json(client, f"/collections/{c['id']}")["extent"]["spatial"]["bbox"][0] == got

def test_temporal_extent_from_the_drawers(client):
    t = get_json(client, "/collections/czkfbj")["extent"]["temporal"]["interval"][0]
    assert t[0].startswith("2021-") and t[1] is None


def test_english_metadata(client):
    doc = get_json(client, "/collections/czkfbj?lang=en")
    assert doc["title"] == "Urban development boundary"
    doc = get_json(client, "/collections/czkfbj", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert doc["title"] == "Urban development boundary"


def test_unknown_collection_is_404(client):
    doc = get_json(client, "/collections/nope", status=404)
    assert doc["code"] == "NotFound"
    get_json(client, "/collections/nope/items", status=404)
    get_json(client, "/collections/nope/queryables", status=404)


def test_unknown_parameter_on_metadata_is_400(client):
    get_json(client, "/collections?foo=bar", status=400)


def test_bad_format_is_400(client):
    get_json(client, "/collections/dltb?f=xml", status=400)


def test_html(client):
    r = client.get("/collections/dltb", headers={"Accept": "text/html"})
    assert r.status_code == 200 and b"<html" in r.data
