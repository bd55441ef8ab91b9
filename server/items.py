"""OGC API - Features items endpoints: ``/collections/{id}/items`` and ``/items/{featureId}``.

pygeoapi's own items path is replaced here (its provider plugin, templates and config are
kept): in 0.24 it builds a new pyproj Transformer for every bbox-crs and filter-crs request
(~0.5 s for CGCS2000), accepts only exact CRS URIs, ignores unknown parameters, returns
200 for unknown filter properties, escapes Chinese as \\uXXXX and corrupts ``<`` in JSON,
and re-serialises every feature through Python dicts. See ../shared/STACK-NOTES.md.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import TYPE_CHECKING

from flask import Response, request

from onemap.config.catalogue import Layer
from onemap.providers import crs as crsmod
from onemap.providers.features import ItemsResult

from .http import GEOJSON, HTML, json_response, output_format
from .params import ITEM, check_known, parse_items

if TYPE_CHECKING:
    from .app import OneMap

CONFORMS_TO = [
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
]


def _pair(k: str, v: str) -> str:
    # as urlencode(quote_via=quote) writes it, without its per-call type checks
    return f"{urllib.parse.quote(k, safe=',:/')}={urllib.parse.quote(v, safe=',:/')}"


def _encoded_args() -> list[tuple[str, str]]:
    """The request's arguments, each URL-encoded once: every link of a page reuses them."""
    return [(k, _pair(k, v)) for k, v in request.args.items(multi=True)]


def _query_string(args: list[tuple[str, str]], drop: tuple[str, ...], add: dict[str, str | int]) -> str:
    return "&".join([*(enc for k, enc in args if k not in drop), *(_pair(k, str(v)) for k, v in add.items())])


def _links(om: "OneMap", layer: Layer, res: ItemsResult, offset: int, limit: int, fmt: str) -> list[dict]:
    base = f"{om.base_url}/collections/{layer.id}/items"
    args = _encoded_args()
    self_q = _query_string(args, ("f",), {"f": fmt})
    html_q = _query_string(args, ("f",), {"f": "html"})
    json_q = _query_string(args, ("f",), {"f": "json"})
    links = [
        {"rel": "self", "type": GEOJSON if fmt == "json" else HTML, "title": "this document",
         "href": f"{base}?{self_q}"},
        {"rel": "alternate", "type": HTML if fmt == "json" else GEOJSON,
         "title": "this document as HTML" if fmt == "json" else "this document as GeoJSON",
         "href": f"{base}?{html_q if fmt == 'json' else json_q}"},
        {"rel": "collection", "type": "application/json", "title": layer.t("title"),
         "href": f"{om.base_url}/collections/{layer.id}"},
    ]
    more = len(res.features) == limit
    if res.number_matched is not None and res.matched_exact:
        more = offset + len(res.features) < res.number_matched
    if more:
        add: dict[str, str | int] = {"offset": offset + limit}
        if res.last_key is not None and "sortby" not in request.args:
            # keyset: the next page starts after this page's last id, so concurrent loads
            # never make a client see a feature twice or skip one
            add["after"] = res.last_key
        links.append({"rel": "next", "type": GEOJSON if fmt == "json" else HTML, "title": "next page",
                      "href": f"{base}?{_query_string(args, ('offset', 'after'), add)}"})
    if offset > 0:
        links.append({"rel": "prev", "type": GEOJSON if fmt == "json" else HTML, "title": "previous page",
                      "href": f"{base}?{_query_string(args, ('offset', 'after'), {'offset': max(0, offset - limit)})}"})
    return links


def items(om: "OneMap", collection_id: str) -> Response:
    """GET (and POST with a CQL2 JSON body) ``/collections/{id}/items``."""
    layer = om.layer(collection_id)
    fmt = output_format(request)
    body = request.get_data() if request.method == "POST" else None
    q = parse_items(request.args, layer, supported_crs=om.crs_list, default_limit=om.settings.default_items,
                    max_limit=om.settings.max_items, tz=om.settings.timezone, lang=om.lang(), body=body)
    res = om.features.items(q, geometry_as="dict" if fmt == "html" else "fragment")
    doc = {
        "type": "FeatureCollection",
        "features": res.features,
        "numberReturned": len(res.features),
        "timeStamp": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "links": _links(om, layer, res, q.offset, q.limit, fmt),
    }
    if res.empty_drawers:
        # drawers whose version in force was withdrawn without reinstating its predecessor
        doc["emptyDrawers"] = res.empty_drawers
    if res.number_matched is not None:
        if res.matched_exact:
            doc["numberMatched"] = res.number_matched
        else:
            doc["numberMatchedEstimate"] = res.number_matched
    headers = {"Content-Crs": f"<{q.crs}>"}
    if fmt == "html":
        return om.render_items_html(layer, doc, q.offset)
    return json_response(doc, media_type=GEOJSON, headers=headers, pretty=om.settings.pretty_print)


def item(om: "OneMap", collection_id: str, feature_id: str) -> Response:
    """GET ``/collections/{id}/items/{featureId}``."""
    layer = om.layer(collection_id)
    fmt = output_format(request)
    check_known(request.args, ITEM)
    out_crs = crsmod.parse_crs(request.args.get("crs"), om.crs_list, "crs")
    feat = om.features.item(layer, feature_id, out_crs, geometry_as="dict" if fmt == "html" else "fragment",
                            lang=om.lang())
    base = f"{om.base_url}/collections/{layer.id}"
    feat["links"] = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}/items/{feat['id']}?f=json"},
        {"rel": "alternate", "type": HTML, "href": f"{base}/items/{feat['id']}?f=html"},
        {"rel": "collection", "type": "application/json", "title": layer.t("title"), "href": base},
    ]
    if fmt == "html":
        return om.render_item_html(layer, feat)
    return json_response(feat, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs}>"},
                         pretty=om.settings.pretty_print)
