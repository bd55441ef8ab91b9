"""The demo's population table (常住人口 per region and year), made from the demo's own land.

Every township's urban population of a year is its 城镇建设用地 in that year's survey (the construction classes
with CZCSXM 201/202) over an urban land per person drawn from 95-125 m², its rural population its 村庄建设用地
(CZCSXM 203) over 130-190 m² per person: the per-capita indicators then read as a real county's would
(人均城镇建设用地 roughly 90-130 m²/人, 人均村庄建设用地 120-200 m²/人). The land per person of 2023 is that of
2022 moved by -2% to +3%, so a region's per-capita values change a little from year to year, as they do; the
populations follow the survey's land (the demo's 2023 survey builds a lot: its urban populations grow fast).
Every level is given: a county's figures are the sums of its townships', the city's of its counties, the
province's of its one city, so the table is consistent whichever level a per-capita value is read at.
Deterministic: one seeded stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from onemap.providers.store.base import PopulationRow

from .admin import CITY, COUNTIES, PROVINCE, Admin
from .landuse import BUILT

YEARS = (2022, 2023)
SOURCE = "示范市统计局：示范数据（虚构，按示范区用地生成）"
URBAN_M2_PER_PERSON = (95.0, 125.0)
VILLAGE_M2_PER_PERSON = (130.0, 190.0)
DRIFT = (0.98, 1.03)  # the land per person of a year over that of the year before


def _land_by_township(admin: Admin, area: np.ndarray, cls: np.ndarray, czcs: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(城镇, 村庄) construction land, m², of every township."""
    built = BUILT[cls]
    kind = np.asarray([str(c or "")[:3] for c in czcs], dtype=object)
    n = len(admin.townships)
    urban = np.bincount(admin.township, weights=area * (built & np.isin(kind, ["201", "202"])), minlength=n)
    village = np.bincount(admin.township, weights=area * (built & (kind == "203")), minlength=n)
    return urban, village


def population_rows(rng: np.random.Generator, admin: Admin, area: np.ndarray,
                    surveys: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[PopulationRow]:
    """The table's rows for every region and year of ``YEARS`` (``surveys``: each year's classes and CZCSXM)."""
    names = admin.names()
    n = len(admin.townships)
    per_urban = rng.uniform(*URBAN_M2_PER_PERSON, n)
    per_village = rng.uniform(*VILLAGE_M2_PER_PERSON, n)
    rows: list[PopulationRow] = []
    for i, (year, (cls, czcs)) in enumerate(zip(YEARS, surveys, strict=True)):
        if i:
            per_urban = per_urban * rng.uniform(*DRIFT, n)
            per_village = per_village * rng.uniform(*DRIFT, n)
        urban_m2, village_m2 = _land_by_township(admin, area, cls, czcs)
        urban = np.rint(urban_m2 / per_urban).astype(np.int64)
        rural = np.rint(village_m2 / per_village).astype(np.int64)
        sums: dict[str, list[int]] = {}
        for t, u, r in zip(admin.townships, urban.tolist(), rural.tolist()):
            rows.append(PopulationRow(region=t.code, year=year, resident=u + r, urban=u, name=t.name, source=SOURCE))
            for code in (t.county, CITY[0], PROVINCE[0]):
                got = sums.setdefault(code, [0, 0])
                got[0] += u
                got[1] += r
        for code in [c for c, _, _ in COUNTIES] + [CITY[0], PROVINCE[0]]:
            u, r = sums.get(code, [0, 0])
            rows.append(PopulationRow(region=code, year=year, resident=u + r, urban=u, name=names[code], source=SOURCE))
    return sorted(rows, key=lambda r: (r.region, r.year))
