"""A feature's history: every drawer entry it appears in, in order, and what changed from version to version.

"The same feature" in two drawer entries is recognised by ``providers.compare.identity_key``: the national
specification's 标识码 (BSM), which a feature keeps from one version of a plan or survey to the next, and
for a feature without one, its exact geometry. What this cannot follow:

- a feature given a new BSM: the annual land survey numbers a re-coded or re-drawn parcel anew (as the
  demo's 2023 update does), so its history ends in the version before and the new parcel starts its own;
- a split or a merge (one BSM becomes several, or several one);
- a feature without a BSM once its geometry changes in the slightest.

A BSM copied into several drawers (a city plan's line carried by its county plans) is one feature held in
each: every version is listed with its drawer, and each is compared with the version before it in the same
drawer (``compared_with``). ``absent_from`` names, per drawer, the later entry that no longer holds it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import shapely

from onemap.config.catalogue import Layer
from onemap.config.errors import NotFound
from onemap.domain.plans import PUBLIC_STATES, Plan

from .compare import IDENTITY_FIELD, attributes, identity_key
from .store.base import FeaturePage, FeatureQuery, Store

MAX_VERSIONS = 10_000
LIMITS = (
    "A feature given a new BSM (the annual survey renumbers a re-coded parcel), split or merged is not followed; "
    "a feature without a BSM is followed only while its geometry stays exactly the same.")


def _page_rows(page: FeaturePage) -> list[tuple[int, dict[str, Any], bytes | None]]:
    return list(zip(page.fids, page.properties, page.wkb))


def _recorded(store: Store, plan: Plan, zone: ZoneInfo) -> dt.datetime | None:
    """When the registry recorded the entry's filing (None: never filed), in local time (whichever backend kept it)."""
    at = next((e.at for e in store.events(plan.id) if e.to_status == "filed"), None)
    return at.astimezone(zone) if at is not None else None


def _iso(v: dt.date | dt.datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def feature_history(store: Store, layer: Layer, fid: str, unfiled: bool, tz: str = "Asia/Shanghai"
                    ) -> dict[str, Any]:
    """The versions of the feature ``fid`` of ``layer`` (a 404 when the caller cannot see that feature);
    ``unfiled``: entries under review are listed too (internal callers)."""
    try:
        key = int(fid)
    except (TypeError, ValueError):
        raise NotFound(f"{layer.id} has no feature {fid!r}") from None
    if not layer.drawer or key < 1 or key > 2**62:
        raise NotFound(f"{layer.id} has no feature {fid!r}")
    plans = store.plans()
    zone = ZoneInfo(tz)

    def visible(plan_id: Any) -> bool:
        p = plans.get(str(plan_id))
        return p is not None and (unfiled or p.status in PUBLIC_STATES)

    page = store.get(layer, key)
    if not page.fids or not visible(page.properties[0].get("plan_id")):
        raise NotFound(f"{layer.id} has no feature {fid!r}")
    wkb = page.wkb[0] or b""
    ident = identity_key(layer, page.properties[0], wkb)
    if ident[0] == IDENTITY_FIELD:
        q = FeatureQuery(layer=layer, plan_ids=None, props=[(IDENTITY_FIELD, ident[1])], limit=MAX_VERSIONS,
                         count=False)
        rows = _page_rows(store.query(q))
    else:
        g = shapely.from_wkb(wkb)
        q = FeatureQuery(layer=layer, plan_ids=None, bbox=tuple(g.bounds), limit=MAX_VERSIONS,
                         count=False)
        rows = [r for r in _page_rows(store.query(q)) if r[2] == wkb]
    rows = [r for r in rows if visible(r[1].get("plan_id"))]
    found = []
    for f, props, w in rows:
        plan = plans[str(props["plan_id"])]
        recorded = _recorded(store, plan, zone)
        order = (plan.valid_from or dt.date.max, recorded or plan.submitted_at or dt.datetime.max.replace(
            tzinfo=dt.UTC), plan.id, f)
        found.append((order, f, props, w, plan, recorded))
    found.sort(key=lambda x: x[0])
    versions: list[dict[str, Any]] = []
    last: dict[Any, tuple[dict[str, Any], bytes | None, Plan]] = {}  # drawer -> its latest version so far
    for _, f, props, w, plan, recorded in found:
        attrs = attributes(layer, props)
        prev = last.get(plan.drawer)
        entry: dict[str, Any] = {
            "fid": f, "plan_id": plan.id, "plan_version": plan.version, "plan_level": plan.level,
            "plan_region": plan.region, "plan_type": plan.type, "plan_subject": plan.subject,
            "plan_status": plan.status, "plan_title": plan.title,
            "valid_from": _iso(plan.valid_from), "valid_to": _iso(plan.valid_to),
            "periods": [[_iso(p.start), _iso(p.end)] for p in plan.all_periods()],
            "recorded": _iso(recorded),
            "submitted": _iso(plan.submitted_at.astimezone(zone) if plan.submitted_at else None),
            "properties": attrs,
            "geometry": shapely.geometry.mapping(shapely.from_wkb(w)) if w else None,
            "compared_with": None, "geometry_changed": None, "attributes_changed": None,
        }
        if prev is not None:
            pattrs, pw, pplan = prev
            entry["compared_with"] = pplan.id
            entry["geometry_changed"] = not (pw == w or (pw is not None and w is not None and bool(
                shapely.equals(shapely.from_wkb(pw), shapely.from_wkb(w)))))
            entry["attributes_changed"] = sorted(n for n in attrs if attrs[n] != pattrs.get(n))
        last[plan.drawer] = (attrs, w, plan)
        versions.append(entry)
    return {
        "collection": layer.id,
        "feature": key,
        "identity": {"by": ident[0], IDENTITY_FIELD: ident[1]} if ident[0] == IDENTITY_FIELD else {"by": "geometry"},
        "versions": versions,
        "absent_from": _absent_from(store, layer, last, plans, visible),
        "limits": LIMITS,
    }


def _absent_from(store: Store, layer: Layer, last: dict[Any, tuple[dict[str, Any], bytes | None, Plan]],
                 plans: dict[str, Plan], visible: Any) -> list[dict[str, Any]]:
    """Per drawer, the first later entry holding the layer but not the feature (it was withdrawn there)."""
    held = store.plan_layer_index()
    out = []
    for drawer, (_, _, plan) in last.items():
        start = plan.valid_from or dt.date.min
        later = sorted((p for p in plans.values() if p.drawer == drawer and p.id != plan.id and visible(p.id)
                        and layer.id in held.get(p.id, {}) and p.valid_from is not None and p.valid_from > start),
                       key=lambda p: (p.valid_from, p.id))
        if later:
            p = later[0]
            out.append({"plan_id": p.id, "plan_version": p.version, "plan_level": p.level, "plan_status": p.status,
                        "valid_from": _iso(p.valid_from)})
    return out


__all__ = ["LIMITS", "feature_history"]
