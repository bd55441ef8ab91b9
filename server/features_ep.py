"""OGC API - Features: the collections, their queryables and schemas, items and single items.

pygeoapi writes the collection documents (OneMap adds live extents, CRS lists and its
links). Items are answered here with the same ``items_query`` and ``FeatureService`` that
OneMap's pygeoapi provider runs: pygeoapi 0.24's own items path builds a new pyproj
Transformer for every bbox-crs and filter-crs request (~0.5 s for CGCS2000), accepts only
exact CRS URIs, ignores unknown parameters, returns 200 for unknown filter properties and
re-serialises every feature through Python dicts (docs/ARCHITECTURE.md has the figures).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Request, Response

from onemap.config.catalogue import Catalogue, FieldDef, Layer
from onemap.config.errors import NotFound, PayloadTooLarge
from onemap.config.settings import Settings
from onemap.providers import crs as crsmod
from onemap.providers.features import FeatureService, ItemsResult, items_query
from onemap.providers.history import LIMITS as history_limits
from onemap.providers.history import feature_history
from onemap.providers.params import (
    DOWNLOAD_FORMATS,
    ITEM,
    ITEMS,
    ITEMS_POST,
    LANG,
    MAX_BODY_FILTER,
    F,
    Param,
    ParamContext,
    items_format,
    property_param,
)
from onemap.providers.store import Store
from onemap.providers.store.base import FILED_STATES

from .access import reaches
from .downloads import download, download_links, items_response
from .http import GEOJSON, HTML, JSON, SCHEMA_JSON, json_response
from .links import Links, link_header, without_jsonld
from .pygeoapi_bridge import Pygeoapi
from .routing import APIFactory, Call, Instance, Route

CONFORMS_TO = (
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
)
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
GEOMETRY_FORMAT = {"MultiPolygon": "geometry-multipolygon", "MultiLineString": "geometry-multilinestring",
                   "MultiPoint": "geometry-multipoint"}
META = (F, LANG)
HISTORY_RESPONSE = {"description": "The feature's versions in order, each with its drawer entry (plan id, version, "
                                   "level, validity, when recorded), properties, geometry and what changed from "
                                   "the version before in the same drawer.",
                    "content": {JSON: {"schema": {"type": "object", "required": ["versions"]}},
                                HTML: {"schema": {"type": "string"}}}}


def filter_body(req: Request) -> bytes:
    """A POSTed CQL2 JSON filter; one above ``MAX_BODY_FILTER`` bytes is a 413 before it is in memory
    (by its Content-Length, and a body of unknown length is read no further than the limit)."""
    too_large = PayloadTooLarge(f"the CQL2 JSON filter in the body is larger than {MAX_BODY_FILTER:,} bytes")
    if (req.content_length or 0) > MAX_BODY_FILTER:
        raise too_large
    data = bytearray()
    while len(data) <= MAX_BODY_FILTER:
        chunk = req.stream.read(MAX_BODY_FILTER + 1 - len(data))  # a stream may answer in parts
        if not chunk:
            break
        data += chunk
    if len(data) > MAX_BODY_FILTER:
        raise too_large
    return bytes(data)


def operation(layer_id: str) -> str:
    """A layer id as an operationId stem: ``plan_lines`` -> ``PlanLines``."""
    return "".join(w.capitalize() for w in layer_id.replace("-", "_").split("_"))


class FeaturesAPI(APIFactory):
    """Collections and features of the one-map catalogue."""

    conforms_to = CONFORMS_TO

    def __init__(self, catalogue: Catalogue, store: Store, features: FeatureService, settings: Settings,
                 ctx: ParamContext, links: Links, pg: Pygeoapi) -> None:
        self.catalogue = catalogue
        self.store = store
        self.features = features
        self.settings = settings
        self.ctx = ctx
        self.links = links
        self.pg = pg
        self.tags = tuple({"name": lid, "description": f"{layer.t('title')} / {layer.t('title', 'en')}"}
                          for lid, layer in catalogue.collections.items())
        # each collection's queryables as query parameters (?DLBM=0101), made once
        self._property_params = {lid: {name: property_param(f) for name, f in layer.queryables.items()}
                                 for lid, layer in catalogue.collections.items()}
        # items take the download formats too (server/downloads.py), stated with their maximum
        f_items = items_format(settings.download_max_features)
        self._items_query = tuple(f_items if p is F else p for p in ITEMS)
        self._items_post_query = tuple(f_items if p is F else p for p in ITEMS_POST)
        self._items_200 = items_response(settings.download_max_features)

    # ---- declarations ----------------------------------------------------------------------------------
    def layer(self, collection_id: str) -> Layer:
        layer = self.catalogue.collections.get(collection_id)
        if layer is None:
            raise NotFound(f"collection {collection_id!r} does not exist")
        return layer

    def _ours(self, path: Any) -> bool:
        return path.get("collectionId") in self.catalogue.collections

    def _queryables(self, path: Any) -> dict[str, Param]:
        return self._property_params.get(path.get("collectionId", ""), {})

    def _drawer_layer(self, path: Any) -> bool:
        layer = self.catalogue.collections.get(path.get("collectionId", ""))
        return layer is not None and layer.drawer

    def _instances(self, with_queryables: bool = False, drawer_only: bool = False) -> list[Instance]:
        out = []
        for lid, layer in self.catalogue.collections.items():
            if drawer_only and not layer.drawer:
                continue
            extra = tuple(property_param(f) for name, f in layer.queryables.items()
                          if name not in {p.name for p in ITEMS}) if with_queryables else ()
            out.append(Instance({"collectionId": lid}, lid, layer.t("title"), operation(lid), extra,
                                layer.t("description")))
        return out

    def routes(self) -> list[Route]:
        one = {"collectionId": {"type": "string"}}
        fid = {"featureId": {"type": "string", "maxLength": 64}}
        return [
            Route("/collections", self.collections, "getCollections", "Collections", ("server",), query=META,
                  responses={"200": "Collections"}, formats=("json", "html")),
            Route("/collections/{collectionId}", self.collection, "describe{op}Collection", "{title}: collection",
                  (), query=META, path_params=one, responses={"200": "Collection"}, formats=("json", "html"),
                  applies=lambda p: p["collectionId"] in self.catalogue.collections or self.pg.is_overlay(
                      p["collectionId"]),
                  instances=self._instances, guard="collection"),
            Route("/collections/{collectionId}/queryables", self.queryables, "get{op}Queryables",
                  "{title}: queryable properties", (), query=META, path_params=one,
                  responses={"200": "JsonSchema"}, formats=("json", "html"), applies=self._ours,
                  instances=self._instances, guard="collection"),
            Route("/collections/{collectionId}/schema", self.schema, "get{op}Schema",
                  "{title}: schema of returned features", (), query=META, path_params=one,
                  responses={"200": "JsonSchema"}, formats=("json", "html"), applies=self._ours,
                  instances=self._instances, guard="collection"),
            Route("/collections/{collectionId}/items", self.items, "get{op}Features", "{title}: features", (),
                  query=self._items_query, path_params=one, responses={"200": self._items_200},
                  formats=("json", "html"),
                  applies=self._ours, extra_query=self._queryables,
                  instances=lambda: self._instances(with_queryables=True), guard="collection"),
            Route("/collections/{collectionId}/items", self.items, "search{op}Features",
                  "{title}: features matching a CQL2 JSON filter in the body", (), method="POST",
                  query=self._items_post_query, path_params=one, formats=("json", "html"),
                  responses={"200": self._items_200, "413": {"description": f"The body is larger than "
                                                                         f"{MAX_BODY_FILTER:,} bytes."}},
                  applies=self._ours, extra_query=self._queryables,
                  request_body={"required": True, "description": f"A CQL2 JSON filter of at most "
                                                                 f"{MAX_BODY_FILTER:,} bytes.", "content": {
                      "application/query-cql-json": {"schema": {"$ref": "#/components/schemas/cql2json"}},
                      "application/json": {"schema": {"$ref": "#/components/schemas/cql2json"}}}},
                  instances=lambda: self._instances(with_queryables=True), guard="collection"),
            Route("/collections/{collectionId}/items/{featureId}", self.item, "get{op}Feature",
                  "{title}: one feature", (), query=ITEM, path_params={**one, **fid},
                  responses={"200": "Feature"}, formats=("json", "html"), applies=self._ours,
                  instances=self._instances, guard="collection"),
            Route("/collections/{collectionId}/items/{featureId}/history", self.history, "get{op}FeatureHistory",
                  "{title}: every version of one feature (its drawer entries, what changed)", (), query=META,
                  path_params={**one, **fid}, responses={"200": HISTORY_RESPONSE}, formats=("json", "html"),
                  applies=self._drawer_layer, instances=lambda: self._instances(drawer_only=True),
                  guard="collection",
                  description="The same feature is recognised by its BSM (标识码) across plan versions and survey "
                              "years, else by its exact geometry. " + history_limits),
        ]

    # ---- collection documents ----------------------------------------------------------------------------
    def _temporal_extent(self, layer: Layer) -> list[str | None] | None:
        begins, ends = [], []
        for p in self.store.plans().values():
            if (p.type in layer.drawer_types or not layer.drawer) and p.status in FILED_STATES and p.valid_from:
                begins.append(p.valid_from)
                ends.append(p.valid_to)
        if not begins:
            return None
        closed = [e for e in ends if e is not None]
        end = max(closed) if len(closed) == len(ends) else None  # None: one is open-ended
        return [f"{min(begins).isoformat()}T00:00:00Z", f"{end.isoformat()}T00:00:00Z" if end else None]

    def amend_collection(self, doc: dict[str, Any], lang: str) -> dict[str, Any]:
        """Extents from the store (they change as plans are filed), CRS lists, category, links (no JSON-LD: the
        collection routes answer JSON and HTML)."""
        doc["links"] = without_jsonld(doc.get("links", []))
        layer = self.catalogue.collections.get(doc.get("id", ""))
        if layer is None:  # an overlay resource: pygeoapi's document as it is
            return doc
        bbox = self.store.layer_extent(layer)
        extent: dict[str, Any] = {"spatial": {"bbox": [list(bbox) if bbox else [73.5, 18.0, 135.1, 53.6]],
                                              "crs": crsmod.CRS84}}
        interval = self._temporal_extent(layer)
        if interval:
            extent["temporal"] = {"interval": [interval],
                                  "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
        doc["extent"] = extent
        doc["crs"] = list(self.ctx.crs_list)
        doc["storageCrs"] = crsmod.STORAGE_CRS
        doc["itemType"] = "feature"
        doc["title"] = layer.t("title", lang)
        doc["description"] = layer.t("description", lang)
        doc["x-onemap"] = {
            "tableCode": layer.table_code,
            "category": layer.category,
            "categoryTitle": self.catalogue.categories.get(layer.category, {}).get(lang),
            "tier": layer.tier,
            "drawerTypes": list(layer.drawer_types),
            "geometryType": layer.geometry,
        }
        for link in doc.get("links", []):
            if link.get("rel") == "items" and link.get("type") == GEOJSON:
                # without pygeoapi's ?f=json (GeoJSON is what a client asking for it gets): GDAL looks the link's
                # URL up in the OpenAPI document's paths for limit's maximum, its page size, and finds none with it
                link["href"] = self.links.url("collections", layer.id, "items")
        rels = {link.get("rel") for link in doc.get("links", [])}
        extra = [
            ("items", GEOJSON, "items", None, "Items as GeoJSON"),
            (REL + "queryables", SCHEMA_JSON, "queryables", None, "Queryables"),
            (REL + "schema", SCHEMA_JSON, "schema", None, "Schema"),
        ]
        if layer.drawer:
            extra.append((REL + "tilesets-vector", JSON, "tiles", None, "Vector tilesets"))
            extra.append((REL + "tilesets-map", JSON, "map/tiles", None, "Map tilesets (PNG)"))
            extra.append((REL + "map", "image/png", "map", None, "Map (PNG)"))
        for rel, mtype, sub, query, title in extra:
            if rel not in rels:
                doc.setdefault("links", []).append(
                    self.links.link(rel, mtype, "collections", layer.id, *sub.split("/"), query=query, title=title))
        return doc

    def collections(self, call: Call) -> Response:
        lang = call.args["lang"]

        def post(doc: dict) -> dict:
            doc["collections"] = [self.amend_collection(c, lang) for c in doc.get("collections", [])]
            doc["links"] = without_jsonld(doc.get("links", []))
            return doc

        return self.pg.describe(None, post, call.principal)

    def collection(self, call: Call, collectionId: str) -> Response:
        return self.pg.describe(collectionId, lambda doc: self.amend_collection(doc, call.args["lang"]), call.principal)

    # ---- queryables and schema ------------------------------------------------------------------------
    def _property_schema(self, layer: Layer, f: FieldDef, lang: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"title": f.label(lang), "type": f.json_type}
        if f.type == "date":
            entry["format"] = "date"
        if f.type == "string" and f.length:
            entry["maxLength"] = f.length
        if f.unit:
            entry["x-ogc-unit"] = f.unit
        tables = self.catalogue.expand_table_ids(layer, f)
        if len(tables) == 1:
            table = self.catalogue.code_tables[tables[0]]
            entry["oneOf"] = [{"const": c.code, "title": (c.en or c.zh) if lang == "en" else c.zh}
                              for c in table.codes.values()]
        elif tables:
            entry["description"] = (
                "code in the table named by the record's edition: " if lang == "en" else "按记录所注分类版本取值：")
            entry["description"] += ", ".join(tables)
        if f.label_field:
            entry["x-onemap-label-property"] = f.label_field
        if f.drawer:
            entry["x-onemap-drawer"] = True
        return entry

    def _schema_page(self, call: Call, layer: Layer, doc: dict[str, Any], template: str) -> Response:
        if call.args["f"] == "html":
            data = dict(doc)
            data["collections_path"] = self.links.url("collections")
            data["dataset_path"] = self.links.url("collections", layer.id)
            return self.pg.render(template, data, call.args["lang"])
        return json_response(doc, media_type=SCHEMA_JSON)

    def queryables(self, call: Call, collectionId: str) -> Response:
        """OGC API - Features Part 3 queryables, with labels; unknown properties are refused."""
        layer = self.layer(collectionId)
        lang = call.args["lang"]
        props: dict[str, Any] = {
            "geometry": {"title": "几何" if lang == "zh" else "Geometry",
                         "format": GEOMETRY_FORMAT[layer.geometry], "x-ogc-role": "primary-geometry"},
        }
        for f in layer.queryables.values():
            props[f.name] = self._property_schema(layer, f, lang)
        doc = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": self.links.url("collections", layer.id, "queryables"),
            "type": "object",
            "title": layer.t("title", lang),
            "description": layer.t("description", lang),
            "properties": props,
            "additionalProperties": False,
        }
        return self._schema_page(call, layer, doc, "collections/queryables.html")

    def schema(self, call: Call, collectionId: str) -> Response:
        """The schema of returned features (OGC API - Features Part 5), labelled."""
        layer = self.layer(collectionId)
        lang = call.args["lang"]
        props: dict[str, Any] = {
            "geometry": {"format": GEOMETRY_FORMAT[layer.geometry], "x-ogc-role": "primary-geometry"},
            "fid": {"title": "要素标识" if lang == "zh" else "Feature id", "type": "integer", "x-ogc-role": "id",
                    "readOnly": True},
        }
        for f in layer.all_fields:
            props[f.name] = self._property_schema(layer, f, lang)
            if not f.queryable:
                props[f.name]["readOnly"] = True
        for f in layer.computed_labels:
            props[f.name + "_label"] = {
                "title": f"{f.label(lang)}（名称）" if lang == "zh" else f"{f.label(lang)} (label)",
                "type": "string", "readOnly": True}
        doc = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": self.links.url("collections", layer.id, "schema"),
            "type": "object",
            "title": layer.t("title", lang),
            "properties": props,
        }
        return self._schema_page(call, layer, doc, "collections/schema.html")

    # ---- items ----------------------------------------------------------------------------------------
    def _page_links(self, call: Call, layer: Layer, res: ItemsResult, offset: int, limit: int) -> list[dict]:
        fmt = call.args["f"]
        base = self.links.url("collections", layer.id, "items")
        args = self.links.encoded(call.request.args.items(multi=True))
        qs = self.links.query_string
        links = [
            {"rel": "self", "type": GEOJSON if fmt == "json" else HTML, "title": "this document",
             "href": f"{base}?{qs(args, ('f',), {'f': fmt})}"},
            {"rel": "alternate", "type": HTML if fmt == "json" else GEOJSON,
             "title": "this document as HTML" if fmt == "json" else "this document as GeoJSON",
             "href": f"{base}?{qs(args, ('f',), {'f': 'html' if fmt == 'json' else 'json'})}"},
            self.links.link("collection", JSON, "collections", layer.id, title=layer.t("title")),
            self.links.link(REL + "queryables", SCHEMA_JSON, "collections", layer.id, "queryables", title="Queryables"),
            *download_links(base, args, qs),
        ]
        more = len(res.features) == limit
        if res.number_matched is not None and res.matched_exact:
            more = offset + len(res.features) < res.number_matched
        page_type = GEOJSON if fmt == "json" else HTML
        if more:
            add: dict[str, Any] = {"offset": offset + limit}
            if res.last_key is not None and "sortby" not in call.request.args:
                # keyset: the next page starts after this page's last id, so concurrent loads
                # never make a client see a feature twice or skip one
                add["after"] = res.last_key
            links.append({"rel": "next", "type": page_type, "title": "next page",
                          "href": f"{base}?{qs(args, ('offset', 'after'), add)}"})
        if offset > 0:
            links.append({"rel": "prev", "type": page_type, "title": "previous page",
                          "href": f"{base}?{qs(args, ('offset', 'after'), {'offset': max(0, offset - limit)})}"})
        return links

    def items(self, call: Call, collectionId: str) -> Response:
        """GET (and POST with a CQL2 JSON body) ``/collections/{collectionId}/items``."""
        layer = self.layer(collectionId)
        fmt = call.args["f"]
        body = filter_body(call.request) if call.request.method == "POST" else None
        q = items_query(layer, call.args, self.ctx, body=body, unfiled=reaches(call.principal, "internal"))
        if fmt in DOWNLOAD_FORMATS:
            return download(self.features, self.settings, call, q)
        res = self.features.items(q, geometry_as="dict" if fmt == "html" else "fragment")
        doc: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": res.features,
            "numberReturned": len(res.features),
            "timeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "links": self._page_links(call, layer, res, q.offset, q.limit),
        }
        if res.empty_drawers:
            # drawers whose version in force was withdrawn without reinstating its predecessor
            doc["emptyDrawers"] = res.empty_drawers
        if res.number_matched is not None:
            if res.matched_exact:
                doc["numberMatched"] = res.number_matched
            else:
                doc["numberMatchedEstimate"] = res.number_matched
        if fmt == "html":
            data = dict(doc)
            data.update({
                "title": layer.t("title", call.args["lang"]), "itemtype": "feature", "offset": q.offset,
                "items_path": self.links.url("collections", layer.id, "items"),
                "dataset_path": self.links.url("collections", layer.id),
                "collections_path": self.links.url("collections"), "id_field": "fid",
            })
            page = self.pg.render("collections/items/index.html", data, call.args["lang"])
            page.headers["Link"] = link_header(doc["links"])
            return page
        return json_response(doc, media_type=GEOJSON, headers={"Content-Crs": f"<{q.crs}>",
                                                                "Link": link_header(doc["links"])},
                             pretty=self.settings.pretty_print)

    def item(self, call: Call, collectionId: str, featureId: str) -> Response:
        """GET ``/collections/{collectionId}/items/{featureId}``."""
        layer = self.layer(collectionId)
        fmt = call.args["f"]
        out_crs = call.args["crs"]
        feat = self.features.item(layer, featureId, out_crs, geometry_as="dict" if fmt == "html" else "fragment",
                                  lang=call.args["lang"], unfiled=reaches(call.principal, "internal"))
        feat["links"] = [
            self.links.link("self", GEOJSON, "collections", layer.id, "items", feat["id"], query={"f": "json"}),
            self.links.link("alternate", HTML, "collections", layer.id, "items", feat["id"], query={"f": "html"}),
            self.links.link("collection", JSON, "collections", layer.id, title=layer.t("title")),
        ]
        if fmt == "html":
            data = dict(feat)
            data.update({
                "title": layer.t("title", call.args["lang"]), "itemtype": "feature", "id_field": "fid",
                "collections_path": self.links.url("collections"),
                "dataset_path": self.links.url("collections", layer.id),
                "items_path": self.links.url("collections", layer.id, "items"),
                "prev": None, "next": None,
            })
            page = self.pg.render("collections/items/item.html", data, call.args["lang"])
            page.headers["Link"] = link_header(feat["links"])
            return page
        return json_response(feat, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs}>",
                                                                 "Link": link_header(feat["links"])},
                             pretty=self.settings.pretty_print)

    def history(self, call: Call, collectionId: str, featureId: str) -> Response:
        """GET ``/collections/{collectionId}/items/{featureId}/history``."""
        layer = self.layer(collectionId)
        doc = feature_history(self.store, layer, featureId, unfiled=reaches(call.principal, "internal"),
                              tz=self.settings.timezone)
        item = self.links.url("collections", layer.id, "items", featureId)
        doc["links"] = [
            self.links.link("self", JSON, "collections", layer.id, "items", featureId, "history", query={"f": "json"}),
            self.links.link("alternate", HTML, "collections", layer.id, "items", featureId, "history",
                            query={"f": "html"}),
            {"rel": "about", "type": GEOJSON, "title": "the feature", "href": item},
        ]
        if call.args["f"] == "html":
            # the versions as the items page shows features: one row per version, its drawer entry first
            feats = [{"type": "Feature", "id": v["fid"], "geometry": v["geometry"],
                      "properties": {k: v[k] for k in ("plan_id", "plan_version", "plan_level", "valid_from",
                                                       "valid_to", "recorded", "geometry_changed",
                                                       "attributes_changed")} | v["properties"]}
                     for v in doc["versions"]]
            data = {"type": "FeatureCollection", "features": feats, "numberReturned": len(feats),
                    "numberMatched": len(feats), "links": doc["links"],
                    "title": f"{layer.t('title', call.args['lang'])} {featureId}", "itemtype": "feature", "offset": 0,
                    "items_path": self.links.url("collections", layer.id, "items"),
                    "dataset_path": self.links.url("collections", layer.id),
                    "collections_path": self.links.url("collections"), "id_field": "fid"}
            page = self.pg.render("collections/items/index.html", data, call.args["lang"])
            page.headers["Link"] = link_header(doc["links"])
            return page
        return json_response(doc, headers={"Link": link_header(doc["links"])}, pretty=self.settings.pretty_print)
