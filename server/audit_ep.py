"""The audit trail over HTTP, for administrators: ``/audit`` (JSON or CSV) and its verification."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Response

from onemap.providers.params import LANG, Param, ParamContext, format_param, parse_int
from onemap.providers.store import Store

from .cli_access import export
from .http import JSON, json_response
from .links import Links
from .routing import APIFactory, Call, Route


def _text(name: str, description: str) -> Param:
    def parse(raw: str, ctx: ParamContext) -> str:
        from onemap.config.errors import InvalidParameterValue

        if not raw or len(raw) > 64:
            raise InvalidParameterValue(f"{name} must be 1 to 64 characters")
        return raw

    return Param(name, description, {"type": "string", "maxLength": 64}, parse, key=f"audit-{name}")


F_AUDIT = format_param("json", "csv", key="f-audit", description="JSON (default) or CSV")
def _instant(name: str, description: str) -> Param:
    """A date or date-time (ISO 8601; without a zone: UTC), compared with the records' UTC times."""

    def parse(raw: str, ctx: ParamContext) -> str:
        from onemap.config.errors import InvalidParameterValue

        try:
            when = dt.datetime.fromisoformat(raw) if len(raw) <= 40 else None
        except ValueError:
            when = None
        if when is None:
            raise InvalidParameterValue(f"{name} takes a date or date-time like 2026-12-01 or 2026-12-01T08:00:00+08:00")
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(dt.UTC).isoformat(timespec="microseconds")

    return Param(name, description, {"type": "string", "format": "date-time"}, parse, key=f"audit-{name}")


QUERY = (F_AUDIT, LANG, _text("who", "only this caller's records"), _text("action", "only this action"),
         _instant("since", "records made at or after this date or date-time (ISO 8601; no zone: UTC)"),
         _instant("until", "records made before this date or date-time"),
         Param("after", "continue after this sequence number", {"type": "integer", "minimum": 0},
               parse_int("after", 0), default=0, key="audit-after"),
         Param("limit", "at most this many records (1 to 10000)", {"type": "integer", "minimum": 1, "maximum": 10000},
               parse_int("limit", 1, 10_000), default=1000, key="audit-limit"))


class AuditAPI(APIFactory):
    """Who did what, when, with what outcome: every state change, partner call and denied request."""

    tags = ({"name": "audit", "description": "The audit trail (administrators)"},)

    def __init__(self, store: Store, links: Links) -> None:
        self.store = store
        self.links = links

    def routes(self) -> list[Route]:
        ok = {"200": {"description": "Records in chain order.", "content": {
            JSON: {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}}}}
        return [
            Route("/audit", self.records, "getAudit", "The audit trail, filtered (JSON or CSV)", ("audit",),
                  query=QUERY, responses=ok, formats=("json", "csv"), guard="admin"),
            Route("/audit/verify", self.verify, "verifyAudit", "Walk the audit trail's hash chain", ("audit",),
                  query=(LANG,), guard="admin",
                  responses={"200": {"description": "Whether the chain is intact.",
                                     "content": {JSON: {"schema": {"type": "object"}}}}}),
        ]

    def records(self, call: Call) -> Response:
        a = call.args
        rows = self.store.access.records(who=a.get("who"), action=a.get("action"), since=a.get("since"),
                                         until=a.get("until"), after=a.get("after") or 0, limit=a.get("limit") or 1000)
        if a.get("f") == "csv":
            out = io.StringIO()
            export(rows, out, "csv")
            return Response(out.getvalue(), mimetype="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="onemap-audit.csv"'})
        doc: dict[str, Any] = {"records": rows, "links": [self.links.link("self", JSON, "audit")]}
        if rows and len(rows) == (a.get("limit") or 1000):
            kept = {k: a[k] for k in ("who", "action", "since", "until") if a.get(k)}
            doc["links"].append(self.links.link("next", JSON, "audit", query={**kept, "after": rows[-1]["seq"]}))
        return json_response(doc)

    def verify(self, call: Call) -> Response:
        ok, count, broken = self.store.access.verify_chain()
        return json_response({"intact": ok, "records": count, "brokenAt": broken})
