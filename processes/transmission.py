"""transmission-check (传导校核): a lower plan against the plan above it in the drawer hierarchy.

A county master plan against its city's, the city's against the province's: the upper plan's
ecological red line and permanent basic farmland inside the region are kept, the urban
development boundary stays within the upper plan's, the lower plan's totals meet the targets
of the upper plan's indicator table, and no planning zone contradicts the upper plan's zone.
The rules are data (config/transmission.yaml, config/indicators.yaml); the geometry is exact
(shapely) and the areas geodesic on CGCS2000, the same on both backends.

Which upper plans: the ``upper_plan_id`` input when given (any version, any status); else the upper
master plans in force on ``date`` (today by default) that cover the lower plan's region, each
layer taken from the one that governs each part of the region (``onemap.domain.governing``): a
county plan answers to its city's plan in force, and to the province's where the city plan holds
no such layer. A lower plan answers to the upper plans as they stand: the demo's 2022 county
plans, made under the city's 2021 plan, are held to its 2023 revision. Every finding cites the
upper plan it came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import shapely

from onemap.config.catalogue import Layer
from onemap.config.errors import ConfigError, InvalidInput, NotFound
from onemap.config.files import read_yaml
from onemap.config.indicators import INDICATORS_PATH, get_indicators
from onemap.config.settings import PACKAGE_DIR, Settings
from onemap.domain.dates import When, today
from onemap.domain.governing import areal, governing_parts, specificity, upper_candidates
from onemap.domain.plans import Plan
from onemap.domain.regions import region_covers
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.packages import region_feature
from onemap.providers.store import Store, get_store

from .base import OneMapProcessor, Output, RunContext, input_date
from .certificates import RECORDED_INPUT, archive, file_hashes, pinned_recorded, plan_entry, reference
from .overlay import to_geojson

RULES_PATH = PACKAGE_DIR / "transmission.yaml"
LEVELS = ("national", "province", "city", "county", "township")
RULES = ("kept", "within")
MAX_PLACES = 100  # places listed per check (the largest first); the count covers all
MAX_FEATURES = 20  # features listed per place
DUST_M2 = 0.01  # parts smaller than this are numerical dust of the overlay, not places
# the fields that name a feature in a place's list, where the layer has them
REF_FIELDS = ("BSM", "XZQDM", "HXBM", "HXMC", "BHPKBH", "GHFQDM", "GHFQMC")
NOT_DRAWN = {"zh": "本规划（专项或详细规划）不含此图层，不涉及该项传导。",
             "en": "This special or detailed plan does not draw this layer; nothing to transmit."}
NO_UPPER_LAYER = {"zh": "上位规划无此图层，未校核。", "en": "No upper plan holds this layer; nothing to check."}
VERDICT = {"pass": ("传导校核通过", "the plan transmits the upper plan"),
           "fail": ("传导校核不通过", "the plan does not transmit the upper plan")}

PLAN_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[0-9A-Za-z_.\-]+$"}


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_PATH) -> dict[str, Any]:
    """The rule file, checked for shape (layers are checked against the catalogue when run)."""
    rules = read_yaml(path, "transmission rules")
    if not isinstance(rules, dict) or rules.get("version") != 1:
        raise ConfigError(f"{Path(path).name}: expected 'version: 1'")
    for key in ("tolerance_m2", "control_lines", "indicators", "planning_zones"):
        if key not in rules:
            raise ConfigError(f"{Path(path).name}: '{key}' is missing")
    for rule in rules["control_lines"]:
        if rule.get("rule") not in RULES:
            raise ConfigError(f"transmission rule {rule.get('id')}: rule must be one of {', '.join(RULES)}")
        if "upper_levels" in rule and ("not_applicable" not in rule or set(rule["upper_levels"]) - set(LEVELS)):
            raise ConfigError(f"transmission rule {rule['id']}: upper_levels must be plan levels "
                              "and come with a not_applicable message")
    return rules


# ---- which plans ------------------------------------------------------------------------------------
@dataclass
class Pair:
    """The lower plan and the upper plans it is checked against, and why those."""

    lower: Plan
    uppers: list[Plan]  # most specific first
    basis: str  # input | in_force
    day: dt.date
    recorded: dt.datetime | None = None

    @property
    def upper(self) -> Plan:
        """The nearest upper plan (the one that sets the lower plan's targets, usually)."""
        return self.uppers[0]


def resolve(store: Store, plan_id: str, upper_plan_id: str | None, day: dt.date,
            recorded: dt.datetime | None = None) -> Pair:
    """The plans; 404 for an unknown id, 400 when there is no upper plan or it is not above."""
    lower = store.plan(plan_id, recorded)
    if lower is None:
        raise NotFound(f"no drawer entry {plan_id!r}")
    if lower.type == "survey":
        raise InvalidInput(f"{plan_id} is a land survey, not a plan: it has no upper plan to transmit")
    if upper_plan_id:
        upper = store.plan(upper_plan_id, recorded)
        if upper is None:
            raise NotFound(f"no drawer entry {upper_plan_id!r} (input 'upper_plan_id')")
        _check_above(lower, upper)
        return Pair(lower, [upper], "input", day, recorded)
    when = When.at(day)
    in_force = [p for p in store.plans(recorded).values() if p.in_force(when)]
    uppers = sorted(upper_candidates(lower, in_force), key=lambda p: (specificity(p), p.id), reverse=True)
    if not uppers:
        raise InvalidInput(f"{plan_id} has no upper plan: no master plan above the {lower.level} level covering "
                           f"{lower.region} is in force on {day}")
    return Pair(lower, uppers, "in_force", day, recorded)


def _check_above(lower: Plan, upper: Plan) -> None:
    if upper.type == "survey":
        raise InvalidInput(f"{upper.id} is a land survey, not a plan a lower plan transmits")
    if upper.level not in LEVELS or lower.level not in LEVELS or LEVELS.index(upper.level) > LEVELS.index(lower.level) \
            or (upper.level == lower.level and (upper.type != "master" or lower.type == "master")):
        raise InvalidInput(f"{upper.id} ({upper.level}) is not above {lower.id} ({lower.level}): "
                           "the upper plan must be of a higher level (or the master plan of a special or "
                           "detailed plan's own level)")
    if upper.level != "national" and not region_covers(upper.region, lower.region):
        raise InvalidInput(f"{upper.id} (region {upper.region}) does not cover {lower.id}'s region {lower.region}")


# ---- geometry ----------------------------------------------------------------------------------------
@dataclass
class Features:
    """Features of one layer (of one plan, or of the upper plans governing each part of a region):
    geometries, the plan each came from, and the columns that name them."""

    plan_ids: list[str]
    geoms: np.ndarray
    fids: list[int]
    columns: dict[str, list[Any]]
    _m2: float | None = field(default=None, init=False, repr=False)

    @property
    def m2(self) -> float:
        """Geodesic area of their union."""
        if self._m2 is None:
            self._m2 = _union_m2(self.geoms)
        return self._m2


# Dissolving a layer of a million-parcel region into one geometry takes minutes; the checks
# below work feature by feature instead, and a lower plan's feature that is an exact copy of
# an upper plan's (the usual case: lines are handed down) costs one hash lookup.
EMPTY = shapely.Polygon()


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The areal part of an overlay result (edges and corners two polygons share are no area)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    return shapely.union_all(parts) if parts else EMPTY


def _keys(geoms: np.ndarray) -> list[bytes]:
    return shapely.to_wkb(shapely.normalize(geoms)).tolist() if len(geoms) else []


def _uncovered(subject: np.ndarray, cover: np.ndarray) -> shapely.Geometry:
    """What of the subject features no cover feature covers (exact)."""
    known = set(_keys(cover))
    rest = [g for g, k in zip(subject, _keys(subject)) if k not in known]
    if not rest:
        return EMPTY
    if not len(cover):
        return _polygonal(shapely.union_all(rest))
    tree = shapely.STRtree(cover)
    pieces = []
    for g in rest:
        idx = tree.query(g, predicate="intersects")
        pieces.append(shapely.difference(g, shapely.union_all(cover[idx])) if len(idx) else g)
    return _polygonal(shapely.union_all(pieces))


def _inner_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) of features of ``a`` and ``b`` whose interiors meet (not just their edges)."""
    if not len(a) or not len(b):
        return np.empty(0, dtype=int), np.empty(0, dtype=int)
    i, j = shapely.STRtree(b).query(a, predicate="intersects")
    inner = ~shapely.touches(a[i], b[j]) if len(i) else np.empty(0, dtype=bool)
    return i[inner], j[inner]


def _overlap(a: np.ndarray, b: np.ndarray) -> shapely.Geometry:
    """Where features of ``a`` lie on features of ``b`` (exact, by pairs whose interiors meet)."""
    i, j = _inner_pairs(a, b)
    if not len(i):
        return EMPTY
    return _polygonal(shapely.union_all(shapely.intersection(a[i], b[j])))


def _union_m2(geoms: np.ndarray) -> float:
    """Geodesic area of the union: the sum, but features that overlap are dissolved first."""
    if not len(geoms):
        return 0.0
    areas = np.asarray(geodesic_area(geoms), dtype=float)
    i, j = _inner_pairs(geoms, geoms)
    keep = i < j
    i, j = i[keep], j[keep]
    if not len(i):
        return float(areas.sum())
    parent = list(range(len(geoms)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in zip(i.tolist(), j.tolist()):
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for k in sorted(set(i.tolist()) | set(j.tolist())):
        groups.setdefault(root(k), []).append(k)
    total = float(areas.sum())
    for members in groups.values():
        total += float(geodesic_area(shapely.union_all(geoms[members]))) - float(areas[members].sum())
    return total


def _ref_fields(layer: Layer) -> list[str]:
    return [n for n in REF_FIELDS if n in layer.field_map]


def _not_drawn(store: Store, pair: Pair, layer: Layer) -> bool:
    """A special or detailed plan that does not draw a layer has nothing of it to transmit (a master
    plan must hold its layers: a missing one is a dropped line, and the quality check requires them)."""
    return pair.lower.type != "master" and layer.id not in store.plan_layer_index().get(pair.lower.id, {})


def _lower_features(store: Store, layer: Layer, plan_id: str, cache: dict[str, Features]) -> Features:
    if layer.id not in cache:
        geoms, cols = store.geometries(layer, [plan_id], columns=_ref_fields(layer))
        cache[layer.id] = Features([plan_id] * len(geoms), np.asarray(geoms, dtype=object),
                                   [int(f) for f in cols["fid"]], {n: cols[n] for n in _ref_fields(layer)})
    return cache[layer.id]


def _cut_to(store: Store, layer: Layer, plan_id: str, scope: shapely.Geometry) -> Features:
    """One plan's features of the layer inside ``scope``: whole when inside (so that a lower plan's
    copy is recognised), cut at the scope's edge when they cross it."""
    names = _ref_fields(layer)
    geoms, cols = store.geometries(layer, [plan_id], bbox=scope.bounds, columns=names)
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return Features([], geoms, [], {n: [] for n in names})
    shapely.prepare(scope)
    inside = shapely.contains(scope, geoms)
    crossing = np.flatnonzero(~inside & shapely.intersects(scope, geoms))
    parts = geoms.copy()
    keep = inside.copy()
    if len(crossing):
        cut = np.asarray([_polygonal(g) for g in shapely.intersection(geoms[crossing], scope)], dtype=object)
        parts[crossing] = cut
        keep[crossing] = ~shapely.is_empty(cut)
    idx = np.flatnonzero(keep)
    return Features([plan_id] * len(idx), parts[idx], [int(cols["fid"][i]) for i in idx],
                    {n: [cols[n][i] for i in idx] for n in names})


def _upper_features(store: Store, layer: Layer, pair: Pair, region: shapely.Geometry,
                    levels: list[str] | None = None) -> tuple[Features, list[Plan]]:
    """The upper side of a layer inside the region: from the upper plan that governs each part of it
    (only plans of ``levels`` when given); and the plans it came from."""
    held = store.plan_layer_index()
    uppers = [p for p in pair.uppers if pair.basis == "input" or layer.id in held.get(p.id, {})]
    scopes: list[tuple[Plan, shapely.Geometry]] = []
    if pair.basis == "input":
        scopes = [(uppers[0], region)] if uppers else []
    else:
        for part in governing_parts(uppers):
            if levels is not None and part.plan.level not in levels:
                continue
            if part.whole and shapely.covers(part.area, region):
                scopes.append((part.plan, region))
                continue
            cut = areal(shapely.intersection(region, part.area))
            if not cut.is_empty:
                scopes.append((part.plan, cut))
    names = _ref_fields(layer)
    pieces = [_cut_to(store, layer, plan.id, scope) for plan, scope in scopes]
    if not pieces:
        return Features([], np.empty(0, dtype=object), [], {n: [] for n in names}), []
    geoms = np.concatenate([f.geoms for f in pieces]) if pieces else np.empty(0, dtype=object)
    return Features([pid for f in pieces for pid in f.plan_ids], np.asarray(geoms, dtype=object),
                    [fid for f in pieces for fid in f.fids],
                    {n: [v for f in pieces for v in f.columns[n]] for n in names}), [p for p, _ in scopes]


def _refs(f: Features, idx: np.ndarray, place: shapely.Geometry, with_touching: bool) -> list[dict[str, Any]]:
    """The features of ``f`` at a place: their ids, names and area inside the place."""
    out = []
    for i in idx.tolist():
        inside = shapely.intersection(f.geoms[i], place)
        m2 = float(geodesic_area(inside)) if not inside.is_empty else 0.0
        if m2 < DUST_M2 and not with_touching:
            continue
        item: dict[str, Any] = {"plan_id": f.plan_ids[i], "fid": f.fids[i]}
        for name, values in f.columns.items():
            item[name] = values[i]
        item["area_m2"] = round(m2, 2)
        out.append(item)
    out.sort(key=lambda x: -x["area_m2"])
    return out[:MAX_FEATURES]


def _places(diff: shapely.Geometry, upper: Features, lower: Features) -> tuple[int, list[dict[str, Any]]]:
    """The separate pieces of a difference, largest first, with the features of both plans there."""
    parts = [p for p in shapely.get_parts(diff) if p.geom_type == "Polygon" and not p.is_empty]
    if not parts:
        return 0, []
    m2 = geodesic_area(np.asarray(parts, dtype=object))
    order = [i for i in np.argsort(-m2, kind="stable").tolist() if m2[i] >= DUST_M2]
    trees = {id(f): shapely.STRtree(f.geoms) if len(f.geoms) else None for f in (upper, lower)}
    out = []
    for i in order[:MAX_PLACES]:
        part = parts[i]
        entry: dict[str, Any] = {"area": area_units(float(m2[i]))}
        pt = shapely.point_on_surface(part)
        entry["point"] = [round(pt.x, 7), round(pt.y, 7)]
        for key, f in (("upper_features", upper), ("lower_features", lower)):
            tree = trees[id(f)]
            idx = tree.query(part, predicate="intersects") if tree is not None else np.empty(0, dtype=int)
            # features merely touching the place name what was shrunk or cut there
            entry[key] = _refs(f, np.sort(idx), part, with_touching=True)
        entry["geometry"] = to_geojson(part)
        out.append(entry)
    return len(order), out


def _m2(geom: shapely.Geometry) -> float:
    """Geodesic area of a difference; below DUST_M2 it is the overlay's rounding, counted as none."""
    m2 = float(geodesic_area(geom)) if not geom.is_empty else 0.0
    return m2 if m2 >= DUST_M2 else 0.0


def _fmt(template: dict[str, str], **values: Any) -> dict[str, str]:
    return {lang: text.format(**values) for lang, text in template.items()}


def _area_values(m2: float, places: int) -> dict[str, Any]:
    a = area_units(m2)
    return {"m2": f"{a['m2']:.2f}", "ha": f"{a['ha']:.4f}", "mu": f"{a['mu']:.3f}", "places": places}


# ---- the checks ----------------------------------------------------------------------------------------
def _control_line(store: Store, rule: dict, pair: Pair, region: shapely.Geometry, tol: float,
                  cache: dict[str, Features]) -> dict[str, Any]:
    layer = store.catalogue.layers[rule["layer"]]
    base = {"id": rule["id"], "kind": rule["rule"], "layer": layer.id, "title": rule["title"],
            "requirement": rule["requirement"]}
    if _not_drawn(store, pair, layer):
        return base | {"result": "pass", "applicable": False, "area": area_units(0.0), "places_count": 0,
                       "places": [], "geometry": None, "upper_plans": [], "message": dict(NOT_DRAWN)}
    up, cited = _upper_features(store, layer, pair, region, rule.get("upper_levels"))
    base["upper_plans"] = [p.id for p in cited]
    if not cited:
        return base | {"result": "pass", "applicable": False, "area": area_units(0.0), "places_count": 0,
                       "places": [], "geometry": None,
                       "message": dict(rule["not_applicable"]) if "upper_levels" in rule else dict(NO_UPPER_LAYER)}
    lo = _lower_features(store, layer, pair.lower.id, cache)
    if rule["rule"] == "kept":
        diff = _uncovered(up.geoms, lo.geoms)
    else:
        diff = _uncovered(lo.geoms, up.geoms)
    m2 = _m2(diff)
    count, places = _places(diff, up, lo)
    result = "fail" if m2 > tol else "pass"
    return base | {
        "result": result, "applicable": True,
        "area": area_units(m2),
        "upper_area": area_units(up.m2),
        "lower_area": area_units(lo.m2),
        "upper_features": len(up.geoms), "lower_features": len(lo.geoms),
        "places_count": count, "places": places,
        "geometry": to_geojson(diff) if m2 > 0 else None,
        "message": _fmt(rule[result], **_area_values(m2, count)),
    }


def _indicator_checks(store: Store, rules: dict, pair: Pair, tol: float, cache: dict[str, Features]
                      ) -> list[dict[str, Any]]:
    ind = get_indicators()
    spec = rules["indicators"]
    if pair.lower.type != "master":  # indicator tables bind the master plans of the regions below
        return [{"id": "indicators", "kind": "indicator", "title": spec["title"], "requirement": spec["requirement"],
                 "result": "pass", "applicable": False, "area": area_units(0.0), "upper_plans": [],
                 "message": dict(spec["none"])}]
    # a lower plan's own features answer only the indicators measured on a plan layer; the survey's (耕地保有量,
    # 建设用地总规模...) are supervision's, judged on the survey in force (providers.indicators)
    order = {d.code: i for i, d in enumerate(ind.indicators) if d.layer is not None}
    # the targets of the nearest upper plan that sets any for this region
    targets, setter = [], None
    for upper in pair.uppers:
        targets = sorted((t for t in store.plan_indicators(upper.id)
                          if t.region == pair.lower.region and t.code in order and t.unit in ind.units),
                         key=lambda t: order[t.code])
        if targets:
            setter = upper
            break
    if not targets:
        return [{"id": "indicators", "kind": "indicator", "title": spec["title"], "requirement": spec["requirement"],
                 "result": "pass", "applicable": False, "area": area_units(0.0), "message": dict(spec["none"])}]
    out = []
    for t in targets:
        d = ind.by_code[t.code]
        assert d.layer is not None
        lo = _lower_features(store, store.catalogue.layers[d.layer], pair.lower.id, cache)
        total = lo.m2
        target = ind.m2(t.value, t.unit)
        gap = target - total if d.kind == "min" else total - target
        result = "fail" if gap > tol else "pass"
        per_unit = ind.units[t.unit]
        values = {"name": t.name or d.title["zh"], "name_en": d.title.get("en", d.code), "unit": t.unit,
                  "value": f"{total / per_unit:.4f}", "target": f"{t.value:.4f}".rstrip("0").rstrip("."), "gap": f"{max(gap, 0) / per_unit:.4f}"}
        out.append({
            "id": f"indicator_{t.code}", "kind": "indicator", "layer": d.layer,
            "upper_plans": [setter.id] if setter else [],
            "title": {"zh": f"指标：{values['name']}", "en": f"Indicator: {values['name_en']}"},
            "requirement": spec["requirement"], "result": result, "applicable": True,
            "indicator": {"code": t.code, "name": values["name"], "kind": d.kind, "unit": t.unit,
                          "target": t.value, "value": round(total / per_unit, 4),
                          "difference": round((total - target) / per_unit, 4), "region": t.region},
            "area": area_units(max(gap, 0.0)),
            "lower_area": area_units(total),
            "message": _fmt(spec[result][d.kind], **values),
        })
    return out


def _zones(store: Store, rules: dict, pair: Pair, region: shapely.Geometry, tol: float,
           cache: dict[str, Features]) -> dict[str, Any]:
    spec = rules["planning_zones"]
    base = {"id": spec["id"], "kind": "zones", "layer": "ghfq", "title": spec["title"],
            "requirement": spec["requirement"]}
    layer = store.catalogue.layers.get("ghfq")
    if layer is None or _not_drawn(store, pair, layer):
        return base | {"result": "pass", "applicable": False, "area": area_units(0.0), "message": dict(spec["none"])}
    up, cited = _upper_features(store, layer, pair, region)
    base["upper_plans"] = [p.id for p in cited]
    lo = _lower_features(store, layer, pair.lower.id, cache)
    if not len(up.geoms) or not len(lo.geoms):
        return base | {"result": "pass", "applicable": False, "area": area_units(0.0), "message": dict(spec["none"])}
    contradictions, conflicts = [], []
    up_names = np.asarray(up.columns["GHFQMC"], dtype=object)
    lo_names = np.asarray(lo.columns["GHFQMC"], dtype=object)
    for c in spec["contradictions"]:
        hit = _overlap(lo.geoms[np.isin(lo_names, c["lower"])], up.geoms[np.isin(up_names, c["upper"])])
        m2 = _m2(hit)
        contradictions.append({"id": c["id"], "title": c["title"], "lower_zones": c["lower"],
                               "upper_zones": c["upper"], "area": area_units(m2),
                               "geometry": to_geojson(hit) if m2 > 0 else None})
        if m2 > 0:
            conflicts.append(hit)
    total = shapely.union_all(conflicts) if conflicts else shapely.Polygon()
    m2 = _m2(total)
    count, places = _places(total, up, lo)
    result = "fail" if m2 > tol else "pass"
    message = _fmt(spec[result], **_area_values(m2, count))
    if result == "fail":
        bad = [c for c in contradictions if c["area"]["m2"] > 0]
        message = {"zh": message["zh"] + "；".join(c["title"]["zh"] for c in bad) + "。",
                   "en": message["en"] + " " + "; ".join(c["title"]["en"] for c in bad) + "."}
    return base | {"result": result, "applicable": True, "area": area_units(m2), "contradictions": contradictions,
                   "places_count": count, "places": places,
                   "geometry": to_geojson(total) if m2 > 0 else None, "message": message}


# ---- the whole check -------------------------------------------------------------------------------------
def _plan_info(p: Plan) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "region": p.region, "level": p.level, "type": p.type,
            "subject": p.subject, "version": p.version, "status": p.status, "approval_no": p.approval_no,
            "valid_from": p.valid_from.isoformat() if p.valid_from else None,
            "valid_to": p.valid_to.isoformat() if p.valid_to else None}


def _region(store: Store, lower: Plan) -> tuple[shapely.Geometry, str]:
    found = region_feature(store, lower.region)
    geom = lower.outline if lower.outline is not None else (found[0] if found else None)
    if geom is None or geom.is_empty:
        raise InvalidInput(f"the region of {lower.id} ({lower.region}) is not known: no outline and no land survey")
    return geom, found[1] if found else lower.region


def transmission(ctx: RunContext, plan_id: str, upper_plan_id: str | None, tolerance_m2: float | None,
                 day: dt.date | None = None, recorded: dt.datetime | None = None) -> dict[str, Any]:
    """Every check of the rules against the upper plans in force on ``day``, and the overall verdict."""
    rules = load_rules()
    store = ctx.store
    for rule in rules["control_lines"]:
        if rule["layer"] not in store.catalogue.layers:
            raise ConfigError(f"transmission rule {rule['id']}: no layer {rule['layer']!r} in the catalogue")
    tol = float(rules["tolerance_m2"] if tolerance_m2 is None else tolerance_m2)
    ctx.progress(5, "finding the upper plans")
    day = day or today(ctx.settings.timezone)
    pair = resolve(store, plan_id, upper_plan_id, day, recorded)
    region, region_name = _region(store, pair.lower)
    cache: dict[str, Features] = {}
    checks = []
    n = len(rules["control_lines"]) + 2
    for i, rule in enumerate(rules["control_lines"]):
        ctx.progress(10 + 80 * i // n, f"checking {rule['id']}")
        checks.append(_control_line(store, rule, pair, region, tol, cache))
    ctx.progress(10 + 80 * (n - 2) // n, "checking the indicators")
    checks += _indicator_checks(store, rules, pair, tol, cache)
    ctx.progress(10 + 80 * (n - 1) // n, "checking the planning zones")
    checks.append(_zones(store, rules, pair, region, tol, cache))
    worst = "fail" if any(c["result"] == "fail" for c in checks) else "pass"
    reasons = [{"check": c["id"], "result": c["result"], "zh": c["message"]["zh"], "en": c["message"]["en"]}
               for c in checks if c["result"] != "pass"]
    used = {pid for c in checks for pid in c.get("upper_plans", [])}
    return {
        "process": "transmission-check",
        "date": day.isoformat(),
        "recorded": recorded.isoformat() if recorded else None,
        "lower_plan": _plan_info(pair.lower),
        "upper_plan": _plan_info(pair.upper) | {"basis": pair.basis, "recorded": pair.lower.upper_plan_id},
        "upper_plans": [_plan_info(p) | {"used": p.id in used} for p in pair.uppers],
        "region": {"code": pair.lower.region, "name": region_name,
                   "area": area_units(float(geodesic_area(region)))},
        "tolerance_m2": tol,
        "checks": checks,
        "overall": {
            "result": worst,
            "zh": f"综合结论：{VERDICT[worst][0]}。" + "".join(r["zh"] for r in reasons),
            "en": f"Overall: {VERDICT[worst][1]}. " + " ".join(r["en"] for r in reasons),
            "reasons": reasons,
        },
    }


class TransmissionCheckProcessor(OneMapProcessor):
    """传导校核 / transmission check of a lower plan against its upper plan."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "transmission-check",
        "title": {"zh": "规划传导校核", "en": "Plan transmission check"},
        "description": {
            "zh": "校核下级国土空间规划对上位规划的传导落实：生态保护红线、永久基本农田不缩减，城镇开发边界不超出"
                  "上位规划，指标满足上位规划下达值，规划分区不冲突；逐项给出结论、面积（平方米、公顷、亩）、"
                  "差异位置（图形及两级规划的要素标识码）及综合结论。",
            "en": "Checks that a lower-level plan transmits the plan above it: the upper plan's ecological red line "
                  "and permanent basic farmland are kept, the urban development boundary stays within the upper "
                  "plan's, the lower plan's totals meet the upper plan's targets and no planning zone contradicts "
                  "the upper plan's; each check gives its verdict, areas and the places that differ (geometry and "
                  "the feature ids of both plans), with an overall verdict.",
        },
        "keywords": ["传导校核", "transmission", "三区三线", "规划指标"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "plan_id": {
                "title": "下级规划 / Lower plan",
                "description": "The drawer entry to check (any status), e.g. 990121-county-master-2022.",
                "schema": PLAN_ID_SCHEMA,
                "minOccurs": 1, "maxOccurs": 1,
            },
            "upper_plan_id": {
                "title": "上位规划 / Upper plan",
                "description": "One plan to check against (any version, any status). Default: the upper master "
                               "plans in force on the date, each layer from the one governing each part of the "
                               "region.",
                "schema": PLAN_ID_SCHEMA,
                "minOccurs": 0, "maxOccurs": 1,
            },
            "date": {
                "title": "校核日期 / Date",
                "description": "Check against the upper plans in force on this date (YYYY-MM-DD); today by default.",
                "schema": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "recorded": RECORDED_INPUT,
            "tolerance_m2": {
                "title": "容差（平方米） / Tolerance (m²)",
                "description": "A check fails when its area exceeds this; default from config/transmission.yaml.",
                "schema": {"type": "number", "minimum": 0, "maximum": 1_000_000},
                "minOccurs": 0, "maxOccurs": 1,
            },
        },
        "outputs": {
            "result": {
                "title": "校核结果 / Check result",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            },
            "report": {
                "title": "校核报告（可打印） / Printable report",
                "schema": {"type": "string", "contentMediaType": "text/html"},
                "default": False,
            },
        },
        "example": {"inputs": {"plan_id": "990121-county-master-2022"}},
    }

    def __init__(self, processor_def: dict, process_metadata: dict | None = None) -> None:
        super().__init__(processor_def, process_metadata)
        # a broken rule or indicator file stops the server at start-up, not a request later
        load_rules()
        get_indicators()

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        """Before anything is queued: the plans exist and the upper ones are above the lower one."""
        store = store or get_store(settings.store_url)
        recorded = pinned_recorded(inputs.get("recorded"), settings.timezone)
        resolve(store, inputs["plan_id"], inputs.get("upper_plan_id"), input_date(inputs, settings), recorded)

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        recorded = pinned_recorded(inputs.get("recorded"), ctx.settings.timezone)
        result = transmission(ctx, inputs["plan_id"], inputs.get("upper_plan_id"), inputs.get("tolerance_m2"),
                              input_date(inputs, ctx.settings), recorded)
        ref = result["certificate"] = reference(ctx, self.id)
        ctx.progress(92, "writing the report")
        html = transmission_html(ctx, result)
        lower = ctx.store.plan(inputs["plan_id"], recorded)
        uppers = [ctx.store.plan(u["id"], recorded) for u in result["upper_plans"]]
        plans = [plan_entry(lower, "subject")] if lower is not None else []
        plans += [plan_entry(u, "upper") for u in uppers if u is not None]
        archive(ctx, ref, self.id, {k: v for k, v in inputs.items() if k not in ("date", "recorded")},
                date=result["date"], recorded=recorded, plans=plans,
                rules=file_hashes([RULES_PATH, INDICATORS_PATH]), result=result, subject_plan_id=inputs["plan_id"],
                html=html)
        out: dict[str, Output] = {}
        if "result" in outputs:
            out["result"] = Output("application/json", result)
        if "report" in outputs:
            out["report"] = Output("text/html", html)
        return out



def transmission_html(ctx: RunContext, result: dict[str, Any]) -> str:
    """The printable report: the region, what differs, every check."""
    import base64

    from .report import _env, map_png

    pair_region = ctx.store.plan(result["lower_plan"]["id"])
    region = pair_region.outline if pair_region is not None and pair_region.outline is not None else None
    if region is None:
        found = region_feature(ctx.store, result["region"]["code"])
        region = found[0] if found else None
    conflicts: dict[str, shapely.Geometry] = {}
    for c in result["checks"]:
        if c["result"] == "fail" and c.get("geometry"):
            conflicts[c["id"]] = shapely.geometry.shape(c["geometry"])
    png: bytes = b""
    legend: list[dict[str, str]] = []
    if region is not None:
        png, legend = map_png(ctx, region, conflicts, When.at(dt.date.fromisoformat(result["date"])))
        # map_png labels its layers for compliance review: name them after these checks
        titles = {c["id"]: f"{c['title']['zh']} {c['title']['en']}" for c in result["checks"]}
        drawn = [cid for cid, g in conflicts.items() if not g.is_empty]
        for item, cid in zip(legend, drawn):
            item["label"] = titles[cid]
        if legend:
            legend[-1]["label"] = "行政区范围 region"
    return _env.get_template("transmission_report.html").render(
        r=result, map_png=base64.b64encode(png).decode() if png else None, legend=legend,
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
