"""Plan quality check (processes/qc, process plan-qc): the demo region's own plans pass; packages
broken on purpose give exactly the finding expected, where they were broken; the reports; the
registry rule (only a clean check moves an entry to checked); the OGC API process.

Packages are exported from the demo store and broken with pyogrio/shapely here, independently
of the checker. The demo's plans have no findings at all, so "exactly" means one finding.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
import shapely.affinity
from pyproj import Transformer

from onemap.config.catalogue import get_catalogue
from onemap.config.errors import Conflict
from onemap.processes.qc import check_package, check_plan, load_qc_config
from onemap.processes.qc.lifecycle import mark_if_clean
from onemap.processes.qc.measure import geodesic_area_perimeter
from onemap.processes.qc.report import (
    POINT_LAYER,
    POLYGON_LAYER,
    to_json,
    write_reports,
)
from onemap.providers.packages import export_plan, load_package
from onemap.providers.registry import Registry
from onemap.providers.store import open_store

from .auth import admin_client
from .conftest import copy_store, pristine

CITY = "990100-city-master-2023"
COUNTY = "990121-county-master-2022"
SURVEY = "990121-county-survey-2023"
NEW = "990121-county-master-2024"
URL = "/processes/plan-qc/execution"
NEAR_DEG = 0.0005  # a finding is "where it was broken" within about 50 m
DIAMOND = 0.0008  # half-diagonal (degrees) of the pieces cut and added below


# ---- packages in memory ---------------------------------------------------------------------------
@dataclass
class Layer:
    crs: str
    geoms: np.ndarray
    cols: dict[str, np.ndarray]


def read_pkg(path: Path) -> dict[str, Layer]:
    out = {}
    for name, _ in pyogrio.list_layers(path):
        meta, _fids, wkb, fields = pyogrio.raw.read(path, layer=name)
        out[str(name)] = Layer(meta["crs"], shapely.from_wkb(wkb),
                               {str(n): np.asarray(v) for n, v in zip(meta["fields"], fields)})
    return out


def write_pkg(path: Path, layers: dict[str, Layer]) -> Path:
    for i, (name, layer) in enumerate(layers.items()):
        pyogrio.raw.write(path, geometry=shapely.to_wkb(layer.geoms), field_data=list(layer.cols.values()),
                          fields=list(layer.cols), layer=name, driver="GPKG", crs=layer.crs,
                          geometry_type="MultiPolygon", append=i > 0)
    return path


def area(g: shapely.Geometry) -> float:
    return float(geodesic_area_perimeter(np.array([g], dtype=object))[0][0])


def multi(g: shapely.Geometry) -> shapely.MultiPolygon:
    parts = shapely.get_parts(g)
    return shapely.MultiPolygon(list(parts[shapely.get_type_id(parts) == 3]))


def diamond(p: shapely.Point, r: float = DIAMOND) -> shapely.Polygon:
    # turned 45° to the parcel grid, so no edge meets a parcel edge at a sharp angle
    return shapely.Polygon([(p.x + r, p.y), (p.x, p.y + r), (p.x - r, p.y), (p.x, p.y - r)])


def set_geom(layer: Layer, i: int, g: shapely.Geometry) -> None:
    layer.geoms[i] = multi(g)
    for name in ("MJ", "TBMJ"):
        if name in layer.cols:
            layer.cols[name][i] = area(layer.geoms[i])


def interior_feature(layer: Layer, r: float = DIAMOND * 1.5) -> int:
    """A feature with room for a diamond around its inner point."""
    for i, g in enumerate(layer.geoms):
        if g.contains(diamond(shapely.point_on_surface(g), r)):
            return i
    raise AssertionError("no feature is big enough")


# ---- how to break a package -----------------------------------------------------------------------------
@dataclass
class Expected:
    rule: str
    variant: str
    layer: str
    bsm: str | None
    where: shapely.Geometry | None  # where the finding must be (None: layer-level, no place to check)


def overlap_in_layer(pkg: dict[str, Layer]) -> Expected:
    ghfq = pkg["GHFQ"]
    tree = shapely.STRtree(ghfq.geoms)
    for i, x in enumerate(ghfq.geoms):
        for j in tree.query(x, predicate="touches"):
            shared = shapely.intersection(x.boundary, ghfq.geoms[j].boundary)
            if shared.length < 4 * DIAMOND:
                continue
            piece = shapely.intersection(ghfq.geoms[j], diamond(shapely.point_on_surface(shared)))
            if piece.area < 0.3 * DIAMOND ** 2:
                continue
            set_geom(ghfq, i, shapely.union(x, piece))
            bsm = ghfq.cols["BSM"][max(i, int(j))]  # the later feature of the two is named
            return Expected("T01", "overlap", "GHFQ", bsm, piece)
    raise AssertionError("no neighbours")


def gap_in_tiling_layer(pkg: dict[str, Layer]) -> Expected:
    ghfq = pkg["GHFQ"]
    i = interior_feature(ghfq)
    hole = diamond(shapely.point_on_surface(ghfq.geoms[i]))
    set_geom(ghfq, i, shapely.difference(ghfq.geoms[i], hole))
    return Expected("T02", "gap", "GHFQ", None, hole)


def bad_code(pkg: dict[str, Layer]) -> Expected:
    zx = pkg["ZXCQGHYDYH"]
    zx.cols["YDYHFLDM"][7] = "9999"
    return Expected("A01", "code", "ZXCQGHYDYH", zx.cols["BSM"][7], zx.geoms[7])


def code_name_mismatch(pkg: dict[str, Layer]) -> Expected:
    zx = pkg["ZXCQGHYDYH"]
    zx.cols["YDYHFLMC"][9] = "水工设施用地" if zx.cols["YDYHFLMC"][9] != "水工设施用地" else "城镇住宅用地"
    return Expected("A02", "mismatch", "ZXCQGHYDYH", zx.cols["BSM"][9], zx.geoms[9])


def duplicate_bsm(pkg: dict[str, Layer]) -> Expected:
    red = pkg["STBHHX"]
    red.cols["BSM"][5] = red.cols["BSM"][0]
    return Expected("A04", "duplicate", "STBHHX", red.cols["BSM"][0], red.geoms[5])


def wgs84(pkg: dict[str, Layer]) -> Expected:
    pkg["HLFXKZX"].crs = "EPSG:4326"
    return Expected("M01", "wrong", "HLFXKZX", None, shapely.envelope(shapely.union_all(pkg["HLFXKZX"].geoms)))


def wrong_zone(pkg: dict[str, Layer]) -> Expected:
    flood = pkg["HLFXKZX"]
    t = Transformer.from_crs(4490, 4528, always_xy=True)  # zone 40 (120°E), the data lie at 117°E
    where = shapely.envelope(shapely.union_all(flood.geoms))
    flood.geoms = shapely.transform(flood.geoms, lambda x, y: t.transform(x, y), interleaved=False)
    flood.crs = "EPSG:4528"
    return Expected("M02", "zone", "HLFXKZX", None, where)


def empty_mandatory(pkg: dict[str, Layer]) -> Expected:
    red = pkg["STBHHX"]
    red.cols["HXMC"][3] = None
    return Expected("C03", "empty", "STBHHX", red.cols["BSM"][3], red.geoms[3])


def missing_layer(pkg: dict[str, Layer]) -> Expected:
    del pkg["GHFQ"]
    return Expected("C01", "missing", "GHFQ", None, None)


def area_off(pkg: dict[str, Layer]) -> Expected:
    ghfq = pkg["GHFQ"]
    ghfq.cols["MJ"][4] = ghfq.cols["MJ"][4] * 1.01
    return Expected("S01", "area", "GHFQ", ghfq.cols["BSM"][4], ghfq.geoms[4])


def red_line_on_urban_boundary(pkg: dict[str, Layer]) -> Expected:
    red, czk = pkg["STBHHX"], pkg["CZKFBJ"]
    r = interior_feature(red)
    piece = diamond(shapely.point_on_surface(red.geoms[r]))
    set_geom(czk, 2, shapely.union(czk.geoms[2], piece))
    return Expected("T07", "control", "STBHHX", red.cols["BSM"][r], piece)


def sliver(pkg: dict[str, Layer]) -> Expected:
    ghfq = pkg["GHFQ"]
    i = interior_feature(ghfq, DIAMOND * 3)
    c = shapely.point_on_surface(ghfq.geoms[i])
    # 0.3 m wide, 300 m long, cut out of the zone and made a feature of its own
    strip = shapely.affinity.rotate(shapely.box(c.x - 0.0016, c.y - 0.0000014, c.x + 0.0016, c.y + 0.0000014), 30)
    assert ghfq.geoms[i].contains(strip)
    set_geom(ghfq, i, shapely.difference(ghfq.geoms[i], strip))
    ghfq.geoms = np.append(ghfq.geoms, multi(strip))
    for name, values in ghfq.cols.items():
        ghfq.cols[name] = np.append(values, values[i])
    ghfq.cols["BSM"][-1] = ghfq.cols["BSM"][i][:6] + "999999999999"
    ghfq.cols["MJ"][-1] = area(strip)
    return Expected("T05", "thin", "GHFQ", ghfq.cols["BSM"][-1], strip)


BREAKERS: dict[str, Callable[[dict[str, Layer]], Expected]] = {
    "overlap": overlap_in_layer, "gap": gap_in_tiling_layer, "bad_code": bad_code,
    "code_name": code_name_mismatch, "duplicate_bsm": duplicate_bsm, "wgs84": wgs84, "gk_zone": wrong_zone,
    "empty_field": empty_mandatory, "missing_layer": missing_layer, "area": area_off,
    "red_line_on_urban_boundary": red_line_on_urban_boundary, "sliver": sliver,
}


# ---- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def region_store(demo_dir: Path, tmp_path_factory):
    """A private copy of the demo GeoPackage, read only: where a package's region outline comes from.
    (A copy: connections opened and closed here must not share the session's file with other modules.)"""

    path = tmp_path_factory.mktemp("qc-region") / "onemap.gpkg"
    copy_store(pristine(demo_dir), path)
    s = open_store(str(path))
    yield s
    s.close()


@pytest.fixture(scope="module")
def packages(region_store, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("qc-packages")
    for pid in (CITY, COUNTY, SURVEY):
        export_plan(region_store, pid, d / f"{pid}.gpkg")
    return d


def qc(path: Path, store, region: str = "990100", level: str = "city", type_: str = "master", **kw):
    return check_package(path, region=region, level=level, type_=type_, catalogue=get_catalogue(), store=store, **kw)


def broken(packages: Path, tmp_path: Path, how: str) -> tuple[Path, Expected]:
    pkg = read_pkg(packages / f"{CITY}.gpkg")
    expected = BREAKERS[how](pkg)
    return write_pkg(tmp_path / f"broken-{how}.gpkg", pkg), expected


def near(found: shapely.Geometry | None, want: shapely.Geometry) -> bool:
    """Is the finding where it should be: its location's centre on (or within ~50 m of) ``want``?"""
    return found is not None and shapely.distance(shapely.centroid(found), want) < NEAR_DEG


# ---- the demo's own plans pass ----------------------------------------------------------------------------
def test_every_demo_entry_exported_passes(settings, tmp_path):
    store = open_store(settings.store_url)
    try:
        for pid, plan in store.plans().items():
            path = export_plan(store, pid, tmp_path / f"{pid}.gpkg")
            r = qc(path, store, plan.region, plan.level, plan.type)
            assert r.passed and r.errors == 0, (pid, [(f.rule, f.message_en) for f in r.findings[:5]])
            assert r.subject["region_source"], pid  # the region's outline was found
            names = {str(n) for n, _ in pyogrio.list_layers(path)}
            assert {layer["name"] for layer in r.layers} == {n for n in names if get_catalogue().by_table_code(n)}
            assert set(r.subject["skipped_layers"]) == {n for n in names if not get_catalogue().by_table_code(n)}
    finally:
        store.close()


def test_every_demo_entry_in_the_store_passes(settings):
    store = open_store(settings.store_url)
    try:
        for pid in store.plans():
            r = check_plan(store, pid)
            assert r.passed, (pid, [(f.rule, f.message_en) for f in r.findings[:5]])
            assert r.subject["kind"] == "plan" and r.subject["plan_id"] == pid
            assert sum(layer["features"] for layer in r.layers) == sum(n for n, _ in store.plan_layers(pid).values())
    finally:
        store.close()


def test_a_store_entry_read_in_small_tiles_loses_and_doubles_nothing(settings, tmp_path):
    """The store is read tile by tile (bbox queries); each parcel must come exactly once."""
    own = tmp_path / "tiles.yaml"
    own.write_text("performance: {chunk_features: 40, cell_features: 200}\n", encoding="utf-8")
    small = load_qc_config(get_catalogue(), own)
    store = open_store(settings.store_url)
    try:
        r = check_plan(store, SURVEY, config=small)
        assert r.findings == [], [(f.rule, f.message_en) for f in r.findings[:5]]
        counts = {layer_id: n for layer_id, (n, _) in store.plan_layers(SURVEY).items()}
        assert {layer["layer"]: layer["features"] for layer in r.layers} == counts
    finally:
        store.close()


@pytest.mark.parametrize("fmt,crs", [("shp", "EPSG:4527"), ("gdb", "EPSG:4490"), ("gpkg", "EPSG:4527")])
def test_other_formats_and_gauss_krueger_pass(region_store, tmp_path, fmt, crs):
    ext = {"gpkg": "gpkg", "shp": "zip", "gdb": "gdb"}[fmt]
    path = export_plan(region_store, COUNTY, tmp_path / f"county.{ext}", fmt=fmt, crs=crs)
    r = qc(path, region_store, "990121", "county")
    assert r.findings == [], [(f.rule, f.message_en) for f in r.findings[:5]]
    assert {layer["crs"] for layer in r.layers} == {crs}
    assert r.subject["format"] == fmt


# ---- broken on purpose ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", list(BREAKERS))
def test_broken_package_gives_exactly_the_expected_finding(packages, region_store, tmp_path, how):
    path, want = broken(packages, tmp_path, how)
    r = qc(path, region_store)
    got = [(f.rule, f.variant, f.layer) for f in r.findings]
    assert got == [(want.rule, want.variant, want.layer)], [(f.rule, f.variant, f.layer, f.message_en)
                                                            for f in r.findings]
    f = r.findings[0]
    assert f.severity == "error" or (f.rule, f.severity) == ("T05", "warning")
    assert r.passed == (f.severity != "error")
    if want.bsm is not None:
        assert f.bsm == want.bsm
    if want.where is not None:
        assert near(f.location, want.where), (f.location, shapely.centroid(want.where))
    assert f.message_zh and f.message_en and f.message_zh != f.message_en
    if f.rule in ("T01", "T02", "T07"):  # the location is the piece itself
        assert shapely.symmetric_difference(f.location, want.where).area < 0.05 * want.where.area
        assert f.measured == pytest.approx(area(want.where), rel=0.02)


def test_findings_are_the_same_with_small_chunks_and_cells(packages, region_store, tmp_path):
    """Reading 100 features at a time and cells of ~10 features (every layer judged cell by cell)
    change no finding."""
    own = tmp_path / "province-qc.yaml"
    own.write_text("performance: {chunk_features: 100, cell_features: 10, max_findings_per_rule: 500}\n",
                   encoding="utf-8")
    small = load_qc_config(get_catalogue(), own)
    assert small.performance.cell_features == 10 and small.thresholds.gap_m2 == 1.0  # merged onto ours
    for how in ("overlap", "gap", "red_line_on_urban_boundary", "duplicate_bsm"):
        path, _ = broken(packages, tmp_path, how)
        a = qc(path, region_store)
        b = qc(path, region_store, config=small)
        assert [f.key() for f in a.findings] == [f.key() for f in b.findings], how
        assert [f.measured for f in a.findings if isinstance(f.measured, float)] == pytest.approx(
            [f.measured for f in b.findings if isinstance(f.measured, float)], rel=1e-6)
        for fa, fb in zip(a.findings, b.findings):  # the same places, however the cells cut them
            assert shapely.hausdorff_distance(fa.location, fb.location) < 1e-7, how
    # the survey's 3000 parcels over many cells: no false gap or overlap at cell edges
    r = qc(packages / f"{SURVEY}.gpkg", region_store, "990121", "county", "survey", config=small)
    assert r.findings == []


def test_a_deleted_parcel_is_one_gap_across_cells_and_the_sums_do_not_close(packages, region_store, tmp_path):
    pkg = read_pkg(packages / f"{SURVEY}.gpkg")
    dltb = pkg["DLTB"]
    k = int(np.argmax(shapely.area(dltb.geoms)))
    lost = dltb.geoms[k]
    dltb.geoms = np.delete(dltb.geoms, k)
    dltb.cols = {n: np.delete(v, k) for n, v in dltb.cols.items()}
    path = write_pkg(tmp_path / "survey.gpkg", pkg)
    own = tmp_path / "cells.yaml"
    own.write_text("performance: {cell_features: 100}\n", encoding="utf-8")
    r = qc(path, region_store, "990121", "county", "survey", config=load_qc_config(get_catalogue(), own))
    assert sorted((f.rule, f.layer) for f in r.findings) == [("S03", "DLTB"), ("T02", "DLTB")]
    gap = next(f for f in r.findings if f.rule == "T02")
    assert shapely.symmetric_difference(gap.location, lost).area < 1e-6 * lost.area
    s03 = next(f for f in r.findings if f.rule == "S03")
    assert s03.expected - s03.measured == pytest.approx(area(lost), rel=1e-6)


def test_a_tiling_layer_may_be_judged_against_another_layers_outline(packages, region_store, tmp_path):
    """tiling: {region: own_outline, boundary_layer: ...}: the parcels must fill the regions' outline."""
    pkg = read_pkg(packages / f"{SURVEY}.gpkg")
    dltb = pkg["DLTB"]
    lost = dltb.geoms[100]
    dltb.geoms = np.delete(dltb.geoms, 100)
    dltb.cols = {n: np.delete(v, 100) for n, v in dltb.cols.items()}
    path = write_pkg(tmp_path / "survey.gpkg", pkg)
    own = tmp_path / "boundary.yaml"
    own.write_text("topology: {tiling: {dltb: {region: own_outline, boundary_layer: xzq}}}\n"
                   "performance: {cell_features: 300}\n", encoding="utf-8")
    r = qc(path, region_store, "990121", "county", "survey", config=load_qc_config(get_catalogue(), own))
    assert [(f.rule, f.layer) for f in r.findings] == [("T02", "DLTB")]  # no S03: not judged by the plan region
    assert shapely.symmetric_difference(r.findings[0].location, lost).area < 1e-6 * lost.area
    assert "XZQ" in r.notes[0]["en"]


def test_survey_logic_and_region_codes(packages, region_store, tmp_path):
    pkg = read_pkg(packages / f"{SURVEY}.gpkg")
    dltb = pkg["DLTB"]
    built = int(np.flatnonzero(dltb.cols["DLBM"] == "0701")[0])
    dltb.cols["CZCSXM"][built] = None  # 城镇住宅用地 must carry its urban/village attribute
    farm = int(np.flatnonzero(dltb.cols["DLBM"] == "0101")[0])
    dltb.cols["CZCSXM"][farm] = "205"  # 205 is for special land (09) only
    other = int(np.flatnonzero(dltb.cols["DLBM"] == "0103")[0])
    dltb.cols["ZLDWDM"][other] = "880101001000"  # another province
    path = write_pkg(tmp_path / "survey.gpkg", pkg)
    r = qc(path, region_store, "990121", "county", "survey")
    got = sorted((f.rule, f.variant, f.bsm) for f in r.findings)
    assert got == sorted([("A06", "required", dltb.cols["BSM"][built]), ("A06", "reserved", dltb.cols["BSM"][farm]),
                          ("A05", "outside", dltb.cols["BSM"][other])])


def test_invalid_geometry_and_wrong_field_type(packages, region_store, tmp_path):
    pkg = read_pkg(packages / f"{CITY}.gpkg")
    flood = pkg["HLFXKZX"]
    x0, y0, x1, y1 = flood.geoms[0].bounds
    bow = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # a bow tie: self-intersecting
    flood.geoms[0] = shapely.MultiPolygon([bow])
    red = pkg["STBHHX"]
    red.cols["XZQDM"] = red.cols["XZQDM"].astype(np.int64)  # region codes as numbers
    path = write_pkg(tmp_path / "bad.gpkg", pkg)
    r = qc(path, region_store)
    got = sorted((f.rule, f.variant, f.layer, f.field) for f in r.findings if f.rule in ("T03", "C02"))
    assert got == [("C02", "type", "STBHHX", "XZQDM"), ("T03", "invalid", "HLFXKZX", None)]
    t03 = next(f for f in r.findings if f.rule == "T03")
    assert "Self-intersection" in t03.measured
    assert shapely.distance(t03.location, shapely.Point((x0 + x1) / 2, (y0 + y1) / 2)) < 1e-6


def test_a_layer_of_curves_is_a_t06_warning(packages, region_store, tmp_path):
    """GDAL hands curves over linearised (and calls the layer MultiPolygon): the declaration tells."""
    if not shutil.which("ogr2ogr"):
        pytest.fail("ogr2ogr (gdal-bin) is missing: deploy/system-packages.sh installs it")
    out = tmp_path / "curves.gpkg"
    p = subprocess.run(["ogr2ogr", "-f", "GPKG", "-nlt", "MULTISURFACE", str(out), str(packages / f"{CITY}.gpkg"),
                        "HLFXKZX"], capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    r = qc(out, region_store, type_="special")
    assert [(f.rule, f.variant, f.severity, f.layer, f.measured) for f in r.findings] == [
        ("T06", "curve", "warning", "HLFXKZX", "MULTISURFACE")]
    assert r.passed


# ---- reports ---------------------------------------------------------------------------------------------------
def test_reports_json_html_and_a_geopackage_qgis_opens(packages, region_store, tmp_path):
    pkg = read_pkg(packages / f"{CITY}.gpkg")
    wants = [gap_in_tiling_layer(pkg), bad_code(pkg), wgs84(pkg)]
    path = write_pkg(tmp_path / "broken.gpkg", pkg)
    r = qc(path, region_store)
    assert sorted(f.rule for f in r.findings) == sorted(w.rule for w in wants)
    paths = write_reports(r, tmp_path / "out")
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["status"] == "failed" and doc["summary"]["errors"] == 3
    assert {x["rule"] for x in doc["summary"]["by_rule"]} == {"T02", "A01", "M01"}
    for f in doc["findings"]:
        assert f["message"]["zh"] and f["message"]["en"] and f["severity"] == "error"
        assert f["location"]["type"] in ("Point", "Polygon", "MultiPolygon")
    a01 = next(f for f in doc["findings"] if f["rule"] == "A01")
    assert (a01["layer"], a01["field"], a01["measured"]) == ("ZXCQGHYDYH", "YDYHFLDM", "9999")
    assert a01["fid"] == 8 and a01["row"] == 8  # the 8th feature (GeoPackage fids start at 1)
    assert {r_["id"] for r_ in doc["rules"] if not r_["enabled"]} >= {"C04", "S02", "P01"}

    page = paths["html"].read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
    assert "成果质检报告" in page and "9999" in page and "T02" in page and "质检未通过" in page

    layers = {str(n): str(t) for n, t in pyogrio.list_layers(paths["gpkg"])}
    assert layers == {POINT_LAYER: "Point", POLYGON_LAYER: "MultiPolygon"}
    n = 0
    per_layer = {}
    for name in layers:
        meta, fids, wkb, fields = pyogrio.raw.read(paths["gpkg"], layer=name, return_fids=True)
        assert list(meta["fields"]) == ["rule", "severity", "layer", "bsm", "fid", "message_zh", "message_en",
                                        "measured", "expected"]
        assert meta["crs"] == "EPSG:4490"
        n += len(fids)
        per_layer[name] = len(fids)
        geoms = shapely.from_wkb(wkb)
        rules = fields[0].tolist()
        for g, rule in zip(geoms, rules):
            want = next(w for w in wants if w.rule == rule)
            assert g is not None and near(g, want.where), rule
    assert n == len(r.findings) and per_layer[POLYGON_LAYER] == 2  # the gap and the layer's extent (M01)
    if shutil.which("ogrinfo"):
        p = subprocess.run(["ogrinfo", "-ro", "-so", str(paths["gpkg"]), POLYGON_LAYER], capture_output=True,
                           text=True, timeout=60, check=False)
        assert p.returncode == 0 and "Feature Count: 2" in p.stdout, p.stdout + p.stderr


def test_findings_beyond_the_limit_are_counted_not_listed(packages, region_store, tmp_path):
    pkg = read_pkg(packages / f"{SURVEY}.gpkg")
    pkg["DLTB"].cols["TBMJ"] = pkg["DLTB"].cols["TBMJ"] * 2
    path = write_pkg(tmp_path / "survey.gpkg", pkg)
    own = tmp_path / "limit.yaml"
    own.write_text("performance: {max_findings_per_rule: 10}\n", encoding="utf-8")
    r = qc(path, region_store, "990121", "county", "survey", config=load_qc_config(get_catalogue(), own))
    n = len(pkg["DLTB"].geoms)
    assert r.counts[("S01", "error")] == n and r.counts[("S03", "error")] == 1
    assert len([f for f in r.findings if f.rule == "S01"]) == 10
    doc = to_json(r)
    assert {"rule": "S01", "layer": "DLTB", "count": n - 10} in doc["summary"]["not_listed"]


# ---- the registry rule -------------------------------------------------------------------------------------------
def _load(store, tmp_path: Path, break_it: Callable[[dict[str, Layer]], None] | None = None) -> str:
    path = export_plan(store, COUNTY, tmp_path / "county.gpkg")
    if break_it is not None:
        pkg = read_pkg(path)
        break_it(pkg)
        path = write_pkg(tmp_path / "county-broken.gpkg", pkg)
    return load_package(store, path, region="990121", level="county", type_="master", version="2024",
                        by="东岭县自然资源和规划局").id


def test_a_clean_submitted_entry_moves_to_checked(fresh_settings, tmp_path):
    store = open_store(fresh_settings.store_url)
    try:
        pid = _load(store, tmp_path)
        assert store.plan(pid).status == "submitted"
        r = check_plan(store, pid)
        assert r.passed and r.findings == []
        moved, note = mark_if_clean(store, r)
        assert moved is not None and moved.status == "checked" and "checked" in note
        last = Registry(store).events(pid)[-1]
        assert (last.by, last.from_status, last.to_status) == ("plan-qc", "submitted", "checked")
        assert last.reason == r.summary() and "passed" in last.reason
        # checked now: approving works, checking again changes nothing
        assert mark_if_clean(store, check_plan(store, pid))[0] is None
        assert Registry(store).approve(pid, "审批员", "示市政函〔2024〕5号", override="test: gate not under test").status \
            == "approved"
    finally:
        store.close()


def test_an_entry_with_errors_stays_submitted_and_cannot_be_approved(fresh_settings, tmp_path):
    def dup(pkg: dict[str, Layer]) -> None:
        pkg["YJJBNT"].cols["BSM"][3] = pkg["YJJBNT"].cols["BSM"][1]

    store = open_store(fresh_settings.store_url)
    try:
        pid = _load(store, tmp_path, dup)  # the loader takes it: duplicates are the quality check's business
        r = check_plan(store, pid)
        assert [(f.rule, f.layer) for f in r.findings] == [("A04", "YJJBNT")] and not r.passed
        moved, note = mark_if_clean(store, r)
        assert moved is None and "stays submitted" in note
        assert store.plan(pid).status == "submitted"
        with pytest.raises(Conflict) as err:
            Registry(store).approve(pid, "审批员", "示市政函〔2024〕6号")
        assert err.value.status == 409 and "submitted" in err.value.description
        assert store.plan(pid).status == "submitted"
    finally:
        store.close()


def test_warnings_do_not_block_the_move_to_checked(fresh_settings, tmp_path):
    store = open_store(fresh_settings.store_url)
    try:
        pid = _load(store, tmp_path, sliver)
        r = check_plan(store, pid)
        assert [(f.rule, f.severity) for f in r.findings] == [("T05", "warning")] and r.passed
        assert mark_if_clean(store, r)[0].status == "checked"
    finally:
        store.close()


# ---- the OGC API process ------------------------------------------------------------------------------------------
def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_process_checks_a_package(client, packages, tmp_path):
    path, want = broken(packages, tmp_path, "overlap")
    body = {"inputs": {"package": _b64(path), "region": "990100", "level": "city", "type": "master"}}
    r = client.post(URL, json=body)
    assert r.status_code == 200 and r.mimetype == "application/json", r.data[:500]
    doc = json.loads(r.data)
    assert doc["status"] == "failed" and [f["rule"] for f in doc["findings"]] == ["T01"]
    assert near(shapely.geometry.shape(doc["findings"][0]["location"]), want.where)
    assert doc["registry"]["moved"] is False


def test_process_gives_the_geopackage_raw_and_in_a_document(client, packages, tmp_path):
    path, _ = broken(packages, tmp_path, "bad_code")
    inputs = {"package": _b64(path), "region": "990100", "level": "city", "type": "master"}
    r = client.post(URL, json={"inputs": inputs, "outputs": {"errors": {}}})
    assert r.status_code == 200 and r.mimetype == "application/geopackage+sqlite3"
    (tmp_path / "raw.gpkg").write_bytes(r.data)
    assert len(pyogrio.raw.read(tmp_path / "raw.gpkg", layer=POINT_LAYER)[2]) == 1
    r = client.post(URL, json={"inputs": inputs, "response": "document",
                               "outputs": {"report": {}, "errors": {}, "report_html": {}}})
    assert r.status_code == 200, r.data[:500]
    doc = json.loads(r.data)
    assert doc["errors"]["encoding"] == "base64" and doc["errors"]["mediaType"] == "application/geopackage+sqlite3"
    (tmp_path / "doc.gpkg").write_bytes(base64.b64decode(doc["errors"]["value"]))
    meta, _, _, fields = pyogrio.raw.read(tmp_path / "doc.gpkg", layer=POINT_LAYER)
    assert fields[list(meta["fields"]).index("measured")].tolist() == ["9999"]
    assert doc["report"]["findings"][0]["rule"] == "A01"
    assert doc["report_html"]["mediaType"] == "text/html" and "成果质检报告" in doc["report_html"]["value"]


def test_the_report_names_its_rule_file_not_where_the_server_keeps_it(client, packages, tmp_path, settings):
    from .conftest import ROOT

    path, _ = broken(packages, tmp_path, "overlap")
    inputs = {"package": _b64(path), "region": "990100", "level": "city", "type": "master"}
    r = client.post(URL, json={"inputs": inputs, "response": "document", "outputs": {"report": {}, "report_html": {}}})
    assert r.status_code == 200, r.data[:500]
    doc = json.loads(r.data)
    assert doc["report"]["config"]["path"] == "qc.yaml"
    for where in (str(ROOT), str(settings.data_dir.resolve()), str(tmp_path)):
        assert where.encode() not in r.data, where


@pytest.mark.parametrize("inputs,status,words", [
    ({}, 400, ["plan_id", "package"]),
    ({"plan_id": "nope-county-master-1"}, 404, ["nope-county-master-1"]),
    ({"plan_id": COUNTY}, 409, [COUNTY, "filed"]),
    ({"plan_id": COUNTY, "region": "990121"}, 400, ["region"]),
    ({"package": "bm90IGEgcGFja2FnZQ==", "region": "990100", "level": "city", "type": "master"}, 400, ["GeoPackage"]),
    ({"package": "***", "region": "990100", "level": "city", "type": "master"}, 400, ["base64"]),
    ({"package": "bm90IGEgcGFja2FnZQ==", "region": "990100"}, 400, ["level", "type"]),
    ({"package": "bm90IGEgcGFja2FnZQ==", "region": "990100", "level": "district", "type": "master"}, 400, ["level"]),
])
def test_process_mistakes_are_clear_errors(client, inputs, status, words):
    r = client.post(URL, json={"inputs": inputs})
    assert r.status_code == status, r.data[:300]
    doc = json.loads(r.data)
    assert doc["code"] and "Traceback" not in doc["description"]
    for w in words:
        assert w in doc["description"], (w, doc["description"])


def test_process_moves_a_clean_submitted_entry_to_checked_in_an_async_job(fresh_settings, tmp_path):
    from onemap.server.app import create_app

    store = open_store(fresh_settings.store_url)
    try:
        pid = _load(store, tmp_path)
    finally:
        store.close()
    app = create_app(fresh_settings.model_copy(update={"job_workers": 0}))  # the job runs below, in this thread
    c = admin_client(app)
    r = c.post(URL, json={"inputs": {"plan_id": pid}}, headers={"Prefer": "respond-async"})
    assert r.status_code == 201, r.data[:300]
    job = r.headers["Location"].rsplit("/", 1)[1]
    assert json.loads(c.get(f"/jobs/{job}").data)["status"] == "accepted"
    app.extensions["onemap"].runner.loop(once=True)
    status = json.loads(c.get(f"/jobs/{job}").data)
    assert status["status"] == "successful", status
    doc = json.loads(c.get(f"/jobs/{job}/results").data)
    assert doc["status"] == "passed" and doc["registry"] == {"status": "checked", "moved": True,
                                                             "note": f"{pid} moved from submitted to checked"}
    store = open_store(fresh_settings.store_url)
    try:
        assert store.plan(pid).status == "checked"
        # the move is recorded as the person who asked for the check (the job's owner)
        owner = json.loads(c.get(f"/jobs/{job}").data)["x-onemap"]["owner"]
        assert owner and Registry(store).events(pid)[-1].by == owner
    finally:
        store.close()
    # a checked entry may be checked again (nothing moves)
    r = c.post(URL, json={"inputs": {"plan_id": pid}})
    assert r.status_code == 200 and json.loads(r.data)["registry"]["moved"] is False


def test_process_honours_the_time_limit(fresh_settings, tmp_path):
    """Progress goes through ctx.progress: past its time limit the job stops, and nothing moves."""
    from onemap.server.app import create_app

    store = open_store(fresh_settings.store_url)
    try:
        pid = _load(store, tmp_path)
    finally:
        store.close()
    app = create_app(fresh_settings.model_copy(update={"job_workers": 0, "job_time_limit": 1e-6}))
    c = admin_client(app)
    r = c.post(URL, json={"inputs": {"plan_id": pid}}, headers={"Prefer": "respond-async"})
    job = r.headers["Location"].rsplit("/", 1)[1]
    app.extensions["onemap"].runner.loop(once=True)
    status = json.loads(c.get(f"/jobs/{job}").data)
    assert status["status"] == "failed" and "time limit" in status["message"]
    store = open_store(fresh_settings.store_url)
    try:
        assert store.plan(pid).status == "submitted"
    finally:
        store.close()


def test_a_broken_rule_file_is_a_config_error(tmp_path):
    from onemap.config.errors import ConfigError

    for text, words in [("thresholds: {gap_m2: -1}\n", "gap_m2"),
                        ("topology: {tiling: {nope: {region: plan_region}}}\n", "nope"),
                        ("messages: {T02: {gap: 5}}\n", "T02"),
                        ("rules: {Z99: {severity: error}}\n", "Z99"),
                        ("required_layers: [{types: [master], layers: [ghfq], levels: [district]}]\n", "district")]:
        own = tmp_path / "own.yaml"
        own.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_qc_config(get_catalogue(), own)
        assert words in err.value.description, (text, err.value.description)
