"""The drawer record over HTTP: which plan governs a place (``/governing``), a drawer entry's trace
(``/plans/{planId}/trace``) and the review certificates (``/certificates``)."""

from __future__ import annotations

import html as htmlmod
import json
import math
from typing import TYPE_CHECKING, Any

import shapely
from flask import Response, request

from onemap.config.errors import InvalidParameterValue, NotFound, PayloadTooLarge
from onemap.domain.dates import When, parse_recorded, parse_when, today
from onemap.providers.governing import MAX_POINTS, at_points, over_area
from onemap.providers.registry import Registry

from .http import json_response, output_format
from .params import check_known

if TYPE_CHECKING:
    from .app import OneMap

GOVERNING_PARAMS = frozenset({"f", "lang", "point", "datetime", "recorded", "layers"})
MAX_BODY = 20 * 1024 * 1024


def _day(om: "OneMap") -> tuple[Any, Any]:
    raw = request.args.get("datetime")
    when = parse_when(raw, om.settings.timezone) if raw else When.at(today(om.settings.timezone))
    if not when.is_instant or when.start is None:
        raise InvalidParameterValue("datetime: which plan governs is asked for one date, not an interval")
    return when.start, parse_recorded(request.args.get("recorded"), om.settings.timezone)


def _layers(om: "OneMap") -> list:
    raw = request.args.get("layers")
    if not raw:
        return [layer for layer in om.catalogue.layers.values()]
    out = []
    for lid in (x.strip() for x in raw.split(",") if x.strip()):
        layer = om.catalogue.layers.get(lid)
        if layer is None:
            raise InvalidParameterValue(f"layers: {lid!r} is not a layer")
        out.append(layer)
    return out


def _point(raw: str) -> shapely.Point:
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


def governing(om: "OneMap") -> Response:
    """GET ``/governing?point=LON,LAT``: per layer, the governing plan, the chain of plans above it and
    any contradiction between levels; POST a GeoJSON geometry: a MultiPoint gives the same per point,
    an area the plans governing each part of it (with areas) and what no plan governs."""
    check_known(request.args, GOVERNING_PARAMS)
    day, recorded = _day(om)
    layers = _layers(om)
    head = {"date": day.isoformat(), "recorded": recorded.isoformat() if recorded else None}
    if request.method == "GET":
        raw = request.args.get("point")
        if raw is None:
            raise InvalidParameterValue("give point=LON,LAT (or POST a GeoJSON geometry)")
        answer = at_points(om.store, [_point(raw)], day, recorded, layers)[0]
        doc = head | answer | {"undetermined": [e["layer"] for e in answer["layers"] if e["status"] != "governed"]}
    else:
        if (request.content_length or 0) > MAX_BODY:
            raise PayloadTooLarge(f"the geometry is larger than {MAX_BODY // (1024 * 1024)} MB")
        geom = _body_geometry()
        if geom.geom_type in ("Point", "MultiPoint"):
            points = list(shapely.get_parts(geom))
            if len(points) > MAX_POINTS:
                raise PayloadTooLarge(f"at most {MAX_POINTS} points in one request")
            doc = head | {"points": at_points(om.store, points, day, recorded, layers)}
        else:
            doc = head | {"layers": over_area(om.store, geom, day, recorded, layers)}
    if output_format(request) == "html":
        return Response(_html("Which plan governs here / 哪个规划管控此处", doc), mimetype="text/html")
    return json_response(doc, pretty=om.settings.pretty_print)


def _body_geometry() -> shapely.Geometry:
    try:
        doc = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError):
        raise InvalidParameterValue("the request body is not JSON") from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict) or doc.get("type") not in (
            "Point", "MultiPoint", "Polygon", "MultiPolygon"):
        raise InvalidParameterValue("POST a GeoJSON Point, MultiPoint, Polygon or MultiPolygon (CRS84)")
    try:
        geom = shapely.geometry.shape(doc)
    except Exception:
        raise InvalidParameterValue("the geometry is malformed") from None
    if geom.is_empty:
        raise InvalidParameterValue("the geometry is empty")
    x0, y0, x1, y1 = geom.bounds
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        raise InvalidParameterValue("the geometry is outside the valid range of longitude and latitude")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return geom


def trace(om: "OneMap", plan_id: str) -> Response:
    """GET ``/plans/{planId}/trace``: the entry, its periods in force, its events (corrections marked) and
    its certificates."""
    check_known(request.args, frozenset({"f", "lang"}))
    doc = Registry(om.store, om.settings.timezone).trace(plan_id)
    base = om.base_url
    for c in doc["certificates"]:
        c["href"] = f"{base}/certificates/{c['id']}"
    doc["links"] = [{"rel": "self", "type": "application/json", "href": f"{base}/plans/{plan_id}/trace"},
                    {"rel": "item", "type": "application/geo+json",
                     "href": f"{base}/collections/plans/items/{plan_id}"}]
    if output_format(request) == "html":
        return Response(_html(f"{doc['plan']['title']} · {plan_id}", doc), mimetype="text/html")
    return json_response(doc, pretty=om.settings.pretty_print)


def certificates(om: "OneMap") -> Response:
    """GET ``/certificates[?plan_id=...&process=...]``: archived review certificates, newest first."""
    check_known(request.args, frozenset({"f", "lang", "plan_id", "process", "limit"}))
    try:
        limit = min(max(int(request.args.get("limit", "100")), 1), 1000)
    except ValueError:
        raise InvalidParameterValue("limit must be an integer") from None
    rows = om.store.certificates(plan_id=request.args.get("plan_id"), process=request.args.get("process"),
                                 limit=limit)
    doc = {"certificates": [r | {"created": r["created"].isoformat(), "href": f"{om.base_url}/certificates/{r['id']}"}
                            for r in rows]}
    if output_format(request) == "html":
        return Response(_html("Review certificates / 审查证书", doc), mimetype="text/html")
    return json_response(doc, pretty=om.settings.pretty_print)


def certificate(om: "OneMap", cert_id: str) -> Response:
    """GET ``/certificates/{id}``: the certificate as it was written (JSON), or its report (``f=html``)."""
    check_known(request.args, frozenset({"f", "lang"}))
    if len(cert_id) > 80:
        raise NotFound(f"no certificate {cert_id!r}")
    found = om.store.certificate(cert_id)
    if found is None:
        raise NotFound(f"no certificate {cert_id!r}")
    document, _ = found
    if output_format(request) == "html":
        from onemap.processes.certificates import certificate_html

        report = certificate_html(om.store, om.settings, cert_id)
        if report:
            return Response(report, mimetype="text/html")
        return Response(_html(f"Certificate {cert_id}", json.loads(document)), mimetype="text/html")
    # the stored text itself: the same bytes years later
    return Response(document, mimetype="application/json", headers={"Cache-Control": "public, max-age=86400"})


def _html(title: str, doc: dict[str, Any]) -> str:
    """A plain HTML page of a JSON document (escaped): the record readable in a browser without scripts."""
    body = htmlmod.escape(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    return (f"<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>{htmlmod.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}pre{white-space:pre-wrap}</style></head><body>"
            f"<h1>{htmlmod.escape(title)}</h1><pre>{body}</pre></body></html>")


def openapi_paths(om: "OneMap", paths: dict, tags: list) -> None:
    """The drawer record's endpoints in the OpenAPI document."""
    from .openapi import _errors, _p, _query

    tags.append({"name": "drawers", "description": "Which plan governs, the drawer record and review certificates"})
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    point = _query("point", "LON,LAT in CRS84", {"type": "string"})
    layers = _query("layers", "Comma-separated layers (default: all)", {"type": "string"})
    paths["/governing"] = {
        "get": {"tags": ["drawers"], "summary": "Which plan governs this point, per layer, with the chain above it",
                "operationId": "getGoverning",
                "parameters": [point, _p("datetime"), _p("recorded"), layers, _p("f")],
                "responses": {**ok, **_errors()}},
        "post": {"tags": ["drawers"], "summary": "Which plans govern a GeoJSON geometry (points or an area)",
                 "operationId": "postGoverning",
                 "parameters": [_p("datetime"), _p("recorded"), layers],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                 "responses": {**ok, **_errors()}}}
    pid = {"name": "planId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
    paths["/plans/{planId}/trace"] = {"get": {
        "tags": ["drawers"], "summary": "A drawer entry's record: periods in force, events, corrections, certificates",
        "operationId": "getPlanTrace", "parameters": [pid, _p("f")], "responses": {**ok, **_errors()}}}
    cid = {"name": "certificateId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 80}}
    paths["/certificates"] = {"get": {
        "tags": ["drawers"], "summary": "Review certificates (compliance, quality check, transmission), newest first",
        "operationId": "getCertificates",
        "parameters": [_query("plan_id", "Certificates about this drawer entry", {"type": "string"}),
                       _query("process", "Certificates of this process", {"type": "string"}),
                       _query("limit", "At most this many", {"type": "integer", "minimum": 1, "maximum": 1000}),
                       _p("f")],
        "responses": {**ok, **_errors(False)}}}
    paths["/certificates/{certificateId}"] = {"get": {
        "tags": ["drawers"], "summary": "A review certificate as it was archived (JSON), or its report (f=html)",
        "operationId": "getCertificate", "parameters": [cid, _p("f")], "responses": {**ok, **_errors()}}}
