"""GeoJSON boundary reader: a geometry, a Feature or a FeatureCollection of (Multi)Polygons.

Positions are read as x,y (longitude/easting first) in every CRS, as RFC 7946 writes them
and as GDAL and QGIS write GeoJSON in other CRSs too; the authority axis order of EPSG:4490
(lat,lon) or of a Gauss-Krüger zone (northing,easting) is *not* applied to GeoJSON. The old
(2008) ``crs`` member that GDAL writes is honoured when the caller names no CRS.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

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

_AREA_TYPES = ("Polygon", "MultiPolygon")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str) -> Any:
    """JSON text -> value; NaN/Infinity and absurd nesting are refused as 400s."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        fail(f"the GeoJSON is not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}",
             f"GeoJSON不是有效的JSON（第{e.lineno}行第{e.colno}列）：{e.msg}")
    except ValueError as e:
        fail(f"the GeoJSON is not valid JSON: {e}", f"GeoJSON不是有效的JSON：{e}")
    except RecursionError:
        fail("the GeoJSON is nested too deeply", "GeoJSON嵌套层数过多")


def read_geojson(doc: Any, crs_param: tuple[SourceCrs, bool] | None, budget: VertexBudget,
                 notes: Notes) -> tuple[list[RawParcel], dict[str, Any]]:
    """Parcels (one per feature) from a GeoJSON object."""
    if not isinstance(doc, dict):
        fail("the GeoJSON must be an object with a 'type'", "GeoJSON必须是带有“type”的对象")
    crs = _crs(doc, crs_param, notes)
    kind = doc.get("type")
    if kind == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            fail("the FeatureCollection has no 'features' array", "FeatureCollection缺少“features”数组")
        if not feats:
            fail("the FeatureCollection is empty: the boundary has no feature", "FeatureCollection为空：范围中没有要素")
        parcels = [_feature(f, i, crs, budget, notes) for i, f in enumerate(feats, start=1)]
    elif kind == "Feature":
        parcels = [_feature(doc, None, crs, budget, notes)]
    elif kind in _AREA_TYPES:
        parcels = [_geometry(doc, "the geometry", "几何图形", crs, budget, {}, None)]
    elif isinstance(kind, str) and kind:
        fail(f"a GeoJSON {kind} is not an area; the boundary must be a Polygon or MultiPolygon "
             "(or a Feature/FeatureCollection of them)",
             f"GeoJSON {kind} 不是面；范围必须是Polygon或MultiPolygon（或其Feature/FeatureCollection）")
    else:
        fail("the GeoJSON object has no 'type'", "GeoJSON对象缺少“type”")
    return parcels, {"format": "geojson", "crs": [crs.name]}


def _crs(doc: dict, crs_param: tuple[SourceCrs, bool] | None, notes: Notes) -> SourceCrs:
    member = doc.get("crs")
    named: SourceCrs | None = None
    if isinstance(member, dict) and isinstance(member.get("properties"), dict) and member["properties"].get("name"):
        named = parse_crs(str(member["properties"]["name"]), "the GeoJSON 'crs' member")[0]
    if crs_param is not None:
        if named is not None and named != crs_param[0]:
            fail(f"the crs parameter says {crs_param[0].name} but the GeoJSON 'crs' member says {named.name}",
                 f"参数crs为{crs_param[0].name}，而GeoJSON的“crs”成员为{named.name}，二者矛盾")
        return crs_param[0]
    if named is not None:
        notes.add(f"CRS taken from the GeoJSON 'crs' member: {named.name} (coordinates read as x,y)",
                  f"坐标参照系取自GeoJSON的“crs”成员：{named.name}（按x,y顺序读取）")
        return named
    return SourceCrs(None)


def _feature(feat: Any, index: int | None, crs: SourceCrs, budget: VertexBudget, notes: Notes) -> RawParcel:
    en = "the feature" if index is None else f"feature {index}"
    zh = "要素" if index is None else f"第{index}个要素"
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        fail(f"{en} is not a GeoJSON Feature", f"{zh}不是GeoJSON Feature")
    fid = feat.get("id")
    if fid is not None and index is not None:
        en, zh = f"feature {index} (id {fid!r})", f"第{index}个要素（id {fid!r}）"
    geom = feat.get("geometry")
    if not geom:
        fail(f"{en} has no geometry", f"{zh}没有几何")
    props = feat.get("properties") or {}
    if not isinstance(props, dict):
        fail(f"{en}: 'properties' must be an object", f"{zh}：“properties”必须是对象")
    info, area = feature_info(props, fid, en, zh, notes)
    return _geometry(geom, en, zh, crs, budget, info, area)


def _geometry(geom: Any, en: str, zh: str, crs: SourceCrs, budget: VertexBudget, info: dict,
              area: float | None) -> RawParcel:
    if not isinstance(geom, dict):
        fail(f"{en}: the geometry must be an object", f"{zh}：几何必须是对象")
    kind = geom.get("type")
    if kind not in _AREA_TYPES:
        fail(f"{en} is a {kind or 'geometry without type'}, not an area; a boundary must be Polygon or MultiPolygon",
             f"{zh}为{kind or '无类型几何'}，不是面；范围必须是Polygon或MultiPolygon")
    coords = geom.get("coordinates")
    if not isinstance(coords, list) or not coords:
        fail(f"{en}: the {kind} has no coordinates (it is empty)", f"{zh}：{kind}没有坐标（为空）")
    polys = [coords] if kind == "Polygon" else coords
    polygons: list[list[RawRing]] = []
    for pi, poly in enumerate(polys, start=1):
        pen, pzh = (f" of polygon {pi}", f"第{pi}个多边形") if kind == "MultiPolygon" else ("", "")
        if not isinstance(poly, list) or not poly:
            fail(f"{en}: polygon {pi} has no rings", f"{zh}：第{pi}个多边形没有环")
        rings = []
        for ri, ring in enumerate(poly):
            ren = f"the exterior ring{pen}" if ri == 0 else f"interior ring {ri}{pen}"
            rzh = f"{pzh}外环" if ri == 0 else f"{pzh}第{ri}个内环"
            rings.append(RawRing(_positions(ring, en, zh, ren, rzh, budget), ren, rzh, ri + 1))
        polygons.append(rings)
    return RawParcel(en, zh, crs, polygons=polygons, info=info, declared_area_ha=area)


def _positions(ring: Any, en: str, zh: str, ren: str, rzh: str, budget: VertexBudget) -> Any:
    if not isinstance(ring, list):
        fail(f"{en}: {ren} is not an array of positions", f"{zh}：{rzh}不是坐标数组")
    budget.add(len(ring))
    try:  # fast path for a well-formed ring: one C-level conversion, then a type check
        a = np.array(ring, dtype=float)
        if a.ndim == 2 and a.shape[1] >= 2 and {type(v) for pos in ring for v in pos[:2]} <= {int, float}:
            return ring_array(a[:, :2], f"{en}: {ren}", f"{zh}：{rzh}")
    except (ValueError, TypeError):
        pass
    flat: list[float] = []
    for k, pos in enumerate(ring, start=1):
        if (not isinstance(pos, list) or len(pos) < 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos[:2])):
            fail(f"{en}: position {k} of {ren} is not [x, y] numbers ({str(pos)[:60]})",
                 f"{zh}：{rzh}第{k}个坐标不是[x, y]数字（{str(pos)[:60]}）")
        flat += (float(pos[0]), float(pos[1]))
    return ring_array(flat, f"{en}: {ren}", f"{zh}：{rzh}")
