"""Exact overlay of a boundary with the one map as it is governed, shared by the processes.

For each layer the store says where each plan in force governs (``Store.governing``); the
overlay takes, over each part of the boundary, the features of the plan governing there, cut
to that part. What no plan governs is reported as uncovered: a review never reads "no data"
as "no conflict". The store answers the indexed questions; shapely does the exact geometry and
pyproj the geodesic areas, the same on both backends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import Layer
from onemap.domain.dates import When
from onemap.domain.governing import GoverningPart, areal
from onemap.domain.plans import Plan
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.store import Store

# an uncovered remainder below this (m²) is the rounding of the overlay along region borders
UNCOVERED_DUST_M2 = 0.01


@dataclass
class Scope:
    """Where one governing plan's answer applies to the boundary."""

    plan: Plan
    geometry: shapely.Geometry  # boundary ∩ where the plan governs
    whole: bool  # the plan governs all of the boundary


@dataclass
class Hits:
    """The features of one layer that meet a geometry, each from the plan governing where it lies."""

    layer: Layer
    fids: list[int]
    plan_ids: list[str]
    columns: dict[str, list[Any]]
    geoms: np.ndarray  # the features' full geometries
    parts: np.ndarray  # each feature ∩ the boundary part its plan governs
    part_m2: np.ndarray = field(default_factory=lambda: np.empty(0))
    scopes: list[Scope] = field(default_factory=list)
    covered: shapely.Geometry = field(default_factory=shapely.MultiPolygon)  # where some plan governs
    uncovered: shapely.Geometry = field(default_factory=shapely.MultiPolygon)  # where none does
    uncovered_m2: float = 0.0

    def __len__(self) -> int:
        return len(self.fids)

    def union(self) -> shapely.Geometry:
        """The overlap as one geometry."""
        if not len(self.parts):
            return shapely.Polygon()
        return shapely.union_all(self.parts)

    @property
    def determined(self) -> bool:
        """Some plan governs the whole boundary: the answer covers all of it."""
        return self.uncovered_m2 <= UNCOVERED_DUST_M2

    @property
    def nothing_governs(self) -> bool:
        return not self.scopes


class Governed:
    """The governing parts of each layer for one boundary, date and record date, worked out once per run."""

    def __init__(self, store: Store, boundary: shapely.Geometry, when: When, recorded: dt.datetime | None) -> None:
        if when.start is None or not when.is_instant:
            raise ValueError("a review is made for one date")
        self.store = store
        self.boundary = boundary
        self.day = when.start
        self.recorded = recorded
        self._scopes: dict[tuple[str, int], Scope | None] = {}
        shapely.prepare(boundary)

    def scopes(self, layer: Layer) -> list[Scope]:
        """The parts of the boundary each governing plan of ``layer`` answers for."""
        out = []
        for part in self.store.governing(layer, self.day, self.recorded):
            key = (part.plan_id, id(part.area))
            if key not in self._scopes:
                self._scopes[key] = self._scope(part)
            scope = self._scopes[key]
            if scope is not None:
                out.append(scope)
        return out

    def _scope(self, part: GoverningPart) -> Scope | None:
        area = part.area
        if not shapely.intersects(self.boundary, area):
            return None
        if shapely.covers(area, self.boundary):
            return Scope(part.plan, self.boundary, True)
        cut = areal(shapely.intersection(self.boundary, area))
        return Scope(part.plan, cut, False) if not cut.is_empty else None

    def hits(self, layer: Layer, columns: list[str] | None = None) -> Hits:
        """Features of ``layer`` that overlap the boundary by some area, from the plans governing there."""
        names = columns if columns is not None else [f.name for f in layer.fields]
        scopes = self.scopes(layer)
        fids: list[int] = []
        plan_ids: list[str] = []
        cols: dict[str, list[Any]] = {n: [] for n in names}
        geoms: list[shapely.Geometry] = []
        parts: list[shapely.Geometry] = []
        for scope in scopes:
            g, c = self.store.geometries(layer, [scope.plan.id], bbox=scope.geometry.bounds, columns=names)
            if not len(g):
                continue
            cut = _overlay(scope.geometry, np.asarray(g, dtype=object))
            for i, piece in cut:
                fids.append(int(c["fid"][i]))
                plan_ids.append(scope.plan.id)
                for n in names:
                    cols[n].append(c[n][i])
                geoms.append(g[i])
                parts.append(piece)
        covered = shapely.union_all([s.geometry for s in scopes]) if scopes else shapely.MultiPolygon()
        uncovered = areal(shapely.difference(self.boundary, covered)) if scopes else self.boundary
        un_m2 = float(geodesic_area(uncovered)) if not uncovered.is_empty else 0.0
        parts_arr = np.asarray(parts, dtype=object)
        return Hits(
            layer=layer, fids=fids, plan_ids=plan_ids, columns=cols,
            geoms=np.asarray(geoms, dtype=object), parts=parts_arr,
            part_m2=np.asarray(geodesic_area(parts_arr) if len(parts_arr) else np.empty(0), dtype=float),
            scopes=scopes, covered=covered, uncovered=uncovered if un_m2 > UNCOVERED_DUST_M2 else shapely.MultiPolygon(),
            uncovered_m2=un_m2 if un_m2 > UNCOVERED_DUST_M2 else 0.0,
        )

    def geometries(self, layer: Layer, bbox: tuple[float, float, float, float], columns: list[str] | None = None
                   ) -> tuple[np.ndarray, dict[str, list[Any]]]:
        """The governing features meeting a box (whole, each cut to where its plan governs), and columns."""
        names = list(columns or [])
        out: list[shapely.Geometry] = []
        cols: dict[str, list[Any]] = {n: [] for n in names}
        box = shapely.box(*bbox)
        for part in self.store.governing(layer, self.day, self.recorded):
            if not shapely.intersects(part.area, box):
                continue
            g, c = self.store.geometries(layer, [part.plan_id], bbox=bbox, columns=names)
            g = np.asarray(g, dtype=object)
            if not len(g):
                continue
            pairs = list(enumerate(g)) if part.whole else _overlay(part.area, g)
            for i, piece in pairs:
                out.append(piece)
                for n in names:
                    cols[n].append(c[n][i])
        return np.asarray(out, dtype=object), cols

    def coverage(self, layer: Layer) -> shapely.Geometry:
        """The part of the boundary some plan governs for ``layer``."""
        scopes = self.scopes(layer)
        return shapely.union_all([s.geometry for s in scopes]) if scopes else shapely.MultiPolygon()


def _overlay(scope: shapely.Geometry, geoms: np.ndarray) -> list[tuple[int, shapely.Geometry]]:
    """(index, feature ∩ scope) of the features that overlap the scope by some area."""
    shapely.prepare(scope)
    idx = np.flatnonzero(shapely.intersects(scope, geoms))
    if not len(idx):
        return []
    pieces = geoms[idx].copy()
    # features wholly inside need no overlay: only those crossing the scope's edge are cut
    cross = ~shapely.contains_properly(scope, pieces)
    if cross.any():
        pieces[cross] = shapely.intersection(pieces[cross], scope)
    # a shared edge is not an overlap: keep what has area
    return [(int(i), p) for i, p in zip(idx, pieces) if p is not None and not p.is_empty and p.area > 0]


def plan_citation(plan: Plan, m2: float | None = None, total_m2: float | None = None) -> dict[str, Any]:
    """How a finding cites the plan it came from."""
    out: dict[str, Any] = {"plan_id": plan.id, "title": plan.title, "region": plan.region, "level": plan.level,
                           "type": plan.type, "subject": plan.subject, "version": plan.version,
                           "approval_no": plan.approval_no,
                           "valid_from": plan.valid_from.isoformat() if plan.valid_from else None}
    if m2 is not None:
        out["area"] = area_units(m2)
        if total_m2:
            out["area"]["share"] = round(m2 / total_m2, 6)
    return out


def measured(geom: shapely.Geometry, total_m2: float) -> dict[str, Any]:
    """Area of ``geom`` in m², 公顷 and 亩, and its share of ``total_m2``."""
    m2 = float(geodesic_area(geom)) if geom is not None and not geom.is_empty else 0.0
    out = area_units(m2)
    out["share"] = round(m2 / total_m2, 6) if total_m2 > 0 else 0.0
    return out


def to_geojson(geom: shapely.Geometry | None) -> dict | None:
    """A lon/lat geometry as GeoJSON (8 decimals), None when empty."""
    if geom is None or geom.is_empty:
        return None
    rounded = shapely.set_precision(geom, 1e-8)
    return shapely.geometry.mapping(rounded)
