"""HTTP plumbing shared by every endpoint: JSON, errors, compression, CORS, request ids."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import uuid
from decimal import Decimal
from typing import Any

import orjson
from flask import Flask, Request, Response, g, request

from onemap.config.errors import (
    InvalidInput,
    InvalidParameterValue,
    NotFound,
    OneMapError,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from onemap.providers.store.base import begin_request, end_request

from .cors import PUBLIC_READ_HEADERS, Cors

LOG = logging.getLogger("onemap.http")

JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
PROBLEM_JSON = "application/json"
HTML = "text/html"
_COMPRESSIBLE = ("application/json", "application/geo+json", "application/schema+json",
                 "application/vnd.oai.openapi+json", "text/html", "text/css", "application/javascript",
                 "text/plain", "application/xml", "text/xml", "application/vnd.mapbox-vector-tile",
                 "application/x-protobuf")


# the public tier: any origin may embed it (portals, map clients)
CORS_HEADERS = PUBLIC_READ_HEADERS


def request_id(given: str | None) -> str:
    """The client's X-Request-ID when it is short and printable, else a new one."""
    return given if given and len(given) <= 64 and given.isprintable() else uuid.uuid4().hex[:16]


def _default(obj: Any) -> Any:
    if isinstance(obj, (dt.date, dt.datetime)):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj: Any, pretty: bool = False) -> bytes:
    """UTF-8 JSON (Chinese stays readable); ``<`` escaped so JSON is safe inside HTML."""
    opts = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    if pretty:
        opts |= orjson.OPT_INDENT_2
    out = orjson.dumps(obj, default=_default, option=opts)
    if b"<" in out:
        out = out.replace(b"<", b"\\u003c")
    return out


def json_response(obj: Any, status: int = 200, media_type: str = JSON, headers: dict | None = None,
                  pretty: bool = False) -> Response:
    resp = Response(dumps(obj, pretty), status=status, mimetype=media_type)
    if headers:
        resp.headers.update(headers)
    return resp


MAX_JSON_BODY = 64 * 1024  # a step of a workflow, a status change, a subscription: small objects


def json_body(req: Request, *members: str, max_bytes: int = MAX_JSON_BODY) -> dict[str, Any]:
    """The request's JSON object, holding no member but ``members`` (a ``by`` is refused: a change is the
    signed-in caller's); a 415, 413 or 400 saying what is wrong otherwise."""
    if req.mimetype != JSON:
        raise UnsupportedMediaType("send the request body as JSON (Content-Type: application/json)")
    if (req.content_length or 0) > max_bytes:
        raise PayloadTooLarge("the request body is too large")
    raw = req.get_data(cache=False)[: max_bytes + 1]
    if len(raw) > max_bytes:
        raise PayloadTooLarge("the request body is too large")
    try:
        doc = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise InvalidInput("the request body is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidInput("the request body must be a JSON object")
    extra = sorted(set(doc) - set(members))
    if extra:
        why = " (a change is recorded as the signed-in caller's)" if "by" in extra else ""
        raise InvalidInput(f"unknown member {extra[0]!r} in the request body{why}; "
                           f"this request takes {', '.join(members) or 'an empty object'}")
    return doc


def wants_html(req: Request) -> bool:
    """``f=html``, or a browser's Accept header with no ``f``."""
    f = req.args.get("f")
    if f is not None:
        return f.lower() == "html"
    accept = req.accept_mimetypes
    best = accept.best_match(["application/json", "application/geo+json", "text/html"])
    return best == "text/html" and accept["text/html"] > accept["application/json"]


def output_format(req: Request, allowed: tuple[str, ...] = ("json", "html")) -> str:
    """The requested format name; an unknown ``f`` is a 400 (the API lists what it offers)."""
    f = req.args.get("f")
    if f is not None:
        f = f.lower()
        if f == "geojson":
            f = "json"
        if f not in allowed:
            raise InvalidParameterValue(f"f={f!r} is not offered here; use one of {', '.join(allowed)}")
        return f
    return "html" if "html" in allowed and wants_html(req) else "json"


def error_response(err: OneMapError, html: bool = False) -> Response:
    resp = _error_body(err, html)
    if int(err.status) == 401:  # RFC 6750: say how to authenticate
        resp.headers["WWW-Authenticate"] = 'Bearer realm="onemap"'
    retry = getattr(err, "retry_after", None)
    if retry is not None:
        resp.headers["Retry-After"] = str(int(retry))
    return resp


def _error_body(err: OneMapError, html: bool) -> Response:
    body = err.to_dict()
    if html:
        from markupsafe import escape

        page = (f"<!doctype html><meta charset='utf-8'><title>{escape(err.code)}</title>"
                f"<h1>{int(err.status)} {escape(err.code)}</h1><p>{escape(err.description)}</p>")
        resp = Response(page, status=err.status, mimetype=HTML)
    else:
        resp = json_response(body, status=err.status, media_type=PROBLEM_JSON)
    if isinstance(err, ServiceUnavailable):
        # the store is away for now: clients and proxies retry rather than give up
        resp.headers["Retry-After"] = str(int(err.retry_after))
        resp.headers["Cache-Control"] = "no-store"
    return resp


def install(app: Flask, gzip_min_bytes: int, cors: Cors | None = None) -> None:
    """Request ids, gzip above a size, CORS and security headers, and the error handlers."""

    @app.before_request
    def _request_id() -> None:
        g.request_id = request_id(request.headers.get("X-Request-ID"))
        g.store_scope = begin_request()
        if cors is not None:
            cors.check(request)

    @app.teardown_request
    def _end_scope(exc: BaseException | None) -> None:
        token = g.pop("store_scope", None)
        if token is not None:
            end_request(token)

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-ID"] = getattr(g, "request_id", "-")
        if cors is not None:
            cors.apply(request, resp)
        else:
            for name, value in CORS_HEADERS:
                resp.headers.setdefault(name, value)
        _maybe_gzip(resp, gzip_min_bytes)
        return resp

    @app.errorhandler(OneMapError)
    def _onemap_error(err: OneMapError) -> Response:
        if isinstance(err, ServiceUnavailable):
            # an outage, not a bug: one line per request, the cause was logged where it was caught
            LOG.warning("request %s: %s", getattr(g, "request_id", "-"), err.description)
        elif err.status >= 500:
            LOG.error("request %s failed: %s", getattr(g, "request_id", "-"), err.description,
                      exc_info=err.__cause__ or err)
        return error_response(err, html=_html_request())

    @app.errorhandler(404)
    def _not_found(_err: Exception) -> Response:
        return error_response(NotFound(f"no such resource: {request.path}"), html=_html_request())

    @app.errorhandler(405)
    def _not_allowed(exc: Exception) -> Response:
        err = OneMapError(f"{request.method} is not allowed on {request.path}", code="InvalidRequest")
        err.status = 405
        resp = error_response(err)
        allowed = getattr(exc, "valid_methods", None)  # werkzeug's MethodNotAllowed knows them (RFC 9110: Allow)
        if allowed:
            resp.headers["Allow"] = ", ".join(sorted(set(allowed) | {"OPTIONS"}))
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        from werkzeug.exceptions import HTTPException

        if isinstance(err, HTTPException):
            e = OneMapError(err.description or err.name, code="InvalidRequest")
            e.status = err.code or 400
            return error_response(e)
        LOG.exception("request %s failed", getattr(g, "request_id", "-"))
        return error_response(OneMapError(
            f"internal error (request id {getattr(g, 'request_id', '-')}); the operators can look it up"))


def _html_request() -> bool:
    try:
        return output_format(request) == "html"
    except OneMapError:
        return False


def _maybe_gzip(resp: Response, min_bytes: int) -> None:
    if resp.direct_passthrough or resp.status_code < 200 or resp.status_code in (204, 304):
        return
    if "Content-Encoding" in resp.headers:
        return
    if "gzip" not in request.headers.get("Accept-Encoding", "").lower():
        return
    ctype = (resp.mimetype or "").lower()
    if not ctype.startswith(_COMPRESSIBLE):
        return
    data = resp.get_data()
    if len(data) < min_bytes:
        return
    resp.set_data(gzip.compress(data, compresslevel=3, mtime=0))
    resp.headers["Content-Encoding"] = "gzip"
    resp.headers["Vary"] = "Accept-Encoding"
