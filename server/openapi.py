"""The OpenAPI 3.0 document, written from the routes' declarations and self-contained.

Every operation, parameter and response comes from the ``Route`` objects the factories
declare (server/routing.py), so the document says what the server checks. Planning
networks are closed, so every ``$ref`` points inside the document: pygeoapi's fragments
for the operator's overlay resources refer to schemas.opengis.net and GitHub, and those
references are replaced by the document's own components. ``tests/test_openapi.py``
checks that it validates and that no reference leaves it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from onemap.providers.params import ParamContext

from .routing import APIFactory, Instance, Route

REF = "#/components/"
OPENAPI_VERSION = "3.0.2"


def _r(name: str) -> dict:
    return {"$ref": f"{REF}responses/{name}"}


def _s(name: str) -> dict:
    return {"$ref": f"{REF}schemas/{name}"}


def _json(schema: dict, media: str = "application/json") -> dict:
    return {media: {"schema": schema}}


def schemas_and_responses() -> tuple[dict[str, Any], dict[str, Any]]:
    """The schemas and responses the operations refer to."""
    link = {"type": "object", "required": ["href"], "properties": {
        "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
        "hreflang": {"type": "string"}, "title": {"type": "string"}, "length": {"type": "integer"}}}
    geometry = {"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString",
                                           "Polygon", "MultiPolygon", "GeometryCollection"]},
        "coordinates": {"type": "array"}, "geometries": {"type": "array"}}}
    feature = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        "geometry": {"nullable": True, "allOf": [_s("geometryGeoJSON")]},
        "properties": {"type": "object", "nullable": True},
        "links": {"type": "array", "items": _s("link")}}}
    schemas = {
        "link": link,
        "exception": {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string"}, "type": {"type": "string"}, "description": {"type": "string"}}},
        "geometryGeoJSON": geometry,
        "featureGeoJSON": feature,
        "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": _s("featureGeoJSON")},
            "links": {"type": "array", "items": _s("link")},
            "timeStamp": {"type": "string", "format": "date-time"},
            "numberMatched": {"type": "integer", "minimum": 0},
            "numberMatchedEstimate": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0}}},
        "landingPage": {"type": "object", "required": ["links"], "properties": {
            "title": {"type": "string"}, "description": {"type": "string"},
            "links": {"type": "array", "items": _s("link")}}},
        "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {
            "conformsTo": {"type": "array", "items": {"type": "string"}}}},
        "extent": {"type": "object", "properties": {
            "spatial": {"type": "object", "properties": {
                "bbox": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                "crs": {"type": "string"}}},
            "temporal": {"type": "object", "properties": {
                "interval": {"type": "array", "items": {"type": "array", "items": {
                    "type": "string", "nullable": True}}},
                "trs": {"type": "string"}}}}},
        "collection": {"type": "object", "required": ["id", "links"], "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
            "links": {"type": "array", "items": _s("link")}, "extent": _s("extent"),
            "itemType": {"type": "string"}, "crs": {"type": "array", "items": {"type": "string"}},
            "storageCrs": {"type": "string"}}},
        "collections": {"type": "object", "required": ["collections", "links"], "properties": {
            "links": {"type": "array", "items": _s("link")},
            "collections": {"type": "array", "items": _s("collection")}}},
        "jsonSchema": {"type": "object", "description": "A JSON Schema (queryables or feature schema).",
                       "properties": {"$schema": {"type": "string"}, "$id": {"type": "string"},
                                      "type": {"type": "string"}, "properties": {"type": "object"}}},
        "cql2json": {"type": "object", "description": "A CQL2 JSON expression (OGC 21-065).",
                     "properties": {"op": {"type": "string"}, "args": {"type": "array", "items": {}}}},
    }
    html = {"text/html": {"schema": {"type": "string"}}}
    responses = {
        "LandingPage": {"description": "The landing page.", "content": {**_json(_s("landingPage")), **html}},
        "Conformance": {"description": "Conformance classes.", "content": {**_json(_s("confClasses")), **html}},
        "Collections": {"description": "The collections.", "content": {**_json(_s("collections")), **html}},
        "Collection": {"description": "One collection.", "content": {**_json(_s("collection")), **html}},
        "Features": {"description": "A page of features.", "headers": {
            "Content-Crs": {"description": "CRS of the geometries", "schema": {"type": "string"}}},
            "content": {**_json(_s("featureCollectionGeoJSON"), "application/geo+json"), **html}},
        "Feature": {"description": "One feature.", "headers": {
            "Content-Crs": {"description": "CRS of the geometry", "schema": {"type": "string"}}},
            "content": {**_json(_s("featureGeoJSON"), "application/geo+json"), **html}},
        "JsonSchema": {"description": "A JSON Schema.",
                       "content": {**_json(_s("jsonSchema"), "application/schema+json"), **html}},
        "InvalidParameter": {"description": "A parameter is malformed, unknown or out of range.",
                             "content": _json(_s("exception"))},
        "NotFound": {"description": "No such resource.", "content": _json(_s("exception"))},
        "ServerError": {"description": "A server error (details are in the server log).",
                        "content": _json(_s("exception"))},
    }
    return schemas, responses


def _errors(with_404: bool) -> dict:
    out = {"400": _r("InvalidParameter"), "500": _r("ServerError")}
    if with_404:
        out["404"] = _r("NotFound")
    return out


def _fmt(text: str, inst: Instance | None) -> str:
    if inst is None:
        return text
    return text.replace("{op}", inst.operation).replace("{title}", inst.title)


def _operation(route: Route, inst: Instance | None, params: dict[str, dict[str, Any]],
               ctx: ParamContext) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = []
    for name, schema in route.path_params.items():
        if inst is None or name not in inst.values:
            parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    for p in route.query:
        params.setdefault(p.component, p.openapi(ctx))
        parameters.append({"$ref": f"{REF}parameters/{p.component}"})
    if inst is not None:
        parameters += [p.openapi(ctx) for p in inst.extra]
    parameters += [dict(h) for h in route.headers]
    responses: dict[str, Any] = {}
    for status, resp in route.responses.items():
        responses[status] = _r(resp) if isinstance(resp, str) else resp
    if not responses:
        responses["200"] = {"description": "OK"}
    responses.update({k: v for k, v in _errors(bool(route.path_params)).items() if k not in responses})
    op: dict[str, Any] = {
        "tags": [inst.tag] if inst is not None and not route.tags else list(route.tags),
        "summary": _fmt(route.summary, inst),
        "operationId": _fmt(route.operation_id, inst),
        "responses": responses,
    }
    description = route.description or (inst.description if inst is not None and route.method == "GET"
                                         and route.path.endswith("/items") else "")
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    body = route.request_body_for(inst.values) if route.request_body_for and inst else route.request_body
    if body:
        op["requestBody"] = dict(body)
    return op


def _concrete(path: str, inst: Instance | None) -> str:
    if inst is None:
        return path
    for name, value in inst.values.items():
        path = path.replace("{" + name + "}", value)
    return path


def paths_from(routes: Sequence[Route], ctx: ParamContext,
               visible: Callable[[Route, Instance | None], bool] | None = None
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, parameter components) of the documented routes (those ``visible`` keeps)."""
    paths: dict[str, Any] = {}
    params: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.documented:
            continue
        instances: list[Instance | None] = list(route.instances()) if route.instances else [None]
        for inst in instances:
            if visible is not None and not visible(route, inst):
                continue
            paths.setdefault(_concrete(route.path, inst), {})[route.method.lower()] = _operation(route, inst, params,
                                                                                                  ctx)
    return paths, params


# pygeoapi's references outside the document -> this document's components
_EXTERNAL = {
    "ogcapi-features-1.yaml#/components/parameters/featureId": None,  # a path parameter: written inline
    "ogcapi-features-1.yaml#/components/responses/": "responses/",
    "sortby.yaml": "parameters/sortby",
    "ogcapi-coverages-1.yaml#/components/parameters/subset": "parameters/subset",
    "cql2.json": "schemas/cql2json",
}
_SUBSET = {"name": "subset", "in": "query", "required": False, "style": "form", "explode": False,
           "description": "Subset of a coverage along its axes, e.g. Lat(30:31),Lon(110:111).",
           "schema": {"type": "array", "items": {"type": "string"}}}
_FEATURE_ID = {"name": "featureId", "in": "path", "required": True, "description": "Feature id.",
               "schema": {"type": "string"}}


def _localise(obj: Any, own: dict[str, Any], theirs: dict[str, Any]) -> Any:
    """pygeoapi's fragment with every reference inside this document."""
    if isinstance(obj, list):
        return [_localise(v, own, theirs) for v in obj]
    if not isinstance(obj, dict):
        return obj
    ref = obj.get("$ref")
    if isinstance(ref, str):
        if ref.startswith(REF):
            kind, _, name = ref[len(REF):].partition("/")
            if name not in own.get(kind, {}):  # one of pygeoapi's own components: bring it along
                own.setdefault(kind, {})[name] = _localise(copy.deepcopy(theirs.get(kind, {}).get(name, {
                    "description": name} if kind == "responses" else {"type": "object"})), own, theirs)
            return {"$ref": ref}
        for tail, local in _EXTERNAL.items():
            if tail in ref:
                if local is None:
                    return dict(_FEATURE_ID)
                if local.endswith("/"):
                    name = ref.rsplit("/", 1)[1]
                    if name not in own.get("responses", {}):
                        own.setdefault("responses", {})[name] = {"description": name}
                    return {"$ref": f"{REF}responses/{name}"}
                kind, name = local.split("/")
                if kind == "parameters" and name == "subset":
                    own["parameters"].setdefault("subset", _SUBSET)
                if kind == "parameters" and name == "sortby":
                    own["parameters"].setdefault("sortby", {
                        "name": "sortby", "in": "query", "required": False, "style": "form", "explode": False,
                        "description": "Comma-separated properties, '-' prefix for descending.",
                        "schema": {"type": "string"}})
                return {"$ref": f"{REF}{local}"}
        return {"type": "object", "description": "defined outside this document"}
    return {k: _localise(v, own, theirs) for k, v in obj.items()}


def overlay_fragment(pg_config: Mapping[str, Any], overlay: Mapping[str, Any], components: dict[str, Any]
                     ) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """pygeoapi's OpenAPI paths of the overlay resources, localised; ``components`` gains what they need."""
    if not overlay:
        return {}, []
    from pygeoapi.openapi import get_oas

    cfg = dict(pg_config)
    cfg["resources"] = {k: v for k, v in overlay.items() if v.get("type") != "process"}
    oas = get_oas(cfg)
    theirs = oas.get("components", {})
    paths: dict[str, Any] = {}
    for path, item in oas.get("paths", {}).items():
        if any(path == f"/collections/{rid}" or path.startswith(f"/collections/{rid}/") for rid in cfg["resources"]):
            paths[path] = _localise(item, components, theirs)
    tags = [{"name": t["name"], "description": t.get("description", "")} for t in oas.get("tags", [])
            if t.get("name") in cfg["resources"]]
    return paths, tags


def build(factories: Sequence[APIFactory], routes: Sequence[Route], ctx: ParamContext, info: dict[str, Any],
          server_url: str, pg_config: Mapping[str, Any] | None = None, overlay_resources: Mapping[str, Any] | None = None,
          visible: Callable[[Route, Instance | None], bool] | None = None) -> dict[str, Any]:
    """The whole document (of what ``visible`` keeps: a caller's role sees its own document)."""
    schemas, responses = schemas_and_responses()
    paths, params = paths_from(routes, ctx, visible)
    components: dict[str, Any] = {"parameters": params, "schemas": schemas, "responses": responses}
    tags = [dict(t) for f in factories for t in f.tags]
    if pg_config is not None and overlay_resources:
        extra_paths, extra_tags = overlay_fragment(pg_config, overlay_resources, components)
        for path, item in extra_paths.items():
            paths.setdefault(path, item)
        tags += extra_tags
    first: dict[str, Any] = {}  # each tag once, where it first appears
    for t in tags:
        first.setdefault(t["name"], t)
    tags = list(first.values())
    return {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "servers": [{"url": server_url, "description": info.get("title", "")}],
        "tags": tags,
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


