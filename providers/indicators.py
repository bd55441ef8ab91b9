"""指标: the indicators of config/indicators.yaml evaluated for a region and a date, with target and status.

A value is computed from the one map as it stands on the date: the survey in force and the plans that
govern each place (``providers.statistics``). Its target is the one the nearest upper plan in force on
that date sets for the region in its indicator table (a city plan for its counties, the province's for
its cities). The status compares the two in the direction the indicator binds: 超标 past the bound,
预警 within the warning margin of it, 达标 otherwise. A time series has one value per survey year held.

A per-capita indicator divides by the population table (``onemap population load``): the region's row of
the date's year or, when that year is not held, of the latest earlier year held, which the value names
(``population_year``, with a ``note`` when it is not the date's year). A region without a row of the year
takes the sum of its sub-regions in the survey in force when every one of them has one; otherwise its value is
null, with a note saying what is missing: a population is never estimated.

Values are cached per registry and population version: filing, withdrawing or loading anything (a population
table too) changes a version, so a cached value is never stale; an unchanged store answers from memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pygeofilter import ast

from onemap.config.catalogue import Catalogue, Layer
from onemap.config.errors import NotFound
from onemap.config.indicators import POPULATION_KINDS, Formula, IndicatorDef, Indicators, Measure, get_indicators
from onemap.domain.dates import When
from onemap.domain.plans import Plan
from onemap.domain.regions import region_covers

from .geometry import geodesic_area
from .regions import Region, Regions
from .statistics import StatisticsQuery, statistics
from .store.base import PlanIndicator, PopulationRow, Store

STATUS = {"ok": {"zh": "达标", "en": "met"}, "warning": {"zh": "预警", "en": "warning"},
          "breach": {"zh": "超标", "en": "breached"}, "none": {"zh": "无目标", "en": "no target"}}
PLAN_LEVELS = ("national", "province", "city", "county", "township")
CACHE_SIZE = 4096


def where_filter(measure: Measure) -> Any:
    """The CQL2 expression of a measure's ``where`` (None when it has none)."""
    parts = []
    for name, codes in sorted(measure.where.items()):
        attr = ast.Attribute(name)
        exact = [c for c in codes if not c.endswith("*")]
        alts: list[Any] = [ast.In(attr, exact, False)] if exact else []
        alts += [ast.Like(attr, c[:-1] + "%", False, "%", "_", "\\", False) for c in codes if c.endswith("*")]
        parts.append(_join(ast.Or, alts))
    return _join(ast.And, parts) if parts else None


def where_mask(measure: Measure, columns: dict[str, Any], n: int) -> np.ndarray:
    """Which of ``n`` rows (columns of values) a measure's ``where`` selects (the same test as
    ``where_filter``, for data not yet in a store: the demo's targets)."""
    mask = np.ones(n, dtype=bool)
    for name, codes in measure.where.items():
        values = np.asarray([str(v or "") for v in columns[name]], dtype=object)
        hit = np.zeros(n, dtype=bool)
        for c in codes:
            hit |= (np.char.startswith(values.astype(str), c[:-1]) if c.endswith("*")
                    else values == c)
        mask &= hit
    return mask


def _join(op: Any, nodes: list[Any]) -> Any:
    out = nodes[0]
    for n in nodes[1:]:
        out = op(out, n)
    return out


def indicator_layers(d: IndicatorDef) -> set[str]:
    """Every layer an indicator reads: those its formula measures and the plan layer it names."""
    return {m.layer for m in d.computed.measures()} | ({d.layer} if d.layer else set())


def readable(d: IndicatorDef, catalogue: Catalogue, reaches: Callable[[str], bool]) -> bool:
    """May a caller who reaches the tiers ``reaches`` says read this indicator? Only when it may read
    every layer the indicator measures (the red line's area is as restricted as the red line). The
    endpoints (``/indicators``) and the evaluation processes both ask this."""
    return all(lid in catalogue.collections and reaches(catalogue.collections[lid].tier)
               for lid in indicator_layers(d))


@dataclass(frozen=True)
class Population:
    """The population a per-capita value divided by: of which year, and whether the region's own row
    (``region``) or the sum of its sub-regions' (``children``) gave it; ``value`` None when none is held."""

    kind: str
    year: int | None
    value: int | None
    origin: str | None
    note: str | None = None


@dataclass(frozen=True)
class Target:
    value: float
    unit: str
    plan_id: str


class IndicatorService:
    """Indicator values of one store (one per process, shared by its threads)."""

    def __init__(self, store: Store, indicators: Indicators | None = None) -> None:
        self.store = store
        self.ind = indicators or get_indicators()
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    # ---- lookups -------------------------------------------------------------------------------------
    def definition(self, code: str) -> IndicatorDef:
        found = self.ind.by_code.get(code)
        if found is None:
            raise NotFound(f"no indicator {code!r}; the indicators are {', '.join(self.ind.by_code)}")
        return found

    def survey_dates(self) -> list[tuple[str, dt.date]]:
        """(survey year, the date it came into force) for every survey version held, oldest first."""
        held = self.store.plan_layer_index()
        out: dict[str, dt.date] = {}
        for p in self.store.plans().values():
            if p.type != "survey" or "dltb" not in held.get(p.id, {}) or p.valid_from is None:
                continue
            out[p.version] = min(out.get(p.version, p.valid_from), p.valid_from)
        return sorted(out.items(), key=lambda kv: kv[1])

    # ---- values --------------------------------------------------------------------------------------
    def evaluate(self, region: Region, day: dt.date, codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every indicator (or those in ``codes``) for one region on one date."""
        defs = [self.definition(c) for c in codes] if codes else [d for d in self.ind.indicators
                                                                 if region.level in d.levels]
        return [self._cached(("value", d.code, region.code, day), lambda d=d: self._value(d, region, day))
                for d in defs]

    def series(self, code: str, region_code: str) -> list[dict[str, Any]]:
        """One value per survey year held (on the date each came into force), oldest first."""
        d = self.definition(code)
        out = []
        for year, day in self.survey_dates():
            region = Regions(self.store, day).get(region_code)
            value = self.evaluate(region, day, [d.code])[0]
            out.append({"year": year, **value})
        return out

    def by_level(self, code: str, level: str, day: dt.date, within: str | None = None
                 ) -> list[tuple[Region, dict[str, Any]]]:
        """One indicator for every region of a level on a date (the regions under ``within`` only)."""
        d = self.definition(code)
        regions = Regions(self.store, day).at_level(level, within)
        return [(r, self.evaluate(r, day, [d.code])[0]) for r in regions]

    def _cached(self, key: tuple, compute: Any, population: bool = True) -> Any:
        """``compute()`` cached under ``key`` and the registry version (and the population version, unless
        the value does not depend on it)."""
        registry, people = self.store._current_versions()
        key = (registry, people if population else None, *key)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    def _value(self, d: IndicatorDef, region: Region, day: dt.date) -> dict[str, Any]:
        used: list[Population] = []
        raw = self._formula(d.computed, region, day, used)
        value = None if raw is None else self._in_unit(raw, d)
        target = self.target(d, region.code, day)
        out: dict[str, Any] = {
            "code": d.code, "name": d.title["zh"], "name_en": d.title.get("en", d.code), "unit": d.unit,
            "binding": d.binding, "kind": d.kind, "region": region.code, "region_name": region.name,
            "level": region.level, "datetime": day.isoformat(),
            "value": None if value is None else round(value, 4),
            "target": None, "target_plan": None, "gap": None, "status": "none",
        }
        if target is not None and value is not None:
            goal = self._target_in_unit(target, d)
            # the gap is how far the value is from breaking the bound: negative when broken
            gap = value - goal if d.kind == "min" else goal - value
            margin = abs(goal) * (d.warn_margin if d.warn_margin is not None else self.ind.warn_margin)
            out.update(target=round(goal, 4), target_plan=target.plan_id, gap=round(gap, 4),
                       status="breach" if gap < 0 else ("warning" if gap <= margin else "ok"))
        if d.computed.per_capita_kinds():
            years = [u.year for u in used if u.year is not None]
            notes = [u.note for u in used if u.note]
            out.update(population_year=min(years) if years else None,
                       population=used[0].value if len(used) == 1 else None,
                       population_from=used[0].origin if len(used) == 1 else None,
                       note="; ".join(dict.fromkeys(notes)) or None)
        out["status_label"] = STATUS[out["status"]]
        return out

    def _in_unit(self, raw: float, d: IndicatorDef) -> float:
        return raw / self.ind.units[d.unit] if d.unit in self.ind.units else raw

    def _target_in_unit(self, t: Target, d: IndicatorDef) -> float:
        if t.unit == d.unit or t.unit not in self.ind.units or d.unit not in self.ind.units:
            return t.value
        return self.ind.m2(t.value, t.unit) / self.ind.units[d.unit]

    def _formula(self, f: Formula, region: Region, day: dt.date, used: list[Population]) -> float | None:
        """The formula's raw value (m² for areas) in the region on the day; None when undefined (0/0, no
        population). The populations a per-capita part divided by are appended to ``used``."""
        if f.region_area:
            raw: float | None = float(geodesic_area(region.outline))
        elif f.area is not None or f.count is not None:
            measure = f.area or f.count
            assert measure is not None
            m2, count = self._measure(measure, region, day)
            raw = m2 if f.area is not None else float(count)
        elif f.sum is not None:
            parts = [self._formula(s, region, day, used) for s in f.sum]
            raw = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
        elif f.ratio is not None:
            num, den = (self._formula(s, region, day, used) for s in f.ratio)
            raw = None if num is None or not den else num / den
        else:
            assert f.per_capita is not None
            people = self.population(region, day, f.per_capita.population)
            used.append(people)
            num = self._formula(f.per_capita.numerator, region, day, used)
            raw = None if num is None or not people.value else num / people.value
        return None if raw is None else raw * f.scale

    # ---- population ----------------------------------------------------------------------------------
    def _population_table(self) -> dict[tuple[str, int], PopulationRow]:
        """The whole population table by (region, year), read once per population version."""
        table: dict[tuple[str, int], PopulationRow] = self._cached(
            ("population",), lambda: {(r.region, r.year): r for r in self.store.population()})
        return table

    def _children(self, day: dt.date) -> dict[str, list[str]]:
        """Region code -> the codes of the regions directly under it (their SJXZQDM), in the survey in force."""

        def read() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for r in Regions(self.store, day):
                if r.parent:
                    out.setdefault(r.parent, []).append(r.code)
            return out

        found: dict[str, list[str]] = self._cached(("children", day), read, population=False)
        return found

    def population(self, region: Region, day: dt.date, kind: str) -> Population:
        """The region's population of ``kind`` (resident, urban, rural) for the date: of the date's year, else
        of the latest earlier year held; the region's own row, else the sum of its sub-regions' rows of that
        year when every one has one. ``value`` None, and a note why, when neither is held."""
        table = self._population_table()
        label = POPULATION_KINDS[kind]["zh"]
        years = sorted({y for _, y in table if y <= day.year}, reverse=True)
        children = self._children(day) if years else {}

        def of(code: str, year: int, depth: int = 0) -> int | None:
            row = table.get((code, year))
            if row is not None:
                return row.resident if kind == "resident" else row.urban if kind == "urban" else row.rural
            under = children.get(code, [])
            if not under or depth > 4:
                return None
            parts = [of(c, year, depth + 1) for c in under]
            return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)

        for year in years:
            value = of(region.code, year)
            if value is None:
                continue
            origin = "region" if (region.code, year) in table else "children"
            notes = []
            if year != day.year:
                notes.append(f"{label} of {year}, the latest year held up to {day.year}")
            if origin == "children":
                notes.append(f"{label} of {region.code} in {year} is the sum of the regions under it")
            if value == 0:
                notes.append(f"{label} of {region.code} in {year} is 0: no per-capita value")
            return Population(kind, year, value, origin, "; ".join(notes) or None)
        return Population(kind, None, None, None,
                          f"no {label} of {region.code} ({region.name}) for {day.year} or an earlier year in the "
                          "population table, nor of every region under it")

    def _measure(self, m: Measure, region: Region, day: dt.date) -> tuple[float, int]:
        """Area (m²) and count of a measure's features in the region on the day.

        On a layer summed by its region field (the survey), one query answers every region of the level
        at once, and all of them are cached: a county's indicator set, or a level's choropleth, costs one
        query per measure, not one per region.
        """
        layer: Layer = self.store.catalogue.layer(m.layer)
        where = tuple(sorted(m.where.items()))
        key = ("measure", m.layer, where, region.code, day)

        def one() -> tuple[float, int]:
            rows = statistics(self.store, StatisticsQuery(layer=layer, day=day, region=region.code,
                                                          filter=where_filter(m)))
            return sum(r["m2"] for r in rows), sum(r["count"] for r in rows)

        if layer.region_field is None:
            found: tuple[float, int] = self._cached(key, one, population=False)
            return found

        def level() -> dict[str, tuple[float, int]]:
            rows = statistics(self.store, StatisticsQuery(layer=layer, day=day, group_by=(f"region:{region.level}",),
                                                          filter=where_filter(m)))
            return {r["region"]: (r["m2"], r["count"]) for r in rows}

        by_region: dict[str, tuple[float, int]] = self._cached(("level", m.layer, where, region.level, day), level,
                                                               population=False)
        return by_region.get(region.code, (0.0, 0))

    # ---- targets -------------------------------------------------------------------------------------
    def upper_plans(self, region: str, day: dt.date) -> list[Plan]:
        """The master plans above the region in force on ``day`` that cover it, nearest first (the order in
        which they set its targets)."""
        found = [p for p in self.store.plans().values()
                 if p.type == "master" and p.in_force(When.at(day)) and p.region != region
                 and region_covers(p.region, region)]
        return sorted(found, key=lambda p: (PLAN_LEVELS.index(p.level) if p.level in PLAN_LEVELS else 0,
                                            p.valid_from or dt.date.min, p.id), reverse=True)

    def target(self, d: IndicatorDef, region: str, day: dt.date) -> Target | None:
        """The target the nearest upper master plan in force on ``day`` sets for the region."""
        for p in self.upper_plans(region, day):
            row: PlanIndicator | None = next((t for t in self.store.plan_indicators(p.id)
                                              if t.region == region and t.code == d.code), None)
            if row is not None:
                return Target(row.value, row.unit, p.id)
        return None


@functools.lru_cache(maxsize=8)
def shared_service(store: Store) -> IndicatorService:
    """The process's indicator service of a store: ``/indicators``, the ``indicators`` collection and the
    evaluation processes share one cache."""
    return IndicatorService(store)
