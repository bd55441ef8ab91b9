"""对比分析: two states of one layer of the one map, compared place by place and feature by feature.

A state is the one map on a date (the plans governing each place then, ``view=governing``) or one drawer
entry (a plan id). Each state's features are read as the items API gives them: the database selects the
drawer entries, cuts each feature to where its plan governs and to the box of the area; the exact cut to
the area and the overlay are shapely's, and every area is geodesic on CGCS2000.

What the summary means, for a place (a point of the plane):

- **added**: covered by a feature in ``to`` and by none in ``from``;
- **removed**: covered in ``from`` and not in ``to``;
- **changed**: covered in both, by a ``from`` feature and a ``to`` feature whose codes (``field``) differ.

The transition matrix gives, for each pair of codes, the area covered in ``from`` by a feature of the first
and in ``to`` by a feature of the second (``None`` on one side: added or removed). A layer's features do not
overlap within one plan; where a state overlaps itself anyway, each pair of overlapping features counts.

Features are told apart across the two states by ``identity_key`` (the national specification's 标识码 BSM,
else the geometry itself): a feature of ``to`` whose key ``from`` lacks is added, and so on. A feature the
two states hold identically (same geometry, same code) costs a dictionary look-up: only the others are
overlaid.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidParameterValue, NotFound, PayloadTooLarge
from onemap.domain.dates import When
from onemap.domain.governing import DUST_DEG2
from onemap.domain.plans import PUBLIC_STATES

from .drawers import resolve_plans
from .geometry import area_units, geodesic_area
from .store.base import FeatureQuery, Store

IDENTITY_FIELD = "BSM"  # 标识码: the specification's feature identifier, kept by a feature across versions
MAX_FEATURES = 200_000  # features of one state; a larger comparison is asked for a smaller area
# attributes that are not the feature's own: the drawer it is in, areas that follow the geometry
NOT_COMPARED = frozenset({"plan_id", "plan_region", "plan_level", "plan_type", "plan_subject", "plan_version"})


@dataclass(frozen=True)
class State:
    """One side of a comparison: the one map governing on ``day``, or the drawer entry ``plan_id``."""

    given: str
    day: dt.date | None
    plan_id: str | None
    plan_ids: tuple[str, ...]
    clip: dict[str, shapely.Geometry] | None = None

    def describe(self) -> dict[str, Any]:
        if self.plan_id is not None:
            return {"plan_id": self.plan_id, "plans": list(self.plan_ids)}
        assert self.day is not None
        return {"date": self.day.isoformat(), "view": "governing", "plans": list(self.plan_ids)}


@dataclass
class Features:
    """One state's features cut to the area: ids, plans, properties, geometries and their codes."""

    fids: list[int]
    props: list[dict[str, Any]]
    geoms: np.ndarray
    codes: list[Any]
    wkb: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.fids)


def code_field(layer: Layer, name: str | None = None) -> str | None:
    """The field a comparison's transitions are keyed on: ``name`` (a queryable field of the layer), else the
    layer's first coded field (DLBM of the survey, GHFQDM of the zones), not counting a field that only says
    which code table another uses (YDYHBB); None for a layer with no coded field."""
    own = [f for f in layer.fields if f.queryable]
    if name is not None:
        if name not in {f.name for f in own}:
            raise InvalidParameterValue(f"field: {layer.id} has no field {name!r}; one of "
                                        f"{', '.join(f.name for f in own)}")
        return name
    editions = {ref for f in layer.fields for ref in _template_refs(f.code_table)}
    return next((f.name for f in own if f.code_table and f.name not in editions), None)


def _template_refs(table: str | None) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", table or "")


def label_field(layer: Layer, name: str | None) -> str | None:
    f = layer.field_map.get(name) if name else None
    return f.label_field if f is not None else None


def state(store: Store, layer: Layer, given: str, day: dt.date | None, plan_id: str | None,
          unfiled: bool) -> State:
    """A side's drawer entries: the plans governing on ``day`` (each where it governs) or the entry ``plan_id``
    (404 when there is none this caller may see; 400 when it holds no features of this layer's kind)."""
    if plan_id is not None:
        plan = store.plan(plan_id)
        if plan is None or (not unfiled and plan.status not in PUBLIC_STATES):
            raise NotFound(f"no drawer entry {plan_id!r}")
        if plan.type not in layer.drawer_types:
            raise InvalidParameterValue(f"{plan_id} is a {plan.type} entry; {layer.id} is kept in "
                                        f"{', '.join(layer.drawer_types)} entries")
        return State(given, None, plan_id, (plan_id,))
    assert day is not None
    sel = resolve_plans(store, layer, When.at(day), None, None, view="governing")
    return State(given, day, None, sel.plan_ids, sel.clip)


def read_state(store: Store, layer: Layer, st: State, area: shapely.Geometry | None, code: str | None) -> Features:
    """The features of a state as the items API gives them (cut where their plan governs), cut to ``area``."""
    bbox = tuple(float(v) for v in area.bounds) if area is not None else None
    q = FeatureQuery(layer=layer, plan_ids=st.plan_ids, bbox=bbox, clip=st.clip,  # type: ignore[arg-type]
                     limit=MAX_FEATURES + 1, count=False)
    page = store.query(q)
    if len(page.fids) > MAX_FEATURES:
        raise PayloadTooLarge(f"{st.given} holds more than {MAX_FEATURES:,} features of {layer.id} in the area: "
                              "compare a smaller area")
    geoms = shapely.from_wkb(page.wkb) if page.wkb else np.empty(0, dtype=object)
    keep = np.ones(len(geoms), dtype=bool)
    if len(geoms):
        bad = ~shapely.is_valid(geoms)
        if bad.any():
            geoms[bad] = shapely.make_valid(geoms[bad])
        if area is not None:
            shapely.prepare(area)
            inside = shapely.covers(area, geoms)
            cut = np.flatnonzero(~inside)
            if len(cut):
                geoms[cut] = [_areal(g) for g in shapely.intersection(geoms[cut], area)]
        keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > DUST_DEG2)
    idx = np.flatnonzero(keep)
    geoms = geoms[idx]
    props = [page.properties[i] for i in idx]
    return Features(fids=[page.fids[i] for i in idx], props=props, geoms=geoms,
                    codes=[p.get(code) if code else None for p in props],
                    wkb=list(shapely.to_wkb(geoms)) if len(geoms) else [])


def _areal(g: shapely.Geometry) -> shapely.Geometry:
    """The polygons of an overlay result (shared edges and points are no area), as one geometry."""
    if g is None or g.is_empty:
        return shapely.MultiPolygon()
    if shapely.get_type_id(g) in (3, 6):
        return g
    parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    if not polys:
        return shapely.MultiPolygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def identity_key(layer: Layer, props: dict[str, Any], wkb: bytes) -> tuple[str, Any]:
    """What makes two versions the same feature: its BSM where the layer has the field and the feature a value,
    else its exact geometry (a feature without a BSM is followed only while it does not move)."""
    if IDENTITY_FIELD in layer.field_map:
        value = props.get(IDENTITY_FIELD)
        if value not in (None, ""):
            return (IDENTITY_FIELD, value)
    return ("geometry", wkb)


def attributes(layer: Layer, props: dict[str, Any]) -> dict[str, Any]:
    """A feature's own attributes (not the drawer it is kept in)."""
    return {f.name: props.get(f.name) for f in layer.fields if f.name not in NOT_COMPARED}


@dataclass
class Comparison:
    """The answer: summary areas, transitions, feature changes and the change pieces."""

    summary: dict[str, Any]
    transitions: list[dict[str, Any]]
    features: dict[str, Any]
    pieces: list[dict[str, Any]]  # {"change", "from", "to", "geometry" (shapely), "m2", fids, labels}


def compare(layer: Layer, a: Features, b: Features, code: str | None, progress: Any = None) -> Comparison:
    """``a`` (from) against ``b`` (to), as the module docstring defines the figures."""
    tick = progress or (lambda p, m: None)
    same_geom = {w: i for i, w in enumerate(b.wkb)}
    ident_a = np.full(len(a), -1)  # the b feature with exactly this geometry
    for i, w in enumerate(a.wkb):
        ident_a[i] = same_geom.get(w, -1)
    ident_b = np.full(len(b), -1)
    for i, j in enumerate(ident_a.tolist()):
        if j >= 0:
            ident_b[j] = i
    tick(40, "overlaying")
    # pairs of a and b features whose interiors may meet
    if len(a) and len(b):
        tree = shapely.STRtree(b.geoms)
        ai, bi = tree.query(a.geoms, predicate="intersects")
    else:
        ai = bi = np.empty(0, dtype=np.int64)
    identical = ident_a[ai] == bi
    other = np.flatnonzero(~identical)
    pieces = np.empty(len(ai), dtype=object)
    pieces[identical] = a.geoms[ai[identical]]
    if len(other):
        # neighbours that only share an edge have no area in common: a relate costs less than an overlay
        meet = other[~shapely.touches(a.geoms[ai[other]], b.geoms[bi[other]])]
        pieces[meet] = shapely.intersection(a.geoms[ai[meet]], b.geoms[bi[meet]])
    with np.errstate(invalid="ignore"):  # the pairs left out are None: no area
        real = shapely.area(pieces) > DUST_DEG2 if len(pieces) else np.zeros(0, bool)
    ai, bi, pieces = ai[real], bi[real], pieces[real]
    cut = np.flatnonzero(~identical[real])
    if len(cut):
        pieces[cut] = [_areal(g) for g in pieces[cut]]

    tick(60, "measuring")
    label = label_field(layer, code)
    out_pieces: list[dict[str, Any]] = []
    cells: dict[tuple[Any, Any], list[shapely.Geometry]] = defaultdict(list)
    labels: dict[Any, Any] = {}
    for feats in (a, b):
        for c, p in zip(feats.codes, feats.props):
            if label and c not in labels:
                labels[c] = p.get(label)
    changed_geoms: list[shapely.Geometry] = []
    for i, j, g in zip(ai.tolist(), bi.tolist(), pieces):
        ca, cb = a.codes[i], b.codes[j]
        cells[(ca, cb)].append(g)
        if ca != cb:
            changed_geoms.append(g)
            out_pieces.append({"change": "changed", "from": ca, "to": cb, "geometry": g,
                               "from_fid": a.fids[i], "to_fid": b.fids[j]})
    added = _uncovered(b, a, bi, ai, ident_b)
    removed = _uncovered(a, b, ai, bi, ident_a)
    for j, g in added:
        cells[(None, b.codes[j])].append(g)
        out_pieces.append({"change": "added", "from": None, "to": b.codes[j], "geometry": g, "from_fid": None,
                           "to_fid": b.fids[j]})
    for i, g in removed:
        cells[(a.codes[i], None)].append(g)
        out_pieces.append({"change": "removed", "from": a.codes[i], "to": None, "geometry": g,
                           "from_fid": a.fids[i], "to_fid": None})
    if out_pieces:
        for piece, m2 in zip(out_pieces, geodesic_area([p["geometry"] for p in out_pieces]).tolist()):
            piece["m2"] = round(m2, 2)
    transitions = []
    for (ca, cb), geoms in sorted(cells.items(), key=lambda kv: (_order(kv[0][0]), _order(kv[0][1]))):
        m2 = _union_m2(geoms)
        if m2 <= 0:
            continue
        row: dict[str, Any] = {"from": ca, "to": cb}
        if label:
            row["from_label"], row["to_label"] = labels.get(ca) if ca is not None else None, \
                labels.get(cb) if cb is not None else None
        transitions.append(row | area_units(m2))
    summary = {f"{k}_{unit}": v for k, geoms in (("added", [g for _, g in added]), ("removed", [g for _, g in removed]),
                                                 ("changed", changed_geoms))
               for unit, v in area_units(_union_m2(geoms)).items()}
    tick(80, "matching features")
    return Comparison(summary, transitions, feature_changes(layer, a, b), out_pieces)


def _order(code: Any) -> tuple[int, str]:
    return (1, "") if code is None else (0, str(code))


def _uncovered(x: Features, y: Features, xi: np.ndarray, yi: np.ndarray, ident: np.ndarray
               ) -> list[tuple[int, shapely.Geometry]]:
    """Each feature of ``x``'s part covered by no feature of ``y`` (``xi``/``yi``: the pairs that meet)."""
    meets: dict[int, list[int]] = defaultdict(list)
    for i, j in zip(xi.tolist(), yi.tolist()):
        meets[i].append(j)
    out = []
    for i in range(len(x)):
        if ident[i] >= 0:
            continue  # y holds the very same geometry
        others = meets.get(i)
        rest = x.geoms[i] if not others else _areal(shapely.difference(
            x.geoms[i], shapely.union_all(y.geoms[others])))
        if not rest.is_empty and rest.area > DUST_DEG2:
            out.append((i, rest))
    return out


def _union_m2(geoms: Sequence[shapely.Geometry]) -> float:
    """The geodesic area of the union (pieces of one cell may overlap where a state overlaps itself)."""
    if not geoms:
        return 0.0
    if len(geoms) == 1:
        return float(geodesic_area(geoms[0]))
    arr = np.asarray(geoms, dtype=object)
    # a union is needed only where pieces overlap: their summed area then exceeds the union's
    total = float(geodesic_area(arr).sum())
    tree = shapely.STRtree(arr)
    l, r = tree.query(arr, predicate="overlaps")
    if not np.any(l != r):
        within_l, within_r = tree.query(arr, predicate="contains")
        if not np.any(within_l != within_r):
            return total
    return float(geodesic_area(_areal(shapely.union_all(arr))))


def feature_changes(layer: Layer, a: Features, b: Features) -> dict[str, Any]:
    """Features added, removed and changed between the states, told apart by ``identity_key``."""
    def grouped(f: Features) -> dict[tuple[str, Any], list[int]]:
        out: dict[tuple[str, Any], list[int]] = defaultdict(list)
        for i, (p, w) in enumerate(zip(f.props, f.wkb)):
            out[identity_key(layer, p, w)].append(i)
        return out

    ga, gb = grouped(a), grouped(b)
    added = [_feature(layer, b, gb[k]) for k in gb if k not in ga]
    removed = [_feature(layer, a, ga[k]) for k in ga if k not in gb]
    changed, unchanged = [], 0
    for k in ga:
        if k not in gb:
            continue
        ia, ib = ga[k], gb[k]
        attrs_a, attrs_b = attributes(layer, a.props[ia[0]]), attributes(layer, b.props[ib[0]])
        diff = sorted(n for n in attrs_a if attrs_a[n] != attrs_b[n])
        geom_a = a.geoms[ia[0]] if len(ia) == 1 else shapely.union_all(a.geoms[ia])
        geom_b = b.geoms[ib[0]] if len(ib) == 1 else shapely.union_all(b.geoms[ib])
        moved = not (sorted(a.wkb[i] for i in ia) == sorted(b.wkb[i] for i in ib)
                     or bool(shapely.equals(geom_a, geom_b)))
        if not diff and not moved:
            unchanged += 1
            continue
        changed.append({"key": _key_doc(k), "from_fid": a.fids[ia[0]], "to_fid": b.fids[ib[0]],
                        "geometry_changed": moved, "attributes_changed": diff,
                        "from": {n: attrs_a[n] for n in diff}, "to": {n: attrs_b[n] for n in diff}})
    return {"identity": f"{IDENTITY_FIELD}, else the geometry" if IDENTITY_FIELD in layer.field_map else "geometry",
            "counts": {"added": len(added), "removed": len(removed), "changed": len(changed),
                       "unchanged": unchanged},
            "added": added, "removed": removed, "changed": changed}


def _key_doc(k: tuple[str, Any]) -> dict[str, Any]:
    return {IDENTITY_FIELD: k[1]} if k[0] == IDENTITY_FIELD else {"geometry": "the same geometry"}


def _feature(layer: Layer, f: Features, idx: list[int]) -> dict[str, Any]:
    p = f.props[idx[0]]
    return {"key": _key_doc(identity_key(layer, p, f.wkb[idx[0]])), "fid": f.fids[idx[0]], "plan_id": p.get("plan_id"),
            "properties": attributes(layer, p)}


__all__ = ["MAX_FEATURES", "Comparison", "Features", "State", "code_field", "compare", "identity_key",
           "read_state", "state"]
