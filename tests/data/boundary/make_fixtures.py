"""Writes the boundary fixtures of tests/test_boundary.py from the reference samples.

Run from the repository root: ``.venv/bin/python tests/data/boundary/make_fixtures.py``.
Every fixture is the sample2 (or sample1) boundary of config/coordfile/ in another format or
variant, so the tests can demand the same geometry from all of them. The coordinates come
from config/coordfile/expected.json (EPSG:4527) transformed with pyproj; nothing here uses
the parser under test.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

from pyproj import Transformer

HERE = Path(__file__).resolve().parent
REF = HERE.parents[2] / "config" / "coordfile"
EXPECTED = json.loads((REF / "expected.json").read_text(encoding="utf-8"))
TO_LL = Transformer.from_crs(4527, 4490, always_xy=True)
TO_MERC = Transformer.from_crs(4326, 3857, always_xy=True)

HEADER = """[属性描述]
格式版本号=1.01版本
数据产生单位=某某测绘有限公司
数据产生日期=2024-05-20
坐标系={datum}
几度分带=3
投影类型=高斯克吕格
计量单位=米
带号={zone}
精度=0.001
转换参数=,,,,,,
[地块坐标]
"""


def sample2() -> list[dict]:
    return EXPECTED["sample2_two_parcels_hole_gbk_crlf.txt"]["parcels"]


def sample1() -> dict:
    return EXPECTED["sample1_single_gbk_crlf.txt"]["parcels"][0]


def lonlat(en: list[list[float]]) -> list[list[float]]:
    return [list(TO_LL.transform(e, n)) for e, n in en]


def ccw(ring: list, outer: bool) -> list:
    """RFC 7946 orientation: the samples' shells are clockwise, their hole counter-clockwise."""
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
    return ring if (area2 > 0) == outer else ring[::-1]


def props(p: dict) -> dict:
    return {"地块编号": p["地块编号"], "地块名称": p["地块名称"], "地块用途": p["地块用途"], "地块面积": p["地块面积_ha"]}


def geojson_collection(transform, crs_name: str | None) -> dict:
    feats = []
    for p in sample2():
        rings = [ccw(transform(r["epsg4527_EN"]), r["role"] == "outer") for r in p["rings"]]
        feats.append({"type": "Feature", "id": p["地块编号"], "properties": props(p),
                      "geometry": {"type": "Polygon", "coordinates": rings}})
    doc: dict = {"type": "FeatureCollection", "name": "项目红线"}
    if crs_name:
        doc["crs"] = {"type": "name", "properties": {"name": crs_name}}  # as GDAL writes it
    doc["features"] = feats
    return doc


def merc(en: list[list[float]]) -> list[list[float]]:
    return [list(TO_MERC.transform(lon, lat)) for lon, lat in lonlat(en)]


def poslist(pairs: list[list[float]]) -> str:
    return " ".join(f"{a!r} {b!r}" for a, b in pairs)


def gml_latlon() -> str:
    members = []
    for i, p in enumerate(sample2(), start=1):
        rings = [[[lat, lon] for lon, lat in lonlat(r["epsg4527_EN"])] for r in p["rings"]]
        inner = "".join(f"<gml:interior><gml:LinearRing><gml:posList srsDimension=\"2\">{poslist(r)}</gml:posList>"
                        "</gml:LinearRing></gml:interior>" for r in rings[1:])
        members.append(f"""  <ogr:featureMember>
    <ogr:parcel gml:id="parcel.{i}">
      <ogr:geometryProperty><gml:Polygon gml:id="parcel.geom.{i}" srsName="urn:ogc:def:crs:EPSG::4490"><gml:exterior><gml:LinearRing><gml:posList srsDimension="2">{poslist(rings[0])}</gml:posList></gml:LinearRing></gml:exterior>{inner}</gml:Polygon></ogr:geometryProperty>
      <ogr:DKBH>{p["地块编号"]}</ogr:DKBH>
      <ogr:DKMC>{p["地块名称"]}</ogr:DKMC>
      <ogr:DKYT>{p["地块用途"]}</ogr:DKYT>
      <ogr:DKMJ>{p["地块面积_ha"]}</ogr:DKMJ>
    </ogr:parcel>
  </ogr:featureMember>""")
    body = "\n".join(members)
    return f"""<?xml version="1.0" encoding="utf-8" ?>
<ogr:FeatureCollection
     gml:id="aFeatureCollection"
     xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xmlns:ogr="http://ogr.maptools.org/"
     xmlns:gml="http://www.opengis.net/gml/3.2">
{body}
</ogr:FeatureCollection>
"""


def gml_4527() -> str:
    """A bare gml:MultiSurface in EPSG:4527 (northing,easting): one Polygon, one Surface with a PolygonPatch."""
    p1, p2 = sample2()
    ne = [[[n, e] for e, n in r["epsg4527_EN"]] for r in p1["rings"]]
    ne2 = [[n, e] for e, n in p2["rings"][0]["epsg4527_EN"]]
    pos2 = "".join(f"<gml:pos>{n!r} {e!r}</gml:pos>" for n, e in ne2)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<gml:MultiSurface xmlns:gml="http://www.opengis.net/gml/3.2" gml:id="ms1" srsName="http://www.opengis.net/def/crs/EPSG/0/4527">
  <gml:surfaceMember>
    <gml:Surface gml:id="s1">
      <gml:patches>
        <gml:PolygonPatch>
          <gml:exterior><gml:LinearRing><gml:posList>{poslist(ne[0])}</gml:posList></gml:LinearRing></gml:exterior>
          <gml:interior><gml:LinearRing><gml:posList>{poslist(ne[1])}</gml:posList></gml:LinearRing></gml:interior>
        </gml:PolygonPatch>
      </gml:patches>
    </gml:Surface>
  </gml:surfaceMember>
  <gml:surfaceMember>
    <gml:Polygon gml:id="p2">
      <gml:exterior><gml:LinearRing>{pos2}</gml:LinearRing></gml:exterior>
    </gml:Polygon>
  </gml:surfaceMember>
</gml:MultiSurface>
"""


def kml() -> str:
    marks = []
    for p in sample2():
        rings = [" ".join(f"{lon!r},{lat!r},0" for lon, lat in ccw(lonlat(r["epsg4527_EN"]), r["role"] == "outer"))
                 for r in p["rings"]]
        inner = "".join(f"<innerBoundaryIs><LinearRing><coordinates>{r}</coordinates></LinearRing></innerBoundaryIs>"
                        for r in rings[1:])
        marks.append(f"""    <Placemark id="{p["地块编号"]}">
      <name>{p["地块名称"]}</name>
      <ExtendedData>
        <Data name="地块编号"><value>{p["地块编号"]}</value></Data>
        <Data name="地块用途"><value>{p["地块用途"]}</value></Data>
        <Data name="地块面积"><value>{p["地块面积_ha"]}</value></Data>
      </ExtendedData>
      <Polygon><outerBoundaryIs><LinearRing><coordinates>{rings[0]}</coordinates></LinearRing></outerBoundaryIs>{inner}</Polygon>
    </Placemark>""")
    body = "\n".join(marks)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
  <Document>
    <name>项目红线</name>
{body}
  </Document>
</kml>
"""


def point_lines(rings: list[tuple[int, list[list[float]]]], numbering: str = "J") -> list[str]:
    """点号,圈号,X(north),Y(east) lines; numbering continues across rings, a closing point repeats its 点号."""
    out, k = [], 1
    for qh, en in rings:
        closed, first = en[0] == en[-1], k
        for i, (e, n) in enumerate(en):
            if closed and i == len(en) - 1:
                label = first
            else:
                label, k = k, k + 1
            out.append(f"{numbering}{label},{qh},{n:.3f},{e:.3f}")
    return out


def planar_ha(rings: list[tuple[str, list[list[float]]]]) -> float:
    total = 0.0
    for role, r in rings:
        a = abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(r))) / 2
        total += a if role == "outer" else -a
    return total / 10000.0


def coordfile(lines: list[str], datum: str = "2000国家大地坐标系", zone: str = "39") -> str:
    return HEADER.format(datum=datum, zone=zone) + "\n".join(lines) + "\n"


def write(name: str, text: str, encoding: str = "utf-8", newline: str = "\n") -> None:
    (HERE / name).write_bytes(text.replace("\n", newline).encode(encoding))


def main() -> None:
    write("sample2_crs84.geojson", json.dumps(geojson_collection(lonlat, None), ensure_ascii=False, indent=1))
    write("sample2_4490.geojson",
          json.dumps(geojson_collection(lonlat, "urn:ogc:def:crs:EPSG::4490"), ensure_ascii=False, indent=1))
    write("sample2_4527.geojson",
          json.dumps(geojson_collection(lambda en: en, "urn:ogc:def:crs:EPSG::4527"), ensure_ascii=False, indent=1))
    write("sample2_3857.geojson", json.dumps(geojson_collection(merc, None), ensure_ascii=False, indent=1))
    write("sample2_4490_latlon.gml", gml_latlon())
    write("sample2_4527.gml", gml_4527())
    write("sample2.kml", kml())

    s1 = sample1()
    en1 = s1["rings"][0]["epsg4527_EN"]
    head1 = "6,2.1292,1,示例地块一,面,J50G081049,工业用地,0601,@"

    # 增减挂钩 layout (CCTool ZJGG_DC): 点号,X(北),Y(东),边长,圈号, — and its shorter header block
    zj = ["[属性描述]", "投影类型=高斯克吕格", "坐标系=2000国家大地坐标系", "分带=3", "带号=39", "[地块坐标]",
          "6,2.1292,,示例地块一,,,,工业用地,@"]
    for i, (e, n) in enumerate(en1):
        if i < len(en1) - 1:  # 边长: the edge to the next point; the closing line leaves it empty
            e2, n2 = en1[i + 1]
            zj.append(f"J{i + 1},{n:.4f},{e:.4f},{math.hypot(e2 - e, n2 - n):.2f},1,")
        else:
            zj.append(f"J1,{n:.4f},{e:.4f},,1,")
    write("variant_zjgg_gbk_crlf.txt", "\n".join(zj) + "\n", "gbk", "\r\n")

    # full-width punctuation typed with a Chinese input method, full-width digits on one line
    fw = coordfile([head1, *point_lines([(1, en1)])]).replace(",", "，").replace("=", "＝")
    fw = fw.replace("[属性描述]", "【属性描述】").replace("[地块坐标]", "【地块坐标】")
    lines = fw.split("\n")
    j2 = next(i for i, ln in enumerate(lines) if ln.startswith("J2"))
    lines[j2] = lines[j2].translate(str.maketrans("0123456789.", "０１２３４５６７８９．"))
    write("variant_fullwidth_utf8.txt", "\n".join(lines))

    # sample2 parcel 1 with the shell counter-clockwise and the hole clockwise
    p1 = sample2()[0]
    outer, hole = (r["epsg4527_EN"] for r in p1["rings"])
    write("variant_reversed_rings_gbk_crlf.txt",
          coordfile(["12,8.0676,2024-01,示例地块一,面,J50G081049,商服用地,,@",
                     *point_lines([(1, outer[::-1]), (2, hole[::-1])])]), "gbk", "\r\n")

    # 圈号 2 is a second outer part east of ring 1, not a hole
    part2 = [[39502400.0, 4058180.0], [39502480.0, 4058180.0], [39502480.0, 4058100.0], [39502400.0, 4058100.0],
             [39502400.0, 4058180.0]]
    area = planar_ha([("outer", en1), ("outer", part2)])
    write("variant_multipart_gbk_crlf.txt",
          coordfile([f"11,{area:.4f},2024-07,示例地块（两部分）,面,J50G081049,工业用地,0601,@",
                     *point_lines([(1, en1), (2, part2)])]), "gbk", "\r\n")

    # X and Y columns swapped (an exporter's 'swap XY' option left on)
    swapped = [f"{a},{b},{d},{c}" if a.startswith("J") else a for a, b, c, d in
               [(ln.split(",") + ["", "", ""])[:4] for ln in point_lines([(1, en1)])]]
    write("variant_swapped_xy_gbk_crlf.txt", coordfile([head1, *swapped]), "gbk", "\r\n")

    # refusals
    write("refuse_xian80_gbk_crlf.txt", coordfile([head1, *point_lines([(1, en1)])], datum="1980西安坐标系"),
          "gbk", "\r\n")
    write("refuse_wrong_prefix_gbk_crlf.txt", coordfile([head1, *point_lines([(1, en1)])], zone="38"), "gbk", "\r\n")
    bowtie = [[39502100.0, 4058200.0], [39502300.0, 4058000.0], [39502300.0, 4058200.0], [39502100.0, 4058000.0],
              [39502100.0, 4058200.0]]
    write("refuse_bowtie_gbk_crlf.txt",
          coordfile(["5,2.0000,2024-09,自相交地块,面,,工业用地,,@", *point_lines([(1, bowtie)])]), "gbk", "\r\n")
    write("refuse_billion_laughs.gml", """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<gml:Polygon xmlns:gml="http://www.opengis.net/gml/3.2" srsName="EPSG:4490"><gml:name>&lol9;</gml:name>
<gml:exterior><gml:LinearRing><gml:posList>117.02 36.65 117.03 36.65 117.03 36.66 117.02 36.65</gml:posList></gml:LinearRing></gml:exterior>
</gml:Polygon>
""")
    write("refuse_xxe.gml", """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE gml:Polygon [
 <!ENTITY secret SYSTEM "file:///etc/hostname">
 <!ENTITY remote SYSTEM "http://127.0.0.1:9/xxe">
]>
<gml:Polygon xmlns:gml="http://www.opengis.net/gml/3.2" srsName="EPSG:4490"><gml:name>&secret;&remote;</gml:name>
<gml:exterior><gml:LinearRing><gml:posList>117.02 36.65 117.03 36.65 117.03 36.66 117.02 36.65</gml:posList></gml:LinearRing></gml:exterior>
</gml:Polygon>
""")


if __name__ == "__main__":
    main()
