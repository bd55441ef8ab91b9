"""The drawer registry (抽屉式管理): plan lifecycle and its full-process trace (全过程留痕).

A drawer is ``(region, level, type)``; each entry is a plan version. Lifecycle:

    submitted -> checked -> approved -> filed -> superseded | withdrawn
    submitted | checked -> rejected

Filing supersedes the drawer's filed entry and closes its validity interval in the same
transaction. Every transition is recorded (who, when, from, to, why). The rules live
here once; each backend only runs them inside its own transaction (``Store.transaction``).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import PLAN_LEVELS, PLAN_STATUSES, PLAN_TYPES
from onemap.config.errors import Conflict, InvalidParameterValue, NotFound

from .store.base import Plan, Store, region_prefix, today

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("checked", "rejected"),
    "checked": ("approved", "rejected"),
    "approved": ("filed",),
    "filed": ("superseded", "withdrawn"),
    "superseded": (),
    "withdrawn": (),
    "rejected": (),
}
STATUS_LABELS = PLAN_STATUSES
# Above this many features a revision's changed area is not worked out feature by feature:
# the whole extent of both versions is invalidated instead.
DIFF_MAX_FEATURES = 200_000
MAX_BOXES = 64


@dataclass
class Event:
    plan_id: str
    at: dt.datetime
    by: str
    from_status: str | None
    to_status: str
    reason: str | None


def plan_id_for(region: str, level: str, type_: str, version: str) -> str:
    return f"{region}-{level}-{type_}-{version}"


def validate_drawer(region: str, level: str, type_: str, version: str) -> None:
    """A drawer and version as a client may name them (400 otherwise)."""
    region_prefix(region)
    if level not in PLAN_LEVELS:
        raise InvalidParameterValue(f"level must be one of {', '.join(PLAN_LEVELS)}, not {level!r}")
    if type_ not in PLAN_TYPES:
        raise InvalidParameterValue(f"type must be one of {', '.join(PLAN_TYPES)}, not {type_!r}")
    digits = {"national": (2, 6), "province": (6,), "city": (6,), "county": (6,), "township": (9,)}
    if level != "national" and len(region) not in digits[level]:
        raise InvalidParameterValue(f"a {level} drawer needs a {digits[level][0]}-digit region code")
    if not version or len(version) > 32 or not all(c.isalnum() or c in "-._" for c in version):
        raise InvalidParameterValue("version must be 1-32 letters, digits, '-', '.' or '_'")


def _now(tz: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(tz)).replace(microsecond=0)


def check_transition(plan: Plan, to: str) -> None:
    if to not in TRANSITIONS:
        raise InvalidParameterValue(f"unknown status {to!r}")
    if to not in TRANSITIONS[plan.status]:
        allowed = ", ".join(TRANSITIONS[plan.status]) or "nothing (final state)"
        raise Conflict(f"plan {plan.id} is {plan.status}; it can move to {allowed}, not {to}")


class Registry:
    """Lifecycle operations on drawer entries, atomic on either backend."""

    def __init__(self, store: Store, tz: str = "Asia/Shanghai") -> None:
        self.store = store
        self.tz = tz

    def get(self, plan_id: str) -> Plan:
        plan = self.store.plan(plan_id)
        if plan is None:
            raise NotFound(f"no drawer entry {plan_id!r}")
        return plan

    def events(self, plan_id: str) -> list[Event]:
        self.get(plan_id)
        return [Event(**e) for e in self.store.plan_events(plan_id)]

    def list(self, region: str | None = None, level: str | None = None, type_: str | None = None,
             status: str | None = None) -> list[Plan]:
        prefix = region_prefix(region) if region else None
        out = []
        for p in self.store.plans().values():
            if prefix and not p.region.startswith(prefix):
                continue
            if level and p.level != level or type_ and p.type != type_ or status and p.status != status:
                continue
            out.append(p)
        return sorted(out, key=lambda p: (p.region, p.level, p.type, p.valid_from or dt.date.max, p.id))

    def _move(self, plan_id: str, to: str, by: str, reason: str | None,
              changes: dict[str, Any] | None = None) -> Plan:
        if not by or not by.strip():
            raise InvalidParameterValue("say who does this (--by)")
        at = _now(self.tz)

        changed = self._changed_areas(plan_id) if to == "filed" else {}

        def op(tx: Any) -> None:
            plan = tx.lock_plan(plan_id)
            if plan is None:
                raise NotFound(f"no drawer entry {plan_id!r}")
            check_transition(plan, to)
            extra = dict(changes or {})
            if to == "filed":
                valid_from = extra.get("valid_from") or today(self.tz)
                extra["valid_from"] = valid_from
                drawer = tx.drawer_plans(plan.region, plan.level, plan.type)
                for other in drawer:
                    if other.id == plan.id or other.valid_from is None:
                        continue
                    # one version in force per drawer and day: a filing may not reach back
                    # into (or before) the interval of a version already in force
                    if other.status == "filed" and other.valid_from >= valid_from:
                        raise Conflict(f"{other.id} is in force from {other.valid_from}: a new version must "
                                       f"come into force after that, not on {valid_from}")
                    if other.status in ("superseded", "withdrawn") and other.valid_to and valid_from < other.valid_to:
                        raise Conflict(f"{other.id} was in force until {other.valid_to}: a new version cannot "
                                       f"come into force before that ({valid_from})")
                for other in drawer:
                    if other.id != plan.id and other.status == "filed":
                        tx.set_plan(other.id, status="superseded", valid_to=valid_from)
                        tx.add_event(other.id, at, by, "filed", "superseded", f"superseded by {plan.id}")
                        if other.id not in changed:
                            tx.invalidate_tiles(other.id, self._effective(valid_from, at))
                if plan.id in changed:
                    for layer_id, boxes in changed[plan.id].items():
                        for box in boxes:
                            tx.invalidate_area(layer_id, box, self._effective(valid_from, at))
                else:
                    tx.invalidate_tiles(plan.id, self._effective(valid_from, at))
            if to == "withdrawn":
                extra["valid_to"] = extra.get("valid_to") or today(self.tz)
                if plan.valid_from and extra["valid_to"] < plan.valid_from:
                    raise InvalidParameterValue("a plan cannot be withdrawn before it came into force")
                tx.invalidate_tiles(plan.id, self._effective(extra["valid_to"], at))
            tx.set_plan(plan.id, status=to, **extra)
            tx.add_event(plan.id, at, by, plan.status, to, reason)

        self.store.transaction(op)
        return self.get(plan_id)

    def _changed_areas(self, plan_id: str) -> dict[str, dict[str, list[tuple[float, float, float, float]]]]:
        """Where a filing changes the map, when it supersedes the drawer's filed version.

        Returns ``{plan_id: {layer: [bbox, ...]}, other_id: {}}`` covering both versions, or {}
        when there is nothing to compare (then whole extents are invalidated). A feature that is
        in both versions with the same geometry and attributes changes nothing.
        """
        plan = self.store.plan(plan_id)
        if plan is None:
            return {}
        previous = [p for p in self.store.plans().values()
                    if (p.region, p.level, p.type) == (plan.region, plan.level, plan.type)
                    and p.status == "filed" and p.id != plan.id]
        if len(previous) != 1:
            return {}
        old = previous[0]
        new_layers, old_layers = self.store.plan_layers(plan.id), self.store.plan_layers(old.id)
        if max([n for n, _ in new_layers.values()] + [n for n, _ in old_layers.values()] + [0]) > DIFF_MAX_FEATURES:
            return {}
        boxes: dict[str, list[tuple[float, float, float, float]]] = {}
        for layer_id in sorted(set(new_layers) | set(old_layers)):
            if layer_id not in new_layers or layer_id not in old_layers:
                boxes[layer_id] = [(new_layers.get(layer_id) or old_layers[layer_id])[1]]
                continue
            layer = self.store.catalogue.layers[layer_id]
            names = [f.name for f in layer.fields]
            keyed = []
            for pid in (old.id, plan.id):
                geoms, cols = self.store.geometries(layer, [pid], columns=names)
                keys = [(g.wkb, tuple(cols[n][i] for n in names)) for i, g in enumerate(geoms)]
                keyed.append(dict(zip(keys, geoms)))
            diff = [g for k, g in keyed[0].items() if k not in keyed[1]] + \
                   [g for k, g in keyed[1].items() if k not in keyed[0]]
            if diff:
                boxes[layer_id] = _coalesce([tuple(float(v) for v in b)
                                             for b in shapely.bounds(np.asarray(diff, dtype=object))])
        return {plan.id: boxes, old.id: {}}

    def _effective(self, day: dt.date, at: dt.datetime) -> float:
        """When a change of the one map takes effect: the start of ``day`` (local), or now if earlier.

        ``now`` to the microsecond (``at`` is rounded to the second for the trace): a tile rendered a
        moment before the change must count as older than it.
        """
        from zoneinfo import ZoneInfo

        start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(self.tz)).timestamp()
        return max(start, time.time())

    def mark_checked(self, plan_id: str, by: str, reason: str | None = None) -> Plan:
        return self._move(plan_id, "checked", by, reason)

    def approve(self, plan_id: str, by: str, approval_no: str, approval_date: dt.date | None = None,
                reason: str | None = None) -> Plan:
        if not approval_no or len(approval_no) > 100:
            raise InvalidParameterValue("approval needs its document number (批复文号, --approval-no)")
        return self._move(plan_id, "approved", by, reason,
                          {"approval_no": approval_no, "approval_date": approval_date or today(self.tz)})

    def file(self, plan_id: str, by: str, valid_from: dt.date | None = None, reason: str | None = None) -> Plan:
        return self._move(plan_id, "filed", by, reason, {"valid_from": valid_from} if valid_from else None)

    def withdraw(self, plan_id: str, by: str, reason: str | None, valid_to: dt.date | None = None) -> Plan:
        if not reason:
            raise InvalidParameterValue("withdrawing a plan needs a reason (--reason)")
        return self._move(plan_id, "withdrawn", by, reason, {"valid_to": valid_to} if valid_to else None)

    def reject(self, plan_id: str, by: str, reason: str | None) -> Plan:
        if not reason:
            raise InvalidParameterValue("rejecting a plan needs a reason (--reason)")
        return self._move(plan_id, "rejected", by, reason)


def _coalesce(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """At most MAX_BOXES boxes covering ``boxes`` (merged along a coarsening grid)."""
    cell = 0.001
    while len(boxes) > MAX_BOXES:
        merged: dict[tuple[int, int], list[float]] = {}
        for b in boxes:
            key = (int((b[0] + b[2]) / 2 // cell), int((b[1] + b[3]) / 2 // cell))
            m = merged.setdefault(key, [b[0], b[1], b[2], b[3]])
            m[0], m[1], m[2], m[3] = min(m[0], b[0]), min(m[1], b[1]), max(m[2], b[2]), max(m[3], b[3])
        boxes = [tuple(v) for v in merged.values()]  # type: ignore[misc]
        cell *= 2
    return boxes


def plan_json(p: Plan, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """The scripting form of a drawer entry (``onemap plan list --json``); times in ``tz``."""
    from zoneinfo import ZoneInfo

    submitted = p.submitted_at
    if submitted is not None and submitted.tzinfo is not None:
        submitted = submitted.astimezone(ZoneInfo(tz))
    return {
        "id": p.id, "region": p.region, "level": p.level, "type": p.type, "version": p.version,
        "status": p.status, "title": p.title,
        "valid_from": p.valid_from.isoformat() if p.valid_from else None,
        "valid_to": p.valid_to.isoformat() if p.valid_to else None,
        "approval_no": p.approval_no,
        "approval_date": p.approval_date.isoformat() if p.approval_date else None,
        "upper_plan_id": p.upper_plan_id, "submitted_by": p.submitted_by,
        "submitted_at": submitted.isoformat() if submitted else None,
        "checksum": p.checksum,
    }
