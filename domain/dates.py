"""Dates of the one map: when plans are in force (valid time) and what the registry recorded when.

``datetime`` asks "in force on": a local date (or interval of dates) where the plans are in
force. ``recorded`` asks "as the registry stood at": an instant; a plain date means the end of
that local day, so that everything recorded that day counts.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from onemap.config.errors import InvalidParameterValue

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class When:
    """The date (or interval) at which the one map is asked for; ``None`` ends are open."""

    start: dt.date | None
    end: dt.date | None

    @property
    def is_instant(self) -> bool:
        return self.start is not None and self.start == self.end

    @classmethod
    def at(cls, day: dt.date) -> When:
        return cls(day, day)

    def day(self, what: str) -> dt.date:
        """The one date asked for; an interval is a 400 saying what answers for one date only
        (``what``: e.g. "indicators are computed")."""
        if not self.is_instant or self.start is None:
            raise InvalidParameterValue(f"datetime: {what} for one date, not an interval")
        return self.start

    def key(self) -> str:
        """A canonical text form (equivalent requests give the same key)."""
        return f"{self.start or '..'}/{self.end or '..'}"


def today(tz: str = "Asia/Shanghai") -> dt.date:
    """Today's date where the plans are in force."""
    return dt.datetime.now(ZoneInfo(tz)).date()


def _instant(text: str, name: str) -> dt.datetime | dt.date:
    t = text.strip()
    try:
        if _DATE_RE.match(t):
            return dt.date.fromisoformat(t)
        value = dt.datetime.fromisoformat(t.replace("z", "Z"))
    except ValueError:
        raise InvalidParameterValue(
            f"{name}: {text!r} is not an RFC 3339 date or date-time (e.g. 2023-06-01 or "
            "2023-06-01T12:00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _local_date(text: str, tz: str) -> dt.date:
    value = _instant(text, "datetime")
    if isinstance(value, dt.datetime):
        return value.astimezone(ZoneInfo(tz)).date()
    return value


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
        start = None if start_s in ("", "..") else _local_date(start_s, tz)
        end = None if end_s in ("", "..") else _local_date(end_s, tz)
        if start is None and end is None:
            return When(None, None)
        if start is not None and end is not None and start > end:
            raise InvalidParameterValue("datetime: the interval ends before it starts")
        return When(start, end)
    if value.strip() == "..":
        raise InvalidParameterValue("datetime: '..' is only allowed as an end of an interval")
    return When.at(_local_date(value, tz))


def parse_recorded(value: str | None, tz: str = "Asia/Shanghai") -> dt.datetime | None:
    """The ``recorded`` parameter: the instant the registry is read as of (None: as it stands now).

    A date means the end of that local day (every fact recorded that day counts); a date-time
    without an offset is UTC, as for ``datetime``. An instant in the future is a 400: the
    registry has not recorded it yet; the present (today's date) is the registry as it stands.
    """
    if value is None or value.strip() == "":
        return None
    if "/" in value or value.strip() == "..":
        raise InvalidParameterValue("recorded: give one date or date-time, not an interval")
    parsed = _instant(value, "recorded")
    now = dt.datetime.now(dt.UTC)
    if isinstance(parsed, dt.datetime):
        if parsed > now + dt.timedelta(minutes=1):
            raise InvalidParameterValue("recorded: the registry cannot be read as of a future instant")
        return parsed if parsed < now else None
    if parsed > today(tz):
        raise InvalidParameterValue("recorded: the registry cannot be read as of a future date")
    if parsed == today(tz):
        return None
    return dt.datetime.combine(parsed + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(tz)) - dt.timedelta(microseconds=1)
