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
- It divides by the q value of every choice in ``Accept``, ``Accept-Language`` and ``lang`` (a
  500 for ``Accept: text/html;q=0``): it is handed the request without the choices it cannot weigh.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pygeoapi
import pygeoapi.api as core_api
from flask import Request, Response, request
from pygeoapi import l10n
from pygeoapi.api import API, APIRequest, all_apis
from pygeoapi.util import render_j2_template, yaml_load
from werkzeug.datastructures import EnvironHeaders, MultiDict

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
            if str(prov.get("name", "")).startswith("onemap."):
                continue  # OneMap's own provider (the indicators): OneMap declares what it implements itself
            if kind in apis:
                out += apis[kind].CONFORMANCE_CLASSES
            if kind == "feature":
                out += apis["itemtypes"].CONFORMANCE_CLASSES_FEATURES
            if kind == "record":
                out += apis["itemtypes"].CONFORMANCE_CLASSES_RECORDS
    return sorted(set(out))


# one choice of a header as pygeoapi 0.24 reads it (pygeoapi.util.get_choice_from_headers)
_CHOICE = re.compile(r"^([^;]+)(?:;q=([\d.]+))?$")


def _weighable(value: str) -> str:
    """A list of choices less those pygeoapi cannot weigh: it divides by each q value (q=0, the client's
    "not this", is a ZeroDivisionError) and reads the digits and dots after ``q=`` as a float."""
    kept = []
    for part in value.split(","):
        m = _CHOICE.match(part.strip())
        if m and m.group(2) is not None:
            try:
                q = float(m.group(2))
            except ValueError:
                continue
            if not 0 < q <= 1:
                continue
        kept.append(part)
    return ",".join(kept)


class _Negotiable:
    """The Flask request as pygeoapi reads it (its headers, query parameters and body), less the choices it
    cannot weigh (``_weighable``)."""

    def __init__(self, req: Request, environ: dict[str, Any], args: MultiDict) -> None:
        self._req = req
        self.headers = EnvironHeaders(environ)
        self.args = args

    @property
    def data(self) -> bytes:
        return self._req.get_data()


def negotiable(req: Request) -> Request | _Negotiable:
    """``req`` itself, or a view of it without the Accept, Accept-Language and ``lang`` choices pygeoapi
    cannot weigh."""
    environ = dict(req.environ)
    for key in ("HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE"):
        if key in environ:
            environ[key] = _weighable(environ[key])
    args = MultiDict(req.args)
    if "lang" in args:
        args.setlist("lang", [_weighable(v) for v in args.getlist("lang")])
    if environ == req.environ and args == req.args:
        return req
    return _Negotiable(req, environ, args)


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("&lt;", "<").replace("&gt;", ">") if "&" in value else value
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, dict):
        return {_unescape(k): _unescape(v) for k, v in value.items()}
    return value


class Pygeoapi:
    """pygeoapi's API over OneMap's generated configuration, one per role: a caller's landing page,
    collection list and HTML list only what its role reaches."""

    ROLES = ("public", "partner", "internal", "admin")

    def __init__(self, config: dict[str, Any], openapi_for: Callable[[str], dict[str, Any]], links: Links,
                 overlay: Mapping[str, dict[str, Any]], pretty: bool = False,
                 visible: Callable[[str, str, dict[str, Any]], bool] | None = None) -> None:
        self.config = config
        self.links = links
        self.overlay = dict(overlay)
        self.pretty = pretty
        self._openapi_for = openapi_for
        self._visible = visible or (lambda role, rid, res: True)
        self._apis: dict[str, API] = {}
        self._lock = threading.Lock()
        # pygeoapi's HTML rendering walks the whole config as a language struct and warns on
        # every key that is not a locale; those warnings carry no information.
        logging.getLogger("pygeoapi.l10n").setLevel(logging.ERROR)
        # pygeoapi keeps the first configuration it translates for a page, per locale, for the whole process
        # (l10n.translate_struct), and its templates look resources up in it by id: the first one is the
        # administrator's, which holds every role's resources (no template lists them from it)
        admin = self.api
        for locale in admin.locales:
            l10n.translate_struct(admin.tpl_config, locale, True)

    def api_for(self, principal: Any = None) -> API:
        """The API of the caller's role (built on first use)."""
        role = getattr(principal, "role", "public")
        api = self._apis.get(role)
        if api is None:
            with self._lock:
                api = self._apis.get(role)
                if api is None:
                    cfg = dict(self.config)
                    cfg["resources"] = copy.deepcopy({rid: res for rid, res in self.config["resources"].items()
                                                      if self._visible(role, rid, res)})
                    for res in cfg["resources"].values():
                        for prov in res.get("providers") or []:
                            # a provider whose answer depends on what the caller may read (the indicators)
                            if prov.get("name", "").startswith("onemap."):
                                prov["role"] = role
                    api = self._apis[role] = API(cfg, self._openapi_for(role))
        return api

    @property
    def api(self) -> API:
        """The API over everything (an administrator's)."""
        return self.api_for(_Role("admin"))

    def is_overlay(self, collection_id: str) -> bool:
        return collection_id in self.overlay and self.overlay[collection_id].get("type") != "process"

    def call(self, fn: Callable[..., tuple[dict, int, Any]], *args: Any,
             post: Callable[[dict], dict] | None = None, skip_valid_check: bool = False,
             principal: Any = None) -> Response:
        """Run a pygeoapi API function on the current request (as pygeoapi's Flask app does), with the
        caller's API; ``post`` may amend its JSON answer."""
        api = self.api_for(principal)
        api_req = APIRequest.from_flask(negotiable(request), api.locales)
        if not skip_valid_check and not api_req.is_valid():
            headers, status, content = api.get_format_exception(api_req)
        else:
            headers, status, content = fn(api, api_req, *args)
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
        api = self.api_for(_Role("public"))  # templates and their configuration are the same for every role
        html = render_j2_template(api.tpl_config, api.config["server"]["templates"], template, data, locale)
        return Response(self.links.rebase(html), mimetype="text/html")

    # ---- requests about overlay resources, answered by pygeoapi's own functions --------------------------
    def landing(self, post: Callable[[dict], dict], principal: Any = None) -> Response:
        return self.call(core_api.landing_page, post=post, principal=principal)

    def describe(self, collection_id: str | None, post: Callable[[dict], dict], principal: Any = None) -> Response:
        if collection_id is None:
            return self.call(core_api.describe_collections, post=post, principal=principal)
        return self.call(core_api.describe_collections, collection_id, post=post, principal=principal)


@dataclass(frozen=True)
class _Role:
    role: str


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
                         documented=False, applies=lambda p: pg.is_overlay(p["collectionId"]), guard="collection")

        def items(call: Call, collectionId: str) -> Response:
            return pg.call(itemtypes.get_collection_items, collectionId, skip_valid_check=True,
                           principal=call.principal)

        def item(call: Call, collectionId: str, featureId: str) -> Response:
            return pg.call(itemtypes.get_collection_item, collectionId, featureId, principal=call.principal)

        def queryables(call: Call, collectionId: str) -> Response:
            return pg.call(itemtypes.get_collection_queryables, collectionId, principal=call.principal)

        def schema(call: Call, collectionId: str) -> Response:
            return pg.call(core_api.get_collection_schema, collectionId, principal=call.principal)

        def coverage(call: Call, collectionId: str) -> Response:
            return pg.call(coverages.get_collection_coverage, collectionId, skip_valid_check=True,
                           principal=call.principal)

        def map_(call: Call, collectionId: str) -> Response:
            return pg.call(maps.get_collection_map, collectionId, None, principal=call.principal)

        def edr_query(kind: str) -> Callable[..., Response]:
            def handler(call: Call, collectionId: str, locationId: str | None = None) -> Response:
                return pg.call(edr.get_collection_edr_query, collectionId, None, kind, locationId,
                               skip_valid_check=True, principal=call.principal)
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
