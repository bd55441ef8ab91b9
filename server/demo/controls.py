"""Control lines: urban development boundary, ecological red line, permanent basic farmland,
and the historic and flood-risk overlays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .admin import COUNTIES, DISTRICT, Admin
from .batches import Labels
from .geo import angular_profile, as_multipolygons, dissolve, geodesic_areas
from .landuse import CODES, CROPLAND, FOREST, C, LandUse, slope_grade
from .noise import ValueNoise, to_uniform
from .parcels import Parcels
from .terrain import FRAME, NOISE_BOX, Terrain

HXLX = ("水源涵养", "生物多样性维护", "水土保持")
FARMLAND_SHARE = 0.8
# dissolve blocks, in grid cells at 20,000 parcels; they grow slowly with the parcel count,
# so feature counts rise from tens (20k) to about a thousand (1M), not fifty-fold
REDLINE_BLOCK = 19
FARMLAND_BLOCK = 14


def block_cells(base: int, n_parcels: int) -> int:
    """Block side in grid cells for ``n_parcels`` parcels."""
    return max(4, round(base * (n_parcels / 20000) ** 0.09))


@dataclass
class Controls:
    """Per-parcel membership of the three control lines in every version."""

    czk21: np.ndarray  # int16 zone code (211/212/213) or 0
    czk23: np.ndarray
    czk_core21: np.ndarray  # index of the urban core a boundary parcel belongs to, -1 outside
    czk_core23: np.ndarray
    released: np.ndarray  # in 2021, not in 2023
    added: np.ndarray  # in 2023, not in 2021
    redline: np.ndarray  # bool
    hxlx: np.ndarray  # index into HXLX, -1 outside the red line
    farmland: np.ndarray  # bool
    added_point: tuple[float, float]  # lon/lat inside 2023 only
    released_point: tuple[float, float]  # lon/lat inside 2021 only

    @property
    def czk_any(self) -> np.ndarray:
        """In the urban development boundary of either version."""
        return (self.czk21 > 0) | (self.czk23 > 0)


def _block(parcels: Parcels, base: int) -> np.ndarray:
    size = block_cells(base, len(parcels))
    ncol = int(parcels.col.max()) // size + 1
    return (parcels.row // size).astype(np.int64) * ncol + parcels.col // size


def _interior_point(parcels: Parcels, idx: np.ndarray, x: float, y: float) -> tuple[float, float]:
    # a point strictly inside the parcel nearest (x, y): inside its feature, not on a border
    k = int(idx[np.argmin(np.hypot(parcels.x[idx] - x, parcels.y[idx] - y))])
    p = shapely.point_on_surface(parcels.geometry[k])
    return float(p.x), float(p.y)


def urban_boundaries(rng: np.random.Generator, parcels: Parcels, lu: LandUse, admin: Admin) -> dict:
    """The 2021 urban development boundary and its 2023 revision, both of whole parcels."""
    n = len(parcels)
    x, y, cell = parcels.x, parcels.y, parcels.cell_km
    cores = lu.cores
    zone = np.zeros(n, dtype=np.int16)
    owner = np.full(n, -1, dtype=np.int64)
    corridor = lu.river_km < max(0.35, 0.75 * cell)
    # radii as multiples of each core's built-up radius: (concentrated, flexible)
    reach = {"central": (1.22, 1.5), "park": (1.3, 1.55), "seat": (1.35, 1.75), "town": (1.5, 1.5)}
    towns_with_line: set[int] = set()
    for code, _, _ in COUNTIES:
        # a few township towns get a boundary: the lowest-lying town of each county
        towns = [i for i, c in enumerate(cores) if c.kind == "town" and c.county == code]
        if towns:
            zs = [lu.z[int(np.argmin(np.hypot(x - cores[i].x, y - cores[i].y)))] for i in towns]
            towns_with_line.add(towns[int(np.argmin(zs))])
    cen = cores[0]
    wedge = rng.uniform(190, 215) * np.pi / 180
    for i, c in enumerate(cores):
        if c.kind == "town" and i not in towns_with_line:
            continue
        nd = c.norm_dist(x, y)
        inner, outer = reach[c.kind]
        free = zone == 0
        zone[free & (nd < inner)] = 211
        zone[free & (nd >= inner) & (nd < outer)] = 212
        hit = free & (nd < outer)
        if c.kind in ("central", "seat"):
            zone[hit & corridor] = 213
        if c.kind == "central":
            th = np.arctan2(y - c.y, x - c.x)
            off_wedge = np.abs((th - wedge + np.pi) % (2 * np.pi) - np.pi)
            zone[hit & (off_wedge < 0.17) & (nd > 0.35)] = 213  # a green wedge into the centre
        owner[hit] = i
    # water bodies and mines stay outside any boundary
    keep_out = np.isin(lu.cls, [C["1103"], C["0602"]])
    zone[keep_out] = 0
    owner[keep_out] = -1

    # 2023: the central city gives up a sector of its flexible ring and grows on another side
    nd_c = cen.norm_dist(x, y)
    th_c = np.arctan2(y - cen.y, x - cen.x)

    def gap(a):
        return np.abs((th_c - a + np.pi) % (2 * np.pi) - np.pi)

    rel_dir = rng.uniform(135, 165) * np.pi / 180
    add_dir = rng.uniform(55, 85) * np.pi / 180
    central_line = (owner == 0) & (zone > 0)
    released = central_line & (gap(rel_dir) < 0.6) & (nd_c > 1.15)
    if not released.any():
        cand = np.flatnonzero(central_line & (gap(rel_dir) < 0.8))
        cand = cand if len(cand) else np.flatnonzero(central_line)
        released[cand[np.argsort(-nd_c[cand], kind="stable")[:3]]] = True
    grow_km = max(1.6, 2.5 * cell)
    eligible = (
        (zone == 0)
        & (admin.county == 0)
        & ~np.isin(lu.cls, [C["1101"], C["1103"], C["1106"], C["0602"], C["1207"]])
        & ~redline_candidates(parcels, lu, None)
    )
    added = eligible & (gap(add_dir) < 0.7) & (nd_c >= 1.5) & (nd_c < 1.5 + grow_km / cen.radius_km)
    if not added.any():
        cand = np.flatnonzero(eligible)
        added[cand[np.argsort(np.hypot(x[cand] - cen.x, y[cand] - cen.y), kind="stable")[:3]]] = True
    zone23 = zone.copy()
    owner23 = owner.copy()
    zone23[released] = 0
    owner23[released] = -1
    zone23[added] = np.where(nd_c[added] < 1.5 + 0.4 * grow_km / cen.radius_km, 211, 212)
    owner23[added] = 0
    idx_add, idx_rel = np.flatnonzero(added), np.flatnonzero(released)
    ax = float(np.mean(x[idx_add]))
    ay = float(np.mean(y[idx_add]))
    rx = float(np.mean(x[idx_rel]))
    ry = float(np.mean(y[idx_rel]))
    return {
        "czk21": zone, "czk23": zone23, "czk_core21": owner, "czk_core23": owner23,
        "released": released, "added": added,
        "added_point": _interior_point(parcels, idx_add, ax, ay),
        "released_point": _interior_point(parcels, idx_rel, rx, ry),
    }


def redline_candidates(parcels: Parcels, lu: LandUse, reservoir_km: shapely.Polygon | None) -> np.ndarray:
    """Land of vital ecological function: steep or high forest, summits, reservoir, hill rivers, wetlands."""
    cls, z, slope = lu.cls, lu.z, lu.slope
    forest = FOREST[cls]
    out = forest & ((z > 300) | ((slope > 15) & (z > 150)))
    out |= cls == C["1207"]
    out |= (cls == C["0404"]) & (z > 500)
    out |= cls == C["1103"]
    out |= (cls == C["1101"]) & (z > 80)
    out |= cls == C["1106"]
    if reservoir_km is not None:
        near = np.flatnonzero(forest)
        d = shapely.distance(reservoir_km, shapely.points(parcels.x[near], parcels.y[near]))
        out[near[d < 2.5]] = True  # the forest around the reservoir keeps its water clean
    return out


def build_controls(rng: np.random.Generator, parcels: Parcels, lu: LandUse, admin: Admin, terrain: Terrain) -> Controls:
    """Urban boundaries first; red line and farmland then avoid every boundary version."""
    ub = urban_boundaries(rng, parcels, lu, admin)
    czk_any = (ub["czk21"] > 0) | (ub["czk23"] > 0)
    red = redline_candidates(parcels, lu, terrain.reservoir_km) & ~czk_any
    hx = np.full(len(parcels), -1, dtype=np.int8)
    res_d = np.full(len(parcels), np.inf)
    near = np.flatnonzero(red)
    res_d[near] = shapely.distance(terrain.reservoir_km, shapely.points(parcels.x[near], parcels.y[near]))
    cls, z, slope = lu.cls, lu.z, lu.slope
    hx[red] = 0
    hx[red & (slope > 20)] = 2
    hx[red & ((z > 600) | (cls == C["1207"]) | (cls == C["1106"]))] = 1
    hx[red & (np.isin(cls, [C["1103"], C["1101"]]) | (res_d < 2.5))] = 0

    grade = slope_grade(lu.slope)
    eligible = CROPLAND[cls] & np.isin(grade, ["1", "2", "3"]) & ~czk_any & ~red
    score = 0.6 * ValueNoise(rng, NOISE_BOX, 1.0, 3)(parcels.x, parcels.y) + 0.4 * (rng.random(len(parcels)) - 0.5)
    farm = np.zeros(len(parcels), dtype=bool)
    idx = np.flatnonzero(eligible)
    farm[idx[to_uniform(score[idx]) >= 1 - FARMLAND_SHARE]] = True
    return Controls(
        czk21=ub["czk21"], czk23=ub["czk23"], czk_core21=ub["czk_core21"], czk_core23=ub["czk_core23"],
        released=ub["released"], added=ub["added"], redline=red, hxlx=hx, farmland=farm,
        added_point=ub["added_point"], released_point=ub["released_point"],
    )


def _county_cols(county_idx) -> tuple[list[str], list[str]]:
    codes = [COUNTIES[i][0] for i in county_idx]
    names = [COUNTIES[i][1] for i in county_idx]
    return codes, names


def czkfbj_features(labels: Labels, parcels: Parcels, lu: LandUse, admin: Admin, zone: np.ndarray, owner: np.ndarray) -> tuple[dict, np.ndarray]:
    """One feature per county, zone and urban core."""
    sel = np.flatnonzero(zone > 0)
    key = (admin.county[sel].astype(np.int64) * 1000 + zone[sel]) * 1000 + owner[sel]
    keys, geoms, _ = dissolve(parcels.geometry[sel], key)
    county = (keys // 1_000_000).astype(int)
    zcode = ((keys // 1000) % 1000).astype(int).astype(str).astype(object)
    core = keys % 1000
    xzqdm, xzqmc = _county_cols(county)
    cols = {
        "BSM": labels.bsm(xzqdm, "czkfbj"),
        "YSDM": [labels.ysdm("czkfbj")] * len(keys),
        "XZQDM": xzqdm,
        "XZQMC": xzqmc,
        "GHFQDM": zcode.tolist(),
        "GHFQMC": labels.many("ghfq", zcode).tolist(),
        "MJ": geodesic_areas(geoms),
        "BZ": [lu.cores[int(c)].name for c in core],
    }
    return cols, geoms


def stbhhx_features(labels: Labels, parcels: Parcels, admin: Admin, ctl: Controls) -> tuple[dict, np.ndarray]:
    """The red line dissolved by county, coarse block and red-line type."""
    sel = np.flatnonzero(ctl.redline)
    block = _block(parcels, REDLINE_BLOCK)[sel]
    key = (admin.county[sel].astype(np.int64) * 10_000_000 + block) * 10 + ctl.hxlx[sel]
    keys, geoms, _ = dissolve(parcels.geometry[sel], key)
    county = (keys // 100_000_000).astype(int)
    kind = (keys % 10).astype(int)
    xzqdm, xzqmc = _county_cols(county)
    counters: dict[str, int] = {}
    hxbm = []
    for c in xzqdm:
        counters[c] = counters.get(c, 0) + 1
        hxbm.append(f"{c}{counters[c]:05d}")
    cols = {
        "BSM": labels.bsm(xzqdm, "stbhhx"),
        "YSDM": [labels.ysdm("stbhhx")] * len(keys),
        "XZQDM": xzqdm,
        "XZQMC": xzqmc,
        "HXBM": hxbm,
        "HXMC": [f"{m}{HXLX[k]}生态保护红线" for m, k in zip(xzqmc, kind)],
        "HXLX": [HXLX[k] for k in kind],
        "MJ": geodesic_areas(geoms),
        "BZ": [None] * len(keys),
    }
    return cols, geoms


def yjjbnt_features(labels: Labels, parcels: Parcels, lu: LandUse, admin: Admin, ctl: Controls) -> tuple[dict, np.ndarray]:
    """Permanent basic farmland dissolved by protection block (county × coarse block)."""
    sel = np.flatnonzero(ctl.farmland)
    block = _block(parcels, FARMLAND_BLOCK)[sel]
    key = admin.county[sel].astype(np.int64) * 10_000_000 + block
    keys, geoms, members = dissolve(parcels.geometry[sel], key)
    county = (keys // 10_000_000).astype(int)
    xzqdm, xzqmc = _county_cols(county)
    main = []
    for m in members:
        ci = lu.cls[sel[m]]
        area = np.bincount(ci, weights=parcels.area[sel[m]], minlength=len(CROPLAND))
        main.append(int(np.argmax(area)))
    dlbm = np.array([CODES[i] for i in main], dtype=object)
    counters: dict[str, int] = {}
    bh = []
    for c in xzqdm:
        counters[c] = counters.get(c, 0) + 1
        bh.append(f"{c}{counters[c]:04d}")
    cols = {
        "BSM": labels.bsm(xzqdm, "yjjbnt"),
        "YSDM": [labels.ysdm("yjjbnt")] * len(keys),
        "XZQDM": xzqdm,
        "XZQMC": xzqmc,
        "BHPKBH": bh,
        "DLBM": dlbm.tolist(),
        "DLMC": labels.many("sandiao_dlbm", dlbm).tolist(),
        "MJ": geodesic_areas(geoms),
        "BZ": [None] * len(keys),
    }
    return cols, geoms


def _blob_km(rng: np.random.Generator, cx: float, cy: float, r: float, n: int = 96) -> shapely.Polygon:
    th = np.linspace(0, 2 * np.pi, n + 1)[:-1]
    rr = r * (1 + 0.2 * angular_profile(rng, 5)(th))
    return shapely.Polygon(np.column_stack([cx + rr * np.cos(th), cy + rr * np.sin(th)]))


def _county_at(parcels: Parcels, admin: Admin, x: float, y: float) -> int:
    return int(admin.county[int(np.argmin(np.hypot(parcels.x - x, parcels.y - y)))])


def lswhbhx_features(
    rng: np.random.Generator, labels: Labels, parcels: Parcels, lu: LandUse, admin: Admin
) -> tuple[dict, np.ndarray]:
    """Historic protection: the old town and its temple, a historic village, a county-seat temple."""
    cx, cy = admin.centre
    items = [
        ("示范古城历史文化街区", "历史文化街区", _blob_km(rng, cx - 0.6, cy + 0.4, 0.55)),
        ("示范文庙", "文物保护单位", _blob_km(rng, cx + 0.45, cy + 1.0, 0.12, 48)),
    ]
    west = [c for c, _, _ in COUNTIES].index("990122")
    wx, wy = admin.seats["990122"]
    tx, ty = wx + rng.uniform(-6, 6), wy + rng.uniform(-6, 6)
    vil = np.flatnonzero((lu.villages >= 0) & (admin.county == west) & (lu.z > 60) & (lu.z < 400))
    if len(vil):
        # the village nearest a random spot in the county's hills
        ids = np.unique(lu.villages[vil])
        cx_v, cy_v = lu.village_centres[ids, 0], lu.village_centres[ids, 1]
        vid = int(ids[np.argmin(np.hypot(cx_v - tx, cy_v - ty))])
        vx, vy = lu.village_centres[vid]
    else:
        vx, vy = wx + 3.0, wy - 2.0
    items.append(("柏树湾村", "历史文化名村", _blob_km(rng, float(vx), float(vy), 0.35)))
    ex, ey = admin.seats["990121"]
    items.append(("东岭县城隍庙", "文物保护单位", _blob_km(rng, ex + 0.3, ey + 0.2, 0.1, 48)))
    geoms = as_multipolygons([FRAME.geom_to_lonlat(g) for _, _, g in items])
    county = [_county_at(parcels, admin, *shapely.centroid(g).coords[0]) for _, _, g in items]
    xzqdm, xzqmc = _county_cols(np.array(county))
    cols = {
        "BSM": labels.bsm(xzqdm, "lswhbhx"),
        "YSDM": [labels.ysdm("lswhbhx")] * len(items),
        "XZQDM": xzqdm,
        "XZQMC": xzqmc,
        "BHMC": [i[0] for i in items],
        "BHLX": [i[1] for i in items],
        "MJ": geodesic_areas(geoms),
        "BZ": [None] * len(items),
    }
    return cols, geoms


def hlfxkzx_features(labels: Labels, terrain: Terrain, admin: Admin) -> tuple[dict, np.ndarray]:
    """The main river's floodplain through the central city: high risk near it, medium further out."""
    cx, cy = admin.centre
    reach = terrain.main.line_km.intersection(shapely.Point(cx, cy).buffer(9.0, 64))
    parts = shapely.get_parts(reach)
    seg = parts[int(np.argmax(shapely.length(parts)))]
    hw = terrain.main.halfwidth_km
    high = seg.buffer(hw + 0.3, 32)
    mid = seg.buffer(hw + 0.8, 32).difference(high)
    x0, y0, x1, y1 = mid.bounds
    west_box = shapely.box(x0 - 1, y0 - 1, cx, y1 + 1)
    east_box = shapely.box(cx, y0 - 1, x1 + 1, y1 + 1)
    river = terrain.main.name
    items = [
        (f"{river}中心城区西段洪水高风险区", "高风险", high.intersection(west_box)),
        (f"{river}中心城区东段洪水高风险区", "高风险", high.intersection(east_box)),
        (f"{river}中心城区段洪水中风险区", "中风险", mid),
    ]
    district = admin.region_geoms[DISTRICT]
    geoms = as_multipolygons([shapely.intersection(FRAME.geom_to_lonlat(g), district) for _, _, g in items])
    n = len(items)
    cols = {
        "BSM": labels.bsm([DISTRICT] * n, "hlfxkzx"),
        "YSDM": [labels.ysdm("hlfxkzx")] * n,
        "XZQDM": [DISTRICT] * n,
        "XZQMC": [COUNTIES[0][1]] * n,
        "FXMC": [i[0] for i in items],
        "FXDJ": [i[1] for i in items],
        "MJ": geodesic_areas(geoms),
        "BZ": [None] * n,
    }
    return cols, geoms
