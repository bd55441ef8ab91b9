"""The administrative regions of a date: their codes, names, levels and outlines, from the survey in force.

The survey's ``xzq`` layer (行政区) holds every region's outline, in the drawer entries of the survey in
force (the county surveys hold their county and townships, the province's summary entry the province
and its cities). Statistics and indicators ask it which regions there are at a level and where they lie.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import shapely

from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.domain.dates import When
from onemap.domain.regions import check_region, region_covers

from .store.base import FeatureQuery, Store

REGION_LAYER = "xzq"
# GB/T 2260 levels and the length of the code prefix each level's regions share
LEVELS = {"province": 2, "city": 4, "county": 6, "township": 9}


@dataclass(frozen=True)
class Region:
    """One administrative region as the survey in force draws it."""

    code: str
    name: str
    level: str
    parent: str | None
    outline: shapely.Geometry

    def covers(self, code: str) -> bool:
        return region_covers(self.code, code)


def level_code(prefix: str) -> str:
    """A region's full code from a level's prefix of a code under it (``9901`` -> ``990100``)."""
    return prefix.ljust(6, "0") if len(prefix) < 6 else prefix


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise InvalidParameterValue(f"region level must be one of {', '.join(LEVELS)}, not {level!r}")
    return level


class Regions:
    """The regions of the survey in force on one date."""

    def __init__(self, store: Store, day: dt.date) -> None:
        self.day = day
        layer = store.catalogue.layer(REGION_LAYER)
        plan_ids = store.plans_in_force(When.at(day), layer=layer)
        page = store.query(FeatureQuery(layer=layer, plan_ids=plan_ids, limit=100_000, count=False,
                                        select=("XZQDM", "XZQMC", "XZQJB", "SJXZQDM")))
        found: dict[str, Region] = {}
        for props, wkb in zip(page.properties, page.wkb):
            code, level = str(props["XZQDM"]), str(props["XZQJB"])
            if level not in LEVELS or wkb is None:
                continue
            outline = shapely.from_wkb(wkb)
            shapely.prepare(outline)
            found[code] = Region(code, str(props.get("XZQMC") or code), level, props.get("SJXZQDM") or None, outline)
        self._by_code = dict(sorted(found.items()))

    def __iter__(self) -> Iterator[Region]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> Region:
        """The region with this code (404 when the survey in force has none)."""
        check_region(code)
        found = self._by_code.get(code)
        if found is None:
            raise NotFound(f"no region {code} in the survey in force on {self.day.isoformat()}")
        return found

    def at_level(self, level: str, within: str | None = None) -> list[Region]:
        """The regions of a level, those under ``within`` only when given."""
        check_level(level)
        return [r for r in self._by_code.values()
                if r.level == level and (within is None or region_covers(within, r.code))]
