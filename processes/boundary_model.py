"""What the boundary readers hand to the boundary pipeline (processes/boundary.py).

Each reader (GeoJSON, the coordinate text file, GML, KML) turns its input into parcels of
rings in *x,y order of the source CRS* (longitude/easting first), whatever axis order the
format itself uses; the pipeline then checks, repairs and transforms them the same way for
every format. Messages are bilingual (English / 中文) because the clients are Chinese
agencies and their integrators.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
from pyproj import Transformer

from onemap.config.errors import InvalidInput, InvalidParameterValue, PayloadTooLarge
from onemap.providers.crs import CRS84, crs_code, normalize_crs

# China with its seas, generously: the South China Sea islands reach 3°N, Heilongjiang 53.6°N.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
# CGCS2000 Gauss-Krüger CRSs: 6° zoned 4491-4501, 6° CM 4502-4512, 3° zoned 4513-4533, 3° CM 4534-4554.
GK_EPSG = range(4491, 4555)
LONLAT_EPSG = (4490, 4326)
ACCEPTED = "OGC:CRS84, EPSG:4490, EPSG:4326, EPSG:3857, EPSG:4491-4554 (CGCS2000 Gauss-Krüger)"
# a zone's own band plus this much: parcels that straddle a zone edge are still surveyed in it
ZONE_MARGIN_DEG = 1.0

_GML_SRS_RE = re.compile(r"^https?://www\.opengis\.net/gml/srs/epsg\.xml#(\d+)$", re.IGNORECASE)


def bi(en: str, zh: str) -> str:
    """One bilingual message."""
    return f"{en} / {zh}"


def fail(en: str, zh: str) -> NoReturn:
    """Refuse the input (HTTP 400) with a bilingual message."""
    raise InvalidInput(bi(en, zh))


class Notes(list):
    """What was repaired or normalised; each note once, in the order it happened."""

    def add(self, en: str, zh: str) -> None:
        """Add a bilingual note unless it is already there."""
        text = bi(en, zh)
        if text not in self:
            self.append(text)


@dataclass(frozen=True)
class SourceCrs:
    """A CRS the boundary may be given in, with what the checks need to know about it."""

    epsg: int | None  # None: OGC:CRS84

    @property
    def name(self) -> str:
        return "OGC:CRS84" if self.epsg is None else f"EPSG:{self.epsg}"

    @property
    def kind(self) -> str:
        if self.epsg is None or self.epsg in LONLAT_EPSG:
            return "lonlat"
        if self.epsg == 3857:
            return "mercator"
        return "gk"

    @property
    def authority_north_first(self) -> bool:
        """EPSG defines lat,lon for 4490/4326 and northing,easting for the Gauss-Krüger CRSs."""
        return self.kind in ("lonlat", "gk") and self.epsg is not None

    @property
    def gk(self) -> tuple[int, int, bool, float]:
        """(zone width in degrees, zone number, eastings carry the zone prefix, central meridian)."""
        e = self.epsg
        assert e is not None and e in GK_EPSG
        if e <= 4501:
            zone = e - 4478
            return 6, zone, True, 6.0 * zone - 3
        if e <= 4512:
            cm = 75.0 + 6 * (e - 4502)
            return 6, int((cm + 3) / 6), False, cm
        if e <= 4533:
            zone = e - 4488
            return 3, zone, True, 3.0 * zone
        cm = 75.0 + 3 * (e - 4534)
        return 3, int(cm / 3), False, cm


def gk_epsg(width: int, zone: int, prefixed: bool) -> int:
    """The CGCS2000 Gauss-Krüger EPSG code of a zone (3°: 25-45, 6°: 13-23)."""
    if width == 3:
        return (4488 if prefixed else 4509) + zone
    return (4478 if prefixed else 4489) + zone


def zone_ok(width: int, zone: int) -> bool:
    """Whether ``zone`` is a Gauss-Krüger zone of China for that zone width."""
    return 25 <= zone <= 45 if width == 3 else 13 <= zone <= 23


def parse_crs(value: str, what: str) -> tuple[SourceCrs, bool]:
    """A CRS name -> (the CRS, whether its spelling asks for the authority's axis order).

    URIs and URNs mean the EPSG axis order; the short ``EPSG:nnnn`` and the GML 2
    ``.../epsg.xml#nnnn`` spellings mean x,y, as GDAL and GeoServer read them in GML.
    """
    v = str(value).strip()
    m = _GML_SRS_RE.match(v)
    if m:
        crs, authority = SourceCrs(int(m.group(1))), False
    else:
        try:
            uri = normalize_crs(v)
        except InvalidParameterValue:
            fail(f"{what}: {v!r} is not a CRS name; accepted: {ACCEPTED}",
                 f"{what}：无法识别的坐标参照系 {v!r}；可用：{ACCEPTED}")
        code = None if uri == CRS84 else crs_code(uri)
        crs = SourceCrs(code)
        authority = "://" in v or v.lower().startswith("urn:")
    if crs.epsg is not None and crs.epsg not in (*LONLAT_EPSG, 3857) and crs.epsg not in GK_EPSG:
        fail(f"{what}: {crs.name} is not accepted for a boundary; accepted: {ACCEPTED}",
             f"{what}：不支持 {crs.name}；可用：{ACCEPTED}")
    return crs, authority and crs.authority_north_first


_local = threading.local()


def to_lonlat_transformer(epsg: int) -> Transformer:
    """x,y in ``epsg`` -> lon,lat on CGCS2000; one per thread (building one is slow)."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    t = cache.get(epsg)
    if t is None:
        t = cache[epsg] = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4490", always_xy=True)
    return t


def lonlat_of(crs: SourceCrs, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source x,y -> lon,lat (CRS84 and WGS 84 are taken as CGCS2000: they agree to centimetres)."""
    if crs.kind == "lonlat" or crs.epsg is None:  # (no EPSG code: CRS84, which is lon/lat)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    lon, lat = to_lonlat_transformer(crs.epsg).transform(x, y, errcheck=False)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


@dataclass
class RawRing:
    """One ring as read, x,y in the source CRS; ``lines`` are coordinate-file line numbers."""

    xy: np.ndarray  # (n, 2) float
    en: str  # e.g. "ring 2 (from line 20)"
    zh: str  # e.g. "第2圈（第20行起）"
    number: int  # 圈号 for coordinate files, else the ring's position (1 = exterior)
    lines: list[int] | None = None

    def where(self, i: int) -> tuple[str, str]:
        """Where vertex ``i`` is, for a message."""
        if self.lines is not None and i < len(self.lines):
            return f"line {self.lines[i]}", f"第{self.lines[i]}行"
        return f"vertex {i + 1} of {self.en}", f"{self.zh}第{i + 1}个点"


@dataclass
class RawParcel:
    """One parcel (coordinate file) or feature (GeoJSON, GML, KML) as read."""

    en: str  # "parcel 2024-01", "feature 3 (id 'a')", "the geometry"
    zh: str
    crs: SourceCrs
    # structured formats: polygons as [exterior, *interiors]
    polygons: list[list[RawRing]] = field(default_factory=list)
    # coordinate files: rings grouped by 圈号, shell or hole decided by containment
    loose: list[RawRing] | None = None
    info: dict[str, Any] = field(default_factory=dict)  # id, name, use, declared_area_ha, attributes ...
    declared_area_ha: float | None = None
    # the orientation the format itself prescribes: 部标准格式 numbers 界址点 clockwise from the NW
    # corner; GeoJSON (RFC 7946), GML and KML draw shells counter-clockwise
    shells_cw: bool = False

    def rings(self) -> list[RawRing]:
        """Every ring of the parcel, in input order."""
        if self.loose is not None:
            return list(self.loose)
        return [r for poly in self.polygons for r in poly]


class VertexBudget:
    """Counts vertices while reading so a huge input is refused before it is all built."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def add(self, n: int) -> None:
        """Count ``n`` more vertices; a 413 once the limit is passed."""
        self.count += n
        if self.count > self.limit:
            raise PayloadTooLarge(bi(
                f"the boundary has more than {self.limit:,} vertices (limit max_vertices={self.limit:,}); "
                "simplify it or split the job",
                f"范围坐标点超过{self.limit:,}个（上限 max_vertices）；请简化或分批提交"))


def ring_array(values: list[float] | list[tuple[float, float]] | np.ndarray, en: str, zh: str) -> np.ndarray:
    """A flat or (n,2) list of numbers as a finite (n,2) float array."""
    a = np.asarray(values, dtype=float).reshape(-1, 2)
    if not np.isfinite(a).all():
        fail(f"{en} has a coordinate that is not a finite number", f"{zh}含有非有限数值的坐标")
    return a


# Attribute names that carry a parcel's id, name, use and declared area in the formats we read:
# the 部标准格式 header fields, the national database field codes, and plain English.
ID_KEYS = ("地块编号", "DKBH", "BSM", "id", "ID", "code", "编号")
NAME_KEYS = ("地块名称", "DKMC", "XMMC", "name", "NAME", "名称", "项目名称")
USE_KEYS = ("地块用途", "DKYT", "use", "USE", "用途", "landuse")
AREA_HA_KEYS = ("地块面积", "DKMJ", "declared_area_ha", "area_ha", "面积公顷")


def pick(props: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first non-empty value among ``keys``."""
    for k in keys:
        v = props.get(k)
        if v not in (None, ""):
            return v
    return None


def declared_ha(value: Any, en: str, zh: str, notes: Notes) -> float | None:
    """A declared area in hectares, or None (with a note) when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return None
    try:
        v = float(str(value).strip())
    except ValueError:
        notes.add(f"{en}: declared area {value!r} is not a number; not checked",
                  f"{zh}：地块面积 {value!r} 不是数字，未核对")
        return None
    if not np.isfinite(v):
        return None
    return v


def feature_info(props: dict[str, Any], fid: Any, en: str, zh: str,
                 notes: Notes) -> tuple[dict[str, Any], float | None]:
    """The parcel record of a GeoJSON/GML/KML feature: id, name, use, declared area, its properties."""
    ident = fid if fid not in (None, "") else pick(props, ID_KEYS)
    area = declared_ha(pick(props, AREA_HA_KEYS), en, zh, notes)
    info = {
        "id": None if ident is None else str(ident),
        "name": _str_or_none(pick(props, NAME_KEYS)),
        "use": _str_or_none(pick(props, USE_KEYS)),
        "declared_area_ha": area,
        "attributes": props,
    }
    return info, area


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)
