"""A plan package's indicator table (规划指标表, config/indicators.yaml): read strictly, written back.

The table is a non-spatial layer (a GeoPackage attribute table, a lone .dbf among the
Shapefiles, a File Geodatabase table) named by its table code. One row is one target:
a region (XZQDM), an indicator (ZBDM), its value (ZBZ) in the indicator's unit (DW).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyogrio

from onemap.config.indicators import Indicators

from .store.base import PlanIndicator, region_covers


@dataclass
class IndicatorRow:
    """One row of a package's indicator table, checked."""

    region: str
    code: str
    value: float
    unit: str
    name: str | None = None
    region_name: str | None = None


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # a region code typed as a number in a spreadsheet
    s = str(v).strip()
    return s or None


def _number(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        if not v:
            return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return x


def read_indicator_table(dataset: str, layer: str | None, encoding: str | None, ind: Indicators,
                         errors: list[str]) -> list[IndicatorRow]:
    """The rows of the table; every problem is appended to ``errors`` (naming the row)."""
    label = ind.table.table_code
    meta, _fids, _geoms, data = pyogrio.raw.read(dataset, layer=layer, encoding=encoding, read_geometry=False)
    cols = {str(n).upper(): np.asarray(v).tolist() for n, v in zip(meta["fields"], data)}
    n = len(data[0]) if len(data) else 0
    missing = [f for f, spec in ind.table.fields.items() if spec.required and f not in cols]
    if missing:
        errors.append(f"layer {label}: required field{'s' if len(missing) > 1 else ''} "
                      f"{', '.join(missing)} missing")
        return []
    by_code = ind.by_code
    rows: list[IndicatorRow] = []
    seen: set[tuple[str, str]] = set()

    def get(name: str, i: int) -> Any:
        return cols[name][i] if name in cols else None

    for i in range(n):
        region, code = _text(get("XZQDM", i)), _text(get("ZBDM", i))
        where = f"layer {label}, row {i + 1}" + (f" ({region} {code})" if region and code else "")
        bad = False
        if region is None or not region.isdigit() or len(region) not in (6, 9, 12):
            errors.append(f"{where}: XZQDM {region!r} is not an administrative division code (6, 9 or 12 digits)")
            bad = True
        if code not in by_code:
            errors.append(f"{where}: ZBDM {code!r} is not an indicator code ({', '.join(sorted(by_code))})")
            bad = True
        value = _number(get("ZBZ", i))
        if value is None or (isinstance(get("ZBZ", i), float) and math.isnan(get("ZBZ", i))):
            errors.append(f"{where}: ZBZ (the target value) is empty")
            bad = True
        elif not math.isfinite(value) or value < 0:
            errors.append(f"{where}: ZBZ {get('ZBZ', i)!r} must be a number of at least 0")
            bad = True
        if bad or region is None or code is None or value is None:  # (the None cases are reported above)
            continue
        d = by_code[code]
        unit = _text(get("DW", i)) or d.unit
        if unit != d.unit:
            errors.append(f"{where}: DW {unit!r} is not the unit of {code} ({d.unit})")
            continue
        if (region, code) in seen:
            errors.append(f"{where}: a second target of {code} for {region}")
            continue
        seen.add((region, code))
        rows.append(IndicatorRow(region=region, code=code, value=float(value), unit=unit,
                                 name=_text(get("ZBMC", i)) or d.title.get("zh"),
                                 region_name=_text(get("XZQMC", i))))
    return rows


def check_regions(rows: list[IndicatorRow], plan_region: str, known: set[str] | None,
                  errors: list[str], table_code: str) -> None:
    """Targets are set for the plan's own region or regions under it, that exist (when ``known``)."""
    for r in rows:
        where = f"layer {table_code}, target {r.code} for {r.region}"
        if not region_covers(plan_region, r.region):
            errors.append(f"{where}: {r.region} is not in the plan's region {plan_region}")
        elif known is not None and r.region not in known:
            errors.append(f"{where}: there is no region {r.region} in the land survey")


def plan_indicators(rows: list[IndicatorRow], plan_id: str, ind: Indicators) -> list[PlanIndicator]:
    """The rows as the store keeps them."""
    kinds = {d.code: d.kind for d in ind.indicators}
    return [PlanIndicator(plan_id=plan_id, region=r.region, code=r.code, value=r.value, unit=r.unit,
                          kind=kinds[r.code], name=r.name) for r in rows]


def table_data(indicators: list[PlanIndicator], region_names: dict[str, str]) -> tuple[list[str], list[np.ndarray]]:
    """(field names, column arrays) of the table to write with pyogrio."""
    fields = ["XZQDM", "XZQMC", "ZBDM", "ZBMC", "ZBZ", "DW"]
    data = [
        np.array([i.region for i in indicators], dtype=object),
        np.array([region_names.get(i.region) for i in indicators], dtype=object),
        np.array([i.code for i in indicators], dtype=object),
        np.array([i.name for i in indicators], dtype=object),
        np.array([float(i.value) for i in indicators], dtype="float64"),
        np.array([i.unit for i in indicators], dtype=object),
    ]
    return fields, data
