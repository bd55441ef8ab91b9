"""Downloads of a selection: /collections/{id}/items?f=csv|gpkg|shp|fgb, on both backends.

Every file is opened by GDAL (pyogrio) and compared with the GeoJSON items of the same request:
the same features, the same Chinese text, the same geometries, in the requested CRS.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import zipfile
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyogrio
import pytest
import shapely

from onemap.server.app import create_app

from .auth import admin_client
from .conftest import all_items, get_json

FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"), "gpkg": ("application/geopackage+sqlite3", "gpkg"),
           "shp": ("application/zip", "shp.zip"), "fgb": ("application/flatgeobuf", "fgb")}
# a selection of a few hundred parcels, through bbox, a CQL2 filter and a property filter at once
SELECTION = "bbox=116.8,31.3,117.1,31.6&filter=" + quote("TBMJ > 20000") + "&DLBM=0301"


def download(client, path: str, fmt: str, tmp_path: Path, status: int = 200):
    """GET a download, check its headers, keep it in ``tmp_path``; returns (response, file)."""
    sep = "&" if "?" in path else "?"
    r = client.get(f"{path}{sep}f={fmt}")
    assert r.status_code == status, r.data[:500]
    if status != 200:
        return r, None
    media, ext = FORMATS[fmt]
    collection = path.split("/")[2]
    assert r.headers["Content-Type"] == media
    assert r.headers["Content-Disposition"] == f'attachment; filename="{collection}.{ext}"'
    out = tmp_path / f"{collection}.{ext}"
    out.write_bytes(r.data)
    return r, out


def read(path: Path) -> tuple[dict, list[int], np.ndarray, dict[str, np.ndarray]]:
    """GDAL's reading of a downloaded file: (meta, feature ids, geometries, columns)."""
    meta, fids, wkb, fields = pyogrio.raw.read(path, return_fids=True)
    cols = {n: np.asarray(v) for n, v in zip(meta["fields"], fields)}
    ids = [int(v) for v in cols["fid"]] if "fid" in cols else [int(v) for v in fids]
    return meta, ids, shapely.from_wkb(wkb), cols


def geojson(client, path: str) -> dict[int, dict]:
    sep = "&" if "?" in path else "?"
    return {f["id"]: f for f in all_items(client, f"{path}{sep}limit=1000")}


def same_geometries(got: np.ndarray, ids: list[int], want: dict[int, dict], swap: bool = False,
                    tolerance: float = 1e-7) -> None:
    for fid, g in zip(ids, got):
        expected = shapely.geometry.shape(want[fid]["geometry"])
        if swap:  # GeoJSON follows the CRS's axis order (north first), files put x east
            expected = shapely.transform(expected, lambda xy: xy[:, ::-1])
        assert g.equals_exact(shapely.force_2d(expected), tolerance) or g.equals(expected), fid


# ---- each format, against the GeoJSON items ------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_holds_the_selection_as_geojson_gives_it(client, fmt, tmp_path):
    path = f"/collections/dltb/items?{SELECTION}"
    want = geojson(client, path)
    assert 20 < len(want) < 2000, "the selection should be a few hundred parcels"
    _, out = download(client, path, fmt, tmp_path)
    _, ids, geoms, cols = read(out)
    assert sorted(ids) == sorted(want), "not the features the GeoJSON items hold"
    assert len(ids) == len(set(ids))
    same_geometries(geoms, ids, want)
    names = cols["ZLDWMC"]
    assert [str(v) for v in names] == [want[i]["properties"]["ZLDWMC"] for i in ids]
    assert any("镇" in str(v) or "乡" in str(v) or "街道" in str(v) for v in names), "no Chinese name came through"
    label = "plan_ty_lb" if fmt == "shp" else "plan_type_label"  # DBF names hold 10 characters
    assert {str(v) for v in cols[label]} == {f["properties"]["plan_type_label"] for f in want.values()}
    if fmt == "gpkg":  # GeoPackage 1.2, which every GDAL since 2.2 reads without a warning
        with closing(sqlite3.connect(out)) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == 10200


def test_the_whole_layer_comes_in_several_batches_every_feature_once(client, tmp_path, ref, today):
    fids, _, geoms = ref.features("dltb", ref.in_force(today))
    assert len(fids) > 2_000, "more than one batch (server/downloads.BATCH) is wanted here"
    _, out = download(client, "/collections/dltb/items", "gpkg", tmp_path)
    _, ids, got, _ = read(out)
    assert len(ids) == len(set(ids)) == len(fids)
    by_fid = dict(zip((int(f) for f in fids), geoms))
    for fid, g in zip(ids, got):
        assert g.equals_exact(by_fid[fid], 1e-7), fid


def test_sortby_orders_the_rows_across_batches(client, tmp_path):
    _, out = download(client, "/collections/dltb/items?sortby=-TBMJ&properties=TBMJ,ZLDWMC", "csv", tmp_path)
    _, ids, _, cols = read(out)
    areas = [float(v) for v in cols["TBMJ"]]
    assert len(ids) > 2_000 and areas == sorted(areas, reverse=True)
    first = get_json(client, "/collections/dltb/items?sortby=-TBMJ&limit=5&skipGeometry=true")
    assert ids[:5] == [f["id"] for f in first["features"]]
    assert set(cols) == {"WKT", "fid", "TBMJ", "ZLDWMC"}


# ---- filters and drawer parameters ------------------------------------------------------------------------
@pytest.mark.parametrize("collection, query", [
    ("dltb", SELECTION),
    ("dltb", "filter=" + quote("DLMC LIKE '%林地' OR DLBM = '0101'")),
    ("dltb", "region=990102"),
    ("czkfbj", "datetime=2022-06-01"),
    ("czkfbj", "plan_id=990100-city-master-2021"),
    ("czkfbj", "datetime=2022-01-01/..&region=990100"),
    ("czkfbj", "view=governing"),
    ("plans", "region=990100"),
])
def test_the_download_holds_what_the_items_hold(client, collection, query, tmp_path):
    path = f"/collections/{collection}/items?{query}"
    want = geojson(client, path)
    assert want, "an empty selection proves nothing"
    _, out = download(client, path, "fgb", tmp_path)
    _, ids, geoms, cols = read(out)
    if collection == "plans":  # registry entries are addressed by their plan id
        ids = list(cols["id"])
    assert sorted(ids) == sorted(want)
    if collection != "plans":
        same_geometries(geoms, ids, want)
    page = get_json(client, f"{path}&limit=1&skipGeometry=true")
    assert page.get("numberMatched", len(want)) == len(ids)


def test_limit_takes_the_first_features_and_offset_skips(client, tmp_path):
    _, out = download(client, "/collections/dltb/items?limit=7&offset=3", "csv", tmp_path)
    _, ids, _, _ = read(out)
    page = get_json(client, "/collections/dltb/items?limit=7&offset=3&skipGeometry=true")
    assert ids == [f["id"] for f in page["features"]]


def test_a_page_cursor_is_refused(client):
    doc = get_json(client, "/collections/dltb/items?f=csv&after=5", status=400)
    assert "after" in doc["description"]


# ---- CRS -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["gpkg", "shp", "csv"])
def test_crs_4490_is_written_lon_lat_and_named(client, fmt, tmp_path):
    path = f"/collections/dltb/items?{SELECTION}&crs=EPSG:4490"
    want = geojson(client, path)
    r, out = download(client, path, fmt, tmp_path)
    assert r.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/4490>"
    meta, ids, geoms, _ = read(out)
    same_geometries(geoms, ids, want, swap=True)
    if fmt == "gpkg":
        assert meta["crs"] == "EPSG:4490"
    if fmt == "shp":
        prj = zipfile.ZipFile(io.BytesIO(r.data)).read("dltb.prj").decode()
        assert "China_Geodetic_Coordinate_System_2000" in prj or "CGCS2000" in prj


@pytest.mark.parametrize("fmt", ["gpkg", "fgb"])
def test_crs_of_a_gauss_kruger_zone(client, om, fmt, tmp_path):
    path = f"/collections/dltb/items?{SELECTION}&crs=EPSG:{om.gk_epsg}"
    want = geojson(client, path)
    _, out = download(client, path, fmt, tmp_path)
    meta, ids, geoms, _ = read(out)
    assert meta["crs"] == f"EPSG:{om.gk_epsg}"
    x0, y0, _, _ = shapely.total_bounds(geoms)
    assert x0 > 1e6 and y0 > 3e6, "eastings (zone-prefixed) first, northings second"
    same_geometries(geoms, ids, want, swap=True, tolerance=2e-3)


# ---- what each format promises ------------------------------------------------------------------------------
def test_csv_has_a_bom_and_the_geometry_as_wkt(client, tmp_path):
    r, _ = download(client, f"/collections/dltb/items?{SELECTION}", "csv", tmp_path)
    assert r.data.startswith(b"\xef\xbb\xbf")
    text = r.data.decode("utf-8-sig")
    header, first = text.split("\r\n")[:2]
    assert header.split(",")[:3] == ["WKT", "fid", "BSM"]
    assert first.startswith('"MULTIPOLYGON (((')
    assert "ZLDWMC" in header and "plan_valid_from" in header


def test_shapefile_zip_is_gbk(client, tmp_path):
    r, _ = download(client, f"/collections/dltb/items?{SELECTION}", "shp", tmp_path)
    zf = zipfile.ZipFile(io.BytesIO(r.data))
    assert sorted(zf.namelist()) == [f"dltb.{e}" for e in ("cpg", "dbf", "prj", "shp", "shx")]
    assert zf.read("dltb.cpg").decode().strip() == "GBK"
    dbf = zf.read("dltb.dbf")
    name = get_json(client, f"/collections/dltb/items?{SELECTION}&limit=1")["features"][0]["properties"]["ZLDWMC"]
    assert name.encode("gbk") in dbf and name.encode("utf-8") not in dbf


def test_temporary_files_are_removed(client, tmp_path):
    def leftovers() -> set[str]:
        return {p.name for p in Path(tempfile.gettempdir()).glob("onemap-download-*")}

    before = leftovers()
    for fmt in ("gpkg", "shp", "fgb"):
        download(client, f"/collections/dltb/items?{SELECTION}", fmt, tmp_path)
    assert leftovers() <= before


# ---- refusals and limits ------------------------------------------------------------------------------
def test_an_unknown_format_is_400_naming_the_offered_ones(client):
    doc = get_json(client, "/collections/dltb/items?f=xlsx", status=400)
    assert doc["code"] == "InvalidParameterValue"
    for fmt in ("json", "html", "csv", "gpkg", "shp", "fgb"):
        assert fmt in doc["description"]


def test_over_the_maximum_is_400_and_at_it_is_answered(client, settings, tmp_path):
    count = len(geojson(client, f"/collections/dltb/items?{SELECTION}&skipGeometry=true"))
    client = admin_client(create_app(settings.model_copy(update={"download_max_features": count})))
    _, out = download(client, f"/collections/dltb/items?{SELECTION}", "csv", tmp_path)
    assert len(read(out)[1]) == count
    _, out = download(client, f"/collections/dltb/items?{SELECTION}&limit={count + 1}", "fgb", tmp_path)
    assert len(read(out)[1]) == count
    for fmt in FORMATS:
        doc = get_json(client, f"/collections/dltb/items?f={fmt}", status=400)
        assert doc["code"] == "InvalidParameterValue" and f"{count:,}" in doc["description"]
    assert f"at most {count:,} features" in get_json(client, "/openapi")["components"]["parameters"]["f-items"][
        "description"]


# ---- access, links, OpenAPI --------------------------------------------------------------------------------
def test_downloads_go_through_the_access_check(anonymous, tmp_path):
    get_json(anonymous, "/collections/dltb/items?f=csv", status=404)  # partner tier
    _, out = download(anonymous, "/collections/czkfbj/items", "gpkg", tmp_path)
    assert read(out)[1]


def test_items_link_each_download_of_the_selection(client):
    doc = get_json(client, f"/collections/dltb/items?{SELECTION}&limit=5")
    alternates = {link["type"]: link["href"] for link in doc["links"] if link["rel"] == "alternate"}
    for fmt, (media, _) in FORMATS.items():
        href = alternates[media.split(";")[0]]
        assert f"f={fmt}" in href and "limit=" not in href and "DLBM=0301" in href
        r = client.get(href.replace("http://testserver", ""))
        assert r.status_code == 200 and r.headers["Content-Type"] == media


def test_openapi_states_formats_and_media_types(client, settings):
    doc = get_json(client, "/openapi")
    f = doc["components"]["parameters"]["f-items"]
    assert f["schema"]["enum"] == ["json", "html", "csv", "gpkg", "shp", "fgb"]
    assert f"{settings.download_max_features:,}" in f["description"]
    op = doc["paths"]["/collections/dltb/items"]["get"]
    assert {"$ref": "#/components/parameters/f-items"} in op["parameters"]
    content = op["responses"]["200"]["content"]
    assert {"application/geo+json", "text/html", "text/csv", "application/geopackage+sqlite3", "application/zip",
            "application/flatgeobuf"} <= set(content)


def test_a_posted_cql2_json_filter_selects_the_download(client, tmp_path):
    body = json.dumps({"op": "and", "args": [{"op": "=", "args": [{"property": "DLBM"}, "0301"]},
                                             {"op": ">", "args": [{"property": "TBMJ"}, 20000]}]})
    page = client.post("/collections/dltb/items?skipGeometry=true&limit=1000", data=body,
                       content_type="application/query-cql-json")
    want = {f["id"] for f in json.loads(page.data)["features"]}
    r = client.post("/collections/dltb/items?f=csv", data=body, content_type="application/query-cql-json")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    (tmp_path / "dltb.csv").write_bytes(r.data)
    assert want and sorted(read(tmp_path / "dltb.csv")[1]) == sorted(want)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_empty_selection_is_an_empty_file_gdal_opens(client, fmt, tmp_path):
    assert get_json(client, "/collections/dltb/items?DLBM=9999&limit=1")["features"] == []
    _, out = download(client, "/collections/dltb/items?DLBM=9999", fmt, tmp_path)
    assert read(out)[1] == []
