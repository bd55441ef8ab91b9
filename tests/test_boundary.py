"""Boundary inputs of the processes (processes/boundary.py): every format, every repair, every refusal.

The reference samples and their exact expected parses are config/coordfile/ (copied from the
shared reference, see its README); the other fixtures in tests/data/boundary/ are the same
boundaries in other formats and variants, written by tests/data/boundary/make_fixtures.py
from expected.json with pyproj alone.

Decisions under test (where the issue left a choice):
- GeoJSON is read x,y (lon,lat or easting,northing) in every CRS; GML follows its srsName
  (URN/URI: EPSG axis order; short EPSG:nnnn: x,y); KML is lon,lat.
- Axes given the wrong way round are swapped back with a note when only the swap fits China.
- A declared area within 1 % passes quietly, up to 5 % with a warning note, beyond 5 % is a 400.
- make_valid is accepted only when the area changes by at most 0.1 %.
"""

from __future__ import annotations

import codecs
import json
import math
import socket
from pathlib import Path

import numpy as np
import pytest
import shapely
from lxml import etree
from pyproj import Transformer

from onemap.config.errors import InvalidInput, OneMapError, PayloadTooLarge
from onemap.processes.boundary import Boundary, BoundaryLimits, parse_boundary
from onemap.processes.boundary_xml import xml_parser
from onemap.providers.geometry import geodesic_area

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "config" / "coordfile"
DATA = ROOT / "tests" / "data" / "boundary"
EXPECTED = json.loads((REF / "expected.json").read_text(encoding="utf-8"))
SAMPLES = sorted(EXPECTED)
TO_LL = Transformer.from_crs(4527, 4490, always_xy=True)


def ref(name: str) -> bytes:
    return (REF / name).read_bytes()


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def refused(value, status: int = 400, **kw) -> str:
    """The error message of a refused input, checked to be a plain one-line client message."""
    with pytest.raises(OneMapError) as info:
        parse_boundary(value, **kw)
    err = info.value
    assert err.status == status, err.description
    assert isinstance(err, PayloadTooLarge if status == 413 else InvalidInput)
    msg = err.description
    assert "Traceback" not in msg and "\n" not in msg and " / " in msg  # English / 中文
    return msg


def same_geometry(a: shapely.Geometry, b: shapely.Geometry, rel: float = 1e-9) -> None:
    """Symmetric difference below 1e-6 of the area, and the same geodesic area."""
    assert shapely.symmetric_difference(a, b).area < 1e-6 * a.area
    assert geodesic_area(a) == pytest.approx(geodesic_area(b), rel=rel)


def same_as_expected(a: shapely.Geometry, sample: str) -> None:
    # expected.json rounds lon/lat to 9 decimals (0.1 mm): its areas agree to about 1e-7
    same_geometry(a, expected_geometry(sample), rel=1e-6)


def expected_geometry(sample: str) -> shapely.MultiPolygon:
    """The union of a sample's parcels from expected.json (lon/lat), independent of the parser."""
    polys = []
    for p in EXPECTED[sample]["parcels"]:
        outer = [r["epsg4490_lonlat"] for r in p["rings"] if r["role"] == "outer"]
        holes = [r["epsg4490_lonlat"] for r in p["rings"] if r["role"] == "hole"]
        polys.append(shapely.Polygon(outer[0], holes))
    return shapely.MultiPolygon(polys)


@pytest.fixture(scope="module")
def sample2() -> Boundary:
    return parse_boundary(ref("sample2_two_parcels_hole_gbk_crlf.txt"))


# ---- the reference samples ---------------------------------------------------------------------
@pytest.mark.parametrize("sample", SAMPLES)
def test_samples_parse_to_the_expected_rings(sample):
    exp = EXPECTED[sample]
    b = parse_boundary(ref(sample))
    assert b.source_crs == f"EPSG:{exp['epsg']}" == "EPSG:4527"
    assert b.metadata["zone"] == exp["zone_from_header"]
    want = [(i, r) for i, p in enumerate(exp["parcels"], start=1) for r in p["rings"]]
    assert len(b.rings) == len(want)
    for got, (parcel, r) in zip(b.rings, want):
        assert (got["parcel"], got["ring"], got["role"]) == (parcel, r["qh"], r["role"])
        # in file order and orientation, closed (sample3's rings are closed by the parser)
        assert np.abs(np.array(got["source"]) - np.array(r["epsg4527_EN"])).max() < 1e-6
        assert np.abs(np.array(got["lonlat"]) - np.array(r["epsg4490_lonlat"])).max() < 1e-8
        assert shapely.is_ccw(shapely.LinearRing(got["source"])) == r["ccw_in_EN_plane"]
    same_as_expected(b.geometry, sample)
    assert isinstance(b.geometry, shapely.MultiPolygon) and b.geometry.is_valid
    for poly in b.geometry.geoms:  # output orientation: shells counter-clockwise, holes clockwise
        assert poly.exterior.is_ccw and not any(r.is_ccw for r in poly.interiors)
    total_ha = sum(p["computed_area_ha"] for p in exp["parcels"])
    assert b.area["ha"] == pytest.approx(total_ha, abs=1e-4)


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_parcel_attributes(sample):
    b = parse_boundary(ref(sample))
    for got, exp in zip(b.parcels, EXPECTED[sample]["parcels"], strict=True):
        assert got["id"] == exp["地块编号"]
        assert got["name"] == exp["地块名称"]
        assert got["use"] == exp["地块用途"]
        assert got["declared_area_ha"] == exp["地块面积_ha"]
        assert got["planar_area_ha"] == exp["computed_area_ha"]
        assert got["area"]["ha"] == pytest.approx(exp["computed_area_ha"], abs=2e-4)  # geodesic
        a = got["attributes"]
        assert a["界址点数"] == exp["界址点数"]
        assert a["图幅号"] == exp["图幅号"] and a["地类编码"] == exp["地类编码"]
        assert a["记录图形属性"] == exp["图形属性"]
        assert got["holes"] == sum(r["role"] == "hole" for r in exp["rings"])
    json.dumps(b.parcels, ensure_ascii=False)  # results carry them: plain JSON types only


def test_sample_header_and_extra_sections():
    b1 = parse_boundary(ref("sample1_single_gbk_crlf.txt"))
    assert b1.metadata["sections"]["属性描述"] == EXPECTED["sample1_single_gbk_crlf.txt"]["attributes"]
    assert b1.metadata["encoding"] == "GB18030"
    b3 = parse_boundary(ref("sample3_variant_utf8bom_lf.txt"))
    assert b3.metadata["sections"]["项目信息"] == EXPECTED["sample3_variant_utf8bom_lf.txt"]["extra_sections"]["项目信息"]
    assert b3.metadata["encoding"] == "UTF-8 with BOM"
    assert b3.metadata["sections"]["属性描述"]["转换参数"] == "0,0,0,0,0,0,0"


def test_sample3_notes_say_rings_were_closed():
    b = parse_boundary(ref("sample3_variant_utf8bom_lf.txt"))
    closed = [n for n in b.notes if "was not closed; closed it" in n]
    assert len(closed) == 2
    assert "parcel 2024-01" in closed[0] and "未闭合，已闭合" in closed[0] and "line 13" in closed[0]
    same_as_expected(b.geometry, "sample3_variant_utf8bom_lf.txt")


def test_sample2_parcel_areas_and_hole(sample2):
    p1, p2 = sample2.parcels
    assert (p1["parts"], p1["holes"], p2["holes"]) == (1, 1, 0)
    assert sample2.vertices == 6 + 4 + 4  # closing points not counted
    assert sample2.area["m2"] == pytest.approx(p1["area"]["m2"] + p2["area"]["m2"], abs=0.02)


@pytest.mark.parametrize("encoding,newline,bom", [
    ("gbk", "\r\n", b""), ("gbk", "\n", b""), ("gb18030", "\r\n", b""), ("utf-8", "\n", b""),
    ("utf-8", "\r\n", codecs.BOM_UTF8), ("utf-8", "\n", codecs.BOM_UTF8), ("utf-16-le", "\r\n", codecs.BOM_UTF16_LE)])
def test_encodings_and_line_endings(encoding, newline, bom):
    text = ref("sample2_two_parcels_hole_gbk_crlf.txt").decode("gbk").replace("\r\n", "\n")
    b = parse_boundary(bom + text.replace("\n", newline).encode(encoding))
    assert [p["name"] for p in b.parcels] == ["示例地块一", "示例地块二"]
    same_as_expected(b.geometry, "sample2_two_parcels_hole_gbk_crlf.txt")


def test_text_given_as_str_and_fmt_named():
    text = ref("sample1_single_gbk_crlf.txt").decode("gbk")
    b = parse_boundary(text, fmt="coordfile")
    assert b.parcels[0]["attributes"]["地块名称"] == "示例地块一"
    same_as_expected(b.geometry, "sample1_single_gbk_crlf.txt")


# ---- the same boundary in every format ---------------------------------------------------------
@pytest.mark.parametrize("name,kw", [
    ("sample2_crs84.geojson", {}),
    ("sample2_crs84.geojson", {"crs": "OGC:CRS84"}),
    ("sample2_crs84.geojson", {"crs": "EPSG:4490"}),
    ("sample2_crs84.geojson", {"crs": "http://www.opengis.net/def/crs/EPSG/0/4490"}),
    ("sample2_crs84.geojson", {"crs": "EPSG:4326"}),
    ("sample2_4490.geojson", {}),
    ("sample2_4527.geojson", {}),
    ("sample2_4527.geojson", {"crs": "EPSG:4527", "fmt": "geojson"}),
    ("sample2_3857.geojson", {"crs": "EPSG:3857"}),
    ("sample2_4490_latlon.gml", {}),
    ("sample2_4527.gml", {"fmt": "gml"}),
    ("sample2.kml", {}),
    ("sample2.kml", {"fmt": "kml"}),
])
def test_every_format_gives_the_same_geometry(sample2, name, kw):
    b = parse_boundary(data(name), **kw)
    same_geometry(b.geometry, sample2.geometry)
    assert b.area["m2"] == pytest.approx(sample2.area["m2"], abs=0.01)
    assert b.geometry.is_valid and all(p.exterior.is_ccw for p in b.geometry.geoms)


def test_geojson_as_dict_and_as_str_with_properties(sample2):
    doc = json.loads(data("sample2_crs84.geojson"))
    for value in (doc, json.dumps(doc, ensure_ascii=False)):
        b = parse_boundary(value)
        assert b.source_crs == "OGC:CRS84"
        assert [(p["id"], p["name"], p["use"], p["declared_area_ha"]) for p in b.parcels] == [
            ("2024-01", "示例地块一", "商服用地", 8.0676), ("2024-02", "示例地块二", "公路用地", 0.9384)]
    # a single Feature and a bare geometry
    feat = doc["features"][0]
    assert parse_boundary(feat).parcels[0]["id"] == "2024-01"
    bare = parse_boundary(feat["geometry"])
    same_geometry(bare.geometry, shapely.MultiPolygon([sample2.geometry.geoms[0]]))
    multi = {"type": "MultiPolygon", "coordinates": [f["geometry"]["coordinates"] for f in doc["features"]]}
    same_geometry(parse_boundary(multi).geometry, sample2.geometry)


def test_gml_and_kml_attributes():
    gml = parse_boundary(data("sample2_4490_latlon.gml"))
    assert [(p["id"], p["name"], p["use"], p["declared_area_ha"]) for p in gml.parcels] == [
        ("parcel.1", "示例地块一", "商服用地", 8.0676), ("parcel.2", "示例地块二", "公路用地", 0.9384)]
    assert gml.parcels[0]["attributes"]["DKBH"] == "2024-01"
    kml = parse_boundary(data("sample2.kml"))
    assert [(p["id"], p["name"], p["use"]) for p in kml.parcels] == [
        ("2024-01", "示例地块一", "商服用地"), ("2024-02", "示例地块二", "公路用地")]
    assert kml.metadata["format"] == "kml" and gml.metadata["format"] == "gml"


def test_gml_short_epsg_is_xy_and_swapped_axes_are_noted(sample2):
    text = data("sample2_4490_latlon.gml").decode()
    # the same lat,lon numbers under the short EPSG:4490 (read x,y): only the swap fits China
    b = parse_boundary(text.replace('srsName="urn:ogc:def:crs:EPSG::4490"', 'srsName="EPSG:4490"'))
    same_geometry(b.geometry, sample2.geometry)
    assert any("latitude first" in n for n in b.notes)
    # no srsName and no crs: read as CGCS2000 lon/lat (and lat,lon is swapped back)
    b = parse_boundary(text.replace(' srsName="urn:ogc:def:crs:EPSG::4490"', ""))
    same_geometry(b.geometry, sample2.geometry)
    assert any("no srsName" in n for n in b.notes)


def test_gml_coordinates_and_pos_forms(sample2):
    p = sample2.rings[2]["lonlat"]  # parcel 2's outer ring
    coords = " ".join(f"{lon!r},{lat!r}" for lon, lat in p)
    gml2 = ('<gml:Polygon xmlns:gml="http://www.opengis.net/gml" '
            'srsName="http://www.opengis.net/gml/srs/epsg.xml#4490">'
            f'<gml:outerBoundaryIs><gml:LinearRing><gml:coordinates>{coords}</gml:coordinates></gml:LinearRing>'
            f'</gml:outerBoundaryIs></gml:Polygon>')
    b = parse_boundary(gml2)
    same_geometry(b.geometry, shapely.MultiPolygon([sample2.geometry.geoms[1]]))
    pos = "".join(f"<gml:pos>{lat!r} {lon!r} 12.5</gml:pos>" for lon, lat in p)
    gml3 = (f'<gml:Polygon xmlns:gml="http://www.opengis.net/gml/3.2" srsName="urn:ogc:def:crs:EPSG::4490" '
            f'srsDimension="3"><gml:exterior><gml:LinearRing>{pos}</gml:LinearRing></gml:exterior></gml:Polygon>')
    same_geometry(parse_boundary(gml3.encode()).geometry, b.geometry)


# ---- variants ----------------------------------------------------------------------------------
def test_zjgg_variant():
    b = parse_boundary(data("variant_zjgg_gbk_crlf.txt"))
    same_as_expected(b.geometry, "sample1_single_gbk_crlf.txt")
    assert b.parcels[0]["name"] == "示例地块一" and b.parcels[0]["declared_area_ha"] == 2.1292
    assert any("增减挂钩" in n for n in b.notes)
    assert b.metadata["zone"] == 39


def test_full_width_punctuation():
    b = parse_boundary(data("variant_fullwidth_utf8.txt"))
    same_as_expected(b.geometry, "sample1_single_gbk_crlf.txt")
    assert b.parcels[0]["attributes"]["地块编号"] == "1"
    assert b.rings[0]["source"][1] == [39502298.25, 4058215.5]  # the line typed in full-width digits


def test_rings_in_the_wrong_orientation(sample2):
    b = parse_boundary(data("variant_reversed_rings_gbk_crlf.txt"))
    same_geometry(b.geometry, shapely.MultiPolygon([sample2.geometry.geoms[0]]))
    assert [r["role"] for r in b.rings] == ["outer", "hole"]
    assert any("2 ring(s) ran against" in n for n in b.notes)
    # GeoJSON with clockwise shells (RFC 7946 wants counter-clockwise)
    doc = json.loads(data("sample2_crs84.geojson"))
    for f in doc["features"]:
        f["geometry"]["coordinates"] = [r[::-1] for r in f["geometry"]["coordinates"]]
    b = parse_boundary(doc)
    same_geometry(b.geometry, sample2.geometry)
    assert any("3 ring(s) ran against" in n for n in b.notes)
    assert all(p.exterior.is_ccw for p in b.geometry.geoms)


def test_second_outer_ring_is_a_part_not_a_hole():
    b = parse_boundary(data("variant_multipart_gbk_crlf.txt"))
    assert len(b.geometry.geoms) == 2 and all(not p.interiors for p in b.geometry.geoms)
    assert [r["role"] for r in b.rings] == ["outer", "outer"]
    assert b.parcels[0]["parts"] == 2 and b.parcels[0]["holes"] == 0
    assert b.parcels[0]["planar_area_ha"] == b.parcels[0]["declared_area_ha"] == 2.7692
    assert any("ring 2 (from line 20)" in n and "separate part" in n for n in b.notes)


def test_swapped_xy_columns():
    b = parse_boundary(data("variant_swapped_xy_gbk_crlf.txt"))
    same_as_expected(b.geometry, "sample1_single_gbk_crlf.txt")
    assert any("X and Y were swapped" in n for n in b.notes)
    # swapped on some lines only: cannot be decided
    text = ref("sample1_single_gbk_crlf.txt").decode("gbk").replace(
        "J3,1,4058102.750,39502310.000", "J3,1,39502310.000,4058102.750")
    msg = refused(text)
    assert "line 16" in msg and "swapped" in msg


def test_unprefixed_eastings_use_the_central_meridian_crs():
    text = ref("sample1_single_gbk_crlf.txt").decode("gbk")
    text = "\n".join(ln.replace(",395", ",5") if ln.startswith("J") else ln for ln in text.splitlines())
    b = parse_boundary(text)
    assert b.source_crs == "EPSG:4548"
    same_as_expected(b.geometry, "sample1_single_gbk_crlf.txt")
    msg = refused(text.replace("带号=39", "带号="))
    assert "no zone prefix" in msg


def test_legacy_zone_field_holding_the_zone_width():
    text = ref("sample1_single_gbk_crlf.txt").decode("gbk").replace("带号=39", "带号=3")
    b = parse_boundary(text)
    assert b.source_crs == "EPSG:4527"
    assert any("带号=3 repeats the zone width" in n for n in b.notes)


def test_ring_closing_duplicates_and_counts():
    text = ref("sample1_single_gbk_crlf.txt").decode("gbk").replace(
        "J2,1,4058215.500,39502298.250", "J2,1,4058215.500,39502298.250\r\nJ2,1,4058215.500,39502298.250")
    b = parse_boundary(text.replace("6,2.1292,", "9,2.1292,"))
    same_as_expected(b.geometry, "sample1_single_gbk_crlf.txt")
    assert any("repeated 1 point(s) in a row" in n for n in b.notes)
    assert any("界址点数=9 matches none" in n for n in b.notes)  # 7 lines, 6 without the closing point


def test_declared_area_tolerances():
    base = ref("sample1_single_gbk_crlf.txt").decode("gbk")
    assert not any("declared" in n for n in parse_boundary(base).notes)
    warn = parse_boundary(base.replace("6,2.1292,", "6,2.2000,"))  # 3.3 % off: a warning note
    assert any("differs from the computed planar area" in n and "3.3%" in n for n in warn.notes)
    msg = refused(base.replace("6,2.1292,", "6,2.4000,"))  # 12.7 % off: refused
    assert "parcel 1" in msg and "2.1292" in msg and "more than 5%" in msg
    m2 = parse_boundary(base.replace("6,2.1292,", "6,21292,"))  # the old arcpy int(area) in m²
    assert any("in m², not ha" in n for n in m2.notes)


def test_holes_nested_islands_and_overlapping_parcels(sample2):
    # an island inside the hole of sample2 parcel 1 is a third outer ring
    text = ref("sample2_two_parcels_hole_gbk_crlf.txt").decode("gbk")
    island = ("J11,3,4057520.000,39503170.000\r\nJ12,3,4057520.000,39503210.000\r\n"
              "J13,3,4057490.000,39503210.000\r\nJ14,3,4057490.000,39503170.000\r\n")
    b = parse_boundary(text.replace("5,0.9384,2024-02", island + "5,0.9384,2024-02").replace(
        "12,8.0676,", "16,8.1876,"))
    assert [r["role"] for r in b.rings] == ["outer", "hole", "outer", "outer"]
    assert b.parcels[0]["parts"] == 2
    assert b.parcels[0]["planar_area_ha"] == pytest.approx(8.0676 + 0.12, abs=1e-4)
    # two GeoJSON features that overlap: their union, and a note
    doc = json.loads(data("sample2_crs84.geojson"))
    doc["features"].append(doc["features"][1])
    b = parse_boundary(doc)
    same_geometry(b.geometry, sample2.geometry)
    assert any("overlap by" in n for n in b.notes)


def test_small_self_intersection_is_repaired_large_is_refused():
    # a 1 km square with a tiny loop at one corner: make_valid keeps > 99.9 % of the area
    sq = [[117.0, 36.6], [117.01, 36.6], [117.01, 36.61], [116.99999, 36.61], [117.00001, 36.61001], [117.0, 36.6]]
    b = parse_boundary({"type": "Polygon", "coordinates": [sq]})
    assert b.geometry.is_valid and any("crossed or touched itself" in n for n in b.notes)
    bowtie = [[117.0, 36.6], [117.01, 36.61], [117.01, 36.6], [117.0, 36.61], [117.0, 36.6]]
    msg = refused({"type": "Polygon", "coordinates": [bowtie]})
    assert "crosses or overlaps itself" in msg and "the exterior ring" in msg


def test_unclosed_geojson_ring_and_swapped_lonlat(sample2):
    doc = json.loads(data("sample2_crs84.geojson"))
    doc["features"][0]["geometry"]["coordinates"][0].pop()
    doc["features"][1]["geometry"]["coordinates"] = [[[lat, lon] for lon, lat in r]
                                                     for r in doc["features"][1]["geometry"]["coordinates"]]
    b = parse_boundary(doc)
    same_geometry(b.geometry, sample2.geometry)
    assert any("the exterior ring of feature 1 (id '2024-01') was not closed" in n for n in b.notes)
    assert any("feature 2 (id '2024-02'): the coordinates were given latitude first" in n for n in b.notes)


def test_hand_computed_areas():
    # a 1 km × 1 km square on the central meridian of zone 39 (scale factor 1): 100 ha = 1500 亩
    e0, n0 = 39500000.0, 4058000.0
    sq = [[e0 - 500, n0 - 500], [e0 + 500, n0 - 500], [e0 + 500, n0 + 500], [e0 - 500, n0 + 500], [e0 - 500, n0 - 500]]
    b = parse_boundary({"type": "Polygon", "coordinates": [sq]}, crs="EPSG:4527")
    assert b.area["m2"] == pytest.approx(1_000_000.0, abs=0.01)
    assert b.area["ha"] == 100.0 and b.area["mu"] == 1500.0
    assert b.parcels[0]["planar_area_ha"] == 100.0
    # a 0.01° cell: the area between two parallels on the GRS80 ellipsoid, in closed form
    a, f = 6378137.0, 1 / 298.257222101
    e2 = f * (2 - f)
    e, bb = math.sqrt(e2), a * (1 - f)

    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (1 - e2 * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    want = bb * bb * math.radians(0.01) / 2 * (q(36.61) - q(36.6))
    cell = [[117.0, 36.6], [117.01, 36.6], [117.01, 36.61], [117.0, 36.61], [117.0, 36.6]]
    assert parse_boundary({"type": "Polygon", "coordinates": [cell]}).area["m2"] == pytest.approx(want, rel=1e-7)


# ---- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, "", "   \r\n", b"", codecs.BOM_UTF8, {},
                                   {"type": "FeatureCollection", "features": []},
                                   {"type": "Polygon", "coordinates": []}])
def test_empty_input(value):
    msg = refused(value)
    assert "empty" in msg


def test_xml_doctype_and_entity_bombs_are_refused():
    for name in ("refuse_billion_laughs.gml", "refuse_xxe.gml"):
        for value in (data(name), data(name).decode()):
            msg = refused(value)
            assert "DOCTYPE" in msg
    utf16 = codecs.BOM_UTF16_LE + data("refuse_xxe.gml").decode().replace('encoding="UTF-8"', "").encode("utf-16-le")
    assert "DOCTYPE" in refused(utf16)


@pytest.mark.parametrize("gml, kind", [
    ('<gml:MultiSurface xmlns:gml="http://www.opengis.net/gml/3.2"/>', "MultiSurface"),
    ('<gml:MultiSurface xmlns:gml="http://www.opengis.net/gml/3.2"><gml:surfaceMember/></gml:MultiSurface>',
     "MultiSurface"),
    ('<gml:Surface xmlns:gml="http://www.opengis.net/gml/3.2"><gml:patches/></gml:Surface>', "Surface"),
    ('<gml:MultiPolygon xmlns:gml="http://www.opengis.net/gml"></gml:MultiPolygon>', "MultiPolygon"),
    ('<f xmlns:gml="http://www.opengis.net/gml/3.2" gml:id="p1"><where><gml:MultiSurface/></where></f>',
     "MultiSurface"),
])
def test_an_empty_gml_area_is_refused(gml, kind):
    msg = refused(gml)
    assert f"gml:{kind} holds no gml:Polygon" in msg


def test_xml_parser_never_expands_reads_or_fetches(tmp_path):
    """Defence in depth below the DOCTYPE refusal: the parser itself resolves nothing."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER-42")
    # a listening loopback port: any fetch by the parser would leave a connection in its backlog
    # (the libxml2 bundled with lxml 6 has no HTTP client at all; this guards against a build that has)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    doc = (f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/r.dtd" [\n'
           f' <!ENTITY secret SYSTEM "{secret.as_uri()}">\n'
           f' <!ENTITY remote SYSTEM "http://127.0.0.1:{port}/x">\n]>\n<r>&secret;&remote;</r>').encode()
    root = etree.fromstring(doc, xml_parser())
    assert "SECRET-MARKER-42" not in etree.tostring(root).decode()
    with pytest.raises(InvalidInput):
        parse_boundary(doc)
    try:  # libxml2 refuses the amplification itself; either way nothing large is built
        bomb = etree.fromstring(data("refuse_billion_laughs.gml"), xml_parser())
        assert len(etree.tostring(bomb)) < 10_000
    except etree.XMLSyntaxError:
        pass
    server.setblocking(False)
    try:
        server.accept()[0].close()
        fetched = True
    except BlockingIOError:
        fetched = False
    finally:
        server.close()
    assert not fetched, "the XML parser opened a network connection"


def test_80_and_54_datums_are_refused():
    msg = refused(data("refuse_xian80_gbk_crlf.txt"))
    assert "Xian 1980" in msg and "line 5" in msg and "2000国家大地坐标系" in msg
    text = ref("sample1_single_gbk_crlf.txt").decode("gbk").replace("2000国家大地坐标系", "1954北京坐标系")
    assert "Beijing 1954" in refused(text)
    assert "not a datum" in refused(text.replace("1954北京坐标系", "WGS84"))


def test_wrong_zone_prefix_is_refused():
    msg = refused(data("refuse_wrong_prefix_gbk_crlf.txt"))
    assert "带号=38" in msg and "zone prefix 39" in msg and "line 9" in msg and "line 14" in msg
    # a GeoJSON in EPSG:4527 whose eastings carry zone 40
    doc = json.loads(data("sample2_4527.geojson"))
    for f in doc["features"]:
        f["geometry"]["coordinates"] = [[[e + 1e6, n] for e, n in r] for r in f["geometry"]["coordinates"]]
    msg = refused(doc)
    assert "zone prefix 40" in msg and "EPSG:4527 is zone 39" in msg and "EPSG:4528" in msg


def test_lonlat_numbers_declared_as_a_gauss_kruger_zone():
    doc = json.loads(data("sample2_crs84.geojson"))
    msg = refused(doc, crs="EPSG:4527")
    assert "do not fit EPSG:4527" in msg and "longitude/latitude" in msg and "feature 1" in msg


def test_gauss_kruger_numbers_given_as_crs84():
    doc = json.loads(data("sample2_4527.geojson"))
    del doc["crs"]
    msg = refused(doc)
    assert "do not fit OGC:CRS84" in msg and "zone 39 (EPSG:4527)" in msg


def test_points_outside_china_and_one_bad_point():
    paris = [[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.85]]
    assert "outside China" in refused({"type": "Polygon", "coordinates": [paris]})
    text = ref("sample1_single_gbk_crlf.txt").decode("gbk").replace(
        "J4,1,4058060.000,39502205.500", "J4,1,4058060.000,39952205.500")  # a typo: 450 km east
    msg = refused(text)
    assert "line 17" in msg and "EPSG:4527" in msg


def test_bowtie_coordfile_is_refused():
    msg = refused(data("refuse_bowtie_gbk_crlf.txt"))
    assert "parcel 2024-09" in msg and "ring 1 (from line 14)" in msg and "crosses or overlaps itself" in msg


def test_limits():
    n = 100_001
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.column_stack([117.0 + 0.01 * np.cos(ang), 36.6 + 0.01 * np.sin(ang)]).tolist()
    ring.append(ring[0])
    msg = refused({"type": "Polygon", "coordinates": [ring]}, status=413)
    assert "100,000 vertices" in msg and "max_vertices" in msg
    assert "max_vertices" in refused(ref("sample2_two_parcels_hole_gbk_crlf.txt"), status=413,
                                     limits=BoundaryLimits(max_vertices=10))
    big = [[110.0, 30.0], [111.0, 30.0], [111.0, 31.0], [110.0, 31.0], [110.0, 30.0]]
    msg = refused({"type": "Polygon", "coordinates": [big]}, status=413)
    assert "2,000 km²" in msg and "max_area_km2" in msg
    tiny = [[117.0, 36.6], [117.000001, 36.6], [117.000001, 36.600001], [117.0, 36.6]]
    assert "min_area_m2" in refused({"type": "Polygon", "coordinates": [tiny]})
    assert "max_bytes" in refused(" " * 2000, status=413, limits=BoundaryLimits(max_bytes=1000))


@pytest.mark.parametrize("value", ["hello, this is not a boundary", b"\x00\x01\x02garbage\xff\xfe",
                                   "POLYGON ((117 36, 118 36, 118 37, 117 36))", "{not json", "<kml><oops></kml>"])
def test_garbage_is_refused(value):
    refused(value)


def test_geojson_point_and_other_non_areas():
    msg = refused({"type": "Point", "coordinates": [117.0, 36.6]})
    assert "Point is not an area" in msg
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "LineString", "coordinates": [[117, 36], [118, 37]]}}]}
    assert "feature 1 is a LineString" in refused(fc)
    pt = '<gml:Point xmlns:gml="http://www.opengis.net/gml/3.2"><gml:pos>36.6 117.0</gml:pos></gml:Point>'
    assert "gml:Point" in refused(pt)
    kml = ('<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>pin</name>'
           '<Point><coordinates>117,36.6</coordinates></Point></Placemark></kml>')
    assert "Point" in refused(kml)


def test_bad_parameters_and_mismatched_formats():
    assert "not a CRS" in refused(data("sample2_crs84.geojson"), crs="EPSG:bogus")
    assert "not accepted" in refused(data("sample2_crs84.geojson"), crs="EPSG:2383")
    assert "is not one of" in refused(data("sample2_crs84.geojson"), fmt="shp")
    assert "not GML" in refused(data("sample2.kml"), fmt="gml")
    assert "not KML" in refused(data("sample2_4527.gml"), fmt="kml")
    assert "[地块坐标]" in refused("[属性描述]\n坐标系=2000国家大地坐标系\n", fmt="coordfile")
    doc = json.loads(data("sample2_4527.geojson"))
    msg = refused(doc, crs="EPSG:4528")
    assert "the crs parameter says EPSG:4528 but the GeoJSON 'crs' member says EPSG:4527" in msg


def test_coordfile_line_numbers_in_errors():
    base = ref("sample1_single_gbk_crlf.txt").decode("gbk")
    msg = refused(base.replace("J3,1,4058102.750,39502310.000", "J3,1,4058102.750,395O2310.000"))
    assert "line 16" in msg
    assert "line 16" in refused(base.replace("J3,1,4058102.750,39502310.000", "J3,1,4058102.750"))
    assert "line 15" in refused(base.replace("J2,1,", "J2,0,"))
    msg = refused(base.replace("6,2.1292,1,示例地块一,面,J50G081049,工业用地,0601,@", "6,2.1292,1,示例线,线,,,,@"))
    assert "记录图形属性=线" in msg and "line 13" in msg
    msg = refused(base.replace("[地块坐标]\r\n6,2.1292,1,示例地块一,面,J50G081049,工业用地,0601,@\r\n", "[地块坐标]\r\n"))
    assert "line 13" in msg and "before any parcel header" in msg
