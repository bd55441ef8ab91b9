"""The bureaus' management registers (土地全生命周期: 批、供、用、补、查) with planted audit cases.

东岭县 (990121) keeps yearly registers (2023, 2024, 2025: subject = the year, filed early the next year); the
district 示范区 (990102) a rolling register. The records lie on whole survey parcels near the county seat
(chosen by the seeded stream), and are planted so that the land audit on ``AUDIT_DAY`` finds exactly:

- 批而未供: an approval of May 2023 never supplied, and one of September 2023 half supplied (its other parcel);
- 供而未用: a contract whose agreed start (2025-09-10) passed without a start, less than a year ago;
- 闲置: a contract not started more than a year after its agreed start (2024-04-15), and a project started and
  stopped on 2024-10-01 with a fifth of its land developed (《闲置土地处置办法》第二条第二款);

and nothing in the clean cases: supplied and started on time, started late but started, an approval younger than
two years, an agreed start still to come, a project completed. ``meta["land"]`` lists them for the tests.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import shapely

from .admin import COUNTIES, Admin
from .batches import Labels, make_batch
from .geo import geodesic_areas
from .model import LayerBatch, PlanEntry
from .parcels import Parcels
from .plans import TZ

D = datetime.date
AUDIT_DAY = D(2026, 6, 30)  # the day the planted cases are planted for (README and tests audit on it)
YEARLY_COUNTY = "990121"
ROLLING_COUNTY = "990102"
YEARS = {2023: D(2024, 1, 15), 2024: D(2025, 1, 16), 2025: D(2026, 1, 15)}  # records' year -> filed in force from
ROLLING_VERSION, ROLLING_FROM = "20260105", D(2026, 1, 5)


def yearly_id(year: int) -> str:
    return f"{YEARLY_COUNTY}-county-management-{year}-1"


ROLLING_ID = f"{ROLLING_COUNTY}-county-management-rolling-{ROLLING_VERSION}"

# approvals: name -> (entry year or "rolling", 批准文号, 批准日期, 审批类型, 用途, 项目名称, site(s))
APPROVALS: dict[str, tuple] = {
    "A1": (2023, "示政地〔2023〕12号", D(2023, 5, 12), "PC", "1001", "东岭县2023年度第1批次城镇建设用地", ("s1",)),
    "A2": (2023, "示政地〔2023〕27号", D(2023, 9, 8), "PC", "070102", "东岭县2023年度第3批次城镇建设用地", ("s2", "n2")),
    "A3": (2023, "示政地〔2023〕5号", D(2023, 3, 1), "DX", "1001", "东岭县智能装备产业园项目", ("s3",)),
    "A4": (2023, "示政地〔2023〕19号", D(2023, 6, 20), "PC", "0901", "东岭县2023年度第2批次城镇建设用地", ("s4",)),
    "A5": (2024, "示政地〔2024〕33号", D(2024, 11, 20), "PC", "070102", "东岭县2024年度第4批次城镇建设用地", ("s5",)),
    "A6": (2024, "示政地〔2024〕41号", D(2024, 12, 1), "DX", "1001", "东岭县新材料产业项目", ("s6",)),
    "A7": ("rolling", "示政地〔2022〕9号", D(2022, 4, 18), "PC", "0901", "示范区2022年度第1批次城镇建设用地", ("d1",)),
}
# supplies: name -> (entry, 合同编号, 供应方式, 签订日期, supplies approval, 约定动工, 约定竣工, 实际动工, 实际竣工,
#                    中止开发, developed share, (已投资, 总投资) 万元, 项目名称, 受让人, 用途, site)
SUPPLIES: dict[str, tuple] = {
    "S1": (2023, "DLCR2023-008", "GP", D(2023, 8, 1), "A3", D(2024, 2, 1), D(2026, 2, 1), D(2024, 1, 20), None,
           None, None, None, "智能装备产业园一期", "示范智造科技有限公司", "1001", "s3"),
    "S2": (2023, "DLCR2023-015", "GP", D(2023, 11, 20), "A2", D(2024, 5, 20), D(2027, 5, 20), D(2024, 5, 10), None,
           None, None, None, "东岭锦园住宅项目", "东岭置业有限公司", "070102", "s2"),
    "S3": (2023, "DLCR2023-021", "PM", D(2023, 10, 15), "A4", D(2024, 4, 15), D(2026, 4, 15), None, None,
           None, None, None, "东岭商业综合体", "东岭商贸有限公司", "0901", "s4"),
    "S4": (2024, "DLHB2024-003", "HB", D(2024, 1, 10), None, D(2024, 6, 1), D(2025, 12, 31), D(2024, 12, 15), None,
           None, None, None, "东岭县第二中学扩建", "东岭县教育局", "080403", "t1"),
    "S5": (2025, "DLCR2025-006", "GP", D(2025, 3, 10), "A6", D(2025, 9, 10), D(2027, 9, 10), None, None,
           None, None, None, "新材料产业项目一期", "示范新材料有限公司", "1001", "s6"),
    "S7": (2025, "DLHB2025-011", "HB", D(2025, 12, 1), None, D(2026, 9, 1), D(2028, 9, 1), None, None,
           None, None, None, "东岭县污水处理厂提标改造", "东岭县住房和城乡建设局", "1302", "t2"),
    "S6": ("rolling", "SFCR2022-004", "GP", D(2022, 8, 30), "A7", D(2023, 3, 1), D(2025, 3, 1), D(2023, 4, 20), None,
           D(2024, 10, 1), 0.2, (1800.0, 12000.0), "滨河商务中心", "滨河投资有限公司", "0901", "d1"),
    "S8": ("rolling", "SFCR2021-011", "XY", D(2021, 6, 1), None, D(2021, 12, 1), D(2023, 12, 1), D(2021, 11, 20),
           D(2023, 10, 30), None, None, None, "示范区科创中心", "示范科创发展有限公司", "0802", "d2"),
}
PLANTED = {"approved_not_supplied": ["A1", "A2"], "supplied_not_used": ["S5"], "idle": ["S3", "S6"]}


def _sites(rng: np.random.Generator, parcels: Parcels, admin: Admin, county: str, names: list[str],
           neighbours: dict[str, str]) -> dict[str, int]:
    """Distinct parcels of ``county`` near its seat, one per name; ``neighbours``: a name -> the site it adjoins."""
    ci = [c for c, _, _ in COUNTIES].index(county)
    idx = np.flatnonzero(admin.county == ci)
    sx, sy = admin.seats.get(county, admin.centre)  # the district's seat is the central city
    near = idx[np.argsort(np.hypot(parcels.x[idx] - sx, parcels.y[idx] - sy), kind="stable")[:max(60, 4 * len(names))]]
    order = rng.permutation(near)
    out: dict[str, int] = {}
    used: set[int] = set()
    pool = iter(int(i) for i in order)
    for name in names:
        if name in neighbours:
            continue
        i = next(pool)
        while i in used or any(shapely.touches(parcels.geometry[i], parcels.geometry[j]) for j in used):
            i = next(pool)
        out[name] = i
        used.add(i)
    for name, of in neighbours.items():
        base = parcels.geometry[out[of]]
        cands = [int(j) for j in idx if int(j) not in used and shapely.touches(base, parcels.geometry[j])
                 and not any(shapely.touches(parcels.geometry[j], parcels.geometry[k]) for k in used if k != out[of])]
        j = min(cands, key=lambda j: (float(np.hypot(parcels.x[j] - parcels.x[out[of]],
                                                      parcels.y[j] - parcels.y[out[of]])), j))
        out[name] = j
        used.add(j)
    return out


def _multi(g: shapely.Geometry) -> shapely.MultiPolygon:
    return g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])


def management_entries(rng: np.random.Generator, labels: Labels, parcels: Parcels, admin: Admin
                       ) -> tuple[list[PlanEntry], list[LayerBatch], dict[str, Any]]:
    """The registers' drawer entries, their batches and the planted cases (for ``meta``)."""
    names = {c: n for c, n, _ in COUNTIES}
    county_sites = _sites(rng, parcels, admin, YEARLY_COUNTY, ["s1", "s2", "n2", "s3", "s4", "s5", "s6", "t1", "t2",
                                                                "b1", "f1"], {"n2": "s2"})
    district_sites = _sites(rng, parcels, admin, ROLLING_COUNTY, ["d1", "d2"], {})
    sites = {**county_sites, **district_sites}

    def geom(*keys: str) -> shapely.MultiPolygon:
        return _multi(shapely.union_all([parcels.geometry[sites[k]] for k in keys]))

    def region_of(entry: Any) -> str:
        return ROLLING_COUNTY if entry == "rolling" else YEARLY_COUNTY

    def entry_id(entry: Any) -> str:
        return ROLLING_ID if entry == "rolling" else yearly_id(entry)

    rows: dict[tuple[str, str], list[tuple[dict, shapely.Geometry]]] = {}
    for entry, no, day, kind, use, title, keys in APPROVALS.values():
        g = geom(*keys)
        code = region_of(entry)
        rows.setdefault((entry_id(entry), "ydsp"), []).append(({
            "XZQDM": code, "XZQMC": names[code], "XMMC": title, "PZWH": no, "PZRQ": day, "PZJG": "示范省人民政府",
            "SPLX": kind, "PZMJ": float(geodesic_areas([g])[0]), "NYDMJ": None, "GDMJ": None, "TDYT": use,
            "TDYTMC": labels("ydyh_2023", use), "BZ": None}, g))
    for rec in SUPPLIES.values():
        (entry, no, way, signed, approval, agreed, agreed_end, started, done, stopped, share, money, title, user,
         use, site) = rec
        g = geom(site)
        m2 = float(geodesic_areas([g])[0])
        code = region_of(entry)
        rows.setdefault((entry_id(entry), "tdgy"), []).append(({
            "XZQDM": code, "XZQMC": names[code], "XMMC": title, "HTBH": no, "GYFS": way, "QDRQ": signed,
            "PZWH": APPROVALS[approval][1] if approval else None, "SRR": user, "GYMJ": m2, "TDYT": use,
            "TDYTMC": labels("ydyh_2023", use), "YDDGRQ": agreed, "YDJGRQ": agreed_end, "SJDGRQ": started,
            "SJJGRQ": done, "ZZKFRQ": stopped, "YKFMJ": round(m2 * share, 2) if share is not None else None,
            "YTZE": money[0] if money else None, "ZTZE": money[1] if money else None, "BZ": None}, g))
    g = geom("b1")
    rows[(yearly_id(2025), "bcgd")] = [({
        "XZQDM": YEARLY_COUNTY, "XZQMC": names[YEARLY_COUNTY], "XMMC": "东岭县青石镇土地整治项目", "XMBH": "DL-BC-2025-01",
        "YSRQ": D(2025, 11, 5), "BCGDMJ": float(geodesic_areas([g])[0]), "XZSTMJ": None, "GDZLDB": "7",
        "PZWH": APPROVALS["A6"][1], "BZ": None}, g)]
    g = geom("f1")
    rows[(yearly_id(2025), "zfjc")] = [({
        "XZQDM": YEARLY_COUNTY, "XZQMC": names[YEARLY_COUNTY], "AJBH": "东自然资执〔2025〕14号", "WFLX": "WPXY",
        "DSR": "东岭县某物流公司", "LARQ": D(2025, 7, 3), "JARQ": None, "WFMJ": float(geodesic_areas([g])[0]),
        "ZYGDMJ": None, "CLJG": "责令退还土地，拆除新建建筑物", "BZ": None}, g)]

    batches = []
    for (pid, layer), items in sorted(rows.items()):
        region = pid[:6]
        fields = [f.name for f in labels.catalogue.layer(layer).fields if f.name not in ("BSM", "YSDM")]
        cols: dict[str, list] = {name: [rec[name] for rec, _ in items] for name in fields}
        cols["BSM"] = labels.bsm([region] * len(items), layer)
        cols["YSDM"] = [labels.ysdm(layer)] * len(items)
        batches.append(make_batch(labels, layer, pid, cols,
                                  np.asarray([_multi(g) for _, g in items], dtype=object)))

    g = admin.region_geoms
    entries = []
    for year, valid_from in YEARS.items():
        bureau = f"{names[YEARLY_COUNTY]}自然资源和规划局"
        entries.append(PlanEntry(
            yearly_id(year), YEARLY_COUNTY, "county", "management", "1", f"{names[YEARLY_COUNTY]}{year}年度批供用补查台账",
            "filed", f"东自然资〔{valid_from.year}〕{year - 2020}号", valid_from - datetime.timedelta(days=3),
            valid_from, None, None, bureau, datetime.datetime(valid_from.year, 1, 8, 10, 0, tzinfo=TZ),
            g[YEARLY_COUNTY], subject=str(year)))
    entries.append(PlanEntry(
        ROLLING_ID, ROLLING_COUNTY, "county", "management", ROLLING_VERSION,
        f"{names[ROLLING_COUNTY]}批供用补查台账（滚动更新）", "filed", "示区自然资〔2026〕1号", D(2026, 1, 4), ROLLING_FROM,
        None, None, f"{names[ROLLING_COUNTY]}自然资源分局", datetime.datetime(2025, 12, 29, 10, 0, tzinfo=TZ),
        g[ROLLING_COUNTY], subject="rolling"))
    meta = {
        "audit_day": AUDIT_DAY.isoformat(),
        "entries": [e.id for e in entries],
        # the keys (批准文号 or 合同编号) the audit on audit_day finds, by category; every other record is clean
        "planted": {cat: [APPROVALS[k][1] if k.startswith("A") else SUPPLIES[k][1] for k in keys]
                    for cat, keys in PLANTED.items()},
        "partly_supplied": {"approval": APPROVALS["A2"][1], "supply": SUPPLIES["S2"][1]},
    }
    return entries, batches, meta
