"""Which plan governs here: one resolution for the collections, the tiles and the processes.

For a place, a date and a layer, the governing plan is the plan in force of the lowest level
whose region covers the place and that holds the layer; where it holds no such layer the next
level up governs. At one level a more specific type governs (a special plan for its subject, a
detailed plan for its unit: ``TYPE_RANK``). Plans of the same level and type whose areas meet
(special plans of different subjects holding one layer) govern there together.

``governing_parts`` turns that rule into areas once per layer and date: each plan governs its
outline minus the outlines of the more specific plans that hold the layer. Everything below asks
for those parts; nothing decides "which plan" on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from .plans import ACCUMULATING_TYPES, LEVELS, TYPE_RANK, Plan
from .regions import region_covers

# What an overlay of two outlines that share a border leaves behind as numerical dust, in square
# degrees (about 0.1 m² at 30° N): an area below this is none.
DUST_DEG2 = 1e-11


def specificity(plan: Plan) -> tuple[int, int]:
    """Larger is more specific: the level first (township most), then the type at that level."""
    return (LEVELS.index(plan.level) if plan.level in LEVELS else 0, TYPE_RANK.get(plan.type, 0))


@dataclass(frozen=True)
class GoverningPart:
    """Where one plan governs a layer: its whole outline, or what more specific plans leave of it."""

    plan: Plan
    area: shapely.Geometry
    whole: bool

    @property
    def plan_id(self) -> str:
        return self.plan.id


def areal(geom: shapely.Geometry | None) -> shapely.Geometry:
    """The polygons of an overlay result bigger than dust (shared edges and slivers are no area)."""
    if geom is None or geom.is_empty:
        return shapely.MultiPolygon()
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > DUST_DEG2]
    if not parts:
        return shapely.MultiPolygon()
    return shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]


def _outline(plan: Plan) -> shapely.Geometry | None:
    g = plan.outline
    if g is None or g.is_empty:
        return None
    return g if g.is_valid else shapely.make_valid(g)


def governing_parts(plans: Iterable[Plan]) -> tuple[GoverningPart, ...]:
    """Where each of these plans governs, most specific first.

    ``plans``: the plans in force on one date that hold one layer. A plan governs its outline
    minus the outlines of the more specific ones; a plan left with no area governs nowhere and
    is not returned. Management records (``ACCUMULATING_TYPES``) all hold, each over its whole outline:
    a county's register and the province's do not govern each other's area.
    """
    by_rank: dict[tuple[int, int], list[tuple[Plan, shapely.Geometry]]] = {}
    out: list[GoverningPart] = []
    for p in plans:
        g = _outline(p)
        if g is not None and p.type in ACCUMULATING_TYPES:
            out.append(GoverningPart(p, g, True))
        elif g is not None:
            by_rank.setdefault(specificity(p), []).append((p, g))
    covered: shapely.Geometry | None = None
    for rank in sorted(by_rank, reverse=True):
        group = sorted(by_rank[rank], key=lambda pg: pg[0].id)
        for p, g in group:
            if covered is None or areal(shapely.intersection(g, covered)).is_empty:
                out.append(GoverningPart(p, g, True))
                continue
            rest = areal(shapely.difference(g, covered))
            if not rest.is_empty:
                out.append(GoverningPart(p, rest, False))
        union = shapely.union_all(np.asarray([g for _, g in group], dtype=object))
        covered = union if covered is None else shapely.union(covered, union)
    return tuple(out)


def coverage(parts: Sequence[GoverningPart]) -> shapely.Geometry:
    """Where some plan governs (the union of the parts)."""
    if not parts:
        return shapely.MultiPolygon()
    return shapely.union_all(np.asarray([p.area for p in parts], dtype=object))


def chain_at(point: shapely.Geometry, plans: Iterable[Plan]) -> list[Plan]:
    """The plans whose outline covers ``point``, most specific first (the governing one and those above it)."""
    found = [p for p in plans if (g := _outline(p)) is not None and shapely.covers(g, point)]
    return sorted(found, key=lambda p: (specificity(p), p.id), reverse=True)


def upper_candidates(plan: Plan, plans: Iterable[Plan]) -> list[Plan]:
    """The master plans above ``plan`` that cover its region: what it must transmit.

    A master plan answers to the master plans of the levels above; a special or detailed plan
    also to the master plan of its own level (相关专项规划、详细规划要服从总体规划).
    """
    if plan.type in ACCUMULATING_TYPES:
        return []  # records of approvals, supplies and cases follow no plan: nothing to transmit
    depth = LEVELS.index(plan.level) if plan.level in LEVELS else 0
    out = []
    for q in plans:
        if q.id == plan.id or q.type != "master" or q.drawer == plan.drawer or q.level not in LEVELS:
            continue
        dq = LEVELS.index(q.level)
        above = dq < depth or (dq == depth and plan.type != "master")
        if above and (q.level == "national" or region_covers(q.region, plan.region)):
            out.append(q)
    return out
