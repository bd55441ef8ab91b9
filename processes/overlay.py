"""Exact overlay of a boundary with the one map, shared by the processes.

The store answers the indexed question (which features of a layer, in the plans in force,
meet a box); shapely does the exact geometry and pyproj the geodesic areas, the same on both
backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import Layer
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.store import Store
from onemap.providers.store.base import When


@dataclass
class Hits:
    """The features of one layer that meet a geometry, with their overlap."""

    layer: Layer
    fids: list[int]
    plan_ids: list[str]
    columns: dict[str, list[Any]]
    geoms: np.ndarray  # the features' full geometries
    parts: np.ndarray  # each feature ∩ the boundary
    part_m2: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.fids)

    def union(self) -> shapely.Geometry:
        """The overlap as one geometry: copies of a line at several plan levels count once."""
        if not len(self.parts):
            return shapely.Polygon()
        return shapely.union_all(self.parts)


def hits(store: Store, layer: Layer, boundary: shapely.Geometry, when: When,
         columns: list[str] | None = None, plan_ids: tuple[str, ...] | None = None) -> Hits:
    """Features of ``layer`` (in force during ``when``) that overlap ``boundary`` by some area."""
    names = columns if columns is not None else [f.name for f in layer.fields]
    ids = plan_ids if plan_ids is not None else store.plans_in_force(when, None, layer)
    if not ids:
        return Hits(layer, [], [], {n: [] for n in names}, np.empty(0, dtype=object), np.empty(0, dtype=object))
    geoms, cols = store.geometries(layer, ids, bbox=boundary.bounds, columns=[*names, "plan_id"])
    if len(geoms) == 0:
        return Hits(layer, [], [], {n: [] for n in names}, np.empty(0, dtype=object), np.empty(0, dtype=object))
    shapely.prepare(boundary)
    touching = shapely.intersects(boundary, geoms)
    idx = np.nonzero(touching)[0]
    # features wholly inside need no overlay: only those crossing the boundary are cut
    parts = geoms[idx].copy()
    cross = ~shapely.contains_properly(boundary, parts)
    if cross.any():
        parts[cross] = shapely.intersection(parts[cross], boundary)
    # a shared edge is not an overlap: keep what has area
    keep = np.array([p is not None and not p.is_empty and p.area > 0 for p in parts], dtype=bool)
    idx, parts = idx[keep], parts[keep]
    part_m2 = geodesic_area(parts) if len(parts) else np.empty(0)
    return Hits(
        layer=layer,
        fids=[int(cols["fid"][i]) for i in idx],
        plan_ids=[cols["plan_id"][i] for i in idx],
        columns={n: [cols[n][i] for i in idx] for n in names},
        geoms=geoms[idx],
        parts=parts,
        part_m2=np.asarray(part_m2, dtype=float),
    )


def layer_geometries(store: Store, layer: Layer, bbox: tuple[float, float, float, float], when: When) -> np.ndarray:
    """The whole geometries of a layer's features in force that meet a box (no clipping)."""
    ids = store.plans_in_force(when, None, layer)
    if not ids:
        return np.empty(0, dtype=object)
    geoms, _ = store.geometries(layer, ids, bbox=bbox, columns=["plan_id"])
    return np.asarray(geoms, dtype=object)


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
