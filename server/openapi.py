"""The OpenAPI 3.0 document, generated from the catalogue and self-contained.

Planning networks are closed, so every ``$ref`` points inside the document (pygeoapi's
generated document refers to schemas.opengis.net and GitHub). The document describes
exactly the endpoints and parameters OneMap implements; ``tests/test_openapi.py`` checks
that it validates and that no reference leaves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onemap.config.catalogue import Layer

if TYPE_CHECKING:
    from .app import OneMap

REF = "#/components/"


def _p(name: str) -> dict:
    return {"$ref": f"{REF}parameters/{name}"}


def _r(name: str) -> dict:
    return {"$ref": f"{REF}responses/{name}"}


def _s(name: str) -> dict:
    return {"$ref": f"{REF}schemas/{name}"}


def _json(schema: dict, media: str = "application/json") -> dict:
    return {media: {"schema": schema}}


def _query(name: str, description: str, schema: dict, **extra: Any) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, "style": "form", "explode": False, **extra}


def components(om: "OneMap") -> dict:
    """Parameters, schemas and responses shared by every path."""
    crs_enum = list(om.crs_list)
    params = {
        "f": _query("f", "Output format: JSON (GeoJSON for features) or HTML.",
                    {"type": "string", "enum": ["json", "html"]}),
        "lang": _query("lang", "Language of titles and labels (zh default, or en).",
                       {"type": "string", "enum": ["zh", "zh-CN", "en", "en-US"]}),
        "bbox": _query(
            "bbox", "Only features intersecting this box: minx,miny,maxx,maxy (or 6 numbers with "
            "heights), in the axis order of bbox-crs (CRS84 lon,lat by default).",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}),
        "bbox-crs": _query("bbox-crs", "CRS of bbox (URI or EPSG:code); default CRS84.",
                           {"type": "string"}),
        "crs": _query("crs", "CRS of the response geometries (URI or EPSG:code), in that CRS's axis "
                      "order. Offered: " + ", ".join(crs_enum), {"type": "string"}),
        "datetime": _query(
            "datetime", "The one map at this date (RFC 3339 date or date-time) or during an interval "
            "(start/end, '..' open). Default: today, i.e. the plans in force now.", {"type": "string"}),
        "limit": _query("limit", f"Page size (1 to {om.settings.max_items}; larger values are capped).",
                        {"type": "integer", "minimum": 1, "default": om.settings.default_items}),
        "offset": _query("offset", "Number of features to skip.",
                         {"type": "integer", "minimum": 0, "default": 0}),
        "after": _query("after", "Keyset cursor from a 'next' link: continue after this feature id.",
                        {"type": "integer", "minimum": 0}),
        "sortby": _query("sortby", "Comma-separated queryable properties, '-' prefix for descending.",
                         {"type": "string"}),
        "properties": _query("properties", "Comma-separated properties to return.", {"type": "string"}),
        "skipGeometry": _query("skipGeometry", "Leave geometries out.", {"type": "boolean"}),
        "filter": _query("filter", "A CQL2 filter (text by default).", {"type": "string"}),
        "filter-lang": _query("filter-lang", "Language of filter.",
                              {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"}),
        "filter-crs": _query("filter-crs", "CRS of geometry literals in filter; default CRS84.",
                             {"type": "string"}),
        "region": _query(
            "region", "Drawer region: plans of this administrative division and of every region "
            "under it (990100 covers 990102, 990102001, ...).", {"type": "string", "pattern": "^[0-9]{6,12}$"}),
        "plan_id": _query("plan_id", "One drawer entry, whatever its status (e.g. a submission under "
                          "review); overrides datetime.", {"type": "string", "maxLength": 64}),
        "view": _query("view", "all (default): every plan in force, a province's and a city's copy of a line "
                       "on top of each other; governing: only the plan that governs each area (the lowest "
                       "level holding the layer there), features cut to where their plan governs.",
                       {"type": "string", "enum": ["all", "governing"], "default": "all"}),
        "recorded": _query("recorded", "The registry as it stood at this date or date-time (a date: the end "
                           "of that day): a filing recorded later, even one dated back, is not seen. Default: "
                           "as it stands now.", {"type": "string"}),
        "featureId": {"name": "featureId", "in": "path", "required": True, "description": "Feature id.",
                      "schema": {"type": "integer", "minimum": 1}},
        "planId": {"name": "featureId", "in": "path", "required": True,
                   "description": "Drawer entry id, e.g. 990100-city-master-2023.",
                   "schema": {"type": "string", "maxLength": 64}},
    }
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
    return {"parameters": params, "schemas": schemas, "responses": responses}


def _errors(with_404: bool = True) -> dict:
    out = {"400": _r("InvalidParameter"), "500": _r("ServerError")}
    if with_404:
        out["404"] = _r("NotFound")
    return out


def collection_paths(layer: Layer, lang: str = "zh") -> dict:
    """Paths of one feature collection."""
    base = f"/collections/{layer.id}"
    tag = layer.id
    title = layer.t("title", lang)
    op = "".join(w.capitalize() for w in layer.id.split("_"))
    prop_params = []
    from .params import ITEMS

    for f in layer.queryables.values():
        if f.name in ITEMS:  # e.g. plan_id, region: API parameters with their own meaning
            continue
        schema: dict[str, Any] = {"type": f.json_type}
        if f.type == "string" and f.length:
            schema["maxLength"] = f.length
        if f.type == "date":
            schema = {"type": "string", "format": "date"}
        prop_params.append(_query(f.name, f"Features whose {f.name} ({f.label('zh')} / {f.label('en')}) "
                                  "equals this value.", schema))
    names = ["f", "lang", "bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "after", "sortby",
             "properties", "skipGeometry", "filter", "filter-lang", "filter-crs", "region", "recorded"]
    if layer.drawer:
        names += ["plan_id", "view"]
    items_params = [_p(n) for n in names]
    return {
        base: {"get": {"tags": [tag], "summary": f"{title}: collection metadata",
                       "operationId": f"describe{op}Collection", "parameters": [_p("f"), _p("lang")],
                       "responses": {"200": _r("Collection"), **_errors()}}},
        f"{base}/queryables": {"get": {
            "tags": [tag], "summary": f"{title}: queryable properties", "operationId": f"get{op}Queryables",
            "parameters": [_p("f"), _p("lang")], "responses": {"200": _r("JsonSchema"), **_errors()}}},
        f"{base}/schema": {"get": {
            "tags": [tag], "summary": f"{title}: schema of returned features", "operationId": f"get{op}Schema",
            "parameters": [_p("f"), _p("lang")], "responses": {"200": _r("JsonSchema"), **_errors()}}},
        f"{base}/items": {
            "get": {"tags": [tag], "summary": f"{title}: features", "description": layer.t("description", lang),
                    "operationId": f"get{op}Features", "parameters": items_params + prop_params,
                    "responses": {"200": _r("Features"), **_errors()}},
            "post": {"tags": [tag], "summary": f"{title}: features matching a CQL2 JSON filter in the body",
                     "operationId": f"search{op}Features",
                     "parameters": [p for p in items_params if p["$ref"].rsplit("/", 1)[1] not in ("filter", "filter-lang")],
                     "requestBody": {"required": True, "content": {
                         "application/query-cql-json": {"schema": _s("cql2json")},
                         "application/json": {"schema": _s("cql2json")}}},
                     "responses": {"200": _r("Features"), **_errors()}}},
        f"{base}/items/{{featureId}}": {"get": {
            "tags": [tag], "summary": f"{title}: one feature", "operationId": f"get{op}Feature",
            "parameters": [_p("featureId" if layer.drawer else "planId"), _p("f"), _p("lang"), _p("crs")],
            "responses": {"200": _r("Feature"), **_errors()}}},
    }


def build(om: "OneMap") -> dict:
    """The whole document."""
    md = om.pg_config["metadata"]
    paths: dict[str, Any] = {
        "/": {"get": {"tags": ["server"], "summary": "Landing page", "operationId": "getLandingPage",
                      "parameters": [_p("f"), _p("lang")], "responses": {"200": _r("LandingPage"), **_errors(False)}}},
        "/conformance": {"get": {"tags": ["server"], "summary": "Conformance classes",
                                 "operationId": "getConformance", "parameters": [_p("f"), _p("lang")],
                                 "responses": {"200": _r("Conformance"), **_errors(False)}}},
        "/openapi": {"get": {"tags": ["server"], "summary": "This document", "operationId": "getOpenapi",
                             "parameters": [_p("f"), _p("lang")],
                             "responses": {"200": {"description": "The OpenAPI document.", "content": {
                                 "application/vnd.oai.openapi+json;version=3.0": {"schema": {"type": "object"}},
                                 "text/html": {"schema": {"type": "string"}}}}, **_errors(False)}}},
        "/collections": {"get": {"tags": ["server"], "summary": "Collections", "operationId": "getCollections",
                                 "parameters": [_p("f"), _p("lang")],
                                 "responses": {"200": _r("Collections"), **_errors(False)}}},
        "/healthz": {"get": {"tags": ["server"], "summary": "Health check", "operationId": "getHealth",
                             "responses": {"200": {"description": "The server and its store answer.",
                                                   "content": _json({"type": "object"})},
                                           **_errors(False)}}},
    }
    tags = [{"name": "server", "description": "Server metadata"}]
    for layer in om.catalogue.collections.values():
        paths.update(collection_paths(layer))
        tags.append({"name": layer.id, "description": f"{layer.t('title')} / {layer.t('title', 'en')}"})
    for extra in getattr(om, "openapi_extensions", []):
        extra(paths, tags)
    return {
        "openapi": "3.0.2",
        "info": {
            "title": md["identification"]["title"]["zh"] + " / " + md["identification"]["title"]["en"],
            "description": md["identification"]["description"]["en"],
            "version": "0.1.0",
            "license": {"name": md["license"]["name"], "url": md["license"]["url"]},
            "contact": {"name": md["contact"]["name"], "email": md["contact"]["email"]},
        },
        "servers": [{"url": om.base_url, "description": md["identification"]["title"]["en"]}],
        "tags": tags,
        "paths": paths,
        "components": components(om),
    }
