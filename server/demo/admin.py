"""Administrative regions made of whole parcels, and the places (urban cores) they hold."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from .batches import Labels
from .geo import angular_profile, dissolve, geodesic_areas, union_coverage
from .noise import ValueNoise
from .parcels import Parcels
from .terrain import Terrain

PROVINCE = ("990000", "示范省")
CITY = ("990100", "示范市")
DISTRICT = "990102"
# code, name, name of the county-seat town
COUNTIES: list[tuple[str, str, str]] = [
    ("990102", "示范区", "鼓楼街道"),
    ("990121", "东岭县", "东岭镇"),
    ("990122", "西川县", "西川镇"),
    ("990123", "南湖县", "南湖镇"),
]
JIEDAO_NAMES = ["滨河街道", "文昌街道", "新城街道", "东湖街道", "城南街道"]
TOWN_NAMES = [
    "青石镇", "白沙镇", "桃源镇", "金桥镇", "龙泉镇", "凤鸣镇", "石门镇", "双河镇", "梅林镇",
    "杨柳镇", "三塘镇", "高峰镇", "清水镇", "官庄镇", "黄泥镇", "新店镇", "长岗镇", "大埠镇",
]
XIANG_NAMES = ["柳溪乡", "松林乡", "云山乡", "竹坪乡", "枫树乡", "鹤岭乡", "茶园乡", "石板乡", "白云乡"]
DISTRICT_RADIUS_KM = 14.0


@dataclass
class Township:
    """One township (乡镇/街道) and where its town is."""

    code: str  # 9 digits
    name: str
    county: str  # 6 digits
    seat_x: float  # km frame: where its town (or the county seat) is
    seat_y: float
    is_county_seat: bool


@dataclass
class Admin:
    """Which county and township every parcel is in, and the urban cores."""

    county: np.ndarray  # index into COUNTIES per parcel
    township: np.ndarray  # index into ``townships`` per parcel
    townships: list[Township]
    centre: tuple[float, float]  # the central city's core (km frame)
    park: tuple[float, float]  # the industrial park east of it
    seats: dict[str, tuple[float, float]]  # county code -> county seat (km)
    region_geoms: dict[str, shapely.MultiPolygon] = field(default_factory=dict)  # region code -> outline
    region_area: dict[str, float] = field(default_factory=dict)

    def county_code(self) -> np.ndarray:
        """The 6-digit county code of every parcel."""
        return np.array([c for c, _, _ in COUNTIES], dtype=object)[self.county]

    def names(self) -> dict[str, str]:
        """Region code -> name, for every region."""
        out = {PROVINCE[0]: PROVINCE[1], CITY[0]: CITY[1]}
        out.update({c: n for c, n, _ in COUNTIES})
        out.update({t.code: t.name for t in self.townships})
        return out


def _snap(parcels: Parcels, idx: np.ndarray, x: float, y: float) -> int:
    """The parcel among ``idx`` whose centroid is nearest to (x, y)."""
    d = np.hypot(parcels.x[idx] - x, parcels.y[idx] - y)
    return int(idx[np.argmin(d)])


def _farthest_seeds(rng, parcels: Parcels, cand: np.ndarray, seeds: list[int], k: int) -> list[int]:
    # greedy farthest-point sampling with a random tilt, so townships are spread but not regular
    px, py = parcels.x[cand], parcels.y[cand]
    dmin = np.full(len(cand), np.inf)
    for s in seeds:
        dmin = np.minimum(dmin, np.hypot(px - parcels.x[s], py - parcels.y[s]))
    tilt = rng.uniform(0.75, 1.0, len(cand))
    while len(seeds) < k and len(cand):
        j = int(np.argmax(dmin * tilt))
        if dmin[j] <= 0:
            break
        s = int(cand[j])
        seeds.append(s)
        dmin = np.minimum(dmin, np.hypot(px - parcels.x[s], py - parcels.y[s]))
    return seeds


def build_admin(rng: np.random.Generator, parcels: Parcels, terrain: Terrain) -> Admin:
    """Counties (a district around the central city, three counties) and 3–6 townships each."""
    x, y = parcels.x, parcels.y
    n = len(parcels)
    cx = 6.0 + rng.uniform(-1.0, 1.0)
    centre = (cx, terrain.main_y(cx) + 0.9)  # the river runs through the city's south
    px = cx + 7.0
    park = (px, terrain.main_y(px) + 1.7)
    ex, wx = 24.0 + rng.uniform(-1, 1), -19.0 + rng.uniform(-1, 1)
    seats = {
        "990121": (ex, terrain.main_y(ex) + 2.2),
        "990122": (wx, terrain.main_y(wx) + 1.3),
        "990123": (cx - 5.0 + rng.uniform(-1, 1), -18.5 + rng.uniform(-1, 1)),
    }
    # draw everything that does not depend on the parcel count first, so the townships'
    # number and names are the same at any resolution
    n_towns = {code: int(rng.integers(4, 7)) for code, _, _ in COUNTIES if code != DISTRICT}
    a0 = rng.uniform(0, 2 * np.pi)
    town_pool = [str(v) for v in rng.permutation(TOWN_NAMES)]
    xiang_pool = [str(v) for v in rng.permutation(XIANG_NAMES)]
    jiedao_pool = [str(v) for v in rng.permutation(JIEDAO_NAMES)]
    prof = angular_profile(rng, 6)
    box_noise = [ValueNoise(rng, (-60.0, -60.0, 60.0, 60.0), s, 3) for s in (12.0, 12.0, 4.0, 4.0)]
    tilt_rng = np.random.default_rng(int(rng.integers(2**63 - 1)))
    for code, (sx0, sy0) in seats.items():
        # a county seat must lie outside the district, whatever the river did
        d = float(np.hypot(sx0 - centre[0], sy0 - centre[1]))
        need = DISTRICT_RADIUS_KM * 1.12
        if d < need:
            f = need / max(d, 1e-6)
            seats[code] = (centre[0] + (sx0 - centre[0]) * f, centre[1] + (sy0 - centre[1]) * f)

    # the district: a wobbly disc around the central city; the rest by warped nearest seat
    th = np.arctan2(y - centre[1], x - centre[0])
    in_district = np.hypot(x - centre[0], y - centre[1]) < DISTRICT_RADIUS_KM * (1 + 0.08 * prof(th))
    wx_n, wy_n = box_noise[0], box_noise[1]
    warp = lambda a, b: (a + 4.0 * wx_n(a, b), b + 4.0 * wy_n(a, b))
    xw, yw = warp(x, y)
    seat_codes = list(seats)
    sx, sy = warp(np.array([seats[c][0] for c in seat_codes]), np.array([seats[c][1] for c in seat_codes]))
    d = np.hypot(xw[:, None] - sx[None, :], yw[:, None] - sy[None, :])
    county = np.where(in_district, 0, 1 + np.argmin(d, axis=1)).astype(np.int8)

    slope = terrain.sample(terrain.slope, parcels.lon, parcels.lat)
    z = terrain.sample(terrain.dem, parcels.lon, parcels.lat)
    rkm = terrain.sample(terrain.river_km, parcels.lon, parcels.lat)
    flat = (slope < 8.0) & (rkm > 0.35)
    township = np.zeros(n, dtype=np.int32)
    townships: list[Township] = []
    tw_noise = (box_noise[2], box_noise[3])
    for ci, (code, _name, seat_name) in enumerate(COUNTIES):
        members = np.flatnonzero(county == ci)
        cand = members[flat[members]]
        if len(cand) < 10:
            cand = members
        if code == DISTRICT:
            # three street offices share the central city, two towns take the outskirts
            seeds: list[int] = []
            for a in (a0, a0 + 2 * np.pi / 3, a0 + 4 * np.pi / 3):
                s = _snap(parcels, members, centre[0] + 3.2 * np.cos(a), centre[1] + 3.2 * np.sin(a))
                if s not in seeds:
                    seeds.append(s)
            n_street = len(seeds)
            seeds = _farthest_seeds(tilt_rng, parcels, cand, seeds, n_street + 2)
        else:
            seeds = [_snap(parcels, members, *seats[code])]
            n_street = 0
            seeds = _farthest_seeds(tilt_rng, parcels, cand, seeds, n_towns[code])
        # nearest seed, in coordinates warped so township borders wander
        mx, my = x[members], y[members]
        mxw = mx + 1.3 * tw_noise[0](mx, my)
        myw = my + 1.3 * tw_noise[1](mx, my)
        n_fixed = n_street if code == DISTRICT else 1
        for it in range(3):
            s_idx = np.array(seeds)
            sxw = x[s_idx] + 1.3 * tw_noise[0](x[s_idx], y[s_idx])
            syw = y[s_idx] + 1.3 * tw_noise[1](x[s_idx], y[s_idx])
            which = np.argmin(np.hypot(mxw[:, None] - sxw[None, :], myw[:, None] - syw[None, :]), axis=1)
            if it == 2:
                break
            # Lloyd steps: a town moves to the middle of its township (seats stay), so towns
            # do not sit on the county border where farthest-point sampling put them
            for k in range(n_fixed, len(seeds)):
                mine = members[which == k]
                ok = mine[flat[mine]] if flat[mine].any() else mine
                if len(ok):
                    seeds[k] = _snap(parcels, ok, float(x[mine].mean()), float(y[mine].mean()))
        n_town = n_xiang = 0
        local: list[Township] = []
        for k, s in enumerate(seeds):
            if code == DISTRICT and k < n_street:
                tcode, name = f"{code}{k + 1:03d}", (seat_name if k == 0 else jiedao_pool.pop())
            elif code != DISTRICT and k == 0:
                n_town += 1
                tcode, name = f"{code}{100 + n_town:03d}", seat_name
            elif z[s] > 150.0 and xiang_pool:
                n_xiang += 1
                tcode, name = f"{code}{200 + n_xiang:03d}", xiang_pool.pop()
            else:
                n_town += 1
                tcode, name = f"{code}{100 + n_town:03d}", town_pool.pop()
            local.append(Township(tcode, name, code, float(x[s]), float(y[s]), code != DISTRICT and k == 0))
        order = sorted(range(len(local)), key=lambda k: local[k].code)
        rank = np.empty(len(local), dtype=np.int32)
        rank[order] = np.arange(len(local))
        township[members] = len(townships) + rank[which]
        townships.extend(local[k] for k in order)
    return Admin(county=county, township=township, townships=townships, centre=centre, park=park, seats=seats)


def build_region_geometry(admin: Admin, parcels: Parcels) -> None:
    """Township = union of its parcels, county = union of its townships, city = union of counties."""
    keys, geoms, _ = dissolve(parcels.geometry, admin.township)
    tgeom = {admin.townships[k].code: g for k, g in zip(keys, geoms)}
    out: dict[str, shapely.MultiPolygon] = {}
    for code, _, _ in COUNTIES:
        out[code] = union_coverage([g for t, g in tgeom.items() if t.startswith(code)])
    out[CITY[0]] = union_coverage([out[c] for c, _, _ in COUNTIES])
    out[PROVINCE[0]] = out[CITY[0]]
    out.update(tgeom)
    admin.region_geoms = out
    codes = list(out)
    admin.region_area = dict(zip(codes, geodesic_areas([out[c] for c in codes]).tolist()))


def xzq_columns(admin: Admin, labels: Labels) -> tuple[dict, np.ndarray, np.ndarray]:
    """The ``xzq`` features (province, city, counties, townships) and whose survey holds each: a
    county's survey its own boundary and its townships', the province's summary the rest."""
    rows = [(PROVINCE[0], PROVINCE[1], "province", None, PROVINCE[0]),
            (CITY[0], CITY[1], "city", PROVINCE[0], PROVINCE[0])]
    rows += [(c, n, "county", CITY[0], c) for c, n, _ in COUNTIES]
    rows += [(t.code, t.name, "township", t.county, t.county) for t in admin.townships]
    geoms = np.array([admin.region_geoms[r[0]] for r in rows], dtype=object)
    owner = np.array([r[4] for r in rows], dtype=object)
    cols = {
        "BSM": labels.bsm(owner.tolist(), "xzq"),
        "YSDM": [None] * len(rows),
        "XZQDM": [r[0] for r in rows],
        "XZQMC": [r[1] for r in rows],
        "XZQJB": [r[2] for r in rows],
        "XZQJBMC": [labels("region_level", r[2]) for r in rows],
        "SJXZQDM": [r[3] for r in rows],
        "MJ": np.array([admin.region_area[r[0]] for r in rows]),
    }
    return cols, geoms, owner
