"""Drawer entries, planning zones (``ghfq``) and the central city's planned land use (``zxcqghydyh``)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from .admin import CITY, COUNTIES, DISTRICT, PROVINCE, Admin
from .batches import Labels, select
from .controls import Controls, block_cells
from .geo import dissolve, geodesic_areas
from .landuse import BUILT, CODES, FOREST, C, LandUse
from .model import LayerBatch, PlanEntry
from .parcels import Parcels

TZ = ZoneInfo("Asia/Shanghai")
GHFQ_BLOCK = 20  # grid cells per planning-zone block side at 20,000 parcels (see controls.block_cells)
ZONE_CODES = ("11", "12", "13", "211", "212", "213", "221", "222", "24")
NATURAL = FOREST | np.isin(CODES, ["0404", "1207", "1101", "1103", "1106"])

PROVINCE_MASTER = f"{PROVINCE[0]}-province-master-2021"
CITY_MASTER_2021 = f"{CITY[0]}-city-master-2021"
CITY_MASTER_2023 = f"{CITY[0]}-city-master-2023"
# the province's own survey entries hold the province and city boundaries (the 汇总 of its counties)
SURVEY_2022 = f"{PROVINCE[0]}-province-survey-2022"
SURVEY_2023 = f"{PROVINCE[0]}-province-survey-2023"
# two special plans of the city in force at once, and one detailed plan unit of the central city
HERITAGE_SUBJECT, HAZARD_SUBJECT = "LSWH", "ZHFZ"
CITY_HERITAGE = f"{CITY[0]}-city-special-{HERITAGE_SUBJECT}-2024"
CITY_HAZARD = f"{CITY[0]}-city-special-{HAZARD_SUBJECT}-2024"
DETAILED_UNIT = f"{DISTRICT}DY01"  # 详细规划单元 code: the district's unit 01
CITY_DETAILED = f"{CITY[0]}-city-detailed-{DETAILED_UNIT}-2024"
# a county revision that was withdrawn, its predecessor reinstated; a county plan waiting for its check
REVISED_COUNTY = "990122"
COUNTY_REVISION = f"{REVISED_COUNTY}-county-master-2024"
REVISION_IN_FORCE = datetime.date(2024, 9, 1)
REVISION_WITHDRAWN = datetime.date(2025, 3, 1)
PENDING_COUNTY = "990123"
COUNTY_PENDING = f"{PENDING_COUNTY}-county-master-2025"


def county_master_id(code: str) -> str:
    """The drawer id of a county's master plan."""
    return f"{code}-county-master-2022"


def county_survey_id(code: str, year: int) -> str:
    """The drawer id of a county's annual land survey (三调 and its updates are made county by county)."""
    return f"{code}-county-survey-{year}"


def _at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime.datetime:
    return datetime.datetime(y, m, d, hh, mm, tzinfo=TZ)


def plan_entries(admin: Admin) -> list[PlanEntry]:
    """The drawer: surveys per county (and the province's summary), the province plan, two city plan
    versions, two city special plans, a detailed plan unit, county plans (one revision withdrawn,
    one new version submitted)."""
    g = admin.region_geoms
    D = datetime.date
    prov, city = PROVINCE, CITY
    bureau = f"{city[1]}自然资源和规划局"
    survey_days = {2022: (D(2022, 4, 30), D(2023, 6, 30), _at(2022, 3, 30, 9, 30)),
                   2023: (D(2023, 6, 30), None, _at(2023, 6, 8, 9, 30))}
    plans = []
    for year, (start, end, submitted) in survey_days.items():
        status = "superseded" if end else "filed"
        plans.append(PlanEntry(
            f"{prov[0]}-province-survey-{year}", prov[0], "province", "survey", str(year),
            f"{prov[1]}{year}年度国土变更调查（汇总）", status, None, None, start, end, None, f"{prov[1]}自然资源厅",
            submitted, g[prov[0]]))
        for code, name, _ in COUNTIES:
            plans.append(PlanEntry(
                county_survey_id(code, year), code, "county", "survey", str(year), f"{name}{year}年度国土变更调查",
                status, None, None, start, end, None, f"{name}自然资源和规划局", submitted, g[code]))
    plans += [
        PlanEntry(PROVINCE_MASTER, prov[0], "province", "master", "2021", f"{prov[1]}国土空间总体规划（2021—2035年）",
                  "filed", "示国函〔2021〕31号", D(2021, 3, 15), D(2021, 4, 1), None, None, f"{prov[1]}自然资源厅",
                  _at(2021, 2, 20), g[prov[0]]),
        PlanEntry(CITY_MASTER_2021, city[0], "city", "master", "2021", f"{city[1]}国土空间总体规划（2021—2035年）",
                  "superseded", "示政函〔2021〕12号", D(2021, 5, 20), D(2021, 6, 1), D(2023, 9, 1), PROVINCE_MASTER,
                  bureau, _at(2021, 4, 26), g[city[0]]),
        PlanEntry(CITY_MASTER_2023, city[0], "city", "master", "2023",
                  f"{city[1]}国土空间总体规划（2021—2035年）（2023年修订）", "filed", "示政函〔2023〕47号",
                  D(2023, 8, 15), D(2023, 9, 1), None, PROVINCE_MASTER, bureau, _at(2023, 7, 10), g[city[0]]),
        PlanEntry(CITY_HERITAGE, city[0], "city", "special", "2024", f"{city[1]}历史文化名城保护规划（2024—2035年）",
                  "filed", "示政函〔2024〕8号", D(2024, 2, 20), D(2024, 3, 1), None, CITY_MASTER_2023, bureau,
                  _at(2024, 1, 10), g[city[0]], subject=HERITAGE_SUBJECT),
        PlanEntry(CITY_HAZARD, city[0], "city", "special", "2024", f"{city[1]}综合防灾减灾规划（2024—2035年）",
                  "filed", "示政函〔2024〕19号", D(2024, 4, 22), D(2024, 5, 1), None, CITY_MASTER_2023, bureau,
                  _at(2024, 3, 15), g[city[0]], subject=HAZARD_SUBJECT),
    ]
    approvals = {"990121": (D(2022, 4, 18), "8"), "990122": (D(2022, 6, 7), "15"), "990123": (D(2022, 9, 26), "23")}
    for code, name, _ in COUNTIES:
        if code == DISTRICT:
            continue  # the city plan covers its own district
        day, no = approvals[code]
        county_bureau = f"{name}自然资源和规划局"
        later = []
        status = "filed"
        if code == REVISED_COUNTY:
            status = "filed"  # superseded by the revision, then reinstated when the revision was withdrawn
            later = [
                (_at(2024, 9, 1, 9, 0), county_bureau, "filed", "superseded", f"superseded by {COUNTY_REVISION}",
                 day + datetime.timedelta(days=14), REVISION_IN_FORCE, COUNTY_REVISION),
                (_at(2025, 3, 1, 9, 30), f"{city[1]}人民政府", "superseded", "filed",
                 f"reinstated: {COUNTY_REVISION}, which superseded it, was withdrawn", REVISION_WITHDRAWN, None,
                 COUNTY_REVISION),
            ]
        plans.append(PlanEntry(
            county_master_id(code), code, "county", "master", "2022", f"{name}国土空间总体规划（2021—2035年）",
            status, f"示市政函〔2022〕{no}号", day, day + datetime.timedelta(days=14) if not later else REVISION_WITHDRAWN,
            None, CITY_MASTER_2021, county_bureau, _at(day.year, day.month, day.day, 15, 0) - datetime.timedelta(days=30),
            g[code], later=later))
    revised_name = {c: n for c, n, _ in COUNTIES}[REVISED_COUNTY]
    plans.append(PlanEntry(
        COUNTY_REVISION, REVISED_COUNTY, "county", "master", "2024",
        f"{revised_name}国土空间总体规划（2021—2035年）（2024年修订）", "withdrawn", "示市政函〔2024〕31号",
        D(2024, 8, 20), REVISION_IN_FORCE, REVISION_WITHDRAWN, CITY_MASTER_2023, f"{revised_name}自然资源和规划局",
        _at(2024, 6, 3), g[REVISED_COUNTY],
        later=[(_at(2025, 3, 1, 9, 30), f"{city[1]}人民政府", "filed", "withdrawn",
                "市政府撤销批复：修订未经传导校核擅自调整城镇开发边界", REVISION_IN_FORCE, REVISION_WITHDRAWN,
                county_master_id(REVISED_COUNTY))]))
    pending_name = {c: n for c, n, _ in COUNTIES}[PENDING_COUNTY]
    plans.append(PlanEntry(
        COUNTY_PENDING, PENDING_COUNTY, "county", "master", "2025",
        f"{pending_name}国土空间总体规划（2021—2035年）（2025年修订）", "submitted", None, None, None, None,
        CITY_MASTER_2023, f"{pending_name}自然资源和规划局", _at(2025, 10, 20, 16, 0), g[PENDING_COUNTY]))
    return plans


def ghfq_zones(cls: np.ndarray, ctl: Controls, czk: np.ndarray) -> np.ndarray:
    """The planning zone of every parcel, as an index into ZONE_CODES (first rule that applies)."""
    z = np.full(len(cls), ZONE_CODES.index("222"), dtype=np.int8)
    z[BUILT[cls]] = ZONE_CODES.index("221")
    z[NATURAL[cls]] = ZONE_CODES.index("12")
    z[cls == C["0602"]] = ZONE_CODES.index("24")
    for code in ("211", "212", "213"):
        z[czk == int(code)] = ZONE_CODES.index(code)
    z[ctl.farmland] = ZONE_CODES.index("13")
    z[ctl.redline] = ZONE_CODES.index("11")
    return z


def ghfq_features(labels: Labels, parcels: Parcels, admin: Admin, zones: np.ndarray) -> tuple[dict, np.ndarray]:
    """Planning zones dissolved per county, block and zone: they tile the region exactly."""
    size = block_cells(GHFQ_BLOCK, len(parcels))
    ncol = int(parcels.col.max()) // size + 1
    block = (parcels.row // size).astype(np.int64) * ncol + parcels.col // size
    key = (admin.county.astype(np.int64) * 10_000_000 + block) * 10 + zones
    keys, geoms, _ = dissolve(parcels.geometry, key)
    county = (keys // 100_000_000).astype(int)
    zc = np.array(ZONE_CODES, dtype=object)[keys % 10]
    xzqdm = [COUNTIES[i][0] for i in county]
    cols = {
        "BSM": labels.bsm(xzqdm, "ghfq"),
        "YSDM": [labels.ysdm("ghfq")] * len(keys),
        "XZQDM": xzqdm,
        "XZQMC": [COUNTIES[i][1] for i in county],
        "GHFQDM": zc.tolist(),
        "GHFQMC": labels.many("ghfq", zc).tolist(),
        "MJ": geodesic_areas(geoms),
        "BZ": [None] * len(keys),
    }
    return cols, geoms


def plot_keys(parcels: Parcels, pattern: np.ndarray, cls: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Plots of 1–4 adjacent parcels: each 2×2 block of cells is one, two or four plots.

    River and road parcels make plots of their own. A plot that would hold more than four
    parcels (cut cells), or only two diagonal cells (touching at a corner), falls back to
    one plot per cell.
    """
    r, c = parcels.row[sel], parcels.col[sel]
    ncb = int(parcels.col.max()) // 2 + 1
    sb = (r // 2).astype(np.int64) * ncb + c // 2
    cp = (r % 2) * 2 + c % 2
    pat = pattern[sb]
    sub = np.select([pat == 0, pat == 1, pat == 2], [0, r % 2, c % 2], cp)
    sub = np.where(cls[sel] == C["1101"], 8 + cp, np.where(cls[sel] == C["1004"], 12 + cp, sub))
    key = sb * 16 + sub
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    cells = np.zeros(len(cnt), dtype=np.int64)
    np.bitwise_or.at(cells, inv, 1 << cp)
    bad = (cnt[inv] > 4) | np.isin(cells[inv], [0b1001, 0b0110])
    key[bad] = sb[bad] * 16 + 4 + cp[bad]
    return key


def zxcq_features(
    labels: Labels, parcels: Parcels, lu: LandUse, cls: np.ndarray, zone: np.ndarray, owner: np.ndarray,
    edition: str, pattern: np.ndarray, u_plot: np.ndarray,
) -> tuple[dict, np.ndarray]:
    """The central city's planned land use by plot, inside its urban development boundary."""
    sel = np.flatnonzero((owner == 0) | (owner == 1))  # the central city and its industrial park
    key = plot_keys(parcels, pattern, cls, sel)
    keys, geoms, _ = dissolve(parcels.geometry[sel], key)
    g = np.searchsorted(keys, key)  # plot of each selected parcel
    n = len(keys)
    cnt = np.bincount(g, minlength=n)
    sub = keys % 16
    u = u_plot[keys // 16, sub]
    by_class = np.zeros((n, len(CODES)), dtype=np.int64)
    np.add.at(by_class, (g, cls[sel]), 1)
    major = by_class.argmax(axis=1)
    by_zone = np.zeros((n, 3), dtype=np.int64)
    zsel = zone[sel]
    np.add.at(by_zone, (g[zsel > 0], zsel[zsel > 0] - 211), 1)
    zmaj = 211 + by_zone.argmax(axis=1)
    cen = lu.cores[0]
    mx = np.bincount(g, weights=parcels.x[sel], minlength=n) / cnt
    my = np.bincount(g, weights=parcels.y[sel], minlength=n) / cnt
    d0 = np.hypot(mx - cen.x, my - cen.y)
    in_park = np.bincount(g, weights=(owner[sel] == 1).astype(float), minlength=n) / cnt > 0.5
    near_river = np.full(n, np.inf)
    np.minimum.at(near_river, g, lu.river_km[sel])

    def by_u(pairs):
        """A code by cumulative thresholds on the plot's draw; the last code takes the rest."""
        edges = np.array([e for e, _ in pairs[:-1]])
        return np.array([c for _, c in pairs], dtype=object)[np.searchsorted(edges, u, side="right")]

    rules = [
        (sub >= 12, "1207"),
        (sub >= 8, "1701"),
        (zmaj == 213, np.where(near_river < 0.5, "1402", "1401")),
        (in_park, by_u([(0.8, "100102"), (0.88, "1208"), (0.95, "1402"), (1, "0902")])),
        (major == C["0810"], "1401"),
        (major == C["08H2"], by_u([(0.5, "080403"), (0.75, "0804"), (1, "0806")])),
        (major == C["08H1"], "0801"),
        (d0 < 1.3, by_u([(0.4, "0901"), (0.7, "0902"), (0.8, "0801"), (0.9, "1401"), (1, "070102")])),
        ((zmaj == 212) & (u < 0.2), "16"),
    ]
    general = by_u([(0.62, "070102"), (0.67, "0701"), (0.75, "0901"), (0.79, "080403"), (0.82, "0806"),
                    (0.85, "0801"), (0.91, "1401"), (0.93, "1208"), (0.96, "16"), (1, "100102")])
    codes = np.select([m for m, _ in rules], [np.broadcast_to(np.asarray(v, dtype=object), (n,)) for _, v in rules],
                      general).astype(object)
    n = len(keys)
    cols = {
        "BSM": labels.bsm([DISTRICT] * n, "zxcqghydyh"),
        "YSDM": [labels.ysdm("zxcqghydyh")] * n,
        "XZQDM": [DISTRICT] * n,
        "XZQMC": [COUNTIES[0][1]] * n,
        "YDYHFLDM": codes.tolist(),
        "YDYHFLMC": labels.many(f"ydyh_{edition}", codes).tolist(),
        "YDYHBB": [edition] * n,
        "TBMJ": geodesic_areas(geoms),
        "BZ": [None] * n,
    }
    return cols, geoms


def detailed_unit(zx23: LayerBatch, lu: LandUse, labels: Labels) -> LayerBatch:
    """The detailed plan of unit ``DETAILED_UNIT``: the central city's core plots, re-planned.

    The plots nearest the central city's core (about one in twenty of the central city's, at
    least eight); the unit lowers the density of its class-2 housing to class 1 (二类 -> 一类城镇住宅),
    which the city master plan leaves to the detailed plan.
    """
    lon, lat = lu.cores[0].lonlat()
    pts = shapely.point_on_surface(zx23.geometry)
    d = np.hypot(shapely.get_x(pts) - lon, shapely.get_y(pts) - lat)
    k = max(8, len(d) // 20)
    idx = np.sort(np.argsort(d, kind="stable")[:k])
    unit = select(zx23, CITY_DETAILED, np.isin(np.arange(len(d)), idx))
    codes = np.array(unit.columns["YDYHFLDM"], dtype=object)
    codes[codes == "070102"] = "070101"
    n = len(codes)
    unit.columns["YDYHFLDM"] = codes.tolist()
    unit.columns["YDYHFLMC"] = labels.many("ydyh_2023", codes).tolist()
    unit.columns["BSM"] = labels.bsm([DISTRICT] * n, "zxcqghydyh")
    unit.columns["BZ"] = [f"{DETAILED_UNIT}单元"] * n
    return unit


def detailed_plan_entry(unit: LayerBatch, admin: Admin) -> PlanEntry:
    """The drawer entry of the detailed plan unit: its outline is the area its plots cover."""
    outline = shapely.union_all(unit.geometry)
    if outline.geom_type == "Polygon":
        outline = shapely.MultiPolygon([outline])
    return PlanEntry(
        CITY_DETAILED, CITY[0], "city", "detailed", "2024",
        f"{CITY[1]}{DETAILED_UNIT}单元控制性详细规划", "filed", "示政函〔2024〕27号",
        datetime.date(2024, 5, 28), datetime.date(2024, 6, 1), None, CITY_MASTER_2023,
        f"{CITY[1]}自然资源和规划局", _at(2024, 4, 1), outline, subject=DETAILED_UNIT)
