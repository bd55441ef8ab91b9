"""GML 3.2 and KML 2.2 boundary readers, over a hardened lxml parser.

XML from a client is parsed with entity resolution, DTD loading and network access off and
libxml2's size guards on; any DOCTYPE is refused outright, since the formats need none and
a DTD is the vehicle of entity-expansion (billion laughs) and XXE attacks.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

import numpy as np
from lxml import etree

from .boundary_model import (
    Notes,
    RawParcel,
    RawRing,
    SourceCrs,
    VertexBudget,
    fail,
    feature_info,
    parse_crs,
    ring_array,
)

GML_NS = ("http://www.opengis.net/gml/3.2", "http://www.opengis.net/gml")
KML_NS = ("http://www.opengis.net/kml/2.2", "http://earth.google.com/kml/2.2", "http://earth.google.com/kml/2.1",
          "http://earth.google.com/kml/2.0")
_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.DOTALL)
_DOCTYPE_MARKS = [s.encode(enc) for s in ("<!DOCTYPE", "<!doctype", "<!ENTITY", "<!entity")
                  for enc in ("utf-8", "utf-16-le", "utf-16-be")]
# GML geometries that are not areas: a boundary made of them is refused, never silently dropped
_GML_NON_AREA = {"Point", "MultiPoint", "LineString", "MultiLineString", "Curve", "MultiCurve", "CompositeCurve",
                 "OrientableCurve", "Solid", "MultiSolid"}
_GML_AREA_TOP = {"Polygon", "Surface", "MultiSurface", "MultiPolygon", "CompositeSurface", "PolygonPatch"}
_KML_NON_AREA = {"Point", "LineString", "Model", "Track", "MultiTrack"}


def xml_parser() -> etree.XMLParser:
    """The only parser used on client XML: no entities, no DTD, no network, no huge trees."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=True, remove_pis=True, recover=False)


def parse_xml(data: bytes | str) -> etree._Element:
    """Client XML -> its root element; a DOCTYPE or malformed XML is a 400."""
    if isinstance(data, str):
        # lxml refuses str with an encoding declaration; the text is already decoded
        data = _DECL_RE.sub("", data.lstrip("\ufeff"), count=1).encode("utf-8")
    if any(mark in data for mark in _DOCTYPE_MARKS):
        fail("the XML has a DOCTYPE or ENTITY declaration; these are refused (they can expand entities or read "
             "files); send the document without it",
             "XML含有DOCTYPE或ENTITY声明，出于安全原因拒绝（可能引起实体膨胀或读取文件）；请去掉后再提交")
    try:
        root = etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError as e:
        msg = " ".join(str(e.msg or "syntax error").split(", line ")[0].split())[:200]
        fail(f"the XML is not well-formed (line {e.lineno}): {msg}", f"XML格式错误（第{e.lineno}行）：{msg}")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        fail("the XML has a DOCTYPE; it is refused", "XML含有DOCTYPE声明，已拒绝")
    return root


def _ns(el: etree._Element) -> str:
    return etree.QName(el).namespace or ""


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def is_kml(root: etree._Element) -> bool:
    """Whether a parsed document is KML (by its root element or namespace)."""
    return _local(root) == "kml" or _ns(root) in KML_NS


def _is_gml(el: Any, *names: str) -> bool:
    return isinstance(el.tag, str) and _ns(el) in GML_NS and (not names or _local(el) in names)


def _children(el: etree._Element, *names: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and _local(c) in names]


# ---- GML ---------------------------------------------------------------------------------------
def read_gml(root: etree._Element, crs_param: tuple[SourceCrs, bool] | None, budget: VertexBudget,
             notes: Notes) -> tuple[list[RawParcel], dict[str, Any]]:
    """gml:Polygon / gml:Surface (PolygonPatch) / gml:MultiSurface, bare or inside features."""
    for el in root.iter():
        if _is_gml(el) and _local(el) in _GML_NON_AREA and not _inside_area(el):
            where = _feature_label(el)
            fail(f"{where[0]} is a gml:{_local(el)}, not an area; a boundary must be polygons",
                 f"{where[1]}为gml:{_local(el)}，不是面；范围必须由多边形组成")
    tops = [el for el in root.iter() if _is_gml(el, *_GML_AREA_TOP) and not _inside_area(el)]
    if not tops:
        fail("the GML holds no gml:Polygon, gml:Surface or gml:MultiSurface",
             "GML中没有gml:Polygon、gml:Surface或gml:MultiSurface")
    by_feature: dict[int, tuple[etree._Element | None, list[etree._Element]]] = {}
    for top in tops:
        feat = _feature_of(top)
        by_feature.setdefault(id(feat), (feat, []))[1].append(top)
    parcels: list[RawParcel] = []
    used: set[str] = set()
    srs_seen = False
    for index, (feat, geoms) in enumerate(by_feature.values(), start=1):
        en, zh = _feature_label(geoms[0], index)
        props, fid = _gml_props(feat) if feat is not None else ({}, None)
        info, area = feature_info(props, fid, en, zh, notes)
        polys = [p for g in geoms for p in ([g] if _local(g) in ("Polygon", "PolygonPatch") else
                                            [e for e in g.iter() if _is_gml(e, "Polygon", "PolygonPatch")])]
        if not polys:  # e.g. an empty gml:MultiSurface: nothing to read an area from
            kind = _local(geoms[0])
            fail(f"{en}: its gml:{kind} holds no gml:Polygon", f"{zh}：其gml:{kind}中没有gml:Polygon")
        crs: SourceCrs | None = None
        polygons = []
        for pi, poly in enumerate(polys, start=1):
            srs = _inherited(poly, "srsName")
            if srs:
                srs_seen = True
                pcrs, flip = parse_crs(srs, f"srsName of {en}")
            elif crs_param is not None:
                pcrs, flip = crs_param
            else:
                pcrs, flip = SourceCrs(4490), False
                notes.add("the GML has no srsName; read as CGCS2000 longitude,latitude",
                          "GML未给出srsName，按CGCS2000经度、纬度读取")
            if crs is not None and pcrs != crs:
                fail(f"{en} mixes CRSs ({crs.name} and {pcrs.name})", f"{zh}混用了不同坐标参照系（{crs.name}与{pcrs.name}）")
            crs = pcrs
            used.add(pcrs.name)
            dim = _dim(_inherited(poly, "srsDimension"), 2, en, zh)
            pen, pzh = (f"polygon {pi}", f"第{pi}个多边形") if len(polys) > 1 else ("", "")
            polygons.append(_gml_polygon(poly, dim, flip, pen, pzh, en, zh, budget))
        assert crs is not None
        parcels.append(RawParcel(en, zh, crs, polygons=polygons, info=info, declared_area_ha=area))
    if srs_seen and crs_param is not None and any(p.crs != crs_param[0] for p in parcels):
        notes.add(f"the crs parameter {crs_param[0].name} was ignored: the GML names its own srsName",
                  f"已忽略参数 crs={crs_param[0].name}：GML自带srsName")
    return parcels, {"format": "gml", "crs": sorted(used)}


def _inside_area(el: etree._Element) -> bool:
    p = el.getparent()
    while p is not None:
        if _is_gml(p, *_GML_AREA_TOP):
            return True
        p = p.getparent()
    return False


def _feature_of(geom: etree._Element) -> etree._Element | None:
    """geometry -> property element -> feature; None for a bare geometry."""
    prop = geom.getparent()
    return None if prop is None else prop.getparent()


def _feature_id(feat: etree._Element) -> str | None:
    return (feat.get("{http://www.opengis.net/gml/3.2}id") or feat.get("{http://www.opengis.net/gml}id")
            or feat.get("fid"))


def _feature_label(el: etree._Element, index: int | None = None) -> tuple[str, str]:
    """How a message names the feature holding ``el``: its number and gml:id when it has them."""
    top = el
    while top.getparent() is not None and _is_gml(top.getparent(), *_GML_AREA_TOP):
        top = top.getparent()
    feat = _feature_of(top)
    if feat is None:
        return "the geometry", "几何图形"
    fid = _feature_id(feat)
    num_en, num_zh = (f"feature {index}", f"第{index}个要素") if index is not None else ("the feature", "要素")
    if fid:
        return f"{num_en} ({_local(feat)} {fid!r})", f"{num_zh}（{_local(feat)} {fid!r}）"
    return f"{num_en} ({_local(feat)})", f"{num_zh}（{_local(feat)}）"


def _gml_props(feat: etree._Element) -> tuple[dict[str, Any], Any]:
    props: dict[str, Any] = {}
    for child in feat:
        if not isinstance(child.tag, str) or len(child):
            continue
        text = (child.text or "").strip()
        if text:
            props[_local(child)] = text
    return props, _feature_id(feat)


def _inherited(el: etree._Element, attr: str) -> str | None:
    while el is not None:
        v = el.get(attr)
        if v:
            return v
        el = el.getparent()
    return None


def _gml_polygon(poly: etree._Element, dim: int, flip: bool, pen: str, pzh: str, en: str, zh: str,
                 budget: VertexBudget) -> list[RawRing]:
    ext = _children(poly, "exterior", "outerBoundaryIs")
    if len(ext) != 1:
        fail(f"{en}: {pen or 'the polygon'} has {len(ext)} exterior rings; expected one",
             f"{zh}：{pzh or '多边形'}有{len(ext)}个外环，应为1个")
    rings = [_gml_ring(ext[0], dim, flip, f"the exterior ring{' of ' + pen if pen else ''}",
                       f"{pzh}外环", 1, en, zh, budget)]
    for k, inner in enumerate(_children(poly, "interior", "innerBoundaryIs"), start=1):
        rings.append(_gml_ring(inner, dim, flip, f"interior ring {k}{' of ' + pen if pen else ''}",
                               f"{pzh}第{k}个内环", k + 1, en, zh, budget))
    return rings


def _dim(value: str | None, default: int, en: str, zh: str) -> int:
    if value is None or not value.strip():
        return default
    try:
        d = int(value)
    except ValueError:
        d = 0
    if d not in (2, 3):
        fail(f"{en}: srsDimension={value!r}; only 2 or 3 are accepted", f"{zh}：srsDimension={value!r}无效，只能为2或3")
    return d


def _gml_ring(holder: etree._Element, dim: int, flip: bool, ren: str, rzh: str, number: int, en: str, zh: str,
              budget: VertexBudget) -> RawRing:
    lr = _children(holder, "LinearRing")
    if not lr:
        fail(f"{en}: {ren} is not a gml:LinearRing (curved or composite rings are not supported)",
             f"{zh}：{rzh}不是gml:LinearRing（不支持曲线环或组合环）")
    ring = lr[0]
    dim = _dim(ring.get("srsDimension"), dim, en, zh)
    values: list[float] = []
    try:
        pos_list = _children(ring, "posList")
        if pos_list:
            d = _dim(pos_list[0].get("srsDimension"), dim, en, zh)
            nums = np.array((pos_list[0].text or "").split(), dtype=float)
            if d < 2 or nums.size % d:
                fail(f"{en}: the gml:posList of {ren} has {nums.size} numbers, not a multiple of srsDimension={d}",
                     f"{zh}：{rzh}的gml:posList有{nums.size}个数，不是srsDimension={d}的整数倍")
            values = nums.reshape(-1, d)[:, :2].ravel().tolist()
        elif _children(ring, "pos", "pointProperty"):
            for p in _children(ring, "pos"):
                pos = [float(v) for v in (p.text or "").split()]
                if len(pos) < 2:
                    fail(f"{en}: a gml:pos of {ren} has fewer than 2 numbers", f"{zh}：{rzh}的gml:pos少于2个数")
                values += pos[:2]
        elif _children(ring, "coordinates"):
            c = _children(ring, "coordinates")[0]
            cs, ts, dec = c.get("cs", ","), c.get("ts", " "), c.get("decimal", ".")
            text = (c.text or "").strip()
            tuples = text.split() if ts.isspace() else [t for t in text.split(ts) if t.strip()]
            for t in tuples:
                pos = [float(v.strip().replace(dec, ".")) for v in t.split(cs)]
                if len(pos) < 2:
                    fail(f"{en}: a tuple of gml:coordinates in {ren} has fewer than 2 numbers",
                         f"{zh}：{rzh}的gml:coordinates中某坐标少于2个数")
                values += pos[:2]
        else:
            fail(f"{en}: {ren} has no gml:posList, gml:pos or gml:coordinates",
                 f"{zh}：{rzh}没有gml:posList、gml:pos或gml:coordinates")
    except ValueError:
        fail(f"{en}: {ren} holds a coordinate that is not a number", f"{zh}：{rzh}含有非数字的坐标")
    xy = ring_array(values, f"{en}: {ren}", f"{zh}：{rzh}")
    if flip:
        xy = xy[:, ::-1].copy()
    budget.add(len(xy))
    return RawRing(xy, ren, rzh, number)


# ---- KML ---------------------------------------------------------------------------------------
def read_kml(root: etree._Element, crs_param: tuple[SourceCrs, bool] | None, budget: VertexBudget,
             notes: Notes) -> tuple[list[RawParcel], dict[str, Any]]:
    """Placemarks with Polygon or MultiGeometry; KML 2.2 is lon,lat[,alt] on WGS 84 (= CRS84)."""
    crs = SourceCrs(None)
    if crs_param is not None and crs_param[0].kind != "lonlat":
        notes.add(f"the crs parameter {crs_param[0].name} was ignored: KML is always WGS 84 longitude,latitude",
                  f"已忽略参数 crs={crs_param[0].name}：KML固定为WGS 84经度、纬度")
    placemarks = [el for el in root.iter() if isinstance(el.tag, str) and _local(el) == "Placemark"]
    holders: list[etree._Element] = placemarks or [root]
    parcels: list[RawParcel] = []
    for index, pm in enumerate(holders, start=1):
        name_el = _children(pm, "name")
        name = (name_el[0].text or "").strip() if name_el else ""
        en, zh = (f"placemark {index} ({name!r})", f"第{index}个地标（{name}）") if name else \
                 (f"placemark {index}", f"第{index}个地标")
        if not placemarks:
            en, zh = "the geometry", "几何图形"
        for el in pm.iter():
            if isinstance(el.tag, str) and _local(el) in _KML_NON_AREA:
                fail(f"{en} holds a {_local(el)}, not an area; a boundary must be polygons",
                     f"{zh}含有{_local(el)}，不是面；范围必须由多边形组成")
            if isinstance(el.tag, str) and _local(el) == "LinearRing" and not _kml_in_polygon(el):
                fail(f"{en} holds a bare LinearRing; put it in a Polygon", f"{zh}含有不在Polygon中的LinearRing")
        polys = [el for el in pm.iter() if isinstance(el.tag, str) and _local(el) == "Polygon"]
        if not polys:
            if placemarks:
                fail(f"{en} has no Polygon", f"{zh}没有Polygon")
            fail("the KML holds no Placemark with a Polygon", "KML中没有含Polygon的地标")
        props: dict[str, Any] = {}
        if name:
            props["name"] = name
        desc = _children(pm, "description")
        if desc and (desc[0].text or "").strip():
            props["description"] = desc[0].text.strip()
        for data in pm.iter():
            if not isinstance(data.tag, str):
                continue
            if _local(data) == "Data" and data.get("name"):
                value = _children(data, "value")
                props[data.get("name")] = (value[0].text or "").strip() if value else ""
            elif _local(data) == "SimpleData" and data.get("name"):
                props[data.get("name")] = (data.text or "").strip()
        info, area = feature_info(props, pm.get("id"), en, zh, notes)
        polygons = []
        for pi, poly in enumerate(polys, start=1):
            pen, pzh = (f"polygon {pi}", f"第{pi}个多边形") if len(polys) > 1 else ("", "")
            outer = [r for b in _children(poly, "outerBoundaryIs") for r in _children(b, "LinearRing")]
            if len(outer) != 1:
                fail(f"{en}: {pen or 'the Polygon'} has {len(outer)} outer boundaries; expected one",
                     f"{zh}：{pzh or '多边形'}有{len(outer)}个外边界，应为1个")
            rings = [_kml_ring(outer[0], f"the outer boundary{' of ' + pen if pen else ''}", f"{pzh}外边界", 1,
                               en, zh, budget)]
            inner = [r for b in _children(poly, "innerBoundaryIs") for r in _children(b, "LinearRing")]
            for k, r in enumerate(inner, start=1):
                rings.append(_kml_ring(r, f"inner boundary {k}{' of ' + pen if pen else ''}", f"{pzh}第{k}个内边界",
                                       k + 1, en, zh, budget))
            polygons.append(rings)
        parcels.append(RawParcel(en, zh, crs, polygons=polygons, info=info, declared_area_ha=area))
    return parcels, {"format": "kml", "crs": [crs.name]}


def _kml_in_polygon(el: etree._Element) -> bool:
    p = el.getparent()
    while p is not None:
        if isinstance(p.tag, str) and _local(p) == "Polygon":
            return True
        p = p.getparent()
    return False


def _kml_ring(lr: etree._Element, ren: str, rzh: str, number: int, en: str, zh: str,
              budget: VertexBudget) -> RawRing:
    coords = _children(lr, "coordinates")
    if not coords or not (coords[0].text or "").strip():
        fail(f"{en}: {ren} has no coordinates", f"{zh}：{rzh}没有坐标")
    # writers differ in spacing: "lon,lat,alt lon,lat,alt" and "lon, lat" both occur
    text = re.sub(r"\s*,\s*", ",", coords[0].text.strip())
    values: list[float] = []
    try:
        for t in text.split():
            nums = [float(v) for v in t.split(",")]
            if len(nums) < 2:
                fail(f"{en}: a coordinate of {ren} has fewer than 2 numbers ({t!r})",
                     f"{zh}：{rzh}中某坐标少于2个数（{t!r}）")
            values += nums[:2]
    except ValueError:
        fail(f"{en}: {ren} holds a coordinate that is not a number", f"{zh}：{rzh}含有非数字的坐标")
    xy = ring_array(values, f"{en}: {ren}", f"{zh}：{rzh}")
    budget.add(len(xy))
    return RawRing(xy, ren, rzh, number)


def bom_text(data: bytes) -> str | None:
    """UTF-16 XML/JSON sniffing helper: the text when ``data`` starts with a UTF-16 BOM."""
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc)
            except UnicodeDecodeError:
                return None
    return None


__all__ = ["bom_text", "is_kml", "parse_xml", "read_gml", "read_kml", "xml_parser"]
