"""Drawers, plans and their record: the lifecycle, the validity periods, the bitemporal trace.

A drawer (抽屉) is ``(region, level, type, subject)``: master plans and surveys have no subject;
a special plan's subject is its category (历史文化保护, 综合防灾, ...), a detailed plan's its
planning unit, so that any number of special and detailed drawers coexist in a region. Each
drawer entry is a plan version with its lifecycle::

    submitted -> checked -> approved -> filed -> superseded | withdrawn
    submitted | checked -> rejected
    superseded -> filed   (only when the version that superseded it is withdrawn: reinstated)

Valid time: a filed version is in force over one or more periods (a reinstated version has a
second one). Record time: every transition is an ``Event`` stamped with the instant it was
recorded and the validity it left behind, so the registry as it stood at any instant is a
replay of the events recorded until then (``registry_at``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import shapely

from onemap.config.errors import Conflict, InvalidParameterValue

from .dates import When
from .regions import region_prefix

LEVELS = ("national", "province", "city", "county", "township")
PLAN_LEVELS: dict[str, dict[str, str]] = {
    "national": {"zh": "国家级", "en": "National"},
    "province": {"zh": "省级", "en": "Province"},
    "city": {"zh": "市级", "en": "City"},
    "county": {"zh": "县级", "en": "County"},
    "township": {"zh": "乡镇级", "en": "Township"},
}
PLAN_TYPES: dict[str, dict[str, str]] = {
    "master": {"zh": "总体规划", "en": "Master plan"},
    "detailed": {"zh": "详细规划", "en": "Detailed plan"},
    "special": {"zh": "专项规划", "en": "Special plan"},
    "survey": {"zh": "现状调查", "en": "Status-quo survey"},
    "management": {"zh": "实施管理", "en": "Management records"},
}
# At one level, the more specific plan type governs its subject: a special plan deepens the master
# plan for its subject, a detailed plan is the legal basis of land-use control and permits
# (若干意见 2019 §三(三), §三(六)); levels come first (下级服从上级 does not make the upper plan govern
# where the lower plan has drawn its own line: the lower plan is the one in force there).
TYPE_RANK = {"master": 0, "survey": 0, "special": 1, "detailed": 2, "management": 0}
SUBJECT_TYPES = ("special", "detailed", "management")
# Management records (用地审批, 土地供应, 补充耕地, 执法: the 批供用补查 registers a bureau keeps) are facts, not
# plans: every filed entry's records hold together, none governs another's area by level or type, and none
# transmits an upper plan. Their drawer's subject is the period its records belong to: a year (``2024``, a
# yearly entry: that year's records) or ``rolling`` (a register kept whole, each new version replacing the
# last). Within one drawer a new version supersedes the one in force (a correction of that year's records);
# across drawers (years) nothing supersedes: a later year's record of the same approval or contract updates
# it (``processes.land_audit`` reads them so).
ACCUMULATING_TYPES = ("management",)
MANAGEMENT_SUBJECT = re.compile(r"^([0-9]{4}|rolling)$")
PLAN_STATUSES: dict[str, dict[str, str]] = {
    "submitted": {"zh": "已提交", "en": "Submitted"},
    "checked": {"zh": "已质检", "en": "Checked"},
    "approved": {"zh": "已批复", "en": "Approved"},
    "filed": {"zh": "已备案（现行）", "en": "Filed (in force)"},
    "superseded": {"zh": "已替代", "en": "Superseded"},
    "withdrawn": {"zh": "已废止", "en": "Withdrawn"},
    "rejected": {"zh": "已退回", "en": "Rejected"},
}
# A plan's features are "in force" (or were) only once it has been filed.
FILED_STATES = ("filed", "superseded", "withdrawn")
# what anyone may read of the registry: a plan once approved; submissions under review are internal
PUBLIC_STATES = ("approved", *FILED_STATES)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("checked", "rejected"),
    "checked": ("approved", "rejected"),
    "approved": ("filed",),
    "filed": ("superseded", "withdrawn"),
    "superseded": (),  # back to filed only by reinstatement (Registry.withdraw)
    "withdrawn": (),
    "rejected": (),
}
_SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]{0,31}$")
_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_REGION_DIGITS = {"national": (2, 6), "province": (6,), "city": (6,), "county": (6,), "township": (9,)}


@dataclass(frozen=True)
class Drawer:
    """The slot one region's plan of one level, type and subject lives in."""

    region: str
    level: str
    type: str
    subject: str | None = None

    def describe(self, lang: str = "zh") -> str:
        level = PLAN_LEVELS.get(self.level, {}).get(lang, self.level)
        kind = PLAN_TYPES.get(self.type, {}).get(lang, self.type)
        subject = f" {self.subject}" if self.subject else ""
        return f"{self.region} {level}{kind}{subject}" if lang == "zh" else f"{self.region} {level} {kind}{subject}"


def plan_id_for(region: str, level: str, type_: str, version: str, subject: str | None = None) -> str:
    """A drawer entry's id: ``region-level-type[-subject]-version``."""
    return f"{region}-{level}-{type_}-{subject}-{version}" if subject else f"{region}-{level}-{type_}-{version}"


def validate_level(region: str, level: str, type_: str) -> None:
    """A region, level and plan type that fit together (400 otherwise)."""
    region_prefix(region)
    if level not in PLAN_LEVELS:
        raise InvalidParameterValue(f"level must be one of {', '.join(PLAN_LEVELS)}, not {level!r}")
    if type_ not in PLAN_TYPES:
        raise InvalidParameterValue(f"type must be one of {', '.join(PLAN_TYPES)}, not {type_!r}")
    if level != "national" and len(region) not in _REGION_DIGITS[level]:
        raise InvalidParameterValue(f"a {level} drawer needs a {_REGION_DIGITS[level][0]}-digit region code")


def validate_drawer(region: str, level: str, type_: str, version: str, subject: str | None = None,
                    subjects: Mapping[str, Any] | None = None) -> None:
    """A drawer and version as a client may name them (400 otherwise).

    ``subjects``: the special-plan categories (a code table); a special plan's subject must be one.
    """
    validate_level(region, level, type_)
    if not version or not _VERSION.match(version):
        raise InvalidParameterValue("version must be 1-32 letters, digits, '-', '.' or '_'")
    if type_ in SUBJECT_TYPES:
        if not subject:
            what = {"special": "its category (e.g. LSWH)", "detailed": "its planning unit",
                    "management": "the year its records belong to (e.g. 2024) or 'rolling'"}[type_]
            raise InvalidParameterValue(f"a {type_} plan's drawer needs a subject: {what}")
        if not _SUBJECT.match(subject):
            raise InvalidParameterValue("subject must be 1-32 letters, digits, '_' or '.'")
        if type_ == "special" and subjects is not None and subject not in subjects:
            raise InvalidParameterValue(f"subject {subject!r} is not a special-plan category "
                                        f"({', '.join(sorted(subjects))})")
        if type_ == "management" and not MANAGEMENT_SUBJECT.match(subject):
            raise InvalidParameterValue(f"a management entry's subject is the year its records belong to (e.g. "
                                        f"2024) or 'rolling', not {subject!r}")
    elif subject:
        raise InvalidParameterValue(f"a {type_} drawer has no subject (only special and detailed plans and "
                                    "management records do)")


def check_transition(plan: Plan, to: str) -> None:
    if to not in TRANSITIONS:
        raise InvalidParameterValue(f"unknown status {to!r}")
    if to not in TRANSITIONS[plan.status]:
        allowed = ", ".join(TRANSITIONS[plan.status]) or "nothing (final state)"
        raise Conflict(f"plan {plan.id} is {plan.status}; it can move to {allowed}, not {to}")


@dataclass(frozen=True)
class Period:
    """One stretch of days a version is in force: ``start`` included, ``end`` excluded (None: open)."""

    start: dt.date
    end: dt.date | None = None

    def meets(self, when: When) -> bool:
        if when.end is not None and self.start > when.end:
            return False
        if self.end is not None and when.start is not None and self.end <= when.start:
            return False
        return self.end is None or self.start < self.end


@dataclass
class Plan:
    """One drawer entry: a plan version or a survey."""

    id: str
    region: str
    level: str
    type: str
    version: str
    title: str
    status: str
    approval_no: str | None = None
    approval_date: dt.date | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    upper_plan_id: str | None = None
    submitted_by: str | None = None
    submitted_at: dt.datetime | None = None
    checksum: str | None = None
    subject: str | None = None
    approval_override: str | None = None  # the reason an approval went ahead without a passing transmission check
    outline: shapely.Geometry | None = None
    fid: int | None = None
    periods: tuple[Period, ...] = field(default=())  # every stretch in force (the last is valid_from..valid_to)

    @property
    def drawer(self) -> Drawer:
        return Drawer(self.region, self.level, self.type, self.subject or None)

    def all_periods(self) -> tuple[Period, ...]:
        """The periods in force; a plan without a recorded history has its one validity interval."""
        if self.periods:
            return self.periods
        if self.status in FILED_STATES and self.valid_from is not None:
            return (Period(self.valid_from, self.valid_to),)
        return ()

    def in_force(self, when: When) -> bool:
        """Was the plan in force at some moment of ``when``?"""
        return any(p.meets(when) for p in self.all_periods())

    def as_record(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PLAN_FIELDS}


# the registry columns of a plan, in order (the stores' plans tables hold these and the outline)
PLAN_FIELDS = ("id", "region", "level", "type", "version", "title", "status", "approval_no", "approval_date",
               "valid_from", "valid_to", "upper_plan_id", "submitted_by", "submitted_at", "checksum", "subject",
               "approval_override")


@dataclass(frozen=True)
class Event:
    """One recorded transition of a drawer entry: who, when recorded, from, to, why, and the
    validity it left (``valid_from``/``valid_to`` after the transition). ``related`` names the
    other entry a transition was caused by (the superseding or the withdrawn version)."""

    plan_id: str
    at: dt.datetime
    by: str
    from_status: str | None
    to_status: str
    reason: str | None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    related: str | None = None
    seq: int = 0

    @property
    def effective(self) -> dt.date | None:
        """The day the transition changed what is in force (None: it changed nothing in force)."""
        if self.to_status == "filed":
            return self.valid_from
        if self.to_status in ("superseded", "withdrawn"):
            return self.valid_to
        return None

    def is_correction(self, tz: str = "Asia/Shanghai") -> bool:
        """Recorded after the day it took effect: it changes answers about dates already past."""
        eff = self.effective
        return eff is not None and eff < self.at.astimezone(ZoneInfo(tz)).date()

    def as_tuple(self) -> tuple:
        return (self.plan_id, self.at, self.by, self.from_status, self.to_status, self.reason,
                self.valid_from, self.valid_to, self.related)


def periods_of(events: Iterable[Event]) -> tuple[Period, ...]:
    """The periods in force a plan's events (in record order) leave behind."""
    out: list[Period] = []
    for e in events:
        if e.valid_from is None:
            continue
        if out and out[-1].start == e.valid_from:
            out[-1] = Period(e.valid_from, e.valid_to)
        else:
            out.append(Period(e.valid_from, e.valid_to))
    return tuple(p for p in out if p.end is None or p.start < p.end)


def _ordered(events: Iterable[Event]) -> dict[str, list[Event]]:
    by_plan: dict[str, list[Event]] = {}
    for e in sorted(events, key=lambda e: (e.at, e.seq)):
        by_plan.setdefault(e.plan_id, []).append(e)
    return by_plan


def with_periods(plans: Mapping[str, Plan], events: Sequence[Event]) -> dict[str, Plan]:
    """The current registry: each entry with the periods its recorded history gives.

    The entry's own validity interval is the latest period (the row is the current state; the
    history adds the earlier stretches of a reinstated version).
    """
    history = _ordered(events)
    out = {}
    for pid, p in plans.items():
        periods = list(periods_of(history.get(pid, ())))
        if p.status in FILED_STATES and p.valid_from is not None:
            last = Period(p.valid_from, p.valid_to)
            if periods and periods[-1].start == last.start:
                periods[-1] = last
            elif not periods or periods[-1].start < last.start:
                periods.append(last)
        elif p.status not in FILED_STATES:
            periods = []
        out[pid] = replace(p, periods=tuple(q for q in periods if q.end is None or q.start < q.end))
    return out


def registry_at(plans: Mapping[str, Plan], events: Sequence[Event], recorded: dt.datetime | None) -> dict[str, Plan]:
    """The registry as it stood at ``recorded`` (None: as it stands now).

    A replay of the events recorded until then: the entries that existed, each with the status
    and periods its last event left. An entry with no recorded history at all (written before
    the trace was kept) counts from its submission with its present state.
    """
    if recorded is None:
        return with_periods(plans, events)
    history = _ordered(events)
    out = {}
    for pid, p in plans.items():
        evs = history.get(pid)
        if not evs:
            if p.submitted_at is None or p.submitted_at <= recorded:
                out[pid] = replace(p, periods=p.all_periods())
            continue
        seen = [e for e in evs if e.at <= recorded]
        if not seen:
            continue
        last = seen[-1]
        statuses = {e.to_status for e in seen}
        out[pid] = replace(
            p, status=last.to_status, valid_from=last.valid_from, valid_to=last.valid_to,
            periods=periods_of(seen),
            approval_no=p.approval_no if "approved" in statuses else None,
            approval_date=p.approval_date if "approved" in statuses else None,
            approval_override=p.approval_override if "approved" in statuses else None,
        )
    return out
