"""Resources an operator adds through a pygeoapi configuration overlay are served by pygeoapi
beside the one-map layers: the demo DEM as an OGC API - Coverages collection (rasterio
provider) and a CSV of monitoring stations as a feature collection (CSV provider)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.windows
from openapi_spec_validator import validate

from onemap.config.errors import ConfigError
from onemap.config.settings import Settings

from .auth import admin_client
from .test_openapi import _refs

STATIONS = """id,name,kind,lon,lat
1,玉带河水质监测站,water,117.05,31.48
2,南湖<水库>站,reservoir,116.97,31.30
3,东岭气象站,weather,117.25,31.53
"""
OVERLAY = """resources:
  dem:
    type: collection
    title: {zh: 数字高程模型, en: Digital elevation model}
    description: {zh: 示范区域的数字高程模型, en: Elevation of the demo region}
    keywords: [DEM]
    links: []
    extents:
      spatial: {bbox: [116.6, 31.2, 117.4, 31.75], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    providers:
      - type: coverage
        name: rasterio
        data: ${ONEMAP_TEST_DEM}
        format: {name: GTiff, mimetype: image/tiff}
  stations:
    type: collection
    title: {zh: 监测站点, en: Monitoring stations}
    description: {zh: 监测站点（CSV）, en: Monitoring stations (CSV)}
    keywords: [monitoring]
    links: []
    extents:
      spatial: {bbox: [116.6, 31.2, 117.4, 31.75], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    providers:
      - type: feature
        name: CSV
        data: stations.csv
        id_field: id
        geometry: {x_field: lon, y_field: lat}
"""


@pytest.fixture(scope="module")
def overlay_client(settings: Settings, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("overlay")
    (folder / "stations.csv").write_text(STATIONS, encoding="utf-8")
    (folder / "overlay.yml").write_text(OVERLAY, encoding="utf-8")
    dem = folder / "dem.tif"
    shutil.copy2(Path(settings.data_dir) / "dem.tif", dem)
    monkeypatch_module.setenv("ONEMAP_TEST_DEM", str(dem))  # pygeoapi's ${VAR} substitution
    from onemap.server.app import create_app

    app = create_app(settings.model_copy(update={"pygeoapi_overlay": folder / "overlay.yml"}))
    return admin_client(app), dem


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_overlay_resources_are_listed_beside_the_layers(overlay_client):
    client, _ = overlay_client
    ids = [c["id"] for c in json.loads(client.get("/collections?f=json").data)["collections"]]
    assert {"dem", "stations", "dltb", "czkfbj"} <= set(ids)
    html = client.get("/collections?f=html").data.decode()
    assert "数字高程模型" in html and "监测站点" in html and "三调地类图斑" in html
    dem = json.loads(client.get("/collections/dem?f=json").data)
    assert any(link["rel"].endswith("/coverage") for link in dem["links"])


def test_the_csv_collection_is_served_by_pygeoapi(overlay_client):
    client, _ = overlay_client
    doc = json.loads(client.get("/collections/stations/items?f=json").data)
    assert doc["numberReturned"] == 3
    by_id = {str(f["id"]): f for f in doc["features"]}
    assert by_id["2"]["properties"]["name"] == "南湖<水库>站"  # pygeoapi's &lt; undone, Chinese as UTF-8
    assert by_id["1"]["geometry"] == {"type": "Point", "coordinates": [117.05, 31.48]}
    one = client.get("/collections/stations/items/3?f=json")
    assert one.status_code == 200 and json.loads(one.data)["properties"]["name"] == "东岭气象站"
    bbox = json.loads(client.get("/collections/stations/items?f=json&bbox=117.2,31.5,117.3,31.6").data)
    assert [str(f["id"]) for f in bbox["features"]] == ["3"]
    assert client.get("/collections/stations/queryables?f=json").status_code == 200
    page = client.get("/collections/stations/items?f=html")
    assert page.status_code == 200 and "玉带河水质监测站" in page.data.decode()


def test_the_dem_is_a_coverage_with_the_raster_values(overlay_client):
    client, dem = overlay_client
    r = client.get("/collections/dem/coverage?f=json&bbox=117.0,31.4,117.002,31.402")
    assert r.status_code == 200, r.data[:300]
    cov = json.loads(r.data)
    assert cov["type"] == "Coverage"
    band = next(iter(cov["ranges"].values()))
    values = np.array([v for v in band["values"] if v is not None], dtype=float)
    # the raster read on its own: the cells of the same box. (pygeoapi 0.24 pads the grid with a
    # null row and column and spaces its axis labels over the padded grid, so the cells are
    # compared as a set, not by the labels.)
    with rasterio.open(dem) as src:
        window = rasterio.windows.from_bounds(117.0, 31.4, 117.002, 31.402, src.transform).round_offsets()
        cells = src.read(1, window=window.round_lengths()).ravel()
    assert len(values) == len(cells) >= 16
    assert np.allclose(np.sort(values), np.sort(cells.astype(float)), atol=1e-3)
    tiff = client.get("/collections/dem/coverage?f=GTiff&bbox=117.0,31.4,117.01,31.41")
    assert tiff.status_code == 200 and tiff.data[:4] == b"II*\x00"


def test_overlay_in_conformance_and_openapi(overlay_client):
    client, _ = overlay_client
    conf = json.loads(client.get("/conformance").data)["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-coverages-1/1.0/conf/core" in conf
    r = client.get("/openapi")
    doc = json.loads(r.data)
    assert {"/collections/dem/coverage", "/collections/stations/items"} <= set(doc["paths"])
    refs = _refs(doc, [])
    assert all(ref.startswith("#/") for ref in refs)
    validate(doc)


def test_one_map_layers_are_unchanged_by_the_overlay(overlay_client, client):
    overlaid, _ = overlay_client
    a = json.loads(overlaid.get("/collections/dltb/items?limit=5&f=json").data)
    b = json.loads(client.get("/collections/dltb/items?limit=5&f=json").data)
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]
    assert overlaid.get("/collections/stations/tiles").status_code == 404


def test_an_overlay_cannot_take_a_layer_id(settings, tmp_path):
    (tmp_path / "overlay.yml").write_text("resources:\n  dltb:\n    type: collection\n", encoding="utf-8")
    from onemap.server.app import create_app

    with pytest.raises(ConfigError, match="already a OneMap collection"):
        create_app(settings.model_copy(update={"pygeoapi_overlay": tmp_path / "overlay.yml"}))
