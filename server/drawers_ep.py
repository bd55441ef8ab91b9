"""The drawer record over HTTP: which plan governs a place (``/governing``), a drawer entry's trace
(``/plans/{planId}/trace``) and the review certificates (``/certificates``)."""

from __future__ import annotations

import datetime as dt
import html as htmlmod
import json
import math
from typing import Any

import shapely
from flask import Response

from onemap.config.catalogue import Catalogue, Layer
from onemap.config.errors import InvalidParameterValue, NotFound, PayloadTooLarge
from onemap.config.settings import Settings
from onemap.domain.dates import When, today
from onemap.domain.plans import PUBLIC_STATES
from onemap.providers.governing import MAX_POINTS, at_points, over_area
from onemap.providers.params import DATETIME, LANG, RECORDED, F, Param, ParamContext, parse_int
from onemap.providers.registry import Registry
from onemap.providers.store import Store

from .access import reaches
from .http import GEOJSON, JSON, json_response
from .links import Links
from .routing import APIFactory, Call, Route

MAX_BODY = 20 * 1024 * 1024
OK = {"200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}}


def _point(raw: str, ctx: ParamContext) -> shapely.Point:
    parts = raw.split(",")
    if len(parts) != 2:
        raise InvalidParameterValue("point takes LON,LAT (CRS84)")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise InvalidParameterValue("point values must be numbers") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidParameterValue("point is outside the valid range of longitude and latitude")
    return shapely.Point(lon, lat)


def _names(raw: str, ctx: ParamContext) -> tuple[str, ...]:
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def _plan_filter(raw: str, ctx: ParamContext) -> str:
    if not raw or len(raw) > 64:
        raise InvalidParameterValue("plan_id must be a plan identifier (at most 64 characters)")
    return raw


POINT = Param("point", "LON,LAT in CRS84", parse=_point)
LAYERS = Param("layers", "Comma-separated layers (default: all)", parse=_names)
CERT_PLAN = Param("plan_id", "Certificates about this drawer entry", {"type": "string", "maxLength": 64},
                  _plan_filter, key="certificates-plan_id")
CERT_PROCESS = Param("process", "Certificates of this process", {"type": "string", "maxLength": 64},
                     key="certificates-process")
CERT_LIMIT = Param("limit", "At most this many (1 to 1000)", {"type": "integer", "minimum": 1, "maximum": 1000},
                   parse_int("limit", 1, 1000), default=100, key="certificates-limit")


class DrawersAPI(APIFactory):
    """The drawer record over HTTP: which plan governs a place, a drawer entry's trace, the certificates."""

    tags = ({"name": "drawers", "description": "Which plan governs, the drawer record and review certificates"},)

    def __init__(self, catalogue: Catalogue, store: Store, settings: Settings, links: Links) -> None:
        self.catalogue = catalogue
        self.store = store
        self.settings = settings
        self.links = links

    def routes(self) -> list[Route]:
        gov = (F, LANG, POINT, DATETIME, RECORDED, LAYERS)
        return [
            Route("/governing", self.governing, "getGoverning",
                  "Which plan governs this point, per layer, with the chain above it", ("drawers",),
                  query=gov, responses=OK, formats=("json", "html")),
            Route("/governing", self.governing, "postGoverning",
                  "Which plans govern a GeoJSON geometry (points or an area)", ("drawers",), method="POST",
                  query=tuple(p for p in gov if p is not POINT), responses=OK, formats=("json", "html"),
                  request_body={"required": True, "content": {JSON: {"schema": {"type": "object"}}}}),
            Route("/plans/{planId}/trace", self.trace, "getPlanTrace",
                  "A drawer entry's record: periods in force, events, corrections, certificates", ("drawers",),
                  query=(F, LANG), path_params={"planId": {"type": "string", "maxLength": 64}}, responses=OK,
                  formats=("json", "html")),
            Route("/certificates", self.certificates, "getCertificates",
                  "Review certificates (compliance, quality check, transmission), newest first", ("drawers",),
                  query=(F, LANG, CERT_PLAN, CERT_PROCESS, CERT_LIMIT), responses=OK, formats=("json", "html"),
                  guard="internal"),
            Route("/certificates/{certificateId}", self.certificate, "getCertificate",
                  "A review certificate as it was archived (JSON), or its report (f=html)", ("drawers",),
                  query=(F, LANG), path_params={"certificateId": {"type": "string", "maxLength": 80}},
                  responses=OK, formats=("json", "html")),
        ]

    def _day(self, call: Call) -> dt.date:
        when = call.args["datetime"] or When.at(today(self.settings.timezone))
        return when.day("which plan governs is asked")

    def _layers(self, call: Call) -> list[Layer]:
        """The layers asked about, of those the caller may see (an unseen one is not a layer to them)."""
        names = call.args.get("layers")
        if not names:
            return [layer for layer in self.catalogue.layers.values() if reaches(call.principal, layer.tier)]
        out = []
        for lid in names:
            layer = self.catalogue.layers.get(lid)
            if layer is None or not reaches(call.principal, layer.tier):
                raise InvalidParameterValue(f"layers: {lid!r} is not a layer")
            out.append(layer)
        return out

    def governing(self, call: Call) -> Response:
        """GET ``/governing?point=LON,LAT``: per layer, the governing plan, the chain of plans above it and
        any contradiction between levels; POST a GeoJSON geometry: a MultiPoint gives the same per point,
        an area the plans governing each part of it (with areas) and what no plan governs."""
        day, recorded = self._day(call), call.args["recorded"]
        layers = self._layers(call)
        head = {"date": day.isoformat(), "recorded": recorded.isoformat() if recorded else None}
        req = call.request
        if req.method == "GET":
            point = call.args.get("point")
            if point is None:
                raise InvalidParameterValue("give point=LON,LAT (or POST a GeoJSON geometry)")
            answer = at_points(self.store, [point], day, recorded, layers)[0]
            doc = head | answer | {"undetermined": [e["layer"] for e in answer["layers"] if e["status"] != "governed"]}
        else:
            if (req.content_length or 0) > MAX_BODY:
                raise PayloadTooLarge(f"the geometry is larger than {MAX_BODY // (1024 * 1024)} MB")
            geom = _body_geometry(req.get_data(cache=False))
            if geom.geom_type in ("Point", "MultiPoint"):
                points = list(shapely.get_parts(geom))
                if len(points) > MAX_POINTS:
                    raise PayloadTooLarge(f"at most {MAX_POINTS} points in one request")
                doc = head | {"points": at_points(self.store, points, day, recorded, layers)}
            else:
                doc = head | {"layers": over_area(self.store, geom, day, recorded, layers)}
        if call.args["f"] == "html":
            return Response(_html("Which plan governs here / 哪个规划管控此处", doc), mimetype="text/html")
        return json_response(doc, pretty=self.settings.pretty_print)

    def trace(self, call: Call, planId: str) -> Response:
        """GET ``/plans/{planId}/trace``: the entry, its periods in force, its events (corrections marked) and
        its certificates."""
        entry = self.store.plan(planId)
        if entry is not None and entry.status not in PUBLIC_STATES and not reaches(call.principal, "internal"):
            raise NotFound(f"no drawer entry {planId!r}")  # a submission under review is internal
        doc = Registry(self.store, self.settings.timezone).trace(planId)
        if not reaches(call.principal, "internal"):
            doc["certificates"] = []  # the reviews of a plan are the bureau's record
        for c in doc["certificates"]:
            c["href"] = self.links.url("certificates", c["id"])
        doc["links"] = [self.links.link("self", JSON, "plans", planId, "trace"),
                        self.links.link("item", GEOJSON, "collections", "plans", "items", planId)]
        if call.args["f"] == "html":
            return Response(_html(f"{doc['plan']['title']} · {planId}", doc), mimetype="text/html")
        return json_response(doc, pretty=self.settings.pretty_print)

    def _owns(self, call: Call, certificate_id: str) -> bool:
        """Did the caller make this certificate (a partner's own review)?"""
        who = getattr(call.principal, "name", None)
        return who is not None and self.store.certificate_owner(certificate_id) == who

    def certificates(self, call: Call) -> Response:
        """GET ``/certificates[?plan_id=...&process=...]``: archived review certificates, newest first."""
        rows = self.store.certificates(plan_id=call.args["plan_id"], process=call.args["process"],
                                       limit=call.args["limit"])
        doc = {"certificates": [r | {"created": r["created"].isoformat(), "href": self.links.url("certificates", r["id"])}
                                for r in rows]}
        if call.args["f"] == "html":
            return Response(_html("Review certificates / 审查证书", doc), mimetype="text/html")
        return json_response(doc, pretty=self.settings.pretty_print)

    def certificate(self, call: Call, certificateId: str) -> Response:
        """GET ``/certificates/{certificateId}``: the certificate as it was written (JSON), or its report."""
        found = self.store.certificate(certificateId) if len(certificateId) <= 80 else None
        if found is None or not (reaches(call.principal, "internal") or self._owns(call, certificateId)):
            raise NotFound(f"no certificate {certificateId!r}")
        document, _ = found
        if call.args["f"] == "html":
            from onemap.processes.certificates import certificate_html

            report = certificate_html(self.store, self.settings, certificateId)
            if report:
                return Response(report, mimetype="text/html")
            return Response(_html(f"Certificate {certificateId}", json.loads(document)), mimetype="text/html")
        # the stored text itself: the same bytes years later
        return Response(document, mimetype=JSON, headers={"Cache-Control": "public, max-age=86400"})


def _body_geometry(data: bytes) -> shapely.Geometry:
    try:
        doc = json.loads(data or b"null")
    except ValueError:
        raise InvalidParameterValue("the request body is not JSON") from None
    except RecursionError:  # json recurses once per level of nesting
        raise InvalidParameterValue("the request body is nested too deeply to be read") from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict) or doc.get("type") not in (
            "Point", "MultiPoint", "Polygon", "MultiPolygon"):
        raise InvalidParameterValue("POST a GeoJSON Point, MultiPoint, Polygon or MultiPolygon (CRS84)")
    try:
        geom = shapely.geometry.shape(doc)
    except Exception:  # noqa: BLE001  (shapely's constructors raise several kinds)
        raise InvalidParameterValue("the geometry is malformed") from None
    if geom.is_empty:
        raise InvalidParameterValue("the geometry is empty")
    x0, y0, x1, y1 = geom.bounds
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        raise InvalidParameterValue("the geometry is outside the valid range of longitude and latitude")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return geom


def _html(title: str, doc: dict[str, Any]) -> str:
    """A plain HTML page of a JSON document (escaped): the record readable in a browser without scripts."""
    body = htmlmod.escape(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    return (f"<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>{htmlmod.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}pre{white-space:pre-wrap}</style></head><body>"
            f"<h1>{htmlmod.escape(title)}</h1><pre>{body}</pre></body></html>")
