"""Drawer semantics: which plans a request sees (by date, by region, by plan id)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidParameterValue

from .store.base import Store, When, region_prefix, today

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_instant(text: str, tz: str) -> dt.date:
    """An RFC 3339 date or date-time as the local date where plans are in force."""
    t = text.strip()
    try:
        if _DATE_RE.match(t):
            return dt.date.fromisoformat(t)
        value = dt.datetime.fromisoformat(t.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterValue(
            f"datetime: {text!r} is not an RFC 3339 date or date-time (e.g. 2023-06-01 or "
            "2023-06-01T12:00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(ZoneInfo(tz)).date()


def parse_when(value: str | None, tz: str = "Asia/Shanghai") -> When:
    """The ``datetime`` parameter: an instant, or an interval with ``..`` or empty open ends.

    No value means today: a collection shows the plans in force now.
    """
    if value is None or value.strip() == "":
        return When.at(today(tz))
    if "/" in value:
        parts = value.split("/")
        if len(parts) != 2:
            raise InvalidParameterValue(f"datetime: {value!r} is not an instant or an interval")
        start_s, end_s = (p.strip() for p in parts)
        start = None if start_s in ("", "..") else _parse_instant(start_s, tz)
        end = None if end_s in ("", "..") else _parse_instant(end_s, tz)
        if start is None and end is None:
            return When(None, None)
        if start is not None and end is not None and start > end:
            raise InvalidParameterValue("datetime: the interval ends before it starts")
        return When(start, end)
    if value.strip() == "..":
        raise InvalidParameterValue("datetime: '..' is only allowed as an end of an interval")
    return When.at(_parse_instant(value, tz))


def check_region(code: str) -> str:
    """A ``region`` parameter: a 6, 9 or 12 digit division code (400 otherwise)."""
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise InvalidParameterValue(f"region {code!r} is not a 6, 9 or 12 digit administrative division code")
    region_prefix(code)
    return code


def registry_entries(store: Store, when: When | None, region: str | None) -> tuple[str, ...] | None:
    """Registry entries in ``region`` (and under it) in force during ``when``; None: all entries."""
    if when is None and region is None:
        return None
    prefix = region_prefix(region) if region else None
    return tuple(sorted(p.id for p in store.plans().values()
                        if (prefix is None or p.region.startswith(prefix)) and (when is None or p.in_force(when))))


def resolve_plans(store: Store, layer: Layer, when: When, region: str | None,
                  plan_id: str | None) -> tuple[str, ...]:
    """The drawer entries whose features a request sees.

    An explicit ``plan_id`` shows that entry whatever its status (an approver previews a
    submission); otherwise the filed plans in force during ``when``.
    """
    if plan_id is not None:
        plan = store.plan(plan_id)
        if plan is None or plan.type not in layer.drawer_types:
            return ()
        if region is not None and not plan.region.startswith(region_prefix(region)):
            return ()
        return (plan.id,)
    return store.plans_in_force(when, region, layer)
