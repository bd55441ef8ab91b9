"""Plan packages (providers/packages.py): export in the national layout, load back, refuse bad ones.

Packages are written and inspected with GDAL (pyogrio), independently of the loader. Every
test works on a private copy of the demo store (``fresh_settings``), on both backends.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import CRS, Transformer

from onemap.config.errors import Conflict, InvalidParameterValue, LoadError, NotFound
from onemap.providers.packages import export_plan, load_package
from onemap.providers.registry import Registry
from onemap.providers.store import open_store

from .auth import admin_client
from .conftest import all_items

COUNTY = "990121-county-master-2022"
NEW = "990121-county-master-2024"
SURVEY = "990121-county-survey-2023"
LAYERS = {"stbhhx": "STBHHX", "yjjbnt": "YJJBNT", "czkfbj": "CZKFBJ", "ghfq": "GHFQ"}
EXT = {"gpkg": "gpkg", "shp": "zip", "gdb": "gdb"}


# ---- helpers ------------------------------------------------------------------------------------
@pytest.fixture()
def store(fresh_settings):
    s = open_store(fresh_settings.store_url)
    yield s
    s.close()


@pytest.fixture()
def originals(store) -> dict[str, dict]:
    """The 2022 county plan's features per layer: {BSM: (properties, geometry)} (before any load)."""
    out = {}
    for lid in LAYERS:
        layer = store.catalogue.layer(lid)
        names = [f.name for f in layer.fields]
        geoms, cols = store.geometries(layer, [COUNTY], columns=names)
        assert len(geoms) > 0, lid
        out[lid] = {cols["BSM"][i]: ({n: cols[n][i] for n in names}, geoms[i]) for i in range(len(geoms))}
    return out


def state(url: str) -> dict:
    """Row counts of every table and the registry, read through a new store object."""
    s = open_store(url)
    try:
        counts = {lid: s.count_rows(lid) for lid in [*s.catalogue.layers, "plans", "plan_events"]}
        plans = {pid: (p.status, p.valid_from, p.valid_to) for pid, p in s.plans().items()}
        return {"counts": counts, "plans": plans}
    finally:
        s.close()


def read_layers(path: Path | str) -> dict[str, tuple]:
    """{layer: (meta, wkb, field arrays)} of a GeoPackage."""
    out = {}
    for name, _ in pyogrio.list_layers(path):
        meta, _fids, wkb, fields = pyogrio.raw.read(path, layer=name)
        out[str(name)] = (meta, wkb, list(fields))
    return out


def write_layers(path: Path, layers: dict[str, tuple], crs: str | None = "keep",
                 geometry_type: str | None = None) -> Path:
    """Write {layer: (meta, wkb, fields)} as a new GeoPackage."""
    for i, (name, (meta, wkb, fields)) in enumerate(layers.items()):
        pyogrio.raw.write(path, geometry=np.asarray(wkb, dtype=object), field_data=fields,
                          fields=list(meta["fields"]), layer=name, driver="GPKG",
                          crs=meta["crs"] if crs == "keep" else crs,
                          geometry_type=geometry_type or "MultiPolygon", append=i > 0)
    return path


def exported(store, tmp_path: Path, fmt: str = "gpkg", crs: str = "EPSG:4490", name: str = "pkg") -> Path:
    return export_plan(store, COUNTY, tmp_path / f"{name}.{EXT[fmt]}", fmt, crs)


def load(store, path, version: str = "2024", **kw):
    args = {"region": "990121", "level": "county", "type_": "master", "version": version, "by": "东岭县自然资源和规划局"}
    args.update(kw)
    return load_package(store, path, **args)


def file_it(store, pid: str, valid_from: dt.date = dt.date(2024, 3, 1)):
    reg = Registry(store)
    reg.mark_checked(pid, "质检员")
    reg.approve(pid, "审批员", "示市政函〔2024〕5号", dt.date(2024, 2, 20), override="test: gate not under test")
    return reg.file(pid, "管理员", valid_from)


def refused(store, url: str, path, match: list[str], **kw) -> str:
    """Loading ``path`` is a LoadError naming every string in ``match``; nothing changed."""
    before = state(url)
    with pytest.raises(LoadError) as exc:
        load(store, path, **kw)
    msg = exc.value.description
    assert exc.value.status == 400
    for m in match:
        assert m in msg, (m, msg)
    assert "Traceback" not in msg and "\n" not in msg
    assert state(url) == before
    assert store.plan(NEW) is None
    return msg


# ---- export ---------------------------------------------------------------------------------------
def _package_layers(path: Path, fmt: str) -> dict[str, str | tuple[str, str]]:
    """{layer name: pyogrio (dataset, layer)} of an exported package."""
    if fmt == "shp":
        names = zipfile.ZipFile(path).namelist()
        assert not [n for n in names if "/" in n], names
        stems = {Path(n).stem for n in names if n.lower().endswith(".shp")}
        for s in stems:  # a complete Shapefile per layer, UTF-8 declared
            for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                assert s + ext in names, (s, ext, names)
        return {s: (f"/vsizip/{path}/{s}.shp", None) for s in stems}
    return {str(n): (str(path), str(n)) for n, _ in pyogrio.list_layers(path)}


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "gdb"])
def test_export_is_the_national_layout(fmt, store, originals, tmp_path):
    out = exported(store, tmp_path, fmt, "EPSG:4527")
    assert out.exists()
    layers = _package_layers(out, fmt)
    assert set(layers) == set(LAYERS.values())
    for lid, code in LAYERS.items():
        dataset, lname = layers[code]
        info = pyogrio.read_info(dataset, layer=lname)
        assert CRS(info["crs"]).to_epsg() == 4527, (code, info["crs"])
        catalogue_names = [f.name for f in store.catalogue.layer(lid).fields]
        assert list(info["fields"]) == catalogue_names, code
        assert not [n for n in info["fields"] if n.lower().startswith("plan")]
        meta, _, wkb, fields = pyogrio.raw.read(dataset, layer=lname)
        assert len(wkb) == len(originals[lid])
        geoms = shapely.from_wkb(wkb)
        assert set(shapely.get_type_id(geoms)) <= {3, 6}  # polygons
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        # zone-prefixed Gauss-Krüger (zone 39, central meridian 117°E): eastings 39.xxx e6
        assert 39_000_000 < minx < maxx < 40_000_000, (code, minx, maxx)
        assert 3_300_000 < miny < maxy < 3_700_000, (code, miny, maxy)
        cols = dict(zip(meta["fields"], fields))
        assert set(cols["BSM"].tolist()) == set(originals[lid])
        assert set(cols["XZQMC"].tolist()) == {"东岭县"}
        # the coordinates are the stored ones, reprojected
        t = Transformer.from_crs(4527, 4490, always_xy=True)
        back = shapely.transform(geoms, t.transform, interleaved=False)
        for bsm, g in zip(cols["BSM"].tolist(), back):
            assert shapely.hausdorff_distance(g, originals[lid][bsm][1]) < 1e-6, (code, bsm)


def test_export_refuses_bad_arguments(store, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    with pytest.raises(InvalidParameterValue):
        export_plan(store, COUNTY, d / "a.gpkg", "gpkg", "EPSG:3857")
    with pytest.raises(InvalidParameterValue):
        export_plan(store, COUNTY, d / "a.kml", "kml")
    with pytest.raises(NotFound):
        export_plan(store, "990121-county-master-1999", d / "a.gpkg")
    out = exported(store, d)
    with pytest.raises(Conflict):
        export_plan(store, COUNTY, out)
    assert sorted(p.name for p in d.iterdir()) == ["pkg.gpkg"], "left temporary files behind"


# ---- load: the round trip -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["gpkg", "shp", "gdb"])
def test_round_trip_serves_the_same_features(fmt, store, originals, fresh_settings, tmp_path):
    from onemap.server.app import create_app

    out = exported(store, tmp_path, fmt, "EPSG:4527")
    p = load(store, out)
    assert (p.id, p.status, p.region, p.level, p.type, p.version) == (NEW, "submitted", "990121", "county",
                                                                      "master", "2024")
    assert p.checksum and len(p.checksum) == 64
    assert p.upper_plan_id == "990100-city-master-2023"
    events = Registry(store).events(NEW)
    assert [(e.from_status, e.to_status, e.by) for e in events] == [(None, "submitted", "东岭县自然资源和规划局")]
    file_it(store, NEW)
    assert store.plan(COUNTY).status == "superseded" and store.plan(COUNTY).valid_to == dt.date(2024, 3, 1)

    app = create_app(fresh_settings)
    try:
        client = admin_client(app)
        for lid in LAYERS:
            feats = all_items(client, f"/collections/{lid}/items?region=990121&limit=500")
            assert {f["properties"]["plan_id"] for f in feats} == {NEW}, lid
            got = {f["properties"]["BSM"]: f for f in feats}
            assert len(got) == len(feats) and set(got) == set(originals[lid]), lid
            for bsm, (props, geom) in originals[lid].items():
                f = got[bsm]
                for name, want in props.items():
                    have = f["properties"].get(name)
                    if isinstance(want, float):
                        assert have == pytest.approx(want, rel=1e-9), (lid, bsm, name)
                    else:
                        assert have == want, (lid, bsm, name, have, want)
                g = shapely.geometry.shape(f["geometry"])
                assert shapely.hausdorff_distance(g, geom) < 1e-6, (lid, bsm)
                assert g.area == pytest.approx(geom.area, rel=1e-6)
            # the 2022 version is still there for dates before the new one came into force
            old = all_items(client, f"/collections/{lid}/items?region=990121&limit=500&skipGeometry=true"
                            "&datetime=2023-06-01")
            assert {f["properties"]["plan_id"] for f in old} == {COUNTY}
            assert {f["properties"]["plan_status"] for f in old} == {"superseded"}
    finally:
        app.extensions["onemap"].store.close()


# ---- load: refused packages --------------------------------------------------------------------------------
@pytest.mark.parametrize("layer,field,bad", [("YJJBNT", "DLBM", "9999"), ("GHFQ", "GHFQMC", "不存在的分区")])
def test_one_bad_code_refuses_the_whole_package(layer, field, bad, store, fresh_settings, tmp_path):
    layers = read_layers(exported(store, tmp_path))
    meta, _wkb, fields = layers[layer]
    names = list(meta["fields"])
    col = fields[names.index(field)].copy()
    col[2] = bad
    fields[names.index(field)] = col
    bsm = fields[names.index("BSM")][2]
    path = write_layers(tmp_path / "bad.gpkg", layers)
    refused(store, fresh_settings.store_url, path, [layer, str(bsm), bad])


def test_gbk_shapefiles_without_cpg_load_with_correct_text(store, originals, tmp_path):
    z = exported(store, tmp_path, "shp")
    src, dst = tmp_path / "utf8", tmp_path / "gbk"
    zipfile.ZipFile(z).extractall(src)
    dst.mkdir()
    for shp in sorted(src.glob("*.shp")):
        meta, _fids, wkb, fields = pyogrio.raw.read(shp)
        pyogrio.raw.write(dst / shp.name, geometry=wkb, field_data=fields, fields=list(meta["fields"]),
                          crs=meta["crs"], geometry_type="MultiPolygon", driver="ESRI Shapefile",
                          encoding="GBK")
        (dst / shp.with_suffix(".cpg").name).unlink()
        dbf = dst / shp.with_suffix(".dbf").name
        data = bytearray(dbf.read_bytes())
        data[29] = 0  # no language driver id either: nothing in the files names the encoding
        dbf.write_bytes(bytes(data))
        assert "东岭县".encode("gbk") in data and "东岭县".encode() not in data
    gbk_zip = tmp_path / "gbk.zip"
    with zipfile.ZipFile(gbk_zip, "w") as zf:
        for f in sorted(dst.iterdir()):
            zf.write(f, f.name)
    assert not [n for n in zipfile.ZipFile(gbk_zip).namelist() if n.lower().endswith(".cpg")]

    load(store, gbk_zip)
    for lid in LAYERS:
        layer = store.catalogue.layer(lid)
        strings = [f.name for f in layer.fields if f.type == "string"]
        _, cols = store.geometries(layer, [NEW], columns=strings)
        assert set(cols["XZQMC"]) == {"东岭县"}, lid
        got = {cols["BSM"][i]: {n: cols[n][i] for n in strings} for i in range(len(cols["BSM"]))}
        assert set(got) == set(originals[lid])
        for bsm, (props, _) in originals[lid].items():
            assert got[bsm] == {n: props[n] for n in strings}, (lid, bsm)


def _reproject(layers: dict, to: int) -> dict:
    t = Transformer.from_crs(4490, to, always_xy=True)
    out = {}
    for name, (meta, wkb, fields) in layers.items():
        g = shapely.transform(shapely.from_wkb(wkb), lambda x, y: t.transform(x, y), interleaved=False)
        out[name] = ({**meta, "crs": f"EPSG:{to}"}, shapely.to_wkb(g), fields)
    return out


def test_wrong_crs_is_refused(store, fresh_settings, tmp_path):
    layers = _reproject(read_layers(exported(store, tmp_path)), 3857)
    path = write_layers(tmp_path / "webmercator.gpkg", layers)
    refused(store, fresh_settings.store_url, path, ["EPSG:3857", "CGCS2000"])


def test_missing_crs_is_refused(store, fresh_settings, tmp_path):
    z = exported(store, tmp_path, "shp", "EPSG:4527")
    noprj = tmp_path / "noprj.zip"
    with zipfile.ZipFile(z) as src, zipfile.ZipFile(noprj, "w") as dst:
        for n in src.namelist():
            if not n.lower().endswith(".prj"):
                dst.writestr(n, src.read(n))
    refused(store, fresh_settings.store_url, noprj, ["no coordinate reference system"])


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:4527"])
def test_swapped_xy_is_refused(crs, store, fresh_settings, tmp_path):
    """Northing/easting (or lat/lon) written as X/Y: the message must point at the swap."""
    layers = read_layers(exported(store, tmp_path, "gpkg", crs))
    swapped = {}
    for name, (meta, wkb, fields) in layers.items():
        g = shapely.transform(shapely.from_wkb(wkb), lambda c: c[:, ::-1])
        swapped[name] = (meta, shapely.to_wkb(g), fields)
    path = write_layers(tmp_path / "swapped.gpkg", swapped)
    refused(store, fresh_settings.store_url, path, ["swapped X/Y", "layer STBHHX", "BSM 990121"])


def test_self_intersecting_polygon_is_refused(store, fresh_settings, tmp_path):
    layers = read_layers(exported(store, tmp_path))
    meta, wkb, fields = layers["CZKFBJ"]
    c = shapely.from_wkb(wkb[1]).centroid
    x, y, d = c.x, c.y, 0.002
    bowtie = shapely.MultiPolygon([shapely.Polygon([(x, y), (x + d, y + d), (x + d, y), (x, y + d), (x, y)])])
    assert not bowtie.is_valid
    wkb = wkb.copy()
    wkb[1] = shapely.to_wkb(bowtie)
    layers["CZKFBJ"] = (meta, wkb, fields)
    bsm = fields[list(meta["fields"]).index("BSM")][1]
    path = write_layers(tmp_path / "bowtie.gpkg", layers)
    refused(store, fresh_settings.store_url, path, ["CZKFBJ", str(bsm), "invalid geometry", "Self-intersection"])


def test_point_layer_is_refused(store, fresh_settings, tmp_path):
    layers = read_layers(exported(store, tmp_path))
    meta, wkb, fields = layers.pop("CZKFBJ")
    path = write_layers(tmp_path / "points.gpkg", layers)
    pts = shapely.to_wkb(shapely.centroid(shapely.from_wkb(wkb)))
    pyogrio.raw.write(path, geometry=pts, field_data=fields, fields=list(meta["fields"]), layer="CZKFBJ",
                      driver="GPKG", crs=meta["crs"], geometry_type="Point", append=True)
    refused(store, fresh_settings.store_url, path, ["CZKFBJ", "Point"])


def test_layer_of_another_plan_type_is_refused(store, fresh_settings, tmp_path):
    path = exported(store, tmp_path)
    dltb = store.catalogue.layer("dltb")
    names = [f.name for f in dltb.fields]
    geoms, cols = store.geometries(dltb, [SURVEY], columns=names)
    geoms, fields = geoms[:5], [np.asarray(cols[n][:5], dtype=object if n != "TBMJ" else "float64") for n in names]
    pyogrio.raw.write(path, geometry=shapely.to_wkb(geoms), field_data=fields, fields=names, layer="DLTB",
                      driver="GPKG", crs="EPSG:4490", geometry_type="MultiPolygon", append=True)
    refused(store, fresh_settings.store_url, path, ["DLTB", "master"])


def test_package_without_one_map_layers_is_refused(store, fresh_settings, tmp_path):
    path = tmp_path / "roads.gpkg"
    geoms = shapely.to_wkb(np.array([shapely.box(117.3, 31.6, 117.31, 31.61)], dtype=object))
    pyogrio.raw.write(path, geometry=geoms, field_data=[np.array(["x"], dtype=object)], fields=["NAME"],
                      layer="roads", driver="GPKG", crs="EPSG:4490", geometry_type="Polygon")
    refused(store, fresh_settings.store_url, path, ["no one-map layer"])


def test_unreadable_packages_are_refused(store, fresh_settings, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip file at all")
    refused(store, fresh_settings.store_url, junk, ["junk.zip"])
    refused(store, fresh_settings.store_url, tmp_path / "missing.gpkg", ["missing.gpkg"])
    txt = tmp_path / "plan.txt"
    txt.write_text("hello", encoding="utf-8")
    refused(store, fresh_settings.store_url, txt, ["plan.txt"])


def test_loading_the_same_drawer_version_twice_is_a_conflict(store, fresh_settings, tmp_path):
    path = exported(store, tmp_path)
    load(store, path)
    before = state(fresh_settings.store_url)
    with pytest.raises(Conflict) as exc:
        load(store, path)
    assert NEW in exc.value.description
    with pytest.raises(Conflict):
        load(store, exported(store, tmp_path, "shp"))  # another package, same drawer and version
    assert state(fresh_settings.store_url) == before

