"""OGC API - Tiles: tile matrix sets, collection and dataset vector tilesets, MVT tiles, TileJSON.

pygeoapi 0.24's tiles API only knows WebMercatorQuad and WorldCRS84Quad (a package-internal
enum) and its MVT-postgresql provider transforms with text SRIDs (~70x slower); these
endpoints serve our three tile matrix sets from the store, with the collections' drawer
semantics (``datetime``) and a disk cache that is invalidated when plans change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import morecantile
from flask import Response, request

from onemap.config.catalogue import Layer
from onemap.config.errors import InvalidParameterValue
from onemap.providers.drawers import VIEWS, parse_recorded, parse_when
from onemap.providers.vector_tiles import tile_properties
from onemap.tiles import tms as tmsmod
from onemap.tiles.cache import etag
from onemap.tiles.mvt import MVT_MEDIA_TYPE

from .http import json_response, output_format
from .params import check_known

if TYPE_CHECKING:
    from .app import OneMap

CONFORMS_TO = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/dataset-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-selection",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/datetime",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
TILE_PARAMS = frozenset({"f", "datetime", "view", "recorded"})
DATASET_TILE_PARAMS = frozenset({"f", "datetime", "collections", "view", "recorded"})
META_PARAMS = frozenset({"f", "lang"})
TILE_TEMPLATE = "{tileMatrix}/{tileRow}/{tileCol}"


def _tms_link(om: "OneMap", tms_id: str) -> dict:
    return {"rel": REL + "tiling-scheme", "type": "application/json", "title": tms_id,
            "href": f"{om.base_url}/tileMatrixSets/{tms_id}"}


# ---- tile matrix sets ------------------------------------------------------------------------
def tile_matrix_sets(om: "OneMap") -> Response:
    check_known(request.args, META_PARAMS)
    output_format(request, ("json",))
    sets = []
    for tid, t in tmsmod.registry().items():
        doc = tmsmod.tms_document(t)
        sets.append({"id": tid, "title": t.title, "uri": doc["uri"], "crs": doc["crs"],
                     "links": [{"rel": "self", "type": "application/json",
                                "href": f"{om.base_url}/tileMatrixSets/{tid}"}, _tms_link(om, tid)]})
    return json_response({"tileMatrixSets": sets, "links": [
        {"rel": "self", "type": "application/json", "href": f"{om.base_url}/tileMatrixSets"}]})


def tile_matrix_set(om: "OneMap", tms_id: str) -> Response:
    check_known(request.args, META_PARAMS)
    output_format(request, ("json",))
    return json_response(tmsmod.tms_document(tmsmod.get(tms_id)))


# ---- tilesets -------------------------------------------------------------------------------------
def _limits(t: morecantile.TileMatrixSet, bbox: tuple[float, float, float, float] | None) -> list[dict]:
    if bbox is None:
        return []
    out = []
    for z in range(0, tmsmod.max_zoom(t) + 1):
        ul = t.tile(bbox[0], bbox[3], z)
        lr = t.tile(bbox[2], bbox[1], z)
        out.append({"tileMatrix": str(z), "minTileRow": ul.y, "maxTileRow": lr.y,
                    "minTileCol": ul.x, "maxTileCol": lr.x})
    return out


def _fields(layer: Layer) -> dict[str, str]:
    return {name: layer.field_map[name].json_type for name in tile_properties(layer)}


def _tileset(om: "OneMap", base: str, tms_id: str, layers: list[Layer], title: str) -> dict:
    t = tmsmod.get(tms_id)
    boxes = [b for b in (om.store.layer_extent(layer) for layer in layers) if b]
    bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes)) if boxes else None
    lang = om.lang()
    doc: dict[str, Any] = {
        "title": title,
        "dataType": "vector",
        "crs": tmsmod.tms_document(t)["crs"],
        "tileMatrixSetURI": tmsmod.tms_document(t)["uri"],
        # the draft's name for the definition's URL, still read by GDAL before 3.7
        "tileMatrixSetDefinition": f"{om.base_url}/tileMatrixSets/{tms_id}",
        "tileMatrixSetLimits": _limits(t, bbox),
        "layers": [{"id": layer.id, "title": layer.t("title", lang), "dataType": "vector",
                    "geometryDimension": 2, "minTileMatrix": "0", "maxTileMatrix": str(tmsmod.max_zoom(t)),
                    "propertiesSchema": {"type": "object", "properties": {
                        n: {"type": typ, "title": layer.field_map[n].label(lang)}
                        for n, typ in _fields(layer).items()}}} for layer in layers],
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}/{tms_id}"},
            _tms_link(om, tms_id),
            {"rel": "item", "type": MVT_MEDIA_TYPE, "templated": True, "title": "vector tiles",
             "href": f"{base}/{tms_id}/{TILE_TEMPLATE}"},
        ],
    }
    if bbox:
        doc["boundingBox"] = {"lowerLeft": [bbox[0], bbox[1]], "upperRight": [bbox[2], bbox[3]],
                              "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    if tms_id == "WebMercatorQuad":
        doc["links"].append({"rel": "alternate", "type": "application/vnd.mapbox.tile+json",
                             "title": "TileJSON", "href": f"{base}/{tms_id}?f=tilejson"})
    return doc


def _tilejson(om: "OneMap", base: str, layers: list[Layer], title: str) -> dict:
    boxes = [b for b in (om.store.layer_extent(layer) for layer in layers) if b]
    bounds = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
              max(b[3] for b in boxes)] if boxes else [-180, -85.05, 180, 85.05]
    return {
        "tilejson": "3.0.0", "name": title, "scheme": "xyz", "format": "pbf",
        "tiles": [f"{base}/WebMercatorQuad/{{z}}/{{y}}/{{x}}"],
        "minzoom": 0, "maxzoom": tmsmod.max_zoom(tmsmod.get("WebMercatorQuad")),
        "bounds": bounds, "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 10],
        "vector_layers": [{"id": layer.id, "description": layer.t("title", om.lang()), "fields": _fields(layer),
                           "minzoom": 0, "maxzoom": tmsmod.max_zoom(tmsmod.get("WebMercatorQuad"))}
                          for layer in layers],
    }


def _tilesets_list(om: "OneMap", base: str, layers: list[Layer], title: str) -> Response:
    check_known(request.args, META_PARAMS)
    output_format(request, ("json",))
    sets = []
    for tid in tmsmod.registry():
        doc = _tileset(om, base, tid, layers, title)
        sets.append({k: doc[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI", "links")})
    return json_response({"tilesets": sets, "links": [{"rel": "self", "type": "application/json", "href": base}]})


def _tileset_response(om: "OneMap", base: str, tms_id: str, layers: list[Layer], title: str) -> Response:
    check_known(request.args, META_PARAMS)
    fmt = (request.args.get("f") or "json").lower()
    tmsmod.get(tms_id)
    if fmt == "tilejson":
        if tms_id != "WebMercatorQuad":
            raise InvalidParameterValue("TileJSON describes Web Mercator (XYZ) tiles: use WebMercatorQuad")
        return json_response(_tilejson(om, base, layers, title))
    if fmt != "json":
        raise InvalidParameterValue("f must be json or tilejson")
    return json_response(_tileset(om, base, tms_id, layers, title))


def collection_tilesets(om: "OneMap", collection_id: str) -> Response:
    layer = om.tiled_layer(collection_id)
    return _tilesets_list(om, f"{om.base_url}/collections/{layer.id}/tiles", [layer], layer.t("title", om.lang()))


def collection_tileset(om: "OneMap", collection_id: str, tms_id: str) -> Response:
    layer = om.tiled_layer(collection_id)
    return _tileset_response(om, f"{om.base_url}/collections/{layer.id}/tiles", tms_id, [layer],
                             layer.t("title", om.lang()))


def dataset_layers(om: "OneMap") -> list[Layer]:
    """Layers of the dataset tiles: the public ones, or those named by ``collections``."""
    wanted = request.args.get("collections")
    if wanted is None:
        return [layer for layer in om.catalogue.layers.values() if layer.tier == "public"]
    out = []
    for cid in (c.strip() for c in wanted.split(",") if c.strip()):
        out.append(om.tiled_layer(cid))
    if not out:
        raise InvalidParameterValue("collections must name at least one collection")
    return out


def dataset_tilesets(om: "OneMap") -> Response:
    return _tilesets_list(om, f"{om.base_url}/tiles", dataset_layers(om), "一张图 / One map")


def dataset_tileset(om: "OneMap", tms_id: str) -> Response:
    return _tileset_response(om, f"{om.base_url}/tiles", tms_id, dataset_layers(om), "一张图 / One map")


# ---- tiles ---------------------------------------------------------------------------------------------
def tile_headers(tag: str, cache: str) -> dict[str, str]:
    """The headers of every tile answer (also those sent by ``cached_tiles`` in front of Flask)."""
    return {"ETag": tag, "Cache-Control": "public, max-age=60", "X-Cache": cache, "Vary": "Accept-Encoding"}


def _tile_response(om: "OneMap", layers: list[Layer], tms_id: str, z: str, row: str, col: str) -> Response:
    fmt = (request.args.get("f") or "mvt").lower()
    if fmt not in ("mvt", "pbf"):
        raise InvalidParameterValue("vector tiles are served as f=mvt")
    ref = tmsmod.tile(tms_id, z, row, col)
    when = parse_when(request.args["datetime"], om.settings.timezone) if request.args.get("datetime") else None
    view = request.args.get("view") or "all"
    if view not in VIEWS:
        raise InvalidParameterValue(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    recorded = parse_recorded(request.args.get("recorded"), om.settings.timezone)
    rendered = [om.tiles.tile(layer, ref, when, view, recorded) for layer in layers]
    tags = [r.etag for r in rendered]
    tag = tags[0] if len(tags) == 1 else etag("".join(tags).encode())
    headers = tile_headers(tag, ",".join(sorted({r.cache for r in rendered})))
    if request.if_none_match and tag.strip('"') in request.if_none_match:
        return Response(status=304, headers=headers)
    if not any(r.gz for r in rendered):
        return Response(status=204, headers=headers)
    if len(rendered) == 1 and "gzip" in request.headers.get("Accept-Encoding", "").lower():
        # the tile was compressed once when it was rendered: sent as it is stored
        headers["Content-Encoding"] = "gzip"
        return Response(rendered[0].gz, mimetype=MVT_MEDIA_TYPE, headers=headers)
    data = b"".join(r.data for r in rendered)  # MVT layers are repeated fields: concatenated layers form one tile
    return Response(data, mimetype=MVT_MEDIA_TYPE, headers=headers)


def collection_tile(om: "OneMap", collection_id: str, tms_id: str, z: str, row: str, col: str) -> Response:
    check_known(request.args, TILE_PARAMS)
    layer = om.tiled_layer(collection_id)
    return _tile_response(om, [layer], tms_id, z, row, col)


def dataset_tile(om: "OneMap", tms_id: str, z: str, row: str, col: str) -> Response:
    check_known(request.args, DATASET_TILE_PARAMS)
    return _tile_response(om, dataset_layers(om), tms_id, z, row, col)


def openapi_paths(om: "OneMap", paths: dict, tags: list) -> None:
    """The tiles endpoints in the OpenAPI document (called by server/openapi.py)."""
    from .openapi import _errors, _p, _query

    tms_param = {"name": "tileMatrixSetId", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": list(tmsmod.registry())}}
    zyx = [{"name": n, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
           for n in ("tileMatrix", "tileRow", "tileCol")]
    datetime = _p("datetime")
    drawer_params = [datetime, _p("view"), _p("recorded")]
    tile_ok = {"200": {"description": "A vector tile.", "content": {MVT_MEDIA_TYPE: {"schema": {
        "type": "string", "format": "binary"}}}},
        "204": {"description": "No features in this tile."},
        "304": {"description": "Not modified (ETag)."}}
    meta_ok = {"200": {"description": "Metadata.", "content": {"application/json": {"schema": {"type": "object"}}}}}
    f_meta = _query("f", "json, or tilejson for a Web Mercator tileset", {"type": "string",
                                                                          "enum": ["json", "tilejson"]})
    collections = _query("collections", "Comma-separated collections (default: all public layers)",
                         {"type": "string"})
    tags.append({"name": "tiles", "description": "OGC API - Tiles (vector tiles, MVT)"})
    paths["/tileMatrixSets"] = {"get": {"tags": ["tiles"], "summary": "Tile matrix sets",
                                        "operationId": "getTileMatrixSets", "responses": {**meta_ok, **_errors(False)}}}
    paths["/tileMatrixSets/{tileMatrixSetId}"] = {"get": {
        "tags": ["tiles"], "summary": "One tile matrix set", "operationId": "getTileMatrixSet",
        "parameters": [tms_param], "responses": {**meta_ok, **_errors()}}}
    paths["/tiles"] = {"get": {"tags": ["tiles"], "summary": "Vector tilesets of the whole one map",
                               "operationId": "getDatasetTilesets", "parameters": [collections],
                               "responses": {**meta_ok, **_errors(False)}}}
    paths["/tiles/{tileMatrixSetId}"] = {"get": {
        "tags": ["tiles"], "summary": "A vector tileset of the whole one map", "operationId": "getDatasetTileset",
        "parameters": [tms_param, f_meta, collections], "responses": {**meta_ok, **_errors()}}}
    paths["/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"] = {"get": {
        "tags": ["tiles"], "summary": "A vector tile of the one map (one MVT layer per collection)",
        "operationId": "getDatasetTile", "parameters": [tms_param, *zyx, *drawer_params, collections],
        "responses": {**tile_ok, **_errors()}}}
    for layer in om.catalogue.layers.values():
        base = f"/collections/{layer.id}/tiles"
        op = "".join(w.capitalize() for w in layer.id.split("_"))
        paths[base] = {"get": {"tags": [layer.id], "summary": f"{layer.t('title')}: vector tilesets",
                               "operationId": f"get{op}Tilesets", "responses": {**meta_ok, **_errors()}}}
        paths[f"{base}/{{tileMatrixSetId}}"] = {"get": {
            "tags": [layer.id], "summary": f"{layer.t('title')}: a vector tileset", "operationId": f"get{op}Tileset",
            "parameters": [tms_param, f_meta], "responses": {**meta_ok, **_errors()}}}
        paths[f"{base}/{{tileMatrixSetId}}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"] = {"get": {
            "tags": [layer.id], "summary": f"{layer.t('title')}: a vector tile", "operationId": f"get{op}Tile",
            "parameters": [tms_param, *zyx, *drawer_params], "responses": {**tile_ok, **_errors()}}}
