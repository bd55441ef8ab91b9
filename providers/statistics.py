"""查询统计: geodesic area and feature count of a layer per group, on a date, in a region or boundary.

The features are those of the plans governing each place on the date (``view=governing``: a place
counted once, by the plan that governs it) or of one drawer entry. Sums are the database's
(``Store.aggregate``): each feature's area on CGCS2000 is stored with it, and only features an edge cuts
(of the boundary, a region, or where their plan governs) are measured again.

Regions come two ways. A layer with a ``region_field`` (the survey: 坐落单位代码) is summed by the
code's prefix, as the 三调 汇总表 is; any other layer is cut by the outlines of the regions of the
survey in force (``providers.regions``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import shapely

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.domain.dates import When
from onemap.domain.regions import region_covers

from .drawers import resolve_plans
from .geometry import area_units
from .regions import LEVELS, Region, Regions, check_level, level_code
from .store.base import AggregateRow, FeatureQuery, Group, Store

REGION_KEY = "region:"
MAX_GROUP_FIELDS = 3


@dataclass(frozen=True)
class StatisticsQuery:
    """A statistics question, validated: ``group_by`` holds field names and at most one ``region:LEVEL``."""

    layer: Layer
    day: dt.date
    group_by: tuple[str, ...] = ()
    region: str | None = None  # a region code the statistics are limited to
    boundary: shapely.Geometry | None = None  # or a boundary (lon/lat CGCS2000)
    filter: Any = None  # a pygeofilter AST over the layer's queryables
    filter_transform: Any = None
    props: tuple[tuple[str, Any], ...] = ()
    plan_id: str | None = None  # one drawer entry instead of the plans governing on ``day``
    recorded: dt.datetime | None = None


def region_level(key: str) -> str | None:
    """The level of a ``region:LEVEL`` group key (None for a field)."""
    if not key.startswith(REGION_KEY):
        return None
    return check_level(key[len(REGION_KEY):])


def check_group_by(layer: Layer, keys: Sequence[str]) -> tuple[str, ...]:
    """Group keys: fields of the layer (queryable, not geometry) and at most one ``region:LEVEL``."""
    fields = {f.name for f in layer.stored_fields if f.queryable}
    out: list[str] = []
    for key in keys:
        key = key.strip()
        if key in out:
            continue
        if region_level(key) is None and key not in fields:
            raise InvalidParameterValue(f"group_by: {layer.id} has no field {key!r}; group by one of "
                                        f"{', '.join(sorted(fields))} or region:{'|'.join(LEVELS)}")
        out.append(key)
    if sum(1 for k in out if k.startswith(REGION_KEY)) > 1:
        raise InvalidParameterValue("group_by: at most one region level")
    if len([k for k in out if not k.startswith(REGION_KEY)]) > MAX_GROUP_FIELDS:
        raise InvalidParameterValue(f"group_by: at most {MAX_GROUP_FIELDS} fields")
    return tuple(out)


def check_filter(store: Store, layer: Layer, filter_: Any, transform: Any = None) -> None:
    """A CQL2 filter the items API would take on this layer: translated once, without running (a 400 for an
    unknown property, a mistyped literal or an unsupported operator), so a job is refused before it is queued."""
    from .store.sql import CQLTranslator, TableSpec

    CQLTranslator(store.dialect, TableSpec.for_layer(layer), transform).translate(filter_)


def statistics(store: Store, sq: StatisticsQuery) -> list[dict[str, Any]]:
    """One row per group (in group order): the group's values, ``m2``, ``ha``, ``mu`` and ``count``.

    A region group adds ``region`` (its code) and ``region_name``; groups holding no feature are left out.
    """
    layer = sq.layer
    sq = replace(sq, group_by=check_group_by(layer, sq.group_by))
    regions = Regions(store, sq.day) if (sq.region or any(region_level(k) for k in sq.group_by)) else None
    limit = regions.get(sq.region) if (regions is not None and sq.region) else None
    level = next((lv for k in sq.group_by if (lv := region_level(k))), None)
    fields = [k for k in sq.group_by if region_level(k) is None]
    q = _feature_query(store, sq, limit)
    region_field = layer.region_field
    if level is not None and limit is not None and LEVELS[level] < LEVELS[limit.level]:
        raise InvalidParameterValue(f"group_by: region:{level} is above the region {limit.code} ({limit.level})")

    rows: list[tuple[Region | str | None, AggregateRow]] = []
    if region_field is not None:
        # one query: the region is the code's prefix (the limit's level when there is no region group)
        cut = LEVELS[level] if level else (LEVELS[limit.level] if limit else None)
        groups = ([Group(region_field, cut)] if cut else []) + [Group(f) for f in fields]
        for row in store.aggregate(q, groups, sq.boundary):
            region = None
            if cut:
                code = level_code(str(row.key[0]))
                if limit is not None and not region_covers(limit.code, code):
                    continue
                region = _region_or_code(regions, code)
                row = replace(row, key=row.key[1:])
            rows.append((region if level is not None else None, row))
    else:
        outline = limit.outline if limit is not None else None
        if sq.boundary is not None:
            outline = sq.boundary if outline is None else shapely.intersection(outline, sq.boundary)
        if level is None:
            for row in store.aggregate(q, [Group(f) for f in fields], outline):
                rows.append((None, row))
        else:
            assert regions is not None
            for region in regions.at_level(level, limit.code if limit else None):
                area = region.outline if outline is None else shapely.intersection(region.outline, outline)
                if area.is_empty:
                    continue
                for row in store.aggregate(q, [Group(f) for f in fields], area):
                    rows.append((region, row))
    return [_row(fields, region, row, level is not None) for region, row in rows]


def _region_or_code(regions: Regions | None, code: str) -> Region | str:
    try:
        return regions.get(code) if regions is not None else code
    except (NotFound, InvalidParameterValue):  # a 坐落 code the survey draws no outline for: its own group
        return code


def _row(fields: list[str], region: Region | str | None, row: AggregateRow, with_region: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_region:
        if isinstance(region, Region):
            out["region"], out["region_name"] = region.code, region.name
        else:
            out["region"], out["region_name"] = region, None
    out.update(zip(fields, row.key))
    out.update(area_units(row.m2))
    out["count"] = row.count
    return out


def _feature_query(store: Store, sq: StatisticsQuery, limit: Region | None) -> FeatureQuery:
    """The features asked about: the plans governing on the day (each where it governs) or one entry,
    in drawers that meet the region limit."""
    sel = resolve_plans(store, sq.layer, When.at(sq.day), None, sq.plan_id, sq.recorded,
                        view="all" if sq.plan_id else "governing")
    plan_ids = sel.plan_ids
    if limit is not None:
        plans = store.plans(sq.recorded)
        plan_ids = tuple(p for p in plan_ids if region_covers(limit.code, plans[p].region)
                         or region_covers(plans[p].region, limit.code))
    return FeatureQuery(layer=sq.layer, plan_ids=plan_ids, filter=sq.filter, filter_transform=sq.filter_transform,
                        props=list(sq.props), clip=sel.clip, count=False)
