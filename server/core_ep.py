"""OGC API - Common: the landing page, conformance, the OpenAPI document, health and static files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pygeoapi.api as core_api
from flask import Response, send_from_directory

from onemap.providers.params import LANG, F
from onemap.providers.store import Store

from .http import JSON, json_response
from .links import Links, without_jsonld
from .pygeoapi_bridge import STATIC, Pygeoapi
from .routing import APIFactory, Call, Route

CONFORMS_TO = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
)
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"


class CoreAPI(APIFactory):
    """The server's own documents; conformance and OpenAPI are read from every factory's declarations."""

    conforms_to = CONFORMS_TO
    tags = ({"name": "server", "description": "Server metadata"},)

    def __init__(self, store: Store, links: Links, pg: Pygeoapi, conformance: Callable[[], list[str]],
                 openapi: Callable[[str], dict[str, Any]]) -> None:
        self.store = store
        self.links = links
        self.pg = pg
        self._conformance = conformance
        self._openapi = openapi
        self._json: dict[str, bytes] = {}

    def routes(self) -> list[Route]:
        meta = (F, LANG)
        return [
            Route("/", self.landing, "getLandingPage", "Landing page", ("server",), query=meta,
                  responses={"200": "LandingPage"}, formats=("json", "html")),
            Route("/conformance", self.conformance, "getConformance", "Conformance classes", ("server",),
                  query=meta, responses={"200": "Conformance"}, formats=("json", "html")),
            Route("/openapi", self.openapi, "getOpenapi", "This document", ("server",), query=meta,
                  formats=("json", "html"), responses={"200": {"description": "The OpenAPI document.", "content": {
                      OPENAPI_MEDIA_TYPE: {"schema": {"type": "object"}},
                      "text/html": {"schema": {"type": "string"}}}}}),
            Route("/healthz", self.healthz, "getHealth", "Health check", ("server",),
                  responses={"200": {"description": "The server and its store answer.",
                                     "content": {JSON: {"schema": {"type": "object"}}}}}),
            Route("/static/{filename}", self.static, "getStatic", "pygeoapi's static files", ("server",),
                  path_params={"filename": {"type": "string"}}, documented=False, checked=False, flask_path="/static/<path:filename>"),
        ]

    def openapi_json(self, role: str) -> bytes:
        """The document of a role, serialised once."""
        cached = self._json.get(role)
        if cached is None:
            cached = self._json[role] = orjson.dumps(self._openapi(role))
        return cached

    def landing(self, call: Call) -> Response:
        """pygeoapi's landing page with OneMap's links: no link a caller cannot follow. pygeoapi's tiling schemes
        (``/TileMatrixSets``) are OneMap's ``/tileMatrixSets``; the job list needs a signed-in user; JSON-LD is
        not offered (pygeoapi writes it only for its own items path, and no client of the one map reads it)."""
        signed_in = getattr(call.principal, "name", None) is not None

        def post(doc: dict) -> dict:
            doc["links"] = [link for link in without_jsonld(doc.get("links", []))
                            if "/TileMatrixSets" not in link.get("href", "")
                            and (signed_in or link.get("rel") != REL + "job-list")]
            doc["links"] += [
                self.links.link(REL + "tiling-schemes", JSON, "tileMatrixSets", title="Tile matrix sets"),
                self.links.link(REL + "tilesets-vector", JSON, "tiles", title="Vector tiles of the one map"),
            ]
            return doc

        return self.pg.landing(post, call.principal)

    def conformance(self, call: Call) -> Response:
        doc = {"conformsTo": self._conformance()}
        if call.args["f"] == "html":
            return self.pg.render("conformance.html", doc, call.args["lang"])
        return json_response(doc)

    def openapi(self, call: Call) -> Response:
        if call.args["f"] == "html":
            return self.pg.call(core_api.openapi_, principal=call.principal)
        role = getattr(call.principal, "role", "public")
        return Response(self.links.rebase(self.openapi_json(role).decode("utf-8")), mimetype=OPENAPI_MEDIA_TYPE)

    def healthz(self, call: Call) -> Response:
        plans = self.store.plans()
        return json_response({"status": "ok", "backend": self.store.backend, "plans": len(plans)},
                             headers={"Cache-Control": "no-store"})

    def static(self, call: Call, filename: str) -> Response:
        return send_from_directory(STATIC, filename, max_age=86400)
