"""pygeoapi inside OneMap: its API object, its templates and the resources an operator adds.

OneMap builds pygeoapi's configuration from the catalogue (``config.pygeoapi_config``), adds
the operator's overlay (any resource pygeoapi can serve: a coverage through its rasterio
provider, an OGR or CSV collection, records, EDR) and keeps one ``pygeoapi.api.API`` over it.
pygeoapi answers the landing page, the collection documents and every request about an
overlay resource; OneMap renders its own pages with pygeoapi's templates.

Where pygeoapi 0.24 needs help, the help is outside it, through its public API functions:
- ``to_json`` writes Chinese as ``\\uXXXX`` and replaces ``<``/``>`` with ``&lt;``/``&gt;``
  inside JSON strings. Its JSON answers are read back, those two entities undone and the
  document written again as UTF-8 (a source string holding a literal ``&lt;`` would come out
  as ``<``: none of OneMap's own strings do).
- Babel cannot build ``zh_CN`` from the pieces pygeoapi matches (a 500 for ``lang=zh-CN``):
  the configured languages are the bare ``zh`` and ``en``, which it builds.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pygeoapi
import pygeoapi.api as core_api
from flask import Response, request
from pygeoapi import l10n
from pygeoapi.api import API, APIRequest, all_apis
from pygeoapi.util import render_j2_template, yaml_load

from onemap.config.errors import ConfigError

from .http import JSON, dumps
from .links import Links
from .routing import APIFactory, Call, Route

LOG = logging.getLogger("onemap.pygeoapi")
STATIC = Path(pygeoapi.__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"  # OneMap's overrides of pygeoapi's templates


def load_overlay(path: Path, reserved: set[str]) -> dict[str, dict[str, Any]]:
    """The operator's pygeoapi resources (a pygeoapi configuration's ``resources`` section).

    Relative ``data`` paths are read from the overlay's folder; an id that a OneMap collection
    already has, or a resource pygeoapi cannot describe, is a start-up error.
    """
    try:
        with path.open(encoding="utf-8") as fh:
            doc = yaml_load(fh)
    except (OSError, ValueError) as err:
        raise ConfigError(f"pygeoapi overlay {path.name}: cannot be read ({type(err).__name__})") from None
    resources = (doc or {}).get("resources") if isinstance(doc, dict) else None
    if not isinstance(resources, dict) or not resources:
        raise ConfigError(f"pygeoapi overlay {path.name}: expected a 'resources' mapping")
    out = {}
    for rid, res in resources.items():
        if rid in reserved:
            raise ConfigError(f"pygeoapi overlay {path.name}: {rid!r} is already a OneMap collection")
        if not isinstance(res, dict) or res.get("type") not in ("collection", "stac-collection", "process"):
            raise ConfigError(f"pygeoapi overlay {path.name}: resource {rid!r} needs a pygeoapi 'type'")
        res = copy.deepcopy(res)
        for prov in res.get("providers") or []:
            data = prov.get("data")
            if isinstance(data, str) and "://" not in data and not Path(data).is_absolute():
                local = (path.parent / data).resolve()
                if local.exists():
                    prov["data"] = str(local)
        out[str(rid)] = res
    return out


def overlay_conformance(resources: Mapping[str, dict[str, Any]]) -> list[str]:
    """The conformance classes pygeoapi declares for these resources (as its ``/conformance`` does)."""
    apis = all_apis()
    out: list[str] = []
    for res in resources.values():
        if res.get("type") == "process":
            out += apis["process"].CONFORMANCE_CLASSES
            continue
        for prov in res.get("providers") or []:
            kind = prov.get("type")
            if kind in apis:
                out += apis[kind].CONFORMANCE_CLASSES
            if kind == "feature":
                out += apis["itemtypes"].CONFORMANCE_CLASSES_FEATURES
            if kind == "record":
                out += apis["itemtypes"].CONFORMANCE_CLASSES_RECORDS
    return sorted(set(out))


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("&lt;", "<").replace("&gt;", ">") if "&" in value else value
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {_unescape(k): _unescape(v) for k, v in value.items()}
    return value


class Pygeoapi:
    """One pygeoapi API over OneMap's generated configuration."""

    def __init__(self, config: dict[str, Any], openapi: dict[str, Any], links: Links,
                 overlay: Mapping[str, dict[str, Any]], pretty: bool = False) -> None:
        self.config = config
        self.links = links
        self.overlay = dict(overlay)
        self.pretty = pretty
        # pygeoapi's HTML rendering walks the whole config as a language struct and warns on
        # every key that is not a locale; those warnings carry no information.
        logging.getLogger("pygeoapi.l10n").setLevel(logging.ERROR)
        self.api = API(config, openapi)

    def is_overlay(self, collection_id: str) -> bool:
        return collection_id in self.overlay and self.overlay[collection_id].get("type") != "process"

    def call(self, fn: Callable[..., tuple[dict, int, Any]], *args: Any,
             post: Callable[[dict], dict] | None = None, skip_valid_check: bool = False) -> Response:
        """Run a pygeoapi API function on the current request (as pygeoapi's Flask app does); ``post``
        may amend its JSON answer."""
        api_req = APIRequest.from_flask(request, self.api.locales)
        if not skip_valid_check and not api_req.is_valid():
            headers, status, content = self.api.get_format_exception(api_req)
        else:
            headers, status, content = fn(self.api, api_req, *args)
        ctype = str(headers.get("Content-Type", ""))
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
        if "json" in ctype and isinstance(content, (str, bytes)):
            doc = _unescape(orjson.loads(content))
            if post is not None and status == 200:
                doc = post(doc)
            body = self.links.rebase(dumps(doc, self.pretty).decode("utf-8"))
            return Response(body, status=status, mimetype=ctype.split(";")[0] or JSON, headers=headers)
        if isinstance(content, str) and ctype.startswith("text/html"):
            content = self.links.rebase(content)
        return Response(content, status=status, mimetype=ctype.split(";")[0] or None, headers=headers)

    def render(self, template: str, data: dict[str, Any], lang: str) -> Response:
        """One of pygeoapi's (or OneMap's overriding) templates, in ``lang``."""
        locale = l10n.str2locale("en" if lang == "en" else "zh")
        html = render_j2_template(self.api.tpl_config, self.api.config["server"]["templates"], template,
                                  data, locale)
        return Response(self.links.rebase(html), mimetype="text/html")

    # ---- requests about overlay resources, answered by pygeoapi's own functions --------------------------
    def landing(self, post: Callable[[dict], dict]) -> Response:
        return self.call(core_api.landing_page, post=post)

    def describe(self, collection_id: str | None, post: Callable[[dict], dict]) -> Response:
        if collection_id is None:
            return self.call(core_api.describe_collections, post=post)
        return self.call(core_api.describe_collections, collection_id, post=post)


EDR_QUERIES = ("position", "area", "cube", "radius", "trajectory", "corridor", "locations")


class OverlayAPI(APIFactory):
    """Requests about the operator's overlay resources, answered by pygeoapi's own API functions.

    pygeoapi reads their parameters itself (``checked=False``); the routes still pass the
    per-route dependencies. Their OpenAPI paths are pygeoapi's (``openapi.overlay_fragment``).
    """

    def __init__(self, pg: Pygeoapi) -> None:
        self.pg = pg
        self.conforms_to = tuple(overlay_conformance(pg.overlay))

    def routes(self) -> list[Route]:
        from pygeoapi.api import coverages, itemtypes, maps
        from pygeoapi.api import environmental_data_retrieval as edr

        pg = self.pg
        one = {"collectionId": {"type": "string"}}

        def route(path: str, handler: Callable[..., Response], method: str = "GET") -> Route:
            return Route(path, handler, "overlay", "", (), method=method, path_params=one, checked=False,
                         documented=False, applies=lambda p: pg.is_overlay(p["collectionId"]))

        def items(call: Call, collectionId: str) -> Response:
            return pg.call(itemtypes.get_collection_items, collectionId, skip_valid_check=True)

        def item(call: Call, collectionId: str, featureId: str) -> Response:
            return pg.call(itemtypes.get_collection_item, collectionId, featureId)

        def queryables(call: Call, collectionId: str) -> Response:
            return pg.call(itemtypes.get_collection_queryables, collectionId)

        def schema(call: Call, collectionId: str) -> Response:
            return pg.call(core_api.get_collection_schema, collectionId)

        def coverage(call: Call, collectionId: str) -> Response:
            return pg.call(coverages.get_collection_coverage, collectionId, skip_valid_check=True)

        def map_(call: Call, collectionId: str) -> Response:
            return pg.call(maps.get_collection_map, collectionId, None)

        def edr_query(kind: str) -> Callable[..., Response]:
            def handler(call: Call, collectionId: str, locationId: str | None = None) -> Response:
                return pg.call(edr.get_collection_edr_query, collectionId, None, kind, locationId,
                               skip_valid_check=True)
            return handler

        out = [
            route("/collections/{collectionId}/items", items),
            route("/collections/{collectionId}/items", items, "POST"),
            route("/collections/{collectionId}/items/{featureId}", item),
            route("/collections/{collectionId}/queryables", queryables),
            route("/collections/{collectionId}/schema", schema),
            route("/collections/{collectionId}/coverage", coverage),
            route("/collections/{collectionId}/map", map_),
            route("/collections/{collectionId}/locations/{locationId}", edr_query("locations")),
        ]
        out += [route(f"/collections/{{collectionId}}/{kind}", edr_query(kind)) for kind in EDR_QUERIES]
        return out
