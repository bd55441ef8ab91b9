"""数学基础 (mathematical basis): M01 the coordinate system is CGCS2000, M02 the projection
zone fits where the data lies. Decides how each layer's coordinates reach EPSG:4490.

A layer in another CRS (WGS 84, Web Mercator, Xi'an 80 ...) is an M01 finding but is still
placed with PROJ and checked further; a layer with no CRS is placed by its coordinates when
they say what they are (lon/lat, or zone-prefixed Gauss-Krüger eastings). A layer that lands
outside China cannot be placed and its geometry is not checked (said in the M02 message).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from onemap.config.settings import PACKAGE_DIR
from onemap.providers.geometry import STORAGE_SRID

from .config import QcConfig
from .findings import Collector
from .reader import LayerInput

CHINA = (73.0, 3.0, 136.0, 54.0)


@dataclass(frozen=True)
class Zone:
    """A CGCS2000 Gauss-Krüger CRS (config/codes/crs_cgcs2000.csv)."""

    epsg: int
    width: int  # 3 or 6 degrees
    prefixed: bool  # eastings carry the zone number (e.g. 39 500 000)
    zone: int
    cm: float
    lon_min: float
    lon_max: float


@lru_cache(maxsize=4)
def load_zones(codes_dir: Path = PACKAGE_DIR / "codes") -> dict[int, Zone]:
    """Every CGCS2000 Gauss-Krüger CRS, by EPSG code."""
    path = codes_dir / "crs_cgcs2000.csv"
    if not path.exists():
        path = PACKAGE_DIR / "codes" / "crs_cgcs2000.csv"
    out = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            kind = row["kind"]
            if "GK" not in kind:
                continue
            out[int(row["epsg"])] = Zone(
                epsg=int(row["epsg"]), width=3 if kind.startswith("3-degree") else 6,
                prefixed="no zone prefix" not in kind, zone=int(row["zone"]), cm=float(row["central_meridian"]),
                lon_min=float(row["lon_min"]), lon_max=float(row["lon_max"]))
    return out


def _in_china(b: tuple[float, float, float, float]) -> bool:
    return all(math.isfinite(v) for v in b) and CHINA[0] <= b[0] and b[2] <= CHINA[2] and \
        CHINA[1] <= b[1] and b[3] <= CHINA[3]


def _guess(raw: tuple[float, float, float, float] | None, zones: dict[int, Zone]) -> int | None:
    """The EPSG code coordinates with no declared CRS evidently use (None: cannot tell)."""
    if raw is None:
        return None
    if _in_china(raw):
        return STORAGE_SRID
    if raw[0] >= 1e7:
        zone = int(raw[0] // 1e6)
        for z in zones.values():
            if z.prefixed and z.zone == zone:
                return z.epsg
    return None


def _extent(b: tuple[float, float, float, float] | None) -> shapely.Geometry | None:
    if b is None or not all(math.isfinite(v) for v in b):
        return None
    return shapely.box(*b)


def _fmt(b: tuple[float, float, float, float]) -> str:
    return f"{b[0]:.4f}°E–{b[2]:.4f}°E, {b[1]:.4f}°N–{b[3]:.4f}°N"


def check_crs(inp: LayerInput, cfg: QcConfig, out: Collector, codes_dir: Path | None = None) -> None:
    """M01 and M02 for one layer; sets ``transform_from``, ``usable`` and ``bounds``."""
    if inp.in_store:
        return  # the store holds EPSG:4490 by construction
    zones = load_zones(codes_dir or PACKAGE_DIR / "codes")
    where: dict[str, Any] = {"layer": inp.name, "layer_id": inp.layer.id}
    epsg: int | None = None
    crs: CRS | None = None
    if not inp.declared_crs:
        if cfg.enabled("M01"):
            out.add("M01", "none", location=None, measured=None, expected="EPSG:4490", **where)
        epsg = _guess(inp.raw_bounds, zones)
        if epsg is None:
            inp.usable = False
            return
        crs = CRS.from_epsg(epsg)
    else:
        try:
            crs = CRS.from_user_input(inp.declared_crs)
        except CRSError:
            crs = None
        epsg = crs.to_epsg(min_confidence=50) if crs is not None else None
        if epsg != STORAGE_SRID and epsg not in zones:
            name = f"EPSG:{epsg}" if epsg else (crs.name if crs is not None else str(inp.declared_crs)[:60])
            bounds = _place(inp, crs) if crs is not None else None
            if cfg.enabled("M01"):
                out.add("M01", "wrong", location=_extent(bounds), measured=name, expected="EPSG:4490", **where)
            if crs is None or bounds is None or not _in_china(bounds):
                inp.usable = False
                return
            inp.transform_from = crs
            inp.bounds = bounds
            return
    inp.transform_from = None if epsg == STORAGE_SRID else epsg
    zone = zones.get(epsg) if epsg is not None else None
    raw = inp.raw_bounds
    if raw is None:
        return  # an empty layer: nothing to place
    label = f"EPSG:{epsg}"
    if zone is not None:
        found = {int(raw[0] // 1e6), int(raw[2] // 1e6)} if raw[0] >= 1e6 else set()
        if (zone.prefixed and found != {zone.zone}) or (not zone.prefixed and found):
            inp.usable = False
            if cfg.enabled("M02"):
                out.add("M02", "prefix", location=None, measured="/".join(str(z) for z in sorted(found)) or "-",
                        expected=zone.zone if zone.prefixed else "-", crs=label, **where)
            return
    bounds = _place(inp, crs)
    if bounds is None or not _in_china(bounds):
        inp.usable = False
        if cfg.enabled("M02"):
            out.add("M02", "outside", location=None, measured=_fmt(bounds) if bounds else "?", expected=_fmt(CHINA),
                    crs=label, **where)
        return
    inp.bounds = bounds
    if zone is not None and cfg.enabled("M02"):
        margin = cfg.thresholds.zone_margin_deg
        lo, hi = zone.lon_min - margin, zone.lon_max + margin
        if bounds[0] < lo or bounds[2] > hi:
            out.add("M02", "zone", location=_extent(bounds), measured=f"{bounds[0]:.3f}°E–{bounds[2]:.3f}°E",
                    expected=f"{lo:.2f}°E–{hi:.2f}°E", crs=label, cm=f"{zone.cm:g}", **where)


def _place(inp: LayerInput, crs: CRS | None) -> tuple[float, float, float, float] | None:
    """The layer's extent in EPSG:4490 lon/lat (densified edges), None when PROJ cannot say."""
    raw = inp.raw_bounds
    if raw is None:
        return None
    if crs is None or crs.to_epsg(min_confidence=50) == STORAGE_SRID:
        return raw
    try:
        t = Transformer.from_crs(crs, STORAGE_SRID, always_xy=True)
        b = t.transform_bounds(*raw, densify_pts=21)
    except (ProjError, CRSError):
        return None
    if not all(math.isfinite(v) for v in b):
        return None
    x0, y0, x1, y1 = (float(v) for v in b)
    return (x0, y0, x1, y1)
