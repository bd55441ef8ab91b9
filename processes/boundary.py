"""Project boundaries as the processes receive them: read, checked, repaired where safe, in CGCS2000.

``parse_boundary`` accepts GeoJSON, the ministry's land-approval coordinate text file
(部标准格式, see config/coordfile/FORMAT.md), GML 3.2 and KML 2.2, and returns one valid
MultiPolygon in EPSG:4490 lon/lat with its geodesic area, the parcels' attributes and notes
on everything that was repaired. Anything that cannot be repaired without guessing is a 400
(InvalidInput) whose message names the parcel, ring or line; an input over a size limit is a
413 (PayloadTooLarge).

Decisions where the inputs leave a choice (each also in the test file):

- GeoJSON positions are x,y (longitude/easting first) in every CRS, as RFC 7946, GDAL and
  QGIS write them. GML follows its srsName: URN/URI spellings mean the EPSG axis order
  (EPSG:4490 lat,lon; Gauss-Krüger northing,easting), the short ``EPSG:nnnn`` means x,y as
  GDAL and GeoServer read it. KML is lon,lat on WGS 84.
- Axes given the wrong way round are swapped back, with a note, when only the swapped
  reading fits the CRS inside China (unambiguous: longitudes there exceed 73°, latitudes stay
  below 54°; prefixed eastings have 8 digits, northings 7). When neither reading fits, the
  input is refused with what the numbers look like.
- Repairs: rings are closed, repeated consecutive points dropped, rings re-oriented (shells
  counter-clockwise), invalid rings and polygons passed through make_valid only when the
  result keeps the area to within 0.1 %; overlapping parts of one parcel are merged under the
  same rule; separate parcels/features are unioned (their overlap is noted).
- A declared area (地块面积, in ha) is compared with the planar area in the file's
  Gauss-Krüger zone (how surveyors compute it) or, for other CRSs, the geodesic area: within
  1 % (or 1 m²) it passes quietly, up to 5 % it passes with a warning note, beyond 5 % the
  input is refused. A declared value that matches in m² instead of ha is noted, not refused.
- WGS 84 (CRS84, EPSG:4326) and Web Mercator are taken as CGCS2000 without a datum shift:
  the two datums agree to centimetres. Xian 1980 and Beijing 1954 are refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import shapely
import shapely.errors

from onemap.config.errors import InvalidInput, PayloadTooLarge
from onemap.providers.geometry import CGCS2000_GEOD, area_units, as_multi

from .boundary_coordfile import decode, looks_like_coordfile, read_coordfile
from .boundary_geojson import load_json, read_geojson
from .boundary_model import (
    CHINA_LAT,
    CHINA_LON,
    ZONE_MARGIN_DEG,
    Notes,
    RawParcel,
    RawRing,
    SourceCrs,
    VertexBudget,
    bi,
    fail,
    lonlat_of,
    parse_crs,
    zone_ok,
)
from .boundary_xml import bom_text, is_kml, parse_xml, read_gml, read_kml

FORMATS = ("geojson", "coordfile", "gml", "kml")
# make_valid is accepted when the area changes by at most this fraction (the 99.9 %)
AREA_KEEP = 0.001
_WHERE_RE = re.compile(r"\[([-+0-9.eE]+) ([-+0-9.eE]+)\]")


@dataclass(frozen=True)
class BoundaryLimits:
    """Limits of one boundary; exceeding max_* is a 413, falling under min_area_m2 a 400."""

    max_vertices: int = 100_000
    max_area_km2: float = 2_000.0
    min_area_m2: float = 1.0
    max_bytes: int = 64 * 1024 * 1024  # checked before any parsing


@dataclass
class Boundary:
    """A parsed boundary: CGCS2000 lon/lat geometry, where it came from, what was changed."""

    geometry: shapely.MultiPolygon  # EPSG:4490 lon/lat, valid, shells counter-clockwise
    source_crs: str  # "EPSG:4527", "OGC:CRS84", ... (comma-separated if features differed)
    parcels: list[dict]  # one per parcel/feature: index, id, name, use, declared_area_ha, area, ...
    notes: list[str]  # repairs and normalisations, "English / 中文"
    area: dict  # geodesic area on CGCS2000: {"m2", "ha", "mu"}
    vertices: int  # vertices of ``geometry``, each ring's closing point not counted
    # every input ring as read (closed, repeated points dropped, input order and orientation):
    # {"parcel": index, "ring": 圈号 or position, "role": "outer"/"hole", "source": [[x, y]...],
    #  "lonlat": [[lon, lat]...]}; kept apart from ``parcels`` so results stay small
    rings: list[dict] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # format, encoding, coordinate-file sections, zone ...


def parse_boundary(value: Any, *, fmt: str | None = None, crs: str | None = None,
                   limits: BoundaryLimits = BoundaryLimits()) -> Boundary:
    """Read a boundary given as GeoJSON, coordinate file, GML or KML (see the module docstring).

    ``fmt`` (geojson, coordfile, gml, kml) skips detection; ``crs`` names the CRS of GeoJSON
    (and of GML without srsName); a coordinate file, GML with srsName and KML carry their own.
    Raises InvalidInput (400) or PayloadTooLarge (413) with a message naming the faulty part.
    """
    notes = Notes()
    budget = VertexBudget(limits.max_vertices)
    if fmt is not None:
        fmt = str(fmt).strip().lower() or None
        if fmt is not None and fmt not in FORMATS:
            fail(f"format {fmt!r} is not one of {', '.join(FORMATS)}", f"格式 {fmt!r} 无效，可选：{', '.join(FORMATS)}")
    crs_param = parse_crs(crs, "crs") if crs not in (None, "") else None
    try:
        parcels, meta = _read(value, fmt, crs_param, budget, notes, limits)
        return _assemble(parcels, meta, notes, limits)
    except shapely.errors.GEOSException as e:
        # GEOS can still give up on pathological input (e.g. a topology exception in an overlay)
        raise InvalidInput(bi(f"the boundary's geometry could not be processed: {str(e)[:200]}",
                              f"范围几何无法处理：{str(e)[:200]}")) from None


# ---- reading -----------------------------------------------------------------------------------
def _empty() -> NoReturn:
    fail("the boundary is empty", "范围为空")


def _read(value: Any, fmt: str | None, crs_param: tuple[SourceCrs, bool] | None, budget: VertexBudget,
          notes: Notes, limits: BoundaryLimits) -> tuple[list[RawParcel], dict[str, Any]]:
    if value is None:
        _empty()
    if isinstance(value, dict):
        if not value:
            _empty()
        if fmt not in (None, "geojson"):
            fail(f"a JSON object was given but the format is {fmt}", f"提交的是JSON对象，但格式指定为{fmt}")
        return read_geojson(value, crs_param, budget, notes)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data: bytes | str = bytes(value)
        size = len(data)
    elif isinstance(value, str):
        data = value
        size = len(value)  # characters <= bytes: a cheap lower bound
    else:
        fail(f"the boundary must be a GeoJSON object or text (GeoJSON, coordinate file, GML, KML); "
             f"got {type(value).__name__}",
             f"范围必须是GeoJSON对象或文本（GeoJSON、坐标文件、GML、KML），而不是{type(value).__name__}")
    if size > limits.max_bytes:
        raise PayloadTooLarge(bi(f"the boundary is larger than {limits.max_bytes:,} bytes (limit max_bytes)",
                                 f"范围数据超过{limits.max_bytes:,}字节（上限 max_bytes）"))
    if isinstance(data, bytes):
        utf16 = bom_text(data)
        if utf16 is not None:
            data = utf16
    if isinstance(data, bytes):
        head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
        first = head[:1].decode("latin-1")
    else:
        head_s = data[:4096].lstrip("\ufeff \t\r\n")
        first = head_s[:1]
    if not first:
        _empty()
    want = fmt or ("geojson" if first == "{" else "xml" if first == "<" else "coordfile")

    if want == "geojson":
        if isinstance(data, bytes):
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                fail("GeoJSON text must be UTF-8 (RFC 8259)", "GeoJSON文本必须为UTF-8编码")
        else:
            text = data.lstrip("\ufeff")
        return read_geojson(load_json(text), crs_param, budget, notes)
    if want in ("xml", "gml", "kml"):
        root = parse_xml(data)
        kml = is_kml(root)
        if want == "gml" and kml:
            fail("the document is KML, not GML (give format kml or leave it out)", "文档为KML而不是GML")
        if want == "kml" and not kml:
            fail("the document is not KML (its root element is not <kml>)", "文档不是KML（根元素不是<kml>）")
        return read_kml(root, crs_param, budget, notes) if kml else read_gml(root, crs_param, budget, notes)
    text = decode(data)[0] if isinstance(data, bytes) else data
    if fmt is None and not looks_like_coordfile(text):
        fail("the boundary is not recognised: expected GeoJSON, GML 3.2, KML 2.2 or the coordinate text file "
             "(部标准格式, with [属性描述] and [地块坐标] sections)",
             "无法识别的范围数据：应为GeoJSON、GML 3.2、KML 2.2或部标准格式坐标文件（含[属性描述]和[地块坐标]节）")
    return read_coordfile(data, crs_param[0] if crs_param else None, budget, notes)


# ---- checks and repairs ------------------------------------------------------------------------
def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return ((lon >= CHINA_LON[0]) & (lon <= CHINA_LON[1]) & (lat >= CHINA_LAT[0]) & (lat <= CHINA_LAT[1])
            & np.isfinite(lon) & np.isfinite(lat))


def _fits(crs: SourceCrs, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points are plausible in ``crs`` (inside China, inside the zone's band)."""
    if crs.kind == "lonlat":
        return _in_china(x, y)
    if crs.kind == "mercator":
        return _in_china(*lonlat_of(crs, x, y))
    width, zone, prefixed, cm = crs.gk
    east = x - zone * 1e6 if prefixed else x
    ok = (east > 0) & (east < 1e6) & (y > 0) & (y < 1e7)
    lon, lat = lonlat_of(crs, x, y)
    with np.errstate(invalid="ignore"):
        return ok & _in_china(lon, lat) & (np.abs(lon - cm) <= width / 2 + ZONE_MARGIN_DEG)


def _reason(crs: SourceCrs, x: float, y: float) -> tuple[str, str]:
    """Why a point does not fit ``crs``."""
    if crs.kind == "gk":
        width, zone, prefixed, cm = crs.gk
        if prefixed and x >= 1e7 and int(x // 1e6) != zone:
            return (f"the easting carries zone prefix {int(x // 1e6)} but {crs.name} is zone {zone}",
                    f"东坐标带号前缀为{int(x // 1e6)}，而{crs.name}为第{zone}带")
        if prefixed and x < 1e6:
            return (f"the easting has no zone prefix, which {crs.name} requires",
                    f"东坐标没有带号前缀，而{crs.name}要求带号前缀")
        if not prefixed and x >= 1e6:
            return (f"the easting has a zone prefix, which {crs.name} (a central-meridian CRS) does not take",
                    f"东坐标带有带号前缀，而{crs.name}（中央经线投影）不应带前缀")
        return (f"it lies outside the band of {crs.name} (central meridian {cm:g}°E ± {width / 2:g}°) or outside China",
                f"超出{crs.name}的投影带范围（中央经线{cm:g}°E±{width / 2:g}°）或超出中国范围")
    if crs.kind == "lonlat" and (abs(x) > 180 or abs(y) > 90):
        return (f"the numbers are not degrees of {crs.name}", f"数值不是{crs.name}的经纬度")
    return ("it lies outside China (longitude 73-136°E, latitude 3-54°N)", "超出中国范围（东经73-136°，北纬3-54°）")


def _guess(x: float, y: float) -> tuple[str, str]:
    """What a point's numbers look like, to help the sender name the right CRS."""
    if CHINA_LON[0] <= x <= CHINA_LON[1] and CHINA_LAT[0] <= y <= CHINA_LAT[1]:
        return ("they look like longitude/latitude in degrees (OGC:CRS84 or EPSG:4490)",
                "看起来是经纬度（OGC:CRS84或EPSG:4490）")
    if CHINA_LON[0] <= y <= CHINA_LON[1] and CHINA_LAT[0] <= x <= CHINA_LAT[1]:
        return ("they look like latitude/longitude in degrees", "看起来是纬度、经度（顺序颠倒）")
    for east, north, order in ((x, y, ""), (y, x, ", northing first")):
        if east >= 1e7 and 0 < north < 1e7:
            z = int(east // 1e6)
            if zone_ok(3, z):
                return (f"they look like Gauss-Krüger metres of 3° zone {z} (EPSG:{4488 + z}){order}",
                        f"看起来是3度带第{z}带的高斯-克吕格坐标（EPSG:{4488 + z}）")
            if zone_ok(6, z):
                return (f"they look like Gauss-Krüger metres of 6° zone {z} (EPSG:{4478 + z}){order}",
                        f"看起来是6度带第{z}带的高斯-克吕格坐标（EPSG:{4478 + z}）")
    if 0 < x < 1e6 and 1e5 < y < 1e7:
        return (("they look like Gauss-Krüger metres without a zone prefix (a central-meridian CRS such as "
                "EPSG:4534-4554)"), "看起来是不带带号前缀的高斯-克吕格坐标（如EPSG:4534-4554）")
    if abs(y) > 2.1e7:  # beyond Web Mercator's world
        return ("", "")
    lon, lat = math.degrees(x / 6378137.0), math.degrees(2 * math.atan(math.exp(y / 6378137.0)) - math.pi / 2)
    if CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]:
        return ("they look like Web Mercator metres (EPSG:3857)", "看起来是Web墨卡托坐标（EPSG:3857）")
    return ("", "")


def _check_fit(p: RawParcel, notes: Notes) -> None:
    """Refuse coordinates that do not fit the CRS; swap axes back when only the swap fits."""
    rings = p.rings()
    xy = np.concatenate([r.xy for r in rings])
    x, y = xy[:, 0], xy[:, 1]
    ok = _fits(p.crs, x, y)
    if ok.all():
        return
    if _fits(p.crs, y, x).all():
        for r in rings:
            r.xy = r.xy[:, ::-1].copy()
        first, second = ("latitude", "longitude") if p.crs.kind == "lonlat" else ("northing", "easting")
        zf, zs = ("纬度", "经度") if p.crs.kind == "lonlat" else ("北坐标", "东坐标")
        notes.add(f"{p.en}: the coordinates were given {first} first; read them as {second},{first} "
                  f"({p.crs.name} x,y order)", f"{p.zh}：坐标顺序为{zf}在前，已按{zs}、{zf}读取")
        return
    bad = int(np.flatnonzero(~ok)[0])
    x0, y0 = float(x[bad]), float(y[bad])
    why_en, why_zh = _reason(p.crs, x0, y0)
    g_en, g_zh = _guess(x0, y0)
    hint_en = f"; {g_en}: declare the CRS they are in" if g_en else ""
    hint_zh = f"；{g_zh}，请声明其实际坐标参照系" if g_zh else ""
    if not ok.any():
        fail(f"{p.en}: the coordinates do not fit {p.crs.name}: {why_en} (first point {x0:.10g}, {y0:.10g}){hint_en}",
             f"{p.zh}：坐标与{p.crs.name}不符：{why_zh}（首点 {x0:.10g}, {y0:.10g}）{hint_zh}")
    k = bad
    for r in rings:
        if k < len(r.xy):
            w_en, w_zh = r.where(k)
            break
        k -= len(r.xy)
    fail(f"{p.en}: the point at {w_en} ({x0:.10g}, {y0:.10g}) does not fit {p.crs.name}: {why_en}",
         f"{p.zh}：{w_zh}的点（{x0:.10g}, {y0:.10g}）与{p.crs.name}不符：{why_zh}")


def _clean(ring: RawRing, p: RawParcel, notes: Notes) -> None:
    """Drop repeated consecutive points and close the ring; a ring needs three distinct points."""
    xy = ring.xy
    if len(xy) == 0:
        fail(f"{p.en}: {ring.en} has no points", f"{p.zh}：{ring.zh}没有坐标")
    keep = np.ones(len(xy), dtype=bool)
    keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
    if not keep.all():
        n = int((~keep).sum())
        notes.add(f"{ring.en} of {p.en} repeated {n} point(s) in a row; dropped the repeats",
                  f"{p.zh}{ring.zh}有{n}个连续重复点，已删除")
        xy = xy[keep]
        if ring.lines is not None:
            ring.lines = [ln for ln, k in zip(ring.lines, keep) if k]
    if len(xy) > 1 and np.array_equal(xy[0], xy[-1]):
        distinct = len(xy) - 1
    else:
        distinct = len(xy)
        if distinct >= 3:
            notes.add(f"{ring.en} of {p.en} was not closed; closed it", f"{p.zh}{ring.zh}未闭合，已闭合")
            xy = np.vstack([xy, xy[:1]])
            if ring.lines is not None:
                ring.lines = [*ring.lines, ring.lines[0]]
    if distinct < 3:
        fail(f"{p.en}: {ring.en} has {distinct} distinct point(s); a ring needs at least 3",
             f"{p.zh}：{ring.zh}只有{distinct}个不同的点，至少需要3个")
    ring.xy = xy


def _polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a make_valid/overlay result (collapsed lines and points dropped)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [q for q in shapely.get_parts(g) if q.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _near(geom: shapely.Geometry) -> tuple[str, str]:
    m = _WHERE_RE.search(shapely.is_valid_reason(geom) or "")
    if not m:
        return "", ""
    x, y = float(m.group(1)), float(m.group(2))
    return f" near ({x:.10g}, {y:.10g})", f"（约在 {x:.10g}, {y:.10g} 处）"


def _repair(geom: shapely.Geometry, expected: float, en: str, zh: str, what_en: str, what_zh: str,
            notes: Notes) -> shapely.Geometry:
    """make_valid, kept only when the area stays within AREA_KEEP of ``expected``."""
    near_en, near_zh = _near(geom)
    fixed = _polygonal(shapely.make_valid(geom))
    if fixed.is_empty or fixed.area == 0:
        fail(f"{en}: {what_en} has no area (its points lie on one line){near_en}",
             f"{zh}：{what_zh}面积为零（各点共线）{near_zh}")
    change = abs(fixed.area - expected) / max(fixed.area, expected)
    if change > AREA_KEEP:
        fail(f"{en}: {what_en} crosses or overlaps itself{near_en}; repairing it would change its area by "
             f"{change:.1%}, so it was refused: correct the vertex order",
             f"{zh}：{what_zh}自相交或自重叠{near_zh}；修复将使面积改变{change:.1%}，无法安全修复，请更正点序")
    notes.add(f"{what_en} of {en} crossed or touched itself{near_en}; repaired (the area changed by less than 0.1%)",
              f"{zh}{what_zh}自相交或自接触{near_zh}，已修复（面积变化小于0.1%）")
    return fixed


def _ring_geom(ring: RawRing, p: RawParcel, notes: Notes) -> shapely.Geometry:
    poly = shapely.Polygon(ring.xy)
    if poly.is_valid:
        return poly
    return _repair(poly, poly.area, p.en, p.zh, ring.en, ring.zh, notes)


def _compose(shell: shapely.Geometry, holes: list[shapely.Geometry], shell_ring: RawRing, p: RawParcel,
             notes: Notes) -> shapely.Geometry:
    """A shell minus its holes; built directly when every ring is simple, so vertices stay as given."""
    if not holes:
        return shell
    simple = [g for g in (shell, *holes) if g.geom_type == "Polygon" and not g.interiors]
    if len(simple) == 1 + len(holes):
        poly = shapely.Polygon(shell.exterior.coords, [h.exterior.coords for h in holes])
        expected = poly.area
    else:
        poly = shapely.difference(shell, shapely.union_all(holes))
        expected = shell.area - sum(h.area for h in holes)
    if poly.is_valid:
        return poly
    return _repair(poly, expected, p.en, p.zh, f"{shell_ring.en} with its holes", f"{shell_ring.zh}及其内环", notes)


def _classify(geoms: list[shapely.Geometry]) -> tuple[list[int], list[int | None]]:
    """Nesting depth of each ring (even: shell, odd: hole) and the ring that directly contains it."""
    n = len(geoms)
    areas = [g.area for g in geoms]
    order = sorted(range(n), key=lambda i: (-areas[i], i))
    rank = {i: k for k, i in enumerate(order)}
    parent: list[int | None] = [None] * n
    if n > 1:
        inner, outer = shapely.STRtree(geoms).query(geoms, predicate="covered_by")
        for i, j in zip(inner.tolist(), outer.tolist()):
            # the smallest earlier (larger or equal) ring that covers i is its direct container
            container = parent[i]
            if i != j and rank[j] < rank[i] and (container is None or rank[j] > rank[container]):
                parent[i] = j
    depth = [0] * n
    for i in order:
        container = parent[i]
        depth[i] = 0 if container is None else depth[container] + 1
    return depth, parent


def _build(p: RawParcel, notes: Notes) -> tuple[shapely.Geometry, list[tuple[RawRing, str]], int]:
    """The parcel as one valid (Multi)Polygon in the source CRS, each ring's role, rings re-oriented."""
    for r in p.rings():
        _clean(r, p, notes)
    parts: list[shapely.Geometry] = []
    roles: list[tuple[RawRing, str]] = []
    if p.loose is not None:
        rings = p.loose
        geoms = [_ring_geom(r, p, notes) for r in rings]
        depth, parent = _classify(geoms)
        for i, r in enumerate(rings):
            role = "outer" if depth[i] % 2 == 0 else "hole"
            roles.append((r, role))
            if role == "outer" and r.number > 1 and i > 0:
                notes.add(f"{r.en} of {p.en} is not inside another ring: taken as a separate part, not a hole",
                          f"{p.zh}{r.zh}不在其他圈之内：作为独立部分（多部件），而非内环")
            elif role == "hole" and r.number == 1 and (container := parent[i]) is not None:  # (a hole has one)
                notes.add(f"{r.en} of {p.en} lies inside {rings[container].en}: taken as a hole",
                          f"{p.zh}{r.zh}位于{rings[container].zh}之内：作为内环")
        for i, r in enumerate(rings):
            if depth[i] % 2 == 0:
                holes = [geoms[j] for j in range(len(rings)) if parent[j] == i and depth[j] % 2 == 1]
                parts.append(_compose(geoms[i], holes, r, p, notes))
    else:
        for poly in p.polygons:
            shell_g = _ring_geom(poly[0], p, notes)
            roles.append((poly[0], "outer"))
            holes = []
            for h in poly[1:]:
                hg = _ring_geom(h, p, notes)
                if not shapely.covers(shell_g, hg):
                    fail(f"{p.en}: {h.en} is not inside {poly[0].en}",
                         f"{p.zh}：{h.zh}不在{poly[0].zh}之内")
                holes.append(hg)
                roles.append((h, "hole"))
            parts.append(_compose(shell_g, holes, poly[0], p, notes))
    # counted against the format's own convention: a clockwise shell is normal in a coordinate file
    reoriented = sum(1 for r, role in roles if (_signed_area(r.xy) > 0) != ((role == "outer") != p.shells_cw))
    return _merge(parts, p, notes), roles, reoriented


def _signed_area(xy: np.ndarray) -> float:
    """Shoelace area, positive counter-clockwise; unlike GEOS's is_ccw it stays right for a ring
    that crosses itself (GEOS looks only at the highest vertex, which may sit on a small loop)."""
    d = xy - xy[0]  # 8-digit eastings would lose the centimetres in the products
    return 0.5 * float(np.dot(d[:-1, 0], d[1:, 1]) - np.dot(d[1:, 0], d[:-1, 1]))


def _merge(parts: list[shapely.Geometry], p: RawParcel, notes: Notes) -> shapely.Geometry:
    """The parts of one parcel as one geometry; overlapping parts are an error unless negligible."""
    polys = [q for g in parts for q in shapely.get_parts(g)]
    if len(polys) == 1:
        return polys[0]
    multi = shapely.MultiPolygon(polys)
    if multi.is_valid:
        return multi
    merged = _polygonal(shapely.union_all(polys))
    total = sum(q.area for q in polys)
    change = abs(total - merged.area) / total
    if change > AREA_KEEP:
        fail(f"{p.en}: its parts overlap each other ({change:.1%} of their area); correct the rings",
             f"{p.zh}：各部分相互重叠（占面积{change:.1%}），请更正")
    notes.add(f"the parts of {p.en} touched or overlapped slightly; merged them",
              f"{p.zh}的各部分相接或轻微重叠，已合并")
    return merged


def _to_lonlat(geom: shapely.Geometry, p: RawParcel, notes: Notes) -> shapely.Geometry:
    if p.crs.kind == "lonlat":
        return geom
    ll = shapely.transform(geom, lambda x, y: lonlat_of(p.crs, x, y), interleaved=False)
    if not np.isfinite(shapely.get_coordinates(ll)).all():
        fail(f"{p.en}: some points cannot be transformed from {p.crs.name} to CGCS2000",
             f"{p.zh}：部分点无法由{p.crs.name}转换到CGCS2000")
    if not ll.is_valid:
        # a projection bends straight edges; a sliver can then cross itself
        ll = _repair(ll, ll.area, p.en, p.zh, "the outline in longitude/latitude", "经纬度下的轮廓", notes)
    return ll


def _check_declared(p: RawParcel, computed_ha: float, how: str, notes: Notes) -> None:
    """Declared 地块面积 against the computed area: quiet ≤ 1 %, a note ≤ 5 %, refused beyond."""
    d = p.declared_area_ha
    if d is None:
        return
    if d <= 0:
        notes.add(f"{p.en}: declared area is {d:g}; not checked", f"{p.zh}：申报面积为{d:g}，未核对")
        return
    diff = abs(d - computed_ha)
    rel = diff / computed_ha
    if rel <= 0.01 or diff <= 0.0001:
        return
    if abs(d / 10000.0 - computed_ha) / computed_ha <= 0.01:
        notes.add(f"{p.en}: the declared area {d:g} matches the computed area in m², not ha ({computed_ha:.4f} ha)",
                  f"{p.zh}：申报面积{d:g}与计算面积的平方米数相符，而非公顷（{computed_ha:.4f}公顷）")
        return
    how_zh = "投影平面面积" if how == "planar" else "椭球面积"
    if rel <= 0.05:
        notes.add(f"{p.en}: declared area {d:g} ha differs from the computed {how} area {computed_ha:.4f} ha "
                  f"by {rel:.1%} (warning: tolerated up to 5%)",
                  f"{p.zh}：申报面积{d:g}公顷与计算{how_zh}{computed_ha:.4f}公顷相差{rel:.1%}（警告：5%以内）")
        return
    fail(f"{p.en}: declared area {d:g} ha differs from the computed {how} area {computed_ha:.4f} ha by {rel:.1%} "
         "(more than 5%); check the coordinates or the declared area",
         f"{p.zh}：申报面积{d:g}公顷与计算{how_zh}{computed_ha:.4f}公顷相差{rel:.1%}（超过5%），请核对坐标或申报面积")


def geodesic_m2(geom: shapely.Geometry) -> float:
    """Ellipsoidal area on CGCS2000, as providers.geometry.geodesic_area computes it, but fed numpy
    arrays ring by ring: shapely's ``.xy`` (which pyproj's geometry_area_perimeter uses) takes about
    a second on a 100,000-vertex ring."""
    total = 0.0
    for poly in shapely.get_parts(geom):
        for k, ring in enumerate([poly.exterior, *poly.interiors]):
            xy = shapely.get_coordinates(ring)
            a = abs(CGCS2000_GEOD.polygon_area_perimeter(xy[:, 0], xy[:, 1])[0])
            total += a if k == 0 else -a
    return total


def _ring_count(g: shapely.Geometry) -> int:
    polys = shapely.get_parts(g)
    return int(len(polys) + shapely.get_num_interior_rings(polys).sum())


# ---- assembling --------------------------------------------------------------------------------
def _assemble(parcels: list[RawParcel], meta: dict[str, Any], notes: Notes, limits: BoundaryLimits) -> Boundary:
    if not parcels:
        _empty()
    lonlats: list[shapely.Geometry] = []
    records: list[dict] = []
    rings_out: list[dict] = []
    reoriented = 0
    for index, p in enumerate(parcels, start=1):
        _check_fit(p, notes)
        geom, roles, n_turned = _build(p, notes)
        reoriented += n_turned
        ll = _to_lonlat(geom, p, notes)
        m2 = geodesic_m2(ll)
        planar_ha = geom.area / 10000.0 if p.crs.kind == "gk" else None
        _check_declared(p, planar_ha if planar_ha is not None else m2 / 10000.0,
                        "planar" if planar_ha is not None else "geodesic", notes)
        info = dict(p.info)
        attributes = info.pop("attributes", {})
        line = info.pop("line", None)
        record: dict[str, Any] = {"index": index, **info, "area": area_units(m2)}
        if planar_ha is not None:
            record["planar_area_ha"] = round(planar_ha, 4)
        polys = shapely.get_parts(geom)
        record["parts"] = len(polys)
        record["holes"] = int(shapely.get_num_interior_rings(polys).sum())
        record["source_crs"] = p.crs.name
        if line is not None:
            record["line"] = line
        record["attributes"] = attributes
        records.append(record)
        for r, role in roles:
            lon, lat = lonlat_of(p.crs, r.xy[:, 0], r.xy[:, 1])
            rings_out.append({"parcel": index, "ring": r.number, "role": role, "source": r.xy.tolist(),
                              "lonlat": np.column_stack([lon, lat]).tolist()})
        lonlats.append(ll)
    if reoriented:
        notes.add(f"{reoriented} ring(s) ran against the format's orientation convention; the boundary is "
                  "normalised to counter-clockwise shells and clockwise holes",
                  f"{reoriented}个环的方向与格式约定相反；范围已统一为外环逆时针、内环顺时针")

    if len(lonlats) == 1:
        geom = lonlats[0]
    else:
        geom = _polygonal(shapely.union_all(lonlats))
        parts_m2 = sum(r["area"]["m2"] for r in records)
        union_m2 = geodesic_m2(geom)
        if parts_m2 - union_m2 > max(AREA_KEEP * parts_m2, 0.01):
            notes.add(f"the {len(parcels)} parcels/features overlap by {parts_m2 - union_m2:.2f} m²; the boundary "
                      "is their union", f"{len(parcels)}个地块/要素相互重叠{parts_m2 - union_m2:.2f}平方米；范围取其并集")
    geom = shapely.orient_polygons(as_multi(geom), exterior_cw=False)
    if not geom.is_valid:
        geom = shapely.orient_polygons(as_multi(_repair(geom, geom.area, "the boundary", "范围", "the union",
                                                        "合并结果", notes)), exterior_cw=False)
    if geom.geom_type != "MultiPolygon" or geom.is_empty:
        _empty()

    m2 = geodesic_m2(geom)
    if m2 > limits.max_area_km2 * 1e6:
        raise PayloadTooLarge(bi(
            f"the boundary covers {m2 / 1e6:,.1f} km², more than the limit of {limits.max_area_km2:,g} km² "
            "(max_area_km2); split the job",
            f"范围面积{m2 / 1e6:,.1f}平方千米，超过上限{limits.max_area_km2:,g}平方千米（max_area_km2），请分批提交"))
    if m2 < limits.min_area_m2:
        raise InvalidInput(bi(
            f"the boundary covers {m2:.3f} m², less than the minimum of {limits.min_area_m2:g} m² (min_area_m2)",
            f"范围面积{m2:.3f}平方米，小于下限{limits.min_area_m2:g}平方米（min_area_m2）"))
    names = list(dict.fromkeys(p.crs.name for p in parcels))
    return Boundary(geometry=geom, source_crs=", ".join(names), parcels=records, notes=list(notes),
                    area=area_units(m2), vertices=int(shapely.get_num_coordinates(geom)) - _ring_count(geom),
                    rings=rings_out, metadata=meta)
