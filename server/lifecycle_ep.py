"""The lifecycle of drawer entries over HTTP, for the bureaus' staff: submit a package, check, approve,
file, withdraw, reject.

Every step is recorded with the signed-in person (there is no free-text ``by`` over HTTP) and
in the audit trail; a user limited to a region moves only the drawers of that region (and those
under it). Bodies are JSON (a package: its own media type), which no page of another origin can
send without the server's consent (server/cors.py).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Response

from onemap.config.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from onemap.config.settings import Settings
from onemap.domain.plans import Plan
from onemap.providers.params import F_JSON, Param
from onemap.providers.registry import Registry, plan_json
from onemap.providers.store import Store

from .http import JSON, json_body, json_response
from .links import Links
from .routing import APIFactory, Call, Route

MAX_PACKAGE = 2 * 1024**3  # a province's county package with its attachments stays well below
PACKAGE_TYPES = {"application/geopackage+sqlite3": ".gpkg", "application/zip": ".zip",
                 "application/x-zip-compressed": ".zip"}
OK = {"200": {"description": "The drawer entry after the step.", "content": {JSON: {"schema": {"type": "object"}}}}}
PLAN_ID = {"planId": {"type": "string", "maxLength": 64}}


def _text(name: str, description: str, max_len: int = 200) -> Param:
    def parse(raw: str, ctx: Any) -> str:
        if not raw.strip() or len(raw) > max_len:
            from onemap.config.errors import InvalidParameterValue

            raise InvalidParameterValue(f"{name} must be 1 to {max_len} characters")
        return raw.strip()

    return Param(name, description, {"type": "string", "maxLength": max_len}, parse, key=f"submit-{name}")


SUBMIT = (F_JSON, _text("region", "the drawer's region code, e.g. 990121", 12),
          _text("level", "province, city, county or township", 10), _text("type", "master, detailed, special, survey", 10),
          _text("version", "the plan's version, e.g. 2026", 32), _text("title", "the plan's title"),
          _text("subject", "a special plan's category, a detailed plan's unit", 64),
          _text("upper", "the upper plan's drawer entry id", 64))


def _date(doc: dict[str, Any], key: str) -> dt.date | None:
    value = doc.get(key)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{key} takes a date like 2026-05-01") from None


def _str(doc: dict[str, Any], key: str, required: bool = False, max_len: int = 500) -> str | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"{key!r} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInput(f"{key!r} must be text of 1 to {max_len} characters")
    return value.strip()


class PlansAPI(APIFactory):
    """Submission, check, approval, filing, withdrawal and rejection of drawer entries."""

    tags = ({"name": "lifecycle", "description": "The lifecycle of drawer entries (the bureaus' staff)"},)

    def __init__(self, store: Store, settings: Settings, links: Links, submit_check: Any,
                 after_filing: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.links = links
        self.submit_check = submit_check  # (call, plan id) -> the job checking it, the caller's
        self.after_filing = after_filing  # (who filed) -> None: queues the warnings scan

    def routes(self) -> list[Route]:
        step = {"required": True, "content": {JSON: {"schema": {"type": "object"}}}}

        def route(action: str, handler: Any, summary: str) -> Route:
            return Route(f"/plans/{{planId}}/{action}", handler, f"{action}Plan", summary, ("lifecycle",),
                         method="POST", query=(F_JSON,), path_params=PLAN_ID, responses=OK, request_body=step,
                         scope="write", guard="internal")

        return [
            Route("/plans", self.submit, "submitPlan", "Submit a plan package (GeoPackage, zipped Shapefiles)",
                  ("lifecycle",), method="POST", query=SUBMIT, scope="write", guard="internal",
                  request_body={"required": True, "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                                              for t in PACKAGE_TYPES}},
                  responses={"201": {"description": "The new drawer entry (submitted).",
                                     "content": {JSON: {"schema": {"type": "object"}}}}}),
            route("check", self.check, "Check a submitted entry (a plan-qc job; a clean check moves it to checked)"),
            route("approve", self.approve, "Approve a checked entry: {approval_no, approval_date?, override?, reason?}"),
            route("file", self.file, "File an approved entry: {valid_from?, reason?}"),
            route("withdraw", self.withdraw, "Withdraw an entry: {reason, valid_to?, reinstate?}"),
            route("reject", self.reject, "Reject a submitted or checked entry: {reason}"),
        ]

    # ---- helpers -------------------------------------------------------------------------------------
    def _entry(self, call: Call, plan_id: str) -> Plan:
        plan = self.store.plan(plan_id)
        if plan is None:
            raise NotFound(f"no drawer entry {plan_id!r}")
        if not call.principal.covers(plan.region):
            raise Forbidden(f"{call.principal.who} may change only the drawers of region {call.principal.region}")
        return plan

    def _answer(self, plan: Plan, status: int = 200) -> Response:
        doc = plan_json(plan, self.settings.timezone)
        doc["links"] = [self.links.link("self", JSON, "plans", plan.id, "trace", title="the entry's record")]
        return json_response(doc, status=status)

    def _registry(self) -> Registry:
        return Registry(self.store, self.settings.timezone)

    # ---- the steps -----------------------------------------------------------------------------------
    def submit(self, call: Call) -> Response:
        from onemap.providers.packages import load_package

        req = call.request
        suffix = PACKAGE_TYPES.get(req.mimetype)
        if suffix is None:
            raise UnsupportedMediaType(f"send the package as one of {', '.join(PACKAGE_TYPES)}")
        if (req.content_length or 0) > MAX_PACKAGE:
            raise PayloadTooLarge(f"the package is larger than {MAX_PACKAGE // 1024**3} GB")
        a = call.args
        missing = [n for n in ("region", "level", "type", "version") if not a.get(n)]
        if missing:
            raise InvalidInput(f"give {', '.join(missing)} as query parameters")
        if not call.principal.covers(a["region"]):
            raise Forbidden(f"{call.principal.who} may submit only to region {call.principal.region}")
        with tempfile.TemporaryDirectory(prefix="onemap-submit-") as tmp:
            path = Path(tmp) / f"package{suffix}"
            written = 0
            with path.open("wb") as fh:  # streamed to disk, never whole in memory
                while chunk := req.stream.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_PACKAGE:
                        raise PayloadTooLarge(f"the package is larger than {MAX_PACKAGE // 1024**3} GB")
                    fh.write(chunk)
            plan = load_package(self.store, path, region=a["region"], level=a["level"], type_=a["type"],
                                version=a["version"], title=a.get("title"), by=call.principal.who,
                                upper_plan_id=a.get("upper"), subject=a.get("subject"))
        resp = self._answer(plan, 201)
        resp.headers["Location"] = self.links.url("collections", "plans", "items", plan.id)
        return resp

    def check(self, call: Call, planId: str) -> Response:
        self._entry(call, planId)
        if call.request.content_length:
            json_body(call.request)
        return self.submit_check(call, planId)

    def approve(self, call: Call, planId: str) -> Response:
        self._entry(call, planId)
        doc = json_body(call.request, "approval_no", "approval_date", "reason", "override")
        plan = self._registry().approve(planId, call.principal.who, _str(doc, "approval_no", True, 100) or "",
                                        _date(doc, "approval_date"), _str(doc, "reason"), _str(doc, "override"))
        return self._answer(plan)

    def file(self, call: Call, planId: str) -> Response:
        self._entry(call, planId)
        doc = json_body(call.request, "valid_from", "reason")
        plan = self._registry().file(planId, call.principal.who, _date(doc, "valid_from"), _str(doc, "reason"))
        if self.after_filing is not None:
            self.after_filing(call.principal.who)
        return self._answer(plan)

    def withdraw(self, call: Call, planId: str) -> Response:
        self._entry(call, planId)
        doc = json_body(call.request, "reason", "valid_to", "reinstate")
        reinstate = doc.get("reinstate", True)
        if not isinstance(reinstate, bool):
            raise InvalidInput("'reinstate' is true or false")
        return self._answer(self._registry().withdraw(planId, call.principal.who, _str(doc, "reason", True),
                                                      _date(doc, "valid_to"), reinstate))

    def reject(self, call: Call, planId: str) -> Response:
        self._entry(call, planId)
        doc = json_body(call.request, "reason")
        return self._answer(self._registry().reject(planId, call.principal.who, _str(doc, "reason", True)))
