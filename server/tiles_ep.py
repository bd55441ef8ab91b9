"""OGC API - Tiles: tile matrix sets, collection and dataset vector tilesets, MVT tiles, TileJSON.

pygeoapi 0.24's tiles API only knows WebMercatorQuad and WorldCRS84Quad (a package-internal
enum) and its MVT-postgresql provider transforms with text SRIDs (~70x slower); these
endpoints serve our five tile matrix sets (Tianditu's two among them) from the store, with the collections' drawer
semantics (``datetime``) and a disk cache that is invalidated when plans change.
"""

from __future__ import annotations

from typing import Any

import morecantile
from flask import Response

from onemap.config.catalogue import Catalogue, Layer
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.providers.params import DRAWER, LANG, F, Param, ParamContext, format_param
from onemap.providers.store import Store
from onemap.providers.vector_tiles import VectorTileService, tile_properties
from onemap.tiles import tms as tmsmod
from onemap.tiles.cache import etag
from onemap.tiles.mvt import MVT_MEDIA_TYPE

from .access import reaches, tiers_of
from .features_ep import operation
from .http import JSON, json_response
from .links import Links
from .pygeoapi_bridge import Pygeoapi
from .routing import APIFactory, Call, Instance, Route

CONFORMS_TO = (
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
)
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
TILE_TEMPLATE = "{tileMatrix}/{tileRow}/{tileCol}"
ONE_MAP_TITLE = "一张图 / One map"


def _collections(raw: str, ctx: ParamContext) -> tuple[str, ...]:
    names = tuple(c.strip() for c in raw.split(",") if c.strip())
    if not names:
        raise InvalidParameterValue("collections must name at least one collection")
    return names


F_TILESET = format_param("json", "tilejson", "html", key="f-tileset",
                         description="json, tilejson for a Web Mercator tileset, or html")
PAGES = ("json", "html")  # the tiles documents' formats (f=html: pygeoapi's page, ``TilesAPI._page``)
F_MVT = format_param("mvt", "pbf", key="f-mvt", description="Vector tiles are served as Mapbox Vector Tiles.")
COLLECTIONS = Param("collections", "Comma-separated collections (default: all public layers)", parse=_collections)
ZYX = {n: {"type": "integer", "minimum": 0} for n in ("tileMatrix", "tileRow", "tileCol")}
TILE_OK = {"200": {"description": "A vector tile.", "content": {MVT_MEDIA_TYPE: {"schema": {
    "type": "string", "format": "binary"}}}},
    "204": {"description": "No features in this tile."},
    "304": {"description": "Not modified (ETag)."}}
META_OK = {"200": {"description": "Metadata.", "content": {JSON: {"schema": {"type": "object"}}}}}


def tile_headers(tag: str, cache: str) -> dict[str, str]:
    """The headers of every tile answer (also those sent by ``cached_tiles`` in front of Flask)."""
    return {"ETag": tag, "Cache-Control": "public, max-age=60", "X-Cache": cache, "Vary": "Accept-Encoding"}


class TilesAPI(APIFactory):
    """OGC API - Tiles over the catalogue's layers, with the drawer semantics of the items."""

    conforms_to = CONFORMS_TO
    tags = ({"name": "tiles", "description": "OGC API - Tiles (vector tiles, MVT)"},)

    def __init__(self, catalogue: Catalogue, store: Store, tiles: VectorTileService, links: Links,
                 pg: Pygeoapi) -> None:
        self.catalogue = catalogue
        self.store = store
        self.tiles = tiles
        self.links = links
        self.pg = pg

    def tiled_layer(self, collection_id: str) -> Layer:
        """A data layer that has tiles (the registry collection has none)."""
        layer = self.catalogue.layers.get(collection_id)
        if layer is None:
            raise NotFound(f"collection {collection_id!r} has no tiles" if collection_id in self.catalogue.collections
                           else f"collection {collection_id!r} does not exist")
        return layer

    def instances(self) -> list[Instance]:
        """One instance per catalogue layer (the tiles routes' and the maps routes' OpenAPI operations)."""
        return [Instance({"collectionId": lid}, lid, layer.t("title"), operation(lid))
                for lid, layer in self.catalogue.layers.items()]

    def routes(self) -> list[Route]:
        tms_enum = {"tileMatrixSetId": {"type": "string", "enum": list(tmsmod.registry())}}
        one = {"collectionId": {"type": "string"}}
        ours = lambda p: p["collectionId"] in self.catalogue.collections
        return [
            Route("/tileMatrixSets", self.tile_matrix_sets, "getTileMatrixSets", "Tile matrix sets", ("tiles",),
                  query=(F, LANG), responses=META_OK, formats=PAGES),
            Route("/tileMatrixSets/{tileMatrixSetId}", self.tile_matrix_set, "getTileMatrixSet",
                  "One tile matrix set", ("tiles",), query=(F, LANG), path_params=tms_enum, responses=META_OK,
                  formats=PAGES),
            Route("/tiles", self.dataset_tilesets, "getDatasetTilesets", "Vector tilesets of the whole one map",
                  ("tiles",), query=(F, LANG, COLLECTIONS), responses=META_OK, formats=PAGES),
            Route("/tiles/{tileMatrixSetId}", self.dataset_tileset, "getDatasetTileset",
                  "A vector tileset of the whole one map", ("tiles",), query=(F_TILESET, LANG, COLLECTIONS),
                  path_params=tms_enum, responses=META_OK, formats=PAGES),
            Route("/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}", self.dataset_tile,
                  "getDatasetTile", "A vector tile of the one map (one MVT layer per collection)", ("tiles",),
                  query=(F_MVT, *DRAWER, COLLECTIONS), path_params={**tms_enum, **ZYX}, responses=TILE_OK,
                  formats=("mvt",)),
            Route("/collections/{collectionId}/tiles", self.collection_tilesets, "get{op}Tilesets",
                  "{title}: vector tilesets", (), query=(F, LANG), path_params=one, responses=META_OK,
                  formats=PAGES, applies=ours, instances=self.instances, guard="collection"),
            Route("/collections/{collectionId}/tiles/{tileMatrixSetId}", self.collection_tileset, "get{op}Tileset",
                  "{title}: a vector tileset", (), query=(F_TILESET, LANG), path_params={**one, **tms_enum},
                  responses=META_OK, formats=PAGES, applies=ours, instances=self.instances, guard="collection"),
            Route("/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
                  self.collection_tile, "get{op}Tile", "{title}: a vector tile", (), query=(F_MVT, *DRAWER),
                  path_params={**one, **tms_enum, **ZYX}, responses=TILE_OK, formats=("mvt",), applies=ours,
                  instances=self.instances, guard="collection"),
        ]

    def _tms_link(self, tms_id: str) -> dict:
        return self.links.link(REL + "tiling-scheme", JSON, "tileMatrixSets", tms_id, title=tms_id)

    # ---- tile matrix sets ------------------------------------------------------------------------------
    def tile_matrix_sets(self, call: Call) -> Response:
        sets = []
        for tid, t in tmsmod.registry().items():
            doc = tmsmod.tms_document(t)
            sets.append({"id": tid, "title": t.title, "uri": doc["uri"], "crs": doc["crs"],
                         "links": [self.links.link("self", JSON, "tileMatrixSets", tid), self._tms_link(tid)]})
        doc = {"tileMatrixSets": sets, "links": [self.links.link("self", JSON, "tileMatrixSets")]}
        if call.args["f"] == "html":  # pygeoapi's page links each set's first link: its page
            pages = [{**ts, "links": [self.links.link("self", "text/html", "tileMatrixSets", ts["id"],
                                                      query={"f": "html"})]} for ts in sets]
            return self._page(call, "tilematrixsets/index.html", {**doc, "tileMatrixSets": pages}, "tileMatrixSets")
        return json_response(doc)

    def tile_matrix_set(self, call: Call, tileMatrixSetId: str) -> Response:
        doc = tmsmod.tms_document(tmsmod.get(tileMatrixSetId))
        if call.args["f"] == "html":
            return self._page(call, "tilematrixsets/tilematrixset.html", doc, "tileMatrixSets", tileMatrixSetId)
        return json_response(doc)

    def _page(self, call: Call, template: str, doc: dict[str, Any], *segments: str, **data: Any) -> Response:
        """A tiles document in pygeoapi's page (its templates, or OneMap's in server/templates), linking the
        document as JSON."""
        json_link = self.links.link("alternate", JSON, *segments, query={"f": "json"}, title="JSON")
        return self.pg.render(template, {**doc, **data, "links": [json_link]}, call.args["lang"])

    def tilesets_page(self, call: Call, segments: tuple[str, ...], title: str,
                       tilesets: list[tuple[str, dict[str, Any]]], layers: list[dict[str, Any]]) -> Response:
        """Tilesets (a list, or one) in ``tiles/tilesets.html``, with the way back up as crumbs."""
        if segments[0] == "collections":
            crumbs = [{"href": self.links.url("collections"), "title": "Collections"},
                      {"href": self.links.url(*segments[:2]), "title": title}]
        else:
            crumbs = []
        listed = segments[:segments.index("tiles") + 1]  # the tilesets list (vector or map tiles)
        crumbs.append({"href": self.links.url(*listed, query={"f": "html"}), "title": "Tiles"})
        if len(tilesets) == 1 and segments[-1] == tilesets[0][0]:
            crumbs.append({"href": self.links.url(*segments, query={"f": "html"}), "title": tilesets[0][0]})
        sets = [{**ts, "tileMatrixSetId": tid} for tid, ts in tilesets]
        return self._page(call, "tiles/tilesets.html", {"title": title}, *segments, tilesets=sets, layers=layers,
                          crumbs=crumbs)

    # ---- tilesets ---------------------------------------------------------------------------------------
    def tileset(self, segments: tuple[str, ...], tms_id: str, layers: list[Layer], title: str, lang: str) -> dict:
        """The tileset document of ``layers`` in one matrix set, under the path ``segments``."""
        t = tmsmod.get(tms_id)
        bbox = self._bounds(layers)
        tms_doc = tmsmod.tms_document(t)
        doc: dict[str, Any] = {
            "title": title,
            "dataType": "vector",
            "crs": tms_doc["crs"],
            "tileMatrixSetURI": tms_doc["uri"],
            # the draft's name for the definition's URL, still read by GDAL before 3.7
            "tileMatrixSetDefinition": self.links.url("tileMatrixSets", tms_id),
            "tileMatrixSetLimits": _limits(t, bbox),
            "layers": [{"id": layer.id, "title": layer.t("title", lang), "dataType": "vector",
                        "geometryDimension": 2, "minTileMatrix": str(tmsmod.min_zoom(t)), "maxTileMatrix": str(tmsmod.max_zoom(t)),
                        "propertiesSchema": {"type": "object", "properties": {
                            n: {"type": typ, "title": layer.field_map[n].label(lang)}
                            for n, typ in _fields(layer).items()}}} for layer in layers],
            "links": [
                self.links.link("self", JSON, *segments, tms_id),
                self._tms_link(tms_id),
                self.links.link("item", MVT_MEDIA_TYPE, *segments, tms_id, TILE_TEMPLATE, templated=True,
                                title="vector tiles"),
            ],
        }
        if bbox:
            doc["boundingBox"] = {"lowerLeft": [bbox[0], bbox[1]], "upperRight": [bbox[2], bbox[3]],
                                  "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
        if tms_id == "WebMercatorQuad":
            doc["links"].append(self.links.link("alternate", "application/vnd.mapbox.tile+json", *segments, tms_id,
                                                query={"f": "tilejson"}, title="TileJSON"))
        return doc

    def _bounds(self, layers: list[Layer]) -> tuple[float, float, float, float] | None:
        boxes = [b for b in (self.store.layer_extent(layer) for layer in layers) if b]
        if not boxes:
            return None
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                max(b[3] for b in boxes))

    def _tilejson(self, segments: tuple[str, ...], layers: list[Layer], title: str, lang: str) -> dict:
        bounds = list(self._bounds(layers) or (-180, -85.05, 180, 85.05))
        maxzoom = tmsmod.max_zoom(tmsmod.get("WebMercatorQuad"))
        return {
            "tilejson": "3.0.0", "name": title, "scheme": "xyz", "format": "pbf",
            "tiles": [self.links.url(*segments, "WebMercatorQuad", "{z}/{y}/{x}")],
            "minzoom": 0, "maxzoom": maxzoom,
            "bounds": bounds, "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 10],
            "vector_layers": [{"id": layer.id, "description": layer.t("title", lang), "fields": _fields(layer),
                               "minzoom": 0, "maxzoom": maxzoom} for layer in layers],
        }

    def _tilesets_list(self, call: Call, segments: tuple[str, ...], layers: list[Layer], title: str,
                       lang: str) -> Response:
        sets = []
        for tid in tmsmod.registry():
            doc = self.tileset(segments, tid, layers, title, lang)
            sets.append({k: doc[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI", "links")})
        if call.args["f"] == "html":
            return self.tilesets_page(call, segments, title, list(zip(tmsmod.registry(), sets, strict=True)), [])
        return json_response({"tilesets": sets, "links": [self.links.link("self", JSON, *segments)]})

    def _tileset_response(self, call: Call, segments: tuple[str, ...], tms_id: str, layers: list[Layer],
                          title: str) -> Response:
        tmsmod.get(tms_id)
        lang = call.args["lang"]
        if call.args["f"] == "tilejson":
            if tms_id != "WebMercatorQuad":
                raise InvalidParameterValue("TileJSON describes Web Mercator (XYZ) tiles: use WebMercatorQuad")
            return json_response(self._tilejson(segments, layers, title, lang))
        doc = self.tileset(segments, tms_id, layers, title, lang)
        if call.args["f"] == "html":
            return self.tilesets_page(call, (*segments, tms_id), title, [(tms_id, doc)], doc["layers"])
        return json_response(doc)

    def collection_tilesets(self, call: Call, collectionId: str) -> Response:
        layer = self.tiled_layer(collectionId)
        return self._tilesets_list(call, ("collections", layer.id, "tiles"), [layer],
                                   layer.t("title", call.args["lang"]), call.args["lang"])

    def collection_tileset(self, call: Call, collectionId: str, tileMatrixSetId: str) -> Response:
        layer = self.tiled_layer(collectionId)
        return self._tileset_response(call, ("collections", layer.id, "tiles"), tileMatrixSetId, [layer],
                                      layer.t("title", call.args["lang"]))

    def dataset_layers(self, call: Call) -> list[Layer]:
        """Layers of the dataset tiles: those of the caller's tiers, or those named by ``collections``."""
        wanted = call.args.get("collections")
        if wanted is None:
            tiers = tiers_of(call.principal)
            return [layer for layer in self.catalogue.layers.values() if layer.tier in tiers]
        out = [self.tiled_layer(cid) for cid in wanted]
        for layer in out:
            if not reaches(call.principal, layer.tier):
                raise NotFound(f"collection {layer.id!r} does not exist")
        return out

    def dataset_tilesets(self, call: Call) -> Response:
        return self._tilesets_list(call, ("tiles",), self.dataset_layers(call), ONE_MAP_TITLE, call.args["lang"])

    def dataset_tileset(self, call: Call, tileMatrixSetId: str) -> Response:
        return self._tileset_response(call, ("tiles",), tileMatrixSetId, self.dataset_layers(call), ONE_MAP_TITLE)

    # ---- tiles ---------------------------------------------------------------------------------------------
    def _tile_response(self, call: Call, layers: list[Layer], tms_id: str, z: str, row: str, col: str) -> Response:
        ref = tmsmod.tile(tms_id, z, row, col)
        args = call.args
        rendered = [self.tiles.tile(layer, ref, args["datetime"], args["view"], args["recorded"]) for layer in layers]
        tags = [r.etag for r in rendered]
        tag = tags[0] if len(tags) == 1 else etag("".join(tags).encode())
        headers = tile_headers(tag, ",".join(sorted({r.cache for r in rendered})))
        req = call.request
        if req.if_none_match and tag.strip('"') in req.if_none_match:
            return Response(status=304, headers=headers)
        if not any(r.gz for r in rendered):
            return Response(status=204, headers=headers)
        if len(rendered) == 1 and "gzip" in req.headers.get("Accept-Encoding", "").lower():
            # the tile was compressed once when it was rendered: sent as it is stored
            headers["Content-Encoding"] = "gzip"
            return Response(rendered[0].gz, mimetype=MVT_MEDIA_TYPE, headers=headers)
        data = b"".join(r.data for r in rendered)  # MVT layers are repeated fields: concatenated layers form one tile
        return Response(data, mimetype=MVT_MEDIA_TYPE, headers=headers)

    def collection_tile(self, call: Call, collectionId: str, tileMatrixSetId: str, tileMatrix: str, tileRow: str,
                        tileCol: str) -> Response:
        layer = self.tiled_layer(collectionId)
        return self._tile_response(call, [layer], tileMatrixSetId, tileMatrix, tileRow, tileCol)

    def dataset_tile(self, call: Call, tileMatrixSetId: str, tileMatrix: str, tileRow: str, tileCol: str) -> Response:
        return self._tile_response(call, self.dataset_layers(call), tileMatrixSetId, tileMatrix, tileRow, tileCol)


def _limits(t: morecantile.TileMatrixSet, bbox: tuple[float, float, float, float] | None) -> list[dict]:
    if bbox is None:
        return []
    out = []
    for z in range(tmsmod.min_zoom(t), tmsmod.max_zoom(t) + 1):
        ul = t.tile(bbox[0], bbox[3], z)
        lr = t.tile(bbox[2], bbox[1], z)
        out.append({"tileMatrix": str(z), "minTileRow": ul.y, "maxTileRow": lr.y,
                    "minTileCol": ul.x, "maxTileCol": lr.x})
    return out


def _fields(layer: Layer) -> dict[str, str]:
    return {name: layer.field_map[name].json_type for name in tile_properties(layer)}
