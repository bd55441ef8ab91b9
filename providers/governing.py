"""Which plan governs here, answered for places: the governing plan of each layer, the chain of
plans above it, what each says at the place, and where levels contradict each other.

The resolution itself is ``onemap.domain.governing`` (through ``Store.governing``); this module
reads the features at the places and compares what the plans of the chain say there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import Layer
from onemap.config.errors import OneMapError
from onemap.domain.dates import When
from onemap.domain.governing import areal, specificity
from onemap.domain.plans import Plan

from .geometry import area_units, geodesic_area
from .store.base import Store

MAX_POINTS = 10_000


def citation(plan: Plan) -> dict[str, Any]:
    """How an answer names a plan: id, level, type, subject, version, approval number, title."""
    return {"plan_id": plan.id, "title": plan.title, "region": plan.region, "level": plan.level, "type": plan.type,
            "subject": plan.subject, "version": plan.version, "approval_no": plan.approval_no,
            "valid_from": plan.valid_from.isoformat() if plan.valid_from else None}


def _key_field(layer: Layer) -> tuple[str, str | None] | None:
    """The coded field (and its label field) a layer's features are told apart by (zone, land class)."""
    for f in layer.fields:
        if f.code_table and f.name not in ("YDYHBB",):
            return f.name, f.label_field
    return None


def _holding(store: Store, layer: Layer, day: dt.date, recorded: dt.datetime | None) -> list[Plan]:
    held = store.plan_layer_index()
    when = When.at(day)
    return [p for p in store.plans(recorded).values()
            if p.type in layer.drawer_types and layer.id in held.get(p.id, {}) and p.in_force(when)
            and p.outline is not None]


def _answers(store: Store, layer: Layer, plan: Plan, points: np.ndarray, idx: np.ndarray
             ) -> dict[int, dict[str, Any]]:
    """What ``plan`` says at each point of ``idx``: inside one of its features or not, and its code there."""
    key = _key_field(layer)
    cols = [key[0]] + ([key[1]] if key[1] else []) if key else []
    x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(points[idx]))
    eps = 1e-9
    geoms, values = store.geometries(layer, [plan.id], bbox=(x0 - eps, y0 - eps, x1 + eps, y1 + eps), columns=cols)
    out: dict[int, dict[str, Any]] = {int(i): {"inside": False} for i in idx}
    if len(geoms):
        tree = shapely.STRtree(np.asarray(geoms, dtype=object))
        pi, fi = tree.query(points[idx], predicate="intersects")
        for a, b in zip(pi.tolist(), fi.tolist()):
            i = int(idx[a])
            if out[i]["inside"]:
                continue
            ans: dict[str, Any] = {"inside": True, "fid": int(values["fid"][b])}
            if key:
                ans[key[0]] = values[key[0]][b]
                if key[1]:
                    ans[key[1]] = values[key[1]][b]
            out[i] = ans
    return out


def _same(a: dict[str, Any], b: dict[str, Any], layer: Layer) -> bool:
    if a["inside"] != b["inside"]:
        return False
    key = _key_field(layer)
    return not (a["inside"] and key and a.get(key[0]) != b.get(key[0]))


def at_points(store: Store, points: Sequence[shapely.Geometry], day: dt.date, recorded: dt.datetime | None,
              layers: Sequence[Layer]) -> list[dict[str, Any]]:
    """For each point, per layer: the governing plan, the chain above it, the answers and contradictions."""
    pts = np.asarray(points, dtype=object)
    answers: list[dict[str, Any]] = [{"point": [round(p.x, 9), round(p.y, 9)], "layers": []} for p in pts]
    covers: dict[str, np.ndarray] = {}  # plan id -> which points its outline covers (one test per plan)

    def covered_by(plan: Plan) -> np.ndarray:
        if plan.id not in covers:
            outline = plan.outline
            if outline is None:  # _holding keeps only plans with an outline
                raise OneMapError(f"{plan.id} has no outline")
            outline = outline if outline.is_valid else shapely.make_valid(outline)
            shapely.prepare(outline)
            covers[plan.id] = shapely.covers(outline, pts)
        return covers[plan.id]

    for layer in layers:
        parts = store.governing(layer, day, recorded)
        holding = sorted(_holding(store, layer, day, recorded), key=lambda p: (specificity(p), p.id), reverse=True)
        plans = {p.id: p for p in holding}
        gov_of: dict[int, list[str]] = {i: [] for i in range(len(pts))}
        for part in parts:
            area = part.area
            shapely.prepare(area)
            for i in np.flatnonzero(shapely.covers(area, pts)).tolist():
                gov_of[i].append(part.plan_id)
        matrix = {p.id: covered_by(p) for p in holding}
        # what every plan says at the points its outline covers: one feature read per plan
        said = {pid: _answers(store, layer, plans[pid], pts, np.flatnonzero(m)) for pid, m in matrix.items()
                if m.any()}
        for i in range(len(pts)):
            governing = [plans[pid] for pid in sorted(set(gov_of[i]))]
            entry: dict[str, Any] = {"layer": layer.id, "title": dict(layer.title)}
            if not governing:
                entry |= {"status": "undetermined", "governing": [], "chain": [], "contradictions": []}
                answers[i]["layers"].append(entry)
                continue
            gov_ids = {p.id for p in governing}
            top = max(specificity(p) for p in governing)
            above = [p for p in holding if matrix[p.id][i] and p.id not in gov_ids and specificity(p) < top]
            gov_answers = [said[p.id][i] | {"plan_id": p.id} for p in governing]
            contradictions = []
            # plans of several levels can contradict each other; surveys and region boundaries cannot
            for p in (above if layer.category in ("planning", "control_line") else []):
                theirs = said[p.id][i]
                if not any(_same(theirs, g, layer) for g in gov_answers):
                    contradictions.append({"plan_id": p.id, "level": p.level, "type": p.type, "says": theirs,
                                           "governing_says": gov_answers[0]})
            entry |= {
                "status": "governed",
                "governing": [citation(p) | {"says": said[p.id][i]} for p in governing],
                "chain": [citation(p) | {"says": said[p.id][i]} for p in above],
                "contradictions": contradictions,
            }
            answers[i]["layers"].append(entry)
    return answers


def over_area(store: Store, geom: shapely.Geometry, day: dt.date, recorded: dt.datetime | None,
              layers: Sequence[Layer]) -> list[dict[str, Any]]:
    """Per layer: the plans governing parts of an area, with their share of it, and what none governs."""
    total = float(geodesic_area(geom)) or 1.0
    shapely.prepare(geom)
    out = []
    for layer in layers:
        parts = store.governing(layer, day, recorded)
        governing, covered = [], []
        for part in parts:
            if not shapely.intersects(geom, part.area):
                continue
            cut = geom if shapely.covers(part.area, geom) else areal(shapely.intersection(geom, part.area))
            if cut.is_empty:
                continue
            m2 = float(geodesic_area(cut))
            governing.append(citation(part.plan) | {"area": area_units(m2) | {"share": round(m2 / total, 6)}})
            covered.append(cut)
        rest = areal(shapely.difference(geom, shapely.union_all(covered))) if covered else geom
        rest_m2 = float(geodesic_area(rest)) if not rest.is_empty else 0.0
        out.append({"layer": layer.id, "title": dict(layer.title),
                    "status": "governed" if rest_m2 <= 0.01 else ("partly" if governing else "undetermined"),
                    "governing": governing,
                    "uncovered": area_units(rest_m2 if rest_m2 > 0.01 else 0.0)})
    return out


__all__ = ["MAX_POINTS", "at_points", "citation", "over_area"]
