"""Land classes of the parcels (layer ``dltb``): the 2022 survey and the 2023 update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from .admin import DISTRICT, Admin
from .batches import Labels
from .geo import angular_profile
from .noise import ValueNoise, to_uniform
from .parcels import Parcels
from .terrain import FRAME, NOISE_BOX, PEAK_M, Terrain

# the 三调 classes the demo uses (real DLBM codes)
CODES = [
    "0101", "0102", "0103", "0201", "0202", "0301", "0305", "0307", "0404", "05H1", "0601", "0602",
    "0701", "0702", "08H1", "08H2", "0810", "1004", "1006", "1101", "1103", "1104", "1106", "1207",
]
C = {c: i for i, c in enumerate(CODES)}
CROPLAND = np.array([c.startswith("01") for c in CODES])
FOREST = np.array([c.startswith("03") for c in CODES])
WATER = np.array([c.startswith("11") for c in CODES])
# 建设用地 in the 三调 three-way grouping (1006 农村道路 is 农用地)
BUILT = np.array([c in {"05H1", "0601", "0602", "0701", "0702", "08H1", "08H2", "0810", "1004"} for c in CODES])
WATER_SHARE = 0.065  # ponds fill the water budget up to this share of the land (Jianghuai plain)
VILLAGE_SHARE = 0.10  # rural homesteads' share of the land where villages are allowed
MOUNTAIN_SHARE = 0.29  # of the city's area: forest-dominated uplands
HILL_SHARE = 0.17  # the foothills: forest, orchards, tea and dry fields

MIXES = {
    # built-up mixes (code, share); roads of the central city come from its street grid
    "park": [("0601", 0.84), ("1004", 0.08), ("0810", 0.04), ("05H1", 0.04)],
    "seat": [("0701", 0.56), ("05H1", 0.12), ("08H2", 0.08), ("0601", 0.09), ("1004", 0.09), ("0810", 0.03),
             ("08H1", 0.03)],
    "town": [("0701", 0.62), ("05H1", 0.14), ("08H2", 0.06), ("1004", 0.08), ("0601", 0.06), ("0810", 0.02),
             ("08H1", 0.02)],
    # natural and farmed land by terrain
    "mountain": [("0301", 0.64), ("0305", 0.13), ("0307", 0.08), ("0404", 0.06), ("0202", 0.04), ("0103", 0.05)],
    "hill": [("0301", 0.37), ("0307", 0.08), ("0305", 0.05), ("0201", 0.08), ("0202", 0.08), ("0103", 0.21),
             ("0102", 0.04), ("0404", 0.09)],
}


@dataclass
class UrbanCore:
    """A built-up place: the central city, its industrial park, a county seat or a town."""

    kind: str  # central | park | seat | town
    name: str
    county: str
    township: str | None
    x: float
    y: float
    radius_km: float
    wobble: Callable[[np.ndarray], np.ndarray]  # angle -> [-1, 1]

    def norm_dist(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance from the core over its (wobbly) radius: below 1 is inside."""
        th = np.arctan2(y - self.y, x - self.x)
        return np.hypot(x - self.x, y - self.y) / (self.radius_km * (1 + 0.15 * self.wobble(th)))

    def lonlat(self) -> tuple[float, float]:
        """The core's centre in lon/lat."""
        lon, lat = FRAME.to_lonlat(self.x, self.y)
        return float(lon), float(lat)


@dataclass
class LandUse:
    """The 2022 survey's classes and the per-parcel facts later layers need."""

    cls: np.ndarray  # int16 index into CODES
    czcs: np.ndarray  # object: "201" | "202" | "203" | None
    z: np.ndarray
    slope: np.ndarray
    river_km: np.ndarray  # distance to the nearest river
    main_km: np.ndarray  # distance to the main river
    cores: list[UrbanCore]
    core: np.ndarray  # index of the core a parcel is built-up in, -1 elsewhere
    core_nd: np.ndarray  # normalised distance to the nearest core (any kind)
    near_core: np.ndarray  # index of that nearest core
    mining_sites: list[tuple[float, float]]
    villages: np.ndarray  # village id per parcel, -1 outside villages
    village_centres: np.ndarray  # (k, 2) km
    street: np.ndarray  # parcels on the central city's street grid
    wetland: tuple[float, float, float]  # the wetland reserve: x, y, radius (km)


def _pick(u: np.ndarray, mix: list[tuple[str, float]]) -> np.ndarray:
    """Class index by cumulative shares of a uniform value (the last class takes the rest)."""
    edges = np.cumsum([s for _, s in mix])[:-1]
    codes = np.array([C[c] for c, _ in mix], dtype=np.int16)
    return codes[np.searchsorted(edges, u, side="right")]


def build_cores(rng: np.random.Generator, admin: Admin, cell_km: float) -> list[UrbanCore]:
    """The central city, its industrial park, the county seats and the township towns."""
    cores = [
        UrbanCore("central", "示范市中心城区", DISTRICT, None, *admin.centre, 6.0, angular_profile(rng, 6)),
        UrbanCore("park", "示范经济开发区", DISTRICT, None, *admin.park, 2.2, angular_profile(rng, 5)),
    ]
    names = admin.names()
    for t in admin.townships:
        if t.is_county_seat:
            county_name = names[t.county]
            seat_name = county_name[:-1] + "县城" if county_name.endswith("县") else f"{county_name}城区"
            cores.append(UrbanCore("seat", seat_name, t.county, t.code, t.seat_x, t.seat_y,
                                   2.3, angular_profile(rng, 5)))
    town_r = max(0.8, 0.75 * cell_km)
    for t in admin.townships:
        if not t.is_county_seat and not (t.county == DISTRICT and t.code[6] == "0"):
            cores.append(UrbanCore("town", f"{t.name}集镇", t.county, t.code, t.seat_x, t.seat_y,
                                   town_r, angular_profile(rng, 4)))
    return cores


def _villages(rng, parcels: Parcels, terrain: Terrain, core_nd: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """Village clusters on a jittered lattice; spacing set so homesteads cover VILLAGE_SHARE.

    A village smaller than a parcel cannot be drawn, so at coarse resolutions villages get
    bigger and fewer: their share of the land stays the same.
    """
    r_v = max(0.17, 0.6 * parcels.cell_km)
    spacing = r_v * float(np.sqrt(np.pi / VILLAGE_SHARE))
    x0, y0 = box[0], box[1]
    na = int(np.ceil((box[2] - x0) / spacing)) + 1
    nb = int(np.ceil((box[3] - y0) / spacing)) + 1
    vx = x0 + (np.arange(na)[None, :] + 0.5 + rng.uniform(-0.3, 0.3, (nb, na))) * spacing
    vy = y0 + (np.arange(nb)[:, None] + 0.5 + rng.uniform(-0.3, 0.3, (nb, na))) * spacing
    vr = r_v * rng.uniform(0.7, 1.3, (nb, na))
    lon, lat = FRAME.to_lonlat(vx, vy)
    z = terrain.sample(terrain.dem, lon, lat)
    sl = terrain.sample(terrain.slope, lon, lat)
    rk = terrain.sample(terrain.river_km, lon, lat)
    accept = np.where(sl > 20, 0.0, np.where((z > 320) | (sl > 12), 0.15, np.where((z > 95) | (sl > 5), 0.5, 1.0)))
    ok = (rng.random((nb, na)) < accept) & (rk > 0.3)
    vid = np.full(len(parcels), -1, dtype=np.int64)
    best = np.full(len(parcels), np.inf)
    a = np.floor((parcels.x - x0) / spacing).astype(np.int64)
    b = np.floor((parcels.y - y0) / spacing).astype(np.int64)
    for da in (-1, 0, 1):
        for db in (-1, 0, 1):
            aa, bb = np.clip(a + da, 0, na - 1), np.clip(b + db, 0, nb - 1)
            d = np.hypot(parcels.x - vx[bb, aa], parcels.y - vy[bb, aa]) / vr[bb, aa]
            hit = ok[bb, aa] & (d < 1.0) & (d < best) & (core_nd > 1.2)
            best[hit] = d[hit]
            vid[hit] = (bb * na + aa)[hit]
    centres = np.column_stack([vx.ravel(), vy.ravel()])
    return vid, centres


def _top_share(score: np.ndarray, area: np.ndarray, share: float) -> np.ndarray:
    """The items with the highest scores that together cover ``share`` of the total area."""
    order = np.argsort(-score, kind="stable")
    cum = np.cumsum(area[order]) / area.sum()
    out = np.zeros(len(score), dtype=bool)
    out[order[cum <= share]] = True
    return out


def _wetland_site(terrain: Terrain, admin: Admin, outline_km, cell: float) -> tuple[float, float, float]:
    """(x, y, radius) in km of a wetland on the main river's lower reach."""
    path = terrain.main.km
    inside = shapely.contains_xy(outline_km, path[:, 0], path[:, 1])
    x_end = float(path[inside, 0].max()) if inside.any() else float(path[-1, 0])
    seat_x = admin.seats["990121"][0]
    xc = seat_x + 0.6 * (x_end - seat_x)
    return xc, terrain.main_y(xc) + 0.3, max(1.2, 1.5 * cell)


def _mine_sites(rng: np.random.Generator, terrain: Terrain, outline_km) -> list[tuple[float, float]]:
    """Three to five quarry sites on hill slopes, away from rivers."""
    want = int(rng.integers(3, 6))
    px = rng.uniform(NOISE_BOX[0], NOISE_BOX[2], 400)
    py = rng.uniform(NOISE_BOX[1], NOISE_BOX[3], 400)
    lon, lat = FRAME.to_lonlat(px, py)
    z = terrain.sample(terrain.dem, lon, lat)
    sl = terrain.sample(terrain.slope, lon, lat)
    rk = terrain.sample(terrain.river_km, lon, lat)
    ok = (z > 150) & (z < 700) & (sl > 8) & (sl < 30) & (rk > 0.8) & shapely.contains_xy(outline_km, px, py)
    idx = np.flatnonzero(ok)[:want]
    return [(float(px[i]), float(py[i])) for i in idx]


def classify(rng: np.random.Generator, parcels: Parcels, terrain: Terrain, admin: Admin) -> LandUse:
    """The 2022 survey: a 三调 class for every parcel from terrain, water and settlements."""
    n = len(parcels)
    x, y, lon, lat = parcels.x, parcels.y, parcels.lon, parcels.lat
    z = terrain.sample(terrain.dem, lon, lat).astype(np.float64)
    slope = terrain.sample(terrain.slope, lon, lat).astype(np.float64)
    rkm = terrain.sample(terrain.river_km, lon, lat).astype(np.float64)
    mkm = terrain.sample(terrain.main_river_km, lon, lat).astype(np.float64)
    box = NOISE_BOX
    cell = parcels.cell_km
    # draws that do not depend on the parcel count come from ``fixed``, so the landscape
    # (towns, mines, patterns) is the same at every resolution for one seed
    fixed = np.random.default_rng(int(rng.integers(2**63 - 1)))
    varying = np.random.default_rng(int(rng.integers(2**63 - 1)))
    cores = build_cores(fixed, admin, cell)
    fuzz_n = ValueNoise(fixed, box, 0.8, 3)
    patch_n = ValueNoise(fixed, box, 1.2, 3)
    smooth2_n = ValueNoise(fixed, box, 2.0, 3)
    smooth3_n = ValueNoise(fixed, box, 1.5, 3)
    alpha = fixed.uniform(-0.25, 0.25)
    mines = _mine_sites(fixed, terrain, parcels.outline_km)
    village_rng = np.random.default_rng(int(fixed.integers(2**63 - 1)))

    iid = varying.random(n)
    iid2 = varying.random(n)
    fuzz = fuzz_n(x, y)
    patch = to_uniform(0.6 * patch_n(x, y) + 0.4 * (varying.random(n) - 0.5))
    smooth2 = smooth2_n(x, y)
    smooth3 = smooth3_n(x, y)
    nrow, ncol = int(parcels.row.max()) + 1, int(parcels.col.max()) + 1
    # neighbouring cells share a draw, so built-up uses come in small blocks, not salt and pepper
    u_block = varying.random(((nrow + 1) // 2 + 1, (ncol + 1) // 2 + 1))[parcels.row // 2, parcels.col // 2]

    cls = np.full(n, -1, dtype=np.int16)

    def put(mask, value):
        sel = mask & (cls < 0)
        cls[sel] = value if np.isscalar(value) else value[sel]
        return sel

    # water first: the reservoir, then the rivers
    res_ll = FRAME.geom_to_lonlat(terrain.reservoir_km)
    put(shapely.contains_xy(res_ll, lon, lat), C["1103"])
    # a parcel is river if its centroid is within the banks, or within half a cell of the
    # centre line where the river is narrower than a parcel: a continuous chain at any resolution
    for r in terrain.rivers:
        w = max(r.halfwidth_km, 0.5 * cell)
        close = np.flatnonzero(rkm < w + 0.1)
        d = shapely.distance(r.line_km, shapely.points(x[close], y[close]))
        on = np.zeros(n, dtype=bool)
        on[close[d < w]] = True
        put(on, C["1101"])

    # settlements
    nd_all = np.stack([c.norm_dist(x, y) for c in cores])
    near = np.argmin(nd_all, axis=0)
    core_nd = nd_all[near, np.arange(n)]
    del nd_all
    inside = core_nd < 1.0 + 0.25 * fuzz  # ragged edges
    core = np.where(inside, near, -1)
    kinds = np.array([c.kind for c in cores])
    cen = cores[0]
    d0 = np.hypot(x - cen.x, y - cen.y)
    spacing = max(0.8, 17 * cell)
    sx = (x - cen.x) * np.cos(alpha) + (y - cen.y) * np.sin(alpha)
    sy = -(x - cen.x) * np.sin(alpha) + (y - cen.y) * np.cos(alpha)
    half = spacing / 2
    ds = np.minimum(np.abs((sx + half) % spacing - half), np.abs((sy + half) % spacing - half))  # to nearest street
    street = (core >= 0) & (kinds[np.maximum(core, 0)] == "central") & (ds < 0.55 * cell)
    put(street, C["1004"])
    # the central city: commerce thickens towards the centre
    is_c = (core >= 0) & (kinds[np.maximum(core, 0)] == "central")
    p_comm = 0.07 + 0.33 * np.exp(-d0 / 1.3)
    p_ind = np.where(core_nd > 0.7, 0.03, 0.0)
    other = np.array([0.09, 0.03, 0.07])  # 08H2, 08H1, 0810
    edges = np.stack([p_comm, p_comm + other[0], p_comm + other[:2].sum(), p_comm + other.sum(),
                      p_comm + other.sum() + p_ind], axis=1)
    k = (u_block[:, None] >= edges).sum(axis=1)
    central_codes = np.array([C["05H1"], C["08H2"], C["08H1"], C["0810"], C["0601"], C["0701"]], dtype=np.int16)
    put(is_c, central_codes[k])
    for kind in ("park", "seat", "town"):
        put((core >= 0) & (kinds[np.maximum(core, 0)] == kind), _pick(u_block, MIXES[kind]))

    # a few mines in the hills
    r_m = max(0.35, 0.6 * cell)
    for mx, my in mines:
        d = np.hypot(x - mx, y - my)
        put(d < r_m, C["0602"])
        p = int(np.argmin(d))
        if cls[p] < 0 or not WATER[cls[p]]:
            cls[p] = C["0602"]

    # a riverside wetland reserve on the lower main river, between the east county's seat and
    # the city edge: the plain's share of the red line
    wetland = _wetland_site(terrain, admin, parcels.outline_km, cell)
    wx, wy, wr = wetland
    put((np.hypot(x - wx, y - wy) < wr * (1 + 0.2 * fuzz)) & (core_nd > 1.2), C["1106"])

    # bare rock on the highest summits
    put(_top_share(z, parcels.area, 0.005) & (z > 0.45 * PEAK_M) & (iid < 0.75), C["1207"])

    # villages
    vid, vcentres = _villages(village_rng, parcels, terrain, core_nd, box)
    put(vid >= 0, C["0702"])
    vid = np.where(cls == C["0702"], vid, -1)

    # wetlands along the main river outside the towns; fewer at coarse resolution
    band = terrain.main.halfwidth_km + max(0.25, 1.2 * cell)
    put((mkm < band) & (z < 60) & (core_nd > 1.5) & (iid2 < 0.3 * min(1.0, 0.15 / cell)), C["1106"])

    # ponds on the plain fill the water budget
    area = parcels.area
    plain = (z < 100) & (slope < 5)
    water_now = area[(cls >= 0) & WATER[np.maximum(cls, 0)]].sum()
    cand = (cls < 0) & plain
    share = np.clip((WATER_SHARE * area.sum() - water_now) / max(area[cand].sum(), 1.0), 0.01, 0.2)
    pond_u = np.ones(n)
    pond_u[cand] = to_uniform(0.6 * iid2[cand] + 0.4 * (smooth3[cand] + 1) / 2)
    put(cand & (pond_u < share), C["1104"])

    # rural roads, sparse
    put((slope < 15) & (iid < 0.018), C["1006"])

    # the rest by terrain: the steepest and highest land is "mountain", the next "hill". The
    # zones are cut at fixed shares of the city's area rather than at fixed heights, so land
    # shares stay realistic whatever the seed did to the mountain front or the outline
    mountain = _top_share(np.maximum(z / 320.0, slope / 16.0), area, MOUNTAIN_SHARE)
    hill = ~mountain & _top_share(np.where(mountain, np.inf, np.maximum(z / 95.0, slope / 6.0)), area,
                                  MOUNTAIN_SHARE + HILL_SHARE)
    m_cls = _pick(patch, MIXES["mountain"])
    m_cls = np.where((m_cls == C["0103"]) & (slope > 25), C["0305"], m_cls)
    put(mountain, m_cls)
    put(hill, _pick(patch, MIXES["hill"]))
    rest = cls < 0
    put(rest & (iid2 < 0.04), C["0307"])
    put(rest & (iid2 >= 0.04) & (iid2 < 0.08), C["0201"])
    put(rest & (iid2 >= 0.08) & (iid2 < 0.12), C["0404"])
    crop = np.flatnonzero(cls < 0)
    paddy_score = -z[crop] / 25.0 - rkm[crop] / 1.5 + 0.9 * smooth2[crop]
    pu = to_uniform(paddy_score)
    du = to_uniform(smooth3[crop])
    cls[crop] = np.where(pu > 0.42, C["0101"], np.where(du < 0.45, C["0102"], C["0103"]))

    # 城镇村属性码: city, towns and villages
    czcs = np.full(n, None, dtype=object)
    built = BUILT[cls]
    central_like = (core >= 0) & np.isin(kinds[np.maximum(core, 0)], ["central", "park"])
    town_like = (core >= 0) & np.isin(kinds[np.maximum(core, 0)], ["seat", "town"])
    czcs[built & central_like] = "201"
    czcs[built & town_like] = "202"
    czcs[cls == C["0702"]] = "203"
    # every 建设用地 parcel lies in a city, town, village or mine range (plan QC rule A06); the demo's
    # scattered mines are counted in the village range of the hills around them
    czcs[built & (czcs == None)] = "203"
    return LandUse(
        cls=cls, czcs=czcs, z=z, slope=slope, river_km=rkm, main_km=mkm, cores=cores, core=core,
        core_nd=core_nd, near_core=near, mining_sites=mines, villages=vid, village_centres=vcentres,
        street=street, wetland=wetland,
    )


def slope_grade(slope: np.ndarray) -> np.ndarray:
    """耕地坡度级别 1–5 (≤2°, ≤6°, ≤15°, ≤25°, above) as strings."""
    g = np.searchsorted(np.array([2.0, 6.0, 15.0, 25.0]), slope, side="left") + 1
    return np.array(["1", "2", "3", "4", "5"], dtype=object)[g - 1]


def survey_2023(
    rng: np.random.Generator, lu: LandUse, parcels: Parcels, czkfbj_any: np.ndarray, protected: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 2023 update: ~1.5 % of parcels change, mostly farmland on the urban fringe built over.

    Conversions to built-up come from cropland or grassland inside the urban development
    boundary in force on the survey's date (``czkfbj_any``: the 2021 one; or, failing that,
    nearest the towns) that is neither permanent basic farmland nor red line, so the update
    is lawful (``plant_unlawful`` then adds the cases change detection must find). A few village plots and mines go back to farming
    or forest (增减挂钩, mine restoration). Returns (classes, CZCSXM, changed mask).
    """
    n = len(parcels)
    cls = lu.cls.copy()
    czcs = lu.czcs.copy()
    n_change = max(2, round(0.015 * n))
    n_back = max(1, n_change // 10)
    n_build = n_change - n_back
    soft = np.isin(cls, [C["0101"], C["0102"], C["0103"], C["0404"]]) & ~protected
    first = np.flatnonzero(soft & czkfbj_any)
    first = first[rng.permutation(len(first))]
    if len(first) >= n_build:
        build = first[:n_build]
    else:
        other = np.flatnonzero(soft & ~czkfbj_any)
        other = other[np.argsort(lu.core_nd[other], kind="stable")]
        build = np.r_[first, other[: n_build - len(first)]]
    build = np.sort(build)
    u = rng.random(len(build))
    new = _pick(u, [("0701", 0.5), ("0601", 0.2), ("05H1", 0.15), ("1004", 0.1), ("08H2", 0.05)])
    cls[build] = new
    kind = np.array([c.kind for c in lu.cores])[lu.near_core[build]]
    czcs[build] = np.where(np.isin(kind, ["central", "park"]), "201", "202")

    back = np.flatnonzero(np.isin(lu.cls, [C["0702"], C["0602"]]) & (lu.core_nd > 2.0))
    back = np.sort(back[rng.permutation(len(back))[:n_back]])
    cls[back] = np.where(lu.cls[back] == C["0602"], C["0307"], np.where(lu.slope[back] < 6, C["0101"], C["0103"]))
    czcs[back] = None
    changed = cls != lu.cls
    return cls, czcs, changed


def plant_unlawful(cls: np.ndarray, czcs: np.ndarray, before: np.ndarray, redline: np.ndarray, farmland: np.ndarray,
                   czk_any: np.ndarray) -> dict[str, int]:
    """Three unlawful builds in the 2023 update, for change detection to find (动态监测): a mine opened in the red
    line, a village house on permanent basic farmland, a town's factory on cropland outside every urban
    development boundary. Each is the first parcel (in the parcels' order) that fits, so the rest of the update
    and every random draw stay as they were. Changes ``cls``/``czcs`` in place; returns parcel index by case."""
    untouched = cls == before
    cases = {
        "red_line": (redline & ~BUILT[before] & untouched, C["0602"], "204"),
        "farmland": (farmland & CROPLAND[before] & untouched, C["0702"], "203"),
        "outside_boundary": (CROPLAND[before] & ~czk_any & ~redline & ~farmland & untouched, C["0601"], "202"),
    }
    out = {}
    for name, (fits, new_cls, new_czcs) in cases.items():
        found = np.flatnonzero(fits & (cls == before))
        if not len(found):
            continue
        i = int(found[0])
        cls[i], czcs[i] = new_cls, new_czcs
        out[name] = i
    return out


def running_number(groups: np.ndarray, start: np.ndarray | int = 1) -> np.ndarray:
    """1, 2, 3, ... within each group, in the items' order (``start`` may differ per item)."""
    groups = np.asarray(groups)
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    first = np.r_[True, g[1:] != g[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
    out = np.empty(len(g), dtype=np.int64)
    out[order] = np.arange(len(g)) - group_start
    return out + start


def parcel_numbers(admin: Admin, changed: np.ndarray, segment: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """BSM and TBBH of every parcel in the 2022 and 2023 surveys.

    BSM is the county code, the layer's segment and an 8-digit number running within the county; TBBH runs
    within the township. A parcel the 2023 update changed gets new numbers after the last
    ones of its county and township; the others keep theirs.
    """
    county_code = admin.county_code().tolist()
    bsm22 = running_number(admin.county)
    tb22 = running_number(admin.township)
    last_bsm = np.zeros(int(admin.county.max()) + 1, dtype=np.int64)
    np.maximum.at(last_bsm, admin.county, bsm22)
    last_tb = np.zeros(len(admin.townships), dtype=np.int64)
    np.maximum.at(last_tb, admin.township, tb22)
    bsm23, tb23 = bsm22.copy(), tb22.copy()
    ch = np.flatnonzero(changed)
    bsm23[ch] = running_number(admin.county[ch], last_bsm[admin.county[ch]] + 1)
    tb23[ch] = running_number(admin.township[ch], last_tb[admin.township[ch]] + 1)

    def bsm(numbers):
        return [f"{c}{segment}{k:08d}" for c, k in zip(county_code, numbers.tolist())]

    return bsm(bsm22), [str(k) for k in tb22.tolist()], bsm(bsm23), [str(k) for k in tb23.tolist()]


def dltb_columns(labels: Labels, parcels: Parcels, admin: Admin, slope: np.ndarray, cls: np.ndarray, czcs: np.ndarray,
                 bsm: list[str], tbbh: list[str]) -> dict:
    """The ``dltb`` attributes of every parcel for one survey."""
    codes = np.array(CODES, dtype=object)
    names = np.array([labels("sandiao_dlbm", c) for c in CODES], dtype=object)
    t_code = np.array([t.code + "000" for t in admin.townships], dtype=object)
    t_name = np.array([t.name for t in admin.townships], dtype=object)
    grade = np.where(CROPLAND[cls], slope_grade(slope), np.array(None, dtype=object))
    return {
        "BSM": bsm,
        "YSDM": [None] * len(cls),
        "TBBH": tbbh,
        "DLBM": codes[cls],
        "DLMC": names[cls],
        "ZLDWDM": t_code[admin.township],
        "ZLDWMC": t_name[admin.township],
        "CZCSXM": czcs,
        "GDPDJB": grade,
        "TBMJ": parcels.area,
    }
