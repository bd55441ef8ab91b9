"""The parcel tiling: an irregular city outline filled with a jittered quadrilateral grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .geo import angular_profile, ring_areas
from .terrain import EAST, FRAME, NORTH, SOUTH, WEST

SPLIT_SHARE = 0.08  # about this share of cells is cut in two, for variety of parcel sizes
JITTER = 0.25  # grid points move up to this share of a cell each way: quads stay simple


@dataclass
class Parcels:
    """Every parcel of the city, in a fixed, deterministic order (row-major, west to east)."""

    geometry: np.ndarray  # MultiPolygon lon/lat
    lon: np.ndarray  # centroid
    lat: np.ndarray
    x: np.ndarray  # centroid in the km frame
    y: np.ndarray
    row: np.ndarray  # grid cell row (south to north) and column (west to east)
    col: np.ndarray
    area: np.ndarray  # geodesic m²
    cell_km: float  # nominal grid spacing
    outline_km: shapely.Polygon  # the outline the cells were clipped to

    def __len__(self) -> int:
        return len(self.geometry)


def city_outline_km(rng: np.random.Generator) -> shapely.Polygon:
    """An irregular outline inside the city's extent: a box-shaped radius made wobbly."""
    x0, y0 = FRAME.to_km(WEST, SOUTH)
    x1, y1 = FRAME.to_km(EAST, NORTH)
    hx, hy = (x1 - x0) / 2, (y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    th = np.linspace(0, 2 * np.pi, 2161)[:-1]
    c, s = np.abs(np.cos(th)), np.abs(np.sin(th))
    r_box = np.minimum(hx / np.maximum(c, 1e-12), hy / np.maximum(s, 1e-12))
    r_ell = 1.0 / np.sqrt((c / hx) ** 2 + (s / hy) ** 2)
    coarse = angular_profile(rng, 7, 0.8)
    fine = angular_profile(rng, 40, 0.6)
    # halfway between the box and its inscribed ellipse, with lobes and bays, never outside the box
    r = (0.45 * r_box + 0.55 * r_ell) * (0.9 + 0.2 * coarse(th) + 0.035 * fine(th))
    r = np.minimum(r, 0.985 * r_box)
    return shapely.Polygon(np.column_stack([cx + r * np.cos(th), cy + r * np.sin(th)]))


def _cell_centres_inside(outline_ll, lon_pts: np.ndarray, lat_pts: np.ndarray) -> np.ndarray:
    cx = (lon_pts[:-1, :-1] + lon_pts[:-1, 1:] + lon_pts[1:, 1:] + lon_pts[1:, :-1]) / 4
    cy = (lat_pts[:-1, :-1] + lat_pts[:-1, 1:] + lat_pts[1:, 1:] + lat_pts[1:, :-1]) / 4
    return shapely.contains_xy(outline_ll, cx, cy)


def make_parcels(rng: np.random.Generator, n_parcels: int) -> Parcels:
    """Exactly ``n_parcels`` parcels tiling an irregular city outline with no gaps or overlaps.

    Grid points are shared by the four cells around them, so neighbouring parcels have
    identical edges. A cell is kept whole if its centre is inside the outline; the
    cell count is tuned so that cutting some cells in two gives exactly ``n_parcels``.
    """
    if n_parcels < 100:
        raise ValueError("the demo needs at least 100 parcels")
    outline_km = city_outline_km(rng)
    outline_ll = FRAME.geom_to_lonlat(outline_km)
    shapely.prepare(outline_ll)
    kx, ky = FRAME.kx, FRAME.ky
    jitter_seed = int(rng.integers(2**63 - 1))

    cell = float(np.sqrt(outline_km.area * (1 + SPLIT_SHARE) / n_parcels))
    for _ in range(12):
        dlon, dlat = cell / kx, cell / ky
        nx = int(np.ceil((EAST - WEST) / dlon))
        ny = int(np.ceil((NORTH - SOUTH) / dlat))
        # the same jitter stream for every try, so the final grid depends only on (n, seed)
        jr = np.random.default_rng(jitter_seed)
        jx = jr.uniform(-JITTER, JITTER, (ny + 1, nx + 1))
        jy = jr.uniform(-JITTER, JITTER, (ny + 1, nx + 1))
        lon_pts = WEST + (np.arange(nx + 1)[None, :] + jx) * dlon
        lat_pts = SOUTH + (np.arange(ny + 1)[:, None] + jy) * dlat
        inside = _cell_centres_inside(outline_ll, lon_pts, lat_pts)
        n_in = int(inside.sum())
        n_split = n_parcels - n_in
        if 0 <= n_split <= 0.2 * n_in:
            break
        cell *= float(np.sqrt(n_in * (1 + SPLIT_SHARE) / n_parcels))
    else:
        raise RuntimeError("could not size the parcel grid")

    rows, cols = np.nonzero(inside)  # row-major order
    split = np.zeros(n_in, dtype=bool)
    split[rng.choice(n_in, size=n_split, replace=False)] = True

    # corners counter-clockwise: SW, SE, NE, NW
    P = np.stack([lon_pts, lat_pts], axis=-1)
    c0 = P[rows, cols]
    c1 = P[rows, cols + 1]
    c2 = P[rows + 1, cols + 1]
    c3 = P[rows + 1, cols]
    # a cell is cut across its longer pair of sides, so both halves stay compact
    ew = np.hypot(*((c1 - c0) * [kx, ky]).T) + np.hypot(*((c2 - c3) * [kx, ky]).T)
    ns = np.hypot(*((c3 - c0) * [kx, ky]).T) + np.hypot(*((c2 - c1) * [kx, ky]).T)
    cut_ew = split & (ew >= ns)  # midpoints on the south and north sides, halves west/east
    cut_ns = split & (ew < ns)  # midpoints on the west and east sides, halves south/north

    # a side's midpoint is shared by both cells along it; flag it once per side
    h_flag = np.zeros((ny + 1, nx), dtype=bool)  # side from point (i, j) to (i, j + 1)
    v_flag = np.zeros((ny, nx + 1), dtype=bool)  # side from point (i, j) to (i + 1, j)
    h_flag[rows[cut_ew], cols[cut_ew]] = True
    h_flag[rows[cut_ew] + 1, cols[cut_ew]] = True
    v_flag[rows[cut_ns], cols[cut_ns]] = True
    v_flag[rows[cut_ns], cols[cut_ns] + 1] = True
    # midpoints get a little sideways wobble so cuts are not ruler-straight
    wob = np.random.default_rng(jitter_seed + 1)
    h_mid = (P[:, :-1] + P[:, 1:]) / 2
    h_mid[..., 1] += wob.uniform(-0.08, 0.08, h_mid.shape[:2]) * dlat
    v_mid = (P[:-1, :] + P[1:, :]) / 2
    v_mid[..., 0] += wob.uniform(-0.08, 0.08, v_mid.shape[:2]) * dlon
    mb, fb = h_mid[rows, cols], h_flag[rows, cols]
    mt, ft = h_mid[rows + 1, cols], h_flag[rows + 1, cols]
    ml, fl = v_mid[rows, cols], v_flag[rows, cols]
    mr, fr = v_mid[rows, cols + 1], v_flag[rows, cols + 1]
    one = np.ones(n_in, dtype=bool)

    # every parcel as up to 9 candidate ring points with a mask; halves of a cut cell
    # follow their cell, so the order stays row-major
    whole = ~split
    rings, masks, owner = [], [], []

    def add(sel, pts, flags):
        rings.append(np.stack([p[sel] for p in pts], axis=1))
        masks.append(np.stack([f[sel] for f in flags], axis=1))
        owner.append(np.flatnonzero(sel))

    def pad9(pts, flags):
        return pts + [pts[0]] * (9 - len(pts)), flags + [~one] * (9 - len(flags))

    add(whole, *pad9([c0, mb, c1, mr, c2, mt, c3, ml, c0], [one, fb, one, fr, one, ft, one, fl, one]))
    add(cut_ew, *pad9([c0, mb, mt, c3, ml, c0], [one, one, one, one, fl, one]))
    add(cut_ew, *pad9([mb, c1, mr, c2, mt, mb], [one, one, fr, one, one, one]))
    add(cut_ns, *pad9([c0, mb, c1, mr, ml, c0], [one, fb, one, one, one, one]))
    add(cut_ns, *pad9([ml, mr, c2, mt, c3, ml], [one, one, one, ft, one, one]))
    ring = np.concatenate(rings)
    mask = np.concatenate(masks)
    cell_of = np.concatenate(owner)
    half = np.concatenate([np.zeros(whole.sum(), int), np.zeros(cut_ew.sum(), int), np.ones(cut_ew.sum(), int),
                           np.zeros(cut_ns.sum(), int), np.ones(cut_ns.sum(), int)])
    order = np.lexsort((half, cell_of))
    ring, mask, cell_of = ring[order], mask[order], cell_of[order]

    counts = mask.sum(axis=1)
    flat = ring[mask]
    ring_idx = np.repeat(np.arange(len(ring)), counts)
    polys = shapely.polygons(shapely.linearrings(flat, indices=ring_idx))
    geometry = shapely.multipolygons(polys, indices=np.arange(len(polys)))
    if not shapely.is_valid(geometry).all():  # cannot happen with JITTER < 0.5; be loud if it does
        raise RuntimeError("invalid parcel geometry")

    cen = shapely.centroid(polys)
    lon, lat = shapely.get_x(cen), shapely.get_y(cen)
    x, y = FRAME.to_km(lon, lat)
    return Parcels(
        geometry=geometry,
        lon=lon,
        lat=lat,
        x=x,
        y=y,
        row=rows[cell_of],
        col=cols[cell_of],
        area=ring_areas(flat, counts),  # single-ring parcels: straight from the coordinates
        cell_km=cell,
        outline_km=outline_km,
    )
