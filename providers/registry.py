"""The drawer registry (抽屉式管理): plan lifecycle and its full-process trace (全过程留痕).

A drawer is ``(region, level, type, subject)`` (``onemap.domain.plans``); each entry is a plan
version. Filing supersedes the drawer's version in force and closes its period in the same
transaction; withdrawing the version in force reinstates the one it superseded (unless asked
not to). Approving a plan that has upper plans in force needs a passing transmission check
against them (a certificate), or an override with its reason kept on the entry. Every
transition is recorded with who, when it was recorded, from, to, why and the validity it left,
so that the registry can be replayed as of any instant. The rules live here once; each backend
only runs them inside its own transaction (``Store.transaction``).
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from onemap.config.errors import Conflict, InvalidParameterValue, NotFound
from onemap.domain.dates import When, today
from onemap.domain.governing import upper_candidates
from onemap.domain.plans import TRANSITIONS, Event, Plan, check_transition, plan_id_for, validate_drawer
from onemap.domain.regions import region_prefix

from .store.base import Store

# Above this many features a revision's changed area is not worked out feature by feature:
# the whole extent of both versions is invalidated instead.
DIFF_MAX_FEATURES = 200_000
MAX_BOXES = 64
TRANSMISSION_PROCESS = "transmission-check"

__all__ = [
    "TRANSITIONS",
    "Event",
    "Gate",
    "Registry",
    "check_transition",
    "plan_id_for",
    "plan_json",
    "validate_drawer",
]


def _now(tz: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(tz))


@dataclass
class Gate:
    """Whether an entry may be approved as far as transmission goes."""

    required: bool  # there are upper plans in force to transmit
    passed: bool  # a passing transmission check against exactly those upper plans is on record
    upper_plans: list[str]
    certificate: str | None = None  # the certificate that satisfies the gate
    reason: str = ""  # why it is not satisfied


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
        return self.store.events(plan_id)

    def list(self, region: str | None = None, level: str | None = None, type_: str | None = None,
             status: str | None = None, subject: str | None = None) -> list[Plan]:
        prefix = region_prefix(region) if region else None
        out = []
        for p in self.store.plans().values():
            if prefix and not p.region.startswith(prefix):
                continue
            if level and p.level != level or type_ and p.type != type_ or status and p.status != status:
                continue
            if subject and p.subject != subject:
                continue
            out.append(p)
        return sorted(out, key=lambda p: (p.region, p.level, p.type, p.subject or "", p.valid_from or dt.date.max,
                                          p.id))

    # ---- transmission gate -------------------------------------------------------------------------
    def upper_plans(self, plan: Plan, day: dt.date | None = None) -> builtins.list[Plan]:
        """The upper master plans in force (today unless ``day``) that ``plan`` must transmit."""
        when = When.at(day or today(self.tz))
        in_force = [p for p in self.store.plans().values() if p.in_force(when)]
        return sorted(upper_candidates(plan, in_force), key=lambda p: p.id)

    def gate(self, plan_id: str) -> Gate:
        """Is a passing transmission check against the upper plans in force on record for this entry?"""
        plan = self.get(plan_id)
        upper = [p.id for p in self.upper_plans(plan)]
        if not upper:
            return Gate(False, True, [])
        reason = f"no transmission check of {plan.id} is on record"
        for cert in self.store.certificates(plan_id=plan.id, process=TRANSMISSION_PROCESS):
            found = self.store.certificate(cert["id"])
            if found is None:
                continue
            doc = json.loads(found[0])
            used = sorted(p["id"] for p in doc.get("plans", []) if p.get("role") == "upper")
            subject: dict[str, Any] = next((p for p in doc.get("plans", []) if p.get("role") == "subject"), {})
            if subject.get("checksum") != plan.checksum:
                reason = f"the latest transmission check ({cert['id']}) was of another package of {plan.id}"
                continue
            if used != upper:
                reason = (f"the latest transmission check ({cert['id']}) was against {', '.join(used) or 'nothing'}, "
                          f"not the upper plans in force now ({', '.join(upper)})")
                break
            if doc.get("result", {}).get("overall", {}).get("result") != "pass":
                reason = f"the latest transmission check ({cert['id']}) did not pass"
                break
            return Gate(True, True, upper, cert["id"])
        return Gate(True, False, upper, reason=reason)

    # ---- transitions -------------------------------------------------------------------------------
    def _move(self, plan_id: str, to: str, by: str, reason: str | None,
              changes: dict[str, Any] | None = None, reinstate: bool = True) -> Plan:
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
            related = None
            if to == "filed":
                valid_from = extra.get("valid_from") or today(self.tz)
                extra["valid_from"] = valid_from
                drawer = tx.drawer_plans(plan)
                for other in drawer:
                    if other.id == plan.id:
                        continue
                    self._check_no_overlap(other, valid_from)
                for other in drawer:
                    if other.id != plan.id and other.status == "filed":
                        tx.set_plan(other.id, status="superseded", valid_to=valid_from)
                        tx.add_event(Event(other.id, at, by, "filed", "superseded", f"superseded by {plan.id}",
                                           other.valid_from, valid_from, plan.id))
                        if other.id not in changed:
                            tx.invalidate_tiles(other.id, self._effective(valid_from, at))
                if plan.id in changed:
                    for layer_id, boxes in changed[plan.id].items():
                        for box in boxes:
                            tx.invalidate_area(layer_id, box, self._effective(valid_from, at))
                else:
                    tx.invalidate_tiles(plan.id, self._effective(valid_from, at))
            if to == "withdrawn":
                valid_to = extra.get("valid_to") or today(self.tz)
                extra["valid_to"] = valid_to
                if plan.valid_from and valid_to < plan.valid_from:
                    raise InvalidParameterValue("a plan cannot be withdrawn before it came into force")
                tx.invalidate_tiles(plan.id, self._effective(valid_to, at))
                if reinstate:
                    related = self._reinstate(tx, plan, valid_to, at, by)
            tx.set_plan(plan.id, status=to, **extra)
            after = {"valid_from": plan.valid_from, "valid_to": plan.valid_to} | {
                k: v for k, v in extra.items() if k in ("valid_from", "valid_to")}
            tx.add_event(Event(plan.id, at, by, plan.status, to, reason, after["valid_from"], after["valid_to"],
                               related))

        self.store.transaction(op)
        return self.get(plan_id)

    @staticmethod
    def _check_no_overlap(other: Plan, valid_from: dt.date) -> None:
        """One version in force per drawer and day: a filing may not reach into a version's latest
        period (a row's validity; earlier periods of a reinstated version end before it)."""
        if other.valid_from is None or other.status not in ("filed", "superseded", "withdrawn"):
            return
        if other.status == "filed" and other.valid_to is None and other.valid_from >= valid_from:
            raise Conflict(f"{other.id} is in force from {other.valid_from}: a new version must come into force "
                           f"after that, not on {valid_from}")
        if other.valid_to is not None and valid_from < other.valid_to:
            raise Conflict(f"{other.id} was in force until {other.valid_to}: a new version cannot come into force "
                           f"before that ({valid_from})")

    def _reinstate(self, tx: Any, plan: Plan, valid_to: dt.date, at: dt.datetime, by: str) -> str | None:
        """Put back the version ``plan`` superseded, in force again from ``valid_to``."""
        if plan.status != "filed" or plan.valid_from is None:
            return None
        previous = [o for o in tx.drawer_plans(plan)
                    if o.id != plan.id and o.status == "superseded" and o.valid_to == plan.valid_from]
        if not previous:
            return None
        prev = max(previous, key=lambda o: (o.valid_from or dt.date.min, o.id))
        tx.set_plan(prev.id, status="filed", valid_from=valid_to, valid_to=None)
        tx.add_event(Event(prev.id, at, by, "superseded", "filed",
                           f"reinstated: {plan.id}, which superseded it, was withdrawn", valid_to, None, plan.id))
        tx.invalidate_tiles(prev.id, self._effective(valid_to, at))
        return prev.id

    def _changed_areas(self, plan_id: str) -> dict[str, dict[str, builtins.list[tuple[float, float, float, float]]]]:
        """Where a filing changes the map, when it supersedes the drawer's filed version.

        Returns ``{plan_id: {layer: [bbox, ...]}, other_id: {}}`` covering both versions, or {}
        when there is nothing to compare (then whole extents are invalidated). A feature that is
        in both versions with the same geometry and attributes changes nothing.
        """
        plan = self.store.plan(plan_id)
        if plan is None:
            return {}
        previous = [p for p in self.store.plans().values()
                    if p.drawer == plan.drawer and p.status == "filed" and p.id != plan.id]
        if len(previous) != 1:
            return {}
        old = previous[0]
        new_layers, old_layers = self.store.plan_layers(plan.id), self.store.plan_layers(old.id)
        if max([n for n, _ in new_layers.values()] + [n for n, _ in old_layers.values()] + [0]) > DIFF_MAX_FEATURES:
            return {}
        boxes: dict[str, list[tuple[float, float, float, float]]] = {}
        for layer_id in sorted(set(new_layers) | set(old_layers)):
            if layer_id not in new_layers or layer_id not in old_layers:
                box = (new_layers.get(layer_id) or old_layers[layer_id])[1]
                if box[0] is not None:  # an empty layer changes no tile
                    boxes[layer_id] = [box]
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
                boxes[layer_id] = _coalesce([(float(x0), float(y0), float(x1), float(y1))
                                             for x0, y0, x1, y1 in shapely.bounds(np.asarray(diff, dtype=object))])
        return {plan.id: boxes, old.id: {}}

    def _effective(self, day: dt.date, at: dt.datetime) -> float:
        """When a change of the one map takes effect: the start of ``day`` (local), or now if earlier.

        ``now`` to the microsecond: a tile rendered a moment before the change must count as older than it.
        """
        from zoneinfo import ZoneInfo

        start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(self.tz)).timestamp()
        return max(start, time.time())

    def mark_checked(self, plan_id: str, by: str, reason: str | None = None) -> Plan:
        return self._move(plan_id, "checked", by, reason)

    def approve(self, plan_id: str, by: str, approval_no: str, approval_date: dt.date | None = None,
                reason: str | None = None, override: str | None = None) -> Plan:
        """Approve a checked entry. With upper plans in force, a passing transmission check against
        them must be on record; ``override`` (a reason) approves without one and stays on the entry."""
        if not approval_no or len(approval_no) > 100:
            raise InvalidParameterValue("approval needs its document number (批复文号, --approval-no)")
        if override is not None and (not override.strip() or len(override) > 500):
            raise InvalidParameterValue("an override of the transmission gate needs its reason (1-500 characters)")
        check_transition(self.get(plan_id), "approved")  # a wrong state is told before the gate is
        gate = self.gate(plan_id)
        changes: dict[str, Any] = {"approval_no": approval_no, "approval_date": approval_date or today(self.tz)}
        note = reason
        if gate.required and not gate.passed:
            if override is None:
                raise Conflict(f"{plan_id} cannot be approved: {gate.reason}. Run the transmission check against "
                               f"{', '.join(gate.upper_plans)} (or approve with an override and its reason)")
            changes["approval_override"] = override.strip()
            note = (f"approved without a passing transmission check ({gate.reason}): {override.strip()}"
                    + (f"; {reason}" if reason else ""))
        elif gate.certificate:
            note = f"transmission check {gate.certificate} passed" + (f"; {reason}" if reason else "")
        return self._move(plan_id, "approved", by, note, changes)

    def file(self, plan_id: str, by: str, valid_from: dt.date | None = None, reason: str | None = None) -> Plan:
        """File an approved entry: in force from ``valid_from`` (today by default); a date already past
        is recorded as a correction (the registry as recorded before keeps its old answers)."""
        return self._move(plan_id, "filed", by, reason, {"valid_from": valid_from} if valid_from else None)

    def withdraw(self, plan_id: str, by: str, reason: str | None, valid_to: dt.date | None = None,
                 reinstate: bool = True) -> Plan:
        """Withdraw an entry; the version in force is followed by the one it superseded, reinstated from
        ``valid_to``, unless ``reinstate`` is False (the drawer then stays empty on purpose)."""
        if not reason:
            raise InvalidParameterValue("withdrawing a plan needs a reason (--reason)")
        return self._move(plan_id, "withdrawn", by, reason, {"valid_to": valid_to} if valid_to else None,
                          reinstate=reinstate)

    def reject(self, plan_id: str, by: str, reason: str | None) -> Plan:
        if not reason:
            raise InvalidParameterValue("rejecting a plan needs a reason (--reason)")
        return self._move(plan_id, "rejected", by, reason)

    def trace(self, plan_id: str, lang: str = "zh") -> dict[str, Any]:
        """The entry's record: its events (corrections marked), its periods and its certificates."""
        plan = self.get(plan_id)
        events = []
        for e in self.store.events(plan_id):
            item: dict[str, Any] = {
                "at": e.at.isoformat(), "by": e.by, "from": e.from_status, "to": e.to_status, "reason": e.reason,
                "valid_from": e.valid_from.isoformat() if e.valid_from else None,
                "valid_to": e.valid_to.isoformat() if e.valid_to else None, "related": e.related,
                "correction": e.is_correction(self.tz)}
            if item["correction"]:
                eff = e.effective.isoformat() if e.effective else ""
                item["correction_note"] = {
                    "zh": f"于 {e.at.date().isoformat()} 登记、自 {eff} 起生效：此前登记状态下对 {eff} 之后日期的查询结果与现在不同。",
                    "en": f"recorded on {e.at.date().isoformat()} with effect from {eff}: the registry as recorded "
                          f"before then answered dates from {eff} differently.",
                }
            events.append(item)
        return {
            "plan": plan_json(plan, self.tz),
            "periods": [{"from": p.start.isoformat(), "to": p.end.isoformat() if p.end else None}
                        for p in plan.all_periods()],
            "events": events,
            "corrections": [e for e in events if e["correction"]],
            "certificates": [{"id": c["id"], "process": c["process"], "created": c["created"].isoformat()}
                             for c in self.store.certificates(plan_id=plan_id)],
        }


def _coalesce(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """At most MAX_BOXES boxes covering ``boxes`` (merged along a coarsening grid)."""
    cell = 0.001
    while len(boxes) > MAX_BOXES:
        merged: dict[tuple[int, int], list[float]] = {}
        for b in boxes:
            key = (int((b[0] + b[2]) / 2 // cell), int((b[1] + b[3]) / 2 // cell))
            m = merged.setdefault(key, [b[0], b[1], b[2], b[3]])
            m[0], m[1], m[2], m[3] = min(m[0], b[0]), min(m[1], b[1]), max(m[2], b[2]), max(m[3], b[3])
        boxes = [(m[0], m[1], m[2], m[3]) for m in merged.values()]
        cell *= 2
    return boxes


def plan_json(p: Plan, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """The scripting form of a drawer entry (``onemap plan list --json``); times in ``tz``."""
    from zoneinfo import ZoneInfo

    submitted = p.submitted_at
    if submitted is not None and submitted.tzinfo is not None:
        submitted = submitted.astimezone(ZoneInfo(tz))
    return {
        "id": p.id, "region": p.region, "level": p.level, "type": p.type, "subject": p.subject,
        "version": p.version, "status": p.status, "title": p.title,
        "valid_from": p.valid_from.isoformat() if p.valid_from else None,
        "valid_to": p.valid_to.isoformat() if p.valid_to else None,
        "approval_no": p.approval_no,
        "approval_date": p.approval_date.isoformat() if p.approval_date else None,
        "approval_override": p.approval_override,
        "upper_plan_id": p.upper_plan_id, "submitted_by": p.submitted_by,
        "submitted_at": submitted.isoformat() if submitted else None,
        "checksum": p.checksum,
    }
