"""拓扑 (topology): T03 valid geometry, T05 no slivers, T06 no spikes (feature by feature, while
reading); T01 no overlaps within a layer, T02 no gaps in a layer that tiles the region, T07 the
control lines never overlap each other and everything lies inside the region (cell by cell,
see cells.py).

Areas compared with tolerances are geodesic (m²); candidate pairs come from an STRtree queried
with prepared-geometry predicates, so edge-sharing neighbours cost no overlay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import shapely

from .cells import CellFeatures, Grid
from .context import Context, LayerState, locate
from .measure import geodesic_area_perimeter, m_per_degree, sharpest_angles
from .reader import Chunk

_REASON_AT = re.compile(r"\[\s*([-0-9.eE+]+)\s+([-0-9.eE+]+)\s*\]")
POLYGONAL = (3, 6)  # Polygon, MultiPolygon


# ---- feature by feature -----------------------------------------------------------------------------
def check_geometry(ctx: Context, state: LayerState, chunk: Chunk) -> np.ndarray:
    """T03; returns which features are valid polygons (the others are left out of every geometric check)."""
    geoms = chunk.geoms
    n = len(geoms)
    missing = np.array([g is None for g in geoms.tolist()], dtype=bool) if n else np.zeros(0, dtype=bool)
    valid = ~missing
    if not state.inp.usable:
        return np.zeros(n, dtype=bool)  # M02 said the coordinates cannot be placed
    enabled = ctx.config.enabled("T03")
    for i in np.flatnonzero(missing).tolist():
        if enabled:
            ctx.feature(state, chunk, i, "T03", "undecodable" if chunk.undecodable[i] else "empty", measured=None,
                        expected="Polygon")
    idx = np.flatnonzero(valid)
    if not len(idx):
        return valid
    g = geoms[idx]
    empty = shapely.is_empty(g)
    types = shapely.get_type_id(g)
    wrong = ~empty & ~np.isin(types, POLYGONAL)
    ok = ~empty & ~wrong
    is_valid = np.zeros(len(idx), dtype=bool)
    is_valid[ok] = shapely.is_valid(g[ok])
    for k in np.flatnonzero(empty).tolist():
        if enabled:
            ctx.feature(state, chunk, int(idx[k]), "T03", "empty", measured=None, expected="Polygon")
    for k in np.flatnonzero(wrong).tolist():
        if enabled:
            ctx.feature(state, chunk, int(idx[k]), "T03", "type", measured=g[k].geom_type, expected="Polygon")
    for k in np.flatnonzero(ok & ~is_valid).tolist():
        if enabled:
            reason = shapely.is_valid_reason(g[k])
            m = _REASON_AT.search(reason)
            where = shapely.Point(float(m.group(1)), float(m.group(2))) if m else locate(g[k])
            ctx.feature(state, chunk, int(idx[k]), "T03", "invalid", location=where, measured=reason,
                        expected="valid")
    valid[idx] = is_valid
    return valid


def check_layer_type(ctx: Context, state: LayerState) -> None:
    """T06 (no arcs): a layer declaring curved geometry. GDAL hands its features over linearised,
    and they are checked as such."""
    gtype = (state.inp.geometry_type or "").upper()
    if ctx.config.enabled("T06") and ("CURVE" in gtype or "SURFACE" in gtype):
        ctx.out.add("T06", "curve", layer=state.name, layer_id=state.layer_id, location=state.extent,
                    measured=gtype, expected="MultiPolygon")


def check_shape(ctx: Context, state: LayerState, chunk: Chunk, valid: np.ndarray, area: np.ndarray,
                perimeter: np.ndarray) -> None:
    """T05 (tiny polygons, slivers by mean width 2A/P) and T06 (spikes)."""
    th = ctx.config.thresholds
    idx = np.flatnonzero(valid)
    if not len(idx):
        return
    if ctx.config.enabled("T05"):
        a, p = area[idx], perimeter[idx]
        small = a < th.sliver_area_m2
        width = np.where(p > 0, 2 * a / np.maximum(p, 1e-12), np.inf)
        thin = ~small & (width < th.sliver_width_m)
        for k in np.flatnonzero(small).tolist():
            ctx.feature(state, chunk, int(idx[k]), "T05", "small", measured=round(float(a[k]), 2),
                        expected=th.sliver_area_m2)
        for k in np.flatnonzero(thin).tolist():
            ctx.feature(state, chunk, int(idx[k]), "T05", "thin", measured=round(float(width[k]), 3),
                        expected=th.sliver_width_m)
    if ctx.config.enabled("T06"):
        ang, x, y = sharpest_angles(chunk.geoms[idx])
        for k in np.flatnonzero(ang < th.spike_angle_deg).tolist():
            ctx.feature(state, chunk, int(idx[k]), "T06", "spike", location=shapely.Point(x[k], y[k]),
                        measured=round(float(ang[k]), 2), expected=th.spike_angle_deg)


# ---- cell by cell -----------------------------------------------------------------------------------
def _geodesic(geoms: np.ndarray | list[shapely.Geometry]) -> np.ndarray:
    return geodesic_area_perimeter(np.asarray(geoms, dtype=object))[0]


def polygonal(g: shapely.Geometry) -> shapely.Geometry:
    """Only the polygonal parts of an overlay result (lines and points where edges touch dropped)."""
    parts = shapely.get_parts(g)
    polys = parts[np.isin(shapely.get_type_id(parts), POLYGONAL)]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def interior_pairs(geoms: np.ndarray, others: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs whose interiors meet: within ``geoms`` (i < j), or between ``geoms`` and ``others``."""
    if others is None:
        tree = shapely.STRtree(geoms)
        a1, b1 = tree.query(geoms, predicate="overlaps")
        a2, b2 = tree.query(geoms, predicate="covers")  # also equal twins and holes filled by a neighbour
        a, b = np.concatenate([a1, a2]), np.concatenate([b1, b2])
        keep = a != b
        lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
        if not len(lo):
            return lo, hi
        pairs = np.unique(np.stack([lo, hi], axis=1), axis=0)
        return pairs[:, 0], pairs[:, 1]
    tree = shapely.STRtree(others)
    a, b = tree.query(geoms, predicate="intersects")
    if not len(a):
        return a, b
    inner = shapely.relate_pattern(geoms[a], others[b], "T********")
    return a[inner], b[inner]


@dataclass
class CellChecks:
    """T01, T02 and T07 over the cells; the pieces found are merged by ``finish``."""

    ctx: Context
    grid: Grid
    states: dict[str, LayerState]
    gap_pieces: dict[str, list] = field(default_factory=dict)
    own_unions: dict[str, list] = field(default_factory=dict)
    outside: dict[tuple[str, int], list] = field(default_factory=dict)  # (layer, fid) -> [pieces, bsm, row]
    overlapping: set[str] = field(default_factory=set)  # small layers with overlapping features

    def run(self, cell: int, data: dict[str, CellFeatures]) -> None:
        ctx, cfg = self.ctx, self.ctx.config
        box = shapely.box(*self.grid.box(cell))
        region = ctx.region_outline
        reg = None
        reg_full = False
        if region is not None:
            reg = shapely.intersection(region, box)
            reg = polygonal(reg) if not reg.is_empty else reg
            shapely.prepare(reg)
            reg_full = bool(shapely.covers(reg, box))
        self._locate_pending(data)
        empty = np.empty(0, dtype=object)
        for lid, state in self.states.items():
            cf = data.get(lid)
            pairs_here = False
            pieces = empty
            if cf is not None and len(cf):
                if state.whole is not None:
                    pairs_here = lid in self.overlapping
                elif lid in cfg.topology.no_overlap and cfg.enabled("T01"):
                    pairs_here = self._overlaps(cell, state, cf, cfg.topology.no_overlap[lid])
                pieces = self._clip(cf.geoms, box)
                inside = None if reg is None or reg_full else self._inside(pieces, reg)
                if inside is not None and cfg.topology.inside_region and cfg.enabled("T07"):
                    self._outside(state, cf, pieces, reg, inside)
            else:
                inside = None
            if lid in ctx.tiling and cfg.enabled("T02") and state.valid:
                tiling = ctx.tiling[lid]
                if tiling.region == "plan_region":
                    self._gaps(lid, pieces, reg, reg_full, inside, box, pairs_here)
                elif tiling.boundary_layer in self.states:
                    # the layer must fill another layer's outline (e.g. a central-city boundary)
                    boundary = data.get(tiling.boundary_layer)
                    outline = polygonal(shapely.union_all(self._clip(boundary.geoms, box))) \
                        if boundary is not None and len(boundary) else shapely.Polygon()
                    shapely.prepare(outline)
                    self._gaps(lid, pieces, outline, False, None, box, pairs_here)
                elif len(pieces):
                    u = shapely.union_all(pieces)
                    if not u.is_empty:
                        self.own_unions.setdefault(lid, []).append(u)
        if cfg.enabled("T07"):
            lines = [lid for lid in cfg.topology.control_lines if lid in data and len(data[lid])]
            for k, a in enumerate(lines):
                for b in lines[k + 1:]:
                    if self.states[a].whole is None or self.states[b].whole is None:
                        self._cross(cell, self.states[a], data[a], self.states[b], data[b])

    def run_whole(self) -> None:
        """T01 and T07 (control lines) of the small layers, kept whole: once, not cell by cell."""
        cfg = self.ctx.config
        for lid, state in self.states.items():
            if state.whole is None or not len(state.whole):
                continue
            if lid in cfg.topology.no_overlap and cfg.enabled("T01") and \
                    self._overlaps(None, state, state.whole, cfg.topology.no_overlap[lid]):
                self.overlapping.add(lid)
        if cfg.enabled("T07"):
            lines = [lid for lid in cfg.topology.control_lines if lid in self.states
                     and self.states[lid].whole is not None and len(self.states[lid].whole)]
            for k, a in enumerate(lines):
                for b in lines[k + 1:]:
                    self._cross(None, self.states[a], self.states[a].whole, self.states[b], self.states[b].whole)

    # -- pieces of features inside the cell
    @staticmethod
    def _clip(geoms: np.ndarray, box: shapely.Geometry) -> np.ndarray:
        x0, y0, x1, y1 = box.bounds
        b = shapely.bounds(geoms)
        inside = (b[:, 0] >= x0) & (b[:, 1] >= y0) & (b[:, 2] <= x1) & (b[:, 3] <= y1)
        out = geoms.copy()
        cross = np.flatnonzero(~inside)
        if len(cross):
            out[cross] = shapely.intersection(geoms[cross], box)
        return out

    def _locate_pending(self, data: dict[str, CellFeatures]) -> None:
        pending = self.ctx.out.pending
        if not pending:
            return
        for lid, cf in data.items():
            for k, fid in enumerate(cf.fids.tolist()):
                found = pending.pop((lid, fid), None)
                if found:
                    where = locate(cf.geoms[k])
                    for f in found:
                        f.location = where

    def _here(self, cell: int | None, ga: np.ndarray, gb: np.ndarray, a: np.ndarray, b: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """The pairs judged in this cell: those whose bounding boxes' intersection is centred in it."""
        if cell is None:
            return a, b
        ba, bb = shapely.bounds(ga), shapely.bounds(gb)
        cx = (np.maximum(ba[:, 0], bb[:, 0]) + np.minimum(ba[:, 2], bb[:, 2])) / 2
        cy = (np.maximum(ba[:, 1], bb[:, 1]) + np.minimum(ba[:, 3], bb[:, 3])) / 2
        mine = self.grid.cell_of(cx, cy) == cell
        return a[mine], b[mine]

    def _overlaps(self, cell: int | None, state: LayerState, cf: CellFeatures, group: str | None) -> bool:
        g = cf.geoms
        # GEOS's coverage validator says "no overlaps" 4x faster than the pairwise queries (and for
        # grouped layers, such as regions by level, each level is a coverage of its own)
        if group is None:
            if shapely.coverage_is_valid(g):
                return False
        else:
            groups = cf.group.tolist()
            if all(shapely.coverage_is_valid(g[[k for k, v in enumerate(groups) if v == x]]) for x in set(groups)):
                return False
        a, b = interior_pairs(g)
        if group is not None and len(a):
            same = np.array([x == y for x, y in zip(cf.group[a].tolist(), cf.group[b].tolist())], dtype=bool)
            a, b = a[same], b[same]
        if not len(a):
            return False
        a, b = self._here(cell, g[a], g[b], a, b)
        if len(a):
            inter = np.array([polygonal(x) for x in shapely.intersection(g[a], g[b])], dtype=object)
            area = _geodesic(inter)
            tol = self.ctx.config.thresholds.overlap_m2
            for k in np.flatnonzero(area > tol).tolist():
                i, j = (a[k], b[k]) if cf.fids[a[k]] > cf.fids[b[k]] else (b[k], a[k])  # named: the later feature
                self.ctx.out.add("T01", "overlap", layer=state.name, layer_id=state.layer_id, fid=int(cf.fids[i]),
                                 row=int(cf.rows[i]) if cf.rows[i] >= 0 else None, bsm=cf.bsm[i],
                                 location=inter[k], measured=round(float(area[k]), 2), expected=f"≤ {tol:g}",
                                 other_bsm=cf.bsm[j] or "-", other_fid=int(cf.fids[j]))
        return True

    @staticmethod
    def _inside(pieces: np.ndarray, reg: shapely.Geometry) -> np.ndarray:
        """Which pieces lie inside the (prepared) region: most properly, a cheap prepared test."""
        if reg.is_empty:
            return np.zeros(len(pieces), dtype=bool)
        inside = shapely.contains_properly(reg, pieces)
        rest = np.flatnonzero(~inside)
        if len(rest):  # pieces along the region's edge
            inside[rest] = shapely.covered_by(pieces[rest], reg)
        return inside

    def _outside(self, state: LayerState, cf: CellFeatures, pieces: np.ndarray, reg: shapely.Geometry,
                 inside: np.ndarray) -> None:
        for k in np.flatnonzero(~inside).tolist():
            piece = pieces[k] if reg.is_empty else polygonal(shapely.difference(pieces[k], reg))
            if piece.is_empty:
                continue
            entry = self.outside.setdefault((state.layer_id, int(cf.fids[k])), [[], cf.bsm[k], int(cf.rows[k])])
            entry[0].append(piece)

    def _gaps(self, lid: str, pieces: np.ndarray, reg: shapely.Geometry | None, reg_full: bool,
              inside_mask: np.ndarray | None, box: shapely.Geometry, overlapping: bool) -> None:
        if reg is None or reg.is_empty:
            return
        inside = pieces
        if not reg_full and len(pieces):
            cov = inside_mask if inside_mask is not None else self._inside(pieces, reg)
            inside = pieces.copy()
            if (~cov).any():
                inside[~cov] = shapely.intersection(pieces[~cov], reg)
        mx, my = m_per_degree(reg.centroid.y)
        tol_deg2 = 0.5 * self.ctx.config.thresholds.gap_m2 / (mx * my)
        deficit = shapely.area(reg) - float(shapely.area(inside).sum())
        if deficit <= tol_deg2 and not overlapping:
            return
        gaps = polygonal(shapely.difference(reg, shapely.union_all(inside)))
        if not gaps.is_empty:
            self.gap_pieces.setdefault(lid, []).append(gaps)

    def _cross(self, cell: int | None, sa: LayerState, ca: CellFeatures, sb: LayerState, cb: CellFeatures) -> None:
        a, b = interior_pairs(ca.geoms, cb.geoms)
        if not len(a):
            return
        a, b = self._here(cell, ca.geoms[a], cb.geoms[b], a, b)
        if not len(a):
            return
        inter = np.array([polygonal(x) for x in shapely.intersection(ca.geoms[a], cb.geoms[b])], dtype=object)
        area = _geodesic(inter)
        tol = self.ctx.config.thresholds.overlap_m2
        other = self.ctx.catalogue.layers[sb.layer_id]
        for k in np.flatnonzero(area > tol).tolist():
            i, j = a[k], b[k]
            self.ctx.out.add("T07", "control", layer=sa.name, layer_id=sa.layer_id, fid=int(ca.fids[i]),
                             row=int(ca.rows[i]) if ca.rows[i] >= 0 else None, bsm=ca.bsm[i], location=inter[k],
                             measured=round(float(area[k]), 2), expected=f"≤ {tol:g}", other_layer=sb.name,
                             other_bsm=cb.bsm[j] or "-", other_fid=int(cb.fids[j]),
                             other_title_zh=other.title["zh"])

    # -- merging what the cells found
    def finish(self) -> None:
        ctx = self.ctx
        th = ctx.config.thresholds
        for lid, pieces in self.gap_pieces.items():
            self._report_gaps(lid, shapely.get_parts(shapely.union_all(pieces)))
        for lid, unions in self.own_unions.items():
            whole = shapely.union_all(unions)
            holes = [shapely.Polygon(r) for p in shapely.get_parts(whole) if p.geom_type == "Polygon"
                     for r in p.interiors]
            self._report_gaps(lid, np.asarray(holes, dtype=object))
        for (lid, fid), (pieces, bsm, row) in sorted(self.outside.items()):
            g = shapely.union_all(pieces)
            area = float(_geodesic([g])[0])
            if area > th.outside_m2:
                state = self.states[lid]
                ctx.out.add("T07", "outside", layer=state.name, layer_id=lid, fid=fid, row=row if row >= 0 else None,
                            bsm=bsm, location=g, measured=round(area, 2), expected=f"≤ {th.outside_m2:g}",
                            region_name=ctx.region_name or ctx.region)

    def _report_gaps(self, lid: str, gaps: np.ndarray) -> None:
        if not len(gaps):
            return
        gaps = gaps[np.isin(shapely.get_type_id(gaps), POLYGONAL)]
        area = _geodesic(gaps)
        tol = self.ctx.config.thresholds.gap_m2
        state = self.states[lid]
        for k in np.argsort(-area).tolist():
            if area[k] > tol:
                self.ctx.out.add("T02", "gap", layer=state.name, layer_id=lid, location=gaps[k],
                                 measured=round(float(area[k]), 2), expected=f"≤ {tol:g}",
                                 region_name=self.ctx.region_name or self.ctx.region)
