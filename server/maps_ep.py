"""OGC API - Maps and map tiles: every catalogue layer as a rendered map, for clients that take
raster maps only (ArcGIS Pro's OGC API - Tiles support, departmental systems).

The maps are drawn by ``server/map_render.py`` from the layer's vector tiles with ``/map``'s
style, with the drawer parameters of the vector tiles (``datetime``, ``view``, ``recorded``);
map tiles are cached beside the vector tiles and invalidated with them.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Response

from onemap.config.catalogue import Catalogue, Layer
from onemap.config.errors import InvalidParameterValue
from onemap.providers.params import BBOX, DRAWER, LANG, F, Param, ParamContext, format_param
from onemap.providers.store import Store
from onemap.tiles import tms as tmsmod
from onemap.tiles.cache import etag
from onemap.tiles.mvt import mercator

from .http import JSON, json_response
from .links import Links
from .map_render import MAX_SIDE, PNG_MEDIA_TYPE, MapBox, MapRenderer, MapView, encode_png
from .routing import APIFactory, Call, Route
from .tiles_ep import PAGES, REL, TILE_TEMPLATE, ZYX, TilesAPI, tile_headers

CONFORMS_TO = (
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/scaling",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/spatial-subsetting",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/datetime",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/png",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/background",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/collection-map",
    "http://www.opengis.net/spec/ogcapi-maps-1/1.0/conf/tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
)
# the CRSs a map is drawn in, by the URIs clients send (lon/lat order for all three: CRS84 axis order)
MAP_CRS = {
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84": "CRS:84",
    "http://www.opengis.net/def/crs/EPSG/0/4490": "EPSG:4490",
    "http://www.opengis.net/def/crs/EPSG/0/3857": "EPSG:3857",
}
DEFAULT_WIDTH = 1024


def _side(name: str) -> Any:
    def parse(raw: str, ctx: ParamContext) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise InvalidParameterValue(f"{name} must be a whole number of pixels") from None
        if not 1 <= value <= MAX_SIDE:
            raise InvalidParameterValue(f"{name} must be 1 to {MAX_SIDE} pixels")
        return value
    return parse


def _map_crs(raw: str, ctx: ParamContext) -> str:
    key = raw.strip()
    for uri, srs in MAP_CRS.items():
        if key in (uri, srs, srs.replace("CRS:84", "OGC:CRS84"), srs.replace(":", "::")):
            return srs
    raise InvalidParameterValue(f"maps are drawn in {', '.join(MAP_CRS)}, not {raw!r}")


def _boolean(raw: str, ctx: ParamContext) -> bool:
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise InvalidParameterValue("transparent is true or false")


def _bgcolor(raw: str, ctx: ParamContext) -> str:
    value = raw.strip().lstrip("#")
    if value.lower().startswith("0x"):
        value = value[2:]
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise InvalidParameterValue("bgcolor is a colour as RRGGBB hex digits (e.g. FFFFFF)")
    return "#" + value


WIDTH = Param("width", f"Width of the map in pixels (1-{MAX_SIDE}); default {DEFAULT_WIDTH}, or from height "
              "and the box's shape.", {"type": "integer", "minimum": 1, "maximum": MAX_SIDE}, _side("width"))
HEIGHT = Param("height", f"Height of the map in pixels (1-{MAX_SIDE}); default from width and the box's shape.",
               {"type": "integer", "minimum": 1, "maximum": MAX_SIDE}, _side("height"))
MAP_CRS_PARAM = Param("crs", "CRS the map is drawn in (the bbox stays in CRS84 lon,lat).",
                      {"type": "string", "enum": list(MAP_CRS)}, _map_crs,
                      default="CRS:84", key="map-crs")
TRANSPARENT = Param("transparent", "A transparent background (default true).", {"type": "boolean", "default": True},
                    _boolean, default=True)
BGCOLOR = Param("bgcolor", "Background colour (RRGGBB hex) where the map is not transparent; default FFFFFF.",
                {"type": "string", "pattern": "^(0x|#)?[0-9A-Fa-f]{6}$"}, _bgcolor, default="#FFFFFF")
F_PNG = format_param("png", key="f-png", description="Maps and map tiles are PNG images.")
PNG_OK = {"200": {"description": "A map.", "content": {PNG_MEDIA_TYPE: {"schema": {"type": "string",
                                                                                   "format": "binary"}}}}}
TILE_OK = {"200": {"description": "A map tile.", "content": {PNG_MEDIA_TYPE: {"schema": {
    "type": "string", "format": "binary"}}}},
    "204": {"description": "Nothing is drawn in this tile."},
    "304": {"description": "Not modified (ETag)."}}
META_OK = {"200": {"description": "Metadata.", "content": {JSON: {"schema": {"type": "object"}}}}}


class MapsAPI(APIFactory):
    """OGC API - Maps over the catalogue's layers: a map of any box, and map tiles in every matrix set."""

    conforms_to = CONFORMS_TO
    tags = ({"name": "maps", "description": "OGC API - Maps: rendered maps and map tiles (PNG)"},)

    def __init__(self, catalogue: Catalogue, store: Store, renderer: MapRenderer, tiles: TilesAPI,
                 links: Links) -> None:
        self.catalogue = catalogue
        self.store = store
        self.renderer = renderer
        self.tiles = tiles
        self.links = links

    def routes(self) -> list[Route]:
        tms_enum = {"tileMatrixSetId": {"type": "string", "enum": list(tmsmod.registry())}}
        one = {"collectionId": {"type": "string"}}
        ours = lambda p: p["collectionId"] in self.catalogue.layers
        inst = self.tiles.instances
        return [
            Route("/collections/{collectionId}/map", self.map, "get{op}Map", "{title}: a map", (),
                  query=(F_PNG, BBOX, WIDTH, HEIGHT, MAP_CRS_PARAM, TRANSPARENT, BGCOLOR, *DRAWER),
                  path_params=one, responses=PNG_OK, formats=("png",), applies=ours, instances=inst,
                  guard="collection"),
            Route("/collections/{collectionId}/map/tiles", self.tilesets, "get{op}MapTilesets",
                  "{title}: map tilesets", (), query=(F, LANG), path_params=one, responses=META_OK,
                  formats=PAGES, applies=ours, instances=inst, guard="collection"),
            Route("/collections/{collectionId}/map/tiles/{tileMatrixSetId}", self.tileset, "get{op}MapTileset",
                  "{title}: a map tileset", (), query=(F, LANG), path_params={**one, **tms_enum},
                  responses=META_OK, formats=PAGES, applies=ours, instances=inst, guard="collection"),
            Route("/collections/{collectionId}/map/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
                  self.tile, "get{op}MapTile", "{title}: a map tile", (), query=(F_PNG, *DRAWER),
                  path_params={**one, **tms_enum, **ZYX}, responses=TILE_OK, formats=("png",), applies=ours,
                  instances=inst, guard="collection"),
        ]

    @staticmethod
    def _view(call: Call) -> MapView:
        args = call.args
        return MapView(args["datetime"], args["view"], args["recorded"])

    # ---- a map of any box --------------------------------------------------------------------------------
    def map(self, call: Call, collectionId: str) -> Response:
        layer = self.tiles.tiled_layer(collectionId)
        args = call.args
        bbox = args["bbox"]
        if bbox is None:
            bbox = self.store.layer_extent(layer) or None
            if bbox is None:
                raise InvalidParameterValue(f"{layer.id} holds no features: give a bbox")
        west, south, east, north = (float(v) for v in (bbox[0], bbox[1], bbox[-3 if len(bbox) == 6 else 2],
                                                       bbox[-2 if len(bbox) == 6 else 3]))
        srs = args["crs"]
        if srs == "EPSG:3857":
            (x0, y0), (x1, y1) = mercator(west, south), mercator(east, north)
        else:
            x0, y0, x1, y1 = west, south, east, north
        width, height = args["width"], args["height"]
        aspect = (x1 - x0) / (y1 - y0) if y1 > y0 else 1.0
        if width is None and height is None:
            width = DEFAULT_WIDTH
        if width is None:
            width = max(1, min(MAX_SIDE, round(height * aspect)))
        if height is None:
            height = max(1, min(MAX_SIDE, round(width / aspect))) if math.isfinite(aspect) and aspect > 0 else width
        box = MapBox.of(srs, (x0, y0, x1, y1), (width, height))
        rgba = self.renderer.draw([layer], box, self._view(call),
                                  background=None if args["transparent"] else args["bgcolor"])
        headers = {"Content-Crs": f"<{next(u for u, s in MAP_CRS.items() if s == srs)}>",
                   "Content-Bbox": ",".join(f"{v:.8g}" for v in (west, south, east, north)),
                   "Cache-Control": "public, max-age=60"}
        return Response(encode_png(rgba), mimetype=PNG_MEDIA_TYPE, headers=headers)

    # ---- map tiles -----------------------------------------------------------------------------------------
    def _tileset(self, layer: Layer, tms_id: str, lang: str) -> dict[str, Any]:
        doc = self.tiles.tileset(("collections", layer.id, "map", "tiles"), tms_id, [layer],
                                  layer.t("title", lang), lang)
        doc["dataType"] = "map"
        doc.pop("layers", None)
        doc["links"] = [lk for lk in doc["links"] if lk["rel"] in ("self", REL + "tiling-scheme")]
        doc["links"].append(self.links.link("item", PNG_MEDIA_TYPE, "collections", layer.id, "map", "tiles", tms_id,
                                            TILE_TEMPLATE, templated=True, title="map tiles (PNG)"))
        return doc

    def tilesets(self, call: Call, collectionId: str) -> Response:
        layer = self.tiles.tiled_layer(collectionId)
        lang = call.args["lang"]
        sets = []
        for tid in tmsmod.registry():
            doc = self._tileset(layer, tid, lang)
            sets.append({k: doc[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI", "links")})
        if call.args["f"] == "html":
            return self.tiles.tilesets_page(call, ("collections", layer.id, "map", "tiles"), layer.t("title", lang),
                                            list(zip(tmsmod.registry(), sets, strict=True)), [])
        return json_response({"tilesets": sets, "links": [
            self.links.link("self", JSON, "collections", layer.id, "map", "tiles")]})

    def tileset(self, call: Call, collectionId: str, tileMatrixSetId: str) -> Response:
        layer = self.tiles.tiled_layer(collectionId)
        tmsmod.get(tileMatrixSetId)
        lang = call.args["lang"]
        doc = self._tileset(layer, tileMatrixSetId, lang)
        if call.args["f"] == "html":
            return self.tiles.tilesets_page(call, ("collections", layer.id, "map", "tiles", tileMatrixSetId),
                                            layer.t("title", lang), [(tileMatrixSetId, doc)], [])
        return json_response(doc)

    def tile(self, call: Call, collectionId: str, tileMatrixSetId: str, tileMatrix: str, tileRow: str,
             tileCol: str) -> Response:
        layer = self.tiles.tiled_layer(collectionId)
        ref = tmsmod.tile(tileMatrixSetId, tileMatrix, tileRow, tileCol)
        png, cache = self.renderer.tile_png(layer, ref, self._view(call))
        tag = etag(png)
        headers = tile_headers(tag, cache)
        if call.request.if_none_match and tag.strip('"') in call.request.if_none_match:
            return Response(status=304, headers=headers)
        if not png:
            return Response(status=204, headers=headers)
        return Response(png, mimetype=PNG_MEDIA_TYPE, headers=headers)
