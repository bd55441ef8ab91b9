"""The demo region: a fictional prefecture (示范省/示范市, code prefix 99) with all one-map layers.

``generate(parcels, seed, workdir)`` makes a DEM, rivers, a parcel survey in two years,
the three control lines, planning zones, the central city's planned land use and the
drawer entries that hold them. The same (parcels, seed) always gives the same result.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .admin import CITY, COUNTIES, DISTRICT, PROVINCE, build_admin, build_region_geometry, xzq_columns
from .batches import Labels, make_batch, select
from .controls import (
    build_controls,
    czkfbj_features,
    hlfxkzx_features,
    lswhbhx_features,
    stbhhx_features,
    yjjbnt_features,
)
from .indicators import plan_targets
from .landuse import (
    BUILT,
    CODES,
    CROPLAND,
    FOREST,
    WATER,
    classify,
    dltb_columns,
    parcel_numbers,
    plant_unlawful,
    survey_2023,
)
from .management import management_entries
from .model import DemoRegion, LayerBatch, PlanEntry
from .parcels import make_parcels
from .plans import (
    CITY_HAZARD,
    CITY_HERITAGE,
    CITY_MASTER_2021,
    CITY_MASTER_2023,
    COUNTY_PENDING,
    COUNTY_REVISION,
    PENDING_COUNTY,
    PROVINCE_MASTER,
    REVISED_COUNTY,
    SURVEY_2022,
    SURVEY_2023,
    county_master_id,
    county_survey_id,
    detailed_plan_entry,
    detailed_unit,
    ghfq_features,
    ghfq_zones,
    plan_entries,
    zxcq_features,
)
from .population import population_rows
from .terrain import FRAME, RES, Terrain, build_terrain, slope_degrees, write_dem

__all__ = ["DemoRegion", "LayerBatch", "PlanEntry", "generate", "slope_degrees"]

Progress = Callable[[str, float], None]
_STAGES = ("terrain", "parcels", "regions", "landuse", "controls", "survey", "plans", "done")


def _share(area: np.ndarray, mask: np.ndarray) -> float:
    return float(area[mask].sum() / area.sum())


def generate(parcels: int, seed: int, workdir: pathlib.Path, progress: Progress | None = None) -> DemoRegion:
    """Generate the demo region with ``parcels`` survey parcels; the DEM goes to ``workdir/dem.tif``.

    ``progress(stage, fraction)`` is called at the start of each stage with the overall
    fraction done (0 to 1) and once more with ("done", 1.0).
    """
    workdir = pathlib.Path(workdir)

    def report(stage: str) -> None:
        if progress is not None:
            progress(stage, _STAGES.index(stage) / (len(_STAGES) - 1))

    # one independent stream per stage: the DEM and the outline depend on the seed only (a spawned stream
    # depends on its index alone: the population's, added last, changes none of the others)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(10)]
    r_terrain, r_parcels, r_admin, r_land, r_ctl, r_survey, r_plans, r_overlay, r_people, r_mgmt = streams
    labels = Labels()

    report("terrain")
    terrain = build_terrain(r_terrain)
    dem_path = write_dem(terrain, workdir / "dem.tif")

    report("parcels")
    P = make_parcels(r_parcels, parcels)

    report("regions")
    admin = build_admin(r_admin, P, terrain)
    build_region_geometry(admin, P)

    report("landuse")
    lu = classify(r_land, P, terrain, admin)

    report("controls")
    ctl = build_controls(r_ctl, P, lu, admin, terrain)

    report("survey")
    # built where the boundary in force on the 2023 survey's date (30 June, before the city's revision) allows
    cls23, czcs23, changed = survey_2023(r_survey, lu, P, ctl.czk21 > 0, ctl.farmland | ctl.redline)
    plant_unlawful(cls23, czcs23, lu.cls, ctl.redline, ctl.farmland, ctl.czk_any)
    changed = cls23 != lu.cls
    bsm22, tbbh22, bsm23, tbbh23 = parcel_numbers(admin, changed, labels.catalogue.layer("dltb").bsm_segment or "0000")
    dltb22 = dltb_columns(labels, P, admin, lu.slope, lu.cls, lu.czcs, bsm22, tbbh22)
    dltb23 = dltb_columns(labels, P, admin, lu.slope, cls23, czcs23, bsm23, tbbh23)

    report("plans")
    plans = plan_entries(admin)
    batches: list[LayerBatch] = []
    # the survey is kept per county (三调 is built county by county); the province's summary entry
    # holds the province and city boundaries
    xcols, xgeoms, xowner = xzq_columns(admin, labels)
    parcel_county = admin.county_code()
    for year, cols in ((2022, dltb22), (2023, dltb23)):
        parcels_all = make_batch(labels, "dltb", SURVEY_2022, cols, P.geometry)
        regions_all = make_batch(labels, "xzq", SURVEY_2022, xcols, xgeoms)
        province_entry = SURVEY_2022 if year == 2022 else SURVEY_2023
        batches.append(select(regions_all, province_entry, xowner == PROVINCE[0]))
        for code, _, _ in COUNTIES:
            batches.append(select(parcels_all, county_survey_id(code, year), parcel_county == code))
            batches.append(select(regions_all, county_survey_id(code, year), xowner == code))

    red = make_batch(labels, "stbhhx", CITY_MASTER_2021, *stbhhx_features(labels, P, admin, ctl))
    farm = make_batch(labels, "yjjbnt", CITY_MASTER_2021, *yjjbnt_features(labels, P, lu, admin, ctl))
    czk21 = make_batch(labels, "czkfbj", CITY_MASTER_2021,
                       *czkfbj_features(labels, P, lu, admin, ctl.czk21, ctl.czk_core21))
    czk23 = make_batch(labels, "czkfbj", CITY_MASTER_2023,
                       *czkfbj_features(labels, P, lu, admin, ctl.czk23, ctl.czk_core23))
    ghfq21 = make_batch(labels, "ghfq", CITY_MASTER_2021,
                        *ghfq_features(labels, P, admin, ghfq_zones(lu.cls, ctl, ctl.czk21)))
    ghfq23 = make_batch(labels, "ghfq", CITY_MASTER_2023,
                        *ghfq_features(labels, P, admin, ghfq_zones(cls23, ctl, ctl.czk23)))
    # plot layout and per-plot draws are shared by both versions, so unchanged plots keep their use
    n_sb = (int(P.row.max()) // 2 + 1) * (int(P.col.max()) // 2 + 1)
    pattern = r_plans.integers(0, 4, n_sb)
    u_plot = r_plans.random((n_sb, 16))
    zx21 = make_batch(labels, "zxcqghydyh", CITY_MASTER_2021,
                      *zxcq_features(labels, P, lu, lu.cls, ctl.czk21, ctl.czk_core21, "2020", pattern, u_plot))
    zx23 = make_batch(labels, "zxcqghydyh", CITY_MASTER_2023,
                      *zxcq_features(labels, P, lu, cls23, ctl.czk23, ctl.czk_core23, "2023", pattern, u_plot))
    heritage = make_batch(labels, "lswhbhx", CITY_MASTER_2021, *lswhbhx_features(r_overlay, labels, P, lu, admin))
    flood = make_batch(labels, "hlfxkzx", CITY_MASTER_2021, *hlfxkzx_features(labels, terrain, admin))

    # the province plan and the 2023 revision carry copies; county plans the county's features
    batches += [select(b, PROVINCE_MASTER) for b in (red, farm, czk21)]
    batches += [red, farm, czk21, ghfq21, zx21, heritage, flood]
    batches += [b if b.plan_id == CITY_MASTER_2023 else select(b, CITY_MASTER_2023)
                for b in (red, farm, czk23, ghfq23, zx23, heritage, flood)]
    for code, _, _ in COUNTIES:
        if code != DISTRICT:
            batches += [select(b, county_master_id(code), np.array(b.columns["XZQDM"]) == code)
                        for b in (red, farm, czk21, ghfq21)]
    # the withdrawn 2024 revision and the 2025 submission carry their county's lines again
    for pid, code in ((COUNTY_REVISION, REVISED_COUNTY), (COUNTY_PENDING, PENDING_COUNTY)):
        batches += [select(b, pid, np.array(b.columns["XZQDM"]) == code) for b in (red, farm, czk21, ghfq21)]
    # the special plans deepen the city plan's historic and flood lines; the detailed plan unit
    # re-plans the central city's core plots
    batches += [select(heritage, CITY_HERITAGE), select(flood, CITY_HAZARD)]
    unit = detailed_unit(zx23, lu, labels)
    batches.append(unit)
    plans.append(detailed_plan_entry(unit, admin))
    # the bureaus' registers of approvals, supplies, supplementary cropland and cases (批供用补查)
    mgmt_plans, mgmt_batches, land = management_entries(r_mgmt, labels, P, admin)
    plans += mgmt_plans
    batches += mgmt_batches

    area = P.area
    people = population_rows(r_people, admin, area, [(lu.cls, lu.czcs), (cls23, czcs23)])
    meta: dict[str, Any] = {
        "seed": seed,
        "parcels": len(P),
        "cell_km": P.cell_km,
        "crs": "EPSG:4490",
        "projected_crs": "EPSG:4527",
        "bbox": list(admin.region_geoms[CITY[0]].bounds),
        "province": {"code": PROVINCE[0], "name": PROVINCE[1]},
        "city": {"code": CITY[0], "name": CITY[1]},
        "regions": admin.names(),
        "region_area_m2": admin.region_area,
        "counties": [{"code": c, "name": n} for c, n, _ in COUNTIES],
        "townships": [{"code": t.code, "name": t.name, "county": t.county} for t in admin.townships],
        "cores": [
            {"kind": c.kind, "name": c.name, "county": c.county, "township": c.township,
             "lon": c.lonlat()[0], "lat": c.lonlat()[1], "radius_km": c.radius_km}
            for c in lu.cores
        ],
        "central_city": dict(zip(("lon", "lat"), lu.cores[0].lonlat())),
        "industrial_park": dict(zip(("lon", "lat"), lu.cores[1].lonlat())),
        "rivers": [
            {"name": r.name, "kind": r.kind, "coords": np.round(r.lonlat(), 6).tolist()} for r in terrain.rivers
        ],
        "reservoir": {
            "name": "南湖水库",
            "level_m": terrain.reservoir_level,
            "coords": np.round(np.array(FRAME.geom_to_lonlat(terrain.reservoir_km).exterior.coords), 6).tolist(),
        },
        "wetland": dict(zip(("name", "lon", "lat", "radius_km"),
                            ("玉带河湿地", *map(float, FRAME.to_lonlat(*lu.wetland[:2])), lu.wetland[2]))),
        "mining_sites": [list(map(float, FRAME.to_lonlat(x, y))) for x, y in lu.mining_sites],
        "czkfbj_2023_only_point": list(ctl.added_point),
        "czkfbj_2021_only_point": list(ctl.released_point),
        "dem": {"path": str(dem_path), "res_deg": RES, "bounds": list(terrain_bounds(terrain)),
                "min_m": float(terrain.dem.min()), "max_m": float(terrain.dem.max())},
        "class_area_m2": dict(zip(CODES, np.bincount(lu.cls, weights=area, minlength=len(CODES)).tolist())),
        "class_shares": {
            "cropland": _share(area, CROPLAND[lu.cls]),
            "forest": _share(area, FOREST[lu.cls]),
            "built_up": _share(area, BUILT[lu.cls]),
            "water": _share(area, WATER[lu.cls]),
        },
        "survey_changes": int(changed.sum()),
        "population": {str(y): {r.region: {"resident": r.resident, "urban": r.urban} for r in people if r.year == y}
                       for y in sorted({r.year for r in people})},
        "plan_ids": [p.id for p in plans],
        "land": land,
        "feature_counts": {},
    }
    for b in batches:
        meta["feature_counts"].setdefault(b.plan_id, {})[b.layer_id] = len(b)
    report("done")
    return DemoRegion(plans=plans, batches=batches, dem_path=dem_path, meta=meta,
                      indicators=plan_targets(batches, people), population=people)


def terrain_bounds(terrain: Terrain) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the DEM."""
    t = terrain.transform
    return (t.c, t.f + t.e * terrain.dem.shape[0], t.c + t.a * terrain.dem.shape[1], t.f)
