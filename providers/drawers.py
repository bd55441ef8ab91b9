"""Drawer semantics of a request: which plans it sees (by date, record date, region, plan id, view)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import shapely

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidParameterValue
from onemap.domain.dates import When, parse_recorded, parse_when, today
from onemap.domain.plans import PUBLIC_STATES
from onemap.domain.regions import check_region, region_prefix

from .store.base import Store

VIEWS = ("all", "governing")

__all__ = ["VIEWS", "Selection", "check_region", "empty_drawers", "parse_recorded", "parse_when",
           "registry_entries", "resolve_plans"]


@dataclass
class Selection:
    """The drawer entries a request sees; ``clip``: entries seen only where they govern (view=governing)."""

    plan_ids: tuple[str, ...]
    clip: dict[str, shapely.Geometry] | None = None
    empty: list[dict[str, Any]] = field(default_factory=list)


def registry_entries(store: Store, when: When | None, region: str | None,
                     recorded: dt.datetime | None = None, unfiled: bool = True) -> tuple[str, ...] | None:
    """Registry entries in ``region`` (and under it) in force during ``when``; None: all entries.
    ``unfiled=False``: only entries anyone may read (``PUBLIC_STATES``), not submissions under review."""
    if when is None and region is None and recorded is None and unfiled:
        return None
    prefix = region_prefix(region) if region else None
    return tuple(sorted(p.id for p in store.plans(recorded).values()
                        if (prefix is None or p.region.startswith(prefix)) and (when is None or p.in_force(when))
                        and (unfiled or p.status in PUBLIC_STATES)))


def resolve_plans(store: Store, layer: Layer, when: When, region: str | None, plan_id: str | None,
                  recorded: dt.datetime | None = None, view: str = "all", unfiled: bool = True) -> Selection:
    """The drawer entries whose features a request sees.

    An explicit ``plan_id`` shows that entry whatever its status (an approver previews a
    submission); otherwise the filed plans in force during ``when`` (``view=all``), or only where
    each governs (``view=governing``: ``onemap.domain.governing``), as the registry stood at
    ``recorded``.
    """
    if view not in VIEWS:
        raise InvalidParameterValue(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    prefix = region_prefix(region) if region is not None else None
    if plan_id is not None:
        if view != "all":
            raise InvalidParameterValue("view=governing selects the governing plans; it cannot be combined "
                                        "with plan_id")
        plan = store.plan(plan_id, recorded)
        if plan is not None and not unfiled and plan.status not in PUBLIC_STATES:
            plan = None  # a submission under review is not there for this caller
        if plan is None or plan.type not in layer.drawer_types:
            return Selection(())
        if prefix is not None and not plan.region.startswith(prefix):
            return Selection(())
        return Selection((plan.id,))
    if view == "governing":
        if not when.is_instant or when.start is None:
            raise InvalidParameterValue("view=governing answers for one date: give datetime as a date, "
                                        "not an interval")
        parts = [p for p in store.governing(layer, when.start, recorded)
                 if prefix is None or p.plan.region.startswith(prefix)]
        clip = {p.plan_id: p.area for p in parts if not p.whole}
        return Selection(tuple(sorted(p.plan_id for p in parts)), clip or None)
    return Selection(store.plans_in_force(when, region, layer, recorded))


def empty_drawers(store: Store, layer: Layer, when: When, region: str | None = None,
                  recorded: dt.datetime | None = None, lang: str = "zh") -> list[dict[str, Any]]:
    """Drawers holding ``layer`` that had a version in force before ``when`` and have none during it
    (a version withdrawn without reinstating the one it replaced)."""
    prefix = region_prefix(region) if region is not None else None
    held = store.plan_layer_index()
    drawers: dict[Any, list] = {}
    for p in store.plans(recorded).values():
        if p.type in layer.drawer_types and layer.id in held.get(p.id, {}) \
                and (prefix is None or p.region.startswith(prefix)):
            drawers.setdefault(p.drawer, []).append(p)
    start = when.start or when.end or today()
    out = []
    for drawer, plans in sorted(drawers.items(), key=lambda kv: (kv[0].region, kv[0].level, kv[0].type,
                                                                  kv[0].subject or "")):
        if any(p.in_force(when) for p in plans):
            continue
        ended = [(per.end, p) for p in plans for per in p.all_periods() if per.end is not None and per.end <= start]
        if not ended:
            continue
        until, last = max(ended, key=lambda e: (e[0], e[1].id))
        out.append({"region": drawer.region, "level": drawer.level, "type": drawer.type, "subject": drawer.subject,
                    "description": drawer.describe(lang), "last_plan_id": last.id, "last_status": last.status,
                    "empty_since": until.isoformat()})
    return out
