"""The targets the demo's upper plans set for the regions under them (their indicator tables).

The province plan sets the city's targets, each city plan version those of its district
and counties. Every target is what the upper plan's own lines give in that region:
protection tasks (min) rounded down, scale limits (max) rounded up, to 0.01 of the
indicator's unit, so the lower plans, which carry the same lines, meet them. The survey's indicators
(耕地保有量, 建设用地总面积, ...) are set from the 2022 survey where it holds any: protection tasks at 94% of
it, scale limits at 108% of it, so the 2023 survey, which loses cropland to building, meets some and warns or breaks on
others (a supervision demo with every status). One exception:
the province transmits the urban development boundary to the city by its scale (see
config/transmission.yaml), and that scale holds both city versions, 2021 and the 2023
revision, which gives up land on one side and grows on another. The per-capita indicators' targets are made the
same way, from the 2022 survey over the demo's 2022 population (server/demo/population.py), but closer to it
(94%, 106%): a region's land per person moves by a few per cent a year, and the demo should show every status.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely

from onemap.config.indicators import Formula, IndicatorDef, get_indicators
from onemap.domain.regions import region_prefix
from onemap.providers.geometry import geodesic_area
from onemap.providers.indicators import where_mask
from onemap.providers.store.base import PlanIndicator, PopulationRow

from .admin import CITY, COUNTIES
from .model import LayerBatch
from .plans import CITY_MASTER_2021, CITY_MASTER_2023, PROVINCE_MASTER

# upper plan -> the regions it sets targets for
TARGETS = {
    PROVINCE_MASTER: [CITY[0]],
    CITY_MASTER_2021: [c for c, _, _ in COUNTIES],
    CITY_MASTER_2023: [c for c, _, _ in COUNTIES],
}
# (upper plan, layer) -> the plans whose features, together, give that target instead
SCALE_FROM = {(PROVINCE_MASTER, "czkfbj"): (CITY_MASTER_2021, CITY_MASTER_2023)}


def _area_m2(batches: list[LayerBatch], region: str) -> float:
    """Geodesic area of the union of the batches' features in the region (by their XZQDM)."""
    geoms = []
    for b in batches:
        codes = np.asarray(b.columns["XZQDM"], dtype=object)
        geoms += list(b.geometry if region == CITY[0] else b.geometry[codes == region])
    return float(geodesic_area(shapely.union_all(geoms))) if geoms else 0.0


# the survey's targets: a share of the 2022 survey's value (protection tasks below it, scale limits above it)
SURVEY_SHARE = {"min": 0.94, "max": 1.08}
PER_CAPITA_SHARE = {"min": 0.94, "max": 1.06}


def _survey_value_m2(batches: list[LayerBatch], f: Formula | None, region: str) -> float | None:
    """An area formula of the 2022 survey in a region (None for one that is not a plain area)."""
    if f is None or f.area is None or f.area.layer != "dltb" or f.scale != 1.0:
        return None
    total = 0.0
    for b in batches:
        if b.layer_id != "dltb" or not b.plan_id.endswith("-survey-2022"):
            continue
        mask = where_mask(f.area, b.columns, len(b.geometry))
        mask &= np.asarray([str(z).startswith(region_prefix(region)) for z in b.columns["ZLDWDM"]], dtype=bool)
        total += float(geodesic_area(np.asarray(b.geometry, dtype=object)[mask]).sum())
    return total


def _per_capita(batches: list[LayerBatch], f: Formula | None, region: str,
                population: dict[tuple[str, int], PopulationRow]) -> float | None:
    """A per-capita formula of the 2022 survey and population in a region (None for another kind)."""
    if f is None or f.per_capita is None:
        return None
    m2 = _survey_value_m2(batches, f.per_capita.numerator, region)
    row = population.get((region, 2022))
    if m2 is None or row is None:
        return None
    people = {"resident": row.resident, "urban": row.urban, "rural": row.rural}[f.per_capita.population]
    return m2 / people * f.scale if people else None


def _target(plan_id: str, region: str, d: IndicatorDef, value: float) -> PlanIndicator:
    """A target of ``value``, to 0.01 of the unit: protection tasks (min) rounded down, limits (max) up."""
    rounded = math.floor(value * 100) if d.kind == "min" else math.ceil(value * 100)
    return PlanIndicator(plan_id=plan_id, region=region, code=d.code, value=rounded / 100, unit=d.unit, kind=d.kind,
                         name=d.title["zh"])


def plan_targets(batches: list[LayerBatch], population: Sequence[PopulationRow] = ()) -> list[PlanIndicator]:
    """The indicator rows of every upper plan of the demo."""
    ind = get_indicators()
    by_key = {(b.plan_id, b.layer_id): b for b in batches}
    people = {(r.region, r.year): r for r in population}
    out = []
    for plan_id, regions in TARGETS.items():
        for region in regions:
            for d in ind.indicators:
                if d.formula is not None and d.formula.per_capita is not None:
                    value = _per_capita(batches, d.formula, region, people)
                    if value:
                        out.append(_target(plan_id, region, d, value * PER_CAPITA_SHARE[d.kind]))
                    continue
                if d.layer is None:
                    m2 = _survey_value_m2(batches, d.formula, region) if d.unit in ind.units else None
                    if m2:  # no target for a class the region does not have
                        out.append(_target(plan_id, region, d, m2 * SURVEY_SHARE[d.kind] / ind.units[d.unit]))
                    continue
                sources = SCALE_FROM.get((plan_id, d.layer), (plan_id,))
                found = [by_key[(pid, d.layer)] for pid in sources if (pid, d.layer) in by_key]
                out.append(_target(plan_id, region, d, _area_m2(found, region) / ind.units[d.unit]))
    return out
