"""Collection metadata: pygeoapi's documents with live extents, and OneMap's queryables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pygeoapi.api as core_api
from flask import Response, request

from onemap.config.catalogue import FieldDef, Layer
from onemap.providers import crs as crsmod
from onemap.providers.store.base import FILED_STATES

from .http import SCHEMA_JSON, json_response, output_format

if TYPE_CHECKING:
    from .app import OneMap

GEOMETRY_FORMAT = {"MultiPolygon": "geometry-multipolygon", "MultiLineString": "geometry-multilinestring",
                   "MultiPoint": "geometry-multipoint"}


def _temporal_extent(om: "OneMap", layer: Layer) -> list[str | None] | None:
    begins, ends = [], []
    for p in om.store.plans().values():
        if (p.type in layer.drawer_types or not layer.drawer) and p.status in FILED_STATES and p.valid_from:
            begins.append(p.valid_from)
            ends.append(p.valid_to)
    if not begins:
        return None
    end = None if any(e is None for e in ends) else max(ends)
    return [f"{min(begins).isoformat()}T00:00:00Z", f"{end.isoformat()}T00:00:00Z" if end else None]


def amend_collection(om: "OneMap", doc: dict[str, Any]) -> dict[str, Any]:
    """Extents from the store (they change as plans are filed), CRS lists, category, links."""
    layer = om.catalogue.collections.get(doc.get("id", ""))
    if layer is None:
        return doc
    bbox = om.store.layer_extent(layer)
    extent: dict[str, Any] = {"spatial": {"bbox": [list(bbox) if bbox else [73.5, 18.0, 135.1, 53.6]],
                                          "crs": crsmod.CRS84}}
    interval = _temporal_extent(om, layer)
    if interval:
        extent["temporal"] = {"interval": [interval],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    doc["extent"] = extent
    doc["crs"] = list(om.crs_list)
    doc["storageCrs"] = crsmod.STORAGE_CRS
    doc["itemType"] = "feature"
    lang = om.lang()
    doc["title"] = layer.t("title", lang)
    doc["description"] = layer.t("description", lang)
    doc["x-onemap"] = {
        "tableCode": layer.table_code,
        "category": layer.category,
        "categoryTitle": om.catalogue.categories.get(layer.category, {}).get(lang),
        "tier": layer.tier,
        "drawerTypes": list(layer.drawer_types),
        "geometryType": layer.geometry,
    }
    base = f"{om.base_url}/collections/{layer.id}"
    rels = {link.get("rel") for link in doc.get("links", [])}
    extra = [
        ("items", "application/geo+json", f"{base}/items?f=json", "Items as GeoJSON"),
        ("http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA_JSON, f"{base}/queryables", "Queryables"),
        ("http://www.opengis.net/def/rel/ogc/1.0/schema", SCHEMA_JSON, f"{base}/schema", "Schema"),
    ]
    if layer.drawer:
        extra.append(("http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "application/json",
                      f"{base}/tiles", "Vector tilesets"))
    for rel, mtype, href, title in extra:
        if rel not in rels:
            doc.setdefault("links", []).append({"rel": rel, "type": mtype, "href": href, "title": title})
    return doc


def collections(om: "OneMap") -> Response:
    output_format(request)

    def post(doc: dict) -> dict:
        doc["collections"] = [amend_collection(om, c) for c in doc.get("collections", [])]
        return doc

    return om.call_pygeoapi(core_api.describe_collections, post=post)


def collection(om: "OneMap", collection_id: str) -> Response:
    om.layer(collection_id)
    output_format(request)
    return om.call_pygeoapi(core_api.describe_collections, collection_id,
                            post=lambda doc: amend_collection(om, doc))


def _property_schema(om: "OneMap", layer: Layer, f: FieldDef, lang: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"title": f.label(lang), "type": f.json_type}
    if f.type == "date":
        entry["format"] = "date"
    if f.type == "string" and f.length:
        entry["maxLength"] = f.length
    if f.unit:
        entry["x-ogc-unit"] = f.unit
    tables = om.catalogue.expand_table_ids(layer, f)
    if len(tables) == 1:
        table = om.catalogue.code_tables[tables[0]]
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


def queryables(om: "OneMap", collection_id: str) -> Response:
    """OGC API - Features Part 3 queryables, with labels; unknown properties are refused."""
    layer = om.layer(collection_id)
    fmt = output_format(request)
    lang = om.lang()
    props: dict[str, Any] = {
        "geometry": {"title": "几何" if lang == "zh" else "Geometry",
                     "format": GEOMETRY_FORMAT[layer.geometry], "x-ogc-role": "primary-geometry"},
    }
    for f in layer.queryables.values():
        props[f.name] = _property_schema(om, layer, f, lang)
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{om.base_url}/collections/{layer.id}/queryables",
        "type": "object",
        "title": layer.t("title", lang),
        "description": layer.t("description", lang),
        "properties": props,
        "additionalProperties": False,
    }
    if fmt == "html":
        data = dict(doc)
        data["collections_path"] = f"{om.base_url}/collections"
        data["dataset_path"] = f"{om.base_url}/collections/{layer.id}"
        return om.render("collections/queryables.html", data)
    return json_response(doc, media_type=SCHEMA_JSON)


def schema(om: "OneMap", collection_id: str) -> Response:
    """The schema of returned features (OGC API - Features Part 5), labelled."""
    layer = om.layer(collection_id)
    fmt = output_format(request)
    lang = om.lang()
    props: dict[str, Any] = {
        "geometry": {"format": GEOMETRY_FORMAT[layer.geometry], "x-ogc-role": "primary-geometry"},
        "fid": {"title": "要素标识" if lang == "zh" else "Feature id", "type": "integer", "x-ogc-role": "id",
                "readOnly": True},
    }
    for f in layer.all_fields:
        props[f.name] = _property_schema(om, layer, f, lang)
        if not f.queryable:
            props[f.name]["readOnly"] = True
    for f in layer.computed_labels:
        props[f.name + "_label"] = {"title": f"{f.label(lang)}（名称）" if lang == "zh" else f"{f.label(lang)} (label)",
                                    "type": "string", "readOnly": True}
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{om.base_url}/collections/{layer.id}/schema",
        "type": "object",
        "title": layer.t("title", lang),
        "properties": props,
    }
    if fmt == "html":
        data = dict(doc)
        data["collections_path"] = f"{om.base_url}/collections"
        data["dataset_path"] = f"{om.base_url}/collections/{layer.id}"
        return om.render("collections/schema.html", data)
    return json_response(doc, media_type=SCHEMA_JSON)
