"""Drawer entries, planning zones (``ghfq``) and the central city's planned land use (``zxcqghydyh``)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import numpy as np

from .admin import CITY, COUNTIES, DISTRICT, PROVINCE, Admin
from .batches import Labels, running_bsm
from .controls import Controls, block_cells
from .geo import dissolve, geodesic_areas
from .landuse import BUILT, CODES, C, FOREST, LandUse
from .model import PlanEntry
from .parcels import Parcels

TZ = ZoneInfo("Asia/Shanghai")
GHFQ_BLOCK = 20  # grid cells per planning-zone block side at 20,000 parcels (see controls.block_cells)
ZONE_CODES = ("11", "12", "13", "211", "212", "213", "221", "222", "24")
NATURAL = FOREST | np.isin(CODES, ["0404", "1207", "1101", "1103", "1106"])

PROVINCE_MASTER = f"{PROVINCE[0]}-province-master-2021"
CITY_MASTER_2021 = f"{CITY[0]}-city-master-2021"
CITY_MASTER_2023 = f"{CITY[0]}-city-master-2023"
SURVEY_2022 = f"{PROVINCE[0]}-province-survey-2022"
SURVEY_2023 = f"{PROVINCE[0]}-province-survey-2023"


def county_master_id(code: str) -> str:
    """The drawer id of a county's master plan."""
    return f"{code}-county-master-2022"


def _at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime.datetime:
    return datetime.datetime(y, m, d, hh, mm, tzinfo=TZ)


def plan_entries(admin: Admin) -> list[PlanEntry]:
    """The drawer: two surveys, the province plan, two city plan versions, three county plans."""
    g = admin.region_geoms
    D = datetime.date
    prov, city = PROVINCE, CITY
    plans = [
        PlanEntry(SURVEY_2022, prov[0], "province", "survey", "2022", f"{prov[1]}2022年度国土变更调查", "superseded",
                  None, None, D(2022, 1, 1), D(2023, 6, 30), None, f"{prov[1]}自然资源厅", _at(2022, 3, 30, 9, 30),
                  g[prov[0]]),
        PlanEntry(SURVEY_2023, prov[0], "province", "survey", "2023", f"{prov[1]}2023年度国土变更调查", "filed",
                  None, None, D(2023, 6, 30), None, None, f"{prov[1]}自然资源厅", _at(2023, 6, 28, 9, 30),
                  g[prov[0]]),
        PlanEntry(PROVINCE_MASTER, prov[0], "province", "master", "2021", f"{prov[1]}国土空间总体规划（2021—2035年）",
                  "filed", "示国函〔2021〕31号", D(2021, 3, 15), D(2021, 4, 1), None, None, f"{prov[1]}自然资源厅",
                  _at(2021, 3, 22), g[prov[0]]),
        PlanEntry(CITY_MASTER_2021, city[0], "city", "master", "2021", f"{city[1]}国土空间总体规划（2021—2035年）",
                  "superseded", "示政函〔2021〕12号", D(2021, 5, 20), D(2021, 6, 1), D(2023, 9, 1), PROVINCE_MASTER,
                  f"{city[1]}自然资源和规划局", _at(2021, 5, 26), g[city[0]]),
        PlanEntry(CITY_MASTER_2023, city[0], "city", "master", "2023",
                  f"{city[1]}国土空间总体规划（2021—2035年）（2023年修订）", "filed", "示政函〔2023〕47号",
                  D(2023, 8, 15), D(2023, 9, 1), None, PROVINCE_MASTER, f"{city[1]}自然资源和规划局",
                  _at(2023, 8, 22), g[city[0]]),
    ]
    approvals = {"990121": (D(2022, 4, 18), "8"), "990122": (D(2022, 6, 7), "15"), "990123": (D(2022, 9, 26), "23")}
    for code, name, _ in COUNTIES:
        if code == DISTRICT:
            continue  # the city plan covers its own district
        day, no = approvals[code]
        plans.append(PlanEntry(
            county_master_id(code), code, "county", "master", "2022", f"{name}国土空间总体规划（2021—2035年）",
            "filed", f"示市政函〔2022〕{no}号", day, day + datetime.timedelta(days=14), None, CITY_MASTER_2021,
            f"{name}自然资源和规划局", _at(day.year, day.month, day.day, 15, 0) + datetime.timedelta(days=5),
            g[code]))
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
        "BSM": running_bsm(xzqdm),
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
        "BSM": running_bsm([DISTRICT] * n),
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
