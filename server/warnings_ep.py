"""预警 over HTTP, for the bureaus' staff: the warnings and their trail, status changes, feeds and webhook
subscriptions. The same warnings as a map layer are the ``warnings`` collection (providers/warning_provider.py).

Every change is recorded with the signed-in person; a user limited to a region changes only the warnings of
that region (and those under it) and subscribes only to them. A subscription's signing secret is shown once,
when it is made. The feeds (Atom and JSON Feed) list the newest events, for a reader or a dashboard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response
from lxml import etree

from onemap.config.errors import Forbidden, InvalidInput, InvalidParameterValue, NotFound
from onemap.config.settings import Settings
from onemap.config.warnings import WarningRules, get_warning_rules
from onemap.domain.regions import check_region
from onemap.providers.params import F_JSON, Param, ParamContext, format_param, parse_region
from onemap.providers.store import Store
from onemap.providers.store.warnings import STATUSES, Subscription, Warning
from onemap.providers.warning_provider import feature
from onemap.providers.webhooks import WebhookPolicy, event_json, event_payload, warning_json

from .http import JSON, json_body, json_response
from .links import Links
from .routing import APIFactory, Call, Route

ATOM = "application/atom+xml"
JSON_FEED = "application/feed+json"
ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_SIZE = 100
MAX_SUBSCRIPTION_REGIONS = 50
WARNING_ID = {"warningId": {"type": "string", "pattern": "^w[0-9a-f]{15}$"}}
SUBSCRIPTION_ID = {"subscriptionId": {"type": "string", "pattern": "^s[0-9a-f]{15}$"}}
OK = {"200": {"description": "JSON.", "content": {JSON: {"schema": {"type": "object"}}}}}
BODY = {"required": True, "content": {JSON: {"schema": {"type": "object"}}}}


def _choice(name: str, values: tuple[str, ...], description: str) -> Param:
    def parse(raw: str, ctx: ParamContext) -> str:
        if raw not in values:
            raise InvalidParameterValue(f"{name} must be one of {', '.join(values)}, not {raw!r}")
        return raw

    return Param(name, description, {"type": "string", "enum": list(values)}, parse, key=f"warnings-{name}")


def _count(name: str, description: str, default: int, maximum: int) -> Param:
    def parse(raw: str, ctx: ParamContext) -> int:
        if not raw.isdigit():
            raise InvalidParameterValue(f"{name} must be a whole number")
        return min(int(raw), maximum)

    return Param(name, description, {"type": "integer", "minimum": 0, "maximum": maximum, "default": default},
                 parse, key=f"warnings-{name}", default=default)


REGION = Param("region", "Only warnings of this region and the regions under it (6, 9 or 12 digits).",
               {"type": "string", "pattern": "^[0-9]{6,12}$"}, parse_region, key="warnings-region")
KIND = _choice("kind", ("indicator", "filing", "land", "monitoring"), "Only warnings of this kind.")
STATUS = _choice("status", STATUSES, "Only warnings with this status.")
SEVERITY = _choice("severity", ("notice", "warning", "severe"), "Only warnings of this severity.")
LIMIT = _count("limit", "Page size.", 100, 1000)
OFFSET = _count("offset", "Warnings to skip.", 0, 10_000_000)
F_FEED = format_param("atom", "json", key="f-feed", description="Atom (default) or JSON Feed 1.1.")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


class WarningsAPI(APIFactory):
    """Warnings, their status, feeds and webhook subscriptions."""

    tags = ({"name": "warnings", "description": "预警: warnings, their status, feeds and webhooks (实施监督)"},)

    def __init__(self, store: Store, settings: Settings, links: Links) -> None:
        self.store = store
        self.settings = settings
        self.links = links
        self.rules: WarningRules = get_warning_rules(settings.warning_rules)
        self.policy = WebhookPolicy(settings.webhook_allow)

    def routes(self) -> list[Route]:
        return [
            Route("/warnings", self.warnings_page, "getWarnings", "Warnings, newest change first (filter by region, kind, "
                  "status, severity)", ("warnings",), query=(F_JSON, REGION, KIND, STATUS, SEVERITY, LIMIT, OFFSET),
                  responses=OK, guard="internal"),
            Route("/warnings/feed", self.feed, "getWarningFeed", "The newest warning events as an Atom feed or a "
                  "JSON Feed", ("warnings",), query=(F_FEED, REGION, KIND), guard="internal", formats=("atom", "json"),
                  responses={"200": {"description": "The feed.", "content": {ATOM: {"schema": {"type": "string"}},
                                                                              JSON_FEED: {"schema": {"type": "object"}}}}}),
            Route("/warnings/subscriptions", self.subscriptions, "getWarningSubscriptions", "The caller's webhook "
                  "subscriptions (an administrator's: everyone's)", ("warnings",), query=(F_JSON,), responses=OK,
                  guard="internal"),
            Route("/warnings/subscriptions", self.subscribe, "createWarningSubscription", "Subscribe a webhook: "
                  "{url, regions?, kinds?, label?}; the answer holds the signing secret, shown once", ("warnings",),
                  method="POST", query=(F_JSON,), request_body=BODY, scope="write", guard="internal",
                  responses={"201": {"description": "The subscription and its secret.",
                                     "content": {JSON: {"schema": {"type": "object"}}}}}),
            Route("/warnings/subscriptions/{subscriptionId}", self.subscription, "getWarningSubscription",
                  "A subscription and its deliveries, each with its attempts", ("warnings",), query=(F_JSON,),
                  path_params=SUBSCRIPTION_ID, responses=OK, guard="internal"),
            Route("/warnings/subscriptions/{subscriptionId}", self.unsubscribe, "deleteWarningSubscription",
                  "Stop a subscription (kept with its deliveries as the record)", ("warnings",), method="DELETE",
                  path_params=SUBSCRIPTION_ID, scope="write", guard="internal",
                  responses={"204": {"description": "Stopped."}}),
            Route("/warnings/{warningId}", self.get, "getWarning", "A warning, where it is and its trail (who changed "
                  "what, when)", ("warnings",), query=(F_JSON,), path_params=WARNING_ID, responses=OK,
                  guard="internal"),
            Route("/warnings/{warningId}/status", self.move, "setWarningStatus", "Acknowledge, close or reopen a "
                  "warning: {status, note?}", ("warnings",), method="POST", query=(F_JSON,), path_params=WARNING_ID,
                  request_body=BODY, scope="write", guard="internal", responses=OK),
        ]

    # ---- helpers -------------------------------------------------------------------------------------
    def _json(self, w: Warning, full: bool = False) -> dict[str, Any]:
        doc = warning_json(w, self.rules)
        doc["links"] = [self.links.link("self", JSON, "warnings", w.id),
                        self.links.link("alternate", "application/geo+json", "collections", "warnings", "items", w.id,
                                        title="the warning as a feature")]
        if full:
            doc["geometry"] = feature(w, self.rules)["geometry"]
            doc["events"] = [event_json(e) for e in self.store.warnings.events(w.id)]
        return doc

    def _warning(self, warning_id: str) -> Warning:
        w = self.store.warnings.get(warning_id)
        if w is None:
            raise NotFound(f"no warning {warning_id!r}")
        return w

    def _sub_json(self, s: Subscription) -> dict[str, Any]:
        return {"id": s.id, "owner": s.owner, "url": s.url, "regions": list(s.regions), "kinds": list(s.kinds),
                "label": s.label, "created": _iso(s.created), "active": s.active,
                "links": [self.links.link("self", JSON, "warnings", "subscriptions", s.id)]}

    def _own(self, call: Call, sid: str) -> Subscription:
        found = self.store.warnings.subscription(sid)
        p = call.principal
        if found is None or (found[0].owner != p.who and p.role != "admin"):
            raise NotFound(f"no subscription {sid!r}")  # another person's does not exist for the caller
        return found[0]

    # ---- warnings ------------------------------------------------------------------------------------
    def warnings_page(self, call: Call) -> Response:
        a = call.args
        found, total = self.store.warnings.page(region=a.get("region"), kind=a.get("kind"), status=a.get("status"),
                                                severity=a.get("severity"), limit=a["limit"], offset=a["offset"])
        doc: dict[str, Any] = {"warnings": [self._json(w) for w in found], "numberMatched": total,
                               "numberReturned": len(found), "links": [self.links.link("self", JSON, "warnings")]}
        if a["offset"] + len(found) < total:
            query = {k: v for k, v in call.request.args.items() if k != "offset"}
            query["offset"] = str(a["offset"] + len(found))
            doc["links"].append({"rel": "next", "type": JSON, "href": self.links.url("warnings", query=query)})
        return json_response(doc, pretty=self.settings.pretty_print)

    def get(self, call: Call, warningId: str) -> Response:
        return json_response(self._json(self._warning(warningId), full=True), pretty=self.settings.pretty_print)

    def move(self, call: Call, warningId: str) -> Response:
        w = self._warning(warningId)
        p = call.principal
        if not p.covers(w.region):
            raise Forbidden(f"{p.who} may change only the warnings of region {p.region}")
        doc = json_body(call.request, "status", "note")
        status = doc.get("status")
        if not isinstance(status, str) or status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        note = doc.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 1000):
            raise InvalidInput("note must be text of at most 1000 characters")
        moved, event = self.store.warnings.move(warningId, status, p.who, note)
        subs = [s for s in self.store.warnings.subscriptions() if s.wants(moved)]
        payload = event_payload(event, moved, self.rules)
        for s in subs:  # a person's change reaches the subscribers too
            self.store.warnings.enqueue(s, event, payload)
        return json_response(self._json(moved, full=True), pretty=self.settings.pretty_print)

    # ---- feeds ---------------------------------------------------------------------------------------
    def feed(self, call: Call) -> Response:
        a = call.args
        items = self.store.warnings.recent_events(FEED_SIZE, region=a.get("region"), kind=a.get("kind"))
        if (a.get("f") or "atom") == "json":
            doc = {"version": "https://jsonfeed.org/version/1.1", "title": "OneMap 预警 warnings",
                   "home_page_url": self.links.url("warnings"), "feed_url": self.links.url("warnings", "feed",
                                                                                           query={"f": "json"}),
                   "items": [{"id": f"{w.id}/{e.seq}", "url": self.links.url("warnings", w.id),
                              "title": f"[{e.action}] {w.title_zh}", "date_published": _iso(e.at),
                              "content_text": self._summary(w, e.action, e.note), "tags": [w.kind, w.severity],
                              "_onemap": event_payload(e, w, self.rules)} for e, w in items]}
            return json_response(doc, media_type=JSON_FEED, pretty=self.settings.pretty_print)
        feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
        etree.SubElement(feed, f"{{{ATOM_NS}}}title").text = "OneMap 预警 warnings"
        etree.SubElement(feed, f"{{{ATOM_NS}}}id").text = self.links.url("warnings", "feed")
        etree.SubElement(feed, f"{{{ATOM_NS}}}updated").text = _iso(items[0][0].at) if items else _iso(0)
        etree.SubElement(feed, f"{{{ATOM_NS}}}link", rel="self", href=self.links.url("warnings", "feed"))
        author = etree.SubElement(feed, f"{{{ATOM_NS}}}author")
        etree.SubElement(author, f"{{{ATOM_NS}}}name").text = "OneMap"
        for e, w in items:
            entry = etree.SubElement(feed, f"{{{ATOM_NS}}}entry")
            etree.SubElement(entry, f"{{{ATOM_NS}}}id").text = f"{self.links.url('warnings', w.id)}#{e.seq}"
            etree.SubElement(entry, f"{{{ATOM_NS}}}title").text = f"[{e.action}] {w.title_zh}"
            etree.SubElement(entry, f"{{{ATOM_NS}}}updated").text = _iso(e.at)
            etree.SubElement(entry, f"{{{ATOM_NS}}}link", rel="alternate", type=JSON,
                             href=self.links.url("warnings", w.id))
            etree.SubElement(entry, f"{{{ATOM_NS}}}category", term=w.kind)
            etree.SubElement(entry, f"{{{ATOM_NS}}}category", term=w.severity)
            etree.SubElement(entry, f"{{{ATOM_NS}}}summary").text = self._summary(w, e.action, e.note)
        body = etree.tostring(feed, xml_declaration=True, encoding="utf-8")
        return Response(body, mimetype=ATOM)

    def _summary(self, w: Warning, action: str, note: str | None) -> str:
        sev = self.rules.severities.get(w.severity)
        text = f"{w.title_zh}（{w.region}，{sev.zh if sev else w.severity}，{action}）"
        return text + (f"：{note}" if note else "")

    # ---- subscriptions -------------------------------------------------------------------------------
    def subscriptions(self, call: Call) -> Response:
        p = call.principal
        subs = self.store.warnings.subscriptions(None if p.role == "admin" else p.who)
        return json_response({"subscriptions": [self._sub_json(s) for s in subs]}, pretty=self.settings.pretty_print)

    def subscribe(self, call: Call) -> Response:
        p = call.principal
        doc = json_body(call.request, "url", "regions", "kinds", "label")
        url = doc.get("url")
        if not isinstance(url, str):
            raise InvalidInput("url is required: the http(s) address to post warnings to")
        self.policy.check(url)
        regions = doc.get("regions", [p.region] if p.region else [])
        if not isinstance(regions, list) or len(regions) > MAX_SUBSCRIPTION_REGIONS \
                or not all(isinstance(r, str) for r in regions):
            raise InvalidInput(f"regions must be a list of at most {MAX_SUBSCRIPTION_REGIONS} region codes")
        for r in regions:
            check_region(r)  # a 400 for what is not a region code
            if not p.covers(r):
                raise Forbidden(f"{p.who} may subscribe only to the warnings of region {p.region}")
        if p.region and not regions:
            raise Forbidden(f"{p.who} may subscribe only to the warnings of region {p.region}")
        kinds = doc.get("kinds", [])
        if not isinstance(kinds, list) or not all(k in self.rules.kinds for k in kinds):
            raise InvalidInput(f"kinds must be a list of {', '.join(self.rules.kinds)}")
        label = doc.get("label")
        if label is not None and (not isinstance(label, str) or len(label) > 200):
            raise InvalidInput("label must be text of at most 200 characters")
        sub, secret = self.store.warnings.subscribe(p.who, url, sorted(set(regions)), sorted(set(kinds)), label)
        out = {**self._sub_json(sub), "secret": secret,
               "signature": "X-OneMap-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>' with the "
                            "secret>"}
        resp = json_response(out, status=201, pretty=self.settings.pretty_print)
        resp.headers["Location"] = self.links.url("warnings", "subscriptions", sub.id)
        return resp

    def subscription(self, call: Call, subscriptionId: str) -> Response:
        sub = self._own(call, subscriptionId)
        deliveries = [{"id": d.id, "warning": d.warning_id, "event_seq": d.event_seq, "status": d.status,
                       "attempts": [{**t, "at": _iso(t["at"])} for t in tries], "next_at": _iso(d.next_at)
                       if d.status == "pending" else None, "last_code": d.last_code, "last_error": d.last_error,
                       "created": _iso(d.created)} for d, tries in self.store.warnings.deliveries(sub.id)]
        return json_response({**self._sub_json(sub), "deliveries": deliveries}, pretty=self.settings.pretty_print)

    def unsubscribe(self, call: Call, subscriptionId: str) -> Response:
        self._own(call, subscriptionId)
        self.store.warnings.unsubscribe(subscriptionId)
        return Response(status=204)
